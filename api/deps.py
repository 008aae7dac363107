"""Who is calling, resolved once per request from the bearer token: the admin, or a stakeholder of
the plan named in the path.

``CurrentPrincipal`` is an ``Admin`` or a ``StakeholderRef``; ``AdminDep`` and
``CurrentStakeholder`` narrow it and refuse the other kind. Nothing compares ids with ``"admin"``:
a stakeholder whose id is ``admin`` is a stakeholder like any other, and gets what its role gives.
The wiring (``Auth``) lives on ``app.state``, built by ``create_app``.
"""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api import plans
from api.errors import Forbidden, TooManyRequests, Unauthorized


@dataclass(frozen=True)
class Admin:
    """The service's administrator: creates plans, mints and revokes tokens; no say inside a plan."""

    actor: ClassVar[str] = "admin"  # how the audit log names it


@dataclass(frozen=True)
class StakeholderRef:
    """A stakeholder of one plan, as its token says; their role and scope are the plan's to tell."""

    plan_id: str
    id: str

    @property
    def actor(self) -> str:
        return self.id


Principal = Admin | StakeholderRef


class RateLimiter:
    """A token bucket per bearer token, in this process."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(per_minute, 1))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._guard = threading.Lock()

    def take(self, key: str) -> None:
        now = time.monotonic()
        with self._guard:
            tokens, since = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - since) * self.rate)
            if tokens < 1:
                raise TooManyRequests(f"more than {self.capacity:.0f} requests a minute with this token")
            self._buckets[key] = (tokens - 1, now)


@dataclass
class Auth:
    """What telling callers apart needs: the admin token's hash, the plans' tokens, a rate limit."""

    sessions: sessionmaker[Session]
    limiter: RateLimiter
    admin_hashes: list[str] = field(default_factory=list)  # filled at start-up

    def is_admin(self, token: str | None) -> bool:
        digest = plans.token_hash(token) if token is not None else ""
        return token is not None and any(hmac.compare_digest(digest, known) for known in self.admin_hashes)

    def principal(self, plan_id: str, token: str | None) -> Principal:
        """The admin, or the plan's stakeholder the token belongs to; Unauthorized otherwise."""
        if self.is_admin(token):
            return Admin()
        with self.sessions() as session:
            return StakeholderRef(plan_id, plans.authenticate(session, plan_id=plan_id, token=token))

    def admin(self, token: str | None) -> Admin:
        """The admin; 401 for no token or an unknown one, 403 for a stakeholder's."""
        if token is None:
            raise Unauthorized("send Authorization: Bearer TOKEN")
        if self.is_admin(token):
            return Admin()
        with self.sessions() as session:
            known = plans.token_exists(session, token=token)
        if not known:
            raise Unauthorized("this token is not valid")
        raise Forbidden("only the admin may do this")


def get_auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


AuthDep = Annotated[Auth, Depends(get_auth)]

scheme = HTTPBearer(auto_error=False, description="the admin token, or a stakeholder's token for the plan")


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)], auth: AuthDep
) -> str | None:
    """The bearer token, counted against its rate limit."""
    if credentials is None:
        return None
    auth.limiter.take(plans.token_hash(credentials.credentials))
    return credentials.credentials


BearerToken = Annotated[str | None, Depends(bearer_token)]


def current_principal(plan: str, token: BearerToken, auth: AuthDep) -> Principal:
    """Who calls a route of ``plan``."""
    return auth.principal(plan, token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def current_stakeholder(principal: CurrentPrincipal) -> StakeholderRef:
    """A stakeholder of the plan; the admin is refused (it manages plans, it has no say in them)."""
    if isinstance(principal, Admin):
        raise Forbidden("the admin manages plans: this takes a stakeholder's token")
    return principal


CurrentStakeholder = Annotated[StakeholderRef, Depends(current_stakeholder)]


def require_admin(token: BearerToken, auth: AuthDep) -> Admin:
    """The admin, for routes that are the admin's alone."""
    return auth.admin(token)


AdminDep = Annotated[Admin, Depends(require_admin)]
