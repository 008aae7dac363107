"""Webhooks: stakeholders' URLs told of every new version and of windows about to start.

A message is a ``DeliveryRow`` written in the same transaction as the version or reminder it tells
of, keyed so that each version or reminder makes one message per webhook; the courier
(``api/runtime/courier.py``) signs and sends them.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db import unit_of_work, utcnow
from api.errors import Conflict, Forbidden, NotFound
from api.links import Links
from api.models import DeliveryAttemptRow, DeliveryRow, WebhookRow
from api.principals import Principal, StakeholderRef, owner
from api.runtime.targets import literal, public
from api.services import audit
from api.services.plans import get_plan_or_raise
from scheduler.authority import concerns
from scheduler.domain import Problem, Version
from scheduler.errors import ScenarioError
from scheduler.notices import WindowChange, changes_between, reminders_due
from scheduler.report import window_json
from scheduler.timeline import SlotGrid, format_duration, format_utc

if TYPE_CHECKING:
    from api.runtime import Runtime

Solved = tuple[Version, Problem]  # a version and the problem it solved


@unit_of_work
def create(
    session: Session,
    runtime: Runtime,
    *,
    plan_id: str,
    by: StakeholderRef,
    url: str,
    reminders: Sequence[timedelta] | None,
) -> WebhookRow:
    """Register a URL for a stakeholder (reminders: the server's lead times unless it names its own);
    its signing secret is made here and shown once."""
    get_plan_or_raise(session, plan_id=plan_id)
    settings = runtime.settings
    host = literal(urlsplit(url).hostname or "")
    if host is not None and not settings.webhook_private_targets and not public(host):
        raise ScenarioError("url", f"{host} is not a public address, and this server sends webhooks only to those")
    if reminders is None:
        reminders = settings.reminders
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    minutes = sorted({int(lead.total_seconds() // 60) for lead in reminders}, reverse=True)
    with runtime.locks.writing(session, plan_id):
        if len(list_webhooks(session, plan_id=plan_id, stakeholder=by.id)) >= settings.webhooks_per_stakeholder:
            raise Conflict(
                f"you have {settings.webhooks_per_stakeholder} webhooks in this plan, the most a stakeholder may: "
                "delete one before adding another"
            )
        webhook = WebhookRow(plan_id=plan_id, stakeholder=by.id, url=url, secret=secret, reminders=minutes)
        session.add(webhook)
        session.flush()
        detail = {"webhook": webhook.id, "url": webhook.url}
        audit.append(session, plan_id=plan_id, actor=by.actor, action="create_webhook", detail=detail)
    runtime.courier.wake.set()  # reminders already due go out at once
    return webhook


@unit_of_work
def delete(session: Session, runtime: Runtime, *, plan_id: str, webhook_id: int, by: Principal) -> None:
    """Stop calling a webhook's URL (its owner, the admin); messages not yet sent are dropped."""
    webhook = get_or_raise(session, plan_id=plan_id, webhook_id=webhook_id, stakeholder=owner(by))
    with runtime.locks.writing(session, plan_id):
        webhook.active = False
        audit.append(session, plan_id=plan_id, actor=by.actor, action="delete_webhook", detail={"webhook": webhook.id})


def list_webhooks(session: Session, *, plan_id: str, stakeholder: str | None) -> list[WebhookRow]:
    """The plan's active webhooks: a stakeholder's own, or all of them (``stakeholder=None``)."""
    query = select(WebhookRow).where(WebhookRow.plan_id == plan_id, WebhookRow.active).order_by(WebhookRow.id)
    if stakeholder is not None:
        query = query.where(WebhookRow.stakeholder == stakeholder)
    return list(session.scalars(query))


@unit_of_work
def list_own(session: Session, *, plan_id: str, by: Principal) -> list[WebhookRow]:
    """The plan's active webhooks the caller sees: their own (the admin's: all)."""
    get_plan_or_raise(session, plan_id=plan_id)
    return list_webhooks(session, plan_id=plan_id, stakeholder=owner(by))


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
        "reminders": [lead_text(m) for m in webhook.reminders],
        "created_at": format_utc(webhook.created_at),
    }
    if secret:
        out["secret"] = webhook.secret
    return out


@unit_of_work
def list_deliveries(session: Session, *, plan_id: str, webhook_id: int, by: Principal) -> list[dict[str, Any]]:
    """The delivery log of a webhook (its owner's, the admin's), newest first, each with its attempts."""
    webhook = get_or_raise(session, plan_id=plan_id, webhook_id=webhook_id, stakeholder=owner(by))
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


def lead_text(minutes: int) -> str:
    """A reminder's lead time as people write it: ``24h``, ``90m`` as ``1h30m``, never ``1d``."""
    hours, rest = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{rest}m" if rest or not hours else "")


def enqueue_versions(
    session: Session, links: Links, *, plan_id: str, solved: Sequence[tuple[Solved | None, Solved]]
) -> None:
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
                "href": links.version(plan_id, version.version),
                "page": links.page(plan_id),
            }
            _enqueue(
                session,
                webhook,
                key=f"version:{version.version}",
                kind="version.created",
                payload=_message("version.created", data, now),
            )


def enqueue_approval(session: Session, links: Links, *, plan_id: str, number: int) -> None:
    """A ``version.approved`` message per webhook: the version's windows are now announced."""
    now = utcnow()
    for webhook in list_webhooks(session, plan_id=plan_id, stakeholder=None):
        data = {"plan": plan_id, "version": number, "href": links.version(plan_id, number), "page": links.page(plan_id)}
        _enqueue(
            session,
            webhook,
            key=f"approved:{number}",
            kind="version.approved",
            payload=_message("version.approved", data, now),
        )


def enqueue_reminders(session: Session, links: Links, *, plan_id: str, latest: Solved, now: datetime) -> int:
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
                "lead": lead_text(int(due.lead.total_seconds() // 60)),
                "starts_in_minutes": int((due.window.start - now).total_seconds() // 60),
                "window": window_json(due.window, problem.grid),
                "stakeholder": webhook.stakeholder,
                "page": links.page(plan_id),
            }
            key = f"reminder:{request.id}:{format_utc(due.window.start)}:{format_duration(due.lead)}"
            added += _enqueue(
                session, webhook, key=key, kind="window.reminder", payload=_message("window.reminder", data, now)
            )
    return added
