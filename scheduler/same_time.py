"""Place a component that holds same-time repeated requests: one offset per request, all at once.

Each same-time request chooses one offset into its periods; at that offset every occurrence its
own rules allow there is placed and the others are unscheduled (``repeat:ID``). Every other
request of the component chooses one start, as everywhere. The CP-SAT model has one boolean per
allowed offset (or start), not per occurrence start: an offset's literal holds every slot its
occurrences cover, so the time-indexed rule "at most one window holding a resource covers any
slot" stays as small as the request's week, not its year. The greedy comes first: it is the
floor the model must reach, and its warm start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from scheduler.candidates import Candidates, IntArray
from scheduler.domain import Series, Status
from scheduler.greedy import Placement
from scheduler.optimizer import Budget, ComponentResult
from scheduler.rules import clashes

_PRECISION = 2**52
BoolArray = np.ndarray


@dataclass(frozen=True)
class Unit:
    """What chooses one option: a same-time request's moving occurrences, or one request.

    ``starts[m, o]`` is member m's start at option o and ``placed[m, o]`` whether it is placed there.
    """

    series: str | None  # the same-time request's id; None for a request that chooses its own start
    members: tuple[Candidates, ...]
    offsets: IntArray  # for a series, the offset (column of ``Series.starts``) of each option
    starts: IntArray
    placed: BoolArray

    @property
    def count(self) -> IntArray:
        return np.asarray(self.placed.sum(axis=0), dtype=np.int64)

    def costs(self) -> np.ndarray:
        """The impact of each option: the sum over the occurrences it places."""
        total = np.zeros(self.starts.shape[1])
        for m, c in enumerate(self.members):
            total += np.where(self.placed[m], c.all_costs[np.clip(self.starts[m], 0, len(c.all_costs) - 1)], 0.0)
        return total

    def moved(self) -> IntArray:
        """How many placed members of each option are not where the previous version had them."""
        moved = np.zeros(self.starts.shape[1], dtype=np.int64)
        for m, c in enumerate(self.members):
            moved += self.placed[m] & (self.starts[m] != (c.previous if c.previous is not None else -1))
        return moved


def units_of(group: list[Candidates], ties: dict[str, Series]) -> list[Unit]:
    """The component's units: one per same-time request with occurrences that can move, one per other request."""
    by_id = {c.id: c for c in group}
    # Windows that cannot move (started, announced, pinned) take their slots from the occurrences
    # sharing a resource with them, occurrence by occurrence, instead of ruling out whole offsets.
    fixed = [(c, int(c.starts[0])) for c in group if c.fixed and len(c.starts)]
    units: list[Unit] = []
    tied: set[str] = set()
    for series_id, series in ties.items():
        rows = [k for k, o in enumerate(series.occurrences) if o.id in by_id and not by_id[o.id].fixed]
        if not rows:
            continue
        members = tuple(by_id[series.occurrences[k].id] for k in rows)
        tied.update(c.id for c in members)
        offsets = np.flatnonzero(series.exists.all(axis=0))  # an offset that does not exist in some period is out
        starts = series.starts[np.ix_(np.array(rows, dtype=np.int64), offsets)]
        placed = np.zeros(starts.shape, dtype=bool)
        for m, c in enumerate(members):
            allowed = np.zeros(len(c.all_costs), dtype=bool)
            allowed[c.starts] = True
            inside = (starts[m] >= 0) & (starts[m] < len(allowed))
            placed[m, inside] = allowed[starts[m, inside]]
            for other, held in fixed:
                if other.request.resources & c.request.resources:
                    placed[m] &= ~clashes(starts[m], c.slots, held, other.slots)
        useful = placed.any(axis=0)
        units.append(Unit(series_id, members, offsets[useful], starts[:, useful], placed[:, useful]))
    for c in group:
        if c.id not in tied:
            units.append(Unit(None, (c,), c.starts, c.starts[None, :], np.ones((1, len(c.starts)), dtype=bool)))
    return units


def place_same_time(
    group: list[Candidates], ties: dict[str, Series], *, budget: Budget, seed: int = 0
) -> ComponentResult:
    """The best placement of a component with same-time requests, with the offset each chose."""
    units = units_of(group, ties)
    first = _greedy(units)
    model = _Model(units, seed=seed)
    solved = model.solve(budget.seconds_left(), first)
    status: Status
    chosen, status = (first, "feasible") if solved is None or _worse(units, solved[0], first) else solved
    placement = _placement(units, chosen)
    impact = _impact(units, chosen)
    bound = impact if status == "optimal" else min(model.bound, impact)
    offsets = {u.series: int(u.offsets[o]) for u, o in zip(units, chosen, strict=True) if u.series and o is not None}
    return ComponentResult(placement, status, bound, offsets)


