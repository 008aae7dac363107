"""Live plans on the server's clock and rehearsals on the scenario's (README, live plans), with a clock the tests move.

The scenario is the factories' two days from 2026-03-02 00:00 UTC in hourly slots, with a flat
profile: every start costs the same, so a request takes the first start its rules allow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, DateTime, column, create_engine, insert, select, table

from api.migrate import MIGRATIONS
from api.models import PlanRow
from scheduler.negotiation import replay
from scheduler.report import version_json
from scheduler.scenario import load_data
from tests.api.conftest import HandClock
from tests.api.test_app import plan_scenario, post_change, problem, soft_objection
from tests.factories import make_objection, make_region, make_request, make_scenario, make_stakeholder

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio

NOON_BEFORE = datetime(2026, 3, 1, 12, tzinfo=UTC)  # half a day before the horizon opens


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def live_scenario(**overrides: Any) -> dict[str, Any]:
    """``r1`` on eu and ``r2`` on us, both ``req``'s; ``rep-eu`` represents eu; ``boss`` approves."""
    scenario = make_scenario(
        regions=[make_region("eu"), make_region("us", timezone="America/New_York")],
        requests=[
            make_request("r1", regions=["eu"], requested_by="req"),
            make_request("r2", regions=["us"], requested_by="req"),
        ],
        stakeholders=[
            make_stakeholder("req", "requester"),
            make_stakeholder("rep-eu", "representative", regions=["eu"]),
            make_stakeholder("boss", "approver"),
        ],
    )
    scenario.update(overrides)
    return scenario


def window(version: dict[str, Any], request: str) -> dict[str, Any]:
    return next(w for w in version["windows"] if w["request"] == request)


async def version(service: Service, plan: str, number: int, headers: dict[str, str]) -> dict[str, Any]:
    response = await service.client.get(f"/v1/plans/{plan}/versions/{number}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_live_plan_takes_every_change_at_the_servers_time(start: Start) -> None:
    clock = HandClock(NOON_BEFORE)
    async with start(clock=clock) as service:
        # The body's now and its step's at are ignored: both happen at the server's noon.
        opening = make_objection(
            "r2",
            "boss",
            kind="soft",
            at="2026-03-03T00:00:00Z",
            avoid=[{"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T05:00:00Z"}],
        )
        plan = await service.create_plan(live_scenario(now="2026-03-02T05:00:00Z", negotiation=[opening]), clock="live")
        boss = await service.token(plan, "boss")
        await service.versions(plan, boss, at_least=2)
        for number in (1, 2):
            opened = await version(service, plan, number, boss)
            assert (opened["clock"], opened["now"]) == ("live", "2026-03-01T12:00:00Z")

        clock.now = datetime(2026, 3, 1, 13, 15, tzinfo=UTC)
        change = await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss)
        settled = await service.settled(plan, change, boss)

        third = await version(service, plan, settled["version"], boss)
        assert (third["clock"], third["now"]) == ("live", "2026-03-01T13:15:00Z")


async def test_nobody_sends_at_to_a_live_plan(service: Service) -> None:
    plan = await service.create_plan(live_scenario(), clock="live")
    boss = await service.token(plan, "boss")

    sent = await service.client.post(
        f"/v1/plans/{plan}/objections", json={**soft_objection(), "at": "2026-03-02T10:00:00Z"}, headers=boss
    )

    body = problem(sent, 422)
    assert body["field"] == "at"
    assert "server's clock" in body["detail"]


async def test_a_rehearsal_takes_at_from_approvers_inside_the_horizon(service: Service) -> None:
    plan = await service.create_plan(live_scenario(), clock="scenario")
    boss, rep = await service.token(plan, "boss"), await service.token(plan, "rep-eu")
    path = f"/v1/plans/{plan}/objections"

    refused = await service.client.post(path, json={**soft_objection(), "at": "2026-03-02T10:00:00Z"}, headers=rep)
    assert "only an approver" in problem(refused, 403)["detail"]
    for outside in ("2026-03-04T00:00:01Z", "9999-12-31T00:00:00Z"):
        late = await service.client.post(path, json={**soft_objection(), "at": outside}, headers=boss)
        body = problem(late, 422)
        assert body["field"] == "at"
        assert "outside the horizon" in body["detail"]

    change = await post_change(service, path, {**soft_objection(), "at": "2026-03-02T10:00:00Z"}, boss)
    settled = await service.settled(plan, change, boss)
    moved = await version(service, plan, settled["version"], boss)
    assert (moved["clock"], moved["now"]) == ("scenario", "2026-03-02T10:00:00Z")


