"""``negotiator plot``: one version of a schedule drawn over its heatmap, as a PNG or SVG picture.

Rows are regions, columns UTC time, colour what is at stake, as ``scheduler.heatmap`` computes it.
Local nights, events, blackouts, vetoes and soft objections are laid over the cells, each window is outlined across
its regions; a track above names them on the same time axis and a key below lists the windows.
Nothing here computes a schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.colors import LinearSegmentedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.typing import RcKeyType

from scheduler.domain import Problem, Version
from scheduler.heatmap import NIGHT_FROM, NIGHT_UNTIL, RAMP, Heatmap, Span, heatmap, runs
from scheduler.timeline import format_span

# The picture's format comes from the output file's suffix.
FORMATS = {".png": "png", ".svg": "svg"}

COLORMAP = LinearSegmentedColormap.from_list("stake", RAMP)  # the review page's colours too
WINDOW = "#0b4fd1"
NIGHT = (0.06, 0.10, 0.28, 0.28)
NIGHT_LINE = (0.06, 0.10, 0.28, 0.75)
# How each kind of span is drawn over the cells, in the track and in the legend.
LOOKS: dict[str, dict[str, Any]] = {
    "window": {"facecolor": "none", "edgecolor": WINDOW, "linewidth": 2.0},
    "event": {"facecolor": "none", "edgecolor": "#5c2e00", "hatch": ".", "linestyle": "--", "linewidth": 1.2},
    "blackout": {"facecolor": (0.25, 0.25, 0.25, 0.30), "edgecolor": "#3d3d3d", "hatch": "x", "linewidth": 1.0},
    "veto": {"facecolor": (0.69, 0.0, 0.62, 0.14), "edgecolor": "#a3008f", "hatch": "\\\\\\", "linewidth": 1.4},
    "soft": {"facecolor": "none", "edgecolor": "#6a3d9a", "hatch": "//", "linestyle": ":", "linewidth": 1.4},
}
LEGEND = {
    "window": "window (over its regions)",
    "event": "event (its weight is in the colour)",
    "blackout": "blackout: no maintenance",
    "veto": "veto",
    "soft": "soft objection (costs its weight)",
}
# How the track's lanes are named, by the kinds of span in them.
TRACK_NAMES = {
    "event": "events",
    "blackout": "blackouts",
    "veto": "vetoes",
    "soft": "soft objections",
    "window": "windows",
}

DPI = 120
FONT_SIZE = 8.0
LABEL_SIZE = 7.5
ROW_INCHES = 0.34
LANE_INCHES = 0.19
LANE_GAP = 0.5  # lanes between the track's groups
KEY_LINE_INCHES = 0.17
# Up to this many lines the key takes one column, where titles are seldom cut.
KEY_LINES_IN_ONE_COLUMN = 12
LEGEND_INCHES = 0.45
TITLE_INCHES = 0.45
GAP_INCHES = 0.12  # between the track and the heatmap
AXIS_INCHES = 0.7  # the time axis: ticks, hours, dates and its label
RIGHT_INCHES = 1.0  # the colour bar with its ticks and label
# Text stays text in SVG (searchable, selectable); the salt makes its ids the same on every run.
RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "maintenance-negotiator",
    "svg.fonttype": "none",
    "font.size": FONT_SIZE,
    "hatch.linewidth": 0.7,
}
METADATA: dict[str, dict[str, str | None]] = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}}


@dataclass(frozen=True)
class _Bar:
    """A span in the track: its bar, its label, and the columns both cover."""

    span: Span
    first: float
    stop: float
    text: str
    text_at: float
    align: Literal["left", "right"]  # "left": the label starts at text_at; "right": it ends there
    low: float
    high: float


def plot(problem: Problem, version: Version, path: Path, *, title: str) -> None:
    """Draw ``version`` of ``problem`` over its heatmap into ``path``, a ``.png`` or ``.svg`` file."""
    picture_format = FORMATS.get(path.suffix.lower())
    if picture_format is None:
        raise ValueError(f"{path}: cannot tell the picture format from the suffix {path.suffix!r}: use .png or .svg")
    drawn = heatmap(problem, version)
    with matplotlib.rc_context(RC):
        figure = _figure(drawn, version, title)
        figure.savefig(path, format=picture_format, dpi=DPI, metadata=METADATA[picture_format])


def _figure(drawn: Heatmap, version: Version, title: str) -> Figure:
    """The track, the heatmap with its colour bar, the legend and the key, stacked.

    Every box is placed by hand, in inches: a layout engine's last-bit float noise would change the
    SVG's clip ids from run to run.
    """
    rows, columns = drawn.stake.shape
    width = min(max(4.0 + 0.075 * columns, 11.0), 17.0)
    labels = [f"{region} ({zone})" for region, zone in zip(drawn.regions, drawn.zones, strict=True)]
    left = max(_points(label, FONT_SIZE) for label in [*labels, *TRACK_NAMES.values()]) / 72 + 0.25
    board_width = width - left - RIGHT_INCHES
    points_per_column = board_width * 72 / columns
    spans = _visible(drawn)
    groups = [
        [_place(drawn, span, points_per_column) for span in spans if span.kind != "window"],
        [_place(drawn, span, points_per_column) for span in spans if span.kind == "window"],
    ]
    lanes = [_lanes(bars) for bars in groups]
    key_columns = 1 if len(groups[1]) + len(version.unscheduled) <= KEY_LINES_IN_ONE_COLUMN else 2
    key = _key(drawn, version, (width - left - 0.2) * 72 / key_columns - 16)
    key_rows = -(-len(key) // key_columns)
    # From the top: title, track, gap, heatmap, time axis, legend, key, margin; inches per row,
    # lane and key line stay the same whatever their number.
    track_height, board_height = LANE_INCHES * _track_height(lanes), ROW_INCHES * rows
    key_height = KEY_LINE_INCHES * key_rows
    height = TITLE_INCHES + track_height + GAP_INCHES + board_height + AXIS_INCHES + LEGEND_INCHES + key_height + 0.15
    figure = Figure(figsize=(width, height))

    def box(x: float, top: float, box_width: float, box_height: float) -> tuple[float, float, float, float]:
        """A box ``top`` inches below the figure's top edge, in figure fractions."""
        return x / width, 1 - (top + box_height) / height, box_width / width, box_height / height

    figure.suptitle(title, y=1 - 0.1 / height, va="top", fontsize=FONT_SIZE + 4, fontweight="bold", parse_math=False)
    track = figure.add_axes(box(left, TITLE_INCHES, board_width, track_height))
    board_top = TITLE_INCHES + track_height + GAP_INCHES
    board = figure.add_axes(box(left, board_top, board_width, board_height), sharex=track)
    mesh = _draw_stake(board, drawn, labels)
    _draw_night(board, drawn)
    for span in spans:
        _draw_span(board, drawn, span)
    _draw_time_axis(board, track, drawn)
    _draw_track(track, groups, lanes)
    _draw_colorbar(figure, figure.add_axes(box(width - RIGHT_INCHES + 0.15, board_top, 0.15, board_height)), mesh, rows)
    below = figure.add_axes(
        box(left, board_top + board_height + AXIS_INCHES, width - left - 0.2, LEGEND_INCHES + key_height)
    )
    _draw_legend_and_key(below, {span.kind for span in spans}, key, key_columns, key_rows)
    return figure


