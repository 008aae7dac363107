"""The human-readable output of ``negotiator run``: each version, its windows in every region's time."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scheduler.domain import Problem, Version, Window
from scheduler.negotiation import Replay, StepResult
from scheduler.timeline import to_local


def user_minutes(value: float) -> str:
    return f"{value:,.0f}"


def local_window(window: Window, timezone: str) -> str:
    """``Tue 16 Jun 03:00–04:30 (UTC-07:00)`` in the given zone."""
    start, end = to_local(window.start, timezone), to_local(window.end, timezone)
    end_format = "%H:%M" if end.date() == start.date() else "%a %d %b %H:%M"
    offset = start.strftime("%z")
    return f"{start:%a %d %b %H:%M}–{end:{end_format}} (UTC{offset[:3]}:{offset[3:]})"


def against_preferred(window: Window) -> str:
    if window.preferred_impact is None:
        return ""
    saved = window.preferred_impact - window.impact
    share = f" ({saved / window.preferred_impact:.0%})" if window.preferred_impact else ""
    return f"preferred start: {user_minutes(window.preferred_impact)}, saves {user_minutes(saved)}{share}"


def windows_table(problem: Problem, version: Version) -> Table:
    """One block per window: UTC and total first, then each region in its own time."""
    table = Table(show_lines=True)
    table.add_column("request", style="bold", overflow="fold")
    table.add_column("where")
    table.add_column("window", no_wrap=True)
    table.add_column("impact (user-min)", justify="right", no_wrap=True)
    zones = {region.id: region.timezone for region in problem.regions}
    for window in version.windows:
        request = problem.request_by_id.get(window.request)
        title = (
            window.request
            if request is None or request.title == window.request
            else f"{window.request}\n{request.title}"
        )
        regions = list(window.impact_by_region)
        table.add_row(
            title,
            "UTC\n" + "\n".join(regions),
            "\n".join([local_window(window, "UTC"), *(local_window(window, zones[r]) for r in regions)]),
            "\n".join([user_minutes(window.impact), *(user_minutes(window.impact_by_region[r]) for r in regions)]),
        )
        note = against_preferred(window)
        if note:
            table.add_row("", "", Text(note, style="green"), "")
    return table


def version_panel(problem: Problem, version: Version, cause: StepResult | None) -> Panel:
    """One version: its status, windows, unscheduled requests with reasons, and what moved."""
    parts: list[Table | Text] = []
    headline = f"{version.status}, total impact {user_minutes(version.objective)} user-minutes"
    if version.status == "feasible":
        headline += f" (lower bound {user_minutes(version.bound)})"
    if version.approved:
        headline += ", approved"
    parts.append(Text(headline))
    if cause is not None:
        parts.append(Text(f"after step {cause.index}: {cause.action} by {cause.by}", style="italic"))
    if version.windows:
        parts.append(windows_table(problem, version))
    for item in version.unscheduled:
        parts.append(Text(f"not scheduled: {item.request} — {', '.join(item.reasons)}", style="red"))
    if version.moved:
        parts.append(Text(f"moved: {', '.join(version.moved)}", style="yellow"))
    if version.moved_announced:
        parts.append(Text(f"announced windows moved: {', '.join(version.moved_announced)}", style="bold red"))
    return Panel(Group(*parts), title=f"version {version.version}", title_align="left")


def render(replay: Replay, console: Console) -> None:
    """Print every version of a replay, and every refused step, in order."""
    causes = {step.version: step for step in replay.steps if step.version is not None}
    console.print(Text(f"{replay.scenario} — {replay.slot_minutes}-minute slots", style="bold"))
    for step in replay.steps:
        if not step.accepted:
            console.print(Text(f"step {step.index} refused: {step.action} by {step.by}: {step.reason}", style="red"))
    for version in replay.versions:
        console.print(version_panel(replay.problem, version, causes.get(version.version)))
