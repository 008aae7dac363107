"""Request bodies of the HTTP API, built from the scenario schema's own field types."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, UrlConstraints, field_validator

from scheduler.schema import Duration, Instant, RangeIn, RequestRef, Strict, Weight


class ChangeBase(Strict):
    at: Instant | None = Field(
        default=None,
        description="rehearsal plans only, from an approver, inside the horizon: moves the plan's now forward; "
        "a live plan takes every change at the server's time and answers 422 to an `at`",
    )


class ObjectionCreate(ChangeBase):
    """As an ``object`` step: a veto or a weighted soft objection to one request, or to one occurrence (``ID#3``)."""

    request: RequestRef
    kind: Literal["veto", "soft"]
    avoid: list[RangeIn] | None = Field(default=None, description="default: the request's current window")
    weight: Weight | None = Field(default=None, description="soft only; default 10")
    reason: str | None = None


class CounterCreate(ChangeBase):
    """Extension: another start for a request (or an occurrence), to see its impact; changes nothing."""

    request: RequestRef
    start: Instant
    reason: str | None = None


class PinCreate(CounterCreate):
    """Extension: an approver fixes a request at an allowed start."""


class OverrideCreate(ChangeBase):
    """Extension: lift a veto; it takes two different approvers."""

    veto: Annotated[str, Field(pattern=r"^veto:\d+$", examples=["veto:3"])]
    reason: str | None = None


class ChangeAccepted(Strict):
    """A change stored, to be solved into a version."""

    change: int
    status: Literal["pending"] = "pending"
    href: str


class Read(BaseModel):
    """Answers: documented in the OpenAPI document, sent as stored."""

    model_config = ConfigDict(extra="allow")


class CounterRead(Read):
    """What a counter-proposal would do now; nothing is changed or stored."""

    request: str
    start: str
    impact: float = Field(description="user-minutes of the request's window at `start`")
    impact_by_region: dict[str, float]
    current_impact: float | None = Field(description="the impact of its window now; null if it has none")
    allowed: bool
    blocked_by: list[str] = Field(description="rule ids that forbid `start`; empty when allowed")


class PlanCreated(Read):
    id: str


class PlanSummary(Read):
    id: str
    name: str
    clock: Literal["live", "scenario"]
    created_at: str
    latest_version: int | None = Field(description="null while the first version is being solved")


class StakeholderTokens(Read):
    id: str
    name: str
    role: str
    tokens: int = Field(description="tokens that still work")


class PlanRead(PlanSummary):
    pending_changes: int
    stakeholders: list[StakeholderTokens]


class TokensRevoked(Read):
    stakeholder: str
    revoked: int = Field(description="how many tokens stopped working")


class TokenCreated(Read):
    token: str = Field(description="shown once: only its hash is stored")


class AlternativeRead(Read):
    start: str
    impact: float


class BlockerRead(Read):
    rule: str = Field(description="veto:N, event:ID, deadline, notice, resource:R with request:X, pinned, ...")
    starts: int = Field(description="how many cheaper starts it rules out")
    cheapest_impact: float


class WhyRead(Read):
    """Why the window is where it is (docs/format.md section 5.3)."""

    alternatives: list[AlternativeRead] = Field(description="the next-best allowed starts")
    cheaper_blocked_by: list[BlockerRead]
    fixed: Literal["started", "pinned", "announced", "fixed"] | None = Field(
        default=None, description="present when the window stays where it is whatever costs less"
    )


class WindowRead(Read):
    request: str
    start: str = Field(description="UTC, e.g. 2009-06-16T04:45:00Z")
    end: str
    impact: float = Field(description="user-minutes")
    impact_by_region: dict[str, float]
    preferred_impact: float | None = Field(default=None, description="present when the request has `preferred`")
    why: WhyRead | None = Field(default=None, description="absent on versions stored before it was kept")


class UnscheduledRead(Read):
    request: str
    reasons: list[str] = Field(
        description="rule ids: deadline, notice, event:ID, veto:N, resource:R with request:X, ..."
    )


class VersionRead(Read):
    """A version as in docs/format.md section 6, with the ids of the changes it includes."""

    version: int
    clock: Literal["live", "scenario"] = Field(
        default="scenario", description="whose time `now` is: the server's (live) or the scenario's (rehearsal)"
    )
    now: str
    status: Literal["optimal", "feasible", "infeasible"]
    objective: float
    bound: float
    approved: bool
    windows: list[WindowRead]
    unscheduled: list[UnscheduledRead]
    moved: list[str]
    added: list[str] = Field(default_factory=list, description="requests new in this version")
    removed: list[str] = Field(default_factory=list, description="requests this version no longer has")
    moved_announced: list[str]
    changes: list[int] = Field(default_factory=list)


class GateWindow(Read):
    start: str
    end: str


class GateRead(Read):
    """A request's deploy gate: open exactly while now lies inside an announced window of it."""

    request: str
    open: bool
    window: GateWindow | None = Field(description="the window holding now, else the next one; null if none is left")
    announced: bool = Field(description="whether that window is announced (its version approved, and it has not moved)")
    next_transition: str | None = Field(
        description="when the gate next opens or closes, as far as the announced windows tell; null: none ahead"
    )


class SilenceRead(Read):
    """An Alertmanager silence over one announced window."""

    id: int
    request: str
    start: str
    end: str
    matchers: dict[str, str]
    state: Literal["creating", "active", "expiring", "expired", "failed"] = Field(
        description="creating: to be posted; active: Alertmanager has it (silence_id); expiring: to be expired; "
        "expired; failed: given up after every attempt"
    )
    silence_id: str | None = Field(description="Alertmanager's id")
    attempts: int
    error: str | None


class VersionSummary(Read):
    version: int
    status: str
    objective: float
    approved: bool
    moved: list[str]
    added: list[str] = []
    removed: list[str] = []
    changes: list[int]


class ChangeRead(Read):
    id: int
    index: int = Field(description="position in the plan's history: the N of veto:N")
    action: str
    by: str
    received_at: str | None
    status: Literal["pending", "accepted", "refused"]
    version: int | None = Field(description="the version it went into (approve: the version approved)")
    reason: str | None = Field(description="why it was refused")
    step: dict[str, Any]


class AuditEntryRead(Read):
    seq: int
    at: str
    actor: str
    action: str
    detail: dict[str, Any]
    previous_hash: str
    hash: str


class AuditRead(Read):
    entries: list[AuditEntryRead]
    intact: bool = Field(description="every entry links to the one before it and matches its hash")


class WebhookCreate(Strict):
    """A URL to tell of every new version and, before each window in scope starts, a reminder."""

    url: Annotated[AnyHttpUrl, UrlConstraints(allowed_schemes=["http", "https"])]
    reminders: list[Duration] | None = Field(
        default=None, description="lead times before a window starts, e.g. ['24h', '1h'] (the default); [] for none"
    )

    @field_validator("reminders")
    @classmethod
    def _positive(cls, leads: list[timedelta] | None) -> list[timedelta] | None:
        for lead in leads or []:
            if not timedelta(minutes=1) <= lead <= timedelta(days=30):
                raise ValueError("a reminder's lead time is between 1m and 30d")
        return leads


class WebhookRead(Read):
    id: int
    stakeholder: str
    url: str
    reminders: list[str]
    created_at: str


class WebhookCreated(WebhookRead):
    secret: str = Field(description="whsec_…: verifies the webhook-signature header; shown once")


class DeliveryAttemptRead(Read):
    at: str
    status_code: int | None = Field(description="the receiver's answer; null when it could not be reached")
    error: str | None
    duration_ms: int


class DeliveryRead(Read):
    id: int
    message_id: str = Field(description="the webhook-id header, the same on every retry")
    type: Literal["version.created", "version.approved", "window.reminder"]
    status: Literal["pending", "delivered", "failed", "cancelled"]
    created_at: str
    delivered_at: str | None
    next_attempt_at: str | None
    payload: dict[str, Any]
    attempts: list[DeliveryAttemptRead]


class FeedCreate(Strict):
    """A secret calendar URL: ``mine`` shows the requests in the stakeholder's scope, ``plan`` all."""

    scope: Literal["plan", "mine"] = "mine"


class FeedRead(Read):
    id: int
    stakeholder: str
    scope: Literal["plan", "mine"]
    created_at: str


class FeedCreated(FeedRead):
    url: str = Field(description="subscribe to it in a calendar app; anyone with it can read the feed")
