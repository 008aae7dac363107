"""Place the requests of one component: most requests placed, then least impact (docs/format.md section 5).

A component is a group of requests linked by shared resources or ``after``. One request alone is
placed at its cheapest start; a group whose cheapest starts already fit together is done. A group
small enough goes to CP-SAT whole, after pruning starts that provably cannot matter, and comes
back proven optimal unless time runs out. A bigger one is improved by the large-neighbourhood
search of ``scheduler.search``. Either way the result never places fewer requests than the
most-constrained-first greedy, which is also where the search starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from scheduler.bounds import price
from scheduler.candidates import Candidates, IntArray
from scheduler.domain import Status
from scheduler.greedy import Placement, most_constrained_first, placed_count
from scheduler.rules import before_end, clashes
from scheduler.search import Search

_PRECISION = 2**52
_TOLERANCE = 1e-9  # relative: float sums of impacts differ in their last digits
EXACT_LIMIT = 20_000  # kept starts above which a component is searched, not proven, as a whole
WORK_PER_SECOND = 0.5  # search work (CP-SAT deterministic seconds) a second of wall time buys on 2 cores
BOUND_SHARE = 0.1  # of a searched component's budget, spent on its lower bound
PRICE_SECONDS_PER_START = 1e-7  # one pricing step, per start (measured: 2.5 s for 60 steps of 414,000)
REPAIR_WORK = 0.1  # search work a re-plan spends around what it had to place again (well under 1 s)


@dataclass(frozen=True)
class Budget:
    """What one component may spend: a wall-clock deadline (``time.monotonic``) and search work.

    ``work`` is in CP-SAT's deterministic seconds; it is what makes a search reproducible.
    """

    deadline: float
    work: float

    def seconds_left(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)


@dataclass(frozen=True)
class ComponentResult:
    placement: Placement
    status: Status  # "infeasible": no placement within the kept starts (a narrowed model only)
    bound: float  # a lower bound on the impact of any schedule that places as many requests
    offsets: dict[str, int] = field(default_factory=dict)  # same-time request -> the offset it chose


def place(group: list[Candidates], *, budget: Budget, slot_minutes: int, seed: int = 0) -> ComponentResult:
    """The best placement of one component, proven optimal unless the budget cut it short."""
    if len(group) == 1:
        only = group[0]
        best = only.best()
        return ComponentResult({only.id: best}, "optimal", only.cost_at(best) if best is not None else 0.0)
    own_best = {c.id: c.best() for c in group}
    if all(start is not None for start in own_best.values()) and _fits(group, own_best):
        return ComponentResult(own_best, "optimal", _impact(group, own_best))
    first = most_constrained_first(group)
    kept = _worth_considering(group)
    if sum(map(len, kept.values())) > EXACT_LIMIT:
        return _search(group, first, budget=budget, slot_minutes=slot_minutes, seed=seed)
    lower = _relaxed_bound(group, first)
    if placed_count(first) < len(group):
        result = _CpSatComponent(group, kept, mandatory=set(), seed=seed).solve(budget.seconds_left(), first, lower)
    else:
        result = _place_all(group, first, kept, lower, seconds=budget.seconds_left(), seed=seed)
    if placed_count(result.placement) < placed_count(first):  # the time limit cut CP-SAT short of the greedy
        return ComponentResult(first, "feasible", lower)
    return result


def _search(
    group: list[Candidates], first: Placement, *, budget: Budget, slot_minutes: int, seed: int
) -> ComponentResult:
    """A big component: from the greedy (or the previous windows), a large-neighbourhood search.

    A re-plan keeps the previous windows that still fit and searches only around the windows it
    had to place again, so a change moves little; a first plan searches until its budget is spent,
    less what its lower bound will take.
    """
    kept = _previous_windows(group)
    repaired = most_constrained_first(group, kept=kept) if kept else None
    steps = _pricing_steps(group, budget)
    if repaired is not None and placed_count(repaired) >= placed_count(first):
        search = Search(group, repaired, slot_minutes=slot_minutes, seed=seed)
        # The windows that had to move first, then the requests still without one.
        moved = [i for i, c in enumerate(group) if c.id not in kept and repaired[c.id] is not None]
        waiting = [i for i, c in enumerate(group) if repaired[c.id] is None]
        search.repair(moved + waiting, work=min(REPAIR_WORK, budget.work), deadline=budget.deadline)
        steps = 0  # a re-plan has no time for a bound worth its cost
    else:
        search = Search(group, first, slot_minutes=slot_minutes, seed=seed)
        pricing_s = steps * sum(len(c.starts) for c in group) * PRICE_SECONDS_PER_START
        search.run(work=budget.work * (1 - BOUND_SHARE), deadline=budget.deadline - pricing_s)
    placement = search.placement()
    lower = _relaxed_bound(group, placement)
    if steps and placed_count(placement) == len(group):
        every = {c.id: np.arange(len(c.starts)) for c in group}
        lower = max(lower, price(group, every, _impact(group, first), steps=steps).lower)
    return ComponentResult(placement, "feasible", min(lower, _impact(group, placement)))


def _pricing_steps(group: list[Candidates], budget: Budget) -> int:
    """How many steps of Lagrangian pricing a searched component's lower bound gets.

    A fixed share of the work, counted in steps, so that the bound is as reproducible as the search.
    """
    seconds = BOUND_SHARE * budget.work / WORK_PER_SECOND
    return min(int(seconds / (sum(len(c.starts) for c in group) * PRICE_SECONDS_PER_START)), 60)


def _previous_windows(group: list[Candidates]) -> Placement:
    """The previous version's windows that are still allowed, fit together and follow their predecessors."""
    by_id = {c.id: c for c in group}
    kept = {c.id: c.previous for c in group if c.previous is not None}
    changed = True
    while changed:
        changed = False
        for request_id, start in list(kept.items()):
            if any(p not in kept or start < kept[p] + by_id[p].slots for p in by_id[request_id].request.after):
                del kept[request_id]
                changed = True
    windows: Placement = dict(kept)
    return windows if _fits([by_id[i] for i in kept], windows) else {}


