"""Plans (the admin's): create one from a scenario, list them, show one; and a plan's silences."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator

from api.bodies import PlanCreated, PlanRead, PlanSummary, SilenceRead
from api.deps import AdminDep, CurrentPrincipal, RuntimeDep, SessionDep
from api.models import PlanClock
from api.routes import PROBLEMS
from api.services import plans, silences
from api.settings import base_url
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
    alertmanager: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="the Alertmanager that gets a silence over each announced window of a request with "
            "`silence` matchers; default NEGOTIATOR_ALERTMANAGER_URL",
        ),
        AfterValidator(base_url),
    ] = None,
) -> dict[str, str]:
    """Create a plan from a scenario (the file format, as JSON); its steps become its first changes."""
    scenario = body.model_dump(mode="json", exclude_none=True)
    return {"id": plans.create_plan(session, runtime, body=scenario, clock=clock, alertmanager_url=alertmanager)}


@router.get("/v1/plans", responses=PROBLEMS, response_model=list[PlanSummary])
def list_plans(_: AdminDep, session: SessionDep) -> list[dict[str, Any]]:
    """Every plan, oldest first (the admin)."""
    return plans.list_plans(session)


@router.get("/v1/plans/{plan}", responses=PROBLEMS, response_model=PlanRead)
def show_plan(plan: str, _: AdminDep, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """One plan: its clock, newest version, pending changes and each stakeholder's tokens (the admin)."""
    return plans.plan_json(session, runtime, plan_id=plan)


@router.get("/v1/plans/{plan}/silences", responses=PROBLEMS, response_model=list[SilenceRead])
def list_silences(plan: str, _: CurrentPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """The plan's Alertmanager silences, one per announced window of a request with `silence` matchers."""
    return silences.list_silences(session, plan_id=plan)
