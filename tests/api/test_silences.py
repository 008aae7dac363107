"""Alertmanager silences over announced windows, checked through a real Alertmanager's own API.

Alertmanager refuses silences that have ended by its own clock, so the plan lies ahead of the real
time: a live plan of ``test_live_plans``'s stakeholders over two days from the next midnight UTC
but one, in hourly slots with a flat profile. ``r1`` takes the first hour and carries
``silence: {matchers: {service: web, team: db}}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from scheduler.timeline import format_utc
from tests.api.alertmanager import alertmanager
from tests.api.conftest import HandClock
from tests.api.test_app import post_change, problem
from tests.api.test_gates import approve_latest
from tests.api.test_live_plans import live_scenario
from tests.factories import make_request

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio

MATCHERS = {"service": "web", "team": "db"}
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HORIZON = (NOW + timedelta(days=2)).replace(hour=0)


def hour(n: int) -> str:
    """The start of the horizon's ``n``-th hour, as the JSON writes it."""
    return format_utc(HORIZON + timedelta(hours=n))


FIRST_HOUR = {"start": hour(0), "end": hour(1)}


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[str]:
    with alertmanager(tmp_path) as base:
        yield base


def silenced_scenario() -> dict[str, Any]:
    scenario = live_scenario(horizon={"start": hour(0), "end": hour(48), "slot_minutes": 60})
    scenario["requests"][0] = make_request("r1", regions=["eu"], requested_by="req", silence={"matchers": MATCHERS})
    return scenario


async def silences(service: Service, plan: str, headers: dict[str, str], *, settled: int) -> list[dict[str, Any]]:
    """The plan's silences once ``settled`` of them are no longer waiting to be sent."""
    deadline = time.monotonic() + service.wait_s
    while True:
        response = await service.client.get(f"/v1/plans/{plan}/silences", headers=headers)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        if sum(row["state"] not in ("creating", "expiring") for row in rows) >= settled:
            return rows
        assert time.monotonic() < deadline, f"silences still being sent: {rows}"
        await asyncio.sleep(0.02)


async def attempted(service: Service, plan: str, headers: dict[str, str], *, times: int) -> dict[str, Any]:
    """The plan's one silence once its send was tried ``times`` times."""
    deadline = time.monotonic() + service.wait_s
    while True:
        [row] = (await service.client.get(f"/v1/plans/{plan}/silences", headers=headers)).json()
        if row["attempts"] >= times:
            return dict(row)
        assert time.monotonic() < deadline, f"silence not tried {times} times: {row}"
        await asyncio.sleep(0.02)


def on_alertmanager(base: str) -> dict[str, dict[str, Any]]:
    """Every silence Alertmanager has, by id (``GET /api/v2/silences``)."""
    return {s["id"]: s for s in httpx.get(f"{base}/api/v2/silences").json()}


async def test_an_approval_silences_the_window_a_move_expires_it_and_the_next_approval_silences_the_new_one(
    start: Start, manager: str
) -> None:
    async with start(clock=HandClock(NOW), alertmanager_url=manager) as service:
        plan = await service.create_plan(silenced_scenario(), clock="live")
        boss = await service.token(plan, "boss")
        await service.versions(plan, boss)
        assert await silences(service, plan, boss, settled=0) == []  # proposed, not announced

        await approve_latest(service, plan, boss)
        [first] = await silences(service, plan, boss, settled=1)
        held = on_alertmanager(manager)[first["silence_id"]]
        assert (first["request"], first["start"], first["end"]) == ("r1", FIRST_HOUR["start"], FIRST_HOUR["end"])
        assert first["state"] == "active"
        assert {(m["name"], m["value"], m["isRegex"], m["isEqual"]) for m in held["matchers"]} == {
            ("service", "web", False, True),
            ("team", "db", False, True),
        }
        assert (held["startsAt"][:19], held["endsAt"][:19]) == (hour(0)[:19], hour(1)[:19])
        assert held["createdBy"] == "maintenance-negotiator"
        assert f"http://test/plans/{plan}" in held["comment"]

        veto = {"request": "r1", "kind": "veto", "avoid": [FIRST_HOUR]}
        await service.settled(plan, await post_change(service, f"/v1/plans/{plan}/objections", veto, boss), boss)
        [gone] = await silences(service, plan, boss, settled=1)
        assert gone["state"] == "expired"
        assert on_alertmanager(manager)[first["silence_id"]]["status"]["state"] == "expired"

        await approve_latest(service, plan, boss)
        rows = await silences(service, plan, boss, settled=2)
        assert [(r["start"], r["state"]) for r in rows] == [
            (FIRST_HOUR["start"], "expired"),
            (hour(1), "active"),
        ]
        live = [s for s in on_alertmanager(manager).values() if s["status"]["state"] != "expired"]
        assert [s["id"] for s in live] == [rows[1]["silence_id"]]

        withdrawn = await service.client.delete(f"/v1/plans/{plan}/requests/r1", headers=boss)
        await service.settled(plan, int(withdrawn.json()["change"]), boss)
        rows = await silences(service, plan, boss, settled=2)
        assert [r["state"] for r in rows] == ["expired", "expired"]
        assert all(s["status"]["state"] == "expired" for s in on_alertmanager(manager).values())


class LostAnswers:
    """An httpx client whose first POST reaches Alertmanager but whose answer never comes back."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.lost = 0

    def post(self, *args: Any, **kwargs: Any) -> httpx.Response:
        response = self.client.post(*args, **kwargs)
        if not self.lost:
            self.lost += 1
            raise httpx.ReadTimeout("the answer was lost")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


async def test_a_silence_whose_answer_was_lost_is_not_made_twice_even_across_a_restart(
    start: Start, manager: str
) -> None:
    clock = HandClock(NOW)
    async with start(clock=clock, alertmanager_url=manager) as service:
        plan = await service.create_plan(silenced_scenario(), clock="live")
        boss = await service.token(plan, "boss")
        await service.versions(plan, boss)
        silencer = service.app.state.runtime.courier.silencer
        silencer.client = LostAnswers(silencer.client)
        await approve_latest(service, plan, boss)
        await attempted(service, plan, boss, times=1)
        clock.now = NOW + timedelta(minutes=1)  # the retry is due
        [row] = await silences(service, plan, boss, settled=1)
        assert silencer.client.lost == 1
        assert row["attempts"] == 1  # the attempt whose answer was lost
    async with start(clock=clock, alertmanager_url=manager) as again:
        assert (await silences(again, plan, boss, settled=1))[0]["silence_id"] == row["silence_id"]

    assert [s["id"] for s in on_alertmanager(manager).values()] == [row["silence_id"]]


async def test_an_unreachable_alertmanager_is_retried_and_logged_without_details(start: Start) -> None:
    clock = HandClock(NOW)
    async with start(clock=clock, alertmanager_url="http://127.0.0.1:9") as service:
        plan = await service.create_plan(silenced_scenario(), clock="live")
        boss = await service.token(plan, "boss")
        await service.versions(plan, boss)
        await approve_latest(service, plan, boss)

        row = await attempted(service, plan, boss, times=1)
        clock.now = NOW + timedelta(minutes=1)
        again = await attempted(service, plan, boss, times=2)

        assert (row["state"], row["error"], again["error"]) == ("creating", "unreachable", "unreachable")


async def test_a_plan_names_its_own_alertmanager_checked_like_any_url(service: Service) -> None:
    refused = await service.client.post(
        "/v1/plans", params={"alertmanager": "not a url"}, json=silenced_scenario(), headers=service.admin
    )

    assert problem(refused, 422)["field"] == "alertmanager"
