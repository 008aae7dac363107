"""Webhooks: stakeholders' URLs told of every new version and of windows about to start.

Messages follow the Standard Webhooks convention (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``: HMAC-SHA256 with the webhook's ``whsec_`` secret). A message is a
``DeliveryRow`` written in the same transaction as the version or reminder it tells of, keyed so
that each version or reminder makes one message per webhook; the ``Courier`` thread sends what is
due, retries with exponential backoff and logs every attempt.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook as Signer

from api.background import Background
from api.db import utcnow
from api.errors import Forbidden, NotFound
from api.models import DeliveryAttemptRow, DeliveryRow, WebhookRow
from scheduler.authority import concerns
from scheduler.domain import Problem, Version
from scheduler.notices import WindowChange, changes_between, reminders_due
from scheduler.report import window_json
from scheduler.timeline import SlotGrid, format_duration, format_utc

log = logging.getLogger("negotiator.webhooks")

Clock = Callable[[], datetime]
Solved = tuple[Version, Problem]  # a version and the problem it solved


def create(session: Session, *, plan_id: str, stakeholder: str, url: str, reminders: Sequence[timedelta]) -> WebhookRow:
    """Register a URL for a stakeholder; its signing secret is made here and shown once."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    minutes = sorted({int(lead.total_seconds() // 60) for lead in reminders}, reverse=True)
    webhook = WebhookRow(plan_id=plan_id, stakeholder=stakeholder, url=url, secret=secret, reminders=minutes)
    session.add(webhook)
    session.flush()
    return webhook


def list_webhooks(session: Session, *, plan_id: str, stakeholder: str | None) -> list[WebhookRow]:
    """The plan's active webhooks: a stakeholder's own, or all of them (``stakeholder=None``)."""
    query = select(WebhookRow).where(WebhookRow.plan_id == plan_id, WebhookRow.active).order_by(WebhookRow.id)
    if stakeholder is not None:
        query = query.where(WebhookRow.stakeholder == stakeholder)
    return list(session.scalars(query))


def get_or_raise(session: Session, *, plan_id: str, webhook_id: int, stakeholder: str | None) -> WebhookRow:
    """A webhook of the plan; a stakeholder may only see their own (``None``: the admin)."""
    webhook = session.get(WebhookRow, webhook_id)
    if webhook is None or webhook.plan_id != plan_id or not webhook.active:
        raise NotFound(f"no webhook {webhook_id} in plan {plan_id!r}")
    if stakeholder is not None and webhook.stakeholder != stakeholder:
        raise Forbidden("this webhook belongs to another stakeholder")
    return webhook


def webhook_json(webhook: WebhookRow, *, secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": webhook.id,
        "stakeholder": webhook.stakeholder,
        "url": webhook.url,
        "reminders": [format_duration(timedelta(minutes=m)) for m in webhook.reminders],
        "created_at": format_utc(webhook.created_at),
    }
    if secret:
        out["secret"] = webhook.secret
    return out


def list_deliveries(session: Session, *, webhook: WebhookRow) -> list[dict[str, Any]]:
    """The delivery log of a webhook, newest first, each with its attempts."""
    deliveries = session.scalars(
        select(DeliveryRow).where(DeliveryRow.webhook_id == webhook.id).order_by(DeliveryRow.id.desc())
    ).all()
    attempts: dict[int, list[DeliveryAttemptRow]] = {}
    if deliveries:
        rows = session.scalars(
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.delivery_id.in_([d.id for d in deliveries]))
            .order_by(DeliveryAttemptRow.id)
        )
        for row in rows:
            attempts.setdefault(row.delivery_id, []).append(row)
    return [
        {
            "id": delivery.id,
            "message_id": delivery.message_id,
            "type": delivery.kind,
            "status": delivery.status,
            "created_at": format_utc(delivery.created_at),
            "delivered_at": format_utc(delivery.delivered_at) if delivery.delivered_at else None,
            "next_attempt_at": format_utc(delivery.next_attempt_at) if delivery.next_attempt_at else None,
            "payload": delivery.payload,
            "attempts": [
                {
                    "at": format_utc(attempt.at),
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "duration_ms": attempt.duration_ms,
                }
                for attempt in attempts.get(delivery.id, [])
            ],
        }
        for delivery in deliveries
    ]


