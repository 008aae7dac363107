"""A negotiation as an iCalendar feed (RFC 5545) that calendar apps follow from version to version:
one event per request that ever had a window, a stable UID, and a SEQUENCE that grows exactly when
what the app shows changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from icalendar import Calendar, Event, vRecur

from scheduler.authority import concerns
from scheduler.domain import Recurrence, Request, Stakeholder, Version, Window
from scheduler.negotiation import Replay
from scheduler.timeline import to_local

PRODUCT_ID = "-//maintenance-negotiator//EN"


def uid(scenario: str, request: str) -> str:
    """A stable UID per request, so calendar apps update the event instead of duplicating it."""
    return f"{request}@{scenario}.maintenance-negotiator"


@dataclass(frozen=True)
class EventState:
    """One request's calendar event as a version leaves it."""

    window: Window  # the window it has, or the last one it had when cancelled
    sequence: int
    last_modified: datetime  # ``now`` of the version in which the event last changed
    scheduled: bool  # False: it had a window and has none now (cancelled)


def history(versions: Sequence[Version]) -> dict[str, EventState]:
    """The event of every request that had a window in any of ``versions``, as the last leaves it.

    SEQUENCE counts the versions after the request's first window in which its event changed: the
    window moved (start or end differs from the last window it had), it was cancelled (it had a
    window and the version has none), or it came back after a cancellation. Requests appear in the
    order of their first window. The occurrences of a request shown as one recurring event
    (``recurring_events``) count as having no window of their own.
    """
    events: dict[str, EventState] = {}
    for version in versions:
        # Occurrences shown as one recurring event have no event of their own in that version.
        recurring = {r.request for r in version.recurrences}
        windows = {i: w for i, w in version.window_by_request.items() if i.partition("#")[0] not in recurring}
        for request_id, event in list(events.items()):
            window = windows.get(request_id)
            if _changed(event, window):
                shown = window if window is not None else event.window
                events[request_id] = EventState(shown, event.sequence + 1, version.now, window is not None)
            elif window is not None:
                events[request_id] = replace(event, window=window)
        for window in windows.values():
            events.setdefault(window.request, EventState(window, 0, version.now, scheduled=True))
    return events


def _changed(event: EventState, window: Window | None) -> bool:
    """Whether a calendar app showing ``event`` has something new to show for ``window``."""
    if window is None:
        return event.scheduled  # cancelled in this version
    if not event.scheduled:
        return True  # back after a cancellation
    return (window.start, window.end) != (event.window.start, event.window.end)


def calendar(replay: Replay, stakeholder: Stakeholder | None = None, *, url: str | None = None) -> bytes:
    """The final version as a feed: its windows, and as cancelled events the requests that lost
    theirs; only the requests that concern ``stakeholder`` when one is given. ``url`` (the plan's
    page, for a feed the service serves) is every event's URL property."""
    final = replay.final
    events = history(replay.versions)
    requests = _latest_requests(replay)
    name = f"Maintenance: {replay.scenario}"
    cal = Calendar()
    cal.add("prodid", PRODUCT_ID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name if stakeholder is None else f"{name} for {stakeholder.name}")
    # A same-time request with every occurrence scheduled is one recurring event, not one per occurrence.
    series = recurring_events(replay.versions)
    recurring = {r.request: r for r in final.recurrences}
    folded = {o.id for r in recurring for o in replay.problem.series[r].occurrences}
    # The final version's windows in its order, then the cancelled events.
    order = [window.request for window in final.windows]
    order += [request_id for request_id, event in events.items() if not event.scheduled]
    for request_id in order:
        request = requests[request_id]
        if request_id in folded or not concerns(stakeholder, request):
            continue
        cal.add_component(_event(replay, request, events[request_id]))
    for request_id, state in series.items():
        request = requests[request_id]
        if concerns(stakeholder, request):
            cal.add_component(_recurring_event(replay, request, state, recurring.get(request_id)))
    if url is not None:
        for event in cal.walk("VEVENT"):
            event.add("url", url)
    cal.add_missing_timezones()
    ical: bytes = cal.to_ical()
    return ical


@dataclass(frozen=True)
class SeriesState:
    """A same-time request's recurring event as a version leaves it."""

    recurrence: Recurrence  # the rule it has, or the last one it had when it no longer holds
    duration: timedelta
    sequence: int
    last_modified: datetime


