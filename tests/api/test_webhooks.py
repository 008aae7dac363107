"""Webhooks: signed messages per new version, retries with backoff, a delivery log, no message
twice, and reminders before windows start. The receiver is a real HTTP server on localhost."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from api.models import DeliveryRow
from api.runtime.courier import backoff, signed_headers
from api.services.webhooks import enqueue_versions
from tests.api.conftest import HandClock
from tests.api.test_app import plan_scenario, post_change, problem, soft_objection
from tests.factories import make_request
from tests.receiver import Receiver

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio


async def register(service: Service, plan: str, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await service.client.post(f"/v1/plans/{plan}/webhooks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deliveries(service: Service, plan: str, hook: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await service.client.get(f"/v1/plans/{plan}/webhooks/{hook}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


async def opened_plan(service: Service) -> tuple[str, dict[str, str]]:
    """A plan of ``plan_scenario()`` with its three opening versions solved, and an approver's headers."""
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await service.versions(plan, boss, at_least=3)
    return plan, boss


# -- signing -----------------------------------------------------------------------------------------


def test_signed_headers_verify_with_the_standard_webhooks_library() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"type": "version.created", "data": {"version": 4}})
    headers = signed_headers(secret, "msg_1", body, datetime.now(UTC))

    assert Verifier(secret).verify(body, headers) == {"type": "version.created", "data": {"version": 4}}
    with pytest.raises(WebhookVerificationError):
        Verifier(secret).verify(body.replace("4", "5"), headers)
    with pytest.raises(WebhookVerificationError):
        Verifier("whsec_" + "AAAA" * 8).verify(body, headers)


def test_backoff_doubles_from_the_first_wait_up_to_a_day() -> None:
    assert [backoff(n, 30).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(40, 30) == timedelta(days=1)


# -- messages per version ----------------------------------------------------------------------------


async def test_each_new_version_sends_a_signed_message_of_what_changed_in_scope(
    service: Service, receiver: Receiver
) -> None:
    plan, boss = await opened_plan(service)
    rep_eu = await service.token(plan, "rep-eu")
    rep_us = await service.token(plan, "rep-us")
    eu_hook = await register(service, plan, rep_eu, url=receiver.url + "/eu")
    us_hook = await register(service, plan, rep_us, url=receiver.url + "/us")
    assert eu_hook["secret"].startswith("whsec_")
    assert eu_hook["reminders"] == ["24h", "1h"]  # as written, not "1d"

    # A veto on r1's whole first day moves r1 (eu only): eu hears that it moved, us hears of nothing.
    window = (await service.latest(plan, boss))["windows"]
    r1 = next(w for w in window if w["request"] == "r1")
    veto = {"request": "r1", "kind": "veto", "avoid": [{"start": r1["start"], "end": r1["end"]}]}
    change = await post_change(service, f"/v1/plans/{plan}/objections", veto, boss)
    assert (await service.settled(plan, change, boss))["version"] == 4

    got = await receiver.wait_for(2, "version.created")
    by_hook = {r.message["data"]["stakeholder"]: r for r in got}
    eu, us = by_hook["rep-eu"], by_hook["rep-us"]
    assert Verifier(eu_hook["secret"]).verify(eu.body, eu.headers)["data"]["version"] == 4
    with pytest.raises(WebhookVerificationError):
        Verifier(us_hook["secret"]).verify(eu.body, eu.headers)  # each webhook signs with its own secret
    [moved] = eu.message["data"]["changes"]
    assert moved["request"] == "r1"
    assert moved["change"] == "moved"
    assert moved["previous"]["start"] == r1["start"]
    assert moved["window"]["start"] != r1["start"]
    assert us.message["data"]["changes"] == []
    assert eu.message["data"]["href"] == f"http://test/v1/plans/{plan}/versions/4"  # absolute: NEGOTIATOR_PUBLIC_URL
    assert eu.message["data"]["page"] == f"http://test/plans/{plan}"

    log = await deliveries(service, plan, eu_hook["id"], rep_eu)
    assert [(d["type"], d["status"], len(d["attempts"])) for d in log] == [("version.created", "delivered", 1)]
    assert log[0]["message_id"] == eu.headers["webhook-id"]
    assert log[0]["attempts"][0]["status_code"] == 204


async def test_a_version_message_names_the_requests_it_added_and_removed_in_scope(
    service: Service, receiver: Receiver
) -> None:
    plan, _ = await opened_plan(service)
    req, rep_us = await service.token(plan, "req"), await service.token(plan, "rep-us")
    await register(service, plan, rep_us, url=receiver.url)
    submitted = make_request("r3", regions=["us"], requested_by="req")

    await service.settled(plan, await post_change(service, f"/v1/plans/{plan}/requests", submitted, req), req)
    withdrawn = await service.client.delete(f"/v1/plans/{plan}/requests/r1", headers=req)  # eu only
    await service.settled(plan, withdrawn.json()["change"], req)

    added, removed = (got.message["data"] for got in await receiver.wait_for(2, "version.created"))
    assert (added["added"], added["removed"]) == (["r3"], [])
    assert (removed["added"], removed["removed"]) == ([], [])  # r1 is outside rep-us's scope


async def test_a_failing_receiver_is_retried_with_the_same_message_id_until_it_answers(
    service: Service, receiver: Receiver
) -> None:
    plan, boss = await opened_plan(service)
    hook = await register(service, plan, boss, url=receiver.url)
    receiver.answers = [503, 500]

    await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss)

    [delivered] = await receiver.wait_for(1)
    assert [r.answered for r in receiver.received] == [503, 500, 204]
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivered.headers["webhook-id"]}
    for attempt in receiver.received:  # every retry is signed afresh
        Verifier(hook["secret"]).verify(attempt.body, attempt.headers)
    # The courier logs the 204 right after the receiver answered it: wait for that.
    deadline = time.monotonic() + 10
    while (logged := (await deliveries(service, plan, hook["id"], boss))[0])["status"] != "delivered":
        assert time.monotonic() < deadline, logged
        await asyncio.sleep(0.02)
    assert [a["status_code"] for a in logged["attempts"]] == [503, 500, 204]
    assert [a["error"] for a in logged["attempts"]] == ["HTTP 503", "HTTP 500", None]
    times = [datetime.fromisoformat(a["at"]) for a in logged["attempts"]]
    assert times == sorted(times)


