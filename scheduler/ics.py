"""The final version as an iCalendar file (RFC 5545), one event per window."""

from __future__ import annotations

from icalendar import Calendar, Event

from scheduler.negotiation import Replay

PRODUCT_ID = "-//maintenance-negotiator//EN"


def uid(scenario: str, request: str) -> str:
    """A stable UID per request, so calendar apps update the event instead of duplicating it."""
    return f"{request}@{scenario}.maintenance-negotiator"


def calendar(replay: Replay) -> bytes:
    """The windows of the final version; SEQUENCE counts the versions in which a window moved."""
    final = replay.final
    moves = {window.request: sum(window.request in v.moved for v in replay.versions) for window in final.windows}
    cal = Calendar()
    cal.add("prodid", PRODUCT_ID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Maintenance: {replay.scenario}")
    for window in final.windows:
        request = replay.problem.request_by_id[window.request]
        by_region = ", ".join(f"{region} {impact:,.0f}" for region, impact in sorted(window.impact_by_region.items()))
        event = Event()
        event.add("uid", uid(replay.scenario, window.request))
        event.add("dtstamp", final.now)
        event.add("dtstart", window.start)
        event.add("dtend", window.end)
        event.add("summary", request.title)
        event.add("sequence", moves[window.request])
        event.add(
            "description",
            f"Impact {window.impact:,.0f} user-minutes ({by_region}). Version {final.version}, {final.status}.",
        )
        event.add("status", "CONFIRMED" if final.approved else "TENTATIVE")
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical
