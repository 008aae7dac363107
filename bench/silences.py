"""Silence round trip: from an approval to its silence on a real Alertmanager. Prints figures only.

    python bench/silences.py [ROUNDS]

An in-process server (SQLite in a temporary directory, the solver and the courier polling every
50 ms) runs a live plan two days ahead with one request carrying silence matchers, on an
Alertmanager started on loopback (Debian's prometheus-alertmanager). Each round an approver vetoes
the request's window (which expires its silence) and approves the new version; the figure is the
time from the approval's 202 to the moment Alertmanager's own ``GET /api/v2/silences`` lists the
new silence as live.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from api.settings import Settings
from scheduler.timeline import format_utc
from tests.api.alertmanager import alertmanager

ADMIN = {"Authorization": "Bearer bench-admin"}


def scenario() -> dict[str, Any]:
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "name": "silence-bench",
        "horizon": {"start": format_utc(start), "end": format_utc(start + timedelta(days=2)), "slot_minutes": 60},
        "regions": [{"id": "eu", "timezone": "Europe/Paris", "users": 1000, "profile": "consumer"}],
        "requests": [{"id": "r1", "duration": "1h", "silence": {"matchers": {"service": "web"}}}],
        "stakeholders": [{"id": "boss", "role": "approver"}],
    }


async def until(check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while (value := await check()) is None:
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await asyncio.sleep(0.005)
    return value


async def run(rounds: int, manager: str, directory: Path) -> list[float]:
    settings = Settings(
        database_url=f"sqlite:///{directory / 'bench.db'}",
        admin_token="bench-admin",
        poll_s=0.05,
        webhook_poll_s=0.05,
        alertmanager_url=manager,
        public_url="http://bench",
    )
    app = create_app(settings)
    figures: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://bench") as c:
        plan = (await c.post("/v1/plans", json=scenario(), headers=ADMIN)).json()["id"]
        token = (await c.post(f"/v1/plans/{plan}/stakeholders/boss/tokens", headers=ADMIN)).json()["token"]
        boss = {"Authorization": f"Bearer {token}"}
        am = httpx.AsyncClient(base_url=manager)

        async def latest() -> dict[str, Any] | None:
            response = await c.get(f"/v1/plans/{plan}/versions/latest", headers=boss)
            return response.json() if response.status_code == 200 else None

        for _ in range(rounds):
            version = await until(latest)
            before = {s["id"] for s in (await am.get("/api/v2/silences")).json()}
            started = time.perf_counter()
            approved = await c.post(f"/v1/plans/{plan}/versions/{version['version']}/approve", headers=boss)
            assert approved.status_code == 202, approved.text

            async def new_silence(before: set[str] = before) -> str | None:
                listed = (await am.get("/api/v2/silences")).json()
                fresh = [s["id"] for s in listed if s["id"] not in before and s["status"]["state"] != "expired"]
                return fresh[0] if fresh else None

            await until(new_silence)
            figures.append(time.perf_counter() - started)
            window = version["windows"][0]
            veto = {"request": "r1", "kind": "veto", "avoid": [{"start": window["start"], "end": window["end"]}]}
            await c.post(f"/v1/plans/{plan}/objections", json=veto, headers=boss)
            await until(lambda n=version["version"]: _newer(latest, n))
        await am.aclose()
    return figures


async def _newer(latest: Any, number: int) -> dict[str, Any] | None:
    body = await latest()
    return body if body is not None and body["version"] > number else None


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as folder:
        try:
            with alertmanager(Path(folder)) as manager:
                figures = asyncio.run(run(rounds, manager, Path(folder)))
        except pytest.skip.Exception as skipped:
            raise SystemExit(f"not measured: {skipped}") from None
    ms = [f * 1000 for f in figures]
    print(f"silence round trip after an approval, {rounds} rounds (solver and courier polling every 50 ms):")
    print(f"  median {statistics.median(ms):.0f} ms, min {min(ms):.0f} ms, max {max(ms):.0f} ms")


if __name__ == "__main__":
    main()
