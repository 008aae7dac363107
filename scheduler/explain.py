"""Why a request got no window: the rule ids that together leave it no room (docs/format.md section 5.2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.candidates import Candidates, build_candidates
from scheduler.domain import Problem, Request, Series, Version
from scheduler.greedy import Placement
from scheduler.impact import ImpactModel
from scheduler.rules import (
    Blocked,
    after_rule,
    before_end,
    clashing_starts,
    covering_rules,
    repeat_rule,
    resource_rule,
    shared_resource,
)

TIME_LIMIT = "time-limit"


def rule_text(problem: Problem, rule: str) -> str:
    """A rule id with the name of the event period it stands for: ``event:holidays:IR:2026-03-21 (Nowruz)``."""
    name = problem.period_names.get(rule)
    return f"{rule} ({name})" if name and rule != f"event:{name}" else rule


def by_resource(candidates: dict[str, Candidates]) -> dict[str, list[str]]:
    """The ids of the requests holding each resource, for looking up who can block whom."""
    holding: dict[str, list[str]] = {}
    for c in candidates.values():
        for resource in sorted(c.request.resources):
            holding.setdefault(resource, []).append(c.id)
    return holding


def placement_rules(
    candidate: Candidates,
    placement: Placement,
    candidates: dict[str, Candidates],
    *,
    holders: Placement | None = None,
    holding: dict[str, list[str]] | None = None,
) -> list[Blocked]:
    """The starts the other requests' windows take away: ``after:ID`` and ``resource:R with request:ID``.

    ``holders`` are the windows named as resource blockers (default: all of ``placement``);
    ``holding`` is ``by_resource(candidates)``, passed in by callers that ask for many requests.
    """
    count = len(candidate.all_costs)
    every = np.arange(count)
    blocked: list[Blocked] = []
    for predecessor in candidate.request.after:
        start = placement.get(predecessor)
        if start is None or predecessor not in candidates:
            blocked.append(Blocked(after_rule(predecessor), np.ones(count, dtype=bool)))
        else:
            blocked.append(Blocked(after_rule(predecessor), before_end(every, start, candidates[predecessor].slots)))
    windows = placement if holders is None else holders
    holding = holding if holding is not None else by_resource(candidates)
    sharing = dict.fromkeys(other for r in sorted(candidate.request.resources) for other in holding.get(r, ()))
    for other_id in sharing:
        start = windows.get(other_id)
        if start is None or other_id == candidate.id:
            continue
        other = candidates[other_id]
        resource = shared_resource(candidate.request, other.request)
        assert resource is not None  # ``holding`` lists only requests holding one of its resources
        first, stop = clashing_starts(start, other.slots, candidate.slots)
        overlapping = np.zeros(count, dtype=bool)
        overlapping[max(int(first), 0) : int(stop)] = True
        blocked.append(Blocked(resource_rule(resource, other_id), overlapping))
    return blocked


def unscheduled_reasons(
    candidate: Candidates,
    placement: Placement,
    candidates: dict[str, Candidates],
    *,
    proven: bool = True,
    holding: dict[str, list[str]] | None = None,
) -> tuple[str, ...]:
    """The ids of the rules that together forbid every start of an unscheduled request.

    When the search was not ``proven``, another request's window is named only if it is fixed
    (started, announced or pinned): the search might have moved any other. Unless what is
    certain leaves no room, ``time-limit`` is among the reasons.
    """
    everywhere = np.ones(len(candidate.all_costs), dtype=bool)
    if proven:
        rules = [*candidate.rules, *placement_rules(candidate, placement, candidates, holding=holding)]
        return covering_rules(rules, everywhere)
    # Not proven: other windows are named only where fixed. What holds whatever the search might
    # have found is the request's own rules, those windows, and predecessors that are fixed or
    # gone; where that leaves room, the search's limit is the reason.
    fixed = {i: start for i, start in placement.items() if candidates[i].fixed}
    rules = [*candidate.rules, *placement_rules(candidate, placement, candidates, holders=fixed, holding=holding)]
    moving = {after_rule(p) for p in candidate.request.after if p in candidates and not candidates[p].fixed}
    certain = [rule for rule in rules if rule.rule not in moving]
    if not (everywhere & ~np.logical_or.reduce([rule.starts for rule in certain])).any():
        return covering_rules(certain, everywhere)
    return (*covering_rules(rules, everywhere), TIME_LIMIT)


def off_offset_reasons(
    series: Series,
    occurrence: Request,
    offset: int | None,
    placement: Placement,
    candidates: dict[str, Candidates],
    reasons: tuple[str, ...],
    *,
    holding: dict[str, list[str]] | None = None,
) -> tuple[str, ...]:
    """Why an occurrence of a same-time request has no window: ``repeat:ID`` and the rules that
    block it at the offset its request chose (``reasons``, its own rules' cover, when none was)."""
    rule = repeat_rule(series.request.id)
    if offset is None:
        return reasons if rule in reasons else (rule, *reasons)
    assert occurrence.number is not None
    row = occurrence.number - 1
    start = int(series.starts[row, offset])
    candidate = candidates[occurrence.id]
    if not series.exists[row, offset]:
        return (rule,)
    if not 0 <= start < len(candidate.all_costs):
        return (rule, "horizon")
    others = {**placement, candidate.id: None}
    blocking = [*candidate.rules, *placement_rules(candidate, others, candidates, holding=holding)]
    return (rule, *dict.fromkeys(b.rule for b in blocking if b.starts[start] and b.rule != rule))


@dataclass(frozen=True)
class Alternative:
    start: int  # slot index
    impact: float


@dataclass(frozen=True)
class Blocker:
    """A rule that rules out starts cheaper than the chosen one."""

    rule: str
    starts: int  # how many cheaper starts it forbids
    cheapest_impact: float  # the impact of the cheapest of them


@dataclass(frozen=True)
class WhyHere:
    alternatives: tuple[Alternative, ...]  # the next-best allowed starts, not overlapping each other
    cheaper_blocked_by: tuple[Blocker, ...]  # what rules out the starts that would cost less
    fixed: str | None = None  # "started", "pinned" or "announced": it stays where it is, whatever costs less


def why_here(
    candidate: Candidates,
    start: int,
    placement: Placement,
    candidates: dict[str, Candidates],
    *,
    alternatives: int = 3,
    holding: dict[str, list[str]] | None = None,
) -> WhyHere:
    """Why a window is where it is: the rules that forbid cheaper starts, and the next-best starts."""
    others = {**placement, candidate.id: None}
    rules = [*candidate.rules, *placement_rules(candidate, others, candidates, holding=holding)]
    costs = candidate.all_costs
    chosen = costs[start]
    cheaper = costs < chosen - 1e-9 * max(abs(chosen), 1.0)
    forbidden = np.array([rule.starts for rule in rules])  # one row per rule
    hits = forbidden & cheaper
    counts = hits.sum(axis=1)
    cheapest = np.where(hits, costs, np.inf).min(axis=1)
    blockers = [
        Blocker(rule.rule, int(counts[row]), float(cheapest[row])) for row, rule in enumerate(rules) if counts[row]
    ]
    blockers.sort(key=lambda blocker: (blocker.cheapest_impact, blocker.rule))
    free = ~forbidden.any(axis=0) & np.isfinite(costs)
    listed: list[Alternative] = []
    taken = [start]
    open_starts = np.flatnonzero(free)
    for index in open_starts[np.lexsort((open_starts, costs[open_starts]))]:
        if len(listed) == alternatives:
            break
        if all(abs(int(index) - t) >= candidate.slots for t in taken):
            listed.append(Alternative(int(index), float(costs[index])))
            taken.append(int(index))
    return WhyHere(tuple(listed), tuple(blockers))


def explain_version(problem: Problem, version: Version) -> dict[str, WhyHere]:
    """``why_here`` for every window of a version of ``problem`` (not for the occurrences of a
    same-time request, which move only together)."""
    impact = ImpactModel(problem)
    grid = problem.grid
    candidates = {
        r.id: build_candidates(problem, r, impact.window_costs(r, grid.slots_for(r.duration)))
        for r in problem.occurrences
    }
    placement: Placement = {r.id: None for r in problem.occurrences}
    placement.update({w.request: grid.first_at_or_after(w.start) for w in version.windows})
    holding = by_resource(candidates)
    return {
        window.request: why_fixed(candidate, start, problem.fixed_by.get(window.request, "fixed"))
        if candidate.fixed
        else why_here(candidate, start, placement, candidates, holding=holding)
        for window in version.windows
        if window.request in candidates and not _moves_with_its_series(problem, candidates[window.request])
        for candidate, start in [(candidates[window.request], grid.first_at_or_after(window.start))]
    }


def why_fixed(candidate: Candidates, start: int, kind: str) -> WhyHere:
    """A window that stays where it is (started, pinned or announced): that alone rules out every
    cheaper start, and it has no next best."""
    costs = candidate.all_costs
    chosen = costs[start]
    cheaper = np.isfinite(costs) & (costs < chosen - 1e-9 * max(abs(chosen), 1.0))
    count = int(cheaper.sum())
    blockers = (Blocker(kind, count, float(costs[cheaper].min())),) if count else ()
    return WhyHere((), blockers, fixed=kind)


def _moves_with_its_series(problem: Problem, candidate: Candidates) -> bool:
    """An occurrence of a same-time request that can still move: its own other starts are no alternative."""
    series = candidate.request.series
    return series is not None and problem.series[series].tied and not candidate.fixed
