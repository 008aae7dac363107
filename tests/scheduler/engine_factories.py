"""Plain factories for the engine's dataclasses, and independent readings of docs/format.md sections 4 and 5.1.

The factories build ``scheduler.domain`` objects directly (no scenario loader). The oracles
(``reference_*``, ``window_violations``) restate the contract in the most literal way: loops over
slots, regions and services, ``zoneinfo`` for local hours. They never call the engine, so a test
comparing the two checks the engine against docs/format.md, not against itself.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.domain import (
    Event,
    Objection,
    Problem,
    Profile,
    Region,
    Request,
    Stakeholder,
    TimeRange,
    Version,
)
from scheduler.timeline import SlotGrid

T0 = datetime(2024, 6, 3, tzinfo=UTC)  # a Monday, 00:00 UTC
HOUR = timedelta(hours=1)
FLAT = Profile((0.5,) * 24)


def make_grid(*, start: datetime = T0, slot_minutes: int = 60, count: int = 24) -> SlotGrid:
    """A horizon of ``count`` slots from ``start``."""
    return SlotGrid(start=start, slot_minutes=slot_minutes, count=count)


def make_profile(values: list[float] | tuple[float, ...] | None = None) -> Profile:
    """An hourly (24 values) or weekly (168 values) profile; flat 0.5 by default."""
    return FLAT if values is None else Profile(tuple(float(value) for value in values))


def make_region(id: str = "r1", **overrides: Any) -> Region:
    """A UTC region of 1000 users with a flat profile spending everything on service ``all``."""
    fields: dict[str, Any] = {
        "id": id,
        "timezone": "UTC",
        "users": 1000.0,
        "profile": FLAT,
        "shares": {"all": 1.0},
    }
    fields.update(overrides)
    return Region(**fields)


def make_request(id: str = "q1", **overrides: Any) -> Request:
    """A one-hour request on region ``r1``, service ``all``, anywhere in the default horizon."""
    fields: dict[str, Any] = {
        "id": id,
        "title": id,
        "duration": HOUR,
        "earliest": T0,
        "deadline": T0 + 24 * HOUR,
        "services": frozenset({"all"}),
        "regions": frozenset({"r1"}),
    }
    fields.update(overrides)
    return Request(**fields)


def make_event(id: str = "e1", **overrides: Any) -> Event:
    """A blackout over the whole default horizon, region ``r1``, service ``all``, as one period."""
    fields: dict[str, Any] = {
        "name": id,
        "regions": frozenset({"r1"}),
        "services": frozenset({"all"}),
        "start": T0,
        "end": T0 + 24 * HOUR,
        "weight": None,
        "blackout": True,
    }
    fields.update(overrides)
    return Event.spanning(id, fields.pop("start"), fields.pop("end"), **fields)


def make_stakeholder(id: str = "s1", **overrides: Any) -> Stakeholder:
    """A representative of region ``r1`` and service ``all``."""
    fields: dict[str, Any] = {
        "id": id,
        "name": id,
        "role": "representative",
        "regions": frozenset({"r1"}),
        "services": frozenset({"all"}),
    }
    fields.update(overrides)
    return Stakeholder(**fields)


def make_objection(rule: str = "veto:0", **overrides: Any) -> Objection:
    """A veto by ``s1`` on ``q1`` over the whole default horizon."""
    fields: dict[str, Any] = {
        "rule": rule,
        "by": "s1",
        "request": "q1",
        "kind": "veto",
        "avoid": (TimeRange(T0, T0 + 24 * HOUR),),
    }
    fields.update(overrides)
    return Objection(**fields)


def make_problem(**overrides: Any) -> Problem:
    """One region, one service, one request, 24 hourly slots from ``T0``; ``now`` at the start."""
    grid = overrides.get("grid", make_grid())
    fields: dict[str, Any] = {
        "name": "test",
        "grid": grid,
        "now": grid.start,
        "services": {"all": 1.0},
        "regions": (make_region(),),
        "requests": (make_request(),),
    }
    fields.update(overrides)
    return Problem(**fields)


def with_requests(problem: Problem, *requests: Request) -> Problem:
    """``problem`` with its requests replaced."""
    return replace(problem, requests=tuple(requests))


# --- Independent oracle of docs/format.md section 4 -------------------------------------------------------


def _activity(region: Region, instant: datetime) -> float:
    local = instant.astimezone(ZoneInfo(region.timezone))
    values = region.profile.values
    if len(values) == 168:
        return values[local.weekday() * 24 + local.hour]
    return values[local.hour]


def _event_multiplier(problem: Problem, region: str, service: str, instant: datetime) -> float:
    multiplier = 1.0
    for event in problem.events:
        if event.blackout or event.weight is None:
            continue
        covers = any(region in p.regions and p.start <= instant < p.end for p in event.periods)
        if service in event.services and covers:
            multiplier *= event.weight
    return multiplier


def _objection_factor(problem: Problem, request: Request, region: str, instant: datetime) -> float:
    largest: dict[str, float] = {}
    for objection in problem.objections:
        if objection.request != request.id or objection.kind != "soft":
            continue
        if any(span.start <= instant < span.end for span in objection.avoid):
            largest[objection.by] = max(largest.get(objection.by, 0.0), objection.weight)
    stakeholders = {stakeholder.id: stakeholder for stakeholder in problem.stakeholders}
    factor = 1.0
    for by, weight in largest.items():
        stakeholder = stakeholders[by]
        if stakeholder.role == "approver" or region in stakeholder.regions:
            factor *= weight
    return factor


def reference_impact_by_region(problem: Problem, request: Request, start: datetime) -> dict[str, float]:
    """docs/format.md section 4, impact_by_region of ``request`` placed at ``start``, restated literally."""
    slot = timedelta(minutes=problem.grid.slot_minutes)
    slots = max(1, math.ceil(request.duration / slot))
    by_region: dict[str, float] = {}
    for region in problem.regions:
        if region.id not in request.regions:
            continue
        total = 0.0
        for i in range(slots):
            instant = start + i * slot
            harm = sum(
                region.shares[service] * _event_multiplier(problem, region.id, service, instant)
                for service in request.services
            )
            total += (
                region.users
                * _activity(region, instant)
                * _objection_factor(problem, request, region.id, instant)
                * harm
            )
        by_region[region.id] = request.severity * problem.grid.slot_minutes * total
    return by_region


def reference_impact(problem: Problem, request: Request, start: datetime) -> float:
    """docs/format.md section 4, impact of ``request`` placed at ``start``."""
    return sum(reference_impact_by_region(problem, request, start).values())


# --- Independent oracle of docs/format.md sections 3 and 5.1 ------------------------------------------------


def window_end(problem: Problem, request: Request, start: datetime) -> datetime:
    """End of a window of ``request`` at ``start``: whole slots, ceil(duration / slot)."""
    slot = timedelta(minutes=problem.grid.slot_minutes)
    return start + max(1, math.ceil(request.duration / slot)) * slot


def _touches(range_start: datetime, range_end: datetime, start: datetime, end: datetime, slot: timedelta) -> bool:
    """Whether a slot of [start, end) belongs to the range (slot start s with range.start <= s < range.end)."""
    instant = start
    while instant < end:
        if range_start <= instant < range_end:
            return True
        instant += slot
    return False


def single_request_violations(problem: Problem, request: Request, start: datetime) -> list[str]:
    """The docs/format.md section 5.1 rules about one request that a window at ``start`` breaks."""
    grid = problem.grid
    slot = timedelta(minutes=grid.slot_minutes)
    end = window_end(problem, request, start)
    broken: list[str] = []
    if (start - grid.start) % slot != timedelta(0):
        broken.append("slot boundary")
    if start < grid.start or end > grid.start + grid.count * slot:
        broken.append("horizon")
    if start < request.earliest:
        broken.append("earliest")
    if start < problem.now + request.notice:
        broken.append("notice")
    if end > request.deadline:
        broken.append("deadline")
    for event in problem.events:
        if not event.blackout or not event.services & request.services:
            continue
        for period in event.periods:
            if period.regions & request.regions and _touches(period.start, period.end, start, end, slot):
                broken.append(period.rule)
    for objection in problem.objections:
        if objection.request != request.id or objection.kind != "veto":
            continue
        if any(_touches(span.start, span.end, start, end, slot) for span in objection.avoid):
            broken.append(objection.rule)
    return broken


def window_violations(problem: Problem, version: Version) -> list[str]:
    """Every docs/format.md section 3 and 5 rule the version's windows break (empty when all hold)."""
    broken: list[str] = []
    windows = version.window_by_request
    for window in version.windows:
        request = problem.request_by_id[window.request]
        if window.end != window_end(problem, request, window.start):
            broken.append(f"{window.request}: end {window.end} is not start + ceil(duration/slot) slots")
        broken += [f"{window.request}: {rule}" for rule in single_request_violations(problem, request, window.start)]
        for predecessor in request.after:
            before = windows.get(predecessor)
            if before is None:
                broken.append(f"{window.request}: scheduled although {predecessor} is not")
            elif window.start < before.end:
                broken.append(f"{window.request}: starts before {predecessor} ends")
    for first in version.windows:
        for second in version.windows:
            if first.request >= second.request:
                continue
            shared = problem.request_by_id[first.request].resources & problem.request_by_id[second.request].resources
            if shared and first.start < second.end and second.start < first.end:
                broken.append(f"{first.request} and {second.request} overlap on {sorted(shared)}")
    return broken
