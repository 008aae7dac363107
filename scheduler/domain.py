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
SameTime = Literal["local", "utc", "free"]


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
class Repeat:
    """How a request repeats: one occurrence per period of ``every``, from the request's earliest.

    ``count`` or ``until`` (the last period starts before it) bound the periods; without either,
    they are the periods that lie wholly inside the horizon and end by the deadline. ``zone`` is
    the zone whose wall clock ``same_time: local`` keeps.
    """

    every: timedelta
    same_time: SameTime
    zone: str
    count: int | None = None
    until: datetime | None = None


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
    repeat: Repeat | None = None
    # Extension: label matchers (name, value), sorted, of the Alertmanager silence over each announced window.
    silence: tuple[tuple[str, str], ...] = ()
    # An occurrence (``ID#3``) of a repeated request: that request's id, and the period it starts in.
    series: str | None = None
    period: TimeRange | None = None

    @property
    def number(self) -> int | None:
        """Which occurrence this is (3 for ``ID#3``); None for a request that stands for itself."""
        return int(self.id.rpartition("#")[2]) if self.series is not None else None


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
    # What fixes each of them: "started", "pinned" or "announced" (for the "why here" of their windows).
    fixed_by: dict[str, str] = field(default_factory=dict)
    # Windows kept from the previous version, by request id: their notice was given when they were
    # first proposed there, so ``notice`` does not forbid that start again.
    noticed: dict[str, datetime] = field(default_factory=dict)

    @cached_property
    def series(self) -> dict[str, Series]:
        """Each repeated request's occurrences, by the request's id."""
        from scheduler.repeats import expand  # here: that module builds on this one

        return {request.id: expand(self, request) for request in self.requests if request.repeat is not None}

    @cached_property
    def occurrences(self) -> tuple[Request, ...]:
        """What is placed: each one-off request, and each occurrence ``ID#k`` of a repeated one."""
        from scheduler.repeats import waiting_for_repeats

        return tuple(
            occurrence
            for request in self.requests
            for occurrence in (
                self.series[request.id].occurrences
                if request.repeat is not None
                else (waiting_for_repeats(self, request),)
            )
        )

    @cached_property
    def occurrence_ids(self) -> frozenset[str]:
        return frozenset(occurrence.id for occurrence in self.occurrences)

    @cached_property
    def request_by_id(self) -> dict[str, Request]:
        """Requests as written and occurrences (``ID#k``), by id."""
        return {request.id: request for request in (*self.requests, *self.occurrences)}

    @cached_property
    def stakeholder_by_id(self) -> dict[str, Stakeholder]:
        return {stakeholder.id: stakeholder for stakeholder in self.stakeholders}

    @cached_property
    def period_names(self) -> dict[str, str]:
        """The name of each event period's rule id, for showing next to the id."""
        return {period.rule: period.name for event in self.events for period in event.periods}

    def objections_on(self, request_id: str) -> tuple[Objection, ...]:
        """The objections on a request; an occurrence's include those on its repeated request."""
        series = self.request_by_id[request_id].series if request_id in self.request_by_id else None
        return tuple(o for o in self.objections if o.request == request_id or (series and o.request == series))


@dataclass(frozen=True)
class Series:
    """A repeated request's occurrences and, for a same-time one, where each may start.

    ``starts[k, o]`` is the slot at which occurrence k+1 starts at offset o (any integer: outside
    ``0..count-1`` is outside the horizon); ``exists[k, o]`` is false where that offset's local
    time does not exist in period k+1, which rules the offset out. Empty for ``same_time: free``.
    """

    request: Request
    occurrences: tuple[Request, ...]
    starts: NDArray[np.int64]
    exists: NDArray[np.bool_]

    @property
    def tied(self) -> bool:
        """Whether every occurrence starts at the same offset into its period."""
        assert self.request.repeat is not None
        return self.request.repeat.same_time != "free"


@dataclass(frozen=True)
class Recurrence:
    """A same-time request with every occurrence scheduled, as one recurring calendar event."""

    request: str
    rrule: str
    dtstart: datetime
    zone: str


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
    recurrences: tuple[Recurrence, ...] = ()

    @cached_property
    def window_by_request(self) -> dict[str, Window]:
        return {window.request: window for window in self.windows}
