"""Plans: made from a scenario by the admin, listed and shown to the admin."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.db import unit_of_work
from api.errors import NotFound
from api.models import ChangeRow, PlanClock, PlanRow, TokenRow, VersionRow
from api.services import audit
from scheduler.domain import Problem
from scheduler.errors import ScenarioError
from scheduler.scenario import load_data
from scheduler.timeline import format_utc

if TYPE_CHECKING:
    from api.runtime import Runtime


@unit_of_work
def create_plan(
    session: Session, runtime: Runtime, *, body: dict[str, Any], clock: PlanClock, alertmanager_url: str | None = None
) -> str:
    """A new plan from a scenario body; its ``negotiation`` steps become its first changes.

    A live plan starts at the server's time: the body's ``now`` and its steps' ``at`` are dropped,
    and its steps are taken then, in order. A rehearsal keeps the scenario's clock.
    """
    now = runtime.plans.now()
    if clock == "live":
        steps = [{key: value for key, value in step.items() if key != "at"} for step in body.get("negotiation") or []]
        body = {**body, "now": format_utc(now), "negotiation": steps}
    scenario = load_data(body)
    check_size(scenario.problem, runtime.settings.max_problem_cells)
    plan_id = f"{scenario.name}-{uuid.uuid4().hex[:8]}"
    session.add(
        PlanRow(
            id=plan_id,
            name=scenario.name,
            scenario=body,
            clock=clock,
            created_at=now,
            alertmanager_url=alertmanager_url,
        )
    )
    session.flush()
    with runtime.locks.writing(session, plan_id):
        detail = {"name": scenario.name, "clock": clock, "alertmanager": alertmanager_url}
        audit.append(session, plan_id=plan_id, actor="admin", action="create_plan", detail=detail)
        for index, step in enumerate(body.get("negotiation") or []):
            session.add(
                ChangeRow(
                    plan_id=plan_id,
                    seq=index,
                    by=step["by"],
                    action=step["action"],
                    step=step,
                    alone=True,
                    received_at=now,
                )
            )
    runtime.changed()
    return plan_id


SMALLER = {
    "horizon.slot_minutes": "a shorter horizon or longer slots",
    "requests": "fewer requests in one plan",
    "regions": "fewer regions",
}


def check_size(problem: Problem, budget: int, *, more_requests: int = 0) -> None:
    """Refuse a plan too big for this server to solve in its time limit (422 naming the field to
    shrink): slots × regions × requests (each occurrence of a recurring one) above ``budget``."""
    slots, regions = problem.grid.count, len(problem.regions)
    requests = len(problem.occurrences) + more_requests
    cells = slots * regions * requests
    if cells <= budget:
        return
    factors = {"horizon.slot_minutes": slots, "requests": requests, "regions": regions}
    field = max(factors, key=factors.__getitem__)  # the biggest factor is the one to shrink
    raise ScenarioError(
        field,
        f"the plan is too big to solve here: {slots:,} slots × {regions} regions × {requests} requests is "
        f"{cells:,}, more than this server's {budget:,} (NEGOTIATOR_MAX_PROBLEM_CELLS); use {SMALLER[field]}",
    )


@unit_of_work
def list_plans(session: Session) -> list[dict[str, Any]]:
    """Every plan, oldest first, with its clock and newest version."""
    newest = select(VersionRow.plan_id, func.max(VersionRow.number)).group_by(VersionRow.plan_id)
    latest = {plan_id: number for plan_id, number in session.execute(newest)}
    return [
        {
            "id": plan.id,
            "name": plan.name,
            "clock": plan.clock,
            "created_at": format_utc(plan.created_at),
            "latest_version": latest.get(plan.id),
        }
        for plan in session.scalars(select(PlanRow).order_by(PlanRow.created_at, PlanRow.id))
    ]


@unit_of_work
def plan_json(session: Session, runtime: Runtime, *, plan_id: str) -> dict[str, Any]:
    """One plan for the admin: its clock, newest version, pending changes and each stakeholder's live tokens."""
    plan = get_plan_or_raise(session, plan_id=plan_id)
    counted = (
        select(TokenRow.stakeholder, func.count()).where(TokenRow.plan_id == plan_id).group_by(TokenRow.stakeholder)
    )
    tokens = {stakeholder: count for stakeholder, count in session.execute(counted)}
    latest = session.scalar(select(func.max(VersionRow.number)).where(VersionRow.plan_id == plan_id))
    pending = session.scalar(select(func.count()).where(ChangeRow.plan_id == plan_id, ChangeRow.pending))
    return {
        "id": plan.id,
        "name": plan.name,
        "clock": plan.clock,
        "created_at": format_utc(plan.created_at),
        "latest_version": latest,
        "pending_changes": pending or 0,
        "stakeholders": [
            {"id": s.id, "name": s.name, "role": s.role, "tokens": tokens.get(s.id, 0)}
            for s in runtime.plans.scenario(session, plan_id).problem.stakeholders
        ],
    }


def get_plan_or_raise(session: Session, *, plan_id: str) -> PlanRow:
    plan = session.get(PlanRow, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id!r}")
    return plan
