"""Calendar feeds: a secret URL per stakeholder, so calendar apps subscribe without a bearer header."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import unit_of_work
from api.errors import Forbidden, NotFound
from api.models import FeedRow
from api.principals import Principal, StakeholderRef, owner
from api.services import audit
from api.services.plans import get_plan_or_raise
from api.services.tokens import token_hash
from scheduler.timeline import format_utc

if TYPE_CHECKING:
    from api.runtime import Runtime

Scope = Literal["plan", "mine"]


@unit_of_work
def create(
    session: Session, runtime: Runtime, *, plan_id: str, by: StakeholderRef, scope: Scope
) -> tuple[FeedRow, str]:
    """A new feed and its secret, returned once; only the secret's hash is kept."""
    secret = secrets.token_urlsafe(32)
    with runtime.locks.writing(session, plan_id):
        feed = FeedRow(plan_id=plan_id, stakeholder=by.id, scope=scope, secret_hash=token_hash(secret))
        session.add(feed)
        session.flush()
        audit.append(session, plan_id=plan_id, actor=by.actor, action="create_feed", detail={"feed": feed.id})
    return feed, secret


@unit_of_work
def list_own(session: Session, *, plan_id: str, by: Principal) -> list[FeedRow]:
    """The plan's feeds that still work: the caller's own (the admin's: all)."""
    get_plan_or_raise(session, plan_id=plan_id)
    query = select(FeedRow).where(FeedRow.plan_id == plan_id, ~FeedRow.revoked).order_by(FeedRow.id)
    stakeholder = owner(by)
    if stakeholder is not None:
        query = query.where(FeedRow.stakeholder == stakeholder)
    return list(session.scalars(query))


@unit_of_work
def revoke(session: Session, runtime: Runtime, *, plan_id: str, feed_id: int, by: Principal) -> None:
    """Revoke a feed (its owner, the admin): its URL stops working at once."""
    feed = get_or_raise(session, plan_id=plan_id, feed_id=feed_id, stakeholder=owner(by))
    with runtime.locks.writing(session, plan_id):
        feed.revoked = True
        audit.append(session, plan_id=plan_id, actor=by.actor, action="revoke_feed", detail={"feed": feed.id})


def get_or_raise(session: Session, *, plan_id: str, feed_id: int, stakeholder: str | None) -> FeedRow:
    feed = session.get(FeedRow, feed_id)
    if feed is None or feed.plan_id != plan_id or feed.revoked:
        raise NotFound(f"no feed {feed_id} in plan {plan_id!r}")
    if stakeholder is not None and feed.stakeholder != stakeholder:
        raise Forbidden("this feed belongs to another stakeholder")
    return feed


def get_by_secret_or_raise(session: Session, *, secret: str) -> FeedRow:
    """The feed a secret URL names; revoked and unknown secrets look the same."""
    feed = session.scalars(select(FeedRow).where(FeedRow.secret_hash == token_hash(secret))).first()
    if feed is None or feed.revoked:
        raise NotFound("no such feed (it may have been revoked)")
    return feed


def feed_json(feed: FeedRow, *, url: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": feed.id,
        "stakeholder": feed.stakeholder,
        "scope": feed.scope,
        "created_at": format_utc(feed.created_at),
    }
    if url is not None:
        out["url"] = url
    return out
