"""Load benchmark of the HTTP service: a burst of soft objections from concurrent clients, and a big
plan solving beside a small one. Prints figures.

    python bench/load.py sqlite                      # one server on a fresh SQLite file
    python bench/load.py postgres --database postgresql+psycopg://postgres@127.0.0.1:5432/test

The script starts the server(s) itself (``negotiator serve``, one per port): ``sqlite`` runs one server
on a fresh database in a temporary directory; ``postgres`` runs ``--servers`` servers (default 2) on
the given database, whose tables are dropped first. It creates a plan (20 requests on 4 resources,
3 regions, one day in 60-minute slots), mints a token for each representative, then sends
``--objections`` soft objections (default 10,000) from ``--clients`` concurrent clients (default 50),
each client sending to the servers in turn. Every objection is distinct (its own weight, reason and
avoid range) and in its author's scope, so every one must be accepted. Each carries its own
``Idempotency-Key`` and is sent again, up to twice, after a transport error (such as a keep-alive
connection the server closed as the request went out): it must still be stored once.

It measures the time to each reply (the 202) and the throughput, and meanwhile a reader polls
``GET …/versions/latest`` of another plan (the same scenario) and times each answer. It waits until
no change is pending, then prints: requests/s, p50, p99 and max latency, errors by status, the
retries, the changes stored against the 202s received (lost = a 202 whose change is not stored, or
not accepted into a version), the number of versions produced, the solves (per process, overlaps)
and how long until the last version was solved.

Then the neighbour scenario: a plan of a year in 1-minute slots (``--big-requests`` requests, the
servers' problem-size budget raised for it) is created, and while its first version is being solved
the other plan takes an objection: the time until that objection's version is out, and how long the
big plan's solve took.

Last, a table of each figure against its target. It asserts nothing: failed requests are reported,
and the exit status is 1 only when an accepted change was lost (not stored, not accepted into
exactly one version, or never solved) or listed twice.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import MetaData, create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.db import make_engine, make_sessions
from api.models import ChangeRow, VersionRow

ADMIN_TOKEN = "bench-admin-token"
REGIONS = (("eu", "Europe/Paris"), ("us", "America/New_York"), ("asia", "Asia/Tokyo"))
HORIZON = ("2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z")
READ_EVERY_S = 0.05  # the reader's pause between two reads of the other plan
RETRIES = 2  # times an objection is sent again after a transport error, with the same Idempotency-Key


def year_at_one_minute(requests: int) -> dict[str, Any]:
    """The neighbour scenario's big plan: a year of 1-minute slots, 2 regions, ``requests`` requests."""
    return {
        "name": "year-at-1-minute",
        "horizon": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "slot_minutes": 1},
        "regions": [
            {"id": "eu", "timezone": "Europe/Paris", "users": 100_000, "profile": "consumer"},
            {"id": "us", "timezone": "America/New_York", "users": 100_000, "profile": "consumer"},
        ],
        "requests": [
            {"id": f"q{index}", "duration": "1h", "resources": [f"db-{index % 4}"], "regions": ["eu", "us"]}
            for index in range(requests)
        ],
        "stakeholders": [{"id": "ops", "role": "approver"}],
    }


def scenario(steps: int = 0) -> dict[str, Any]:
    """20 requests on 4 resources, 3 regions with the consumer profile, one day in 60-minute slots.

    ``steps`` soft objections of the approver go in the scenario's ``negotiation``: they become the
    plan's first changes, solved one at a time before the burst.
    """
    names = [name for name, _ in REGIONS]
    return {
        "name": "load-bench",
        "horizon": {"start": HORIZON[0], "end": HORIZON[1], "slot_minutes": 60},
        "services": {"web": 0.6, "mobile": 0.4},
        "regions": [
            {"id": name, "timezone": zone, "users": 100_000 * (index + 1), "profile": "consumer"}
            for index, (name, zone) in enumerate(REGIONS)
        ],
        "requests": [
            {
                "id": f"r{index:02d}",
                "duration": "1h" if index % 3 else "2h",
                "resources": [f"db-{index % 4}"],
                "regions": [names[index % 3], names[(index + 1) % 3]],
            }
            for index in range(20)
        ],
        "stakeholders": [
            *({"id": f"rep-{name}", "role": "representative", "regions": [name]} for name in names),
            {"id": "ops", "role": "approver"},
        ],
        "negotiation": [
            {
                "by": "ops",
                "action": "object",
                "request": f"r{index % 20:02d}",
                "kind": "soft",
                "weight": 2,
                "avoid": [{"start": _hour(index % 23), "end": _hour(index % 23 + 1)}],
                "reason": f"step {index}",
            }
            for index in range(steps)
        ],
    }


