"""One source of truth: what a server stores is what every server serves, and reading never solves.

Solves are counted by wrapping the solve pool's ``run``, through which every version is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from api.runtime.pool import SolvePool
from tests.api.test_app import plan_scenario, post_change, soft_objection
from tests.api.test_review import signed_in

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio

VERSIONS = 30


@pytest.fixture
def solves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per solve any app of the test runs, from now on."""
    counted: list[int] = []
    run = SolvePool.run

    def counting(self: SolvePool, *args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(SolvePool, "run", counting)
    return counted


async def thirty_versions(service: Service) -> tuple[str, dict[str, str]]:
    """A plan with ``VERSIONS`` stored versions (three opening ones, then one per soft objection)."""
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await service.versions(plan, boss, at_least=3)
    for hour in range(VERSIONS - 3):
        start, end = f"2026-03-03T{hour % 24:02d}:00:00Z", f"2026-03-03T{hour % 24:02d}:30:00Z"
        change = await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(start, end), boss)
        await service.settled(plan, change, boss)
    assert len(await service.versions(plan, boss, at_least=VERSIONS)) == VERSIONS
    return plan, boss


async def reads(service: Service, plan: str, headers: dict[str, str]) -> dict[str, bytes]:
    """Every read of the plan's versions and calendars, as the bytes served."""
    listed = await service.versions(plan, headers)
    paths = [f"/v1/plans/{plan}/versions", f"/v1/plans/{plan}/versions/latest"]
    paths += [f"/v1/plans/{plan}/versions/{entry['version']}" for entry in listed]
    paths += [f"/v1/plans/{plan}/calendar.ics", f"/v1/plans/{plan}/stakeholders/rep-eu/calendar.ics"]
    served = {}
    for path in paths:
        response = await service.client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        served[path] = response.content
    return served


async def test_a_fresh_server_reads_a_plan_of_thirty_versions_without_solving(start: Start, solves: list[int]) -> None:
    async with start() as first:
        plan, boss = await thirty_versions(first)
        hook = await first.client.post(
            f"/v1/plans/{plan}/webhooks", json={"url": "http://127.0.0.1:9/nobody"}, headers=boss
        )
        deliveries = f"/v1/plans/{plan}/webhooks/{hook.json()['id']}/deliveries"
        change = await post_change(first, f"/v1/plans/{plan}/objections", soft_objection(), boss)
        await first.settled(plan, change, boss)
        served = await reads(first, plan, boss)
        told = (await first.client.get(deliveries, headers=boss)).json()
    solves.clear()

    # A server that never saw the plan, without a solver of its own, its courier looking for reminders.
    async with start(solver=False) as fresh:
        again = await reads(fresh, plan, boss)
        reread = await reads(fresh, plan, boss)
        diffs = (await fresh.client.get(deliveries, headers=boss)).json()
        client, _ = await signed_in(fresh, plan, "rep-eu")
        page = await client.get(f"/plans/{plan}")
        await client.aclose()

    assert solves == []
    assert len(served) == 2 + VERSIONS + 1 + 2  # the list, latest, every version, two calendars
    assert again == served  # byte for byte: versions, the list and both calendars
    assert reread == again
    assert [d["payload"] for d in diffs] == [d["payload"] for d in told]
    assert told[0]["payload"]["data"]["version"] == VERSIONS + 1
    assert page.status_code == 200
    assert f"Version {VERSIONS + 1}</strong>" in page.text


async def test_a_restarted_server_solves_only_the_changes_pending(start: Start, solves: list[int]) -> None:
    async with start() as first:
        plan, boss = await thirty_versions(first)
        served = await reads(first, plan, boss)
    # A change stored by a server that does not solve: it stays pending.
    async with start(solver=False) as stopped:
        change = await post_change(stopped, f"/v1/plans/{plan}/objections", soft_objection(), boss)
    solves.clear()

    async with start() as restarted:
        settled = await restarted.settled(plan, change, boss)
        again = await reads(restarted, plan, boss)

    assert settled["version"] == VERSIONS + 1
    assert len(solves) == 1  # the pending change, not the history before it
    kept = [path for path in served if path.rsplit("/", 1)[-1].isdigit()]
    assert {path: again[path] for path in kept} == {path: served[path] for path in kept}
