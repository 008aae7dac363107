"""The FastAPI application: ``create_app(settings)`` wires the parts together; nothing lives at
module level.

- ``api/routes/``: one ``APIRouter`` per resource, and the review page; a route parses, calls one
  service function and returns.
- ``api/services/``: what the routes do, each request's unit of work (read, take the plan's write
  lock, write, commit).
- ``api/runtime/``: what lives as long as the process: locks, each plan's negotiation in memory,
  the solver's and the courier's threads.
- ``api/deps.py``: the request's session, the runtime and who is calling.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api.access_log import redact_access_log
from api.db import Clock, utcnow
from api.deps import Auth, RateLimiter
from api.errors import answer_errors_as_problems
from api.headers import SecurityHeaders
from api.limits import BodyLimit
from api.migrate import upgrade
from api.routes import audit, calendars, changes, feeds, gates, health, plans, review, tokens, versions, webhooks
from api.runtime import Runtime
from api.services.audit import key_old_logs
from api.services.tokens import admin_token_hash
from api.settings import Settings

# In this order: where two paths could both match, the first one included wins.
ROUTERS = (review, health, plans, tokens, versions, changes, gates, audit, calendars, feeds, webhooks)


def create_app(settings: Settings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    """The service, wired to its database. ``clock`` is the server's time: live plans take their
    changes at it, and it says when reminders are due (tests move it)."""
    settings = settings or Settings()
    runtime = Runtime.build(settings, clock=clock)
    auth = Auth(runtime.sessions, RateLimiter(settings.rate_limit_per_minute))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        upgrade(runtime.engine)
        with runtime.sessions() as session, session.begin():
            key_old_logs(session)
        auth.admin_hashes.append(admin_token_hash(settings, runtime.sessions))
        # Sync routes and dependencies run in anyio's worker threads: as many as the setting says.
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        runtime.start()
        yield
        runtime.stop()

    app = FastAPIOffline(  # /docs and /redoc served from the package: the machines are offline
        title="maintenance-negotiator",
        version="1",
        description="Decides when maintenance happens; stakeholders object, declare events, submit and approve.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.auth = auth
    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")
    answer_errors_as_problems(app)
    redact_access_log()
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)  # outermost: before routing and tokens
    for resource in ROUTERS:
        app.include_router(resource.router)
    return app