def objections(count: int, *, seed: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """``count`` distinct soft objections as (representative, body), each in its author's scope."""
    chooser = random.Random(seed)
    names = [name for name, _ in REGIONS]
    made: list[tuple[str, dict[str, Any]]] = []
    for index in range(count):
        request = chooser.randrange(20)
        region = names[(request + chooser.randrange(2)) % 3]  # one of the request's two regions
        start = chooser.randrange(23)
        end = min(24, start + 1 + chooser.randrange(3))
        body = {
            "request": f"r{request:02d}",
            "kind": "soft",
            "avoid": [{"start": _hour(start), "end": _hour(end)}],
            "weight": round(1.0 + index / 1000, 3),
            "reason": f"load objection {index}",
        }
        made.append((f"rep-{region}", body))
    return made


def _hour(hour: int) -> str:
    return "2026-03-03T00:00:00Z" if hour == 24 else f"2026-03-02T{hour:02d}:00:00Z"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def drop_tables(url: str) -> None:
    """Every table of the database's default schema (Alembic's too), whatever version of the service made them."""
    engine = create_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    tables.drop_all(engine)
    engine.dispose()


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(database: str, workdir: Path, *, time_limit_s: float, poll_s: float) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "NEGOTIATOR_ADMIN_TOKEN": ADMIN_TOKEN,
        "NEGOTIATOR_RATE_LIMIT_PER_MINUTE": "100000000",
        "NEGOTIATOR_TIME_LIMIT_S": str(time_limit_s),
        "NEGOTIATOR_POLL_S": str(poll_s),
        "NEGOTIATOR_MAX_PROBLEM_CELLS": "1000000000",  # the neighbour scenario's year at 1 minute
    }
    log = workdir / f"server-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from negotiator.cli import main; main()",
                "serve",
                "--port",
                str(port),
                "--database",
                database,
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    return Server(port, process, log)


