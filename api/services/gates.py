"""Deploy gates: whether a request's announced window is open now, read from what is stored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from api.db import unit_of_work
from api.errors import Forbidden, NotFound
from api.principals import Principal, StakeholderRef
from api.services.versions import get_version_or_raise
from scheduler.authority import concerns
from scheduler.gate import gate
from scheduler.timeline import format_utc

if TYPE_CHECKING:
    from api.runtime import Runtime


@unit_of_work
def read_gate(session: Session, runtime: Runtime, *, plan_id: str, request_id: str, by: Principal) -> dict[str, Any]:
    """The gate of ``request_id`` at the plan's now: the server's time, or a rehearsal's own clock.

    Any stakeholder reads the gate of a request in their scope (approvers and the admin: any).
    """
    get_version_or_raise(session, plan_id=plan_id, number=None)  # reading never solves
    state = runtime.plans.state(session, plan_id)
    with state.lock:
        negotiation = state.negotiation
        problem, version, announced = negotiation.problem, negotiation.current, dict(negotiation.announced)
        # A withdrawn request is still known: its gate stays closed.
        request = next(
            (p.request_by_id[request_id] for p in reversed(negotiation.problems) if request_id in p.request_by_id), None
        )
    if request is None:
        raise NotFound(f"no request {request_id!r} in plan {plan_id!r}")
    if isinstance(by, StakeholderRef) and not concerns(problem.stakeholder_by_id.get(by.id), request):
        raise Forbidden(f"outside scope: request {request_id!r} touches none of {by.id!r}'s regions and services")
    now = runtime.plans.now() if runtime.plans.live(session, plan_id) else problem.now
    found = gate(problem, version, announced, request_id, now)
    return {
        "request": found.request,
        "open": found.open,
        "window": {"start": format_utc(found.window.start), "end": format_utc(found.window.end)}
        if found.window is not None
        else None,
        "announced": found.announced,
        "next_transition": format_utc(found.next_transition) if found.next_transition is not None else None,
    }
