"""Plans (the admin's): create one from a scenario, list them, show one."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.bodies import PlanCreated, PlanRead, PlanSummary
from api.deps import AdminDep, RuntimeDep, SessionDep
from api.models import PlanClock
from api.routes import PROBLEMS
from api.services import plans
from scheduler.schema import ScenarioIn

router = APIRouter()


@router.post("/v1/plans", status_code=201, responses=PROBLEMS, response_model=PlanCreated)
def create_plan(
    body: ScenarioIn,
    _: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    clock: Annotated[
        PlanClock,
        Query(
            description="live (default): the server's time, the body's now and at ignored; "
            "scenario: a rehearsal on the scenario's clock, moved by approvers' at"
        ),
    ] = "live",
) -> dict[str, str]:
    """Create a plan from a scenario (the file format, as JSON); its steps become its first changes."""
    scenario = body.model_dump(mode="json", exclude_none=True)
    return {"id": plans.create_plan(session, runtime, body=scenario, clock=clock)}


@router.get("/v1/plans", responses=PROBLEMS, response_model=list[PlanSummary])
def list_plans(_: AdminDep, session: SessionDep) -> list[dict[str, Any]]:
    """Every plan, oldest first (the admin)."""
    return plans.list_plans(session)


@router.get("/v1/plans/{plan}", responses=PROBLEMS, response_model=PlanRead)
def show_plan(plan: str, _: AdminDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """One plan: its clock, newest version, pending changes and each stakeholder's tokens (the admin)."""
    return plans.plan_json(session, runtime, plan_id=plan)