def wait_healthy(server: Server, *, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server on port {server.port} exited: {server.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server on port {server.port} not healthy after {timeout_s} s")


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)  # the other plan's GET …/versions/latest
    read_errors: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    accepted: dict[int, str] = field(default_factory=dict)  # change id -> reason text of the objection
    first_error: dict[str, str] = field(default_factory=dict)
    retried: Counter[str] = field(default_factory=Counter)  # sent again after a transport error, by its kind


async def burst(
    urls: list[str],
    plan: str,
    tokens: dict[str, str],
    items: list[tuple[str, dict[str, Any]]],
    clients: int,
    other: tuple[str, dict[str, str]],
) -> Results:
    """Send every objection once, from ``clients`` concurrent clients, each cycling over the servers,
    while a reader polls the latest version of the ``other`` plan (its id and a reader's headers)."""
    results = Results()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(items)):
        queue.put_nowait(index)
    done = asyncio.Event()
    # One TLS context for every client (the servers speak plain HTTP): an httpx client makes its own
    # otherwise, about 25 ms of loading certificates each, which held up the first replies by a second.
    context = ssl.create_default_context()

    async def reader() -> None:
        other_plan, headers = other
        async with httpx.AsyncClient(timeout=120, verify=context) as http:
            turn = 0
            while not done.is_set():
                started = time.perf_counter()
                try:
                    reply = await http.get(
                        f"{urls[turn % len(urls)]}/v1/plans/{other_plan}/versions/latest", headers=headers
                    )
                except httpx.HTTPError as error:
                    results.read_errors[type(error).__name__] += 1
                else:
                    results.reads.append(time.perf_counter() - started)
                    if reply.status_code != 200:
                        results.read_errors[str(reply.status_code)] += 1
                turn += 1
                await asyncio.sleep(READ_EVERY_S)

    async def client(number: int) -> None:
        limits = httpx.Limits(max_connections=len(urls))
        async with httpx.AsyncClient(timeout=120, limits=limits, verify=context) as http:
            turn = number
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                by, body = items[index]
                url = f"{urls[turn % len(urls)]}/v1/plans/{plan}/objections"
                turn += 1
                # Each objection has its key, so that a retry after a transport error (a keep-alive
                # connection the server closed as the request went out) is stored once.
                headers = {"Authorization": f"Bearer {tokens[by]}", "Idempotency-Key": f"bench-{index}"}
                started = time.perf_counter()
                for attempt in range(RETRIES + 1):
                    try:
                        reply = await http.post(url, json=body, headers=headers)
                        break
                    except httpx.TransportError as error:
                        if attempt == RETRIES:
                            results.errors[type(error).__name__] += 1
                            results.first_error.setdefault(type(error).__name__, repr(error))
                        else:
                            results.retried[type(error).__name__] += 1
                else:
                    continue
                results.latencies.append(time.perf_counter() - started)
                if reply.status_code == 202:
                    results.accepted[reply.json()["change"]] = body["reason"]
                else:
                    results.errors[str(reply.status_code)] += 1
                    results.first_error.setdefault(str(reply.status_code), reply.text[:300])

    async def clients_then_done() -> None:
        await asyncio.gather(*(client(number) for number in range(clients)))
        done.set()

    await asyncio.gather(clients_then_done(), reader())
    return results


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="PostgreSQL URL (postgres mode); its tables are dropped",
    )
    parser.add_argument("--objections", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--servers", type=int, default=None, help="default 1 (sqlite) or 2 (postgres)")
    parser.add_argument("--time-limit", type=float, default=5.0, help="NEGOTIATOR_TIME_LIMIT_S of the servers")
    parser.add_argument("--poll", type=float, default=0.5, help="NEGOTIATOR_POLL_S of the servers")
    parser.add_argument("--drain-timeout", type=float, default=900, help="seconds to wait for the solves")
    parser.add_argument(
        "--steps", type=int, default=0, help="soft objections in the plan's scenario, solved before the burst"
    )
    parser.add_argument(
        "--big-requests", type=int, default=40, help="requests of the neighbour scenario's year-at-1-minute plan"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server logs)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="negotiator-load-"))
    if args.mode == "sqlite":
        database = f"sqlite:///{workdir / 'load.db'}"
        count = args.servers or 1
    else:
        database = args.database
        count = args.servers or 2
        drop_tables(database)
    print(f"{args.mode}: {count} server(s), {args.objections} objections from {args.clients} clients")
    print(
        f"database {database}; server logs in {workdir}"
        + ("" if args.keep else " (removed at the end; --keep keeps them)")
    )

    servers: list[Server] = []
    try:
        servers.append(start_server(database, workdir, time_limit_s=args.time_limit, poll_s=args.poll))
        wait_healthy(servers[0])  # the first one migrates; the others start on an up-to-date database
        for _ in range(count - 1):
            servers.append(start_server(database, workdir, time_limit_s=args.time_limit, poll_s=args.poll))
        for server in servers[1:]:
            wait_healthy(server)
        return run(args, database, servers)
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            for path in sorted(workdir.iterdir()):
                path.unlink()
            workdir.rmdir()


