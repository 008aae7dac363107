"""Counter-proposals answer at once with what the start would do, and change nothing; versions
say which requests they added and removed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.api.test_app import VETO_START, audit_log, plan_scenario, post_change, problem
from tests.api.test_review import signed_in
from tests.factories import make_request

if TYPE_CHECKING:
    from tests.api.conftest import Service

pytestmark = pytest.mark.anyio

ONE_HOUR_ON_EU_WEB = 1000 * 0.1 * 60 * 0.6  # users * flat activity * minutes * web share


async def test_a_counter_answers_at_once_with_its_impact_and_what_forbids_it(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())  # boss vetoes r1 from 10:00 to 12:00 (veto:0)
    rep, watcher = await service.token(plan, "rep-eu"), await service.token(plan, "watcher")
    latest = await service.latest(plan, rep, at_least=3)
    current = next(w for w in latest["windows"] if w["request"] == "r1")
    logged = await audit_log(service, plan, rep)
    path = f"/v1/plans/{plan}/counters"

    inside = await service.client.post(path, json={"request": "r1", "start": VETO_START}, headers=rep)
    elsewhere = await service.client.post(path, json={"request": "r1", "start": "2026-03-02T15:00:00Z"}, headers=rep)

    assert (inside.status_code, elsewhere.status_code) == (200, 200)
    assert inside.json() == {
        "request": "r1",
        "start": VETO_START,
        "impact": ONE_HOUR_ON_EU_WEB,
        "impact_by_region": {"eu": ONE_HOUR_ON_EU_WEB},
        "current_impact": current["impact"],
        "allowed": False,
        "blocked_by": ["veto:0"],
    }
    assert (elsewhere.json()["allowed"], elsewhere.json()["blocked_by"]) == (True, [])
    # Nothing changed: no new change, version or audit entry.
    assert await audit_log(service, plan, rep) == logged
    assert len(await service.versions(plan, rep)) == 3
    refused = await service.client.post(path, json={"request": "r1", "start": VETO_START}, headers=watcher)
    assert "observers can read" in problem(refused, 403)["detail"]


async def test_versions_say_which_requests_they_added_and_removed(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    req = await service.token(plan, "req")
    await service.versions(plan, req, at_least=3)
    base = f"/v1/plans/{plan}"
    submitted = await post_change(service, f"{base}/requests", make_request("r3", regions=["eu"]), req)
    await service.settled(plan, submitted, req)
    withdrawn = await service.client.delete(f"{base}/requests/r2", headers=req)
    settled = await service.settled(plan, withdrawn.json()["change"], req)

    listed = await service.versions(plan, req, at_least=settled["version"])
    assert [(v["added"], v["removed"]) for v in listed[-2:]] == [(["r3"], []), ([], ["r2"])]
    latest = await service.latest(plan, req, at_least=settled["version"])
    assert (latest["added"], latest["removed"], latest["moved"]) == ([], ["r2"], [])
    client, _ = await signed_in(service, plan, "req")
    page = (await client.get(f"/plans/{plan}")).text
    await client.aclose()
    assert "· added r3" in page
    assert "· removed r2" in page
