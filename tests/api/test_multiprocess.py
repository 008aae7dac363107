"""Real server processes on one PostgreSQL database (README, HTTP service: no accepted change is ever lost).

Two ``negotiator serve`` processes take a burst of 1,000 soft objections from 50 concurrent clients:
every 202 is a stored change, accepted into exactly one version, the burst folds into far fewer
versions than changes, the audit log shows no two solves of the plan at the same time, and a change
is readable from the other server as soon as its 202 arrives. Then a server is killed (SIGKILL) in
the middle of a burst and started again on the same database: every objection that got a 202 is
kept and solved, a retry with the same ``Idempotency-Key`` is answered with the change already
stored, and the audit chain is intact. Last, one server takes 150 concurrent clients.

Needs ``NEGOTIATOR_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``);
the project's tables in that database are dropped first. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from api.db import make_engine, make_sessions
from api.models import Base, ChangeRow, VersionRow
from api.services.audit import verify
from tests.conftest import TEST_AUDIT_KEY
from tests.factories import make_objection, make_region, make_request, make_scenario, make_stakeholder

DATABASE_URL = os.environ.get("NEGOTIATOR_TEST_DATABASE_URL", "")
if DATABASE_URL.startswith("postgresql://"):  # the driver installed with the project is psycopg 3
    DATABASE_URL = "postgresql+psycopg://" + DATABASE_URL.removeprefix("postgresql://")

pytestmark = pytest.mark.skipif(
    not DATABASE_URL,
    reason="NEGOTIATOR_TEST_DATABASE_URL is unset: multi-process tests need a PostgreSQL database "
    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test; its tables are dropped)",
)

ADMIN = "multiprocess-admin-token"
# Every table of the project, dependents first, and Alembic's record of the migrations applied.
TABLES = (*(table.name for table in reversed(Base.metadata.sorted_tables)), "alembic_version")
REGIONS = {"eu": "Europe/Paris", "us": "America/New_York", "asia": "Asia/Tokyo"}
START = "2026-03-02T00:00:00Z"
BURST = 1_000
CLIENTS = 50
SERVER_START_S = 60
SETTLE_S = 120


# -- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One ``negotiator serve`` process; its output goes to a log file shown when something fails."""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    database: str = DATABASE_URL
    settings: dict[str, str] = field(default_factory=dict)  # more NEGOTIATOR_* variables

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "NEGOTIATOR_ADMIN_TOKEN": ADMIN,
            "NEGOTIATOR_RATE_LIMIT_PER_MINUTE": "100000000",
            "NEGOTIATOR_TIME_LIMIT_S": "5",
            "NEGOTIATOR_POLL_S": "0.2",
            **self.settings,
        }
        command = [sys.executable, "-c", "from negotiator.cli import main; main()", "serve"]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), "--database", self.database],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
            )
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server on port {self.port} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        pytest.fail(f"server on port {self.port} not healthy after {SERVER_START_S} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, like a crash."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def tail(self, size: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def errors(self) -> str:
        """The log's error lines (tracebacks' last lines included), each with how often it occurs."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        counted = Counter(
            line
            for line in lines
            if line[:1].isalpha() and not line.startswith(("INFO", "Traceback", "The above", "During handling"))
        )
        return "\n".join(f"{times:5d} x {line[:300]}" for line, times in counted.most_common(15))


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """The test database with none of the project's tables: the first server creates them."""
    engine = create_engine(DATABASE_URL)
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()
    yield DATABASE_URL


@pytest.fixture(scope="module")
def sessions(database: str) -> Iterator[Any]:
    engine = make_engine(database)
    yield make_sessions(engine, audit_key=TEST_AUDIT_KEY.encode())
    engine.dispose()


# -- the plan -----------------------------------------------------------------------------------


def hour(n: int) -> str:
    return f"2026-03-{2 + n // 24:02d}T{n % 24:02d}:00:00Z"


def scenario(name: str, *, steps: int = 0) -> dict[str, Any]:
    """20 requests on 4 resources, 3 regions (consumer profile), one day in 60-minute slots.

    ``steps`` soft objections of the approver go in the scenario's ``negotiation`` (the plan's first changes).
    """
    names = list(REGIONS)
    return make_scenario(
        name=name,
        horizon={"start": START, "end": hour(24), "slot_minutes": 60},
        services={"web": 0.6, "mobile": 0.4},
        regions=[
            make_region(name, timezone=zone, users=100_000 * (index + 1), profile="consumer")
            for index, (name, zone) in enumerate(REGIONS.items())
        ],
        requests=[
            make_request(
                f"r{index:02d}",
                duration="2h" if index % 3 == 0 else "1h",
                resources=[f"db-{index % 4}"],
                regions=[names[index % 3], names[(index + 1) % 3]],
            )
            for index in range(20)
        ],
        stakeholders=[
            *(make_stakeholder(f"rep-{name}", role="representative", regions=[name]) for name in names),
            make_stakeholder("ops", role="approver"),
        ],
        negotiation=[
            make_objection(
                f"r{index:02d}",
                by="ops",
                kind="soft",
                weight=2,
                reason=f"step {index}",
                avoid=[{"start": hour(index), "end": hour(index + 1)}],
            )
            for index in range(steps)
        ],
    )


@dataclass
class Plan:
    id: str
    tokens: dict[str, str]  # stakeholder -> bearer token

    def auth(self, stakeholder: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[stakeholder]}"}


def create_plan(server: Server, body: dict[str, Any]) -> Plan:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    reply = httpx.post(f"{server.url}/v1/plans", json=body, headers=admin, timeout=60)
    assert reply.status_code == 201, reply.text
    plan = reply.json()["id"]
    tokens = {}
    for stakeholder in [*(f"rep-{name}" for name in REGIONS), "ops"]:
        minted = httpx.post(
            f"{server.url}/v1/plans/{plan}/stakeholders/{stakeholder}/tokens", headers=admin, timeout=60
        )
        assert minted.status_code == 201, minted.text
        tokens[stakeholder] = minted.json()["token"]
    return Plan(plan, tokens)


def objections(count: int, tag: str) -> list[tuple[str, dict[str, Any]]]:
    """``count`` distinct soft objections (weight and reason) as (author, body), each in its author's scope."""
    names = list(REGIONS)
    made = []
    for index in range(count):
        request = (index * 7) % 20
        start = (index * 5) % 23
        body = {
            "request": f"r{request:02d}",
            "kind": "soft",
            "avoid": [{"start": hour(start), "end": hour(start + 1 + index % 2)}],
            "weight": round(1 + index / 1000, 3),
            "reason": f"{tag} {index}",
        }
        made.append((f"rep-{names[(request + index % 2) % 3]}", body))
    return made


def settle(sessions: Any, plan: str, *, timeout_s: float = SETTLE_S) -> None:
    """Wait until the plan has a version and no pending change."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with sessions() as session:
            pending = session.scalar(
                select(func.count()).select_from(ChangeRow).where(ChangeRow.plan_id == plan, ChangeRow.pending)
            )
            versions = session.scalar(select(func.count()).select_from(VersionRow).where(VersionRow.plan_id == plan))
        if versions and not pending:
            return
        time.sleep(0.2)
    pytest.fail(f"plan {plan} still has {pending} pending changes after {timeout_s} s")


def stored_changes(sessions: Any, plan: str) -> dict[int, ChangeRow]:
    with sessions() as session:
        return {row.id: row for row in session.scalars(select(ChangeRow).where(ChangeRow.plan_id == plan))}


# -- the burst on two servers -------------------------------------------------------------------


@dataclass
class Burst:
    plan: str
    sent: int
    accepted: dict[int, str] = field(default_factory=dict)  # change id -> the objection's reason
    failures: Counter[str] = field(default_factory=Counter)  # status code or exception name
    samples: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    unreadable: list[tuple[int, int]] = field(default_factory=list)  # (change, status) right after its 202
    stored: dict[int, ChangeRow] = field(default_factory=dict)
    versions: list[dict[str, Any]] = field(default_factory=list)
    solves: list[dict[str, Any]] = field(default_factory=list)
    logs: str = ""


async def send_burst(
    urls: list[str], plan: Plan, items: list[tuple[str, dict[str, Any]]], burst: Burst, *, clients: int = CLIENTS
) -> None:
    """Each of ``clients`` tasks takes the next objection and sends it to the servers in turn.

    After every tenth 202, the change is read back at once from the other server: stored before the
    reply means readable from anywhere.
    """
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(items)):
        queue.put_nowait(index)

    async def client(number: int) -> None:
        # Connections idle longer than the server's keep-alive (uvicorn: 5 s) are dropped by the
        # client first: reusing one as the server closes it fails with ReadError, whatever the app.
        async with httpx.AsyncClient(timeout=90, limits=httpx.Limits(keepalive_expiry=2.0)) as http:
            turn = number
            while not queue.empty():
                index = queue.get_nowait()
                by, body = items[index]
                turn += 1
                url, other = urls[turn % len(urls)], urls[(turn + 1) % len(urls)]
                started = time.perf_counter()
                try:
                    reply = await http.post(f"{url}/v1/plans/{plan.id}/objections", json=body, headers=plan.auth(by))
                except httpx.HTTPError as error:
                    burst.failures[type(error).__name__] += 1
                    burst.samples.setdefault(type(error).__name__, repr(error))
                    continue
                burst.latencies.append(time.perf_counter() - started)
                if reply.status_code != 202:
                    burst.failures[str(reply.status_code)] += 1
                    burst.samples.setdefault(str(reply.status_code), reply.text[:300])
                    continue
                change = reply.json()["change"]
                burst.accepted[change] = body["reason"]
                if index % 10 == 0:
                    read = await http.get(f"{other}/v1/plans/{plan.id}/changes/{change}", headers=plan.auth(by))
                    if read.status_code != 200:
                        burst.unreadable.append((change, read.status_code))

    await asyncio.gather(*(client(number) for number in range(clients)))


@pytest.fixture(scope="module")
def burst(database: str, sessions: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Burst]:
    """Two servers, one plan, BURST objections split across both; everything read once nothing is pending.

    Both servers are stopped before the tests look, so that no other test's plan is solved by them.
    """
    logs = tmp_path_factory.mktemp("burst")
    servers = [Server(free_port(), logs / f"server-{number}.log") for number in (1, 2)]
    try:
        servers[0].start()  # migrates the empty database
        servers[1].start()
        plan = create_plan(servers[0], scenario("multiprocess-burst"))
        settle(sessions, plan.id)  # version 1 and the scenario's steps
        result = Burst(plan=plan.id, sent=BURST)
        asyncio.run(send_burst([server.url for server in servers], plan, objections(BURST, "burst"), result))
        settle(sessions, plan.id)
        reader = plan.auth("ops")
        result.versions = httpx.get(f"{servers[0].url}/v1/plans/{plan.id}/versions", headers=reader, timeout=60).json()
        audit = httpx.get(f"{servers[1].url}/v1/plans/{plan.id}/audit", headers=reader, timeout=60).json()
        assert audit["intact"], "the audit chain is broken"
        result.solves = [entry["detail"] for entry in audit["entries"] if entry["action"] == "solve"]
        result.stored = stored_changes(sessions, plan.id)
    finally:
        for server in servers:
            server.stop()
    result.logs = "\n".join(f"--- errors in {server.log}:\n{server.errors()}" for server in servers)
    yield result


def test_every_202_of_the_burst_is_stored_and_accepted(burst: Burst) -> None:
    assert burst.accepted, f"no objection was accepted: {dict(burst.failures)} {burst.samples}\n{burst.logs}"
    wrong: dict[int, Any] = {}
    for change in burst.accepted:
        row = burst.stored.get(change)
        if row is None:
            wrong[change] = "not stored"
        elif row.pending or not row.accepted or row.version is None:
            wrong[change] = {"pending": row.pending, "accepted": row.accepted, "reason": row.reason}
    assert not wrong, f"changes answered 202 but not stored and accepted into a version: {wrong}"
    mixed = [change for change, reason in burst.accepted.items() if burst.stored[change].step["reason"] != reason]
    assert not mixed, f"stored changes that are not the objection their 202 answered: {mixed}"
    refused = [(row.id, row.reason) for row in burst.stored.values() if not row.pending and not row.accepted]
    assert not refused, f"objections in scope were refused: {refused}"


def test_the_versions_include_every_change_exactly_once(burst: Burst) -> None:
    listed = Counter(change for version in burst.versions for change in version["changes"])
    assert [change for change, times in listed.items() if times > 1] == []
    assert set(burst.accepted) <= set(listed)
    for version in burst.versions:
        for change in version["changes"]:
            assert burst.stored[change].version == version["version"]


def test_the_burst_folds_into_few_versions(burst: Burst) -> None:
    new = [version for version in burst.versions if set(version["changes"]) & set(burst.accepted)]
    assert 1 <= len(new) <= len(burst.accepted) // 10, f"{len(new)} versions for {len(burst.accepted)} changes"


def test_no_two_solves_of_the_plan_overlap(burst: Burst) -> None:
    spans = sorted(
        (datetime.fromisoformat(solve["started"]), datetime.fromisoformat(solve["finished"]), solve["process"])
        for solve in burst.solves
    )
    assert spans, "no solve in the audit log"
    latest_end, latest_process = spans[0][1], spans[0][2]
    for started, finished, process in spans[1:]:
        assert started >= latest_end, (
            f"a solve by process {process} started at {started}, "
            f"before the one by process {latest_process} ended at {latest_end}"
        )
        if finished > latest_end:
            latest_end, latest_process = finished, process
    solved = Counter(change for solve in burst.solves for change in solve["changes"])
    assert [change for change, times in solved.items() if times > 1] == [], "a change was solved twice"
    produced = sorted(number for solve in burst.solves for number in solve["versions"])
    assert produced == [version["version"] for version in burst.versions], "a version made twice, or by no solve"


def test_a_change_is_readable_as_soon_as_it_is_accepted(burst: Burst) -> None:
    assert burst.unreadable == [], f"read right after the 202 from the other server: {burst.unreadable[:10]}"


def test_every_objection_of_the_burst_gets_a_202_promptly(burst: Burst) -> None:
    assert not burst.failures, f"{dict(burst.failures)}: {burst.samples}\n{burst.logs}"
    assert len(burst.accepted) == burst.sent
    slowest = max(burst.latencies)
    assert slowest < 20, f"the slowest 202 took {slowest:.1f} s"


# -- a restart in the middle of a burst ---------------------------------------------------------


def test_restart_in_the_middle_of_a_burst_loses_nothing_accepted(database: str, sessions: Any, tmp_path: Path) -> None:
    """SIGKILL the server once 100 objections are in; start it again and send the rest, with the same keys."""
    count, kill_after = 300, 100
    server = Server(free_port(), tmp_path / "server.log")
    server.start()
    try:
        plan = create_plan(server, scenario("multiprocess-restart", steps=2))
        settle(sessions, plan.id)
        items = objections(count, "restart")
        keys = [f"restart-{index}" for index in range(count)]
        replies: dict[int, int] = {}  # objection index -> change id, from any 202
        refusals: list[tuple[int, int, str]] = []  # objection index, status, body

        async def send(indices: list[int], clients: int, *, kill_at: int | None) -> list[int]:
            """Send the objections; the indices that got no 202 (connection lost, server gone)."""
            queue = list(indices)
            failed: list[int] = []

            async def client() -> None:
                async with httpx.AsyncClient(timeout=30) as http:
                    while queue:
                        index = queue.pop(0)
                        by, body = items[index]
                        headers = {**plan.auth(by), "Idempotency-Key": keys[index]}
                        try:
                            reply = await http.post(
                                f"{server.url}/v1/plans/{plan.id}/objections", json=body, headers=headers
                            )
                        except httpx.HTTPError:
                            failed.append(index)
                            continue
                        if reply.status_code != 202:
                            refusals.append((index, reply.status_code, reply.text[:200]))
                            continue
                        replies.setdefault(index, reply.json()["change"])
                        assert replies[index] == reply.json()["change"], "a retry made a second change"
                        if kill_at is not None and len(replies) >= kill_at and server.process.poll() is None:
                            server.kill()

            await asyncio.gather(*(client() for _ in range(clients)))
            return failed

        lost_replies = asyncio.run(send(list(range(count)), 20, kill_at=kill_after))
        assert server.process is not None and server.process.poll() is not None, "the server was never killed"
        first_202s = dict(replies)
        assert kill_after <= len(first_202s) < count, "the kill did not land in the middle of the burst"
        server.start()  # same port, same database
        left = asyncio.run(send(sorted(lost_replies), 10, kill_at=None))
        assert left == [], f"objections still unanswered after the restart: {left}"
        assert refusals == [], f"objections answered with an error: {refusals[:5]}"
        settle(sessions, plan.id)
        stored = stored_changes(sessions, plan.id)
        reader = plan.auth("ops")
        versions = httpx.get(f"{server.url}/v1/plans/{plan.id}/versions", headers=reader, timeout=60).json()
    finally:
        server.stop()

    lost = {index: change for index, change in first_202s.items() if change not in stored}
    assert not lost, f"answered 202 before the kill, missing after the restart: {lost}\n{server.tail()}"
    assert sorted(replies) == list(range(count))
    objections_stored = Counter(row.step.get("reason") for row in stored.values())
    assert [reason for reason, times in objections_stored.items() if times > 1] == [], "an objection stored twice"
    for index, change in replies.items():
        row = stored[change]
        assert row.step["reason"] == items[index][1]["reason"]
        assert not row.pending and row.accepted and row.version is not None, (change, row.reason)
    listed = Counter(change for version in versions for change in version["changes"])
    assert all(listed[change] == 1 for change in replies.values())
    with sessions() as session:
        assert verify(session) == []


# -- more clients than the server has connections -----------------------------------------------


def test_one_server_takes_150_concurrent_clients(database: str, sessions: Any, tmp_path: Path) -> None:
    """More requests in flight than the pool has connections (24+48): none waits out the pool timeout.

    Regression (f7c196f): requests held their session's connection while waiting for a worker thread,
    the worker threads waited for connections, and the server stalled 30 s and answered 500s.
    """
    server = Server(free_port(), tmp_path / "server.log")
    server.start()
    try:
        plan = create_plan(server, scenario("multiprocess-crowd"))
        settle(sessions, plan.id)
        crowd = Burst(plan=plan.id, sent=600)
        asyncio.run(send_burst([server.url], plan, objections(crowd.sent, "crowd"), crowd, clients=150))
        settle(sessions, plan.id)
        stored = stored_changes(sessions, plan.id)
    finally:
        server.stop()
    assert [change for change in crowd.accepted if change not in stored] == [], "a 202 whose change is not stored"
    assert not crowd.failures, f"{dict(crowd.failures)}: {crowd.samples}\n{server.errors()}"
    assert len(crowd.accepted) == crowd.sent
    assert max(crowd.latencies) < 20, f"the slowest 202 took {max(crowd.latencies):.1f} s"


# -- a plan's changes after the first --------------------------------------------------------------


def test_the_changes_after_the_first_are_stored(database: str, sessions: Any, tmp_path: Path) -> None:
    """Regression (34833c7): the next seq was ``(max(seq) or -1) + 1``, so a second change got seq 0 again."""
    server = Server(free_port(), tmp_path / "server.log")
    server.start()
    try:
        plan = create_plan(server, scenario("multiprocess-no-steps", steps=0))
        settle(sessions, plan.id)
        statuses = []
        for by, body in objections(3, "sequential"):
            reply = httpx.post(
                f"{server.url}/v1/plans/{plan.id}/objections", json=body, headers=plan.auth(by), timeout=60
            )
            statuses.append(reply.status_code)
    finally:
        server.stop()
    assert statuses == [202, 202, 202]
