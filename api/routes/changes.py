"""Changes: objections, events, requests, withdrawals, pins and overrides, each stored at once and
answered ``202`` with where to follow it; counters, answered at once; what became of a change."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api.bodies import ChangeRead, CounterCreate, CounterRead, ObjectionCreate, OverrideCreate, PinCreate
from api.deps import BearerToken, CurrentPrincipal, CurrentStakeholder, IdempotencyKey, RuntimeDep, SessionDep
from api.routes import ACCEPTED, PROBLEMS
from api.runtime import Runtime
from api.services import changes
from scheduler.schema import EventIn, RequestIn

router = APIRouter()


def _send(
    session: Session, runtime: Runtime, plan: str, by: str, step: dict[str, Any], token: str | None, key: str | None
) -> JSONResponse:
    status, body = changes.send(session, runtime, plan_id=plan, by=by, step=step, token=token, key=key)
    return JSONResponse(body, status_code=status)


@router.post("/v1/plans/{plan}/objections", status_code=202, responses=ACCEPTED)
def object_to(
    plan: str,
    body: ObjectionCreate,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """A veto or a soft objection (representatives within their scope, approvers)."""
    return _send(session, runtime, plan, by.id, {"action": "object", **body.model_dump(mode="json")}, token, key)


@router.post("/v1/plans/{plan}/events", status_code=202, responses=ACCEPTED)
def declare_event(
    plan: str,
    body: EventIn,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Declare a critical event (representatives inside their scope, approvers)."""
    step = {"action": "declare_event", "event": body.model_dump(mode="json", exclude_none=True)}
    return _send(session, runtime, plan, by.id, step, token, key)


@router.delete("/v1/plans/{plan}/events/{event_id}", status_code=202, responses=ACCEPTED)
def remove_event(
    plan: str,
    event_id: str,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Extension: remove an event (approvers); a blackout goes only when a second, different approver agrees."""
    return _send(session, runtime, plan, by.id, {"action": "remove_event", "event": event_id}, token, key)


@router.post("/v1/plans/{plan}/requests", status_code=202, responses=ACCEPTED)
def submit(
    plan: str,
    body: RequestIn,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Submit a maintenance request (requesters their own, approvers any)."""
    request = body.model_dump(mode="json", exclude_none=True)
    return _send(session, runtime, plan, by.id, {"action": "submit", "request": request}, token, key)


@router.delete("/v1/plans/{plan}/requests/{request_id}", status_code=202, responses=ACCEPTED)
def withdraw(
    plan: str,
    request_id: str,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Withdraw a request (its requester, approvers)."""
    return _send(session, runtime, plan, by.id, {"action": "withdraw", "request": request_id}, token, key)


@router.post("/v1/plans/{plan}/counters", responses=PROBLEMS, response_model=CounterRead)
def counter(
    plan: str, body: CounterCreate, by: CurrentStakeholder, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Extension: what another start would do, answered at once: its impact against the current
    window's, whether it is allowed and what forbids it. It changes nothing and is not stored."""
    return changes.counter(session, runtime, plan_id=plan, by=by.id, body=body.model_dump(mode="json"))


@router.post("/v1/plans/{plan}/pins", status_code=202, responses=ACCEPTED)
def pin(
    plan: str,
    body: PinCreate,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Extension: an approver fixes a request at an allowed start."""
    return _send(session, runtime, plan, by.id, {"action": "pin", **body.model_dump(mode="json")}, token, key)


@router.post("/v1/plans/{plan}/overrides", status_code=202, responses=ACCEPTED)
def override_veto(
    plan: str,
    body: OverrideCreate,
    by: CurrentStakeholder,
    token: BearerToken,
    session: SessionDep,
    runtime: RuntimeDep,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Extension: lift a veto; the first approver proposes, a second, different one lifts it."""
    step = {"action": "override_veto", **body.model_dump(mode="json")}
    return _send(session, runtime, plan, by.id, step, token, key)


@router.get("/v1/plans/{plan}/changes/{change_id}", responses=PROBLEMS, response_model=ChangeRead)
def get_change(plan: str, change_id: int, _: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """A change: pending, or accepted into a version, or refused with the reason."""
    return changes.get(session, plan_id=plan, change_id=change_id)
