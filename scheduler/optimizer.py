"""Place the requests of one component: most requests placed, then least impact (SPEC section 6).

A component is a group of requests linked by shared resources or ``after``. One request alone is
placed at its cheapest start; a group whose cheapest starts already fit together is done; anything
else goes to CP-SAT, after pruning starts that provably cannot matter.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from graphlib import TopologicalSorter

import numpy as np
from ortools.sat.python import cp_model

from scheduler.candidates import Candidates
from scheduler.domain import Status
from scheduler.rules import starts_overlapping

Placement = dict[str, int | None]  # request id -> start slot, or None when unscheduled
_PRECISION = 2**52


@dataclass(frozen=True)
class ComponentResult:
    placement: Placement
    status: Status
    bound: float  # a lower bound on the impact of any schedule that places as many requests


def place(group: list[Candidates], *, time_limit_s: float, seed: int = 0) -> ComponentResult:
    """The best placement of one component, proven optimal unless the time limit cut it short."""
    if len(group) == 1:
        only = group[0]
        best = only.best()
        return ComponentResult({only.id: best}, "optimal", only.cost_at(best) if best is not None else 0.0)
    own_best = {c.id: c.best() for c in group}
    if all(start is not None for start in own_best.values()) and _fits(group, own_best):
        return ComponentResult(own_best, "optimal", _impact(group, own_best))
    if time_limit_s <= 0:
        fallback = greedy(group)
        return ComponentResult(fallback, "feasible", _relaxed_bound(group, fallback))
    return _CpSatComponent(group, seed).solve(time_limit_s)


def greedy(group: list[Candidates]) -> Placement:
    """Each request in turn (predecessors first, fewest starts first) at its cheapest free start."""
    by_id = {c.id: c for c in group}
    order = TopologicalSorter({c.id: [p for p in c.request.after if p in by_id] for c in group})
    order.prepare()
    count = len(group[0].all_costs)
    busy: dict[str, np.ndarray] = {}
    placement: Placement = {c.id: None for c in group}
    while order.is_active():
        ready = sorted(order.get_ready(), key=lambda i: (len(by_id[i].starts), i))
        for request_id in ready:
            candidate = by_id[request_id]
            placement[request_id] = _cheapest_free(candidate, busy, placement, by_id, count)
            start = placement[request_id]
            if start is not None:
                for resource in candidate.request.resources:
                    busy.setdefault(resource, np.zeros(count, dtype=bool))[start : start + candidate.slots] = True
            order.done(request_id)
    return placement


def _cheapest_free(
    candidate: Candidates,
    busy: dict[str, np.ndarray],
    placement: Placement,
    by_id: dict[str, Candidates],
    count: int,
) -> int | None:
    earliest = 0
    for predecessor in candidate.request.after:
        start = placement.get(predecessor)
        if start is None:
            return None
        earliest = max(earliest, start + by_id[predecessor].slots)
    taken = np.zeros(count, dtype=bool)
    for resource in candidate.request.resources:
        if resource in busy:
            taken |= busy[resource]
    blocked = starts_overlapping(taken, candidate.slots)
    for position in candidate.ranked():
        start = int(candidate.starts[position])
        if start >= earliest and not blocked[start]:
            return start
    return None


def _fits(group: list[Candidates], placement: Placement) -> bool:
    """Whether a placement keeps every resource and ``after`` rule of the group."""
    by_id = {c.id: c for c in group}
    held: dict[str, list[tuple[int, int]]] = {}
    for c in group:
        start = placement[c.id]
        if start is None:
            continue
        for predecessor in c.request.after:
            before = placement.get(predecessor)
            if before is None or start < before + by_id[predecessor].slots:
                return False
        for resource in c.request.resources:
            held.setdefault(resource, []).append((start, start + c.slots))
    for spans in held.values():
        spans.sort()
        if any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)):
            return False
    return True


def _impact(group: list[Candidates], placement: Placement) -> float:
    return sum(c.cost_at(start) for c in group if (start := placement[c.id]) is not None)


def _relaxed_bound(group: list[Candidates], placement: Placement) -> float:
    """Each placed request at its own cheapest start: no schedule placing them can cost less."""
    return sum(float(c.costs.min()) for c in group if placement[c.id] is not None and len(c.costs))


class _CpSatComponent:
    """The CP-SAT model of one component: data, variables, constraints, objective, solve, extract."""

    def __init__(self, group: list[Candidates], seed: int) -> None:
        self.group = group
        self.seed = seed
        self.by_id = {c.id: c for c in group}
        self.kept = {c.id: self._prune(c) for c in group}
        self.model = cp_model.CpModel()
        self.choices: dict[str, list[tuple[int, cp_model.IntVar]]] = {}
        self.present: dict[str, cp_model.IntVar] = {}
        self.start: dict[str, cp_model.IntVar] = {}
        self.optional: list[str] = []
        for c in group:
            self._add_request(c)
        self._resources_never_overlap()
        self._after_starts_when_predecessor_ends()
        self._minimize_unplaced_then_impact()

    def _linked_by_after(self, c: Candidates) -> bool:
        return bool(c.request.after) or any(c.id in other.request.after for other in self.group)

    def _neighbours(self, c: Candidates) -> list[Candidates]:
        return [o for o in self.group if o is not c and o.request.resources & c.request.resources]

    def _always_placeable_with(self, c: Candidates) -> int | None:
        """How many starts guarantee a free one whatever the others do; None if ``after`` links it.

        Another request j holding a shared resource blocks at most d_c + d_j - 1 starts of c.
        """
        if self._linked_by_after(c):
            return None
        return 1 + sum(c.slots + o.slots - 1 for o in self._neighbours(c))

    def _prune(self, c: Candidates) -> np.ndarray:
        # Only the cheapest starts matter: one of them is always free, and moving there never costs more.
        enough = self._always_placeable_with(c)
        ranked = c.ranked()
        if enough is not None and len(ranked) > enough:
            ranked = ranked[:enough]
        return np.sort(ranked)

    def _add_request(self, c: Candidates) -> None:
        model = self.model
        positions = self.kept[c.id]
        starts = [int(c.starts[p]) for p in positions]
        choices = [(start, model.new_bool_var("")) for start in starts]
        self.choices[c.id] = choices
        present = model.new_bool_var(f"present_{c.id}")
        model.add(sum(var for _, var in choices) == present)
        enough = self._always_placeable_with(c)
        if enough is not None and len(c.starts) >= enough:
            model.add(present == 1)
        else:
            self.optional.append(c.id)
        self.present[c.id] = present
        if not starts:
            return
        start_var = model.new_int_var_from_domain(cp_model.Domain.from_values(starts), f"start_{c.id}")
        chosen = cp_model.LinearExpr.weighted_sum([var for _, var in choices], [start for start, _ in choices])
        model.add(start_var == chosen).only_enforce_if(present)
        self.start[c.id] = start_var

    def _resources_never_overlap(self) -> None:
        # Windows that share a resource never overlap (touching end to start is fine).
        intervals: dict[str, list[cp_model.IntervalVar]] = {}
        for c in self.group:
            if c.id not in self.start:
                continue
            present = self.present[c.id]
            interval = self.model.new_optional_fixed_size_interval_var(self.start[c.id], c.slots, present, "")
            for resource in c.request.resources:
                intervals.setdefault(resource, []).append(interval)
        for shared in intervals.values():
            if len(shared) > 1:
                self.model.add_no_overlap(shared)

    def _after_starts_when_predecessor_ends(self) -> None:
        # A request starts no earlier than its predecessors end; without them it is not scheduled.
        for c in self.group:
            for predecessor in c.request.after:
                if c.id not in self.start:
                    break
                if predecessor not in self.start:
                    self.model.add(self.present[c.id] == 0)
                    continue
                self.model.add_implication(self.present[c.id], self.present[predecessor])
                ends = self.start[predecessor] + self.by_id[predecessor].slots
                self.model.add(self.start[c.id] >= ends).only_enforce_if(self.present[c.id])

    def _minimize_unplaced_then_impact(self) -> None:
        # Most requests placed first, then least impact, then the previous version's windows kept.
        n = len(self.group)
        self.tie = n + 1
        largest = max((float(c.costs[self.kept[c.id]].max()) for c in self.group if len(self.kept[c.id])), default=0)
        self.scale = (_PRECISION // self.tie**3) / largest if largest > 0 else 0.0
        variables: list[cp_model.IntVar] = []
        weights: list[int] = []
        biggest = 0
        for c in self.group:
            own = [
                round(c.cost_at(start) * self.scale) * self.tie + int(c.previous is not None and start != c.previous)
                for start, _ in self.choices[c.id]
            ]
            variables += [var for _, var in self.choices[c.id]]
            weights += own
            biggest += max(own, default=0)
        self.unplaced_penalty = biggest + 1
        absent = [self.present[i] for i in self.optional]
        objective = cp_model.LinearExpr.weighted_sum(variables, weights)
        if absent:
            objective += self.unplaced_penalty * (len(absent) - sum(absent))
        self.model.minimize(objective)

    def solve(self, time_limit_s: float) -> ComponentResult:
        hint = greedy(self.group)
        for c in self.group:
            for start, var in self.choices[c.id]:
                self.model.add_hint(var, hint[c.id] == start)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1  # one worker is deterministic; components run side by side instead
        solver.parameters.random_seed = self.seed
        solver.parameters.max_time_in_seconds = max(time_limit_s, 0.001)
        code = solver.solve(self.model)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return ComponentResult(hint, "feasible", _relaxed_bound(self.group, hint))
        placement: Placement = {
            c.id: next((start for start, var in self.choices[c.id] if solver.boolean_value(var)), None)
            for c in self.group
        }
        impact = _impact(self.group, placement)
        if code == cp_model.OPTIMAL:
            return ComponentResult(placement, "optimal", impact)
        unplaced = sum(1 for i in self.optional if placement[i] is None)
        lower = (solver.best_objective_bound - self.unplaced_penalty * unplaced - len(self.group)) / self.tie
        bound = max(lower - len(self.group), 0) / self.scale if self.scale else 0.0
        return ComponentResult(placement, "feasible", min(max(bound, _relaxed_bound(self.group, placement)), impact))
