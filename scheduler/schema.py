"""The scenario format (docs/format.md section 2) as pydantic models: the one schema of files and HTTP bodies.

Field-level rules live here; rules that relate fields to each other (references, unique ids,
cycles) are checked by ``scheduler.scenario`` when it builds the engine's dataclasses.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from scheduler.timeline import format_duration, format_utc, parse_duration, parse_instant

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=200)]
# Free text is bounded too: what is stored is served back in every read of the audit log.
Title = Annotated[str, StringConstraints(max_length=300)]
Reason = Annotated[str, StringConstraints(max_length=2_000)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
# A request, or one occurrence of a repeated request (``weekly-patch#3``).
RequestRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*(#[1-9][0-9]*)?$", max_length=210)]
Instant = Annotated[
    datetime,
    PlainValidator(parse_instant),
    PlainSerializer(format_utc, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "ISO 8601 with offset or Z, or 'YYYY-MM-DD HH:MM Area/City'",
            "examples": ["2009-06-15 21:45 America/Los_Angeles", "2009-06-16T04:45:00Z"],
        }
    ),
]
Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "description": "90m, 1h30m, 2h, 1d or ISO 8601 PT1H30M"}),
]
Share = Annotated[float, Field(ge=0, le=1)]
Weight = Annotated[float, Field(gt=0)]


class Strict(BaseModel):
    """Unknown keys are an error: a typo must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HorizonIn(Strict):
    start: Instant
    end: Instant
    slot_minutes: Literal[1, 5, 10, 15, 30, 60] = 15