def _visible(drawn: Heatmap) -> list[Span]:
    """The spans that show: in some region and not wholly outside the horizon, in time order."""
    return sorted(
        (span for span in drawn.spans if span.regions and _columns(drawn, span)[1] > _columns(drawn, span)[0]),
        key=lambda span: (span.start, span.end, span.id),
    )


def _draw_stake(board: Axes, drawn: Heatmap, labels: list[str]) -> QuadMesh:
    """Colour each cell by its stake, on a log scale: ordinary hours and ×250 events both readable."""
    scale = drawn.scale
    rows, columns = drawn.stake.shape
    cells = np.clip(drawn.stake, scale.low, scale.high)
    mesh = board.pcolormesh(
        np.arange(columns + 1), np.arange(rows + 1), cells, cmap=COLORMAP, norm=LogNorm(vmin=scale.low, vmax=scale.high)
    )
    for row in range(1, rows):
        board.axhline(row, color="white", linewidth=1.2, zorder=2)
    board.set_ylim(rows, 0)
    board.set_yticks(np.arange(rows) + 0.5, labels)
    board.tick_params(axis="y", length=0)
    return mesh


def _draw_colorbar(figure: Figure, where: Axes, mesh: QuadMesh, rows: int) -> None:
    bar = figure.colorbar(mesh, cax=where)
    bar.set_label("share of users active × event weight" if rows > 5 else "share of users active\n× event weight")
    bar.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())


