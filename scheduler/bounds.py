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

_STEPS = 60  # measured: fewer leave CP-SAT big models, more cost more than they prune
_PATIENCE = 5  # steps without a better bound before the step size halves


@dataclass(frozen=True)
class Pricing:
    lower: float  # the best lower bound found
    reduced: dict[str, FloatArray]  # per request, the reduced cost of each kept start at the best prices
    guided: dict[str, FloatArray]  # per request, cost plus prices: what a price-aware greedy should use


def price(group: list[Candidates], kept: dict[str, IntArray], upper: float, *, steps: int = _STEPS) -> Pricing:
    """Subgradient ascent on the prices; ``kept`` are positions into each request's starts."""
    resources = sorted({r for c in group for r in c.request.resources})
    row = {r: i for i, r in enumerate(resources)}
    count = len(group[0].all_costs)
    # Every kept start of every request, side by side; ``first`` marks where each request begins.
    sizes = np.array([len(kept[c.id]) for c in group])
    first = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    owner = np.repeat(np.arange(len(group)), sizes)
    starts = np.concatenate([c.starts[kept[c.id]] for c in group])
    ends = starts + np.repeat([c.slots for c in group], sizes)
    costs = np.concatenate([c.costs[kept[c.id]] for c in group])
    holders = {
        r: np.flatnonzero(np.isin(owner, [i for i, c in enumerate(group) if r in c.request.resources]))
        for r in resources
    }

    prices = np.zeros((len(resources), count))
    best, best_total = -np.inf, costs
    theta, stalled = 1.0, 0
    for _ in range(steps):
        total = costs.copy()
        paid = np.concatenate((np.zeros((len(resources), 1)), np.cumsum(prices, axis=1)), axis=1)
        for resource, members in holders.items():
            line = paid[row[resource]]
            total[members] += line[ends[members]] - line[starts[members]]
        minima = np.minimum.reduceat(total, first)
        bound = float(minima.sum() - prices.sum())
        if bound > best:
            best, best_total, stalled = bound, total, 0
        else:
            stalled += 1
            if stalled >= _PATIENCE:
                theta, stalled = theta / 2, 0
        if upper - bound <= 1e-9 * max(abs(upper), 1.0) or theta < 1e-4:
            break
        # The slots each request's cheapest priced start covers, per resource it holds.
        chosen = first + np.array([np.argmin(total[a : a + n]) for a, n in zip(first, sizes, strict=True)])
        usage = np.zeros((len(resources), count + 1))
        for i, c in enumerate(group):
            for resource in c.request.resources:
                usage[row[resource], starts[chosen[i]]] += 1
                usage[row[resource], ends[chosen[i]]] -= 1
        gradient = np.cumsum(usage, axis=1)[:, :count] - 1.0
        gradient[(prices <= 0) & (gradient < 0)] = 0.0  # a price at zero cannot go lower
        norm = float((gradient**2).sum())
        if norm == 0:
            break
        prices = np.maximum(prices + theta * (upper - bound) / norm * gradient, 0.0)
    minima = np.minimum.reduceat(best_total, first)
    reduced = best_total - np.repeat(minima, sizes)
    return Pricing(
        lower=best,
        reduced={c.id: reduced[a : a + n] for c, a, n in zip(group, first, sizes, strict=True)},
        guided={c.id: best_total[a : a + n] for c, a, n in zip(group, first, sizes, strict=True)},
    )
