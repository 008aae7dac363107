"""The engine's entry point: ``solve(problem) -> Version``, pure, deterministic and time-bounded."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

from scheduler.candidates import Candidates, build_candidates, components
from scheduler.domain import Problem, Status, Unscheduled, Version, Window
from scheduler.explain import unscheduled_reasons
from scheduler.impact import ImpactModel
from scheduler.optimizer import Placement, place
from scheduler.timeline import SlotGrid


def solve(problem: Problem, *, previous: Version | None = None, time_limit_s: float = 10.0, seed: int = 0) -> Version:
    """The schedule placing the most requests at the least impact; ties keep ``previous``'s windows."""
    started = time.monotonic()
    impact = ImpactModel(problem)
    candidates = {request.id: build_candidates(problem, impact, request, previous) for request in problem.requests}
    placement: Placement = {}
    statuses: list[Status] = []
    bound = 0.0
    # Small components first, so that a hard one cannot starve the easy ones of time.
    for group in sorted(components(problem.requests), key=len):
        remaining = time_limit_s - (time.monotonic() - started)
        result = place([candidates[i] for i in group], time_limit_s=remaining, seed=seed)
        placement.update(result.placement)
        statuses.append(result.status)
        bound += result.bound
    return assemble(problem, impact, candidates, placement, statuses, bound, previous)


def assemble(
    problem: Problem,
    impact: ImpactModel,
    candidates: dict[str, Candidates],
    placement: Placement,
    statuses: list[Status],
    bound: float,
    previous: Version | None,
) -> Version:
    """Turn a placement into a version: windows, reasons for the rest, status and what moved."""
    grid = problem.grid
    windows: list[Window] = []
    unscheduled: list[Unscheduled] = []
    for request in problem.requests:
        candidate = candidates[request.id]
        start = placement.get(request.id)
        if start is None:
            unscheduled.append(Unscheduled(request.id, unscheduled_reasons(candidate, placement, candidates)))
            continue
        windows.append(
            Window(
                request=request.id,
                start=grid.instant(start),
                end=grid.instant(start + candidate.slots),
                impact=candidate.cost_at(start),
                impact_by_region=impact.impact_by_region(request, start, candidate.slots),
                preferred_impact=preferred_impact(problem, candidate),
            )
        )
    windows.sort(key=lambda window: (window.start, window.request))
    objective = sum(window.impact for window in windows)
    status: Status = "optimal" if all(s == "optimal" for s in statuses) else "feasible"
    if problem.requests and not windows:
        status = "infeasible"
    version = Version(
        version=previous.version + 1 if previous is not None else 1,
        now=problem.now,
        status=status,
        objective=objective,
        bound=objective if status == "optimal" else min(bound, objective),
        windows=tuple(windows),
        unscheduled=tuple(unscheduled),
    )
    return version if previous is None else with_moves(version, previous)


def preferred_impact(problem: Problem, candidate: Candidates) -> float | None:
    """Impact of the window the requester would pick, whatever the constraints."""
    preferred = candidate.request.preferred
    if preferred is None:
        return None
    grid = SlotGrid(start=preferred, slot_minutes=problem.grid.slot_minutes, count=candidate.slots)
    return float(ImpactModel(problem, grid).window_costs(candidate.request, candidate.slots)[0])


def with_moves(version: Version, previous: Version) -> Version:
    """``version`` with ``moved``: requests of both versions whose window is not the same."""
    before: dict[str, datetime | None] = {window.request: window.start for window in previous.windows}
    before.update({item.request: None for item in previous.unscheduled})
    after: dict[str, datetime | None] = {window.request: window.start for window in version.windows}
    after.update({item.request: None for item in version.unscheduled})
    moved = tuple(sorted(request for request in after if request in before and after[request] != before[request]))
    return replace(version, moved=moved)
