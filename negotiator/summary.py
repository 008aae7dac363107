"""The compact output of ``negotiator run``: the negotiation in one line per step, then the final
schedule in one line per window, then a closing summary. ``--detail`` prints ``table.render``'s
full story instead (every version, every window region by region)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from negotiator.table import UNBOUNDED_WIDTH, change_text, fit_to_content, folded, hanging, user_minutes
from scheduler.domain import Period, Problem, TimeRange, Version, Window
from scheduler.explain import rule_text
from scheduler.negotiation import Replay, StepResult
from scheduler.repeats import describe
from scheduler.steps import (
    Approve,
    Counter,
    DeclareEvent,
    Object,
    OverrideVeto,
    Pin,
    RemoveEvent,
    Step,
    Submit,
    Withdraw,
)
from scheduler.timeline import to_local

MOST_HURT = 3  # regions named per window


def render(replay: Replay, steps: Sequence[Step], console: Console) -> None:
    """The story line by line, the final schedule and the summary."""
    # Piped, a line is as long as it needs (``fit_to_content``): the table always fits then.
    parts = list(_parts(replay, steps, console.width if console.is_terminal else UNBOUNDED_WIDTH))
    fit_to_content(console, parts)
    for part in parts:
        console.print(part)


def _parts(replay: Replay, steps: Sequence[Step], width: int) -> Iterator[RenderableType]:
    yield Text(f"{replay.scenario} — {replay.slot_minutes}-minute slots", style="bold")
    first = replay.versions[0]
    yield Text(f"version 1: {_totals(first)}")
    by_index = {step.index: step for step in steps}
    position = {version.version: i for i, version in enumerate(replay.versions)}
    for result in replay.steps:
        yield story_line(result, by_index.get(result.index), replay, position)
    final_problem, final = replay.problems[-1], replay.final
    yield Text("")
    yield schedule_table(final_problem, final, width)
    for item in final.unscheduled:
        reasons = ", ".join(rule_text(final_problem, rule) for rule in item.reasons)
        yield Text(f"not scheduled: {item.request} — {reasons}", style="red")
    yield Text(f"final: version {final.version} of {len(replay.versions)}, {_totals(final)}", style="bold")


def _totals(version: Version) -> str:
    parts = [version.status, f"{len(version.windows)} window{'' if len(version.windows) == 1 else 's'}"]
    if version.unscheduled:
        parts.append(f"{len(version.unscheduled)} not scheduled")
    parts.append(f"total impact {user_minutes(version.objective)} user-minutes")
    if version.approved:
        parts.append("approved")
    return ", ".join(parts)


def story_line(result: StepResult, step: Step | None, replay: Replay, position: Mapping[int, int]) -> RenderableType:
    """One step: who asked what, and what became of it (refused and why, or what the new version changed)."""
    asked = f"{result.by} {what(step) if step is not None else result.action}"
    label = f"step {result.index}:"
    if not result.accepted:
        return _line(label, asked, f"refused: {result.reason}", "red")
    if result.counter is not None:
        counter = result.counter
        verdict = "allowed" if counter.allowed else f"not allowed ({', '.join(counter.blocked_by)})"
        told = f"impact {user_minutes(counter.impact)}"
        if counter.current_impact is not None:
            told += f" against {user_minutes(counter.current_impact)} now"
            told += f" ({change_text(counter.current_impact, counter.impact)})"
        return _line(label, asked, f"{told}; {verdict}", "cyan")
    if result.action == "approve":
        return _line(label, asked, f"version {result.version} approved: its windows are announced", "green")
    if result.version is None or result.version not in position:
        return _line(label, asked, "accepted", None)
    i = position[result.version]
    before, after = replay.versions[i - 1], replay.versions[i]
    return _line(label, asked, f"version {after.version}: {changes(before, after)}", "yellow" if after.moved else None)


def _line(label: str, asked: str, told: str, style: str | None) -> Table:
    """``step N: asked → told``; wrapped lines stay under the text, not in column 0."""
    return hanging(label, Text.assemble(f"{asked} → ", (told, style or "")))


def what(step: Step) -> str:
    """The step in words: the kind, the request or event, the range, the reason."""
    reason = getattr(step, "reason", None)
    because = f' ("{reason}")' if reason else ""
    match step:
        case Object():
            where = f" in {_ranges(step.avoid)}" if step.avoid else " where it stands"
            if step.kind == "veto":
                return f"vetoes {step.request_id}{where}{because}"
            return f"objects to {step.request_id}{where}, weight {step.weight:g}{because}"
        case DeclareEvent():
            kind = "a blackout" if step.event.blackout else f"weight ×{step.event.weight:g}"
            return f"declares {step.event.id} ({kind}, {_ranges(step.event.periods)})"
        case RemoveEvent():
            return f"removes event {step.event_id}{because}"
        case Submit():
            return f"submits {step.request.id}"
        case Withdraw():
            return f"withdraws {step.request_id}"
        case Approve():
            return f"approves version {step.version}" if step.version is not None else "approves the latest version"
        case Counter():
            return f"proposes {step.request_id} at {_instant(step.start)}{because}"
        case Pin():
            return f"pins {step.request_id} at {_instant(step.start)}{because}"
        case OverrideVeto():
            return f"lifts {step.veto}{because}"
    return step.action


def _instant(instant: datetime) -> str:
    return f"{instant:%a %d %b %H:%MZ}"


def _ranges(ranges: Sequence[TimeRange] | Sequence[Period]) -> str:
    text = ", ".join(f"{_instant(r.start)}–{_instant(r.end)}" for r in ranges[:2])
    return text + (f" and {len(ranges) - 2} more" if len(ranges) > 2 else "")


def changes(before: Version, after: Version) -> str:
    """What a version changed: moved, added, removed, and the total impact."""
    parts = []
    if after.moved:
        parts.append(f"moved {_ids(after.moved)}")
    if after.added:
        parts.append(f"added {_ids(after.added)}")
    if after.removed:
        parts.append(f"removed {_ids(after.removed)}")
    if after.moved_announced:
        parts.append(f"announced windows moved: {_ids(after.moved_announced)}")
    if not parts:
        parts.append("no window moved")
    total = f"total impact {user_minutes(after.objective)}"
    if before.objective != after.objective:
        total += f" ({change_text(before.objective, after.objective)})"
    return "; ".join([*parts, total])


def _ids(ids: Sequence[str]) -> str:
    """Ids in full (they are what a user copies); several occurrences of one request as ``weekly (8 occurrences)``."""
    groups: dict[str, list[str]] = {}
    for request_id in ids:
        groups.setdefault(request_id.partition("#")[0], []).append(request_id)
    return ", ".join(
        members[0] if len(members) == 1 else f"{base} ({len(members)} occurrences)" for base, members in groups.items()
    )


def schedule_table(problem: Problem, version: Version, width: int) -> RenderableType:
    """One line per window (a same-time request with one rule: one line for all its occurrences),
    in a table when ``width`` holds it; else each window's regions on a second line. Ids are never cut."""
    rows = list(_rows(problem, version))
    widest = max((len(row[0]) for row in rows), default=7)
    if width >= widest + 22 + 40 + 12 + 10 + 12:
        table = Table(box=box.SIMPLE_HEAD, title=f"final schedule, version {version.version}", title_justify="left")
        table.add_column("request", no_wrap=True, min_width=widest)
        table.add_column("window (UTC)", no_wrap=True)
        table.add_column("hurts most (local time)", min_width=20, ratio=1)
        table.add_column("impact", justify="right", no_wrap=True)
        table.add_column("saving", justify="right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        return table
    lines: list[RenderableType] = [Text(f"final schedule, version {version.version}", style="italic")]
    for request_id, window, hurts, impact, saving in rows:
        lines.append(Text(f"{request_id}  {window}  {impact}" + (f"  saving {saving}" if saving else ""), style="bold"))
        lines.append(hanging("   ", Text(f"hurts most: {hurts}" if hurts else "hurts nobody")))
    return Group(*lines)


def _rows(problem: Problem, version: Version) -> Iterator[tuple[str, str, str, str, str]]:
    zones = {region.id: region.timezone for region in problem.regions}
    for series, window in folded(problem, version):
        if series is not None:
            occurrences = [w for w in version.windows if problem.request_by_id[w.request].series == series]
            rule = describe(problem.series[series], version) or f"{len(occurrences)} occurrences"
            total = sum(w.impact for w in occurrences)
            yield series, rule, _most_hurt(window, zones), user_minutes(total), ""
        else:
            span = f"{window.start:%a %d %b %H:%M}–{window.end:%H:%M}"
            yield window.request, span, _most_hurt(window, zones), user_minutes(window.impact), _saving(window)


def _most_hurt(window: Window, zones: Mapping[str, str]) -> str:
    worst = sorted(window.impact_by_region.items(), key=lambda item: (-item[1], item[0]))[:MOST_HURT]
    return ", ".join(f"{region} {to_local(window.start, zones[region]):%a %H:%M}" for region, value in worst if value)


def _saving(window: Window) -> str:
    """Against the preferred start: ``48%`` saved, ``-5%`` when it costs more, blank without one."""
    if not window.preferred_impact:
        return ""
    return f"{(window.preferred_impact - window.impact) / window.preferred_impact:.0%}"
