"""The routes' dependencies: the request's database session, the runtime, and who is calling.

``SessionDep`` is one session per request. The service a route calls owns the unit of work
(``api.db.unit_of_work``): it takes the plan's write lock before it writes (``Locks.writing``,
which commits before letting go), and commits when it returns, which gives the connection back.
That matters: FastAPI validates a sync route's answer in another worker thread, and a connection
held while waiting for one starves the pool under load (every thread waiting for a connection,
every connection waiting for a thread). The session's own teardown runs as soon as the route
returns (``scope="function"``) and outside the worker threads' limit; it commits what is left, or
rolls back if the route raised. Telling callers apart uses a short session of its own, closed
before the route starts, for the same reason.

``CurrentPrincipal`` is an ``Admin`` or a ``StakeholderRef`` (``api/principals.py``), resolved
once from the bearer token; ``AdminDep`` and ``CurrentStakeholder`` narrow it and refuse the other
kind. A token that only reads deploy gates passes ``GateReader`` alone. The wiring (``Runtime``,
``Auth``) lives on ``app.state``, built by ``create_app``.
"""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

import hmac
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from api.errors import Forbidden, TooManyRequests, Unauthorized
from api.principals import Admin, Principal, StakeholderRef
from api.runtime import Runtime
from api.services import changes
from api.services.tokens import Use, authenticate, token_exists, token_hash


async def get_runtime(request: Request) -> Runtime:
    """The app's runtime (async: it does no I/O, so it takes no worker thread)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def open_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One session for the request: committed when the route returns, rolled back if it raised."""
    with runtime.sessions() as session:
        yield session
        session.commit()


SessionDep = Annotated[Session, Depends(open_session, scope="function")]

# A retried POST with the same key is stored once and answered as the first time.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class RateLimiter:
    """A token bucket per key (a bearer token, a client's address), in this process.

    At most ``max_keys`` buckets are kept: past that, the longest idle are dropped (a bucket idle
    that long has refilled, or nearly), so unknown keys cannot fill the memory.
    """

    def __init__(
        self, per_minute: int, *, what: str = "requests a minute with this token", max_keys: int = 10_000
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(per_minute, 1))
        self.what = what
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._guard = threading.Lock()

    def take(self, key: str) -> None:
        now = time.monotonic()
        with self._guard:
            tokens, since = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - since) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                raise TooManyRequests(f"more than {self.capacity:.0f} {self.what}")
            self._buckets[key] = (tokens - 1, now)  # last in the dict: the most recently used
            while len(self._buckets) > self.max_keys:
                del self._buckets[next(iter(self._buckets))]  # first in the dict: the longest idle

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass
class Auth:
    """What telling callers apart needs: the admin token's hash, the plans' tokens, a rate limit."""

    sessions: sessionmaker[Session]
    limiter: RateLimiter
    sign_ins: RateLimiter = field(default_factory=lambda: RateLimiter(10, what="sign-ins a minute from this address"))
    # Requests with no valid token, per client address: guessing is slowed, and costs no bucket per guess.
    strangers: RateLimiter = field(
        default_factory=lambda: RateLimiter(60, what="requests a minute without a valid token from this address")
    )
    admin_hashes: list[str] = field(default_factory=list)  # filled at start-up

    def is_admin(self, token: str | None) -> bool:
        digest = token_hash(token) if token is not None else ""
        return token is not None and any(hmac.compare_digest(digest, known) for known in self.admin_hashes)

    def principal(self, plan_id: str, token: str | None, *, use: Use = "api") -> Principal:
        """The admin, or the plan's stakeholder the token belongs to; Unauthorized otherwise.

        A token that only reads gates is refused (403) unless ``use`` is a gate; the page takes
        only its own sessions, and never the admin token.
        """
        if use != "page" and self.is_admin(token):
            return Admin()
        with self.sessions() as session:
            return StakeholderRef(plan_id, authenticate(session, plan_id=plan_id, token=token, use=use))

    def admin(self, token: str | None) -> Admin:
        """The admin; 401 for no token or an unknown one, 403 for a stakeholder's."""
        if token is None:
            raise Unauthorized("send Authorization: Bearer TOKEN")
        if self.is_admin(token):
            return Admin()
        with self.sessions() as session:
            known = token_exists(session, token=token)
        if not known:
            raise Unauthorized("this token is not valid")
        raise Forbidden("only the admin may do this")


