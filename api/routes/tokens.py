"""Stakeholders' tokens (the admin's): mint one, shown once; revoke them all."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.bodies import TokenCreated, TokensRevoked
from api.deps import AdminDep, RuntimeDep, SessionDep
from api.models import TokenUse
from api.routes import PROBLEMS
from api.services import tokens

router = APIRouter()


@router.post(
    "/v1/plans/{plan}/stakeholders/{stakeholder_id}/tokens",
    status_code=201,
    responses=PROBLEMS,
    response_model=TokenCreated,
)
def create_token(
    plan: str,
    stakeholder_id: str,
    _: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    use: Annotated[
        TokenUse,
        Query(description="all: what the stakeholder may do; gate: only read deploy gates (for a pipeline)"),
    ] = "all",
) -> dict[str, str]:
    """A token for a stakeholder, shown once: only its hash is stored."""
    return {"token": tokens.create_token(session, runtime, plan_id=plan, stakeholder=stakeholder_id, use=use)}


@router.delete(
    "/v1/plans/{plan}/stakeholders/{stakeholder_id}/tokens", responses=PROBLEMS, response_model=TokensRevoked
)
def revoke_tokens(
    plan: str, stakeholder_id: str, _: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Revoke every token of a stakeholder: each answers 401 from now on (the admin)."""
    revoked = tokens.revoke_tokens(session, runtime, plan_id=plan, stakeholder=stakeholder_id)
    return {"stakeholder": stakeholder_id, "revoked": revoked}
