"""What is scheduled: the plain frozen dataclasses the engine takes and returns.

All instants are aware UTC datetimes; the scenario loader builds these from the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from scheduler.timeline import SlotGrid

Role = Literal["requester", "representative", "approver", "observer"]
Status = Literal["optimal", "feasible", "infeasible"]


@dataclass(frozen=True)
class Profile:
    """Share of a region's users active in each local hour (24 values) or hour of week (168)."""

    values: tuple[float, ...]

    @property
    def weekly(self) -> bool:
        return len(self.values) == 168

    def activity(self, hours: NDArray[np.int64], weekdays: NDArray[np.int64]) -> NDArray[np.float64]:
        """Activity for slots with the given local hours and weekdays (Monday 0)."""
        table = np.asarray(self.values, dtype=np.float64)
        return table[weekdays * 24 + hours] if self.weekly else table[hours]


@dataclass(frozen=True)
class Region:
    id: str
    timezone: str
    users: float
    profile: Profile
    shares: dict[str, float]  # service id -> share of this region's activity spent on it
    country: str | None = None  # ISO 3166-1 code, or with a subdivision (DE-BY): whose public holidays it keeps


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Period:
    """One stretch of time an event covers, in some of its regions.

    ``rule`` is the id shown in reasons (``event:ID``, ``event:holidays:DE:2026-12-25``,
    ``event:ID:UID``); ``name`` is what a person reads (the event's name, a holiday's name).
    """

    rule: str
    name: str
    start: datetime
    end: datetime
    regions: frozenset[str]


@dataclass(frozen=True)
class Event:
    """A critical period, or several (each public holiday, each occurrence of a calendar's events).

    Every period covers the event's services; its regions are among the event's.
    """

    id: str
    name: str
    regions: frozenset[str]
    services: frozenset[str]
    periods: tuple[Period, ...]
    weight: float | None = None
    blackout: bool = False

    @classmethod
    def spanning(
        cls,
        id: str,
        start: datetime,
        end: datetime,
        *,
        regions: frozenset[str],
        services: frozenset[str],
        name: str | None = None,
        weight: float | None = None,
        blackout: bool = False,
    ) -> Event:
        """An event of one period from ``start`` to ``end`` over all its regions, ruled as ``event:ID``."""
        name = name or id
        period = Period(f"event:{id}", name, start, end, regions)
        return cls(id, name, regions, services, (period,), weight=weight, blackout=blackout)


@dataclass(frozen=True)
class Request:
    id: str
    title: str
    duration: timedelta
    earliest: datetime
    deadline: datetime
    services: frozenset[str]
    regions: frozenset[str]
    preferred: datetime | None = None
    severity: float = 1.0
    resources: frozenset[str] = frozenset()
    after: tuple[str, ...] = ()
    notice: timedelta = timedelta(0)
    requested_by: str | None = None
    replaces: str | None = None  # a withdrawn request this one stands for again: its vetoes carry over


@dataclass(frozen=True)
class Stakeholder:
    id: str
    name: str
    role: Role
    regions: frozenset[str]
    services: frozenset[str]


@dataclass(frozen=True)
class Objection:
    """An accepted objection; ``rule`` (``veto:3``) is the id shown in reasons."""

    rule: str
    by: str
    request: str
    kind: Literal["veto", "soft"]
    avoid: tuple[TimeRange, ...]
    weight: float = 10.0
    reason: str | None = None


@dataclass(frozen=True)
class Problem:
    """Everything the optimizer needs for one version."""

    name: str
    grid: SlotGrid
    now: datetime
    services: dict[str, float]
    regions: tuple[Region, ...]
    requests: tuple[Request, ...]
    events: tuple[Event, ...] = ()
    stakeholders: tuple[Stakeholder, ...] = ()
    objections: tuple[Objection, ...] = ()
    # Windows that must stay where they are (started or announced), by request id.
    fixed: dict[str, datetime] = field(default_factory=dict)
    # Windows kept from the previous version, by request id: their notice was given when they were
    # first proposed there, so ``notice`` does not forbid that start again.
    noticed: dict[str, datetime] = field(default_factory=dict)

    @cached_property
    def request_by_id(self) -> dict[str, Request]:
        return {request.id: request for request in self.requests}

    @cached_property
    def stakeholder_by_id(self) -> dict[str, Stakeholder]:
        return {stakeholder.id: stakeholder for stakeholder in self.stakeholders}

    @cached_property
    def period_names(self) -> dict[str, str]:
        """The name of each event period's rule id, for showing next to the id."""
        return {period.rule: period.name for event in self.events for period in event.periods}

    def objections_on(self, request_id: str) -> tuple[Objection, ...]:
        return tuple(objection for objection in self.objections if objection.request == request_id)


@dataclass(frozen=True)
class Window:
    request: str
    start: datetime
    end: datetime
    impact: float
    impact_by_region: dict[str, float]
    preferred_impact: float | None = None


@dataclass(frozen=True)
class Unscheduled:
    request: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Version:
    version: int
    now: datetime
    status: Status
    objective: float
    bound: float
    windows: tuple[Window, ...]
    unscheduled: tuple[Unscheduled, ...]
    approved: bool = False
    moved: tuple[str, ...] = ()
    moved_announced: tuple[str, ...] = ()
    # Requests this version has (scheduled or not) that the previous one had not, and the reverse.
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @cached_property
    def window_by_request(self) -> dict[str, Window]:
        return {window.request: window for window in self.windows}