def recurring_events(versions: Sequence[Version]) -> dict[str, SeriesState]:
    """The recurring event of every request that had one in any of ``versions``, as the last leaves it.

    SEQUENCE grows when the rule or its first start changes, and when the event is cancelled (some
    occurrence lost its window or moved off the shared offset, so each occurrence is shown on its own).
    """
    states: dict[str, SeriesState] = {}
    held: set[str] = set()
    for version in versions:
        now = {r.request: r for r in version.recurrences}
        for request_id, state in list(states.items()):
            current = now.get(request_id)
            if current is None and request_id in held:
                states[request_id] = replace(state, sequence=state.sequence + 1, last_modified=version.now)
            elif current is not None and (request_id not in held or current != state.recurrence):
                states[request_id] = replace(
                    state, recurrence=current, sequence=state.sequence + 1, last_modified=version.now
                )
        for request_id, recurrence in now.items():
            if request_id not in states:
                first = version.window_by_request[f"{request_id}#1"]
                states[request_id] = SeriesState(recurrence, first.end - first.start, 0, version.now)
        held = set(now)
    return states


def _recurring_event(replay: Replay, request: Request, state: SeriesState, recurrence: Recurrence | None) -> Event:
    """The VEVENT of a same-time request: DTSTART in its zone, the RRULE; cancelled when it no longer holds."""
    final = replay.final
    shown = recurrence or state.recurrence
    start = to_local(shown.dtstart, shown.zone)
    event = Event()
    event.add("uid", uid(replay.scenario, request.id))
    event.add("dtstamp", final.now)
    event.add("last-modified", state.last_modified)
    event.add("dtstart", start)
    event.add("dtend", start + state.duration)
    event.add("rrule", vRecur.from_ical(shown.rrule))
    event.add("sequence", state.sequence)
    if recurrence is not None:
        windows = [w for w in final.windows if w.request.partition("#")[0] == request.id]
        total = sum(w.impact for w in windows)
        event.add("summary", request.title)
        event.add(
            "description",
            f"Impact {total:,.0f} user-minutes over {len(windows)} occurrences. "
            f"Version {final.version}, {final.status}.",
        )
        event.add("status", "CONFIRMED" if final.approved else "TENTATIVE")
    else:
        event.add("summary", f"Cancelled: {request.title} (each occurrence is now its own event)")
        event.add("description", f"The occurrences no longer share one time. Version {final.version}.")
        event.add("status", "CANCELLED")
    return event


def _event(replay: Replay, request: Request, state: EventState) -> Event:
    """The VEVENT of one request: its window, or its last window marked cancelled."""
    final = replay.final
    window = state.window
    event = Event()
    event.add("uid", uid(replay.scenario, request.id))
    event.add("dtstamp", final.now)
    event.add("last-modified", state.last_modified)
    event.add("dtstart", window.start)
    event.add("dtend", window.end)
    event.add("sequence", state.sequence)
    if state.scheduled:
        by_region = ", ".join(f"{region} {impact:,.0f}" for region, impact in sorted(window.impact_by_region.items()))
        event.add("summary", request.title)
        event.add(
            "description",
            f"Impact {window.impact:,.0f} user-minutes ({by_region}). Version {final.version}, {final.status}.",
        )
        event.add("status", "CONFIRMED" if final.approved else "TENTATIVE")
    else:
        event.add("summary", f"Cancelled: {request.title}")
        event.add("description", f"{_why_cancelled(replay, request.id)} Version {final.version}.")
        event.add("status", "CANCELLED")
    return event


def _why_cancelled(replay: Replay, request_id: str) -> str:
    """Withdrawn, or still requested but left without a window (with the reasons)."""
    if request_id not in replay.problem.request_by_id:
        return "Withdrawn: the request is no longer in the plan."
    reasons = next((item.reasons for item in replay.final.unscheduled if item.request == request_id), ())
    return f"No longer scheduled: {', '.join(reasons)}." if reasons else "No longer scheduled."


def _latest_requests(replay: Replay) -> dict[str, Request]:
    """Every request and occurrence by id as the latest problem that contains it states it (withdrawn ones included)."""
    return {request.id: request for problem in replay.problems for request in problem.request_by_id.values()}