Choice = list[int | None]  # per unit, the option chosen (a column), or None


def _placement(units: list[Unit], chosen: Choice) -> Placement:
    placement: Placement = {}
    for unit, option in zip(units, chosen, strict=True):
        for m, c in enumerate(unit.members):
            placed = option is not None and unit.placed[m, option]
            placement[c.id] = int(unit.starts[m, option]) if placed and option is not None else None
    return placement


def _impact(units: list[Unit], chosen: Choice) -> float:
    return sum(float(u.costs()[o]) for u, o in zip(units, chosen, strict=True) if o is not None)


def _count(units: list[Unit], chosen: Choice) -> int:
    return sum(int(u.count[o]) for u, o in zip(units, chosen, strict=True) if o is not None)


def _worse(units: list[Unit], candidate: Choice, floor: Choice) -> bool:
    placed, least = _count(units, candidate), _count(units, floor)
    return placed < least or (placed == least and _impact(units, candidate) > _impact(units, floor) * (1 + 1e-9))


def _order(units: list[Unit]) -> list[int]:
    """Units so that predecessors come first; otherwise the fewest options first."""
    owner = {c.id: i for i, u in enumerate(units) for c in u.members}
    waits = {i: {owner[p] for c in u.members for p in c.request.after if p in owner} - {i} for i, u in enumerate(units)}
    order: list[int] = []
    left = set(range(len(units)))
    while left:
        ready = [i for i in left if not waits[i] & left] or sorted(left)
        best = min(ready, key=lambda i: (units[i].starts.shape[1], i))
        order.append(best)
        left.discard(best)
    return order


def _greedy(units: list[Unit]) -> Choice:
    """Most-constrained first: each unit at its best option that fits what is placed."""
    count = len(units[0].members[0].all_costs)
    held: dict[str, np.ndarray] = {}  # resource -> slots taken
    ends: dict[str, int | None] = {}  # placed request -> its end slot (None: unscheduled)
    chosen: Choice = [None] * len(units)
    for i in _order(units):
        unit = units[i]
        ok = np.ones(unit.starts.shape[1], dtype=bool)
        for m, c in enumerate(unit.members):
            start, placed = unit.starts[m], unit.placed[m]
            safe = np.clip(start, 0, count)
            for resource in c.request.resources:
                taken = np.concatenate(([0], np.cumsum(held.setdefault(resource, np.zeros(count, dtype=bool)))))
                busy = taken[np.clip(safe + c.slots, 0, count)] - taken[safe] > 0
                ok &= ~placed | ~busy
            for predecessor in c.request.after:
                end = ends.get(predecessor)
                ok &= ~placed | ((end is not None) & (start >= (end if end is not None else 0)))
        costs = unit.costs()
        options = np.flatnonzero(ok & (unit.count > 0))
        if not len(options):
            for c in unit.members:
                ends[c.id] = None
            continue
        keys = (unit.starts[0, options], unit.moved()[options], costs[options], -unit.count[options])
        option = int(options[np.lexsort(keys)[0]])
        chosen[i] = option
        for m, c in enumerate(unit.members):
            if not unit.placed[m, option]:
                ends[c.id] = None
                continue
            start = int(unit.starts[m, option])
            ends[c.id] = start + c.slots
            for resource in c.request.resources:
                held[resource][start : start + c.slots] = True
    return chosen


