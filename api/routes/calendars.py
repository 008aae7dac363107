"""Calendars: the plan's windows as iCalendar, whole or in one stakeholder's scope."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import CurrentPrincipal, RuntimeDep, SessionDep
from api.routes import CALENDAR, PROBLEMS
from api.services import calendars

router = APIRouter()

ICS = "text/calendar"


@router.get("/v1/plans/{plan}/calendar.ics", responses={**PROBLEMS, **CALENDAR}, response_class=Response)
def calendar_feed(plan: str, _: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep) -> Response:
    """The plan's windows as iCalendar: SEQUENCE grows when a window moves; withdrawn ones are cancelled."""
    return Response(calendars.plan_calendar(session, runtime, plan_id=plan), media_type=ICS)


@router.get(
    "/v1/plans/{plan}/stakeholders/{stakeholder_id}/calendar.ics",
    responses={**PROBLEMS, **CALENDAR},
    response_class=Response,
)
def stakeholder_calendar(
    plan: str, stakeholder_id: str, by: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """The windows in one stakeholder's scope (theirs to read, an approver's, or the admin's)."""
    body = calendars.stakeholder_calendar(session, runtime, plan_id=plan, stakeholder_id=stakeholder_id, by=by)
    return Response(body, media_type=ICS)
