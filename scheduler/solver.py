"""The engine's entry point: ``solve(problem) -> Version``, pure, deterministic and time-bounded."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from scheduler.candidates import Candidates, IntArray, build_candidates, components, inputs
from scheduler.domain import Problem, Request, Status, Unscheduled, Version, Window
from scheduler.explain import by_resource, off_offset_reasons, unscheduled_reasons
from scheduler.greedy import Placement
from scheduler.impact import FloatArray, ImpactModel, impact_at
from scheduler.optimizer import WORK_PER_SECOND, Budget, ComponentResult, place
from scheduler.repeats import recurrences
from scheduler.same_time import place_same_time

_RESERVED_S = 0.1  # the share of the time limit kept for writing the version and explaining its windows


def solve(
    problem: Problem,
    *,
    previous: Version | None = None,
    time_limit_s: float = 10.0,
    seed: int = 0,
    work_limit: float | None = None,
) -> Version:
    """The schedule placing the most requests at the least impact; ties keep ``previous``'s windows.

    ``time_limit_s`` bounds the whole call; ``work_limit`` (CP-SAT deterministic seconds, default
    ``WORK_PER_SECOND`` per second of the limit) bounds the search, so that the same problem, seed
    and work limit give the same version on any machine that is not too slow for the time limit.
    """
    return Planner(time_limit_s=time_limit_s, seed=seed, work_limit=work_limit).solve(problem, previous=previous)


@dataclass(frozen=True)
class _Solved:
    """A component's result and the inputs it was proven optimal for."""

    costs: dict[str, FloatArray]  # the exact cost arrays it saw (compared by identity)
    starts: dict[str, IntArray]  # the allowed starts it saw
    fixed: frozenset[str]  # the requests it saw fixed (a fixed window changes a same-time model's options)
    result: ComponentResult


class Planner:
    """Solves the successive versions of one negotiation, reusing what a change did not touch.

    A request's rules and allowed starts are computed again only when what they depend on changed
    (``candidates.inputs``). A component is solved again only when one of its requests changed
    (its costs, or starts it may now use that it could not before). A component whose allowed
    starts only shrank keeps its windows when they are still allowed: removing options nobody used
    cannot make another schedule better. The result is as good as a fresh ``solve``'s.
    """

    def __init__(self, *, time_limit_s: float = 10.0, seed: int = 0, work_limit: float | None = None) -> None:
        self.time_limit_s = time_limit_s
        self.seed = seed
        self.work_limit = work_limit if work_limit is not None else WORK_PER_SECOND * time_limit_s
        self._impact: ImpactModel | None = None
        self._impact_key: tuple[object, ...] = ()
        self._costs: dict[tuple[object, ...], FloatArray] = {}
        self._candidates: dict[str, tuple[tuple[object, ...], Candidates]] = {}  # the last solve's, with their inputs
        self._solved: dict[tuple[str, ...], _Solved] = {}

    def solve(self, problem: Problem, *, previous: Version | None = None) -> Version:
        """The next version; ``previous`` is the version it replaces (ties keep its windows)."""
        deadline = time.monotonic() + self.time_limit_s * (1 - _RESERVED_S)
        impact = self._impact_model(problem)
        candidates = self._build_candidates(problem, impact, previous)
        ties = {i: series for i, series in problem.series.items() if series.tied}
        tied_ids = {o.id: i for i, series in ties.items() for o in series.occurrences if not candidates[o.id].fixed}
        placement: Placement = {}
        statuses: list[Status] = []
        unproven: set[str] = set()
        bound = 0.0
        solved: dict[tuple[str, ...], _Solved] = {}
        offsets: dict[str, int] = {}
        # Small components first, so that a hard one cannot starve the easy ones of time; each
        # gets a share of what is left in proportion to its size.
        together = [[o.id for o in series.occurrences if o.id in tied_ids] for series in ties.values()]
        groups = sorted(components(problem.occurrences, together), key=len)
        left = sum(map(len, groups))
        for group in groups:
            members = [candidates[i] for i in group]
            result = self._reusable(members)
            if result is None:
                share = len(group) / left
                now = time.monotonic()
                budget = Budget(now + max(deadline - now, 0.0) * share, self.work_limit * len(group) / len(candidates))
                group_ties = {tied_ids[i]: ties[tied_ids[i]] for i in group if i in tied_ids}
                if group_ties:
                    result = place_same_time(members, group_ties, budget=budget, seed=self.seed)
                else:
                    result = place(members, budget=budget, slot_minutes=problem.grid.slot_minutes, seed=self.seed)
            left -= len(group)
            key = tuple(sorted(group))
            solved[key] = _Solved(
                {c.id: c.all_costs for c in members},
                {c.id: c.starts for c in members},
                frozenset(c.id for c in members if c.fixed),
                result,
            )
            placement.update(result.placement)
            offsets.update(result.offsets)
            statuses.append(result.status)
            if result.status != "optimal":
                unproven.update(group)
            bound += result.bound
        self._solved = solved
        return assemble(problem, impact, candidates, placement, statuses, bound, previous, unproven, offsets)

    def _impact_model(self, problem: Problem) -> ImpactModel:
        key = (problem.grid, problem.regions, tuple(problem.services.items()), problem.events)
        if self._impact is None or key != self._impact_key:
            self._impact, self._impact_key, self._costs, self._candidates = ImpactModel(problem), key, {}, {}
        else:
            self._impact = self._impact.for_problem(problem)
        return self._impact

    def _build_candidates(
        self, problem: Problem, impact: ImpactModel, previous: Version | None
    ) -> dict[str, Candidates]:
        """Every occurrence's candidates, reusing the last solve's where their inputs are the same."""
        built: dict[str, tuple[tuple[object, ...], Candidates]] = {}
        for request in problem.occurrences:
            key = inputs(problem, request)
            last = self._candidates.get(request.id)
            reuse = last[1] if last is not None and last[0] == key else None
            costs = self._window_costs(problem, impact, request)
            built[request.id] = (key, build_candidates(problem, request, costs, previous, reuse))
        self._candidates = built
        return {request_id: candidate for request_id, (_, candidate) in built.items()}

    def _window_costs(self, problem: Problem, impact: ImpactModel, request: Request) -> FloatArray:
        soft = tuple(o for o in problem.objections_on(request.id) if o.kind == "soft")
        scopes = tuple(problem.stakeholder_by_id.get(o.by) for o in soft)
        # The occurrences of a repeated request cost the same unless an objection names one of them.
        key = (problem.request_by_id[request.series] if request.series else request, soft, scopes)
        costs = self._costs.get(key)
        if costs is None:
            costs = impact.window_costs(request, problem.grid.slots_for(request.duration))
            costs.flags.writeable = False
            self._costs[key] = costs
        return costs

    def _reusable(self, members: list[Candidates]) -> ComponentResult | None:
        """The last result for this component, if it is still the optimal one."""
        before = self._solved.get(tuple(sorted(c.id for c in members)))
        if before is None or before.result.status != "optimal":
            return None
        for c in members:
            start = before.result.placement[c.id]
            if before.costs[c.id] is not c.all_costs or c.previous != start or c.fixed != (c.id in before.fixed):
                return None
            if c.starts is before.starts[c.id]:
                continue  # the same starts as before (reused candidates)
            if not np.isin(c.starts, before.starts[c.id], assume_unique=True).all():
                return None  # a start it could not use before is open now
            if start is not None and not np.isin(start, c.starts):
                return None
        return before.result