def _draw_night(board: Axes, drawn: Heatmap) -> None:
    """Dim each region's local night, and underline it so it shows on the darkest cells too."""
    for row, night in enumerate(drawn.night):
        for first, stop in runs(night):
            board.add_patch(Rectangle((first, row), stop - first, 1, facecolor=NIGHT, linewidth=0, zorder=1))
            board.add_patch(
                Rectangle((first, row + 0.88), stop - first, 0.12, facecolor=NIGHT_LINE, linewidth=0, zorder=1)
            )


def _draw_span(board: Axes, drawn: Heatmap, span: Span) -> None:
    """Outline or shade ``span`` over the rows of its regions, one block per run of adjacent rows."""
    first, stop = _columns(drawn, span)
    rows = sorted(drawn.regions.index(region) for region in span.regions)
    for top, bottom in runs(np.isin(np.arange(len(drawn.regions)), rows)):
        patch = Rectangle((first, top), stop - first, bottom - top, zorder=5 if span.kind == "window" else 3)
        patch.update(LOOKS[span.kind])
        if span.kind == "window":
            patch.set_path_effects([patheffects.withStroke(linewidth=3.6, foreground="white")])
        board.add_patch(patch)


def _draw_time_axis(board: Axes, track: Axes, drawn: Heatmap) -> None:
    """Hours along the bottom, each UTC midnight with its date; a line across marks each day."""
    board.set_xlim(0, drawn.stake.shape[1])
    hours = drawn.stake.shape[1] * drawn.columns.slot_minutes / 60
    step = next((step for step in (1, 2, 3, 6, 12) if hours / step <= 30), 24)
    every_days = max(1, math.ceil(hours / 24 / 14))
    days: list[tuple[float, str]] = []
    others: list[tuple[float, str]] = []
    year = 0
    for instant in _whole_hours(drawn.columns.start, drawn.columns.end, step):
        place = drawn.column_of(instant)
        if instant.hour:
            others.append((place, f"{instant:%H}"))
            continue
        label = ""
        if instant.toordinal() % every_days == 0:
            # The year on the first date, and again where it changes.
            label = f"00\n{instant:%a %d %b}" + (f" {instant.year}" if instant.year != year else "")
            year = instant.year
        days.append((place, label))
        for axes in (board, track):
            axes.axvline(place, color="#333333", linewidth=0.8, alpha=0.5, zorder=2)
    board.set_xticks([place for place, _ in days], [label for _, label in days])
    board.set_xticks([place for place, _ in others], [label for _, label in others], minor=True)
    board.tick_params(axis="x", which="major", length=12, pad=1)
    board.tick_params(axis="x", which="minor", length=4, pad=9, labelcolor="#444444")
    board.set_xlabel("time (UTC)")


def _draw_track(track: Axes, groups: list[list[_Bar]], lanes: list[list[int]]) -> None:
    """The spans as bars on the time axis, each named: events, blackouts and vetoes, then windows."""
    offset = 0.0
    ticks: list[tuple[float, str]] = []
    for bars, group_lanes in zip(groups, lanes, strict=True):
        if not bars:
            continue
        for bar, lane in zip(bars, group_lanes, strict=True):
            look = dict(LOOKS[bar.span.kind], linewidth=1.0, linestyle="-")
            if bar.span.kind == "window":
                look["facecolor"] = WINDOW
            track.add_patch(Rectangle((bar.first, offset + lane + 0.15), bar.stop - bar.first, 0.7, **look))
            track.text(
                bar.text_at,
                offset + lane + 0.5,
                bar.text,
                ha=bar.align,
                va="center",
                fontsize=LABEL_SIZE,
                parse_math=False,
                zorder=4,
                bbox={"facecolor": "white", "alpha": 0.75, "linewidth": 0, "pad": 0.5},
            )
        kinds = {bar.span.kind for bar in bars}
        name = "\n".join(TRACK_NAMES[kind] for kind in TRACK_NAMES if kind in kinds)
        ticks.append((offset + (max(group_lanes) + 1) / 2, name))
        offset += max(group_lanes) + 1 + LANE_GAP
    track.set_ylim(_track_height(lanes), 0)
    track.set_yticks([place for place, _ in ticks], [name for _, name in ticks])
    track.tick_params(axis="y", length=0)
    track.tick_params(axis="x", which="both", labelbottom=False, length=0)
    for side in ("top", "right", "left"):
        track.spines[side].set_visible(False)


