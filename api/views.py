"""What the review page shows, worked out from a plan's history: the heatmap's geometry, the
windows with their impact and "why here", the versions and the objections. No HTTP here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from scheduler.authority import may
from scheduler.domain import Problem, Stakeholder, Version
from scheduler.explain import explain_version, rule_text
from scheduler.heatmap import Heatmap, heatmap
from scheduler.negotiation import Replay
from scheduler.report import window_json
from scheduler.timeline import format_utc, to_local

LABEL_W = 230  # the region names, left of the cells
LABEL_CHAR_W = 7.6  # roughly, at the labels' font size
CHART_W = 1100
ROW_H = 26
AXIS_H = 34
# Cell colours from quiet to busy: the share of users active × event weights, on a log scale.
RAMP = ("#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#fd8d3c", "#d94801", "#7f2704")


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float


def _colour(value: float, top: float) -> str:
    """The ramp's colour of ``value`` between ``top`` / 100 and ``top`` on a log scale."""
    low = max(top, 1e-9) / 100
    position = np.log(max(value, low) / low) / np.log(max(top, low * 10) / low)
    position = float(np.clip(position, 0.0, 1.0)) * (len(RAMP) - 1)
    first = int(position)
    if first >= len(RAMP) - 1:
        return RAMP[-1]
    a, b = RAMP[first], RAMP[first + 1]
    mix = position - first
    channels = [round(int(a[i : i + 2], 16) * (1 - mix) + int(b[i : i + 2], 16) * mix) for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in channels)


def chart(picture: Heatmap) -> dict[str, Any]:
    """Every shape of the heatmap SVG: cells, nights, events, vetoes, windows and the time axis."""
    columns = picture.columns.count
    cell_w = (CHART_W - LABEL_W) / columns
    top = picture.calm_peak * 1.5  # busier than any ordinary hour (an event): the darkest colour

    def x_of(instant: datetime) -> float:
        return LABEL_W + float(np.clip(picture.column_of(instant), 0, columns)) * cell_w

    def y_of(row: int) -> float:
        return AXIS_H + row * ROW_H

    cells = [
        {
            "box": Box(LABEL_W + c * cell_w, y_of(r), cell_w + 0.05, ROW_H),
            "fill": _colour(float(picture.stake[r, c]), top),
            "title": f"{picture.regions[r]} {to_local(picture.columns.instant(c), picture.zones[r]):%a %H:%M}"
            f" local: {picture.stake[r, c]:.1%} of users × events",
        }
        for r in range(len(picture.regions))
        for c in range(columns)
    ]
    nights = []
    for r in range(len(picture.regions)):
        c = 0
        while c < columns:  # one shape per run of night columns
            if not picture.night[r, c]:
                c += 1
                continue
            first = c
            while c < columns and picture.night[r, c]:
                c += 1
            nights.append(Box(LABEL_W + first * cell_w, y_of(r), (c - first) * cell_w, ROW_H))
    row_of = {region: r for r, region in enumerate(picture.regions)}
    overlays: dict[str, list[dict[str, Any]]] = {"event": [], "blackout": [], "veto": [], "window": []}
    for span in picture.spans:
        if span.end <= picture.columns.start or span.start >= picture.columns.end:
            continue
        x0, x1 = x_of(span.start), x_of(span.end)
        for rows in _runs(sorted(row_of[r] for r in span.regions)):
            box = Box(x0, y_of(rows[0]), max(x1 - x0, 2.0), len(rows) * ROW_H)
            title = f"{span.label}: {format_utc(span.start)} – {format_utc(span.end)}"
            overlays[span.kind].append(
                {
                    "box": box,
                    "title": f"{title} ({span.detail})" if span.detail else title,
                    "id": span.id,
                    "label": span.id,
                }
            )
    _place_labels(overlays["window"])
    return {
        "width": CHART_W,
        "height": AXIS_H + len(picture.regions) * ROW_H + 4,
        "axis_h": AXIS_H,
        "rows": [
            {"region": region, "zone": zone, "y": y_of(r) + ROW_H / 2}
            for r, (region, zone) in enumerate(zip(picture.regions, picture.zones, strict=True))
        ],
        "cells": cells,
        "nights": nights,
        "overlays": overlays,
        "ticks": _ticks(picture, x_of),
    }


