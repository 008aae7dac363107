"""The solve pool: solves in worker processes, side by side, each stopped when it runs too long."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from api.runtime.pool import Pending, SolveFailed, SolvePool, SolveTimedOut, fold, fold_in, take_in, take_in_solved
from api.settings import Settings
from scheduler.negotiation import Negotiation
from scheduler.scenario import load_data
from tests.api.test_app import OPENING_VERSIONS, plan_scenario, post_change, soft_objection

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start


def pid() -> int:
    return os.getpid()


def sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def fails() -> None:
    raise ValueError("the engine broke")


def dies() -> None:
    os._exit(3)


def test_a_solve_runs_in_a_process_of_its_own_each_time() -> None:
    pool = SolvePool(processes=2, timeout_s=30)

    first, second = pool.run(pid), pool.run(pid)

    assert os.getpid() not in (first, second)
    assert first != second, "a worker process serves one solve, then its memory goes back"


def test_solves_run_side_by_side_up_to_the_pool_size() -> None:
    pool = SolvePool(processes=2, timeout_s=30)
    pids: list[int] = []
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: pids.append(pool.run(sleep_then_pid, 1.5))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(pids)) == 2
    assert time.monotonic() - started < 2.9, "two solves of 1.5 s took as long as one after the other"


def test_a_solve_that_runs_too_long_is_killed() -> None:
    pool = SolvePool(processes=1, timeout_s=0.5)
    started = time.monotonic()

    with pytest.raises(SolveTimedOut, match=r"longer than the server's limit of 0\.5 s"):
        pool.run(sleep_then_pid, 30)

    assert time.monotonic() - started < 5
    assert pool.run(pid) != os.getpid(), "the slot is free again"


def test_a_solve_that_raises_or_dies_fails_with_its_reason() -> None:
    pool = SolvePool(processes=1, timeout_s=30)

    with pytest.raises(SolveFailed, match="ValueError: the engine broke"):
        pool.run(fails)
    with pytest.raises(SolveFailed, match="died \\(exit code 3\\)"):
        pool.run(dies)


def objection_changes(first: int, count: int) -> list[Pending]:
    """``count`` soft objections of ``boss`` to ``r1`` as stored changes, from index ``first``."""
    received = datetime(2026, 3, 1, tzinfo=UTC)
    return [
        Pending(seq, "object", "boss", {"action": "object", "by": "boss", **soft_objection(*hour(seq))}, received)
        for seq in range(first, first + count)
    ]


def hour(seq: int) -> tuple[str, str]:
    return f"2026-03-02T{seq % 23:02d}:00:00Z", f"2026-03-02T{seq % 23 + 1:02d}:00:00Z"


def test_a_worker_sends_back_the_versions_and_the_server_takes_the_same_changes_in() -> None:
    pool = SolvePool(processes=1, timeout_s=60)
    negotiation = Negotiation.open(load_data(plan_scenario()).problem, time_limit_s=5)
    groups = [objection_changes(0, 3), objection_changes(3, 2)]
    here = negotiation.trial()
    expected = [take_in(here, group) for group in groups]

    folded = fold_in(pool, negotiation, groups, stored={1}, clock="scenario")
    reply = fold(negotiation.trial(), groups, stored={1}, clock="scenario")

    assert folded.results == expected
    assert folded.negotiation.versions == here.versions
    assert folded.negotiation.problems == here.problems
    assert folded.negotiation.problem == here.problem
    assert sorted(folded.bodies) == [2, 3]
    assert len(negotiation.versions) == 1, "the negotiation given is left as it was"
    # What comes back is the versions, not the problem that grows with every change.
    assert [version.version if version else None for version in reply.versions] == [2, 3]
    assert not any(isinstance(value, Negotiation) for value in vars(reply).values())


def test_a_worker_that_took_the_changes_in_differently_fails_the_solve() -> None:
    negotiation = Negotiation.open(load_data(plan_scenario()).problem, time_limit_s=5)
    with pytest.raises(SolveFailed, match="took the same changes in differently"):
        take_in_solved(negotiation, objection_changes(0, 1), None)


def test_the_solve_timeout_must_exceed_the_time_limit() -> None:
    with pytest.raises(ValueError, match="solve_timeout_s \\(5\\) must exceed time_limit_s \\(10\\)"):
        Settings(time_limit_s=10, solve_timeout_s=5)


def year_at_one_minute(requests: int = 40) -> dict[str, Any]:
    """A year of 1-minute slots: seconds to solve, where ``plan_scenario`` takes a fraction of one."""
    return {
        "name": "year-at-1-minute",
        "horizon": {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "slot_minutes": 1},
        "regions": [
            {"id": "eu", "timezone": "Europe/Paris", "users": 1000, "profile": "consumer"},
            {"id": "us", "timezone": "America/New_York", "users": 1000, "profile": "consumer"},
        ],
        "requests": [
            {"id": f"q{index}", "duration": "1h", "resources": [f"db{index % 2}"], "regions": ["eu", "us"]}
            for index in range(requests)
        ],
        "stakeholders": [{"id": "ops", "role": "approver"}],
    }


@pytest.mark.anyio
async def test_a_big_plan_solving_does_not_hold_back_another_plans_version(start: Start) -> None:
    # The big plan's versions are polled for up to a minute: more often than the default rate limit lets.
    async with start(max_problem_cells=100_000_000, rate_limit_per_minute=100_000) as service:
        big = await service.create_plan(year_at_one_minute())
        await asyncio.sleep(0.5)  # its solve is under way
        small = await service.create_plan(plan_scenario())
        ops, boss = await service.token(big, "ops"), await service.token(small, "boss")

        await service.versions(small, boss, at_least=OPENING_VERSIONS)
        meanwhile = await service.client.get(f"/v1/plans/{big}/versions", headers=ops)
        assert meanwhile.json() == [], "the big plan was solved first: the small one waited for it"

        service.wait_s = 60
        assert await service.versions(big, ops)


@pytest.mark.anyio
async def test_changes_sent_in_the_pause_after_a_solve_fold_into_the_next_version(start: Start) -> None:
    async with start(solve_pause_s=3.0) as service:
        plan = await service.create_plan(plan_scenario())
        boss = await service.token(plan, "boss")
        await service.versions(plan, boss, at_least=OPENING_VERSIONS)
        path = f"/v1/plans/{plan}/objections"
        first = await service.settled(plan, await post_change(service, path, soft_objection(), boss), boss)
        solved = time.monotonic()

        second = await post_change(service, path, soft_objection("2026-03-03T15:00:00Z", "2026-03-03T16:00:00Z"), boss)
        await asyncio.sleep(0.5)  # without a pause, long enough for its own solve
        waiting = await service.client.get(f"/v1/plans/{plan}/changes/{second}", headers=boss)
        third = await post_change(service, path, soft_objection("2026-03-04T15:00:00Z", "2026-03-04T16:00:00Z"), boss)
        settled = [await service.settled(plan, change, boss) for change in (second, third)]

    assert waiting.json()["status"] == "pending", "solved before the plan's pause was over"
    assert [change["version"] for change in settled] == [first["version"] + 1] * 2
    assert time.monotonic() - solved >= 2.5


@pytest.mark.anyio
async def test_changes_whose_solve_runs_too_long_are_refused_and_the_plan_goes_on(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await service.versions(plan, boss, at_least=OPENING_VERSIONS)
    pool = service.app.state.runtime.pool
    run = pool.run
    slow = {"solves": 1}

    def too_long(work: Any, *args: Any, **kwargs: Any) -> Any:
        if slow["solves"]:
            slow["solves"] -= 1
            raise SolveTimedOut("solving took longer than the server's limit of 60 s")
        return run(work, *args, **kwargs)

    monkeypatch.setattr(pool, "run", too_long)
    path = f"/v1/plans/{plan}/objections"
    refused = await service.settled(plan, await post_change(service, path, soft_objection(), boss), boss)
    later = await post_change(service, path, soft_objection("2026-03-03T15:00:00Z", "2026-03-03T16:00:00Z"), boss)
    accepted = await service.settled(plan, later, boss)

    assert refused["status"] == "refused"
    assert refused["reason"] == "solving took longer than the server's limit of 60 s; the plan is unchanged"
    assert accepted["status"] == "accepted"
    assert accepted["version"] == OPENING_VERSIONS + 1
    audit = (await service.client.get(f"/v1/plans/{plan}/audit", headers=service.admin)).json()
    assert audit["intact"] is True


@pytest.mark.anyio
async def test_a_plan_whose_solve_fails_rests_and_the_others_go_on(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = service.app.state.runtime.pool
    run = pool.run
    tries: list[str] = []

    def broken_opens(work: Any, *args: Any, **kwargs: Any) -> Any:
        if args and getattr(args[0], "name", None) == "broken":
            tries.append("broken")
            raise SolveFailed("Traceback: the engine broke")
        return run(work, *args, **kwargs)

    monkeypatch.setattr(pool, "run", broken_opens)
    broken = await service.create_plan(plan_scenario(name="broken"))
    small = await service.create_plan(plan_scenario())
    boss = await service.token(small, "boss")
    await service.versions(small, boss, at_least=OPENING_VERSIONS)
    await asyncio.sleep(20 * service.app.state.runtime.settings.poll_s)

    assert tries == ["broken"], "a failing plan was tried again at every poll"
    assert broken in service.app.state.runtime.solver._not_before