def run(args: argparse.Namespace, database: str, servers: list[Server]) -> int:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    first = servers[0].url
    reply = httpx.post(f"{first}/v1/plans", json=scenario(args.steps), headers=admin, timeout=60)
    reply.raise_for_status()
    plan = reply.json()["id"]
    tokens: dict[str, str] = {}
    for name, _ in REGIONS:
        minted = httpx.post(f"{first}/v1/plans/{plan}/stakeholders/rep-{name}/tokens", headers=admin, timeout=60)
        minted.raise_for_status()
        tokens[f"rep-{name}"] = minted.json()["token"]
    reader = approver(first, plan)
    other = httpx.post(f"{first}/v1/plans", json=scenario(), headers=admin, timeout=60)
    other.raise_for_status()
    other_plan = other.json()["id"]
    other_ops = approver(first, other_plan)
    engine = make_engine(database)
    sessions = make_sessions(engine)
    for each in (plan, other_plan):
        if wait_settled(sessions, each, timeout_s=120) is None:  # version 1
            print(f"version 1 of {each} was never solved")
            return 1

    items = objections(args.objections)
    burst_start = time.time()
    started = time.perf_counter()
    urls = [server.url for server in servers]
    results = asyncio.run(burst(urls, plan, tokens, items, args.clients, (other_plan, other_ops)))
    sent_s = time.perf_counter() - started
    burst_end = time.time()
    settled_after = wait_settled(sessions, plan, timeout_s=args.drain_timeout)

    with sessions() as session:
        rows = session.scalars(select(ChangeRow).where(ChangeRow.plan_id == plan)).all()
        stored = {row.id: row for row in rows}
        pending = sum(1 for row in rows if row.pending)
        refused = sum(1 for row in rows if not row.pending and not row.accepted)
    listing = httpx.get(f"{first}/v1/plans/{plan}/versions", headers=reader, timeout=120).json()
    audit = httpx.get(f"{first}/v1/plans/{plan}/audit", headers=reader, timeout=120).json()
    engine.dispose()

    lost = [
        change
        for change, reason in results.accepted.items()
        if change not in stored
        or stored[change].step.get("reason") != reason
        or stored[change].pending
        or not stored[change].accepted
        or stored[change].version is None
    ]
    included = Counter(change for version in listing for change in version["changes"])
    twice = [change for change, times in included.items() if times > 1]
    missing = [change for change in results.accepted if included[change] != 1]
    solves = [entry["detail"] for entry in audit["entries"] if entry["action"] == "solve"]
    spans = sorted(
        (datetime.fromisoformat(d["started"]), datetime.fromisoformat(d["finished"]), d["process"]) for d in solves
    )
    overlaps, latest_end = 0, None
    for begin, end, _ in spans:  # by start: a solve that starts before every earlier one ended overlaps
        overlaps += latest_end is not None and begin < latest_end
        latest_end = end if latest_end is None else max(latest_end, end)
    longest = max(((end - begin).total_seconds() for begin, end, _ in spans), default=0.0)
    last_finished = spans[-1][1].timestamp() if spans else float("nan")
    latencies = results.latencies
    answered = len(latencies)

    print()
    print(
        f"sent {len(items)} in {sent_s:.1f} s: {len(items) / sent_s:,.0f} requests/s "
        f"({answered} answered, {len(results.accepted)} with 202)"
    )
    print(
        f"latency to the reply: p50 {percentile(latencies, 0.50) * 1000:,.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:,.0f} ms, max {max(latencies, default=0) * 1000:,.0f} ms"
    )
    print(
        f"errors by status: {dict(results.errors) or 'none'}; "
        f"sent again after a transport error: {dict(results.retried) or 'none'}"
    )
    for kind, sample in results.first_error.items():
        print(f"  first {kind}: {sample}")
    print(
        f"changes stored {len(stored)} (the plan's, all kinds) vs 202s received {len(results.accepted)}; "
        f"pending {pending}, refused {refused}"
    )
    print(
        f"lost: {len(lost)} (a 202 whose change is not stored, or not accepted into a version)"
        + (f": {sorted(lost)[:20]}" if lost else "")
    )
    print(
        f"in the versions' change lists: {len(results.accepted) - len(missing)} of the 202s exactly once; "
        f"listed twice: {len(twice)}"
    )
    print(
        f"versions produced: {len(listing)} (version 1 included), by {len(solves)} solves; "
        f"solves per process {dict(Counter(process for _, _, process in spans))}; "
        f"longest solve {longest:.2f} s; overlapping solves {overlaps}"
    )
    if settled_after is None:
        print(f"NOT settled: changes still pending after {args.drain_timeout:.0f} s")
    else:
        print(
            f"last version solved {last_finished - burst_start:.1f} s after the burst started "
            f"({last_finished - burst_end:.1f} s after the last reply)"
        )
    print(f"audit log intact: {audit['intact']}")
    reads = results.reads
    print(
        f"the other plan's GET …/versions/latest during the burst: {len(reads)} reads, "
        f"p50 {percentile(reads, 0.50) * 1000:,.0f} ms, p99 {percentile(reads, 0.99) * 1000:,.0f} ms, "
        f"max {max(reads, default=0) * 1000:,.0f} ms; errors {dict(results.read_errors) or 'none'}"
    )

    print()
    print(f"neighbour scenario: a year at 1 minute ({args.big_requests} requests) solving beside the other plan")
    neighbour = beside_a_big_plan(first, other_plan, other_ops, big_requests=args.big_requests)
    print(
        f"the other plan's objection: version out {neighbour['version_s']:.2f} s after the objection "
        f"({neighbour['big_solving']}); the big plan's first version took {neighbour['big_s']:.1f} s"
    )

    rate = len(items) / sent_s
    p99 = percentile(latencies, 0.99) * 1000
    read_p99 = percentile(reads, 0.99) * 1000
    rows = [
        ("objections accepted per second", ">= 300", f"{rate:,.0f}", rate >= 300),
        ("p99 to the 202", "<= 250 ms", f"{p99:,.0f} ms", p99 <= 250),
        ("another plan's latest, p99", "<= 100 ms", f"{read_p99:,.0f} ms", read_p99 <= 100),
        (
            "another plan's version beside the big solve",
            "<= 2 s",
            f"{neighbour['version_s']:.2f} s",
            neighbour["version_s"] <= 2,
        ),
        ("lost (a 202 not in a version)", "0", str(len(lost) + len(missing)), not lost and not missing),
        ("duplicated (in two versions)", "0", str(len(twice)), not twice),
        ("audit log intact", "yes", "yes" if audit["intact"] else "NO", bool(audit["intact"])),
    ]
    print()
    print(f"{args.mode}, {len(servers)} server(s), {len(items)} objections from {args.clients} clients")
    print(f"{'measure':<46} {'target':>10} {'measured':>12}  met")
    for name, target, measured, met in rows:
        print(f"{name:<46} {target:>10} {measured:>12}  {'yes' if met else 'NO'}")
    return 1 if lost or missing or twice or settled_after is None else 0


