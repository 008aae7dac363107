"""Group commit: changes sent together are stored in one transaction, each committed before its 202."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.db import make_engine, make_sessions
from api.runtime.commits import GroupCommit
from api.runtime.locks import Locks
from tests.api.test_app import OPENING_VERSIONS, plan_scenario, post_change, soft_objection

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start


@pytest.fixture
def commits(tmp_path: Path) -> GroupCommit[Callable[[Session], str], str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'commits.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE written (what TEXT)"))
    return GroupCommit(make_sessions(engine), Locks(engine), run_each)


def run_each(session: Session, plan_id: str, writes: list[Callable[[Session], str]]) -> list[str]:
    """A store whose items are the writes themselves."""
    return [write(session) for write in writes]


def written(commits: GroupCommit[Any, str]) -> list[str]:
    with commits.sessions() as session:
        return sorted(session.scalars(text("SELECT what FROM written")))


def test_writes_that_wait_together_commit_together_and_a_bad_one_fails_alone(
    commits: GroupCommit[Callable[[Session], str], str],
) -> None:
    first_in, go_on = threading.Event(), threading.Event()
    transactions: list[int] = []
    commit = commits._commit

    def counting(plan_id: str, group: list[Any]) -> None:
        transactions.append(len(group))
        commit(plan_id, group)

    commits._commit = counting  # type: ignore[method-assign]

    def insert(what: str, *, fail: bool = False, hold: bool = False) -> Any:
        def write(session: Session) -> str:
            if hold:
                first_in.set()
                go_on.wait(10)
            session.execute(text("INSERT INTO written VALUES (:what)"), {"what": what})
            if fail:
                raise ValueError(f"{what} is bad")
            return what

        return write

    outcomes: dict[str, str] = {}

    def send(what: str, **kwargs: bool) -> None:
        try:
            outcomes[what] = commits.write("plan", insert(what, **kwargs))
        except ValueError as error:
            outcomes[what] = str(error)

    holder = threading.Thread(target=send, args=("held",), kwargs={"hold": True})
    holder.start()
    assert first_in.wait(10)
    others = [threading.Thread(target=send, args=(what,)) for what in "abc"]
    others.append(threading.Thread(target=send, args=("bad",), kwargs={"fail": True}))
    for thread in others:
        thread.start()
    while sum(len(queue) for queue in commits._waiting.values()) < len(others):
        threading.Event().wait(0.01)
    go_on.set()
    for thread in [holder, *others]:
        thread.join(10)

    assert outcomes == {"held": "held", "a": "a", "b": "b", "c": "c", "bad": "bad is bad"}
    assert written(commits) == ["a", "b", "c", "held"]
    # The held one alone; then the four that waited meanwhile together, which failed; then each alone.
    assert transactions == [1, 4, 1, 1, 1, 1]


@pytest.mark.anyio
async def test_a_burst_of_changes_is_stored_in_fewer_transactions_than_changes(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await service.versions(plan, boss, at_least=OPENING_VERSIONS)
    commits = service.app.state.runtime.commits
    groups: list[int] = []
    commit = commits._commit

    def counting(plan_id: str, group: list[Any]) -> None:
        groups.append(len(group))
        commit(plan_id, group)

    monkeypatch.setattr(commits, "_commit", counting)
    base = f"/v1/plans/{plan}"
    path = f"{base}/objections"
    bodies = [soft_objection(f"2026-03-03T{hour:02d}:00:00Z", f"2026-03-03T{hour:02d}:30:00Z") for hour in range(24)]
    sent = await asyncio.gather(*(post_change(service, path, body, boss) for body in bodies * 2))

    assert len(set(sent)) == len(sent) == 48
    assert sum(groups) == 48
    assert len(groups) < 48, "every change had a transaction of its own"
    for change in sent:
        assert (await service.settled(plan, change, boss))["status"] == "accepted"
    audit = (await service.client.get(f"/v1/plans/{plan}/audit", headers=service.admin)).json()
    assert audit["intact"] is True
    indexes = [(await service.client.get(f"{base}/changes/{c}", headers=boss)).json()["index"] for c in sent]
    assert sorted(indexes) == list(range(min(indexes), min(indexes) + 48))


@pytest.mark.anyio
async def test_writers_waiting_for_their_transaction_leave_threads_and_connections_for_readers(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    writers = 45  # more than anyio's 40 threads, fewer than the server's 80
    async with start() as service:
        plan = await service.create_plan(plan_scenario())
        boss = await service.token(plan, "boss")
        await service.versions(plan, boss, at_least=OPENING_VERSIONS)
        runtime = service.app.state.runtime
        held, go_on = threading.Event(), threading.Event()
        store = runtime.commits.store

        def holding(session: Session, plan_id: str, items: list[Any]) -> list[int]:
            held.set()
            go_on.wait(30)
            result: list[int] = store(session, plan_id, items)
            return result

        monkeypatch.setattr(runtime.commits, "store", holding)
        path = f"/v1/plans/{plan}/objections"
        bodies = [
            soft_objection(f"2026-03-03T{n % 24:02d}:00:00Z", f"2026-03-03T{n % 24:02d}:30:00Z") for n in range(writers)
        ]
        sending = asyncio.gather(*(post_change(service, path, body, boss) for body in bodies))
        try:
            deadline = time.monotonic() + 10
            while sum(len(queue) for queue in runtime.commits._waiting.values()) < writers - 1:
                assert time.monotonic() < deadline, "not every writer got a thread to wait in"
                await asyncio.sleep(0.01)
            assert held.is_set()
            # Every writer waits (one in the held transaction), and a reader is answered meanwhile.
            read = await asyncio.wait_for(service.client.get(f"/v1/plans/{plan}/versions/latest", headers=boss), 10)
            assert read.status_code == 200
            # The waiting writers hold no connection: the leader's transaction has one, a few are in use.
            assert runtime.engine.pool.checkedout() < 5
        finally:
            go_on.set()
        sent = await sending
    assert len(set(sent)) == writers
