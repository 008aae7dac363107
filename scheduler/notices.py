"""What a stakeholder is told: which requests concern them, what a new version changed for them,
and which reminders are due before a window starts. ``now`` is always passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from scheduler.authority import concerns
from scheduler.domain import Problem, Stakeholder, Version, Window

Change = Literal["scheduled", "moved", "cancelled", "unscheduled"]


@dataclass(frozen=True)
class WindowChange:
    """How one request's window differs between two versions."""

    request: str
    change: Change
    window: Window | None  # the new window (None when cancelled or unscheduled)
    previous: Window | None  # the window before (None when newly scheduled)
    reasons: tuple[str, ...] = ()  # why it is unscheduled


def changes_between(
    before: tuple[Version, Problem] | None,
    after: tuple[Version, Problem],
    stakeholder: Stakeholder | None = None,
) -> list[WindowChange]:
    """The windows the version ``after`` added, moved or removed since ``before`` (each with the
    problem it solved), within the stakeholder's scope (everything without one). A request that
    left the plan is ``cancelled``; one still in it that lost its window is ``unscheduled``."""
    version, problem = after
    old_windows = before[0].window_by_request if before is not None else {}
    new_windows = version.window_by_request
    known = {**(before[1].request_by_id if before is not None else {}), **problem.request_by_id}
    reasons = {item.request: item.reasons for item in version.unscheduled}
    changes: list[WindowChange] = []
    for request_id in sorted(old_windows.keys() | new_windows.keys()):
        old, new = old_windows.get(request_id), new_windows.get(request_id)
        if not concerns(stakeholder, known[request_id]):
            continue
        if old is None and new is not None:
            changes.append(WindowChange(request_id, "scheduled", new, None))
        elif new is None and old is not None:
            kind: Change = "unscheduled" if request_id in reasons else "cancelled"
            changes.append(WindowChange(request_id, kind, None, old, reasons.get(request_id, ())))
        elif old is not None and new is not None and (old.start, old.end) != (new.start, new.end):
            changes.append(WindowChange(request_id, "moved", new, old))
    return changes


@dataclass(frozen=True)
class Reminder:
    """A window starts within ``lead`` of now."""

    window: Window
    lead: timedelta


def reminders_due(
    version: Version,
    problem: Problem,
    *,
    now: datetime,
    leads: Sequence[timedelta],
    stakeholder: Stakeholder | None = None,
) -> list[Reminder]:
    """For each window in scope that has not started, the shortest lead time that has been reached.

    A longer lead missed (the window was scheduled later than that) is not sent late: the shortest
    lead reached supersedes it. Each (request, start, lead) is meant to be sent once.
    """
    due: list[Reminder] = []
    for window in version.windows:
        request = problem.request_by_id.get(window.request)
        if request is None or not concerns(stakeholder, request) or now >= window.start:
            continue
        reached = [lead for lead in leads if window.start - lead <= now]
        if reached:
            due.append(Reminder(window, min(reached)))
    return due
