"""The FastAPI application: ``create_app(settings)`` builds everything; routes parse, call, return."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies built in create_app.

import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import audit, feeds, plans, webhooks
from api.bodies import (
    AuditRead,
    ChangeAccepted,
    ChangeRead,
    CounterCreate,
    CounterRead,
    DeliveryRead,
    FeedCreate,
    FeedCreated,
    FeedRead,
    ObjectionCreate,
    OverrideCreate,
    PinCreate,
    PlanCreated,
    PlanRead,
    PlanSummary,
    TokenCreated,
    TokensRevoked,
    VersionRead,
    VersionSummary,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
)
from api.db import make_engine, make_sessions, utcnow
from api.deps import (
    Admin,
    AdminDep,
    Auth,
    BearerToken,
    CurrentPrincipal,
    CurrentStakeholder,
    Principal,
    RateLimiter,
    StakeholderRef,
)
from api.errors import ApiError, Forbidden, NotFound, Unauthorized
from api.migrate import upgrade
from api.models import AdminKeyRow, IdempotentReplyRow
from api.review import Wiring, review_router
from api.settings import Settings
from api.solving import Locks, PlanClock, Plans, Solver
from api.webhooks import Clock, Courier
from scheduler.errors import ScenarioError
from scheduler.ics import calendar
from scheduler.scenario import describe_errors
from scheduler.schema import EventIn, RequestIn, ScenarioIn

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem details answer."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def create_app(settings: Settings | None = None, *, clock: Clock = utcnow) -> FastAPI:
    """The service, wired to its database; nothing lives at module level. ``clock`` is the server's
    time: live plans take their changes at it, and it says when reminders are due (tests move it)."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    locks = Locks(engine)
    plan_states = Plans(sessions, time_limit_s=settings.time_limit_s, clock=clock)
    courier = Courier(
        sessions,
        plan_states.latest,
        poll_s=settings.webhook_poll_s,
        timeout_s=settings.webhook_timeout_s,
        retry_s=settings.webhook_retry_s,
        max_attempts=settings.webhook_max_attempts,
        clock=clock,
    )
    # The messages a solve writes go out at once, not at the courier's next poll.
    solver = Solver(sessions, plan_states, locks, poll_s=settings.poll_s, recorded=courier.wake.set)
    auth = Auth(sessions, RateLimiter(settings.rate_limit_per_minute))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        upgrade(engine)
        auth.admin_hashes.append(_admin_token_hash(settings, sessions))
        if settings.solver:
            solver.start()
            solver.wake.set()  # resume what a previous run left pending
        if settings.webhooks:
            courier.start()
        yield
        courier.stop()
        solver.stop()
        engine.dispose()

    app = FastAPIOffline(  # /docs and /redoc served from the package: the machines are offline
        title="maintenance-negotiator",
        version="1",
        description="Decides when maintenance happens; stakeholders object, declare events, submit and approve.",
        lifespan=lifespan,
    )
    app.state.solver = solver
    app.state.courier = courier
    app.state.sessions = sessions
    app.state.auth = auth

    app.mount("/static", StaticFiles(directory=Path(__file__).with_name("static")), name="static")

    # -- errors, all as problem+json ----------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthorized) else {}
        response = problem(error.status, error.title, error.detail)
        response.headers.update(headers)
        return response

    @app.exception_handler(ScenarioError)
    async def _invalid(_: Request, error: ScenarioError) -> JSONResponse:
        return problem(422, "Invalid input", str(error), field=error.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid_body(_: Request, error: RequestValidationError) -> JSONResponse:
        details = [{**detail, "loc": tuple(detail["loc"])[1:]} for detail in error.errors()]  # drop "body"
        invalid = describe_errors(details)
        return problem(422, "Invalid input", str(invalid), field=invalid.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        return problem(500, "Internal error", "the server failed; nothing was stored")

    # -- dependencies ----------------------------------------------------------------------

    @contextmanager
    def transaction() -> Iterator[Session]:
        """A session for the length of one route's body, committed at its end.

        Not a dependency: FastAPI runs a dependency's setup and teardown in separate worker-thread
        calls, and a connection held between them starves the pool under load.
        """
        with sessions() as session:
            yield session
            session.commit()

    def own(principal: Principal) -> str | None:
        """Whose feeds and webhooks a caller sees and changes: their own; the admin's: everyone's."""
        return None if isinstance(principal, Admin) else principal.id

    def replayed(session: Session, token: str | None, key: str | None) -> JSONResponse | None:
        """The first answer to a POST retried with the same Idempotency-Key, if there was one."""
        if key is None or token is None:
            return None
        stored = session.scalars(
            select(IdempotentReplyRow).where(
                IdempotentReplyRow.token_hash == plans.token_hash(token), IdempotentReplyRow.key == key
            )
        ).first()
        return JSONResponse(stored.body, status_code=stored.status) if stored is not None else None

    def change(
        session: Session,
        plan: str,
        by: StakeholderRef,
        step: dict[str, Any],
        token: str | None,
        key: str | None,
    ) -> JSONResponse:
        """Store a change (once per Idempotency-Key) and answer 202 with where to follow it."""
        first = replayed(session, token, key)
        if first is not None:
            return first
        idempotency = (plans.token_hash(token), key) if key is not None and token is not None else None
        try:
            recorded = plans.record_change(
                session, plan_states, locks, plan_id=plan, by=by.id, step=step, idempotency=idempotency
            )
        except IntegrityError:  # the same key, sent again while the first was being stored
            session.rollback()
            first = replayed(session, token, key)
            if first is None:
                raise
            return first
        solver.wake.set()
        return JSONResponse(plans.accepted(plan, recorded.id), status_code=202)

    IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]
    accepted: dict[int | str, dict[str, Any]] = {202: {"model": ChangeAccepted}}
    errors: dict[int | str, dict[str, Any]] = {
        code: {"description": text, "content": {PROBLEM: {}}}
        for code, text in {
            401: "no token, or not one of this plan's",
            403: "no authority (the reason is given)",
            404: "no such plan, stakeholder or version",
            422: "invalid input (the field is named)",
            429: "rate limit",
        }.items()
    }

    # The review page for people (HTML, outside the JSON API's document).
    app.include_router(
        review_router(
            Wiring(sessions=sessions, plans=plan_states, locks=locks, changed=solver.wake.set, identify=auth.principal)
        )
    )

    # -- routes ----------------------------------------------------------------------------

    @app.get("/health")
    def health() -> dict[str, str]:
        """Liveness, without a token."""
        return {"status": "ok"}

    @app.post("/v1/plans", status_code=201, responses=errors, response_model=PlanCreated)
    def create_plan(
        body: ScenarioIn,
        _: AdminDep,
        clock: Annotated[
            PlanClock,
            Query(
                description="live (default): the server's time, the body's now and at ignored; "
                "scenario: a rehearsal on the scenario's clock, moved by approvers' at"
            ),
        ] = "live",
    ) -> dict[str, str]:
        """Create a plan from a scenario (the file format, as JSON); its steps become its first changes."""
        with transaction() as session:
            scenario = body.model_dump(mode="json", exclude_none=True)
            plan_id = plans.create_plan(session, locks, body=scenario, clock=clock, now=plan_states.now())
            solver.wake.set()
            return {"id": plan_id}

    @app.post(
        "/v1/plans/{plan}/stakeholders/{stakeholder_id}/tokens",
        status_code=201,
        responses=errors,
        response_model=TokenCreated,
    )
    def create_token(plan: str, stakeholder_id: str, _: AdminDep) -> dict[str, str]:
        """A token for a stakeholder, shown once: only its hash is stored."""
        with transaction() as session:
            return {"token": plans.create_token(session, plan_states, locks, plan_id=plan, stakeholder=stakeholder_id)}

    @app.get("/v1/plans", responses=errors, response_model=list[PlanSummary])
    def list_plans(_: AdminDep) -> list[dict[str, Any]]:
        """Every plan, oldest first (the admin)."""
        with transaction() as session:
            return plans.list_plans(session)

    @app.get("/v1/plans/{plan}", responses=errors, response_model=PlanRead)
    def show_plan(plan: str, _: AdminDep) -> dict[str, Any]:
        """One plan: its clock, newest version, pending changes and each stakeholder's tokens (the admin)."""
        with transaction() as session:
            return plans.plan_json(session, plan_states, plan_id=plan)

    @app.delete("/v1/plans/{plan}/stakeholders/{stakeholder_id}/tokens", responses=errors, response_model=TokensRevoked)
    def revoke_tokens(plan: str, stakeholder_id: str, _: AdminDep) -> dict[str, Any]:
        """Revoke every token of a stakeholder: each answers 401 from now on (the admin)."""
        with transaction() as session:
            revoked = plans.revoke_tokens(session, plan_states, locks, plan_id=plan, stakeholder=stakeholder_id)
            return {"stakeholder": stakeholder_id, "revoked": revoked}

    @app.get("/v1/plans/{plan}/versions", responses=errors, response_model=list[VersionSummary])
    def list_versions(plan: str, _: CurrentPrincipal) -> list[dict[str, Any]]:
        """Every finished version, oldest first: status, objective, what moved, the changes it includes."""
        with transaction() as session:
            return plans.list_versions(session, plan_id=plan)

    @app.get(
        "/v1/plans/{plan}/versions/latest",
        responses=errors,
        response_model=VersionRead,
        response_model_exclude_unset=True,
    )
    def latest_version(plan: str, _: CurrentPrincipal) -> dict[str, Any]:
        """The newest finished version (docs/format.md section 6), with the ids of the changes it includes."""
        with transaction() as session:
            return plans.get_version_or_raise(session, plan_id=plan, number=None).body

    @app.get(
        "/v1/plans/{plan}/versions/{number}",
        responses=errors,
        response_model=VersionRead,
        response_model_exclude_unset=True,
    )
    def get_version(plan: str, number: int, _: CurrentPrincipal) -> dict[str, Any]:
        """Version ``number`` (docs/format.md section 6)."""
        with transaction() as session:
            return plans.get_version_or_raise(session, plan_id=plan, number=number).body

    conflict: dict[int | str, dict[str, Any]] = {
        409: {"description": "the version is no longer the latest", "content": {PROBLEM: {}}}
    }

    @app.post(
        "/v1/plans/{plan}/versions/{number}/approve", status_code=202, responses={**accepted, **errors, **conflict}
    )
    def approve(
        plan: str, number: int, by: CurrentStakeholder, token: BearerToken, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Approve version ``number``: 409 unless it is the latest. Its windows become announced."""
        with transaction() as session:
            first = replayed(session, token, key)
            if first is not None:
                return first
            plans.approve_check(session, plan_id=plan, number=number)
            return change(session, plan, by, {"action": "approve", "version": number}, token, key)

    @app.post("/v1/plans/{plan}/objections", status_code=202, responses={**accepted, **errors})
    def object_to(
        plan: str,
        body: ObjectionCreate,
        by: CurrentStakeholder,
        token: BearerToken,
        key: IdempotencyKey = None,
    ) -> JSONResponse:
        """A veto or a soft objection (representatives within their scope, approvers)."""
        with transaction() as session:
            return change(session, plan, by, {"action": "object", **body.model_dump(mode="json")}, token, key)

    @app.post("/v1/plans/{plan}/events", status_code=202, responses={**accepted, **errors})
    def declare_event(
        plan: str, body: EventIn, by: CurrentStakeholder, token: BearerToken, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Declare a critical event (representatives inside their scope, approvers)."""
        with transaction() as session:
            step = {"action": "declare_event", "event": body.model_dump(mode="json", exclude_none=True)}
            return change(session, plan, by, step, token, key)

    @app.delete("/v1/plans/{plan}/events/{event_id}", status_code=202, responses={**accepted, **errors})
    def remove_event(
        plan: str, event_id: str, by: CurrentStakeholder, token: BearerToken, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Extension: remove an event (approvers); a blackout goes only when a second, different approver agrees."""
        with transaction() as session:
            return change(session, plan, by, {"action": "remove_event", "event": event_id}, token, key)

    @app.post("/v1/plans/{plan}/requests", status_code=202, responses={**accepted, **errors})
    def submit(
        plan: str, body: RequestIn, by: CurrentStakeholder, token: BearerToken, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Submit a maintenance request (requesters their own, approvers any)."""
        with transaction() as session:
            request = body.model_dump(mode="json", exclude_none=True)
            return change(session, plan, by, {"action": "submit", "request": request}, token, key)

    @app.delete("/v1/plans/{plan}/requests/{request_id}", status_code=202, responses={**accepted, **errors})
    def withdraw(
        plan: str, request_id: str, by: CurrentStakeholder, token: BearerToken, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Withdraw a request (its requester, approvers)."""
        with transaction() as session:
            return change(session, plan, by, {"action": "withdraw", "request": request_id}, token, key)

    @app.post("/v1/plans/{plan}/counters", responses=errors, response_model=CounterRead)
    def counter(plan: str, body: CounterCreate, by: CurrentStakeholder) -> dict[str, Any]:
        """Extension: what another start would do, answered at once: its impact against the current
        window's, whether it is allowed and what forbids it. It changes nothing and is not stored."""
        with transaction() as session:
            return plans.counter(session, plan_states, plan_id=plan, by=by.id, body=body.model_dump(mode="json"))

    @app.post("/v1/plans/{plan}/pins", status_code=202, responses={**accepted, **errors})
    def pin(
        plan: str, body: PinCreate, by: CurrentStakeholder, token: BearerToken, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Extension: an approver fixes a request at an allowed start."""
        with transaction() as session:
            return change(session, plan, by, {"action": "pin", **body.model_dump(mode="json")}, token, key)

    @app.post("/v1/plans/{plan}/overrides", status_code=202, responses={**accepted, **errors})
    def override_veto(
        plan: str, body: OverrideCreate, by: CurrentStakeholder, token: BearerToken, key: IdempotencyKey = None
    ) -> JSONResponse:
        """Extension: lift a veto; the first approver proposes, a second, different one lifts it."""
        with transaction() as session:
            return change(session, plan, by, {"action": "override_veto", **body.model_dump(mode="json")}, token, key)

    @app.get("/v1/plans/{plan}/changes/{change_id}", responses=errors, response_model=ChangeRead)
    def get_change(plan: str, change_id: int, _: CurrentPrincipal) -> dict[str, Any]:
        """A change: pending, or accepted into a version, or refused with the reason."""
        with transaction() as session:
            return plans.change_json(plans.get_change_or_raise(session, plan_id=plan, change_id=change_id))

    @app.get("/v1/plans/{plan}/audit", responses=errors, response_model=AuditRead)
    def read_audit(plan: str, _: CurrentPrincipal) -> dict[str, Any]:
        """The plan's audit log, hash-chained; ``intact`` says whether every link checks out."""
        with transaction() as session:
            return {
                "entries": plans.list_audit(session, plan_id=plan),
                "intact": not audit.verify(session, plan_id=plan),
            }

    # -- calendars ---------------------------------------------------------------------------

    ics: dict[int | str, dict[str, Any]] = {
        **errors,
        200: {"content": {"text/calendar": {}}, "description": "RFC 5545 calendar"},
    }

    def calendar_of(session: Session, plan: str, stakeholder_id: str | None) -> Response:
        """The plan's windows across its versions as iCalendar, limited to a stakeholder's scope."""
        plans.get_plan_or_raise(session, plan_id=plan)
        history = plan_states.history(session, plan)
        if history is None:
            raise NotFound("the first version is still being solved")
        scope = history.problem.stakeholder_by_id.get(stakeholder_id) if stakeholder_id else None
        return Response(calendar(history, scope), media_type="text/calendar")

    @app.get("/v1/plans/{plan}/calendar.ics", responses=ics, response_class=Response)
    def calendar_feed(plan: str, _: CurrentPrincipal) -> Response:
        """The plan's windows as iCalendar: SEQUENCE grows when a window moves; withdrawn ones are cancelled."""
        with transaction() as session:
            return calendar_of(session, plan, None)

    @app.get("/v1/plans/{plan}/stakeholders/{stakeholder_id}/calendar.ics", responses=ics, response_class=Response)
    def stakeholder_calendar(plan: str, stakeholder_id: str, by: CurrentPrincipal) -> Response:
        """The windows in one stakeholder's scope (theirs to read, an approver's, or the admin's)."""
        with transaction() as session:
            stakeholders = plan_states.scenario(session, plan).problem.stakeholder_by_id
            if isinstance(by, StakeholderRef) and by.id != stakeholder_id and stakeholders[by.id].role != "approver":
                raise Forbidden("only the stakeholder themselves or an approver may read this feed")
            if stakeholder_id not in stakeholders:
                raise NotFound(f"no stakeholder {stakeholder_id!r} in plan {plan!r}")
            return calendar_of(session, plan, stakeholder_id)

    @app.post("/v1/plans/{plan}/feeds", status_code=201, responses=errors, response_model=FeedCreated)
    def create_feed(plan: str, body: FeedCreate, by: CurrentStakeholder, request: Request) -> dict[str, Any]:
        """A secret calendar URL to subscribe to without a bearer header; shown once."""
        with transaction() as session, locks.writing(session, plan):
            feed, secret = feeds.create(session, plan_id=plan, stakeholder=by.id, scope=body.scope)
            audit.append(session, plan_id=plan, actor=by.actor, action="create_feed", detail={"feed": feed.id})
            return feeds.feed_json(feed, url=str(request.url_for("subscribed_calendar", secret=secret)))

    @app.get("/v1/plans/{plan}/feeds", responses=errors, response_model=list[FeedRead])
    def list_feeds(plan: str, by: CurrentPrincipal) -> list[dict[str, Any]]:
        """The feeds that still work: your own (the admin sees all). Their URLs were shown once."""
        with transaction() as session:
            plans.get_plan_or_raise(session, plan_id=plan)
            return [feeds.feed_json(feed) for feed in feeds.list_feeds(session, plan_id=plan, stakeholder=own(by))]

    @app.delete("/v1/plans/{plan}/feeds/{feed_id}", status_code=204, responses=errors, response_class=Response)
    def revoke_feed(plan: str, feed_id: int, by: CurrentPrincipal) -> Response:
        """Revoke a feed: its URL stops working at once."""
        with transaction() as session:
            feed = feeds.get_or_raise(session, plan_id=plan, feed_id=feed_id, stakeholder=own(by))
            with locks.writing(session, plan):
                feed.revoked = True
                audit.append(session, plan_id=plan, actor=by.actor, action="revoke_feed", detail={"feed": feed.id})
            return Response(status_code=204)

    @app.get(
        "/v1/feeds/{secret}.ics",
        name="subscribed_calendar",
        responses={404: errors[404], 200: ics[200]},
        response_class=Response,
    )
    def subscribed_calendar(secret: str) -> Response:
        """A feed by its secret URL, for calendar apps: no bearer header."""
        with transaction() as session:
            feed = feeds.get_by_secret_or_raise(session, secret=secret)
            return calendar_of(session, feed.plan_id, feed.stakeholder if feed.scope == "mine" else None)

    # -- webhooks ----------------------------------------------------------------------------

    @app.post("/v1/plans/{plan}/webhooks", status_code=201, responses=errors, response_model=WebhookCreated)
    def create_webhook(plan: str, body: WebhookCreate, by: CurrentStakeholder) -> dict[str, Any]:
        """Register a URL for new versions and reminders; its signing secret is shown once."""
        with transaction() as session:
            plans.get_plan_or_raise(session, plan_id=plan)
            leads = settings.reminders if body.reminders is None else body.reminders
            with locks.writing(session, plan):
                webhook = webhooks.create(session, plan_id=plan, stakeholder=by.id, url=str(body.url), reminders=leads)
                detail = {"webhook": webhook.id, "url": webhook.url}
                audit.append(session, plan_id=plan, actor=by.actor, action="create_webhook", detail=detail)
            courier.wake.set()
            return webhooks.webhook_json(webhook, secret=True)

    @app.get("/v1/plans/{plan}/webhooks", responses=errors, response_model=list[WebhookRead])
    def list_webhooks(plan: str, by: CurrentPrincipal) -> list[dict[str, Any]]:
        """Your webhooks (the admin sees all), without their secrets."""
        with transaction() as session:
            plans.get_plan_or_raise(session, plan_id=plan)
            listed = webhooks.list_webhooks(session, plan_id=plan, stakeholder=own(by))
            return [webhooks.webhook_json(webhook) for webhook in listed]

    @app.delete("/v1/plans/{plan}/webhooks/{webhook_id}", status_code=204, responses=errors, response_class=Response)
    def delete_webhook(plan: str, webhook_id: int, by: CurrentPrincipal) -> Response:
        """Stop calling a URL; messages not yet sent are dropped."""
        with transaction() as session:
            webhook = webhooks.get_or_raise(session, plan_id=plan, webhook_id=webhook_id, stakeholder=own(by))
            with locks.writing(session, plan):
                webhook.active = False
                detail = {"webhook": webhook.id}
                audit.append(session, plan_id=plan, actor=by.actor, action="delete_webhook", detail=detail)
            return Response(status_code=204)

    @app.get("/v1/plans/{plan}/webhooks/{webhook_id}/deliveries", responses=errors, response_model=list[DeliveryRead])
    def list_deliveries(plan: str, webhook_id: int, by: CurrentPrincipal) -> list[dict[str, Any]]:
        """The delivery log, newest first: each message, its status and every attempt."""
        with transaction() as session:
            webhook = webhooks.get_or_raise(session, plan_id=plan, webhook_id=webhook_id, stakeholder=own(by))
            return webhooks.list_deliveries(session, webhook=webhook)

    return app


def _admin_token_hash(settings: Settings, sessions: Any) -> str:
    """The admin token's hash: from the environment, or made once, printed once and kept."""
    if settings.admin_token:
        return plans.token_hash(settings.admin_token)
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
            session.add(AdminKeyRow(id=1, token_hash=plans.token_hash(token)))
    except IntegrityError:  # another server made it first
        with sessions() as session:
            stored = session.get(AdminKeyRow, 1)
            assert stored is not None
            return str(stored.token_hash)
    print(f"negotiator: admin token (shown once, keep it): {token}", file=sys.stderr, flush=True)
    return plans.token_hash(token)
