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

from scheduler.bounds import price
from scheduler.candidates import Candidates, IntArray
from scheduler.domain import Status
from scheduler.rules import starts_overlapping

Placement = dict[str, int | None]  # request id -> start slot, or None when unscheduled
_PRECISION = 2**52
_TOLERANCE = 1e-9  # relative: float sums of impacts differ in their last digits


@dataclass(frozen=True)
class ComponentResult:
    placement: Placement
    status: Status  # "infeasible": no placement within the kept starts (a narrowed model only)
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
    first = greedy(group)
    lower = _relaxed_bound(group, first)
    if any(start is None for start in first.values()):
        kept = {c.id: _cheapest_that_matter(c, group) for c in group}
        return _CpSatComponent(group, kept, mandatory=set(), seed=seed).solve(time_limit_s, first, lower)
    return _place_all(group, first, lower, time_limit_s=time_limit_s, seed=seed)


def _place_all(
    group: list[Candidates], first: Placement, lower: float, *, time_limit_s: float, seed: int
) -> ComponentResult:
    """Optimal placement when every request fits (the greedy schedule placed them all).

    Lagrangian prices give a lower bound and the starts no schedule cheaper than the best known
    one can use; CP-SAT then proves the optimum among the few starts left.
    """
    kept = {c.id: _cheapest_that_matter(c, group) for c in group}
    best, upper = first, _impact(group, first)
    pricing = price(group, kept, upper)
    guided_order = {c.id: kept[c.id][np.argsort(pricing.guided[c.id], kind="stable")] for c in group}
    guided = greedy(group, order=guided_order)
    if all(start is not None for start in guided.values()) and _impact(group, guided) < upper:
        best, upper = guided, _impact(group, guided)
    lower = max(lower, pricing.lower)
    slack = upper - lower + _TOLERANCE * max(abs(upper), 1.0)
    keeps_previous = all(c.previous is None or best[c.id] == c.previous for c in group)
    if upper - lower <= _TOLERANCE * max(abs(upper), 1.0) and keeps_previous:
        return ComponentResult(best, "optimal", upper)
    # Otherwise CP-SAT decides, among the starts that can still be optimal (ties included).
    useful = {c.id: kept[c.id][pricing.reduced[c.id] <= slack] for c in group}
    model = _CpSatComponent(group, useful, mandatory={c.id for c in group}, seed=seed)
    result = model.solve(time_limit_s, best, lower)
    if result.status == "infeasible":  # cannot happen in exact arithmetic: the best schedule is among the starts kept
        return ComponentResult(best, "feasible", lower)
    return result


def _cheapest_that_matter(c: Candidates, group: list[Candidates]) -> IntArray:
    """Positions of the starts worth considering, best first.

    Another request j holding a shared resource blocks at most d_c + d_j - 1 starts of c, so
    among c's 1 + sum(d_c + d_j - 1) cheapest starts one is always free, and moving c there never
    costs more. ``after`` links break that argument: such requests keep every start.
    """
    ranked = c.ranked()
    if _linked_by_after(c, group):
        return ranked
    enough = 1 + sum(c.slots + o.slots - 1 for o in group if o is not c and o.request.resources & c.request.resources)
    return ranked[:enough]


def _linked_by_after(c: Candidates, group: list[Candidates]) -> bool:
    return bool(c.request.after) or any(c.id in other.request.after for other in group)


def greedy(group: list[Candidates], *, order: dict[str, IntArray] | None = None) -> Placement:
    """Each request in turn (predecessors first, fewest starts first) at its cheapest free start.

    ``order`` ranks each request's starts (positions into its ``starts``) instead of their impact.
    """
    by_id = {c.id: c for c in group}
    sorter = TopologicalSorter({c.id: [p for p in c.request.after if p in by_id] for c in group})
    sorter.prepare()
    count = len(group[0].all_costs)
    busy: dict[str, np.ndarray] = {}
    placement: Placement = {c.id: None for c in group}
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=lambda i: (len(by_id[i].starts), i))
        for request_id in ready:
            candidate = by_id[request_id]
            ranking = order[request_id] if order is not None else candidate.ranked()
            placement[request_id] = _cheapest_free(candidate, ranking, busy, placement, by_id)
            start = placement[request_id]
            if start is not None:
                for resource in candidate.request.resources:
                    busy.setdefault(resource, np.zeros(count, dtype=bool))[start : start + candidate.slots] = True
            sorter.done(request_id)
    return placement


def _cheapest_free(
    candidate: Candidates,
    ranking: IntArray,
    busy: dict[str, np.ndarray],
    placement: Placement,
    by_id: dict[str, Candidates],
) -> int | None:
    earliest = 0
    for predecessor in candidate.request.after:
        start = placement.get(predecessor)
        if start is None:
            return None
        earliest = max(earliest, start + by_id[predecessor].slots)
    taken = np.zeros(len(candidate.all_costs), dtype=bool)
    for resource in candidate.request.resources:
        if resource in busy:
            taken |= busy[resource]
    starts = candidate.starts[ranking]
    free = np.flatnonzero((starts >= earliest) & ~starts_overlapping(taken, candidate.slots)[starts])
    return int(starts[free[0]]) if len(free) else None


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
    """No schedule placing as many requests as ``placement`` costs less than this.

    Any such schedule costs at least the cheapest starts of the requests it places, so at least
    the sum of the that-many smallest cheapest starts.
    """
    placed = sum(start is not None for start in placement.values())
    cheapest = sorted(float(c.costs.min()) for c in group if len(c.costs))
    return sum(cheapest[:placed])


