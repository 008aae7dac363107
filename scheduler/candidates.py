"""A request's allowed starts with their impact, and the components requests form together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from scheduler.domain import Problem, Request, Version
from scheduler.impact import FloatArray
from scheduler.rules import Blocked, allowed_starts, blocked_starts

IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Candidates:
    """Where a request may start (slot indices, ascending) and what each start costs."""

    request: Request
    slots: int
    starts: IntArray
    costs: FloatArray
    rules: tuple[Blocked, ...]
    all_costs: FloatArray  # impact at every start of the grid, allowed or not (inf past the end)
    previous: int | None = None  # the previous version's start, when still allowed
    fixed: bool = False  # started, announced or pinned: its only start is where it stands

    @property
    def id(self) -> str:
        return self.request.id

    def ranked(self) -> IntArray:
        """Positions into ``starts`` from best to worst: cheaper first, then the previous start, then earlier."""
        keep_previous = self.starts != (self.previous if self.previous is not None else -1)
        return np.lexsort((self.starts, keep_previous, self.costs))

    def best(self) -> int | None:
        """The cheapest allowed start (ties: the previous one, then the earliest), if any."""
        return int(self.starts[self.ranked()[0]]) if len(self.starts) else None

    def cost_at(self, start: int) -> float:
        return float(self.all_costs[start])


def build_candidates(
    problem: Problem,
    request: Request,
    all_costs: FloatArray,
    previous: Version | None = None,
    reuse: Candidates | None = None,
) -> Candidates:
    """The request's allowed starts under every single-request rule, with their impact.

    A fixed window (started, announced or pinned: ``problem.fixed``) is its request's only start.
    ``reuse`` is this request's candidates for a problem that differs only in what ``inputs``
    leaves out: its rules and starts are kept, and only the previous version's start is looked up.
    """
    if reuse is not None and reuse.all_costs is all_costs:
        return replace(reuse, previous=_previous_start(problem, request, reuse.starts, previous))
    slots = problem.grid.slots_for(request.duration)
    rules = tuple(blocked_starts(problem, request, slots))
    fixed = problem.fixed.get(request.id)
    if fixed is not None:
        allowed = np.zeros(problem.grid.count, dtype=bool)
        index = problem.grid.first_at_or_after(fixed)
        if 0 <= index < problem.grid.count and index + slots <= problem.grid.count:
            allowed[index] = True
    else:
        allowed = allowed_starts(list(rules))
    if any(predecessor not in problem.occurrence_ids for predecessor in request.after):
        allowed[:] = False  # a predecessor that was withdrawn is never scheduled, so neither is this
    starts = np.flatnonzero(allowed).astype(np.int64)
    starts.flags.writeable = False
    return Candidates(
        request=request,
        slots=slots,
        starts=starts,
        costs=all_costs[starts],
        rules=rules,
        all_costs=all_costs,
        previous=_previous_start(problem, request, starts, previous),
        fixed=fixed is not None,
    )


def inputs(problem: Problem, request: Request) -> tuple[object, ...]:
    """What a request's candidates depend on, given the grid, the events and its cost array.

    Two problems on one grid with the same events and equal inputs give the request the same
    rules and starts. The clock enters as the first start its notice allows, so a later ``now``
    within the same slot changes nothing, and a kept window's notice only where it is needed.
    """
    grid = problem.grid
    notice = grid.first_at_or_after(problem.now + request.notice)
    kept = problem.noticed.get(request.id)  # matters only where notice would forbid it
    return (
        request,
        notice,
        kept if kept is not None and grid.first_at_or_after(kept) < notice else None,
        problem.fixed.get(request.id),
        tuple(o for o in problem.objections_on(request.id) if o.kind == "veto"),
        all(predecessor in problem.occurrence_ids for predecessor in request.after),
    )


def _previous_start(problem: Problem, request: Request, starts: IntArray, previous: Version | None) -> int | None:
    """The previous version's start of the request, when it is on the grid and still allowed."""
    before = previous.window_by_request.get(request.id) if previous is not None else None
    if before is None:
        return None
    index = problem.grid.first_at_or_after(before.start)
    at = int(np.searchsorted(starts, index))
    if problem.grid.instant(index) != before.start or at == len(starts) or starts[at] != index:
        return None
    return index


def components(requests: Sequence[Request], tied: Sequence[Sequence[str]] = ()) -> list[list[str]]:
    """Groups of request ids linked by a shared resource, by ``after`` or by starting at the same
    offset (each of ``tied``), in input order."""
    ids = [request.id for request in requests]
    parent = {request_id: request_id for request_id in ids}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    holder: dict[str, str] = {}
    for request in requests:
        links = [holder.setdefault(resource, request.id) for resource in sorted(request.resources)]
        links += [p for p in request.after if p in parent]
        for other in links:
            parent[root(other)] = root(request.id)
    for together in tied:
        for other in together[1:]:
            parent[root(other)] = root(together[0])
    groups: dict[str, list[str]] = {}
    for request_id in ids:
        groups.setdefault(root(request_id), []).append(request_id)
    return list(groups.values())