async def test_an_unreachable_receiver_is_logged_and_given_up_after_the_last_attempt(start: Start) -> None:
    async with start(webhook_max_attempts=3) as service:
        plan, boss = await opened_plan(service)
        hook = await register(service, plan, boss, url="http://127.0.0.1:9/nobody-listens")
        await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss)

        deadline = time.monotonic() + 10
        while True:
            log = await deliveries(service, plan, hook["id"], boss)
            if log and log[0]["status"] == "failed":
                break
            assert time.monotonic() < deadline, log
            await asyncio.sleep(0.05)
        assert len(log[0]["attempts"]) == 3
        # Which ports are closed, and why, stays in the server's log.
        assert all(a["status_code"] is None and a["error"] == "unreachable" for a in log[0]["attempts"])
        assert log[0]["next_attempt_at"] is None


async def test_a_receiver_answering_410_is_not_called_again(service: Service, receiver: Receiver) -> None:
    plan, boss = await opened_plan(service)
    hook = await register(service, plan, boss, url=receiver.url)
    receiver.answers = [410]
    await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss)
    deadline = time.monotonic() + 10
    # The courier switches the webhook off right after the 410 it received: wait for that.
    while not receiver.received or (await service.client.get(f"/v1/plans/{plan}/webhooks", headers=boss)).json():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)

    assert len(receiver.received) == 1
    problem(await service.client.get(f"/v1/plans/{plan}/webhooks/{hook['id']}/deliveries", headers=boss), 404)


async def test_nothing_is_delivered_twice_for_one_version(start: Start, receiver: Receiver) -> None:
    async with start() as service:
        plan, boss = await opened_plan(service)
        hook = await register(service, plan, boss, url=receiver.url)
        for start_at in ("2026-03-02T15:00:00Z", "2026-03-02T17:00:00Z"):
            change = await post_change(
                service, f"/v1/plans/{plan}/objections", soft_objection(start_at, start_at[:11] + "23:00:00Z"), boss
            )
            await service.settled(plan, change, boss)
        versions = [v["version"] for v in await service.versions(plan, boss, at_least=5)]
        await receiver.wait_for(len(versions) - 3, "version.created")

        # The same versions offered again (as a second solver would) add no message.
        state = service.app.state.runtime.solver.plans.state
        engine = create_engine(service.database_url)
        with Session(engine) as session:
            negotiation = state(session, plan).negotiation
            solved = list(zip(negotiation.versions, negotiation.problems, strict=True))
            again = [(solved[i - 1], solved[i]) for i in range(3, len(solved))]
            enqueue_versions(session, service.app.state.runtime.links, plan_id=plan, solved=again)
            session.commit()
            count = session.scalar(
                select(func.count()).select_from(DeliveryRow).where(DeliveryRow.webhook_id == hook["id"])
            )
        engine.dispose()
        assert count == len(versions) - 3
        assert service.app.state.runtime.courier.send_due() == 0

    async with start():  # a restart sends nothing again
        await asyncio.sleep(0.3)
    numbers = [r.message["data"]["version"] for r in receiver.delivered("version.created")]
    assert sorted(numbers) == versions[3:]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == len(receiver.received)


async def test_a_solve_sends_its_messages_at_once_not_at_the_next_poll(start: Start, receiver: Receiver) -> None:
    async with start(webhook_poll_s=60) as service:  # the courier's own poll would come a minute later
        plan, boss = await opened_plan(service)
        await register(service, plan, boss, url=receiver.url)
        await asyncio.sleep(0.2)  # the courier's round for the registration is over

        change = await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss)
        await service.settled(plan, change, boss)

        [message] = await receiver.wait_for(1, "version.created", wait_s=5)
        assert message.message["data"]["version"] == 4


