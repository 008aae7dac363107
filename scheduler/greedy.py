"""The most-constrained-first greedy: the floor every schedule must reach, and the search's warm start.

Each step places the unplaced request with the fewest free starts, given the windows already
placed, at its cheapest free start. A request waits until every request it comes ``after`` is
placed; one whose predecessor found no room finds none either.
"""

from __future__ import annotations

import numpy as np

from scheduler.candidates import Candidates, IntArray
from scheduler.rules import BoolArray

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
    free: list[BoolArray] = []
    for c in group:
        mask = np.zeros(count, dtype=bool)
        mask[c.starts] = True
        free.append(mask)
    ranked = [c.starts[order[c.id] if order is not None else c.ranked()] for c in group]
    holders: dict[str, list[int]] = {}
    for i, c in enumerate(group):
        for resource in c.request.resources:
            holders.setdefault(resource, []).append(i)
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
            for other in holders[resource]:
                if not done[other]:
                    # Starts of ``other`` whose window would overlap [start, end).
                    free[other][max(start - group[other].slots + 1, 0) : end] = False
                    if waiting[other] == 0:
                        free_count[other] = free[other].sum()
        for successor in successors.get(chosen, []):
            free[successor][:end] = False
            waiting[successor] -= 1
            if waiting[successor] == 0:
                free_count[successor] = free[successor].sum()
    return placement


def placed_count(placement: Placement) -> int:
    """How many requests a placement schedules."""
    return sum(start is not None for start in placement.values())