def _place_labels(shapes: list[dict[str, Any]]) -> None:
    """Label each window to its right unless the label would run over another label on its row."""
    free_from: dict[float, float] = {}
    for shape in sorted(shapes, key=lambda s: s["box"].x):
        box = shape["box"]
        x = box.x + box.w + 3
        if x < free_from.get(box.y, 0.0):
            shape["label"] = ""
            continue
        free_from[box.y] = x + len(shape["label"]) * LABEL_CHAR_W + 4


def _runs(rows: list[int]) -> list[list[int]]:
    """Consecutive rows grouped, so a window over adjacent regions is one rectangle."""
    runs: list[list[int]] = []
    for row in rows:
        if runs and runs[-1][-1] == row - 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    return runs


def _ticks(picture: Heatmap, x_of: Callable[[datetime], float]) -> list[dict[str, Any]]:
    """A labelled tick at each UTC midnight and a small one every six hours."""
    start, end = picture.columns.start, picture.columns.end
    tick = start.replace(minute=0, second=0, microsecond=0)
    tick += timedelta(hours=(6 - tick.hour % 6) % 6)
    ticks = []
    while tick <= end:
        if tick >= start:
            ticks.append(
                {
                    "x": x_of(tick),
                    "day": tick.hour == 0,
                    "label": f"{tick:%a %d %b}" if tick.hour == 0 else f"{tick:%H}h",
                }
            )
        tick += timedelta(hours=6)
    return ticks


def windows(version: Version, problem: Problem) -> list[dict[str, Any]]:
    """Each window as in the JSON output (with ``why``), plus its title, whether it moved, and its
    impact by region with the local time there."""
    why = explain_version(problem, version)
    zones = {region.id: region.timezone for region in problem.regions}
    return [
        {
            **window_json(window, problem.grid, why.get(window.request)),
            "title": problem.request_by_id[window.request].title,
            "moved": window.request in version.moved,
            "regions": [
                {
                    "region": region,
                    "impact": impact,
                    "local": f"{to_local(window.start, zones[region]):%a %H:%M}"
                    f"–{to_local(window.end, zones[region]):%H:%M}",
                }
                for region, impact in sorted(window.impact_by_region.items(), key=lambda item: -item[1])
            ],
        }
        for window in version.windows
    ]


def objectable(problem: Problem, version: Version, stakeholder: Stakeholder | None) -> list[dict[str, str]]:
    """The windows a stakeholder may object to: approvers any, representatives those meeting their scope."""
    out = []
    for window in version.windows:
        request = problem.request_by_id[window.request]
        if may(stakeholder, "object", request=request):
            out.append({"request": request.id, "title": request.title, "start": format_utc(window.start)})
    return out


def change_message(change: dict[str, Any]) -> str:
    """What became of a change sent from the page."""
    message = f"your change #{change['id']} ({change['action']}) is {change['status']}"
    return f"{message}: {change['reason']}" if change["reason"] else message


def page(
    history: Replay,
    *,
    stakeholder: Stakeholder | None,
    versions: list[dict[str, Any]],
    changes: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """Everything the page template needs about the plan."""
    latest, problem = history.final, history.problem
    return {
        "chart": chart(heatmap(problem, latest)),
        "latest": latest,
        "latest_now": format_utc(latest.now),
        "windows": windows(latest, problem),
        "unscheduled": [
            {"request": u.request, "reasons": [rule_text(problem, r) for r in u.reasons]} for u in latest.unscheduled
        ],
        "rule_names": problem.period_names,
        "versions": [{**v, "included": [changes[c] for c in v["changes"] if c in changes]} for v in reversed(versions)],
        "objections": [c for c in changes.values() if c["action"] == "object"],
        "pending": [c for c in changes.values() if c["status"] == "pending"],
        "objectable": objectable(problem, latest, stakeholder),
    }