def _place_all(
    group: list[Candidates], first: Placement, kept: dict[str, IntArray], lower: float, *, seconds: float, seed: int
) -> ComponentResult:
    """Optimal placement when every request fits (the greedy schedule placed them all).

    Lagrangian prices give a lower bound and the starts no schedule cheaper than the best known
    one can use; CP-SAT then proves the optimum among the few starts left.
    """
    best, upper = first, _impact(group, first)
    pricing = price(group, kept, upper)
    guided_order = {c.id: kept[c.id][np.argsort(pricing.guided[c.id], kind="stable")] for c in group}
    guided = most_constrained_first(group, order=guided_order)
    if placed_count(guided) == len(group) and _impact(group, guided) < upper:
        best, upper = guided, _impact(group, guided)
    lower = max(lower, pricing.lower)
    slack = upper - lower + _TOLERANCE * max(abs(upper), 1.0)
    keeps_previous = all(c.previous is None or best[c.id] == c.previous for c in group)
    if upper - lower <= _TOLERANCE * max(abs(upper), 1.0) and keeps_previous:
        return ComponentResult(best, "optimal", upper)
    # Otherwise CP-SAT decides, among the starts that can still be optimal (ties included).
    useful = {c.id: kept[c.id][pricing.reduced[c.id] <= slack] for c in group}
    model = _CpSatComponent(group, useful, mandatory={c.id for c in group}, seed=seed)
    result = model.solve(seconds, best, lower)
    if result.status == "infeasible":  # cannot happen in exact arithmetic: the best schedule is among the starts kept
        return ComponentResult(best, "feasible", lower)
    return result


def _worth_considering(group: list[Candidates]) -> dict[str, IntArray]:
    """Per request, the positions of the starts worth considering, best first.

    Another request j holding a shared resource blocks at most d_c + d_j - 1 starts of c, so
    among c's 1 + sum(d_c + d_j - 1) cheapest starts one is always free, and moving c there never
    costs more. ``after`` links break that argument: such requests keep every start.
    """
    holders: dict[str, list[Candidates]] = {}
    for c in group:
        for resource in c.request.resources:
            holders.setdefault(resource, []).append(c)
    linked = {p for c in group for p in c.request.after} | {c.id for c in group if c.request.after}
    kept: dict[str, IntArray] = {}
    for c in group:
        ranked = c.ranked()
        if c.id in linked:
            kept[c.id] = ranked
            continue
        sharing = {o.id: o for r in c.request.resources for o in holders[r] if o is not c}
        kept[c.id] = ranked[: 1 + sum(c.slots + o.slots - 1 for o in sharing.values())]
    return kept


def _fits(group: list[Candidates], placement: Placement) -> bool:
    """Whether a placement keeps every resource and ``after`` rule of the group."""
    by_id = {c.id: c for c in group}
    held: dict[str, list[tuple[int, int]]] = {}  # resource -> (start, slots) of the windows holding it
    for c in group:
        start = placement[c.id]
        if start is None:
            continue
        for predecessor in c.request.after:
            before = placement.get(predecessor)
            if before is None or before_end(start, before, by_id[predecessor].slots):
                return False
        for resource in c.request.resources:
            held.setdefault(resource, []).append((start, c.slots))
    for windows in held.values():
        # Sorted by start, a window can only clash with the one before it.
        starts, lengths = np.array(sorted(windows), dtype=np.int64).reshape(-1, 2).T
        if clashes(starts[1:], lengths[1:], starts[:-1], lengths[:-1]).any():
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