async def get_auth(request: Request) -> Auth:
    """Who may call (async: no I/O)."""
    auth: Auth = request.app.state.auth
    return auth


AuthDep = Annotated[Auth, Depends(get_auth)]

scheme = HTTPBearer(auto_error=False, description="the admin token, or a stakeholder's token for the plan")


async def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)]) -> str | None:
    """The bearer token, as sent (async, as every dependency that does no I/O: it takes no worker thread)."""
    return credentials.credentials if credentials is not None else None


BearerToken = Annotated[str | None, Depends(bearer_token)]
P = TypeVar("P", bound=Principal)


def client_address(request: Request) -> str:
    """The caller's address, as rate limits per address count it."""
    return request.client.host if request.client else ""


def counted(auth: Auth, request: Request, token: str | None, tell: Callable[[], P]) -> P:
    """Who ``tell`` says calls, counted against the token's rate limit once the token is known to be
    valid; an invalid or missing token is counted against the caller's address instead."""
    try:
        principal = tell()
    except Unauthorized:
        auth.strangers.take(client_address(request))
        raise
    auth.limiter.take(token_hash(token or ""))
    return principal


def current_principal(plan: str, token: BearerToken, auth: AuthDep, request: Request) -> Principal:
    """Who calls a route of ``plan``."""
    return counted(auth, request, token, lambda: auth.principal(plan, token))


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def gate_reader(plan: str, token: BearerToken, auth: AuthDep, request: Request) -> Principal:
    """Who reads a deploy gate of ``plan``: as ``CurrentPrincipal``, and tokens that only read gates."""
    return counted(auth, request, token, lambda: auth.principal(plan, token, use="gate"))


GateReader = Annotated[Principal, Depends(gate_reader)]


async def current_stakeholder(principal: CurrentPrincipal) -> StakeholderRef:
    """A stakeholder of the plan; the admin is refused (it manages plans, it has no say in them). Async: no I/O."""
    if isinstance(principal, Admin):
        raise Forbidden("the admin manages plans: this takes a stakeholder's token")
    return principal


CurrentStakeholder = Annotated[StakeholderRef, Depends(current_stakeholder)]


def require_admin(token: BearerToken, auth: AuthDep, request: Request) -> Admin:
    """The admin, for routes that are the admin's alone."""
    return counted(auth, request, token, lambda: auth.admin(token))


AdminDep = Annotated[Admin, Depends(require_admin)]


@dataclass(frozen=True)
class ChangeSender:
    """What storing a stakeholder's change needs: the plan, its author and their token, the
    request's session, the runtime and the Idempotency-Key."""

    plan: str
    by: StakeholderRef
    token: str | None
    session: Session
    runtime: Runtime
    key: str | None

    def send(self, step: dict[str, Any]) -> JSONResponse:
        """Store ``step``: ``202`` with where to follow it (a retry with the key answers the same)."""
        status, body = changes.send(
            self.session, self.runtime, plan_id=self.plan, by=self.by.id, step=step, token=self.token, key=self.key
        )
        return JSONResponse(body, status_code=status)

    def approve(self, number: int) -> JSONResponse:
        """Store an approval of version ``number``: ``202``, or ``409`` unless it is the latest."""
        status, body = changes.approve(
            self.session, self.runtime, plan_id=self.plan, number=number, by=self.by.id, token=self.token, key=self.key
        )
        return JSONResponse(body, status_code=status)


async def change_sender(
    plan: str,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> ChangeSender:
    """The stakeholder's change routes' common part (async: no I/O)."""
    return ChangeSender(plan, by, token, session, runtime, key)


ChangeSenderDep = Annotated[ChangeSender, Depends(change_sender)]
