"""The review page at ``/plans/{plan}``: stakeholders sign in with their token, look at the
proposed schedule and, with the authority, object or approve through forms checked by the same
rules as the API.

Signing in with a stakeholder's token opens a session of the page's own (``tokens.open_page_session``):
the HttpOnly, SameSite=Strict cookie scoped to the plan's path holds the session, never the bearer
token, and signing out ends it on the server. Every form carries a CSRF token derived from the
session (HMAC), and a cross-site Origin or Sec-Fetch-Site is refused, so another site can neither
read nor forge a stakeholder's forms.
"""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import views
from api.deps import Auth, AuthDep, RuntimeDep, SessionDep, client_address
from api.errors import ApiError, Forbidden, TooManyRequests, Unauthorized
from api.models import ChangeRow
from api.principals import Admin, StakeholderRef
from api.runtime import Runtime
from api.services import changes, plans, tokens, versions
from scheduler.authority import may
from scheduler.errors import ScenarioError

TEMPLATES = Path(__file__).parent.parent / "templates"
COOKIE = "negotiator_session"
Token = Annotated[str | None, Cookie(alias=COOKIE)]

# The page's routes (not part of the JSON API's OpenAPI document).
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES)
templates.env.filters["number"] = lambda value: f"{value:,.0f}"


def csrf_token(token: str, plan_id: str) -> str:
    """The form token of a signed-in page: only someone holding the cookie's session can make it."""
    return hmac.new(token.encode(), f"csrf:{plan_id}".encode(), hashlib.sha256).hexdigest()


def _same_origin(request: Request) -> bool:
    """Whether a form post comes from this site (browsers send Origin or Sec-Fetch-Site)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


@dataclass(frozen=True)
class Page:
    """One request to the page: the request, its session, the runtime and who tells callers apart."""

    request: Request
    session: Session
    runtime: Runtime
    auth: Auth


async def page_request(request: Request, session: SessionDep, runtime: RuntimeDep, auth: AuthDep) -> Page:
    return Page(request, session, runtime, auth)


PageDep = Annotated[Page, Depends(page_request)]


def who(page: Page, plan_id: str, session_token: str | None) -> StakeholderRef:
    """The stakeholder whose page session this is, of a plan that exists."""
    by = page.auth.principal(plan_id, session_token, use="page")
    assert isinstance(by, StakeholderRef)  # the page never takes the admin token
    plans.get_plan_or_raise(page.session, plan_id=plan_id)
    return by


def sign_in_page(page: Page, plan_id: str, error: str | None = None, status: int = 200) -> Response:
    context = {"plan": plan_id, "error": error}
    return templates.TemplateResponse(page.request, "sign_in.html", context, status_code=status)


def review_page(
    page: Page,
    plan_id: str,
    by: StakeholderRef,
    token: str,
    *,
    message: str | None = None,
    change_id: int | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The page as the database has it. The solver may store a version while the page is read, so
    the changes are read first, then the versions, then the history cut to those versions: the page
    is never older than the changes it shows, and one still pending makes it poll until solved."""
    session = page.session
    rows = session.scalars(select(ChangeRow).where(ChangeRow.plan_id == plan_id).order_by(ChangeRow.seq))
    shown = {row.id: changes.change_json(row) for row in rows}
    stored = versions.list_versions(session, plan_id=plan_id)
    history = page.runtime.plans.history(session, plan_id) if stored else None
    if history is None:
        waiting = {"plan": plan_id, "by": by.actor}
        return templates.TemplateResponse(page.request, "solving.html", waiting, status_code=status)
    if change_id in shown:
        message = views.change_message(shown[change_id])
    stakeholder = history.problem.stakeholder_by_id.get(by.id)
    context: dict[str, Any] = {
        "plan": plan_id,
        "name": history.scenario,
        "by": by.actor,
        "role": stakeholder.role if stakeholder else "",
        "csrf": csrf_token(token, plan_id),
        "message": message,
        "typed": typed or {},
        "can_approve": may(stakeholder, "approve"),
        **views.page(history.up_to(stored[-1]["version"]), stakeholder=stakeholder, versions=stored, changes=shown),
    }
    return templates.TemplateResponse(page.request, "plan.html", context, status_code=status)


def submit(
    page: Page, plan_id: str, token: str | None, csrf: str, step: dict[str, Any], typed: dict[str, str] | None = None
) -> Response:
    """Record a change from a form, then show the page again (with what became of it). A refused
    form comes back as it was ``typed``, with the refusal naming the form's fields."""
    if not token:
        return sign_in_page(page, plan_id, "sign in first", 401)
    try:
        by = who(page, plan_id, token)
    except Unauthorized:
        return sign_in_page(page, plan_id, "your session is no longer valid: sign in again", 401)
    if not _same_origin(page.request) or not hmac.compare_digest(csrf, csrf_token(token, plan_id)):
        return review_page(
            page, plan_id, by, token, message="refused: the form did not come from this page", status=403
        )
    try:
        if step["action"] == "approve":
            versions.approve_check(page.session, plan_id=plan_id, number=step["version"])
        change_id = changes.record_change(page.session, page.runtime, plan_id=plan_id, by=by.id, step=step)
    except ScenarioError as invalid:
        message = f"refused: {views.refusal_in_words(invalid.path, invalid.message)}"
        return review_page(page, plan_id, by, token, message=message, typed=typed, status=422)
    except ApiError as refusal:
        message = f"refused: {refusal.detail}"
        return review_page(page, plan_id, by, token, message=message, typed=typed, status=refusal.status)
    page.runtime.changed()
    return RedirectResponse(f"/plans/{plan_id}?change={change_id}", status_code=303)


