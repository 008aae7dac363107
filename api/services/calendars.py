"""Calendars: a plan's windows across its versions as iCalendar, whole or in one stakeholder's scope.

Read from what is stored: a calendar never solves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from api.db import unit_of_work
from api.errors import Forbidden, NotFound
from api.principals import Principal, StakeholderRef
from api.services.feeds import get_by_secret_or_raise
from api.services.plans import get_plan_or_raise
from scheduler.authority import may
from scheduler.ics import calendar

if TYPE_CHECKING:
    from api.runtime import Runtime


@unit_of_work
def plan_calendar(session: Session, runtime: Runtime, *, plan_id: str, stakeholder_id: str | None = None) -> bytes:
    """The plan's windows as iCalendar, limited to a stakeholder's scope."""
    get_plan_or_raise(session, plan_id=plan_id)
    history = runtime.plans.history(session, plan_id)
    if history is None:
        raise NotFound("the first version is still being solved")
    scope = history.problem.stakeholder_by_id.get(stakeholder_id) if stakeholder_id else None
    return calendar(history, scope, url=runtime.links.page(plan_id))


@unit_of_work
def stakeholder_calendar(
    session: Session, runtime: Runtime, *, plan_id: str, stakeholder_id: str, by: Principal
) -> bytes:
    """The windows in one stakeholder's scope (theirs to read, an approver's, or the admin's)."""
    get_plan_or_raise(session, plan_id=plan_id)  # the admin may ask about any plan id
    stakeholders = runtime.plans.scenario(session, plan_id).problem.stakeholder_by_id
    if isinstance(by, StakeholderRef) and by.id != stakeholder_id and not may(stakeholders.get(by.id), "read_others"):
        raise Forbidden("only the stakeholder themselves or an approver may read this feed")
    if stakeholder_id not in stakeholders:
        raise NotFound(f"no stakeholder {stakeholder_id!r} in plan {plan_id!r}")
    return plan_calendar(session, runtime, plan_id=plan_id, stakeholder_id=stakeholder_id)


@unit_of_work
def feed_calendar(session: Session, runtime: Runtime, *, secret: str) -> bytes:
    """The calendar a feed's secret URL names: the plan's, or its owner's scope."""
    feed = get_by_secret_or_raise(session, secret=secret)
    stakeholder_id = feed.stakeholder if feed.scope == "mine" else None
    return plan_calendar(session, runtime, plan_id=feed.plan_id, stakeholder_id=stakeholder_id)
