"""A Lagrangian lower bound for a component, and the starts it proves useless.

Relax "at most one window holding resource r covers slot s" with a price lambda[r, s] >= 0. Then
each request independently takes its cheapest start at cost + the prices its window pays, and

    LB(lambda) = sum over requests of min_t (cost(t) + prices(t)) - sum of all prices

is a lower bound on every schedule that places them all. The gap between a start's priced cost and
its request's priced minimum (its reduced cost) is what choosing it adds to that bound, so a start
whose reduced cost exceeds ``upper - LB`` is in no schedule costing ``upper`` or less. Prices come
from a few dozen subgradient steps; any prices give a valid bound, good ones a tight one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.candidates import Candidates, IntArray
from scheduler.impact import FloatArray

_STEPS = 80


@dataclass(frozen=True)
class Pricing:
    lower: float  # the best lower bound found
    reduced: dict[str, FloatArray]  # per request, the reduced cost of each kept start at the best prices
    guided: dict[str, FloatArray]  # per request, cost plus prices: what a price-aware greedy should use


def price(group: list[Candidates], kept: dict[str, IntArray], upper: float) -> Pricing:
    """Subgradient ascent on the prices; ``kept`` are positions into each request's starts."""
    resources = sorted({r for c in group for r in c.request.resources})
    index = {r: i for i, r in enumerate(resources)}
    count = len(group[0].all_costs)
    prices = np.zeros((len(resources), count))
    starts = {c.id: c.starts[kept[c.id]] for c in group}
    costs = {c.id: c.costs[kept[c.id]] for c in group}
    best = -np.inf
    best_reduced: dict[str, FloatArray] = {}
    best_guided: dict[str, FloatArray] = {}
    theta = 1.0
    stalled = 0
    for _ in range(_STEPS):
        bound = -float(prices.sum())
        usage = np.zeros_like(prices)
        reduced: dict[str, FloatArray] = {}
        guided: dict[str, FloatArray] = {}
        for c in group:
            rows = [index[r] for r in c.request.resources]
            line = prices[rows].sum(axis=0)
            cumulative = np.concatenate(([0.0], np.cumsum(line)))
            paid = cumulative[starts[c.id] + c.slots] - cumulative[starts[c.id]]
            total = costs[c.id] + paid
            choice = int(np.argmin(total))
            bound += float(total[choice])
            reduced[c.id] = total - total[choice]
            guided[c.id] = total
            start = int(starts[c.id][choice])
            usage[rows, start : start + c.slots] += 1
        if bound > best:
            best, best_reduced, best_guided, stalled = bound, reduced, guided, 0
        else:
            stalled += 1
            if stalled >= 5:
                theta, stalled = theta / 2, 0
        gradient = usage - 1.0
        gradient[(prices <= 0) & (gradient < 0)] = 0.0  # a price at zero cannot go lower
        norm = float((gradient**2).sum())
        if norm == 0 or upper - bound <= 1e-12 * max(abs(upper), 1.0):
            break
        prices = np.maximum(prices + theta * (upper - bound) / norm * gradient, 0.0)
    return Pricing(lower=best, reduced=best_reduced, guided=best_guided)
