"""What the schedule looks like: regions × time, each cell how much is at stake, nights marked,
with the windows, events and vetoes of one version laid over it.

The review page and ``negotiator plot`` both draw this, with the same colour scale
(``Heatmap.scale``); neither computes anything of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from scheduler.domain import Problem, Version
from scheduler.impact import ImpactModel
from scheduler.timeline import SlotGrid

# Local hours drawn as night: from 22:00 to 06:00.
NIGHT_FROM, NIGHT_UNTIL = 22, 6
# At most this many columns: a week at hourly resolution.
MAX_COLUMNS = 168
# The colours of what is at stake, from quiet to busy (matplotlib's YlOrRd, sampled).
RAMP = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8c3c", "#fc4d2a", "#e2191c", "#bb0026", "#800026")
# The scale spans at most this factor (quieter cells take its lightest colour) and at least the
# smaller one (a flat profile sits mid-scale, not at its darkest end).
WIDEST, NARROWEST = 1e4, 10.0
SpanKind = Literal["window", "event", "blackout", "veto", "soft"]


@dataclass(frozen=True)
class Span:
    """Something drawn over the heatmap: a window, an event, a vetoed range or one a soft objection
    asks to avoid, in some regions."""

    kind: SpanKind
    label: str
    start: datetime
    end: datetime
    regions: tuple[str, ...]
    detail: str = ""
    id: str = ""  # the request, event or objection rule id


@dataclass(frozen=True)
class Scale:
    """A logarithmic colour scale from ``low`` (the ramp's first colour) to ``high`` (its last)."""

    low: float
    high: float

    def position(self, value: float) -> float:
        """Where ``value`` falls on the scale, from 0 to 1."""
        clipped = min(max(value, self.low), self.high)
        return math.log(clipped / self.low) / math.log(self.high / self.low)

    def colour(self, value: float) -> str:
        """The ramp's colour at ``value``, as ``#rrggbb``."""
        place = self.position(value) * (len(RAMP) - 1)
        first = min(int(place), len(RAMP) - 2)
        a, b, mix = RAMP[first], RAMP[first + 1], place - first
        channels = [round(int(a[i : i + 2], 16) * (1 - mix) + int(b[i : i + 2], 16) * mix) for i in (1, 3, 5)]
        return "#" + "".join(f"{channel:02x}" for channel in channels)

    def ticks(self) -> list[float]:
        """The values worth naming in a key: 1, 2 and 5 times the powers of ten on the scale."""
        values = []
        for power in range(math.floor(math.log10(self.low)), math.ceil(math.log10(self.high)) + 1):
            values += [m * 10.0**power for m in (1, 2, 5) if self.low <= m * 10.0**power <= self.high]
        return values


@dataclass(frozen=True)
class Heatmap:
    """``stake[r, c]``: the share of region r's users active in column c, times the event weights
    covering it (averaged over the region's services by their shares); ``night[r, c]`` marks local
    night. Column c covers ``[columns.instant(c), columns.instant(c + 1))``."""

    regions: tuple[str, ...]
    zones: tuple[str, ...]
    columns: SlotGrid
    stake: NDArray[np.float64]
    night: NDArray[np.bool_]
    spans: tuple[Span, ...]

    @property
    def scale(self) -> Scale:
        """The colour scale of ``stake``: its smallest to its largest positive value."""
        positive = self.stake[self.stake > 0]
        high = float(positive.max()) if positive.size else 1.0
        low = max(float(positive.min()) if positive.size else high, high / WIDEST)
        if high / low < NARROWEST:
            middle = math.sqrt(high * low)
            low, high = middle / math.sqrt(NARROWEST), middle * math.sqrt(NARROWEST)
        return Scale(low, high)

    def column_of(self, instant: datetime) -> float:
        """The (fractional) column at ``instant``, for drawing."""
        return (instant - self.columns.start) / self.columns.slot


def heatmap(problem: Problem, version: Version) -> Heatmap:
    """The heatmap of ``version``, a version of ``problem``."""
    grid = problem.grid
    per_column = max(1, -(-grid.count // MAX_COLUMNS), 60 // grid.slot_minutes)
    count = max(1, grid.count // per_column)
    columns = SlotGrid(start=grid.start, slot_minutes=grid.slot_minutes * per_column, count=count)
    model = ImpactModel(problem)
    # Summed over services: users × activity × Σ_k share_k × M_k, per slot; then a share of users.
    harm = model.harm.sum(axis=1)[:, : count * per_column]
    users = np.array([max(region.users, 1e-12) for region in problem.regions])
    stake = (harm / users[:, None]).reshape(len(problem.regions), count, per_column).mean(axis=2)
    night = np.empty((len(problem.regions), count), dtype=bool)
    for row, region in enumerate(problem.regions):
        hours, _ = columns.local_hours(region.timezone)
        night[row] = (hours >= NIGHT_FROM) | (hours < NIGHT_UNTIL)
    return Heatmap(
        regions=tuple(region.id for region in problem.regions),
        zones=tuple(region.timezone for region in problem.regions),
        columns=columns,
        stake=stake,
        night=night,
        spans=_spans(problem, version),
    )


def _spans(problem: Problem, version: Version) -> tuple[Span, ...]:
    everywhere = tuple(region.id for region in problem.regions)
    spans: list[Span] = []
    for event in problem.events:
        kind: Literal["event", "blackout"] = "blackout" if event.blackout else "event"
        detail = "no maintenance" if event.blackout else f"impact ×{event.weight:g}"
        if event.services != frozenset(problem.services):
            detail += f" on {', '.join(sorted(event.services))}"
        for period in event.periods:
            regions = tuple(r for r in everywhere if r in period.regions)
            spans.append(Span(kind, period.name, period.start, period.end, regions, detail, period.rule))
    for objection in problem.objections:
        request = problem.request_by_id.get(objection.request)
        stakeholder = problem.stakeholder_by_id.get(objection.by)
        if request is None:
            continue
        scope = request.regions if stakeholder is None or stakeholder.role == "approver" else stakeholder.regions
        regions = tuple(r for r in everywhere if r in request.regions & scope)
        if objection.kind == "veto":
            label, detail = f"veto on {request.id} by {objection.by}", objection.reason or ""
        else:
            label = f"soft objection to {request.id} by {objection.by}"
            detail = f"weight {objection.weight:g}" + (f": {objection.reason}" if objection.reason else "")
        for avoid in objection.avoid:
            spans.append(Span(objection.kind, label, avoid.start, avoid.end, regions, detail, objection.rule))
    for window in version.windows:
        request = problem.request_by_id[window.request]
        regions = tuple(r for r in everywhere if r in request.regions)
        detail = f"{window.impact:,.0f} user-minutes"
        spans.append(Span("window", request.title, window.start, window.end, regions, detail, window.request))
    return tuple(spans)


def runs(mask: NDArray[np.bool_]) -> Iterator[tuple[int, int]]:
    """``(first, stop)`` of each run of True in ``mask``: one shape per run of night columns, say."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    for first, stop in zip(edges[::2], edges[1::2], strict=True):
        yield int(first), int(stop)