class _CpSatComponent:
    """The CP-SAT model of one component: variables, constraints, objective, solve, extract.

    A boolean per kept start of each request; time-indexed: at most one window holding a
    resource covers any slot, whose linear relaxation is far tighter than a no-overlap constraint.
    """

    def __init__(self, group: list[Candidates], kept: dict[str, IntArray], *, mandatory: set[str], seed: int) -> None:
        self.group = group
        self.seed = seed
        self.model = cp_model.CpModel()
        self.starts = {c.id: np.sort(c.starts[kept[c.id]]) for c in group}
        self.choices: dict[str, list[cp_model.IntVar]] = {}
        self.present: dict[str, cp_model.IntVar] = {}
        self.optional = [c.id for c in group if c.id not in mandatory]
        for c in group:
            self._add_request(c, c.id in mandatory)
        self._resources_never_overlap()
        self._after_starts_when_predecessor_ends()
        self._minimize_unplaced_then_impact()

    def _add_request(self, c: Candidates, mandatory: bool) -> None:
        # Each request starts at most once, at one of its kept starts (exactly once when it must be placed).
        choices = [self.model.new_bool_var("") for _ in self.starts[c.id]]
        self.choices[c.id] = choices
        present = self.model.new_bool_var(f"present_{c.id}")
        self.model.add(sum(choices) == present)
        if mandatory:
            self.model.add(present == 1)
        self.present[c.id] = present

    def _resources_never_overlap(self) -> None:
        # Windows that share a resource never overlap (touching end to start is fine).
        holders: dict[str, list[Candidates]] = {}
        for c in self.group:
            for resource in c.request.resources:
                holders.setdefault(resource, []).append(c)
        for sharing in holders.values():
            if len(sharing) < 2:
                continue
            slots, literals = [], []
            for c in sharing:
                indices = np.array([var.index for var in self.choices[c.id]], dtype=np.int64)
                slots.append((self.starts[c.id][:, None] + np.arange(c.slots)[None, :]).ravel())
                literals.append(np.repeat(indices, c.slots))
            covered, owners = np.concatenate(slots), np.concatenate(literals)
            order = np.argsort(covered, kind="stable")
            covered, owners = covered[order], owners[order]
            bounds = np.flatnonzero(np.diff(covered)) + 1
            for clique in np.split(owners, bounds):
                if len(clique) > 1:
                    self.model.proto.constraints.add().at_most_one.literals.extend(clique.tolist())

    def _after_starts_when_predecessor_ends(self) -> None:
        # A request starts no earlier than its predecessors end; without them it is not scheduled.
        by_id = {c.id: c for c in self.group}
        for c in self.group:
            for predecessor in c.request.after:
                if predecessor not in by_id:
                    self.model.add(self.present[c.id] == 0)
                    continue
                self.model.add_implication(self.present[c.id], self.present[predecessor])
                ends = self._start(predecessor) + by_id[predecessor].slots
                self.model.add(self._start(c.id) >= ends).only_enforce_if(self.present[c.id])

    def _start(self, request_id: str) -> cp_model.LinearExprT:
        return cp_model.LinearExpr.weighted_sum(self.choices[request_id], self.starts[request_id].tolist())

    def _minimize_unplaced_then_impact(self) -> None:
        # Most requests placed first, then least impact, then the previous version's windows kept.
        self.tie = len(self.group) + 1
        by_id = {c.id: c for c in self.group}
        largest = max((float(by_id[i].all_costs[s].max()) for i, s in self.starts.items() if len(s)), default=0.0)
        self.scale = (_PRECISION // self.tie**3) / largest if largest > 0 else 0.0
        variables: list[cp_model.IntVar] = []
        weights: list[int] = []
        biggest = 0
        for c in self.group:
            costs = np.rint(c.all_costs[self.starts[c.id]] * self.scale).astype(np.int64) * self.tie
            if c.previous is not None:
                costs += self.starts[c.id] != c.previous
            variables += self.choices[c.id]
            weights += costs.tolist()
            biggest += int(costs.max(initial=0))
        self.unplaced_penalty = biggest + 1
        objective = cp_model.LinearExpr.weighted_sum(variables, weights)
        if self.optional:
            objective += self.unplaced_penalty * (len(self.optional) - sum(self.present[i] for i in self.optional))
        self.model.minimize(objective)

    def solve(self, time_limit_s: float, hint: Placement, lower: float) -> ComponentResult:
        for c in self.group:
            for start, var in zip(self.starts[c.id].tolist(), self.choices[c.id], strict=True):
                self.model.add_hint(var, hint[c.id] == start)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1  # one worker is deterministic; components run side by side instead
        solver.parameters.random_seed = self.seed
        solver.parameters.max_time_in_seconds = max(time_limit_s, 0.001)
        solver.parameters.cp_model_probing_level = 0  # probing thousands of cliques costs more than it finds
        code = solver.solve(self.model)
        if code == cp_model.INFEASIBLE:
            return ComponentResult(hint, "infeasible", lower)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return ComponentResult(hint, "feasible", lower)
        placement: Placement = {
            c.id: next(
                (
                    s
                    for s, var in zip(self.starts[c.id].tolist(), self.choices[c.id], strict=True)
                    if solver.boolean_value(var)
                ),
                None,
            )
            for c in self.group
        }
        impact = _impact(self.group, placement)
        if code == cp_model.OPTIMAL:
            return ComponentResult(placement, "optimal", impact)
        unplaced = sum(1 for i in self.optional if placement[i] is None)
        bound = (solver.best_objective_bound - self.unplaced_penalty * unplaced) / self.tie - len(self.group)
        return ComponentResult(
            placement, "feasible", min(max(bound / self.scale if self.scale else 0.0, lower), impact)
        )