async def test_approving_a_version_tells_every_webhook(service: Service, receiver: Receiver) -> None:
    plan, boss = await opened_plan(service)
    await register(service, plan, await service.token(plan, "watcher"), url=receiver.url)

    response = await service.client.post(f"/v1/plans/{plan}/versions/3/approve", headers=boss)
    assert response.status_code == 202

    [approved] = await receiver.wait_for(1, "version.approved")
    assert approved.message["data"]["version"] == 3


# -- reminders ---------------------------------------------------------------------------------------


async def test_reminders_go_out_once_per_lead_time_before_a_window_starts(start: Start, receiver: Receiver) -> None:
    clock = HandClock(datetime(2026, 2, 1, tzinfo=UTC))
    async with start(clock=clock) as service:
        plan, boss = await opened_plan(service)
        rep_us = await service.token(plan, "rep-us")
        await register(service, plan, rep_us, url=receiver.url, reminders=["2h", "30m"])
        r2 = next(w for w in (await service.latest(plan, boss))["windows"] if w["request"] == "r2")
        begins = datetime.fromisoformat(r2["start"])

        clock.now = begins - timedelta(hours=3)  # before any lead time: nothing
        await asyncio.sleep(0.3)
        assert receiver.delivered("window.reminder") == []

        clock.now = begins - timedelta(minutes=90)
        [first] = await receiver.wait_for(1, "window.reminder")
        assert first.message["data"]["request"] == "r2"
        assert first.message["data"]["lead"] == "2h"
        assert first.message["data"]["starts_in_minutes"] == 90
        await asyncio.sleep(0.3)  # still due, but already sent
        assert len(receiver.delivered("window.reminder")) == 1

        clock.now = begins - timedelta(minutes=10)
        got = await receiver.wait_for(2, "window.reminder")
        assert got[1].message["data"]["lead"] == "30m"

        clock.now = begins + timedelta(minutes=1)  # started: no more
        await asyncio.sleep(0.3)
        assert len(receiver.delivered("window.reminder")) == 2
        # r1 is eu only: rep-us is never reminded of it.
        assert {r.message["data"]["request"] for r in receiver.delivered("window.reminder")} == {"r2"}


async def test_a_late_webhook_gets_only_the_nearest_lead_time(start: Start, receiver: Receiver) -> None:
    clock = HandClock(datetime(2026, 2, 1, tzinfo=UTC))
    async with start(clock=clock) as service:
        plan, boss = await opened_plan(service)
        r2 = next(w for w in (await service.latest(plan, boss))["windows"] if w["request"] == "r2")
        clock.now = datetime.fromisoformat(r2["start"]) - timedelta(minutes=45)
        await register(service, plan, boss, url=receiver.url)  # default lead times: 24h and 1h

        await receiver.wait_for(2, "window.reminder")  # r1 and r2 both start within the hour
        await asyncio.sleep(0.3)
        assert {r.message["data"]["lead"] for r in receiver.delivered("window.reminder")} == {"1h"}


# -- who may do what ---------------------------------------------------------------------------------


async def test_webhooks_belong_to_stakeholders(service: Service, receiver: Receiver) -> None:
    plan, boss = await opened_plan(service)
    rep_eu = await service.token(plan, "rep-eu")
    hook = await register(service, plan, rep_eu, url=receiver.url)

    body = problem(
        await service.client.post(f"/v1/plans/{plan}/webhooks", json={"url": receiver.url}, headers=service.admin), 403
    )
    assert "stakeholder" in body["detail"]
    problem(await service.client.get(f"/v1/plans/{plan}/webhooks/{hook['id']}/deliveries", headers=boss), 403)
    problem(await service.client.delete(f"/v1/plans/{plan}/webhooks/{hook['id']}", headers=boss), 403)
    assert (await service.client.get(f"/v1/plans/{plan}/webhooks", headers=boss)).json() == []
    listed = (await service.client.get(f"/v1/plans/{plan}/webhooks", headers=service.admin)).json()
    assert [w["id"] for w in listed] == [hook["id"]]
    assert "secret" not in listed[0]

    deleted = await service.client.delete(f"/v1/plans/{plan}/webhooks/{hook['id']}", headers=rep_eu)
    assert deleted.status_code == 204
    assert (await service.client.get(f"/v1/plans/{plan}/webhooks", headers=rep_eu)).json() == []
    actions = [
        e["action"] for e in (await service.client.get(f"/v1/plans/{plan}/audit", headers=boss)).json()["entries"]
    ]
    assert actions[-2:] == ["create_webhook", "delete_webhook"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.org/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({}, "url"),
        ({"url": "http://127.0.0.1/hook", "reminders": ["soon"]}, "reminders"),
        ({"url": "http://127.0.0.1/hook", "reminders": ["0m"]}, "reminders"),
        ({"url": "http://127.0.0.1/hook", "secret": "mine"}, "secret"),
    ],
)
async def test_a_bad_webhook_is_refused_naming_the_field(service: Service, body: dict[str, Any], field: str) -> None:
    plan, boss = await opened_plan(service)

    refused = problem(await service.client.post(f"/v1/plans/{plan}/webhooks", json=body, headers=boss), 422)

    assert refused["field"].startswith(field), refused
