"""The review page's heatmap as SVG geometry: cells coloured on the scale ``negotiator plot`` uses,
local nights, events, blackouts, vetoes and soft objections over the cells, each window outlined
over its regions and numbered in a track above them, and a time axis with days and hours.

Numbers, not titles, label the windows: a number always fits, and the list of windows under the
chart, numbered alike and linked both ways, carries the titles. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from scheduler.heatmap import RAMP, Heatmap, Scale, Span, runs
from scheduler.timeline import format_utc, to_local

WIDTH = 1100  # the drawing's units; the page scales it to the width it has
LABEL_W = 200  # the region names, left of the cells
ROW_H = 22
DAY_Y, HOUR_Y = 12, 26  # the baselines of the axis's two lines
AXIS_H = 32
LANE_H = 12  # one lane of the window track
DIGIT_W = 6.0  # roughly, at the track's font size
HOUR_LABEL_W = 22  # room an hour's label needs
KEY_W = 240  # the colour key's width
KEY_TICK_ROOM = 38  # between the values the key names
NIGHT_LINE_H = 3  # the line under a region's night, visible on the darkest cells
OVERLAYS = ("event", "blackout", "veto", "soft")


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


def chart(picture: Heatmap) -> dict[str, Any]:
    """Every shape of the heatmap SVG, and its colour key; ``numbers`` has each window's number."""
    columns = picture.columns.count
    cell_w = (WIDTH - LABEL_W) / columns
    scale = picture.scale

    def x_of(instant: datetime) -> float:
        return LABEL_W + float(np.clip(picture.column_of(instant), 0, columns)) * cell_w

    windows = sorted(
        (span for span in picture.spans if span.kind == "window" and _shown(picture, span)),
        key=lambda span: (span.start, span.id),
    )
    track = _track(windows, x_of)
    top = AXIS_H + (max((bar["lane"] for bar in track), default=-1) + 1) * LANE_H + 4

    def y_of(row: int) -> float:
        return top + row * ROW_H

    cells = [
        {
            "box": Box(LABEL_W + c * cell_w, y_of(r), cell_w + 0.05, ROW_H),
            "fill": scale.colour(float(picture.stake[r, c])),
            "title": f"{picture.regions[r]} {to_local(picture.columns.instant(c), picture.zones[r]):%a %H:%M}"
            f" local: {picture.stake[r, c]:.1%} of users × events",
        }
        for r in range(len(picture.regions))
        for c in range(columns)
    ]
    nights = [
        Box(LABEL_W + first * cell_w, y_of(r), (stop - first) * cell_w, ROW_H)
        for r in range(len(picture.regions))
        for first, stop in runs(picture.night[r])
    ]
    row_of = {region: r for r, region in enumerate(picture.regions)}
    overlays: dict[str, list[dict[str, Any]]] = {kind: [] for kind in (*OVERLAYS, "window")}
    for span in picture.spans:
        if not _shown(picture, span):
            continue
        x0, x1 = x_of(span.start), x_of(span.end)
        for first, stop in runs(np.isin(np.arange(len(picture.regions)), [row_of[r] for r in span.regions])):
            box = Box(x0, y_of(first), max(x1 - x0, 2.0), (stop - first) * ROW_H)
            overlays[span.kind].append({"box": box, "title": _title(span), "id": span.id})
    height = top + len(picture.regions) * ROW_H + 2
    return {
        "width": WIDTH,
        "height": height,
        "label_w": LABEL_W,
        "axis_h": AXIS_H,
        "day_y": DAY_Y,
        "hour_y": HOUR_Y,
        "rows": [
            {"region": region, "zone": zone, "y": y_of(r) + ROW_H / 2}
            for r, (region, zone) in enumerate(zip(picture.regions, picture.zones, strict=True))
        ],
        "cells": cells,
        "nights": nights,
        "night_line_h": NIGHT_LINE_H,
        "overlays": overlays,
        "shaded": OVERLAYS,
        "track": track,
        "numbers": {bar["id"]: bar["number"] for bar in track},
        "ticks": _ticks(picture, x_of, cell_w),
        "key": _key(scale),
    }


def _shown(picture: Heatmap, span: Span) -> bool:
    """Whether ``span`` is in some region and not wholly outside the horizon."""
    return bool(span.regions) and span.end > picture.columns.start and span.start < picture.columns.end


def _title(span: Span) -> str:
    title = f"{span.label}: {format_utc(span.start)} – {format_utc(span.end)}"
    return f"{title} ({span.detail})" if span.detail else title


def _track(windows: list[Span], x_of: Callable[[datetime], float]) -> list[dict[str, Any]]:
    """Each window as a bar with its number after it, in the first lane where both clear the
    bars and numbers already there."""
    ends: list[float] = []
    bars = []
    for number, span in enumerate(windows, start=1):
        x0, x1 = x_of(span.start), x_of(span.end)
        w = max(x1 - x0, 3.0)
        reach = x0 + w + 2 + len(str(number)) * DIGIT_W + 3
        lane = next((lane for lane, end in enumerate(ends) if end <= x0), len(ends))
        if lane == len(ends):
            ends.append(reach)
        ends[lane] = reach
        y = AXIS_H + lane * LANE_H
        bars.append(
            {
                "id": span.id,
                "number": number,
                "lane": lane,
                "box": Box(x0, y + 3, w, LANE_H - 5),
                "text_x": x0 + w + 2,
                "text_y": y + LANE_H - 2,
                "title": _title(span),
            }
        )
    return bars


def _ticks(picture: Heatmap, x_of: Callable[[datetime], float], cell_w: float) -> list[dict[str, Any]]:
    """A tick at every whole ``step`` hours UTC, the step the smallest of 1, 2, 3, 6 and 12 whose
    labels fit; each midnight names its day."""
    hour_w = cell_w * 60 / picture.columns.slot_minutes
    step = next((step for step in (1, 2, 3, 6, 12) if step * hour_w >= HOUR_LABEL_W), 24)
    start, end = picture.columns.start, picture.columns.end
    tick = start.replace(minute=0, second=0, microsecond=0)
    if tick < start:
        tick += timedelta(hours=1)
    ticks = []
    while tick <= end:
        if tick.hour % step == 0:
            day = tick.hour == 0
            ticks.append(
                {"x": x_of(tick), "day": day, "hour": f"{tick:%H}", "label": f"{tick:%a %d %b}" if day else ""}
            )
        tick += timedelta(hours=1)
    return ticks


def _key(scale: Scale) -> dict[str, Any]:
    """The colour key: the ramp's stops, and the values worth naming along it (as many as fit)."""
    ticks: list[dict[str, Any]] = []
    for value in scale.ticks():
        x = round(scale.position(value) * KEY_W, 1)
        if not ticks or x - ticks[-1]["x"] >= KEY_TICK_ROOM:
            anchor = "start" if x < KEY_TICK_ROOM / 2 else "end" if x > KEY_W - KEY_TICK_ROOM / 2 else "middle"
            ticks.append({"x": x, "anchor": anchor, "label": _share(value)})
    stops = [{"at": f"{i / (len(RAMP) - 1):.3f}", "colour": colour} for i, colour in enumerate(RAMP)]
    return {"width": KEY_W, "stops": stops, "ticks": ticks}


def _share(value: float) -> str:
    """A share of users as a percentage, without float noise: 0.5%, 2%, 150%."""
    return f"{float(f'{value * 100:.2g}'):g}%"
