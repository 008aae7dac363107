"""The human-readable output of ``negotiator run``: the negotiation told as a story.

Version 1, then every step in order: refused steps with their reason, counter-proposals with their
impact, and each new version with what moved, the change of impact in each region, and every window
in UTC and in each region's local time with why it is there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scheduler.domain import Problem, Version, Window
from scheduler.explain import WhyHere, explain_version, rule_text
from scheduler.negotiation import CounterResult, Replay, StepResult
from scheduler.repeats import describe
from scheduler.timeline import format_utc, to_local


def user_minutes(value: float) -> str:
    return f"{value:,.0f}"


def local_window(start: datetime, end: datetime, timezone: str) -> str:
    """``Tue 16 Jun 03:00–04:30 (UTC-07:00)`` in the given zone."""
    start, end = to_local(start, timezone), to_local(end, timezone)
    end_format = "%H:%M" if end.date() == start.date() else "%a %d %b %H:%M"
    offset = start.strftime("%z")
    return f"{start:%a %d %b %H:%M}–{end:{end_format}} (UTC{offset[:3]}:{offset[3:]})"


def against_preferred(window: Window) -> str:
    if window.preferred_impact is None:
        return ""
    preferred = window.preferred_impact
    saved = preferred - window.impact
    share = f" ({abs(saved) / preferred:{'+' if saved < 0 else ''}.0%})" if preferred else ""
    if user_minutes(abs(saved)) == "0":
        verdict = "this costs the same"
    elif saved > 0:
        verdict = f"this saves {user_minutes(saved)}{share}"
    else:
        verdict = f"this costs {user_minutes(-saved)} more{share}"
    return f"at the preferred start: {user_minutes(preferred)}, {verdict}"


FIXED = {
    "started": "it has started",
    "pinned": "an approver pinned it",
    "announced": "it is announced (its version was approved) and nothing now forbids it",
}


def why_text(problem: Problem, window: Window, why: WhyHere | None) -> str:
    if why is None:
        return ""
    lines = []
    if why.fixed is not None:
        lines.append(f"stays here: {FIXED.get(why.fixed, why.fixed)}")
    if why.cheaper_blocked_by:
        ruled = ", ".join(
            f"{rule_text(problem, b.rule)} ({b.starts} start{'' if b.starts == 1 else 's'}, "
            f"from {user_minutes(b.cheapest_impact)})"
            for b in why.cheaper_blocked_by
        )
        lines.append(f"cheaper starts ruled out by: {ruled}")
    else:
        lines.append("no allowed start costs less")
    if why.alternatives:
        grid = problem.grid
        options = ", ".join(
            f"{grid.instant(alt.start):%a %d %b %H:%MZ} "
            f"({user_minutes(alt.impact)}, {change_text(window.impact, alt.impact)})"
            for alt in why.alternatives
        )
        lines.append(f"next best: {options}")
    return "\n".join(lines)


def change_text(before: float, after: float) -> str:
    """A change as a share of where it started (``+8%``), or in user-minutes from 0."""
    if before == 0:
        return f"{after - before:+,.0f}"
    share = (after - before) / before
    return f"{share:+.1%}" if 0 < abs(share) < 0.005 else f"{share:+.0%}"


def window_block(problem: Problem, window: Window, why: WhyHere | None) -> Group:
    """One window: UTC and total first, then each region in its own time; then why it is there."""
    request = problem.request_by_id.get(window.request)
    title = window.request
    if request is not None and request.title != window.request:
        title += f" — {request.title}"
    table = Table(title=Text(title, style="bold"), title_justify="left")
    table.add_column("where")
    table.add_column("window")
    table.add_column("impact (user-min)", justify="right")
    zones = {region.id: region.timezone for region in problem.regions}
    table.add_row("UTC", local_window(window.start, window.end, "UTC"), user_minutes(window.impact), style="bold")
    for region, impact in window.impact_by_region.items():
        table.add_row(region, local_window(window.start, window.end, zones[region]), user_minutes(impact))
    notes = [
        part
        for part in (against_preferred(window), weighed_by(problem, window), why_text(problem, window, why))
        if part
    ]
    return Group(table, *(Text(note, style="green") for note in notes))


def folded(problem: Problem, version: Version) -> Iterator[tuple[str | None, Window]]:
    """The version's windows in order, a same-time request whose occurrences keep one rule once
    (its id and its first window) in the place of its first occurrence."""
    recurring = {r.request for r in version.recurrences}
    shown: set[str] = set()
    for window in version.windows:
        series = problem.request_by_id[window.request].series
        if series not in recurring:
            yield None, window
        elif series not in shown:
            shown.add(series)
            yield series, window


def series_block(problem: Problem, version: Version, request_id: str) -> Group:
    """A same-time request whose occurrences all share one time: its rule, then each occurrence's window and impact."""
    request = problem.request_by_id[request_id]
    series = problem.series[request_id]
    title = request_id if request.title == request_id else f"{request_id} — {request.title}"
    table = Table(title=Text(f"{title}: {describe(series, version)}", style="bold"), title_justify="left")
    for column in ("occurrence", "window (UTC)", *(r.id for r in problem.regions if r.id in request.regions)):
        table.add_column(column)
    table.add_column("impact (user-min)", justify="right")
    windows = [version.window_by_request[o.id] for o in series.occurrences]
    zones = [r for r in problem.regions if r.id in request.regions]
    for window in windows:
        local = [local_window(window.start, window.end, region.timezone) for region in zones]
        table.add_row(
            window.request, local_window(window.start, window.end, "UTC"), *local, user_minutes(window.impact)
        )
    total = sum(window.impact for window in windows)
    table.add_row("all", "", *("" for _ in zones), user_minutes(total), style="bold")
    return Group(table)


