"""Changes: objections, events, requests, withdrawals, pins and overrides, each stored at once and
answered ``202`` with where to follow it; counters, answered at once; what became of a change."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.bodies import ChangeRead, CounterCreate, CounterRead, ObjectionCreate, OverrideCreate, PinCreate
from api.deps import ChangeSenderDep, CurrentPrincipal, CurrentStakeholder, RuntimeDep, SessionDep
from api.routes import ACCEPTED, PROBLEMS, RowNumber
from api.services import changes
from scheduler.schema import EventIn, RequestIn

router = APIRouter()


@router.post("/v1/plans/{plan}/objections", status_code=202, responses=ACCEPTED)
def object_to(
    plan: str,
    body: ObjectionCreate,
    sender: ChangeSenderDep,
) -> JSONResponse:
    """A veto or a soft objection (representatives within their scope, approvers)."""
    return sender.send({"action": "object", **body.model_dump(mode="json")})


@router.post("/v1/plans/{plan}/events", status_code=202, responses=ACCEPTED)
def declare_event(
    plan: str,
    body: EventIn,
    sender: ChangeSenderDep,
) -> JSONResponse:
    """Declare a critical event (representatives inside their scope, approvers)."""
    step = {"action": "declare_event", "event": body.model_dump(mode="json", exclude_none=True)}
    return sender.send(step)


@router.delete("/v1/plans/{plan}/events/{event_id}", status_code=202, responses=ACCEPTED)
def remove_event(
    plan: str,
    event_id: str,
    sender: ChangeSenderDep,
) -> JSONResponse:
    """Extension: remove an event (approvers); a blackout goes only when a second, different approver agrees."""
    return sender.send({"action": "remove_event", "event": event_id})


@router.post("/v1/plans/{plan}/requests", status_code=202, responses=ACCEPTED)
def submit(
    plan: str,
    body: RequestIn,
    sender: ChangeSenderDep,
) -> JSONResponse:
    """Submit a maintenance request (requesters their own, approvers any)."""
    request = body.model_dump(mode="json", exclude_none=True)
    return sender.send({"action": "submit", "request": request})


@router.delete("/v1/plans/{plan}/requests/{request_id}", status_code=202, responses=ACCEPTED)
def withdraw(
    plan: str,
    request_id: str,
    sender: ChangeSenderDep,
) -> JSONResponse:
    """Withdraw a request (its requester, approvers)."""
    return sender.send({"action": "withdraw", "request": request_id})


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
    sender: ChangeSenderDep,
) -> JSONResponse:
    """Extension: an approver fixes a request at an allowed start."""
    return sender.send({"action": "pin", **body.model_dump(mode="json")})


@router.post("/v1/plans/{plan}/overrides", status_code=202, responses=ACCEPTED)
def override_veto(
    plan: str,
    body: OverrideCreate,
    sender: ChangeSenderDep,
) -> JSONResponse:
    """Extension: lift a veto; the first approver proposes, a second, different one lifts it."""
    step = {"action": "override_veto", **body.model_dump(mode="json")}
    return sender.send(step)


@router.get("/v1/plans/{plan}/changes/{change_id}", responses=PROBLEMS, response_model=ChangeRead)
def get_change(plan: str, change_id: RowNumber, _: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """A change: pending, or accepted into a version, or refused with the reason."""
    return changes.get(session, plan_id=plan, change_id=change_id)
