"""Calendar feeds: a secret URL per stakeholder, so calendar apps subscribe without a bearer header."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import Forbidden, NotFound
from api.models import FeedRow
from api.plans import token_hash
from scheduler.timeline import format_utc

Scope = Literal["plan", "mine"]


def create(session: Session, *, plan_id: str, stakeholder: str, scope: Scope) -> tuple[FeedRow, str]:
    """A new feed and its secret, returned once; only the secret's hash is kept."""
    secret = secrets.token_urlsafe(32)
    feed = FeedRow(plan_id=plan_id, stakeholder=stakeholder, scope=scope, secret_hash=token_hash(secret))
    session.add(feed)
    session.flush()
    return feed, secret


def list_feeds(session: Session, *, plan_id: str, stakeholder: str | None) -> list[FeedRow]:
    """The plan's feeds that still work: a stakeholder's own, or all (``stakeholder=None``)."""
    query = select(FeedRow).where(FeedRow.plan_id == plan_id, ~FeedRow.revoked).order_by(FeedRow.id)
    if stakeholder is not None:
        query = query.where(FeedRow.stakeholder == stakeholder)
    return list(session.scalars(query))


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
