"""Tokens: a stakeholder's bearer tokens (minted and revoked by the admin) and the admin's own.

Tokens are long random secrets, stored only as a hash.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.db import unit_of_work, utcnow
from api.errors import Forbidden, NotFound, Unauthorized
from api.models import AdminKeyRow, TokenRow, TokenUse
from api.services import audit
from api.services.plans import get_plan_or_raise
from api.settings import Settings

if TYPE_CHECKING:
    from api.runtime import Runtime


def token_hash(token: str) -> str:
    """Tokens are long random secrets: a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


@unit_of_work
def create_token(session: Session, runtime: Runtime, *, plan_id: str, stakeholder: str, use: TokenUse = "all") -> str:
    """A new token for a stakeholder of the plan, returned once; only its hash is kept.

    A ``gate`` token reads the deploy gates of the requests in the stakeholder's scope and nothing else.
    """
    get_plan_or_raise(session, plan_id=plan_id)
    if stakeholder not in runtime.plans.scenario(session, plan_id).problem.stakeholder_by_id:
        raise NotFound(f"no stakeholder {stakeholder!r} in plan {plan_id!r}")
    token = secrets.token_urlsafe(32)
    session.add(TokenRow(plan_id=plan_id, stakeholder=stakeholder, token_hash=token_hash(token), use=use))
    with runtime.locks.writing(session, plan_id):
        detail = {"stakeholder": stakeholder, "use": use}
        audit.append(session, plan_id=plan_id, actor="admin", action="create_token", detail=detail)
    return token


@unit_of_work
def revoke_tokens(session: Session, runtime: Runtime, *, plan_id: str, stakeholder: str) -> int:
    """Revoke every token of a stakeholder of the plan: they answer 401 from now on. How many there were."""
    get_plan_or_raise(session, plan_id=plan_id)
    if stakeholder not in runtime.plans.scenario(session, plan_id).problem.stakeholder_by_id:
        raise NotFound(f"no stakeholder {stakeholder!r} in plan {plan_id!r}")
    with runtime.locks.writing(session, plan_id):
        rows = session.scalars(
            select(TokenRow).where(TokenRow.plan_id == plan_id, TokenRow.stakeholder == stakeholder)
        ).all()
        for row in rows:
            session.delete(row)
        detail = {"stakeholder": stakeholder, "revoked": len(rows)}
        audit.append(session, plan_id=plan_id, actor="admin", action="revoke_tokens", detail=detail)
    return len(rows)


def token_exists(session: Session, *, token: str) -> bool:
    """Whether any plan issued this token."""
    return session.scalars(select(TokenRow.id).where(TokenRow.token_hash == token_hash(token))).first() is not None


Use = Literal["api", "gate", "page"]  # what a token is shown for: the API, a deploy gate, the review page
PAGE_SESSION = timedelta(hours=12)  # how long a review page stays signed in


def authenticate(session: Session, *, plan_id: str, token: str | None, use: Use = "api") -> str:
    """The stakeholder a token belongs to, for this plan only. A gate token reads only gates, and
    the page takes only its own sessions (the cookie never holds a bearer token)."""
    if not token:
        raise Unauthorized("send Authorization: Bearer TOKEN")
    row = session.scalars(select(TokenRow).where(TokenRow.token_hash == token_hash(token))).first()
    if row is None or row.plan_id != plan_id:
        raise Unauthorized("this token is not valid for this plan")
    if (row.use == "page") != (use == "page"):
        raise Unauthorized("this token is not valid here")
    if row.use == "page" and row.created_at < utcnow() - PAGE_SESSION:
        raise Unauthorized("this session has expired")
    if row.use == "gate" and use != "gate":
        raise Forbidden(f"this token only reads deploy gates: GET /v1/plans/{plan_id}/gate?request=ID")
    return row.stakeholder


@unit_of_work
def open_page_session(session: Session, *, plan_id: str, stakeholder: str) -> str:
    """A signed-in review page's session for a stakeholder: a token of its own, kept as a hash,
    ending at sign-out, after ``PAGE_SESSION``, or when the admin revokes the stakeholder's tokens."""
    expired = utcnow() - PAGE_SESSION
    session.execute(delete(TokenRow).where(TokenRow.use == "page", TokenRow.created_at < expired))
    token = secrets.token_urlsafe(32)
    session.add(TokenRow(plan_id=plan_id, stakeholder=stakeholder, token_hash=token_hash(token), use="page"))
    return token


@unit_of_work
def close_page_session(session: Session, *, token: str) -> None:
    """Sign a review page out: its session no longer signs anything in."""
    session.execute(delete(TokenRow).where(TokenRow.use == "page", TokenRow.token_hash == token_hash(token)))


def admin_token_hash(settings: Settings, sessions: sessionmaker[Session]) -> str:
    """The admin token's hash: from the environment, or made once, printed once and kept."""
    if settings.admin_token:
        return token_hash(settings.admin_token)
    token = secrets.token_urlsafe(32)
    try:
        with sessions() as session, session.begin():
            stored = session.get(AdminKeyRow, 1)
            if stored is not None:
                print(
                    "negotiator: the admin token is the one printed when this database was first served "
                    "(or set NEGOTIATOR_ADMIN_TOKEN)",
                    file=sys.stderr,
                    flush=True,
                )
                return str(stored.token_hash)
            session.add(AdminKeyRow(id=1, token_hash=token_hash(token)))
    except IntegrityError:  # another server made it first
        with sessions() as session:
            stored = session.get(AdminKeyRow, 1)
            assert stored is not None
            return str(stored.token_hash)
    print(f"negotiator: admin token (shown once, keep it): {token}", file=sys.stderr, flush=True)
    return token_hash(token)
