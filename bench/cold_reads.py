"""Cold reads: a server that has never seen a plan of 30 versions answers reads. Prints figures only.

    python bench/cold_reads.py [SCENARIO]

A first server (in-process, SQLite in a temporary directory) makes a rehearsal plan from the
scenario (default: the global SaaS week) and takes soft objections from an approver, one at a
time, until the plan has 30 versions. It stops; a second server, without a solver of its own,
then answers ``GET …/versions/latest`` and ``GET …/calendar.ics`` for the first time. The figures
are the time to the first byte of each answer and how many solves each read ran.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from api.settings import Settings
from scheduler.scenario import read_document
from scheduler.solver import Planner

VERSIONS = 30
ADMIN = {"Authorization": "Bearer bench-admin"}
DEFAULT = Path(__file__).resolve().parents[1] / "scenarios" / "global-saas-week.yaml"


def counting_solves() -> list[float]:
    """Every solve from now on appends its duration."""
    solves: list[float] = []
    solve = Planner.solve

    def counted(self: Planner, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return solve(self, *args, **kwargs)
        finally:
            solves.append(time.perf_counter() - started)

    Planner.solve = counted  # type: ignore[method-assign]
    return solves


async def first_byte(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    async with client.stream("GET", path, headers=headers) as response:
        async for _ in response.aiter_bytes():
            elapsed = time.perf_counter() - started
            break
        else:
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
    return elapsed


async def serve(database: str, **settings: Any) -> tuple[Any, httpx.AsyncClient]:
    app = create_app(Settings(database_url=database, admin_token="bench-admin", poll_s=0.05, **settings))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    return app, client


async def make_plan(database: str, scenario: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """A rehearsal plan with ``VERSIONS`` versions, and an approver's headers."""
    scenario = {
        **scenario,
        "stakeholders": [*scenario.get("stakeholders", []), {"id": "bench-boss", "role": "approver"}],
    }
    app, client = await serve(database)
    async with app.router.lifespan_context(app), client:
        plan = (await client.post("/v1/plans?clock=scenario", json=scenario, headers=ADMIN)).json()["id"]
        token = (await client.post(f"/v1/plans/{plan}/stakeholders/bench-boss/tokens", headers=ADMIN)).json()
        boss = {"Authorization": f"Bearer {token['token']}"}
        objection = {"request": scenario["requests"][0]["id"], "kind": "soft", "weight": 2}  # on its window now
        while len(await versions(client, plan, boss)) < VERSIONS:
            change = (await client.post(f"/v1/plans/{plan}/objections", json=objection, headers=boss)).json()
            while (await client.get(change["href"], headers=boss)).json()["status"] == "pending":
                await asyncio.sleep(0.02)
        return plan, boss


async def versions(client: httpx.AsyncClient, plan: str, headers: dict[str, str]) -> list[Any]:
    """The plan's versions once it has its first."""
    while True:
        listed = (await client.get(f"/v1/plans/{plan}/versions", headers=headers)).json()
        if listed:
            return list(listed)
        await asyncio.sleep(0.05)


async def main(path: Path) -> None:
    scenario = read_document(path)
    with tempfile.TemporaryDirectory() as directory:
        database = f"sqlite:///{directory}/bench.db"
        built = time.perf_counter()
        plan, boss = await make_plan(database, scenario)
        print(f"{path.name}: {VERSIONS} versions stored in {time.perf_counter() - built:.1f} s")
        solves = counting_solves()
        app, client = await serve(database, solver=False, webhooks=False)
        async with app.router.lifespan_context(app), client:
            for name in ("versions/latest", "calendar.ics"):
                before = len(solves)
                took = await first_byte(client, f"/v1/plans/{plan}/{name}", boss)
                ran = solves[before:]
                print(f"cold GET {name}: first byte after {took * 1000:.0f} ms, {len(ran)} solves ({sum(ran):.2f} s)")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
