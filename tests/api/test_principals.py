"""Who is calling: the admin and stakeholders are different kinds of caller, whatever their ids;
the admin's own routes (plans, tokens)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.api.test_app import OPENING_VERSIONS, plan_scenario, problem, soft_objection
from tests.factories import make_stakeholder

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio


async def test_an_observer_named_admin_gets_nothing_more_than_an_observer(service: Service) -> None:
    scenario = plan_scenario()
    scenario["stakeholders"].append(make_stakeholder("admin", "observer"))
    plan = await service.create_plan(scenario)
    boss, impostor = await service.token(plan, "boss"), await service.token(plan, "admin")
    await service.versions(plan, boss)
    hook = await service.client.post(f"/v1/plans/{plan}/webhooks", json={"url": "https://example.com/h"}, headers=boss)
    feed = await service.client.post(f"/v1/plans/{plan}/feeds", json={"scope": "mine"}, headers=boss)
    assert (hook.status_code, feed.status_code) == (201, 201)
    hook_id, feed_id = hook.json()["id"], feed.json()["id"]
    base = f"/v1/plans/{plan}"

    assert (await service.client.get(f"{base}/webhooks", headers=impostor)).json() == []
    assert (await service.client.get(f"{base}/feeds", headers=impostor)).json() == []
    problem(await service.client.get(f"{base}/webhooks/{hook_id}/deliveries", headers=impostor), 403)
    problem(await service.client.delete(f"{base}/webhooks/{hook_id}", headers=impostor), 403)
    problem(await service.client.delete(f"{base}/feeds/{feed_id}", headers=impostor), 403)
    problem(await service.client.get(f"{base}/stakeholders/boss/calendar.ics", headers=impostor), 403)
    refused = await service.client.post(f"{base}/objections", json=soft_objection(), headers=impostor)
    assert "observers can read" in problem(refused, 403)["detail"]
    for admin_only in (
        service.client.post(f"{base}/stakeholders/boss/tokens", headers=impostor),
        service.client.get("/v1/plans", headers=impostor),
        service.client.post("/v1/plans", json=plan_scenario(), headers=impostor),
    ):
        problem(await admin_only, 403)
    # What an observer may do, it may: read.
    assert (await service.client.get(f"{base}/calendar.ics", headers=impostor)).status_code == 200
    # And the boss's webhook and feed are still there.
    assert [h["id"] for h in (await service.client.get(f"{base}/webhooks", headers=boss)).json()] == [hook_id]
    assert [f["id"] for f in (await service.client.get(f"{base}/feeds", headers=boss)).json()] == [feed_id]


async def test_the_admin_lists_and_shows_plans(service: Service) -> None:
    first = await service.create_plan(plan_scenario())
    second = await service.create_plan(plan_scenario(name="second-plan"), clock="live")
    await service.versions(first, service.admin, at_least=3)

    listed = await service.client.get("/v1/plans", headers=service.admin)
    assert listed.status_code == 200
    by_id = {plan["id"]: plan for plan in listed.json()}
    assert set(by_id) == {first, second}
    assert (by_id[first]["name"], by_id[first]["clock"]) == ("test-scenario", "scenario")
    assert (by_id[second]["name"], by_id[second]["clock"]) == ("second-plan", "live")

    shown = (await service.client.get(f"/v1/plans/{first}", headers=service.admin)).json()
    assert shown["id"] == first
    assert shown["latest_version"] == 3
    assert shown["pending_changes"] == 0
    assert {s["id"]: s["role"] for s in shown["stakeholders"]}["boss"] == "approver"
    assert {s["id"]: s["tokens"] for s in shown["stakeholders"]}["boss"] == 0
    problem(await service.client.get("/v1/plans/no-such-plan", headers=service.admin), 404)


async def test_revoked_tokens_get_401(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    first, second, other = (
        await service.token(plan, "boss"),
        await service.token(plan, "boss"),
        await service.token(plan, "rep-eu"),
    )
    await service.versions(plan, first, at_least=OPENING_VERSIONS)  # the solver's entries come first
    assert (await service.client.get(f"/v1/plans/{plan}/audit", headers=first)).status_code == 200

    revoked = await service.client.delete(f"/v1/plans/{plan}/stakeholders/boss/tokens", headers=service.admin)

    assert revoked.status_code == 200
    assert revoked.json() == {"stakeholder": "boss", "revoked": 2}
    for gone in (first, second):
        problem(await service.client.get(f"/v1/plans/{plan}/audit", headers=gone), 401)
    assert (await service.client.get(f"/v1/plans/{plan}/audit", headers=other)).status_code == 200
    actions = [
        e["action"] for e in (await service.client.get(f"/v1/plans/{plan}/audit", headers=other)).json()["entries"]
    ]
    assert actions[-1] == "revoke_tokens"
    problem(await service.client.delete(f"/v1/plans/{plan}/stakeholders/boss/tokens", headers=other), 403)
    problem(await service.client.delete(f"/v1/plans/{plan}/stakeholders/nobody/tokens", headers=service.admin), 404)


async def test_a_restarted_server_says_how_to_get_the_admin_token(
    start: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    async with start(admin_token=None):
        pass
    first = capsys.readouterr().err
    assert "admin token (shown once, keep it)" in first

    async with start(admin_token=None):
        pass
    again = capsys.readouterr().err
    assert "shown once" not in again
    assert "the one printed when this database was first served" in again
    assert "NEGOTIATOR_ADMIN_TOKEN" in again
