"""The hard rules of docs/format.md section 5.1, one named function each.

Each rule of one request returns the starts (slot indices 0..count-1) it forbids under the id
that appears in ``reasons``. The two rules between requests (a shared resource, ``after``) say
which starts a placed window takes from another request, and under which id; the greedy, the
fit check, the explanations and the negotiation all ask them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from scheduler.domain import Problem, Request, TimeRange

BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Blocked:
    """The starts one rule forbids."""

    rule: str
    starts: BoolArray


def starts_overlapping(slots: BoolArray, length: int) -> BoolArray:
    """Starts whose ``length``-slot window contains at least one marked slot."""
    counts = np.concatenate(([0], np.cumsum(slots, dtype=np.int64)))
    ends = np.minimum(np.arange(len(slots)) + length, len(slots))
    return np.asarray(counts[ends] - counts[: len(slots)] > 0)


def _mark(problem: Problem, spans: Iterable[TimeRange]) -> BoolArray:
    marked = np.zeros(problem.grid.count, dtype=bool)
    for span in spans:
        slots = problem.grid.slots_starting_in(span.start, span.end)
        marked[slots.start : slots.stop] = True
    return marked


def _starts_before(problem: Problem, index: int) -> BoolArray:
    return np.arange(problem.grid.count) < index


def horizon(problem: Problem, request: Request, slots: int) -> Blocked:
    # A window lies inside the horizon.
    return Blocked("horizon", np.arange(problem.grid.count) + slots > problem.grid.count)


def earliest(problem: Problem, request: Request, slots: int) -> Blocked:
    # A window starts at or after the request's earliest start.
    return Blocked("earliest", _starts_before(problem, problem.grid.first_at_or_after(request.earliest)))


def notice(problem: Problem, request: Request, slots: int) -> Blocked:
    # A new or moved window starts at or after now plus the request's notice; a kept one keeps its notice.
    blocked = _starts_before(problem, problem.grid.first_at_or_after(problem.now + request.notice))
    kept = problem.noticed.get(request.id)
    if kept is not None:
        index = problem.grid.first_at_or_after(kept)
        if 0 <= index < problem.grid.count and problem.grid.instant(index) == kept:
            blocked[index] = False
    return Blocked("notice", blocked)


def deadline(problem: Problem, request: Request, slots: int) -> Blocked:
    # A window ends at or before the request's deadline.
    last_start = problem.grid.last_at_or_before(request.deadline) - slots
    return Blocked("deadline", np.arange(problem.grid.count) > last_start)


def period(problem: Problem, request: Request, slots: int) -> list[Blocked]:
    # An occurrence of a repeated request starts in its own period.
    if request.period is None or request.series is None:
        return []
    first = problem.grid.first_at_or_after(request.period.start)
    stop = problem.grid.first_at_or_after(request.period.end)
    every = np.arange(problem.grid.count)
    return [Blocked(repeat_rule(request.series), (every < first) | (every >= stop))]


def blackouts(problem: Problem, request: Request, slots: int) -> list[Blocked]:
    # A window overlaps no blackout period that covers one of its regions and one of its services.
    spans: dict[str, list[TimeRange]] = {}  # by rule id: a calendar event's occurrences share one
    for event in problem.events:
        if not (event.blackout and event.services & request.services):
            continue
        for period in event.periods:
            if period.regions & request.regions:
                spans.setdefault(period.rule, []).append(TimeRange(period.start, period.end))
    return [Blocked(rule, starts_overlapping(_mark(problem, ranges), slots)) for rule, ranges in spans.items()]


def vetoes(problem: Problem, request: Request, slots: int) -> list[Blocked]:
    # A window overlaps no accepted veto's avoid range on its request.
    return [
        Blocked(objection.rule, starts_overlapping(_mark(problem, objection.avoid), slots))
        for objection in problem.objections_on(request.id)
        if objection.kind == "veto"
    ]


def blocked_starts(problem: Problem, request: Request, slots: int) -> list[Blocked]:
    """Every single-request rule with the starts it forbids, in the order reasons list them."""
    return [
        horizon(problem, request, slots),
        earliest(problem, request, slots),
        notice(problem, request, slots),
        deadline(problem, request, slots),
        *period(problem, request, slots),
        *blackouts(problem, request, slots),
        *vetoes(problem, request, slots),
    ]


def allowed_starts(rules: list[Blocked]) -> BoolArray:
    """Starts no rule forbids."""
    forbidden = np.zeros(len(rules[0].starts), dtype=bool)
    for rule in rules:
        forbidden |= rule.starts
    return ~forbidden


def covering_rules(rules: list[Blocked], universe: BoolArray) -> tuple[str, ...]:
    """A small set of rule ids that together forbid every start in ``universe``.

    Greedy set cover, then every rule whose starts the others already cover is dropped, so each
    id named is needed. Ids keep the order of ``rules``.
    """
    uncovered = universe.copy()
    chosen: list[Blocked] = []
    while uncovered.any():
        best = max(rules, key=lambda rule: int((rule.starts & uncovered).sum()))
        gained = best.starts & uncovered
        if not gained.any():
            break
        chosen.append(best)
        uncovered &= ~gained
    for rule in list(chosen):
        others = [other for other in chosen if other is not rule]
        if others and not (universe & ~np.logical_or.reduce([o.starts for o in others])).any():
            chosen.remove(rule)
    order = {id(rule): i for i, rule in enumerate(rules)}
    return tuple(dict.fromkeys(rule.rule for rule in sorted(chosen, key=lambda rule: order[id(rule)])))


# --- Rules between requests -------------------------------------------------------------------


def resource_rule(resource: str, holder: str) -> str:
    """The reason id of a start taken by ``holder``'s window on ``resource``."""
    return f"resource:{resource} with request:{holder}"


def repeat_rule(series: str) -> str:
    """The reason id of a start outside an occurrence's period, or away from its series' offset."""
    return f"repeat:{series}"


def after_rule(predecessor: str) -> str:
    """The reason id of a start taken because ``predecessor`` has not ended (or has no window)."""
    return f"after:{predecessor}"


def shared_resource(first: Request, second: Request) -> str | None:
    """The resource two requests would clash on (the first in name order), or None."""
    shared = first.resources & second.resources
    return min(shared) if shared else None


Slots = int | NDArray[np.int64]  # one slot index or length, or an array of them


def clashing_starts(held: Slots, length: Slots, slots: Slots) -> tuple[Slots, Slots]:
    """The starts [first, stop) of a ``slots``-slot window that overlap a window of ``length`` slots at ``held``.

    Windows that share a resource never overlap; touching end to start is fine.
    """
    return held - slots + 1, held + length


def clashes(starts: Slots, slots: Slots, held: Slots, length: Slots) -> BoolArray:
    """Which ``starts`` of ``slots``-slot windows overlap a window of ``length`` slots at ``held``."""
    first, stop = clashing_starts(held, length, slots)
    return np.asarray((starts >= first) & (starts < stop))


def before_end(starts: Slots, held: Slots, length: Slots) -> BoolArray:
    """Which ``starts`` come before the end of a window of ``length`` slots at ``held``.

    A request starts no earlier than the requests it comes ``after`` end.
    """
    return np.asarray(starts < held + length)
