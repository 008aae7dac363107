"""The deploy gate (README, deploy gate): open exactly while now lies inside an announced window of the request.

A live plan on a clock the tests move: the factories' two days from 2026-03-02 00:00 UTC in hourly
slots with a flat profile, so that ``r1`` takes the first hour, 00:00 to 01:00.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from tests.api.conftest import HandClock, bearer
from tests.api.test_app import post_change, problem
from tests.api.test_live_plans import NOON_BEFORE, live_scenario

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio

FIRST_HOUR = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T01:00:00Z"}


async def read_gate(service: Service, plan: str, request: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await service.client.get(f"/v1/plans/{plan}/gate", params={"request": request}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"request", "open", "window", "announced", "next_transition"}
    return body


async def live_plan(service: Service) -> tuple[str, dict[str, str]]:
    """A live plan of ``live_scenario`` with its first version solved, and the approver's headers."""
    plan = await service.create_plan(live_scenario(), clock="live")
    boss = await service.token(plan, "boss")
    await service.versions(plan, boss)
    return plan, boss


async def approve_latest(service: Service, plan: str, headers: dict[str, str]) -> None:
    latest = await service.latest(plan, headers)
    change = await post_change(service, f"/v1/plans/{plan}/versions/{latest['version']}/approve", None, headers)
    assert (await service.settled(plan, change, headers))["status"] == "accepted"


async def test_the_gate_opens_in_the_announced_window_and_closes_at_its_end(start: Start) -> None:
    clock = HandClock(NOON_BEFORE)
    async with start(clock=clock) as service:
        plan, boss = await live_plan(service)

        proposed = await read_gate(service, plan, "r1", boss)
        assert proposed == {
            "request": "r1",
            "open": False,
            "window": FIRST_HOUR,
            "announced": False,
            "next_transition": None,
        }

        await approve_latest(service, plan, boss)
        before = await read_gate(service, plan, "r1", boss)
        assert (before["open"], before["announced"], before["next_transition"]) == (False, True, FIRST_HOUR["start"])

        clock.now = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a live window has started at its start
        during = await read_gate(service, plan, "r1", boss)
        assert (during["open"], during["window"], during["next_transition"]) == (True, FIRST_HOUR, FIRST_HOUR["end"])

        clock.now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
        after = await read_gate(service, plan, "r1", boss)
        assert after == {"request": "r1", "open": False, "window": None, "announced": False, "next_transition": None}


async def test_a_window_moved_after_its_announcement_closes_the_gate(start: Start) -> None:
    clock = HandClock(NOON_BEFORE)
    async with start(clock=clock) as service:
        plan, boss = await live_plan(service)
        await approve_latest(service, plan, boss)

        veto = {"request": "r1", "kind": "veto", "avoid": [FIRST_HOUR]}
        change = await post_change(service, f"/v1/plans/{plan}/objections", veto, boss)
        await service.settled(plan, change, boss)
        clock.now = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # inside the window it moved to

        moved = await read_gate(service, plan, "r1", boss)
        assert moved["window"] == {"start": "2026-03-02T01:00:00Z", "end": "2026-03-02T02:00:00Z"}
        assert (moved["open"], moved["announced"], moved["next_transition"]) == (False, False, None)


async def test_a_gate_token_reads_gates_in_its_scope_and_nothing_else(start: Start) -> None:
    async with start(clock=HandClock(NOON_BEFORE)) as service:
        plan, boss = await live_plan(service)
        minted = await service.client.post(
            f"/v1/plans/{plan}/stakeholders/rep-eu/tokens", params={"use": "gate"}, headers=service.admin
        )
        assert minted.status_code == 201, minted.text
        pipeline = bearer(minted.json()["token"])

        assert (await read_gate(service, plan, "r1", pipeline))["window"] == FIRST_HOUR
        outside = await service.client.get(f"/v1/plans/{plan}/gate", params={"request": "r2"}, headers=pipeline)
        assert "outside scope" in problem(outside, 403)["detail"]
        for path in ("versions", "versions/latest", "calendar.ics", "audit"):
            other = await service.client.get(f"/v1/plans/{plan}/{path}", headers=pipeline)
            assert "only reads deploy gates" in problem(other, 403)["detail"]
        objected = await service.client.post(
            f"/v1/plans/{plan}/objections", json={"request": "r1", "kind": "veto"}, headers=pipeline
        )
        assert problem(objected, 403)
        page = await service.client.post(f"/plans/{plan}/sign-in", data={"token": minted.json()["token"]})
        assert page.status_code == 403
        assert "only reads deploy gates" in page.text
        # The admin and a stakeholder's own token read any gate in scope.
        assert (await read_gate(service, plan, "r2", service.admin))["request"] == "r2"
        assert (await read_gate(service, plan, "r2", boss))["request"] == "r2"


async def test_a_gate_names_what_is_wrong_with_the_question(service: Service) -> None:
    plan, boss = await live_plan(service)

    unknown = await service.client.get(f"/v1/plans/{plan}/gate", params={"request": "nope"}, headers=boss)
    assert "no request 'nope'" in problem(unknown, 404)["detail"]
    missing = await service.client.get(f"/v1/plans/{plan}/gate", headers=boss)
    assert problem(missing, 422)["field"] == "request"
    nobody = await service.client.get(f"/v1/plans/{plan}/gate", params={"request": "r1"})
    assert problem(nobody, 401)


async def test_a_withdrawn_request_keeps_a_closed_gate(service: Service) -> None:
    plan, boss = await live_plan(service)
    withdrawn = await service.client.delete(f"/v1/plans/{plan}/requests/r1", headers=boss)
    assert withdrawn.status_code == 202, withdrawn.text
    await service.settled(plan, int(withdrawn.json()["change"]), boss)

    gone = await read_gate(service, plan, "r1", boss)

    assert (gone["open"], gone["window"]) == (False, None)
