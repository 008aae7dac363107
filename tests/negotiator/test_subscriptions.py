"""``negotiator webhooks`` and ``negotiator feeds`` against a real server and a real webhook receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from icalendar import Calendar
from standardwebhooks.webhooks import Webhook as Verifier

from scheduler.ics import uid
from tests.negotiator.conftest import WAIT_S, Plan, negotiator, ok, veto_r1
from tests.receiver import Receiver, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as running:
        yield running


def logged_once_delivered(plan: Plan, hook: str) -> str:
    """The deliveries table once the courier has recorded the receiver's answer (just after it came)."""
    deadline = time.monotonic() + WAIT_S
    while any(
        d["status"] == "pending"
        for d in json.loads(ok(plan.run("webhooks", "deliveries", plan.id, hook, "-f", "json", by="eu-rep")))
    ):
        assert time.monotonic() < deadline, "the delivery stayed pending"
        time.sleep(0.02)
    return ok(plan.run("webhooks", "deliveries", plan.id, hook, by="eu-rep"))


def test_a_webhook_is_added_signs_what_it_sends_logs_it_and_is_removed(
    plan: Plan,
    receiver: Receiver,
) -> None:
    added = ok(plan.run("webhooks", "add", plan.id, receiver.url, "--reminder", "2h", by="eu-rep")).splitlines()
    assert added[0].startswith("webhook ") and added[0].endswith(f": {receiver.url} (reminders: 2h)")
    hook = added[0].split()[1].rstrip(":")
    secret = added[1].removeprefix("secret: ")
    assert secret.startswith("whsec_")

    listed = json.loads(ok(plan.run("webhooks", "list", plan.id, "--format", "json", by="eu-rep")))
    assert [(str(h["id"]), h["url"], h["reminders"]) for h in listed] == [(hook, receiver.url, ["2h"])]
    assert "secret" not in listed[0]
    assert receiver.url in ok(plan.run("webhooks", "list", plan.id, by="eu-rep"))

    veto_r1(plan)  # version 2 moves r1, in eu-rep's scope
    [message] = receiver.wait(1, "version.created")
    assert Verifier(secret).verify(message.body, message.headers)["data"]["version"] == 2

    log = logged_once_delivered(plan, hook)
    assert message.headers["webhook-id"] in log
    assert "version.created" in log
    assert "delivered" in log
    assert "204" in log

    assert ok(plan.run("webhooks", "remove", plan.id, hook, by="eu-rep")).strip() == f"webhook {hook} removed"
    assert json.loads(ok(plan.run("webhooks", "list", plan.id, "--format", "json", by="eu-rep"))) == []


def test_only_its_owner_removes_a_webhook(plan: Plan, receiver: Receiver) -> None:
    created = json.loads(ok(plan.run("webhooks", "add", plan.id, receiver.url, "-f", "json", by="eu-rep")))
    assert created["reminders"] == ["24h", "1h"]  # the server's default, as written

    refused = plan.run("webhooks", "remove", plan.id, str(created["id"]), by="us-rep")

    assert refused.exit_code == 1
    assert refused.stderr == "error: 403 Forbidden: this webhook belongs to another stakeholder\n"


def test_webhooks_add_checks_lead_times_before_sending(dead_server: str) -> None:
    add = ("webhooks", "add", "p", "http://example.test/")
    bad = negotiator(*add, "--reminder", "soon", server=dead_server, token="t")
    both = negotiator(*add, "--reminder", "1h", "--no-reminders", server=dead_server, token="t")

    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --reminder: 'soon' is not a duration")
    assert both.exit_code == 2
    assert "--no-reminders" in both.stderr


def test_a_bad_webhook_url_gets_the_servers_message_naming_the_field(plan: Plan) -> None:
    refused = plan.run("webhooks", "add", plan.id, "ftp://example.test/", by="eu-rep")

    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: 422 ")
    assert "url" in refused.stderr


def test_a_feed_url_is_a_calendar_until_it_is_revoked(plan: Plan) -> None:
    added, warning = ok(plan.run("feeds", "add", plan.id, "--scope", "plan", by="us-rep")).strip().splitlines()
    feed, url = added.removeprefix("feed ").split(" (plan): ")
    assert warning.startswith("The URL is shown this once")

    calendar = Calendar.from_ical(httpx.get(url).content)  # no bearer header: the URL is the secret
    assert [str(event["UID"]) for event in calendar.walk("VEVENT")] == [uid("client-test", "r1")]
    listed = ok(plan.run("feeds", "list", plan.id, by="us-rep"))
    assert "plan" in listed
    assert url not in listed  # shown once

    assert ok(plan.run("feeds", "revoke", plan.id, feed, by="us-rep")).strip() == f"feed {feed} revoked"
    assert httpx.get(url).status_code == 404
    assert json.loads(ok(plan.run("feeds", "list", plan.id, "-f", "json", by="us-rep"))) == []