async def test_a_started_window_is_never_moved_or_withdrawn_and_stays_when_done(start: Start) -> None:
    clock = HandClock(NOON_BEFORE)
    async with start(clock=clock) as service:
        plan = await service.create_plan(live_scenario(), clock="live")
        boss, req = await service.token(plan, "boss"), await service.token(plan, "req")
        first = await service.latest(plan, boss)
        assert window(first, "r1")["start"] == "2026-03-02T00:00:00Z"

        clock.now = at("2026-03-02T00:00:00Z")  # r1 starts right now
        withdrawn = await service.client.delete(f"/v1/plans/{plan}/requests/r1", headers=req)
        assert "'r1' started at 2026-03-02T00:00:00Z" in problem(withdrawn, 409)["detail"]
        veto = make_objection("r1", "boss", avoid=[{"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T01:00:00Z"}])
        veto = {key: value for key, value in veto.items() if key not in ("action", "by")}
        vetoed = await service.settled(
            plan, await post_change(service, f"/v1/plans/{plan}/objections", veto, boss), boss
        )
        assert vetoed["status"] == "accepted"
        kept = await service.latest(plan, boss, at_least=vetoed["version"])
        assert window(kept, "r1")["start"] == window(first, "r1")["start"]
        assert window(kept, "r1")["why"]["fixed"] == "started"
        assert "r1" not in kept["moved"]

        clock.now = at("2026-03-02T03:00:00Z")  # r1 is done
        submitted = make_request("r3", regions=["eu"], requested_by="req")
        change = await post_change(service, f"/v1/plans/{plan}/requests", submitted, req)
        later = await service.latest(plan, boss, at_least=(await service.settled(plan, change, req))["version"])
        assert window(later, "r1")["start"] == window(first, "r1")["start"]
        assert window(later, "r3")["start"] == "2026-03-02T03:00:00Z"


async def test_a_kept_window_keeps_its_notice(start: Start) -> None:
    clock = HandClock(at("2026-03-01T23:00:00Z"))
    async with start(clock=clock) as service:
        requests = [
            make_request("r1", regions=["eu"], requested_by="req", notice="2h"),
            make_request("r2", regions=["us"], requested_by="req"),
        ]
        plan = await service.create_plan(live_scenario(requests=requests), clock="live")
        boss = await service.token(plan, "boss")
        assert window(await service.latest(plan, boss), "r1")["start"] == "2026-03-02T01:00:00Z"

        # At 00:30 a new window for r1 would need to start at 02:30 or later; where it stands it keeps
        # the notice it was given at 23:00.
        clock.now = at("2026-03-02T00:30:00Z")
        objection = {**soft_objection(), "request": "r2"}
        change = await post_change(service, f"/v1/plans/{plan}/objections", objection, boss)
        settled = await service.settled(plan, change, boss)
        assert settled["status"] == "accepted"
        latest = await service.latest(plan, boss, at_least=settled["version"])
        assert window(latest, "r1")["start"] == "2026-03-02T01:00:00Z"
        assert latest["unscheduled"] == []


async def test_a_plan_query_names_its_clock(service: Service) -> None:
    wrong = await service.client.post(
        "/v1/plans", params={"clock": "sundial"}, json=live_scenario(), headers=service.admin
    )
    assert problem(wrong, 422)["field"] == "clock"


async def test_plans_made_before_clocks_existed_become_rehearsals(start: Start, backend: str) -> None:
    body = plan_scenario()
    opened = replay(load_data(body)).versions[0]
    stored = version_json(opened, load_data(body).problem, explain=False)
    del stored["clock"]  # as versions were stored before
    engine = create_engine(backend)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        plans = table("plans", column("id"), column("name"), column("scenario", JSON), column("created_at", DateTime))
        versions = table(
            "versions", column("plan_id"), column("number"), column("body", JSON), column("created_at", DateTime)
        )
        connection.execute(
            insert(plans).values(id="old-plan", name=body["name"], scenario=body, created_at=NOON_BEFORE)
        )
        connection.execute(
            insert(versions).values(
                plan_id="old-plan", number=1, body={**stored, "changes": []}, created_at=NOON_BEFORE
            )
        )
    engine.dispose()

    async with start(solver=False) as service:
        boss = await service.token("old-plan", "boss")
        assert (await version(service, "old-plan", 1, boss))["clock"] == "scenario"
        # A rehearsal's approver may still move its clock.
        await post_change(
            service, "/v1/plans/old-plan/objections", {**soft_objection(), "at": "2026-03-02T10:00:00Z"}, boss
        )
    engine = create_engine(backend)
    with engine.connect() as connection:
        assert connection.execute(select(PlanRow.clock).where(PlanRow.id == "old-plan")).scalar() == "scenario"
    engine.dispose()
