"""The most-constrained-first greedy: the floor every schedule must reach, and the search's warm start.

Each step places the unplaced request with the fewest free starts, given the windows already
placed, at its cheapest free start. A request waits until every request it comes ``after`` is
placed; one whose predecessor found no room finds none either.
"""

from __future__ import annotations

import numpy as np

from scheduler.candidates import Candidates, IntArray
from scheduler.rules import before_end, clashes

Placement = dict[str, int | None]  # request id -> start slot, or None when unscheduled


def most_constrained_first(
    group: list[Candidates], *, order: dict[str, IntArray] | None = None, kept: Placement | None = None
) -> Placement:
    """The greedy schedule of one component.

    ``order`` ranks each request's starts (positions into its ``starts``) instead of its own
    ranking (cheapest first, then the previous start, then the earliest). ``kept`` windows are
    placed first, where they are; they must fit together.
    """
    ids = [c.id for c in group]
    index = {request_id: i for i, request_id in enumerate(ids)}
    count = len(group[0].all_costs)
    free = np.zeros((len(group), count), dtype=bool)  # free[i, t]: request i may still start at t
    for i, c in enumerate(group):
        free[i, c.starts] = True
    slots = np.array([c.slots for c in group], dtype=np.int64)
    every = np.arange(count)
    ranked = [c.starts[order[c.id] if order is not None else c.ranked()] for c in group]
    listed: dict[str, list[int]] = {}
    for i, c in enumerate(group):
        for resource in c.request.resources:
            listed.setdefault(resource, []).append(i)
    holders = {resource: np.array(members, dtype=np.int64) for resource, members in listed.items()}
    successors: dict[int, list[int]] = {}
    waiting = np.zeros(len(group), dtype=np.int64)  # predecessors not placed yet
    for i, c in enumerate(group):
        for predecessor in c.request.after:
            waiting[i] += 1
            if predecessor in index:
                successors.setdefault(index[predecessor], []).append(i)
    free_count = np.array([len(c.starts) for c in group], dtype=np.float64)
    free_count[waiting > 0] = np.inf  # not ready: a predecessor is still unplaced
    done = np.zeros(len(group), dtype=bool)
    placement: Placement = {request_id: None for request_id in ids}
    first = [(index[r], s) for r, s in (kept or {}).items() if s is not None]
    for step in range(len(group)):
        if step < len(first):
            chosen, start = first[step]
        else:
            # The fewest free starts first; ties by input order.
            ready = np.where(done, np.inf, free_count)
            chosen = int(np.argmin(ready))
            if not np.isfinite(ready[chosen]):
                break  # what is left waits for a predecessor that was never placed
            open_starts = np.flatnonzero(free[chosen][ranked[chosen]])
            if not len(open_starts):
                done[chosen] = True
                continue
            start = int(ranked[chosen][open_starts[0]])
        done[chosen] = True
        candidate = group[chosen]
        placement[candidate.id] = start
        end = start + candidate.slots
        for resource in candidate.request.resources:
            others = holders[resource][~done[holders[resource]]]
            if not len(others):
                continue
            low = max(start - int(slots[others].max()) + 1, 0)  # no start before this can clash
            overlapping = clashes(np.arange(low, end)[None, :], slots[others][:, None], start, candidate.slots)
            stretch = free[others, low:end]
            lost = (stretch & overlapping).sum(axis=1)
            free[others, low:end] = stretch & ~overlapping
            free_count[others] -= lost  # inf stays inf for those still waiting
        for successor in successors.get(chosen, []):
            free[successor] &= ~before_end(every, start, candidate.slots)
            waiting[successor] -= 1
            if waiting[successor] == 0:
                free_count[successor] = free[successor].sum()
    return placement


def placed_count(placement: Placement) -> int:
    """How many requests a placement schedules."""
    return sum(start is not None for start in placement.values())
