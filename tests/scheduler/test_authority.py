"""Who may do what: one function answers the negotiation (which refuses steps), the HTTP service
and the review page (which offer forms), so what the page offers is what the negotiation takes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from scheduler import steps
from scheduler.authority import may, refusal
from scheduler.domain import Stakeholder
from scheduler.errors import StepRejected
from scheduler.negotiation import Negotiation
from tests.scheduler.engine_factories import T0, make_problem, make_region, make_request

ROLES = ("observer", "requester", "representative", "approver")


def make_stakeholder(
    id: str, role: str, regions: set[str] | None = None, services: set[str] | None = None
) -> Stakeholder:
    """A stakeholder of region ``r1`` and service ``all`` unless told otherwise."""
    return Stakeholder(
        id=id,
        name=id,
        role=role,  # type: ignore[arg-type]
        regions=frozenset({"r1"} if regions is None else regions),
        services=frozenset({"all"} if services is None else services),
    )


@pytest.mark.parametrize(
    ("role", "deed", "allowed"),
    [
        ("observer", "object", False),
        ("requester", "object", False),
        ("representative", "object", True),
        ("approver", "object", True),
        ("representative", "approve", False),
        ("approver", "approve", True),
        ("requester", "submit", True),
        ("representative", "submit", False),
        ("representative", "pin", False),
        ("approver", "remove_event", True),
        ("representative", "move_clock", False),
        ("approver", "move_clock", True),
        ("representative", "read_others", False),
        ("observer", "read_others", False),
        ("approver", "read_others", True),
    ],
)
def test_each_action_takes_its_roles(role: str, deed: Any, allowed: bool) -> None:
    stakeholder = make_stakeholder("s", role)

    assert may(stakeholder, deed, request=make_request(requested_by="s")) is allowed


def test_observers_are_told_they_can_only_read() -> None:
    assert refusal(make_stakeholder("o", "observer"), "object") == "observers can read, nothing else"


@pytest.mark.parametrize(
    ("regions", "services", "reason"),
    [
        ({"r2"}, {"all"}, "none of the stakeholder's regions"),
        ({"r1"}, {"web"}, "none of the stakeholder's services"),
    ],
)
def test_a_representative_objects_only_where_the_scope_meets_the_request(
    regions: set[str], services: set[str], reason: str
) -> None:
    outside = make_stakeholder("rep", "representative", regions, services)

    assert reason in (refusal(outside, "object", request=make_request()) or "")
    assert reason in (refusal(outside, "counter", request=make_request()) or "")
    assert may(replace(outside, role="approver"), "object", request=make_request())


def test_a_requester_withdraws_and_submits_only_their_own_requests() -> None:
    requester = make_stakeholder("ops", "requester")

    assert may(requester, "withdraw", request=make_request(requested_by="ops"))
    assert refusal(requester, "withdraw", request=make_request(requested_by="other")) == (
        "only its requester or an approver may withdraw a request"
    )
    assert "only their own requests" in (refusal(requester, "submit", request=make_request(requested_by="x")) or "")


def test_the_admin_takes_no_steps() -> None:
    assert may(None, "approve") is False


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("regions", [{"r1"}, {"r2"}])
def test_what_the_function_allows_is_what_the_negotiation_accepts(role: str, regions: set[str]) -> None:
    stakeholder = make_stakeholder("s", role, regions)
    problem = replace(
        make_problem(requests=(make_request("q1", requested_by="s"),), regions=(make_region("r1"), make_region("r2"))),
        stakeholders=(stakeholder,),
    )
    negotiation = Negotiation.open(problem, time_limit_s=5)
    request = problem.request_by_id["q1"]
    for step, deed in [
        (steps.Object(index=0, by="s", request_id="q1"), "object"),
        (steps.Counter(index=0, by="s", request_id="q1", start=T0), "counter"),
        (steps.Pin(index=0, by="s", request_id="q1", start=T0), "pin"),
        (steps.Approve(index=0, by="s"), "approve"),
        (steps.Withdraw(index=0, by="s", request_id="q1"), "withdraw"),
    ]:
        try:
            negotiation.check(step)
            accepted = True
        except StepRejected:
            accepted = False
        assert accepted is may(stakeholder, deed, request=request), (role, deed)  # type: ignore[arg-type]
