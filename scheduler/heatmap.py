"""What the schedule looks like: regions × time, each cell how much is at stake, nights marked,
with the windows, events and vetoes of one version laid over it.

The review page and ``negotiator plot`` both draw this; neither computes anything of its own.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class Span:
    """Something drawn over the heatmap: a window, an event or a vetoed range, in some regions."""

    kind: Literal["window", "event", "blackout", "veto"]
    label: str
    start: datetime
    end: datetime
    regions: tuple[str, ...]
    detail: str = ""
    id: str = ""  # the request, event or veto rule id


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
    calm_peak: float  # the largest share of users active anywhere, before event weights

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
    calm_peak = 0.0
    for row, region in enumerate(problem.regions):
        hours, weekdays = columns.local_hours(region.timezone)
        night[row] = (hours >= NIGHT_FROM) | (hours < NIGHT_UNTIL)
        calm_peak = max(calm_peak, float(region.profile.activity(hours, weekdays).max(initial=0.0)))
    return Heatmap(
        regions=tuple(region.id for region in problem.regions),
        zones=tuple(region.timezone for region in problem.regions),
        columns=columns,
        stake=stake,
        night=night,
        spans=_spans(problem, version),
        calm_peak=calm_peak,
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
        if objection.kind != "veto":
            continue
        request = problem.request_by_id.get(objection.request)
        stakeholder = problem.stakeholder_by_id.get(objection.by)
        if request is None:
            continue
        scope = request.regions if stakeholder is None or stakeholder.role == "approver" else stakeholder.regions
        regions = tuple(r for r in everywhere if r in request.regions & scope)
        label = f"veto on {request.id} by {objection.by}"
        for avoid in objection.avoid:
            spans.append(Span("veto", label, avoid.start, avoid.end, regions, objection.reason or "", objection.rule))
    for window in version.windows:
        request = problem.request_by_id[window.request]
        regions = tuple(r for r in everywhere if r in request.regions)
        detail = f"{window.impact:,.0f} user-minutes"
        spans.append(Span("window", request.title, window.start, window.end, regions, detail, window.request))
    return tuple(spans)
