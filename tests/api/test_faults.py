"""A server killed (SIGKILL) in the middle of a solve and of a webhook delivery, then started again on
the same SQLite database: nothing accepted is lost, nothing is applied or stored twice, a message
in flight is sent again under the same ``webhook-id`` (receivers drop repeats by it), and the
audit log verifies intact. (The kill in the middle of a burst is in ``test_multiprocess.py``.)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.db import make_engine, make_sessions
from api.models import ChangeRow, DeliveryRow, VersionRow
from api.services.audit import verify
from tests.api.test_multiprocess import ADMIN, Server, free_port, hour, scenario, settle
from tests.api.test_pool import year_at_one_minute
from tests.conftest import TEST_AUDIT_KEY
from tests.receiver import Receiver, receiving

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A fresh SQLite file, and sessions on it that carry the servers' audit key."""
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    engine = make_engine(url)
    yield url, make_sessions(engine, audit_key=TEST_AUDIT_KEY.encode())
    engine.dispose()


def descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (its forkserver, and a worker while a solve runs)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def plan_with_token(server: Server, body: dict[str, Any], stakeholder: str) -> tuple[str, dict[str, str]]:
    reply = httpx.post(f"{server.url}/v1/plans", json=body, headers=ADMIN_HEADERS, timeout=60)
    assert reply.status_code == 201, reply.text
    plan = reply.json()["id"]
    minted = httpx.post(f"{server.url}/v1/plans/{plan}/stakeholders/{stakeholder}/tokens", headers=ADMIN_HEADERS)
    assert minted.status_code == 201, minted.text
    return plan, {"Authorization": f"Bearer {minted.json()['token']}"}


def objection(request: str, index: int) -> dict[str, Any]:
    return {
        "request": request,
        "kind": "soft",
        "weight": 2 + index,
        "avoid": [{"start": f"2026-06-{1 + index:02d}T00:00:00Z", "end": f"2026-06-{1 + index:02d}T12:00:00Z"}],
        "reason": f"fault {index}",
    }


def object_once(server: Server, plan: str, headers: dict[str, str], body: dict[str, Any], key: str) -> int:
    reply = httpx.post(
        f"{server.url}/v1/plans/{plan}/objections", json=body, headers={**headers, "Idempotency-Key": key}, timeout=60
    )
    assert reply.status_code == 202, reply.text
    return int(reply.json()["change"])


def accepted_once(sessions: Any, plan: str, changes: list[int]) -> list[dict[str, Any]]:
    """Each change accepted, in exactly one version; the versions numbered without gaps."""
    with sessions() as session:
        rows = {row.id: row for row in session.scalars(select(ChangeRow).where(ChangeRow.plan_id == plan))}
        versions = session.scalars(select(VersionRow).where(VersionRow.plan_id == plan)).all()
        bodies = [row.body for row in sorted(versions, key=lambda row: row.number)]
    for change in changes:
        assert rows[change].accepted and not rows[change].pending, (change, rows[change].reason)
    listed = Counter(change for body in bodies for change in body["changes"])
    assert [listed[change] for change in changes] == [1] * len(changes)
    assert [body["version"] for body in bodies] == list(range(1, len(bodies) + 1))
    return bodies


def test_a_kill_in_the_middle_of_a_solve_loses_nothing(database: tuple[str, Any], tmp_path: Path) -> None:
    url, sessions = database
    settings = {"NEGOTIATOR_MAX_PROBLEM_CELLS": "1000000000", "NEGOTIATOR_SOLVER_PROCESSES": "1"}
    server = Server(free_port(), tmp_path / "server.log", database=url, settings=settings)
    server.start()
    try:
        plan, ops = plan_with_token(server, year_at_one_minute(), "ops")
        settle(sessions, plan)
        sent = {f"solve-{index}": objection(f"q{index}", index) for index in range(3)}
        changes = [object_once(server, plan, ops, body, key) for key, body in sent.items()]
        assert server.process is not None
        deadline = time.monotonic() + 30
        while len(descendants(server.process.pid)) < 2:  # the forkserver, and the solve's worker
            assert time.monotonic() < deadline, "no solve started"
            time.sleep(0.005)
        server.kill()
        with sessions() as session:
            pending = session.scalars(select(ChangeRow.id).where(ChangeRow.plan_id == plan, ChangeRow.pending)).all()
        assert sorted(pending) == changes, "the kill did not land in the middle of the solve"

        server.start()
        retried = [object_once(server, plan, ops, body, key) for key, body in sent.items()]
        settle(sessions, plan)
    finally:
        server.stop()

    assert retried == changes, "a retry with the same key made a second change"
    bodies = accepted_once(sessions, plan, changes)
    assert len(bodies) == 2, "the three objections fold into one version after version 1"
    with sessions() as session:
        assert verify(session) == []


def test_a_kill_in_the_middle_of_a_webhook_delivery_sends_it_again_once(
    database: tuple[str, Any], tmp_path: Path
) -> None:
    url, sessions = database
    settings = {
        "NEGOTIATOR_WEBHOOK_PRIVATE_TARGETS": "true",
        "NEGOTIATOR_WEBHOOK_TIMEOUT_S": "30",
        "NEGOTIATOR_WEBHOOK_POLL_S": "0.2",
        "NEGOTIATOR_WEBHOOK_RETRY_S": "0.2",
    }
    server = Server(free_port(), tmp_path / "server.log", database=url, settings=settings)
    receiver: Receiver
    with receiving() as receiver:
        server.start()
        try:
            plan, ops = plan_with_token(server, scenario("faults-webhook"), "ops")
            settle(sessions, plan)
            hook = httpx.post(
                f"{server.url}/v1/plans/{plan}/webhooks", json={"url": receiver.url, "reminders": []}, headers=ops
            )
            assert hook.status_code == 201, hook.text
            receiver.answering.clear()  # the message is read, and not answered
            body = {"request": "r00", "kind": "soft", "weight": 3, "avoid": [{"start": hour(1), "end": hour(3)}]}
            change = object_once(server, plan, ops, body, "webhook-0")
            deadline = time.monotonic() + 30
            while receiver.arrived < 1:
                assert time.monotonic() < deadline, "the message never arrived"
                time.sleep(0.01)
            server.kill()
            receiver.answering.set()

            server.start()
            received = receiver.wait(2, "version.created", wait_s=30)
            deliveries = httpx.get(
                f"{server.url}/v1/plans/{plan}/webhooks/{hook.json()['id']}/deliveries", headers=ops
            ).json()
        finally:
            server.stop()

    accepted_once(sessions, plan, [change])
    assert len({message.headers["webhook-id"] for message in received}) == 1, "the message was made twice"
    with sessions() as session:
        stored = session.scalars(select(DeliveryRow).where(DeliveryRow.kind == "version.created")).all()
    assert [row.status for row in stored] == ["delivered"]
    assert [d["status"] for d in deliveries if d["type"] == "version.created"] == ["delivered"]
    with sessions() as session:
        assert verify(session) == []