class ProfileIn(Strict):
    """Exactly one of ``hourly`` (24 values), ``weekly`` (168, Monday 00:00 first) or ``csv``."""

    hourly: list[Share] | None = None
    weekly: list[Share] | None = None
    csv: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ProfileIn:
        given = [key for key in ("hourly", "weekly", "csv") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of hourly, weekly or csv")
        if self.hourly is not None and len(self.hourly) != 24:
            raise ValueError(f"hourly needs 24 values, got {len(self.hourly)}")
        if self.weekly is not None and len(self.weekly) != 168:
            raise ValueError(f"weekly needs 168 values, got {len(self.weekly)}")
        return self


class RegionIn(Strict):
    id: Id
    timezone: str
    users: Annotated[float, Field(gt=0)]
    profile: Annotated[
        Annotated[str, Tag("name")] | Annotated[ProfileIn, Tag("inline")],
        Discriminator(lambda value: "name" if isinstance(value, str) else "inline"),
    ]
    services: dict[Id, Share] | None = None
    # Whose public holidays the region keeps: ISO 3166-1 alpha-2 (DE), or with a subdivision (DE-BY).
    country: str | None = None


class RangeIn(Strict):
    start: Instant
    end: Instant


class EventIn(Strict):
    """Its periods come from exactly one of start/end, ``holidays: true`` and ``ics``/``ics_text``.

    Which one is checked by the scenario loader, which names the field.
    """

    id: Id
    name: Title | None = None
    regions: list[Id] | None = None
    services: list[Id] | None = None
    start: Instant | None = None
    end: Instant | None = None
    holidays: bool | None = None  # true: every public holiday of each covered region's country
    ics: str | None = None  # an iCalendar file, relative to the scenario's directory
    ics_text: str | None = None  # an iCalendar file's text (over HTTP)
    weight: Weight | None = None
    blackout: bool | None = None

    @model_validator(mode="after")
    def _weight_or_blackout(self) -> EventIn:
        if (self.weight is None) == (not self.blackout):
            raise ValueError("give exactly one of weight (> 0) and blackout: true")
        return self


class RepeatIn(Strict):
    """One occurrence per period of ``every`` (whole days), from the request's earliest."""

    every: Duration
    count: Annotated[int, Field(ge=1, le=1000)] | None = None
    until: Instant | None = None  # the last period starts before it
    same_time: Literal["local", "utc", "free"] = "local"
    zone: str | None = None  # whose wall clock same_time: local keeps; default the first region's

    @field_validator("every")
    @classmethod
    def _whole_days(cls, every: timedelta) -> timedelta:
        if every <= timedelta(0) or every % timedelta(days=1):
            raise ValueError(f"must be a whole number of days such as 1d, 7d, 1w or 2w, got {format_duration(every)}")
        return every

    @model_validator(mode="after")
    def _count_or_until(self) -> RepeatIn:
        if self.count is not None and self.until is not None:
            raise ValueError("give count or until, not both")
        return self


LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SilenceIn(Strict):
    """Extension: the Alertmanager silence each announced window of the request gets."""

    matchers: dict[str, Annotated[str, StringConstraints(max_length=200)]] = Field(
        description="label name -> value; an alert is silenced when every one matches"
    )

    @field_validator("matchers")
    @classmethod
    def _labels(cls, matchers: dict[str, str]) -> dict[str, str]:
        if not matchers:
            raise ValueError("give at least one label and its value, such as {service: web}")
        for name, value in matchers.items():
            if not LABEL_NAME.fullmatch(name) or len(name) > 100:
                raise ValueError(f"{name[:60]!r} is not a label name: letters, digits and _, not starting with a digit")
            if not value:
                raise ValueError(f"label {name!r} needs a value")
        return matchers


class RequestIn(Strict):
    id: Id
    title: Title | None = None
    duration: Duration
    earliest: Instant | None = None
    deadline: Instant | None = None
    preferred: Instant | None = None
    services: list[Id] | None = None
    regions: list[Id] | None = None
    severity: Annotated[float, Field(gt=0, le=1)] = 1.0
    resources: list[Id] = []
    after: list[Id] = []
    notice: Duration = timedelta(0)
    requested_by: Id | None = None
    # Extension: the withdrawn request this one stands for again; its vetoes carry over.
    replaces: Id | None = None
    repeat: RepeatIn | None = None
    silence: SilenceIn | None = None

    @field_validator("duration")
    @classmethod
    def _positive(cls, duration: timedelta) -> timedelta:
        if duration <= timedelta(0):
            raise ValueError("must be longer than 0")
        return duration

    @field_validator("notice")
    @classmethod
    def _not_negative(cls, notice: timedelta) -> timedelta:
        if notice < timedelta(0):
            raise ValueError("must not be negative")
        return notice


class StakeholderIn(Strict):
    id: Id
    name: Title | None = None
    role: Literal["requester", "representative", "approver", "observer"]
    regions: list[Id] | None = None
    services: list[Id] | None = None


class StepBase(Strict):
    at: Instant | None = None
    by: Id


class ObjectStep(StepBase):
    action: Literal["object"]
    request: RequestRef
    kind: Literal["veto", "soft"]
    avoid: list[RangeIn] | None = None
    weight: Weight | None = None
    reason: Reason | None = None  # weight applies to soft objections only; a veto ignores it


class DeclareEventStep(StepBase):
    action: Literal["declare_event"]
    event: EventIn


class SubmitStep(StepBase):
    action: Literal["submit"]
    request: RequestIn


class WithdrawStep(StepBase):
    action: Literal["withdraw"]
    request: Id


class ApproveStep(StepBase):
    action: Literal["approve"]
    version: Annotated[int, Field(ge=1)] | None = None  # extension: refused unless it is still the latest


class CounterStep(StepBase):
    """Extension: propose another start for a request and see its impact (changes nothing)."""

    action: Literal["counter"]
    request: RequestRef
    start: Instant
    reason: Reason | None = None


class PinStep(StepBase):
    """Extension: an approver fixes a request at an allowed start."""

    action: Literal["pin"]
    request: RequestRef
    start: Instant
    reason: Reason | None = None


class OverrideVetoStep(StepBase):
    """Extension: approvers lift a veto; it takes two different approvers."""

    action: Literal["override_veto"]
    veto: Annotated[str, StringConstraints(pattern=r"^veto:\d+$")]
    reason: Reason | None = None


class RemoveEventStep(StepBase):
    """Extension: approvers remove an event; a blackout, which forbids like a veto, takes two different approvers."""

    action: Literal["remove_event"]
    event: Id
    reason: Reason | None = None


StepIn = Annotated[
    ObjectStep
    | DeclareEventStep
    | SubmitStep
    | WithdrawStep
    | ApproveStep
    | CounterStep
    | PinStep
    | OverrideVetoStep
    | RemoveEventStep,
    Field(discriminator="action"),
]
STEP_ACTIONS = (
    "object",
    "declare_event",
    "submit",
    "withdraw",
    "approve",
    "counter",
    "pin",
    "override_veto",
    "remove_event",
)


class ScenarioIn(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+$", max_length=200)]
    description: Description | None = None
    horizon: HorizonIn
    now: Instant | None = None
    services: dict[Id, Share] | None = None
    regions: Annotated[list[RegionIn], Field(min_length=1)]
    events: list[EventIn] = []
    requests: list[RequestIn] = []
    stakeholders: list[StakeholderIn] = []
    negotiation: list[StepIn] = []
