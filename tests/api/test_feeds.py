"""Calendar feeds over HTTP: the plan's, a stakeholder's scoped one, and secret subscription URLs."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import pytest
from icalendar import Calendar
from pydantic import ValidationError

from api.settings import Settings
from tests.api.test_app import plan_scenario, post_change, problem

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio


def events(body: bytes) -> dict[str, Any]:
    """The VEVENTs of a feed by request id (the UID's first part)."""
    calendar = Calendar.from_ical(body)
    assert calendar["version"] == "2.0"
    return {str(e["uid"]).split("@")[0]: e for e in calendar.walk("VEVENT")}


async def opened_plan(service: Service) -> str:
    plan = await service.create_plan(plan_scenario())
    await service.versions(plan, service.admin, at_least=3)
    return plan


async def subscribe(service: Service, plan: str, headers: dict[str, str], scope: str) -> str:
    response = await service.client.post(f"/v1/plans/{plan}/feeds", json={"scope": scope}, headers=headers)
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    assert url.startswith("http://test/v1/feeds/") and url.endswith(".ics")
    return url.removeprefix("http://test")


async def test_a_secret_feed_is_read_without_a_bearer_header_and_keeps_to_its_scope(service: Service) -> None:
    plan = await opened_plan(service)
    rep_us = await service.token(plan, "rep-us")
    mine = await subscribe(service, plan, rep_us, "mine")
    everything = await subscribe(service, plan, rep_us, "plan")

    response = await service.client.get(mine)  # no Authorization header

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert set(events(response.content)) == {"r2"}  # r1 is eu only, outside rep-us's scope
    assert set(events((await service.client.get(everything)).content)) == {"r1", "r2"}


async def test_a_revoked_or_unknown_feed_is_gone(service: Service) -> None:
    plan = await opened_plan(service)
    rep_us = await service.token(plan, "rep-us")
    url = await subscribe(service, plan, rep_us, "mine")
    [feed] = (await service.client.get(f"/v1/plans/{plan}/feeds", headers=rep_us)).json()
    assert "url" not in feed

    problem(
        await service.client.delete(f"/v1/plans/{plan}/feeds/{feed['id']}", headers=await service.token(plan, "boss")),
        403,
    )
    assert (await service.client.delete(f"/v1/plans/{plan}/feeds/{feed['id']}", headers=rep_us)).status_code == 204

    problem(await service.client.get(url), 404)
    problem(await service.client.get("/v1/feeds/not-a-secret.ics"), 404)
    assert (await service.client.get(f"/v1/plans/{plan}/feeds", headers=rep_us)).json() == []


async def test_a_stakeholder_feed_is_for_them_and_approvers(service: Service) -> None:
    plan = await opened_plan(service)
    path = f"/v1/plans/{plan}/stakeholders/rep-us/calendar.ics"

    own = await service.client.get(path, headers=await service.token(plan, "rep-us"))
    by_approver = await service.client.get(path, headers=await service.token(plan, "boss"))
    body = problem(await service.client.get(path, headers=await service.token(plan, "rep-eu")), 403)

    assert set(events(own.content)) == set(events(by_approver.content)) == {"r2"}
    assert "only the stakeholder themselves" in body["detail"]
    problem(await service.client.get(f"/v1/plans/{plan}/stakeholders/nobody/calendar.ics", headers=service.admin), 404)


async def test_the_feed_follows_moves_and_withdrawals(service: Service) -> None:
    plan = await opened_plan(service)
    boss = await service.token(plan, "boss")
    url = await subscribe(service, plan, boss, "plan")
    before = events((await service.client.get(url)).content)
    r1 = before["r1"]

    veto = {"request": "r1", "kind": "veto"}  # its current window
    await service.settled(plan, await post_change(service, f"/v1/plans/{plan}/objections", veto, boss), boss)
    moved = events((await service.client.get(url)).content)
    assert moved["r1"]["uid"] == r1["uid"]
    assert moved["r1"]["dtstart"].dt != r1["dtstart"].dt
    assert moved["r1"]["sequence"] == r1["sequence"] + 1
    assert moved["r2"]["sequence"] == before["r2"]["sequence"]

    withdrawn = await service.client.delete(f"/v1/plans/{plan}/requests/r2", headers=boss)
    await service.settled(plan, withdrawn.json()["change"], boss)
    after = events((await service.client.get(url)).content)
    assert after["r2"]["status"] == "CANCELLED"
    assert after["r2"]["sequence"] == before["r2"]["sequence"] + 1
    assert after["r2"]["uid"] == before["r2"]["uid"]


async def test_feeds_belong_to_stakeholders(service: Service) -> None:
    plan = await opened_plan(service)
    response = await service.client.post(f"/v1/plans/{plan}/feeds", json={"scope": "plan"}, headers=service.admin)
    assert "stakeholder" in problem(response, 403)["detail"]
    bad = await service.client.post(
        f"/v1/plans/{plan}/feeds", json={"scope": "everything"}, headers=await service.token(plan, "boss")
    )
    assert problem(bad, 422)["field"] == "scope"


async def test_feeds_webhooks_and_objections_sent_together_all_succeed_at_once(service: Service) -> None:
    # Every route that writes to a plan takes the plan's lock before it writes: on SQLite, one that
    # wrote first and then waited for the lock would hold the database against the others until the
    # 30 s busy timeout.
    plan = await opened_plan(service)
    boss, rep = await service.token(plan, "boss"), await service.token(plan, "rep-eu")
    base = f"/v1/plans/{plan}"
    objection = {"request": "r1", "kind": "soft", "weight": 2}
    sends = []
    for n in range(8):
        span = {"start": f"2026-03-03T{n:02d}:00:00Z", "end": f"2026-03-03T{n:02d}:30:00Z"}
        sends += [
            service.client.post(f"{base}/feeds", json={"scope": "mine"}, headers=rep),
            service.client.post(
                f"{base}/webhooks", json={"url": f"https://example.com/{n}", "reminders": []}, headers=boss
            ),
            service.client.post(f"{base}/objections", json={**objection, "avoid": [span]}, headers=rep),
        ]

    started = time.monotonic()
    answers = await asyncio.gather(*sends)
    took = time.monotonic() - started

    assert sorted({answer.status_code for answer in answers}) == [201, 202], [
        a.text for a in answers if a.status_code >= 300
    ]
    assert took < 10, f"{took:.1f} s: something waited for the database's busy timeout"


async def test_feed_urls_and_their_events_link_to_the_public_address(start: Start) -> None:
    async with start(public_url="https://ops.example.com/negotiator/") as service:
        plan = await opened_plan(service)
        rep_us = await service.token(plan, "rep-us")
        created = await service.client.post(f"/v1/plans/{plan}/feeds", json={"scope": "mine"}, headers=rep_us)
        url: str = created.json()["url"]
        assert url.startswith("https://ops.example.com/negotiator/v1/feeds/")

        feed = await service.client.get(url.removeprefix("https://ops.example.com/negotiator"))

        [event] = Calendar.from_ical(feed.content).walk("VEVENT")
        assert str(event["url"]) == f"https://ops.example.com/negotiator/plans/{plan}"


def test_the_public_address_must_be_an_absolute_http_url() -> None:
    for bad in ("ops.example.com", "ftp://ops.example.com", "https://ops.example.com/?a=1", "/negotiator"):
        with pytest.raises(ValidationError, match="public_url"):
            Settings(public_url=bad)
    assert Settings(public_url="https://ops.example.com/").public_url == "https://ops.example.com"


async def test_the_admin_asking_for_a_stakeholders_calendar_of_no_plan_gets_404(service: Service) -> None:
    # Found by Schemathesis: it answered 500 (the plan's scenario was looked up before the plan).
    response = await service.client.get("/v1/plans/0/stakeholders/0/calendar.ics", headers=service.admin)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
