"""Versions: list them, read one as it was stored, approve the newest."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.bodies import VersionRead, VersionSummary
from api.deps import ChangeSenderDep, CurrentPrincipal, SessionDep
from api.errors import PROBLEM
from api.routes import ACCEPTED, PROBLEMS, Responses, RowNumber
from api.services import versions

router = APIRouter()


@router.get("/v1/plans/{plan}/versions", responses=PROBLEMS, response_model=list[VersionSummary])
def list_versions(plan: str, _: CurrentPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """Every finished version, oldest first: status, objective, what moved, the changes it includes."""
    return versions.list_versions(session, plan_id=plan)


# Before ``/versions/{number}``: "latest" is not a number.
@router.get(
    "/v1/plans/{plan}/versions/latest",
    responses=PROBLEMS,
    response_model=VersionRead,
    response_model_exclude_unset=True,
)
def latest_version(plan: str, _: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """The newest finished version (docs/format.md section 6), with the ids of the changes it includes."""
    return versions.get(session, plan_id=plan, number=None)


@router.get(
    "/v1/plans/{plan}/versions/{number}",
    responses=PROBLEMS,
    response_model=VersionRead,
    response_model_exclude_unset=True,
)
def get_version(plan: str, number: RowNumber, _: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """Version ``number`` (docs/format.md section 6)."""
    return versions.get(session, plan_id=plan, number=number)


CONFLICT: Responses = {409: {"description": "the version is no longer the latest", "content": {PROBLEM: {}}}}


@router.post("/v1/plans/{plan}/versions/{number}/approve", status_code=202, responses={**ACCEPTED, **CONFLICT})
def approve(
    plan: str,
    number: RowNumber,
    sender: ChangeSenderDep,
) -> JSONResponse:
    """Approve version ``number``: 409 unless it is the latest. Its windows become announced."""
    return sender.approve(number)
