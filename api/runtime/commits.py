"""Group commit: the changes sent to a plan at the same time are stored in one transaction.

Every change is committed before its ``202`` is answered, and each commit waits for the disk. So
that a burst does not wait for one disk flush per change, the writes that arrive while a plan's
transaction is being committed queue up, and the next transaction stores them all, under the
plan's write lock, with one commit: the first of them to arrive leads it, the others wait for it.
Each writer returns once its own write is committed. If the transaction fails, each write of it is
tried again in a transaction of its own, so that one bad write fails alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from api.runtime.locks import Locks

T = TypeVar("T")


@dataclass(eq=False)
class _Write(Generic[T]):
    """One writer's part of a transaction, and what came of it."""

    write: Callable[[Session], T]
    wake: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    done: bool = False
    result: T | None = None
    error: BaseException | None = None


class GroupCommit:
    """Writes to a plan's history, committed in groups: one transaction for all that wait."""

    def __init__(self, sessions: sessionmaker[Session], locks: Locks) -> None:
        self.sessions = sessions
        self.locks = locks
        self._waiting: dict[str, list[_Write[Any]]] = {}  # per plan, the writes for the next transaction
        self._leading: set[str] = set()  # plans with a transaction under way
        self._guard = threading.Lock()

    def write(self, plan_id: str, write: Callable[[Session], T]) -> T:
        """Run ``write`` in the plan's next transaction (under its write lock); its result once committed."""
        entry: _Write[T] = _Write(write)
        with self._guard:
            self._waiting.setdefault(plan_id, []).append(entry)
            if plan_id not in self._leading:
                self._leading.add(plan_id)
                entry.leads = True
        while not entry.done:
            if entry.leads:
                self._lead(plan_id)
            else:
                entry.wake.wait()
                entry.wake.clear()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    def _lead(self, plan_id: str) -> None:
        """Commit every write that waits, then hand the lead to the first that came meanwhile."""
        with self._guard:
            group = self._waiting.pop(plan_id)
        try:
            self._commit(plan_id, group)
        finally:
            with self._guard:
                after = self._waiting.get(plan_id)
                if after:
                    after[0].leads = True
                    after[0].wake.set()
                else:
                    self._leading.discard(plan_id)
            for entry in group:
                entry.done = True
                entry.wake.set()

    def _commit(self, plan_id: str, group: list[_Write[Any]]) -> None:
        try:
            with self.sessions() as session, self.locks.writing(session, plan_id):
                results = [entry.write(session) for entry in group]
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
                return
            for entry in group:  # each alone, so that only the bad one fails
                self._commit(plan_id, [entry])
            return
        for entry, result in zip(group, results, strict=True):
            entry.result = result