def approver(url: str, plan: str) -> dict[str, str]:
    """Headers with a fresh token of the plan's approver ``ops``."""
    minted = httpx.post(
        f"{url}/v1/plans/{plan}/stakeholders/ops/tokens",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=60,
    )
    minted.raise_for_status()
    return {"Authorization": f"Bearer {minted.json()['token']}"}


def beside_a_big_plan(url: str, plan: str, headers: dict[str, str], *, big_requests: int) -> dict[str, Any]:
    """Create the year-at-1-minute plan; once its solve is under way, object in ``plan``: how long
    until the objection's version is out, whether the big plan was still solving then, and how long
    the big plan took to get its first version."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = time.perf_counter()
    reply = httpx.post(f"{url}/v1/plans", json=year_at_one_minute(big_requests), headers=admin, timeout=120)
    reply.raise_for_status()
    big = reply.json()["id"]
    big_ops = approver(url, big)
    time.sleep(1.0)  # the big plan's solve is under way
    body = {"request": "r00", "kind": "soft", "weight": 5, "avoid": [{"start": _hour(3), "end": _hour(5)}]}
    sent = time.perf_counter()
    change = httpx.post(f"{url}/v1/plans/{plan}/objections", json=body, headers=headers, timeout=120)
    change.raise_for_status()
    number = change.json()["change"]
    while (
        httpx.get(f"{url}/v1/plans/{plan}/changes/{number}", headers=headers, timeout=120).json()["status"] == "pending"
    ):
        time.sleep(0.02)
    version_s = time.perf_counter() - sent
    big_solving = not httpx.get(f"{url}/v1/plans/{big}/versions", headers=big_ops, timeout=120).json()
    while not httpx.get(f"{url}/v1/plans/{big}/versions", headers=big_ops, timeout=120).json():
        time.sleep(0.1)
    return {
        "version_s": version_s,
        "big_solving": "the big plan still solving" if big_solving else "the big plan had finished",
        "big_s": time.perf_counter() - created,
    }


def wait_settled(sessions: Any, plan: str, *, timeout_s: float) -> float | None:
    """Wait until the plan has a version and no pending change; the seconds it took, None on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        with sessions() as session:
            pending = session.scalar(
                select(func.count()).select_from(ChangeRow).where(ChangeRow.plan_id == plan, ChangeRow.pending)
            )
            versions = session.scalar(select(func.count()).select_from(VersionRow).where(VersionRow.plan_id == plan))
        if not pending and versions:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


if __name__ == "__main__":
    sys.exit(main())
