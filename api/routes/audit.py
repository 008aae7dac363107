"""The plan's audit log, hash-chained."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Any

from fastapi import APIRouter

from api.bodies import AuditRead
from api.deps import CurrentPrincipal, SessionDep
from api.routes import PROBLEMS
from api.services import audit

router = APIRouter()


@router.get("/v1/plans/{plan}/audit", responses=PROBLEMS, response_model=AuditRead)
def read_audit(plan: str, by: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """The plan's audit log, hash-chained; ``intact`` says whether every link checks out."""
    return audit.log_json(session, plan_id=plan, by=by)