def assemble(
    problem: Problem,
    impact: ImpactModel,
    candidates: dict[str, Candidates],
    placement: Placement,
    statuses: list[Status],
    bound: float,
    previous: Version | None,
    unproven: set[str],
    offsets: dict[str, int] | None = None,
) -> Version:
    """Turn a placement into a version: windows, reasons for the rest, status and what moved."""
    grid = problem.grid
    windows: list[Window] = []
    unscheduled: list[Unscheduled] = []
    holding = by_resource(candidates)
    for request in problem.occurrences:
        candidate = candidates[request.id]
        start = placement.get(request.id)
        if start is None:
            proven = request.id not in unproven
            reasons = unscheduled_reasons(candidate, placement, candidates, proven=proven, holding=holding)
            if request.series is not None and problem.series[request.series].tied and not candidate.fixed:
                series = problem.series[request.series]
                offset = (offsets or {}).get(request.series)
                reasons = off_offset_reasons(series, request, offset, placement, candidates, reasons, holding=holding)
            unscheduled.append(Unscheduled(request.id, reasons))
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
    version = replace(version, recurrences=recurrences(problem, version))
    return version if previous is None else with_moves(version, previous)


def preferred_impact(problem: Problem, candidate: Candidates) -> float | None:
    """Impact of the window the requester would pick, whatever the constraints."""
    preferred = candidate.request.preferred
    if preferred is None:
        return None
    return sum(impact_at(problem, candidate.request, preferred).values())


def with_moves(version: Version, previous: Version) -> Version:
    """``version`` with ``moved``: requests of both versions whose window is not the same."""
    before: dict[str, datetime | None] = {window.request: window.start for window in previous.windows}
    before.update({item.request: None for item in previous.unscheduled})
    after: dict[str, datetime | None] = {window.request: window.start for window in version.windows}
    after.update({item.request: None for item in version.unscheduled})
    moved = tuple(sorted(request for request in after if request in before and after[request] != before[request]))
    return replace(version, moved=moved)
