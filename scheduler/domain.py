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


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Event:
    id: str
    name: str
    regions: frozenset[str]
    services: frozenset[str]
    start: datetime
    end: datetime
    weight: float | None = None
    blackout: bool = False


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
