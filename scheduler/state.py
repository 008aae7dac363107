"""A negotiation's state as plain JSON, and back: what a service stores so that the next solve, and
every read, starts from what was served instead of solving the history again.

``problem_json`` / ``load_problem`` carry a problem as it was solved (requests, events, objections,
fixed and noticed windows included); ``load_version`` reads a version back from its docs/format.md section 6
JSON; ``negotiation_json`` / ``load_negotiation_state`` carry what a negotiation keeps between
steps (the clock, announced, pinned, withdrawn, overrides). Floats and instants round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from scheduler.domain import (
    Event,
    Objection,
    Period,
    Problem,
    Profile,
    Recurrence,
    Region,
    Repeat,
    Request,
    Stakeholder,
    TimeRange,
    Unscheduled,
    Version,
    Window,
)
from scheduler.timeline import SlotGrid

STATE_VERSION = 1


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _exact(instant: datetime) -> str:
    """An instant to the microsecond (``format_utc``, the JSON output's form, stops at seconds)."""
    return instant.astimezone(UTC).isoformat()


def _seconds(duration: timedelta) -> float:
    return duration.total_seconds()


def _instants(by_request: Mapping[str, datetime]) -> dict[str, str]:
    return {request: _exact(start) for request, start in by_request.items()}


def _load_instants(data: Mapping[str, str]) -> dict[str, datetime]:
    return {request: _instant(start) for request, start in data.items()}


def _range(span: TimeRange) -> dict[str, str]:
    return {"start": _exact(span.start), "end": _exact(span.end)}


def _region(region: Region) -> dict[str, Any]:
    return {
        "id": region.id,
        "timezone": region.timezone,
        "users": region.users,
        "profile": list(region.profile.values),
        "shares": dict(region.shares),
        "country": region.country,
    }


def _request(request: Request) -> dict[str, Any]:
    return {
        "id": request.id,
        "title": request.title,
        "duration": _seconds(request.duration),
        "earliest": _exact(request.earliest),
        "deadline": _exact(request.deadline),
        "services": sorted(request.services),
        "regions": sorted(request.regions),
        "preferred": _exact(request.preferred) if request.preferred is not None else None,
        "severity": request.severity,
        "resources": sorted(request.resources),
        "after": list(request.after),
        "notice": _seconds(request.notice),
        "requested_by": request.requested_by,
        "replaces": request.replaces,
        "repeat": _repeat(request.repeat) if request.repeat is not None else None,
        "silence": dict(request.silence),
    }


def _repeat(repeat: Repeat) -> dict[str, Any]:
    return {
        "every": _seconds(repeat.every),
        "same_time": repeat.same_time,
        "zone": repeat.zone,
        "count": repeat.count,
        "until": _exact(repeat.until) if repeat.until is not None else None,
    }


def _load_repeat(data: Mapping[str, Any] | None) -> Repeat | None:
    if data is None:
        return None
    until = data["until"]
    return Repeat(
        every=timedelta(seconds=data["every"]),
        same_time=data["same_time"],
        zone=data["zone"],
        count=data["count"],
        until=_instant(until) if until is not None else None,
    )


def _event(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "name": event.name,
        "regions": sorted(event.regions),
        "services": sorted(event.services),
        "periods": [
            {
                "rule": period.rule,
                "name": period.name,
                **_range(TimeRange(period.start, period.end)),
                "regions": sorted(period.regions),
            }
            for period in event.periods
        ],
        "weight": event.weight,
        "blackout": event.blackout,
    }


def _stakeholder(stakeholder: Stakeholder) -> dict[str, Any]:
    return {
        "id": stakeholder.id,
        "name": stakeholder.name,
        "role": stakeholder.role,
        "regions": sorted(stakeholder.regions),
        "services": sorted(stakeholder.services),
    }


def _objection(objection: Objection) -> dict[str, Any]:
    return {
        "rule": objection.rule,
        "by": objection.by,
        "request": objection.request,
        "kind": objection.kind,
        "avoid": [_range(span) for span in objection.avoid],
        "weight": objection.weight,
        "reason": objection.reason,
    }


def problem_json(problem: Problem) -> dict[str, Any]:
    """The problem as plain JSON; ``load_problem`` reads it back equal."""
    return {
        "state_version": STATE_VERSION,
        "name": problem.name,
        "grid": {
            "start": _exact(problem.grid.start),
            "slot_minutes": problem.grid.slot_minutes,
            "count": problem.grid.count,
        },
        "now": _exact(problem.now),
        "services": dict(problem.services),
        "regions": [_region(region) for region in problem.regions],
        "requests": [_request(request) for request in problem.requests],
        "events": [_event(event) for event in problem.events],
        "stakeholders": [_stakeholder(stakeholder) for stakeholder in problem.stakeholders],
        "objections": [_objection(objection) for objection in problem.objections],
        "fixed": _instants(problem.fixed),
        "fixed_by": dict(problem.fixed_by),
        "noticed": _instants(problem.noticed),
    }


def _load_event(data: Mapping[str, Any]) -> Event:
    regions, services = frozenset(data["regions"]), frozenset(data["services"])
    weighing: dict[str, Any] = {"weight": data["weight"], "blackout": data["blackout"]}
    if "periods" not in data:  # stored before events had several periods: one, from start to end
        start, end = _instant(data["start"]), _instant(data["end"])
        return Event.spanning(data["id"], start, end, regions=regions, services=services, name=data["name"], **weighing)
    periods = tuple(
        Period(p["rule"], p["name"], _instant(p["start"]), _instant(p["end"]), frozenset(p["regions"]))
        for p in data["periods"]
    )
    return Event(data["id"], data["name"], regions, services, periods, **weighing)


def load_problem(data: Mapping[str, Any]) -> Problem:
    """A problem from ``problem_json``."""
    grid = data["grid"]
    return Problem(
        name=data["name"],
        grid=SlotGrid(start=_instant(grid["start"]), slot_minutes=grid["slot_minutes"], count=grid["count"]),
        now=_instant(data["now"]),
        services=dict(data["services"]),
        regions=tuple(
            Region(
                id=r["id"],
                timezone=r["timezone"],
                users=r["users"],
                profile=Profile(tuple(r["profile"])),
                shares=dict(r["shares"]),
                country=r.get("country"),
            )
            for r in data["regions"]
        ),
        requests=tuple(
            Request(
                id=r["id"],
                title=r["title"],
                duration=timedelta(seconds=r["duration"]),
                earliest=_instant(r["earliest"]),
                deadline=_instant(r["deadline"]),
                services=frozenset(r["services"]),
                regions=frozenset(r["regions"]),
                preferred=_instant(r["preferred"]) if r["preferred"] is not None else None,
                severity=r["severity"],
                resources=frozenset(r["resources"]),
                after=tuple(r["after"]),
                notice=timedelta(seconds=r["notice"]),
                requested_by=r["requested_by"],
                replaces=r.get("replaces"),
                repeat=_load_repeat(r.get("repeat")),
                silence=tuple(sorted(r.get("silence", {}).items())),
            )
            for r in data["requests"]
        ),
        events=tuple(_load_event(e) for e in data["events"]),
        stakeholders=tuple(
            Stakeholder(
                id=s["id"],
                name=s["name"],
                role=s["role"],
                regions=frozenset(s["regions"]),
                services=frozenset(s["services"]),
            )
            for s in data["stakeholders"]
        ),
        objections=tuple(
            Objection(
                rule=o["rule"],
                by=o["by"],
                request=o["request"],
                kind=o["kind"],
                avoid=tuple(TimeRange(_instant(a["start"]), _instant(a["end"])) for a in o["avoid"]),
                weight=o["weight"],
                reason=o["reason"],
            )
            for o in data["objections"]
        ),
        fixed=_load_instants(data["fixed"]),
        fixed_by=dict(data.get("fixed_by", {})),
        noticed=_load_instants(data["noticed"]),
    )


def load_version(body: Mapping[str, Any]) -> Version:
    """A version from its docs/format.md section 6 JSON (keys it does not know, like ``changes``, are ignored)."""
    return Version(
        version=body["version"],
        now=_instant(body["now"]),
        status=body["status"],
        objective=body["objective"],
        bound=body["bound"],
        windows=tuple(
            Window(
                request=w["request"],
                start=_instant(w["start"]),
                end=_instant(w["end"]),
                impact=w["impact"],
                impact_by_region=dict(w["impact_by_region"]),
                preferred_impact=w.get("preferred_impact"),
            )
            for w in body["windows"]
        ),
        unscheduled=tuple(Unscheduled(u["request"], tuple(u["reasons"])) for u in body["unscheduled"]),
        approved=body["approved"],
        moved=tuple(body["moved"]),
        moved_announced=tuple(body["moved_announced"]),
        added=tuple(body.get("added", ())),
        removed=tuple(body.get("removed", ())),
        recurrences=tuple(
            Recurrence(r["request"], r["rrule"], _instant(r["dtstart"]), r["zone"]) for r in body.get("recurrences", ())
        ),
    )


@dataclass(frozen=True)
class NegotiationState:
    """What a negotiation keeps between steps besides its versions and the problems they solved."""

    now: datetime
    announced: dict[str, datetime]
    pinned: dict[str, datetime]
    withdrawn: frozenset[str]
    overrides: dict[str, str]  # veto rule id -> the approver who proposed lifting it


def negotiation_state_json(state: NegotiationState) -> dict[str, Any]:
    return {
        "now": _exact(state.now),
        "announced": _instants(state.announced),
        "pinned": _instants(state.pinned),
        "withdrawn": sorted(state.withdrawn),
        "overrides": dict(state.overrides),
    }


def load_negotiation_state(data: Mapping[str, Any]) -> NegotiationState:
    return NegotiationState(
        now=_instant(data["now"]),
        announced=_load_instants(data["announced"]),
        pinned=_load_instants(data["pinned"]),
        withdrawn=frozenset(data["withdrawn"]),
        overrides=dict(data["overrides"]),
    )