@router.get("/plans/{plan}", response_class=HTMLResponse)
def show(page: PageDep, plan: str, token: Token = None) -> Response:
    if not token:
        return sign_in_page(page, plan)
    try:
        by = who(page, plan, token)
    except Unauthorized:
        return sign_in_page(page, plan, "your session is no longer valid: sign in again", 401)
    change = page.request.query_params.get("change", "")
    known = change.isdigit() and len(change) < 10  # a change id a database integer holds
    return review_page(page, plan, by, token, change_id=int(change) if known else None)


@router.get("/plans/{plan}/status")
def status(page: PageDep, plan: str, token: Token = None) -> JSONResponse:
    """What the page polls: the latest version and how many changes wait for the solver."""
    who(page, plan, token)
    listed = versions.list_versions(page.session, plan_id=plan)
    pending = page.session.scalars(select(ChangeRow.id).where(ChangeRow.plan_id == plan, ChangeRow.pending)).all()
    return JSONResponse({"version": listed[-1]["version"] if listed else None, "pending": len(pending)})


@router.post("/plans/{plan}/sign-in")
def sign_in(page: PageDep, plan: str, token: Annotated[str, Form()] = "") -> Response:
    """Sign a stakeholder in: only from this site's own form, at most ten tries a minute from one
    address, and never with the admin token (the admin uses the API)."""
    if not _same_origin(page.request):
        return sign_in_page(page, plan, "refused: the form did not come from this page", 403)
    try:
        page.auth.sign_ins.take(client_address(page.request))
    except TooManyRequests as slow_down:
        response = sign_in_page(page, plan, f"{slow_down.detail}: wait a minute", 429)
        response.headers["Retry-After"] = "60"
        return response
    token = token.strip()
    try:
        by = page.auth.principal(plan, token)
        plans.get_plan_or_raise(page.session, plan_id=plan)
        if isinstance(by, Admin):
            return sign_in_page(page, plan, "the admin token does not sign in here: use a stakeholder's token", 403)
    except Unauthorized:
        return sign_in_page(page, plan, "this token is not valid for this plan", 401)
    except Forbidden as refused:  # a token that only reads deploy gates
        return sign_in_page(page, plan, refused.detail, 403)
    opened = tokens.open_page_session(page.session, plan_id=plan, stakeholder=by.id)
    response = RedirectResponse(f"/plans/{plan}", status_code=303)
    response.set_cookie(
        COOKIE,
        opened,
        path=f"/plans/{plan}",
        httponly=True,
        samesite="strict",
        secure=page.request.url.scheme == "https",
    )
    return response


@router.post("/plans/{plan}/sign-out")
def sign_out(page: PageDep, plan: str, token: Token = None) -> Response:
    """End the page's session, on the server as in the browser."""
    if token:
        tokens.close_page_session(page.session, token=token)
    response = RedirectResponse(f"/plans/{plan}", status_code=303)
    response.delete_cookie(COOKIE, path=f"/plans/{plan}")
    return response


@router.post("/plans/{plan}/object")
def object_to(
    page: PageDep,
    plan: str,
    request_id: Annotated[str, Form(alias="request")],
    kind: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    weight: Annotated[str, Form()] = "",
    avoid_start: Annotated[str, Form()] = "",
    avoid_end: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    token: Token = None,
) -> Response:
    step: dict[str, Any] = {"action": "object", "request": request_id, "kind": kind}
    if avoid_start.strip() or avoid_end.strip():
        step["avoid"] = [{"start": avoid_start.strip(), "end": avoid_end.strip()}]
    if kind == "soft" and weight.strip():
        step["weight"] = _number(weight)
    if reason.strip():
        step["reason"] = reason.strip()
    typed = {
        "request": request_id,
        "kind": kind,
        "weight": weight,
        "avoid_start": avoid_start,
        "avoid_end": avoid_end,
        "reason": reason,
    }
    return submit(page, plan, token, csrf, step, typed)


@router.post("/plans/{plan}/approve")
def approve(
    page: PageDep,
    plan: str,
    version: Annotated[int, Form()],
    csrf: Annotated[str, Form()] = "",
    token: Token = None,
) -> Response:
    return submit(page, plan, token, csrf, {"action": "approve", "version": version})


def _number(text: str) -> float | str:
    """A form's number, or the text itself for the schema to refuse with the field's name."""
    try:
        return float(text)
    except ValueError:
        return text
