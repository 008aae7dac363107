"""Vetoes and blackouts that stay (README, live plans): a veto binds whoever submits the same work again, and a
blackout goes only when two different approvers agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.api.test_app import VETO_END, VETO_START, plan_scenario, post_change, problem
from tests.factories import make_event, make_request

if TYPE_CHECKING:
    from tests.api.conftest import Service

pytestmark = pytest.mark.anyio


def overlaps_veto(window: dict[str, str]) -> bool:
    return window["start"] < VETO_END and window["end"] > VETO_START


async def test_withdrawing_and_submitting_again_keeps_the_veto(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())  # boss vetoes r1 from 10:00 to 12:00 (veto:0)
    req, boss = await service.token(plan, "req"), await service.token(plan, "boss")
    await service.versions(plan, boss, at_least=3)
    base = f"/v1/plans/{plan}"
    # The same work, that fits nowhere but inside the veto's two hours.
    request = make_request("r1", regions=["eu"], services=["web"], earliest=VETO_START, deadline=VETO_END)

    withdrawn = await service.settled(plan, await post_change_delete(service, f"{base}/requests/r1", req), req)
    assert withdrawn["status"] == "accepted"
    again = await service.settled(plan, await post_change(service, f"{base}/requests", request, req), req)
    assert again["status"] == "accepted"
    latest = await service.latest(plan, boss, at_least=again["version"])
    assert [u["request"] for u in latest["unscheduled"]] == ["r1"]
    assert "veto:0" in latest["unscheduled"][0]["reasons"]

    # Under a new id that says what it replaces, the veto moves with it.
    await service.settled(plan, await post_change_delete(service, f"{base}/requests/r1", req), req)
    renamed = {**request, "id": "r1-v2", "replaces": "r1"}
    moved = await service.settled(plan, await post_change(service, f"{base}/requests", renamed, req), req)
    latest = await service.latest(plan, boss, at_least=moved["version"])
    assert "veto:0" in {u["request"]: u["reasons"] for u in latest["unscheduled"]}["r1-v2"]


async def test_removing_a_blackout_takes_two_different_approvers(service: Service) -> None:
    freeze = make_event("freeze", weight=None, blackout=True)  # the whole first day
    plan = await service.create_plan(plan_scenario(events=[freeze]))
    boss, boss2, rep = [await service.token(plan, who) for who in ("boss", "boss2", "rep-eu")]
    before = await service.latest(plan, boss, at_least=3)
    path = f"/v1/plans/{plan}/events/freeze"

    refused = await service.client.delete(path, headers=rep)
    assert "cannot remove events" in problem(refused, 403)["detail"]
    first = await service.settled(plan, await post_change_delete(service, path, boss), boss)
    assert (first["status"], first["reason"]) == ("accepted", "waiting for a second approver")
    assert (await service.latest(plan, boss))["version"] == before["version"]
    again = await service.client.delete(path, headers=boss)
    assert "a second, different approver" in problem(again, 403)["detail"]

    second = await service.settled(plan, await post_change_delete(service, path, boss2), boss2)
    assert second["status"] == "accepted"
    assert second["version"] == before["version"] + 1
    unknown = await service.client.delete(f"/v1/plans/{plan}/events/freeze", headers=boss)
    assert problem(unknown, 422)["field"] == "event"


async def post_change_delete(service: Service, path: str, headers: dict[str, str]) -> int:
    response = await service.client.delete(path, headers=headers)
    assert response.status_code == 202, response.text
    return int(response.json()["change"])
