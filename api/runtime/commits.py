"""Group commit: the changes sent to a plan at the same time are stored in one transaction.

Every change is committed before its ``202`` is answered. So that a burst does not wait for one
transaction per change, the items that arrive while a plan's transaction is being committed queue
up, and the next transaction stores them all, under the plan's write lock, with one call of the
store and one commit: the first of them to arrive leads it, the others wait for it. The store takes
the whole group, so it reads what the group shares once (the next sequence number, the audit chain's
head) and inserts the rows together. Each writer returns once its own item is committed. If the
transaction fails, each item of it is tried again in a transaction of its own, so that one bad item
fails alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from api.runtime.locks import Locks

Item = TypeVar("Item")
Result = TypeVar("Result")
# Stores a plan's items, in order, in the session's transaction: each one's result.
Store = Callable[[Session, str, list[Item]], list[Result]]


@dataclass(eq=False)
class _Write(Generic[Item, Result]):
    """One writer's item, and what came of it."""

    item: Item
    wake: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Items written to a plan's history, committed in groups: one transaction for all that wait."""

    def __init__(self, sessions: sessionmaker[Session], locks: Locks, store: Store[Item, Result]) -> None:
        self.sessions = sessions
        self.locks = locks
        self.store = store
        self._waiting: dict[str, list[_Write[Item, Result]]] = {}  # per plan, the items for the next transaction
        self._leading: set[str] = set()  # plans with a transaction under way
        self._guard = threading.Lock()

    def write(self, plan_id: str, item: Item) -> Result:
        """Store ``item`` in the plan's next transaction (under its write lock); its result once committed."""
        entry: _Write[Item, Result] = _Write(item)
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

    def _commit(self, plan_id: str, group: list[_Write[Item, Result]]) -> None:
        try:
            with self.sessions() as session, self.locks.writing(session, plan_id):
                results = self.store(session, plan_id, [entry.item for entry in group])
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
                return
            for entry in group:  # each alone, so that only the bad one fails
                self._commit(plan_id, [entry])
            return
        for entry, result in zip(group, results, strict=True):
            entry.result = result
