"""The database's tables as ORM rows (SQLAlchemy 2), one ``…Row`` class per table. Migrations live in
``api/migrations``; engines and sessions in ``api/db.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from api.db import utcnow

# A plan's clock: "live", the server's; "scenario", a rehearsal on the scenario's own clock and ``at``.
PlanClock = Literal["live", "scenario"]
# What a stakeholder's token may do: all their stakeholder may, or only read deploy gates (for pipelines).
TokenUse = Literal["all", "gate", "page"]  # "page": a review page's signed-in session


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the database (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime()}


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The body it was created from: read once per process, not with every request that looks the plan up.
    scenario: Mapped[dict[str, Any]] = mapped_column(deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock: Mapped[str] = mapped_column(String(10), default="live")  # a PlanClock
    # Where the announced windows' silences go; None: the server's NEGOTIATOR_ALERTMANAGER_URL, if any.
    alertmanager_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)


class TokenRow(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    stakeholder: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the token; the token is never stored
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    use: Mapped[str] = mapped_column(String(10), default="all", server_default="all")  # a TokenUse


class ChangeRow(Base):
    """One accepted change, stored before the reply; the solver folds pending ones into a version."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    __table_args__ = (UniqueConstraint("plan_id", "seq"),)

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # position in the plan's history: the N of ``veto:N``
    by: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    step: Mapped[dict[str, Any]] = mapped_column()  # the step in scenario form, ``by`` and ``at`` included
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    alone: Mapped[bool] = mapped_column(Boolean, default=False)  # replayed on its own (a scenario's steps)
    pending: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    batch: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the solve that took it in
    accepted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)  # the step as in the JSON output


class VersionRow(Base):
    __tablename__ = "versions"

    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column()  # docs/format.md section 6, with the ids of the changes it includes
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The problem this version solved (``scheduler.state.problem_json``), written once.
    problem: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    # On the newest version: the negotiation's state after every change solved so far (announced,
    # pinned, withdrawn, overrides, the clock) and the last change taken in. Where the next solve starts.
    state: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)


class AuditRow(Base):
    """Append-only and chained: each entry carries the keyed hash of the one before it in its plan."""

    __tablename__ = "audit"
    __table_args__ = (UniqueConstraint("plan_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column()
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """Where a plan's audit chain ends: its length and last hash, keyed, so that entries deleted
    from the end, or the whole log, are found. ``mac`` is None for a chain written before the audit
    key, until the server keys it at start; it stays None if that chain was no longer intact."""

    __tablename__ = "audit_heads"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)


class IdempotentReplyRow(Base):
    """The reply to a POST sent with an ``Idempotency-Key``, replayed when the client retries."""

    __tablename__ = "idempotent_replies"
    __table_args__ = (UniqueConstraint("token_hash", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    # What was asked (plan, action, body), hashed: the same key with another request is refused.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column()


class AdminKeyRow(Base):
    """The hash of the admin token a fresh server made for itself (when none was configured)."""

    __tablename__ = "admin_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedRow(Base):
    """A secret calendar URL: calendar apps subscribe to it without a bearer header."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    stakeholder: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(10))  # "plan": every window; "mine": the stakeholder's scope
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # the secret itself is shown once
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookRow(Base):
    """A stakeholder's URL, told of every new version and of windows about to start."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    stakeholder: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(100))  # ``whsec_…``: needed in clear to sign each message
    reminders: Mapped[list[int]] = mapped_column(JSON)  # lead times in minutes
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DeliveryRow(Base):
    """One message to one webhook; ``key`` makes it once per version or reminder."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)  # ``webhook-id``, the same on every retry
    key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), index=True)  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SilenceRow(Base):
    """An Alertmanager silence over one announced window, written in the transaction of the version
    that announced (or moved, or removed) the window, and sent by the courier like a message.

    ``state``: ``creating`` (to be posted), ``active`` (posted; ``silence_id`` is Alertmanager's),
    ``expiring`` (to be expired), ``expired`` (done), ``failed`` (gave up after every attempt).
    """

    __tablename__ = "silences"
    __table_args__ = (UniqueConstraint("plan_id", "request", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id"), index=True)
    request: Mapped[str] = mapped_column(String(220))  # the request or occurrence (``ID#3``)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    matchers: Mapped[dict[str, Any]] = mapped_column()  # label name -> value
    url: Mapped[str] = mapped_column(String(2000))  # the Alertmanager's base URL
    comment: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), index=True)
    silence_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DeliveryAttemptRow(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    at: Mapped[datetime] = mapped_column()
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
