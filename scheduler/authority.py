"""Who may do what: the roles each action takes and the scope rules, in one place. The negotiation
refuses steps with it, and the HTTP service and the review page ask it what to offer."""

from __future__ import annotations

from typing import Literal

from scheduler.domain import Event, Request, Stakeholder
from scheduler.steps import Action

# ``move_clock``: sending ``at`` with a change, which only a rehearsal plan takes;
# ``read_others``: reading the calendar of another stakeholder's scope.
Deed = Action | Literal["move_clock", "read_others"]

# The roles that may take each action, and how a refusal names it.
ROLES: dict[Deed, tuple[tuple[str, ...], str]] = {
    "object": (("representative", "approver"), "object"),
    "counter": (("representative", "approver"), "counter-propose"),
    "declare_event": (("representative", "approver"), "declare events"),
    "submit": (("requester", "approver"), "submit requests"),
    "withdraw": (("requester", "representative", "approver"), "withdraw requests"),
    "approve": (("approver",), "approve"),
    "pin": (("approver",), "pin"),
    "override_veto": (("approver",), "override a veto"),
    "remove_event": (("approver",), "remove events"),
    "move_clock": (("approver",), "move a rehearsal's clock with 'at'"),
    "read_others": (("approver",), "read another stakeholder's calendar"),
}


def refusal(
    stakeholder: Stakeholder, deed: Deed, *, request: Request | None = None, event: Event | None = None
) -> str | None:
    """Why ``stakeholder`` may not do ``deed`` (to ``request``, or declaring ``event``); None if they may."""
    if stakeholder.role == "observer":
        return "observers can read, nothing else"
    roles, what = ROLES[deed]
    if stakeholder.role not in roles:
        return f"a {stakeholder.role} cannot {what}"
    if stakeholder.role == "approver":
        return None
    match deed:
        # Objections and counter-proposals count only where the scope meets the request.
        case "object" | "counter" if request is not None:
            if not stakeholder.regions & request.regions:
                return "outside scope: the request touches none of the stakeholder's regions"
            if not stakeholder.services & request.services:
                return "outside scope: the request touches none of the stakeholder's services"
        # Representatives declare events inside their scope.
        case "declare_event" if event is not None:
            outside = sorted(event.regions - stakeholder.regions) + sorted(event.services - stakeholder.services)
            if outside:
                return f"outside scope: the event covers {', '.join(outside)}"
        # Requesters submit their own requests.
        case "submit" if request is not None and request.requested_by != stakeholder.id:
            return f"a requester submits only their own requests, not {request.requested_by!r}'s"
        # A request is withdrawn by whoever requested it.
        case "withdraw" if request is not None and request.requested_by != stakeholder.id:
            return "only its requester or an approver may withdraw a request"
    return None


def may(stakeholder: Stakeholder | None, deed: Deed, *, request: Request | None = None) -> bool:
    """Whether ``stakeholder`` (None: the admin, who takes no steps) may do ``deed``."""
    return stakeholder is not None and refusal(stakeholder, deed, request=request) is None


def scope_meets(stakeholder: Stakeholder, request: Request) -> bool:
    """Whether the stakeholder's scope meets both the request's regions and its services."""
    if stakeholder.role == "approver":
        return True
    return bool(stakeholder.regions & request.regions and stakeholder.services & request.services)


def concerns(stakeholder: Stakeholder | None, request: Request) -> bool:
    """Whether a request is in a stakeholder's scope: approvers (and the admin, None) see everything,
    requesters their own requests, everyone the requests that meet both their regions and services."""
    if stakeholder is None:
        return True
    return request.requested_by == stakeholder.id or scope_meets(stakeholder, request)