# -- what is sent ------------------------------------------------------------------------------


def _change(change: WindowChange, titles: dict[str, str], grid: SlotGrid) -> dict[str, Any]:
    return {
        "request": change.request,
        "title": titles.get(change.request, change.request),
        "change": change.change,
        "window": window_json(change.window, grid) if change.window else None,
        "previous": window_json(change.previous, grid) if change.previous else None,
        "reasons": list(change.reasons),
    }


def _message(kind: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Standard Webhooks payload shape: ``type``, ``timestamp``, ``data``."""
    return {"type": kind, "timestamp": format_utc(now), "data": data}


def _enqueue(session: Session, webhook: WebhookRow, *, key: str, kind: str, payload: dict[str, Any]) -> bool:
    """Add a message unless the webhook already has one with this key; whether it was added."""
    exists = session.scalars(select(DeliveryRow.id).where(DeliveryRow.webhook_id == webhook.id, DeliveryRow.key == key))
    if exists.first() is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                DeliveryRow(
                    webhook_id=webhook.id,
                    message_id=f"msg_{uuid.uuid4().hex}",
                    key=key,
                    kind=kind,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_attempt_at=None,  # at once
                )
            )
    except IntegrityError:  # another process added it first
        return False
    return True


def enqueue_versions(session: Session, *, plan_id: str, solved: Sequence[tuple[Solved | None, Solved]]) -> None:
    """One ``version.created`` message per new version and webhook, with what changed in its scope."""
    webhooks = list_webhooks(session, plan_id=plan_id, stakeholder=None)
    now = utcnow()
    for before, after in solved:
        version, problem = after
        titles = {r.id: r.title for r in (*(before[1].requests if before else ()), *problem.requests)}
        for webhook in webhooks:
            stakeholder = problem.stakeholder_by_id.get(webhook.stakeholder)
            changes = changes_between(before, after, stakeholder)
            data = {
                "plan": plan_id,
                "version": version.version,
                "status": version.status,
                "approved": version.approved,
                "now": format_utc(version.now),
                "stakeholder": webhook.stakeholder,
                "changes": [_change(change, titles, problem.grid) for change in changes],
                # Requests new to the plan, and requests gone from it, within the stakeholder's scope.
                "added": [r for r in version.added if concerns(stakeholder, problem.request_by_id[r])],
                "removed": [
                    r for r in version.removed if before is None or concerns(stakeholder, before[1].request_by_id[r])
                ],
                "href": f"/v1/plans/{plan_id}/versions/{version.version}",
                "page": f"/plans/{plan_id}",
            }
            _enqueue(
                session,
                webhook,
                key=f"version:{version.version}",
                kind="version.created",
                payload=_message("version.created", data, now),
            )


def enqueue_approval(session: Session, *, plan_id: str, number: int) -> None:
    """A ``version.approved`` message per webhook: the version's windows are now announced."""
    now = utcnow()
    for webhook in list_webhooks(session, plan_id=plan_id, stakeholder=None):
        data = {"plan": plan_id, "version": number, "href": f"/v1/plans/{plan_id}/versions/{number}"}
        _enqueue(
            session,
            webhook,
            key=f"approved:{number}",
            kind="version.approved",
            payload=_message("version.approved", data, now),
        )


def enqueue_reminders(session: Session, *, plan_id: str, latest: Solved, now: datetime) -> int:
    """A ``window.reminder`` per window about to start, per webhook and lead time; how many."""
    version, problem = latest
    added = 0
    for webhook in list_webhooks(session, plan_id=plan_id, stakeholder=None):
        if not webhook.reminders:
            continue
        leads = [timedelta(minutes=m) for m in webhook.reminders]
        stakeholder = problem.stakeholder_by_id.get(webhook.stakeholder)
        for due in reminders_due(version, problem, now=now, leads=leads, stakeholder=stakeholder):
            request = problem.request_by_id[due.window.request]
            data = {
                "plan": plan_id,
                "version": version.version,
                "approved": version.approved,
                "request": request.id,
                "title": request.title,
                "lead": format_duration(due.lead),
                "starts_in_minutes": int((due.window.start - now).total_seconds() // 60),
                "window": window_json(due.window, problem.grid),
                "stakeholder": webhook.stakeholder,
                "page": f"/plans/{plan_id}",
            }
            key = f"reminder:{request.id}:{format_utc(due.window.start)}:{format_duration(due.lead)}"
            added += _enqueue(
                session, webhook, key=key, kind="window.reminder", payload=_message("window.reminder", data, now)
            )
    return added


# -- how it is sent ----------------------------------------------------------------------------


def signed_headers(secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, sent at ``at``."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, at, body),
        "content-type": "application/json",
    }


def backoff(attempts: int, first_s: float) -> timedelta:
    """The wait after the ``attempts``-th failure: ``first_s``, doubled each time, at most a day."""
    return timedelta(seconds=min(first_s * 2 ** (attempts - 1), 86_400.0))


class Courier(Background):
    """Sends due messages and adds due reminders, in a background thread of the server process.

    On PostgreSQL a message is sent under ``FOR UPDATE SKIP LOCKED``, so two servers never send
    the same one at once; a message answered with 2xx is never sent again.
    """

    name = "negotiator-courier"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        latest: Callable[[Session, str], Solved | None],
        *,
        poll_s: float,
        timeout_s: float,
        retry_s: float,
        max_attempts: int,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(poll_s=poll_s, log=log)
        self.sessions = sessions
        self.latest = latest
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.max_attempts = max_attempts
        self.clock = clock
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def round(self) -> None:
        self.remind()
        self.send_due()

    def stop(self, timeout_s: float | None = None) -> None:
        super().stop(self.timeout_s + 5 if timeout_s is None else timeout_s)
        self._client.close()

    def remind(self) -> None:
        """Add the reminders due now for every plan with webhooks."""
        with self.sessions() as session:
            plans = sorted(set(session.scalars(select(WebhookRow.plan_id).where(WebhookRow.active))))
        for plan_id in plans:
            with self.sessions() as session:
                latest = self.latest(session, plan_id)
                if latest is not None and enqueue_reminders(session, plan_id=plan_id, latest=latest, now=self.clock()):
                    session.commit()

    def send_due(self) -> int:
        """Send every message whose time has come; how many were delivered."""
        with self.sessions() as session:
            due = session.scalars(
                select(DeliveryRow.id)
                .where(
                    DeliveryRow.status == "pending",
                    or_(DeliveryRow.next_attempt_at.is_(None), DeliveryRow.next_attempt_at <= self.clock()),
                )
                .order_by(DeliveryRow.id)
            ).all()
        return sum(self._send(delivery_id) for delivery_id in due if not self.stopping)

    def _send(self, delivery_id: int) -> bool:
        with self.sessions() as session:
            delivery = session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.id == delivery_id, DeliveryRow.status == "pending")
                .with_for_update(skip_locked=True)
            ).first()
            if delivery is None:  # sent meanwhile, or being sent by another server
                return False
            webhook = session.get(WebhookRow, delivery.webhook_id)
            assert webhook is not None
            if not webhook.active:
                delivery.status, delivery.next_attempt_at = "cancelled", None
                session.commit()
                return False
            body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
            at = self.clock()
            status_code, error = None, None
            started = time.monotonic()
            try:
                response = self._client.post(
                    webhook.url, content=body, headers=signed_headers(webhook.secret, delivery.message_id, body, at)
                )
                status_code = response.status_code
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"
            duration_ms = int((time.monotonic() - started) * 1000)
            delivered = status_code is not None and 200 <= status_code < 300
            delivery.attempts += 1
            if delivered:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", at, None
            elif status_code == 410:  # Gone: the receiver asks not to be called again
                delivery.status, delivery.next_attempt_at = "failed", None
                webhook.active = False
            elif delivery.attempts >= self.max_attempts:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = at + backoff(delivery.attempts, self.retry_s)
            if error is None and not delivered:
                error = f"HTTP {status_code}"
            session.add(
                DeliveryAttemptRow(
                    delivery_id=delivery.id, at=at, status_code=status_code, error=error, duration_ms=duration_ms
                )
            )
            session.commit()
            return delivered
