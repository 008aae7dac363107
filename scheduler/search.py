"""Large-neighbourhood search for components too big to prove optimal in the time given.

Start from a schedule (the greedy's), then again and again free the windows of a few requests
that compete in one stretch of time, keep every other window where it is, and let CP-SAT place
the freed ones again, exactly, among their starts in that stretch. A new placement is kept only
when it schedules more requests, or as many at less impact, so the search never falls below its
start. Two neighbourhoods that cannot interact (apart in time, no ``after`` between them) are
solved side by side, one per core.

The search is reproducible: neighbourhoods come from a seeded generator, each sub-solve runs on
one CP-SAT worker under a deterministic work limit, and the search stops when its work budget is
spent. The wall-clock deadline only guards against a machine far slower than usual.
"""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from scheduler.candidates import Candidates, IntArray
from scheduler.greedy import Placement
from scheduler.rules import starts_overlapping

_SUB_WORK = 0.1  # deterministic seconds a sub-solve may use
_LEAST_WORK = 0.01  # the least a sub-solve is charged, so that searching tiny components ends
_WORK_PER_VARIABLE = 1e-5  # work charged per model variable, for building the model in Python
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Neighbourhood:
    """The requests to place again, each with the starts it may take (slot indices, ascending)."""

    freed: tuple[int, ...]
    domains: tuple[IntArray, ...]
    span: tuple[int, int]  # first and last slot (exclusive) any of them may cover


@dataclass(frozen=True)
class Move:
    """A sub-solve's answer: new starts (-1: unplaced) for the freed requests, and its cost in work."""

    freed: tuple[int, ...]
    starts: tuple[int, ...]
    work: float
    proven: bool