def weighed_by(problem: Problem, window: Window) -> str:
    """The weighted event periods a window overlaps in its regions: ``during: Nowruz (event:..., ×3 in iran)``."""
    request = problem.request_by_id.get(window.request)
    if request is None:
        return ""
    grid = problem.grid
    taken = set(grid.slots_starting_in(window.start, window.end))
    during = []
    for event in problem.events:
        if event.weight is None or event.blackout or not event.services & request.services:
            continue
        for period in event.periods:
            regions = period.regions & request.regions
            if regions and taken.intersection(grid.slots_starting_in(period.start, period.end)):
                during.append(f"{rule_text(problem, period.rule)}, ×{event.weight:g} in {', '.join(sorted(regions))}")
    return f"during: {'; '.join(during)}" if during else ""


def region_totals(version: Version) -> dict[str, float]:
    totals: dict[str, float] = {}
    for window in version.windows:
        for region, value in window.impact_by_region.items():
            totals[region] = totals.get(region, 0.0) + value
    return totals


def change_by_region(before: Version, after: Version) -> Table:
    """The impact each region bears, before and after a change."""
    old, new = region_totals(before), region_totals(after)
    table = Table(title="impact by region (user-minutes)", title_justify="left")
    for column in ("region", f"version {before.version}", f"version {after.version}", "change"):
        table.add_column(column, justify="left" if column == "region" else "right")
    for region in sorted(set(old) | set(new)):
        a, b = old.get(region, 0.0), new.get(region, 0.0)
        if a or b:
            table.add_row(region, user_minutes(a), user_minutes(b), change_text(a, b))
    return table


def version_panel(problem: Problem, version: Version, cause: StepResult | None, before: Version | None) -> Panel:
    """One version: its status, windows, unscheduled requests with reasons, and what moved."""
    parts: list[RenderableType] = []
    headline = f"{version.status}, total impact {user_minutes(version.objective)} user-minutes"
    if version.status == "feasible":
        headline += f" (lower bound {user_minutes(version.bound)})"
    if version.approved:
        headline += ", approved"
    parts.append(Text(headline))
    if cause is not None:
        parts.append(Text(f"after step {cause.index}: {cause.action} by {cause.by}", style="italic"))
    why = explain_version(problem, version)
    for series, window in folded(problem, version):
        if series is not None:
            parts.append(series_block(problem, version, series))
        else:
            parts.append(window_block(problem, window, why.get(window.request)))
    for item in version.unscheduled:
        reasons = ", ".join(rule_text(problem, rule) for rule in item.reasons)
        parts.append(Text(f"not scheduled: {item.request} — {reasons}", style="red"))
    if before is not None:
        parts.append(Text(f"moved: {', '.join(version.moved) or 'nothing'}", style="yellow"))
        if version.added:
            parts.append(Text(f"added: {', '.join(version.added)}", style="green"))
        if version.removed:
            parts.append(Text(f"removed: {', '.join(version.removed)}", style="yellow"))
        if version.moved_announced:
            parts.append(Text(f"announced windows moved: {', '.join(version.moved_announced)}", style="bold red"))
        parts.append(change_by_region(before, version))
    return Panel(Group(*parts), title=f"version {version.version}", title_align="left")


def counter_text(step: StepResult, counter: CounterResult) -> Table:
    """A counter-proposal's impact; wrapped lines stay under the text, not in column 0."""
    verdict = "allowed" if counter.allowed else f"not allowed ({', '.join(counter.blocked_by)})"
    line = f"{step.by} proposes {format_utc(counter.start)}: impact {user_minutes(counter.impact)}"
    if counter.current_impact is not None:
        change = change_text(counter.current_impact, counter.impact)
        line += f" against {user_minutes(counter.current_impact)} now ({change})"
    by_region = ", ".join(f"{region} {user_minutes(value)}" for region, value in counter.impact_by_region.items())
    return hanging(f"step {step.index}:", f"{line}; {verdict}\nby region: {by_region}", "cyan")


def hanging(label: str, text: str | Text, style: str | None = None) -> Table:
    """``label text``, with every wrapped line of ``text`` under its start rather than in column 0."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(style=style or "")
    grid.add_row(Text(label), text if isinstance(text, Text) else Text(text))
    return grid


def render(replay: Replay, console: Console) -> None:
    """Print version 1, then every step in order with what it did (``--detail``)."""
    story = list(_story(replay))
    fit_to_content(console, story)
    for part in story:
        console.print(part)


UNBOUNDED_WIDTH = 100_000


def fit_to_content(console: Console, parts: list[RenderableType]) -> None:
    """Written to a pipe or a file, lines are as long as they need: ids are values a user copies,
    and a width guessed for a terminal nobody looks at would cut them short."""
    if not console.is_terminal:
        unbounded = console.options.update_width(UNBOUNDED_WIDTH)
        widest = max(Measurement.get(console, unbounded, part).maximum for part in parts)
        console.width = max(console.width, widest)


def _story(replay: Replay) -> Iterator[RenderableType]:
    yield Text(f"{replay.scenario} — {replay.slot_minutes}-minute slots", style="bold")
    yield version_panel(replay.problems[0], replay.versions[0], None, None)
    position = {version.version: i for i, version in enumerate(replay.versions)}
    for step in replay.steps:
        if not step.accepted:
            yield Text(f"step {step.index}: {step.action} by {step.by} refused: {step.reason}", style="red")
        elif step.counter is not None:
            yield counter_text(step, step.counter)
        elif step.action == "approve":
            yield Text(f"step {step.index}: {step.by} approved version {step.version}; its windows are announced")
        elif step.version is not None:
            i = position[step.version]
            yield version_panel(replay.problems[i], replay.versions[i], step, replay.versions[i - 1])
