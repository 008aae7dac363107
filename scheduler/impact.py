"""The impact of a window in user-minutes (docs/format.md section 4), for every start at once."""

from __future__ import annotations

import copy
from collections import defaultdict
from datetime import datetime

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from scheduler.domain import Problem, Request
from scheduler.timeline import SlotGrid

FloatArray = NDArray[np.float64]


class ImpactModel:
    """Per-slot harm of each region and service on a slot grid (the horizon's, by default)."""

    def __init__(self, problem: Problem, grid: SlotGrid | None = None) -> None:
        self.problem = problem
        self.grid = grid or problem.grid
        self.region_index = {region.id: i for i, region in enumerate(problem.regions)}
        self.service_index = {service: k for k, service in enumerate(problem.services)}
        count = self.grid.count
        active = np.empty((len(problem.regions), count))
        for i, region in enumerate(problem.regions):
            hours, weekdays = self.grid.local_hours(region.timezone)
            active[i] = region.users * region.profile.activity(hours, weekdays)
        shares = np.array([[region.shares[service] for service in problem.services] for region in problem.regions])
        # harm[r, k, s] = users_r * a_r(s) * share_{r,k} * M_{r,k}(s)
        self.harm = active[:, None, :] * shares[:, :, None] * self._event_multipliers()
        self._by_scope: dict[tuple[frozenset[str], frozenset[str]], FloatArray] = {}
        self._by_services: dict[frozenset[str], FloatArray] = {}

    def _event_multipliers(self) -> FloatArray:
        """M_{r,k}(s): the product of the weights of the non-blackout events covering r, k and s."""
        problem = self.problem
        multipliers = np.ones((len(problem.regions), len(problem.services), self.grid.count))
        for event in problem.events:
            if event.blackout or event.weight is None:
                continue
            # An event weighs a slot once, however many of its periods cover it.
            covered = np.zeros((len(problem.regions), self.grid.count), dtype=bool)
            for period in event.periods:
                slots = self.grid.slots_starting_in(period.start, period.end)
                regions = np.array([self.region_index[r] for r in sorted(period.regions)], dtype=np.int64)
                covered[np.ix_(regions, np.arange(slots.start, slots.stop))] = True
            services = [self.service_index[k] for k in sorted(event.services)]
            multipliers[:, services, :] *= np.where(covered, event.weight, 1.0)[:, None, :]
        return multipliers

    def for_problem(self, problem: Problem) -> ImpactModel:
        """This model for a problem with the same grid, regions, services and events.

        Only requests and objections may differ; the per-scope harm computed so far is shared.
        """
        model = copy.copy(self)
        model.problem = problem
        return model

    def slot_harm(self, request: Request, first: int = 0, stop: int | None = None) -> FloatArray:
        """Harm of each of the request's regions in slots ``first..stop``, before severity.

        Shape (regions, slots); rows follow ``sorted(request.regions)``.
        """
        regions = [self.region_index[r] for r in sorted(request.regions)]
        harm: FloatArray = self._over_services(request.services)[regions, first:stop]
        factors = self._objection_factors(request)
        return harm if factors is None else harm * factors[:, first:stop]

    def _over_services(self, services: frozenset[str]) -> FloatArray:
        """Harm of every region in every slot, summed over ``services``: shape (regions, slots)."""
        summed = self._by_services.get(services)
        if summed is None:
            summed = self.harm[:, [self.service_index[k] for k in sorted(services)], :].sum(axis=1)
            summed.flags.writeable = False
            self._by_services[services] = summed
        return summed

    def _slot_total(self, request: Request) -> FloatArray:
        """Harm of all the request's regions in each slot; shared by requests of the same scope."""
        if any(o.kind == "soft" for o in self.problem.objections_on(request.id)):
            objected: FloatArray = self.slot_harm(request).sum(axis=0)
            return objected
        key = (request.regions, request.services)
        total = self._by_scope.get(key)
        if total is None:
            total = self.slot_harm(request).sum(axis=0)
            total.flags.writeable = False
            self._by_scope[key] = total
        return total

    def _objection_factors(self, request: Request) -> FloatArray | None:
        """O_{q,r}(s): per stakeholder, the largest weight of their soft objections covering s."""
        soft = [o for o in self.problem.objections_on(request.id) if o.kind == "soft"]
        if not soft:
            return None
        largest: dict[str, FloatArray] = defaultdict(lambda: np.full(self.grid.count, -np.inf))
        for objection in soft:
            weights = largest[objection.by]
            for span in objection.avoid:
                slots = self.grid.slots_starting_in(span.start, span.end)
                weights[slots.start : slots.stop] = np.maximum(weights[slots.start : slots.stop], objection.weight)
        for weights in largest.values():
            weights[np.isneginf(weights)] = 1.0  # no objection of theirs covers the slot
        regions = sorted(request.regions)
        factors = np.ones((len(regions), self.grid.count))
        stakeholders = self.problem.stakeholder_by_id
        for by, weights in largest.items():
            stakeholder = stakeholders.get(by)
            everywhere = stakeholder is None or stakeholder.role == "approver"
            for row, region in enumerate(regions):
                if everywhere or region in stakeholder.regions:  # type: ignore[union-attr]
                    factors[row] *= weights
        return factors

    def window_costs(self, request: Request, slots: int) -> FloatArray:
        """Impact of the request at every start 0..count-1; ``inf`` where it overruns the grid."""
        per_slot = self._slot_total(request)
        costs = np.full(self.grid.count, np.inf)
        if slots <= self.grid.count:
            # Each window sums its own slots in the same order, so equal windows cost exactly the same.
            sums = sliding_window_view(per_slot, slots).sum(axis=1)
            costs[: len(sums)] = sums * (request.severity * self.grid.slot_minutes)
        return costs

    def impact_by_region(self, request: Request, start: int, slots: int) -> dict[str, float]:
        """Impact of the window at slot ``start`` in each of the request's regions."""
        window = self.slot_harm(request, start, start + slots).sum(axis=1)
        scale = request.severity * self.grid.slot_minutes
        return {region: float(value * scale) for region, value in zip(sorted(request.regions), window, strict=True)}


def impact_at(problem: Problem, request: Request, start: datetime) -> dict[str, float]:
    """Impact by region of the request's window at any ``start``, whatever the constraints."""
    slots = problem.grid.slots_for(request.duration)
    grid = SlotGrid(start=start, slot_minutes=problem.grid.slot_minutes, count=slots)
    return ImpactModel(problem, grid).impact_by_region(request, 0, slots)