class Search:
    """One component's schedule, improved one neighbourhood at a time."""

    def __init__(self, group: list[Candidates], placement: Placement, *, slot_minutes: int, seed: int) -> None:
        self.group = group
        self.slot_minutes = slot_minutes
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.count = len(group[0].all_costs)
        self.slots = np.array([c.slots for c in group], dtype=np.int64)
        index = {c.id: i for i, c in enumerate(group)}
        self.start = np.array([placement[c.id] if placement[c.id] is not None else -1 for c in group], dtype=np.int64)
        self.predecessors = [[index[p] for p in c.request.after if p in index] for c in group]
        self.orphan = np.array([any(p not in index for p in c.request.after) for c in group])
        self.successors: list[list[int]] = [[] for _ in group]
        for i, predecessors in enumerate(self.predecessors):
            for p in predecessors:
                self.successors[p].append(i)
        self.resources = sorted({r for c in group for r in c.request.resources})
        self.holders: dict[str, list[int]] = {r: [] for r in self.resources}
        for i, c in enumerate(group):
            for resource in c.request.resources:
                self.holders[resource].append(i)
        # owner[r][s]: the request whose window holds resource r in slot s, or -1.
        self.owner = {r: np.full(self.count, -1, dtype=np.int64) for r in self.resources}
        for i in range(len(group)):
            if self.start[i] >= 0:
                self._occupy(i, self.start[i], i)
        self.allowed = [np.zeros(self.count, dtype=bool) for _ in group]
        for mask, c in zip(self.allowed, group, strict=True):
            mask[c.starts] = True
        # Each request's few cheapest starts, and the least it could cost anywhere.
        self.cheapest = [c.starts[c.ranked()[:8]] for c in group]
        self.least = np.array([float(c.costs.min()) if len(c.costs) else 0.0 for c in group])
        self.size = 24  # requests per neighbourhood; grows while sub-solves are proven, shrinks when not
        self.moves = 0

    def _occupy(self, i: int, start: int, value: int) -> None:
        for resource in self.group[i].request.resources:
            self.owner[resource][start : start + self.slots[i]] = value

    def placement(self) -> Placement:
        """The current schedule."""
        return {c.id: (int(s) if s >= 0 else None) for c, s in zip(self.group, self.start, strict=True)}

    def run(self, *, work: float, deadline: float) -> None:
        """Improve the schedule until ``work`` units are spent (or the wall clock passes ``deadline``)."""
        spent = 0.0
        with ThreadPoolExecutor(max_workers=2) as pool:
            while spent < work and time.monotonic() < deadline:
                first = self._neighbourhood()
                second = self._neighbourhood(apart_from=first)
                hoods = [h for h in (first, second) if h is not None]
                if not hoods:
                    spent += 1e-3  # a draw that found nothing to free still counts, so the search ends
                    continue
                moves = list(pool.map(self._solve, hoods))
                for move in moves:
                    spent += move.work
                    self._apply(move)
                proven = all(move.proven for move in moves)
                self.size = min(self.size + 2, 80) if proven else max(self.size - 4, 6)

    def repair(self, pivots: list[int], *, work: float, deadline: float) -> None:
        """Search only around the given requests, in turn, until ``work`` units are spent."""
        spent = 0.0
        self.size = min(self.size, 16)  # small neighbourhoods: a re-plan must be quick
        for pivot in itertools.islice(itertools.cycle(pivots), 8 * len(pivots)):
            if spent >= work or time.monotonic() >= deadline:
                return
            hood = self._neighbourhood(pivot=pivot)
            if hood is not None:
                move = self._solve(hood)
                spent += move.work
                self._apply(move)

    def _neighbourhood(self, apart_from: Neighbourhood | None = None, pivot: int | None = None) -> Neighbourhood | None:
        """Requests competing around one request's window (``pivot``'s, or a random one's), for a random stretch."""
        if pivot is None:
            unplaced = np.flatnonzero((self.start < 0) & ~self.orphan)
            draw = self.rng.random()
            if len(unplaced) and draw < 0.5:
                pivot = int(self.rng.choice(unplaced))
            elif draw < 0.5:
                pivot = int(self.rng.integers(len(self.group)))
            else:
                pivot = self._costly()
        if self.start[pivot] >= 0 and self.rng.random() < 0.5:
            centre = int(self.start[pivot])
        elif self.start[pivot] >= 0:
            centre = int(self.rng.choice(self.cheapest[pivot]))  # towards where it would rather be
        elif len(self.group[pivot].starts) and not self.orphan[pivot]:
            centre = int(self.rng.choice(self.group[pivot].starts))
        else:
            return None
        width = int(self.rng.integers(6, 24)) * 60 // self.slot_minutes  # 6 to 24 hours
        low = max(centre - width // 2, 0)
        high = min(low + width, self.count)
        if self.start[pivot] < 0 and self.predecessors[pivot] and self.rng.random() < 0.5:
            # Waiting on predecessors that end too late: from where they may start to its last start.
            starts = self.group[pivot].starts
            firsts = [int(self.group[p].starts[0]) for p in self.predecessors[pivot] if len(self.group[p].starts)]
            low = min(firsts, default=low)
            high = int(starts[-1]) + int(self.slots[pivot])
        if apart_from is not None:
            a, b = apart_from.span
            if high > a and low < b:
                return None
        freed = self._gather(pivot, low, high)
        if apart_from is not None and (set(freed) & set(apart_from.freed) or self._linked(freed, apart_from.freed)):
            return None
        domains, first, last = [], self.count, 0
        freed_set = set(freed)
        for i in freed:
            domain = self._domain(i, low, high, freed_set)
            domains.append(domain)
            if len(domain):
                first = min(first, int(domain[0]))
                last = max(last, int(domain[-1] + self.slots[i]))
        if apart_from is not None:
            a, b = apart_from.span
            if last > a and first < b:
                return None
        return Neighbourhood(tuple(freed), tuple(domains), (first, last))

    def _costly(self) -> int:
        """A placed request drawn in proportion to what it costs above its cheapest start."""
        placed = self.start >= 0
        excess = np.zeros(len(self.group))
        for i in np.flatnonzero(placed):
            excess[i] = self.group[i].cost_at(int(self.start[i])) - self.least[i]
        total = excess.sum()
        if total <= 0:
            return int(self.rng.integers(len(self.group)))
        return int(self.rng.choice(len(self.group), p=excess / total))

    def _gather(self, pivot: int, low: int, high: int) -> list[int]:
        """The pivot, then the requests it comes after or before and those holding its resources in
        [low, high), then theirs, up to ``size``."""
        freed = [pivot]
        seen = {pivot}
        queue = [pivot]
        while queue and len(freed) < self.size:
            i = queue.pop(0)
            for j in (*self.predecessors[i], *self.successors[i]):
                if j not in seen and not self.orphan[j] and len(freed) < self.size:
                    seen.add(j)
                    freed.append(j)
                    queue.append(j)
            for resource in sorted(self.group[i].request.resources):
                owners = np.unique(self.owner[resource][low:high])
                nearby = [int(j) for j in owners if j >= 0]
                waiting = [
                    j
                    for j in self.holders[resource]
                    if self.start[j] < 0 and not self.orphan[j] and self.allowed[j][low:high].any()
                ]
                for j in nearby + waiting:
                    if j not in seen and len(freed) < self.size:
                        seen.add(j)
                        freed.append(j)
                        queue.append(j)
        return freed

    def _linked(self, freed: list[int], others: tuple[int, ...]) -> bool:
        other = set(others)
        return any(p in other for i in freed for p in (*self.predecessors[i], *self.successors[i]))

    def _domain(self, i: int, low: int, high: int, freed: set[int]) -> IntArray:
        """Starts of request i inside the stretch (and its current one) that the fixed windows leave free."""
        c = self.group[i]
        current = int(self.start[i])
        begin, end = low, high
        if current >= 0:
            begin, end = min(begin, current), max(end, current + c.slots)
        mask = self.allowed[i].copy()
        mask[:begin] = False
        mask[max(end - c.slots + 1, 0) :] = False
        for resource in c.request.resources:
            held = self.owner[resource]
            mask &= ~starts_overlapping((held >= 0) & ~np.isin(held, list(freed)), c.slots)
        for p in self.predecessors[i]:
            if p not in freed:
                if self.start[p] < 0:
                    mask[:] = False
                else:
                    mask[: self.start[p] + self.slots[p]] = False
        for q in self.successors[i]:
            if q not in freed and self.start[q] >= 0:
                mask[max(int(self.start[q]) - c.slots + 1, 0) :] = False
        if current >= 0:
            mask[current] = True  # where it is now is always possible
        return np.flatnonzero(mask).astype(np.int64)

    def _solve(self, hood: Neighbourhood) -> Move:
        """Place the freed requests again, best first: most placed, then least impact."""
        model = cp_model.CpModel()
        choices: list[list[cp_model.IntVar]] = []
        present: list[cp_model.IntVar] = []
        costs: list[np.ndarray] = []
        largest = 1.0
        for i, domain in zip(hood.freed, hood.domains, strict=True):
            variables = [model.new_bool_var("") for _ in range(len(domain))]
            choices.append(variables)
            flag = model.new_bool_var("")
            model.add(sum(variables) == flag)
            if self.start[i] >= 0:
                model.add(flag == 1)  # a placed request stays placed
            present.append(flag)
            cost = self.group[i].all_costs[domain]
            costs.append(cost)
            if len(cost):
                largest = max(largest, float(cost.max()))
            if self.start[i] >= 0:
                model.add_hint(variables[int(np.searchsorted(domain, self.start[i]))], 1)
        position = {i: k for k, i in enumerate(hood.freed)}
        # Windows that share a resource never overlap.
        for resource in sorted({r for i in hood.freed for r in self.group[i].request.resources}):
            covered, owners = [], []
            for k, i in enumerate(hood.freed):
                if resource in self.group[i].request.resources and len(hood.domains[k]):
                    slots = (hood.domains[k][:, None] + np.arange(self.slots[i])[None, :]).ravel()
                    covered.append(slots)
                    owners.append(np.repeat([v.index for v in choices[k]], self.slots[i]))
            if len(covered) < 2:
                continue
            slot_of, literal = np.concatenate(covered), np.concatenate(owners)
            order = np.argsort(slot_of, kind="stable")
            slot_of, literal = slot_of[order], literal[order]
            for clique in np.split(literal, np.flatnonzero(np.diff(slot_of)) + 1):
                if len(clique) > 1:
                    model.proto.constraints.add().at_most_one.literals.extend(clique.tolist())
        # A request starts no earlier than its predecessors end; without them it is not scheduled.
        for k, i in enumerate(hood.freed):
            for p in self.predecessors[i]:
                if p in position:
                    j = position[p]
                    model.add_implication(present[k], present[j])
                    begins = cp_model.LinearExpr.weighted_sum(choices[k], hood.domains[k].tolist())
                    ends = cp_model.LinearExpr.weighted_sum(choices[j], (hood.domains[j] + self.slots[p]).tolist())
                    model.add(begins >= ends).only_enforce_if(present[k])
        # Most requests placed first, then least impact.
        scale = 1e6 / largest
        terms = [
            cp_model.LinearExpr.weighted_sum(variables, np.rint(cost * scale).astype(np.int64).tolist())
            for variables, cost in zip(choices, costs, strict=True)
            if len(variables)
        ]
        reward = int(1e6) * len(hood.freed) + 1
        model.minimize(sum(terms) - reward * sum(present))
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = self.seed + self.moves
        solver.parameters.max_deterministic_time = _SUB_WORK
        # Measured on congested weeks: the LP of the slot cliques from the start proves small
        # neighbourhoods several times faster, and presolve costs more than it saves on them.
        solver.parameters.linearization_level = 2
        solver.parameters.add_lp_constraints_lazily = False
        solver.parameters.cp_model_presolve = False
        solver.parameters.max_time_in_seconds = 10.0  # a guard only; the deterministic limit is what stops it
        code = solver.solve(model)
        work = max(solver.deterministic_time, _LEAST_WORK) + _WORK_PER_VARIABLE * sum(len(d) for d in hood.domains)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return Move(hood.freed, tuple(int(self.start[i]) for i in hood.freed), work, False)
        starts = tuple(
            next((int(s) for s, v in zip(domain, variables, strict=True) if solver.boolean_value(v)), -1)
            for domain, variables in zip(hood.domains, choices, strict=True)
        )
        return Move(hood.freed, starts, work, code == cp_model.OPTIMAL)

    def _apply(self, move: Move) -> None:
        """Keep a move that places more requests, or as many at less impact."""
        self.moves += 1
        before = [int(self.start[i]) for i in move.freed]
        placed_before = sum(s >= 0 for s in before)
        placed_after = sum(s >= 0 for s in move.starts)
        cost_before = sum(self.group[i].cost_at(s) for i, s in zip(move.freed, before, strict=True) if s >= 0)
        cost_after = sum(self.group[i].cost_at(s) for i, s in zip(move.freed, move.starts, strict=True) if s >= 0)
        better = placed_after > placed_before or (
            placed_after == placed_before and cost_after < cost_before - _TOLERANCE * max(abs(cost_before), 1.0)
        )
        if not better:
            return
        for i, s in zip(move.freed, before, strict=True):
            if s >= 0:
                self._occupy(i, s, -1)
        for i, s in zip(move.freed, move.starts, strict=True):
            self.start[i] = s
            if s >= 0:
                self._occupy(i, s, i)