def _track_height(lanes: list[list[int]]) -> float:
    """How many lanes high the track is: its groups' lanes, with a gap between groups."""
    used = [max(group_lanes) + 1 for group_lanes in lanes if group_lanes]
    return max(sum(used) + LANE_GAP * (len(used) - 1), 1.0)


def _place(drawn: Heatmap, span: Span, points_per_column: float) -> _Bar:
    """Label a span inside its bar if it fits, else after it, else before it."""
    first, stop = _columns(drawn, span)
    text = span.id if span.kind == "window" else f"{span.label} · {span.detail}" if span.detail else span.label
    width = (_points(text) + 4) / points_per_column
    pad = 3 / points_per_column
    if span.kind != "window" and stop - first >= width + 2 * pad:
        return _Bar(span, first, stop, text, first + pad, "left", first, stop)
    if stop + pad + width <= drawn.stake.shape[1] or first - pad - width < 0:
        return _Bar(span, first, stop, text, stop + pad, "left", first, stop + pad + width)
    return _Bar(span, first, stop, text, first - pad, "right", first - pad - width, stop)


def _lanes(bars: Sequence[_Bar]) -> list[int]:
    """Give each bar the first lane where it and its label clear the ones already there."""
    ends: list[float] = []
    lanes: list[int] = []
    for bar in bars:
        lane = next((lane for lane, end in enumerate(ends) if end <= bar.low), len(ends))
        if lane == len(ends):
            ends.append(bar.high)
        ends[lane] = bar.high
        lanes.append(lane)
    return lanes


def _key(drawn: Heatmap, version: Version, room: float) -> list[str]:
    """One line per window in time order, its title cut to fit ``room`` points; then one per request
    left unscheduled."""
    windows = sorted((span for span in drawn.spans if span.kind == "window"), key=lambda span: (span.start, span.id))
    lines = []
    for span in windows:
        head, tail = f"{span.id}: ", f" · {format_span(span.start, span.end)} · {span.detail}"
        lines.append(f"{head}{_shorten(span.label, room - _points(head + tail))}{tail}")
    lines += [f"not scheduled: {item.request} ({', '.join(item.reasons)})" for item in version.unscheduled]
    return lines


def _draw_legend_and_key(below: Axes, kinds: set[str], key: list[str], columns: int, rows: int) -> None:
    """The legend (windows, night, and the kinds of span the picture shows), then the key."""
    below.set_axis_off()
    handles = [Patch(label=LEGEND[kind], **LOOKS[kind]) for kind in LEGEND if kind in kinds | {"window"}]
    night = f"local night {NIGHT_FROM:02d}:00–{NIGHT_UNTIL:02d}:00"
    handles.append(Patch(facecolor=NIGHT, edgecolor=NIGHT_LINE, label=night))
    below.legend(handles=handles, loc="upper center", ncols=len(handles), frameon=False, handleheight=1.3)
    height = LEGEND_INCHES + KEY_LINE_INCHES * rows
    for index, line in enumerate(key):
        column, row = divmod(index, rows)
        below.text(
            column / columns,
            1 - (LEGEND_INCHES + row * KEY_LINE_INCHES) / height,
            line,
            transform=below.transAxes,
            va="top",
            ha="left",
            fontsize=LABEL_SIZE,
            parse_math=False,
        )


def _shorten(text: str, room: float) -> str:
    """``text``, cut with an ellipsis to fit ``room`` points (keeping at least a few characters)."""
    length = len(text)
    while length > 8 and _points(text[:length] + "…" if length < len(text) else text) > room:
        length -= 1
    return text if length == len(text) else text[:length].rstrip() + "…"


def _points(text: str, size: float = LABEL_SIZE) -> float:
    """How wide ``text`` is in the label font (or that font at ``size``), in points."""
    width, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)
    return float(width)


def _columns(drawn: Heatmap, span: Span) -> tuple[float, float]:
    """The columns ``span`` covers, clipped to the heatmap."""
    first = min(max(drawn.column_of(span.start), 0.0), float(drawn.stake.shape[1]))
    stop = min(max(drawn.column_of(span.end), 0.0), float(drawn.stake.shape[1]))
    return first, stop


def _whole_hours(start: datetime, end: datetime, step: int) -> Iterator[datetime]:
    """The whole UTC hours from ``start`` to ``end`` that are multiples of ``step``."""
    instant = start.replace(minute=0, second=0, microsecond=0)
    if instant < start:
        instant += timedelta(hours=1)
    while instant <= end:
        if instant.hour % step == 0:
            yield instant
        instant += timedelta(hours=1)