class _Model:
    """The CP-SAT model: a boolean per option of each unit, at most one true."""

    def __init__(self, units: list[Unit], *, seed: int) -> None:
        self.units = units
        self.seed = seed
        self.model = cp_model.CpModel()
        self.options = [[self.model.new_bool_var("") for _ in range(u.starts.shape[1])] for u in units]
        for literals in self.options:
            self.model.add_at_most_one(literals)
        self.bound = 0.0
        self._resources_never_overlap()
        self._after_starts_when_predecessor_ends()
        self._most_placed_then_least_impact()

    def _resources_never_overlap(self) -> None:
        # At most one window holding a resource covers any slot; identical cliques (every week alike) once.
        covered: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for u, literals in zip(self.units, self.options, strict=True):
            indices = np.array([v.index for v in literals], dtype=np.int64)
            for m, c in enumerate(u.members):
                columns = np.flatnonzero(u.placed[m])
                slots = (u.starts[m, columns][:, None] + np.arange(c.slots)[None, :]).ravel()
                owners = np.repeat(indices[columns], c.slots)
                for resource in c.request.resources:
                    covered.setdefault(resource, []).append((slots, owners))
        for pieces in covered.values():
            slots = np.concatenate([s for s, _ in pieces])
            owners = np.concatenate([o for _, o in pieces])
            order = np.lexsort((owners, slots))
            slots, owners = slots[order], owners[order]
            seen: set[tuple[int, ...]] = set()
            for clique in np.split(owners, np.flatnonzero(np.diff(slots)) + 1):
                members = tuple(dict.fromkeys(clique.tolist()))
                if len(members) > 1 and members not in seen:
                    seen.add(members)
                    self.model.proto.constraints.add().at_most_one.literals.extend(members)

    def _presence_and_start(self, unit: int, member: int) -> tuple[cp_model.IntVar, cp_model.LinearExprT]:
        u, literals = self.units[unit], self.options[unit]
        columns = np.flatnonzero(u.placed[member])
        present = self.model.new_bool_var("")
        self.model.add(sum(literals[o] for o in columns) == present)
        start = cp_model.LinearExpr.weighted_sum([literals[o] for o in columns], u.starts[member, columns].tolist())
        return present, start

    def _after_starts_when_predecessor_ends(self) -> None:
        # An occurrence (or request) starts no earlier than its predecessors end, and only if they are placed.
        where = {c.id: (i, m) for i, u in enumerate(self.units) for m, c in enumerate(u.members)}
        for i, u in enumerate(self.units):
            for m, c in enumerate(u.members):
                if not c.request.after:
                    continue
                present, start = self._presence_and_start(i, m)
                for predecessor in c.request.after:
                    if predecessor not in where:
                        self.model.add(present == 0)
                        continue
                    j, n = where[predecessor]
                    before, before_start = self._presence_and_start(j, n)
                    self.model.add_implication(present, before)
                    slots = self.units[j].members[n].slots
                    self.model.add(start >= before_start + slots).only_enforce_if(present)

    def _most_placed_then_least_impact(self) -> None:
        # Most occurrences placed, then least impact, then the previous version's windows kept.
        members = sum(len(u.members) for u in self.units)
        self.tie = members + 1
        costs = [u.costs() for u in self.units]
        largest = max((float(c.max()) for c in costs if len(c)), default=0.0)
        self.scale = (_PRECISION // (self.tie**2 * (len(self.units) + 1))) / largest if largest > 0 else 0.0
        weights: list[int] = []
        variables: list[cp_model.IntVar] = []
        biggest = 0
        for u, cost, literals in zip(self.units, costs, self.options, strict=True):
            scaled = np.rint(cost * self.scale).astype(np.int64) * self.tie + u.moved()
            weights += scaled.tolist()
            variables += literals
            biggest += int(scaled.max(initial=0))
        self.penalty = biggest + 1
        self.members = members
        counts = [int(n) for u in self.units for n in u.count]
        placed = cp_model.LinearExpr.weighted_sum(variables, counts)
        self.model.minimize(cp_model.LinearExpr.weighted_sum(variables, weights) + self.penalty * (members - placed))

    def solve(self, seconds: float, hint: Choice) -> tuple[Choice, Status] | None:
        for literals, option in zip(self.options, hint, strict=True):
            for o, var in enumerate(literals):
                self.model.add_hint(var, o == option)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = self.seed
        # Probing finds little in at-most-one cliques and takes most of a warm-started re-plan's time.
        solver.parameters.cp_model_probing_level = 0
        solver.parameters.max_time_in_seconds = max(seconds, 0.001)
        code = solver.solve(self.model)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        chosen: Choice = [
            next((o for o, var in enumerate(literals) if solver.boolean_value(var)), None) for literals in self.options
        ]
        if code == cp_model.FEASIBLE and self.scale:
            placed = _count(self.units, chosen)
            bound = solver.best_objective_bound - self.penalty * (self.members - placed)
            self.bound = max(bound / self.tie - self.members, 0.0) / self.scale
        return chosen, "optimal" if code == cp_model.OPTIMAL else "feasible"
