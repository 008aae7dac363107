"""Per-plan locks: who solves a plan, and who appends to its history (changes, audit, versions).

Across processes, PostgreSQL advisory locks; within one, a thread lock per plan and purpose (SQLite
serves one process). The order is the same everywhere: take the plan's write lock, then write.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session


def lock_key(plan_id: str, purpose: int) -> int:
    """A 63-bit advisory lock key for a plan: purpose 0 solves, 1 appends to its history."""
    digest = int.from_bytes(hashlib.sha256(plan_id.encode()).digest()[:8], "big") >> 2
    return digest * 2 + purpose


class Locks:
    """Per-plan locks: PostgreSQL advisory locks across processes, thread locks within one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._local: dict[tuple[str, int], threading.Lock] = {}
        self._guard = threading.Lock()

    def _thread_lock(self, plan_id: str, purpose: int) -> threading.Lock:
        with self._guard:
            return self._local.setdefault((plan_id, purpose), threading.Lock())

    @contextmanager
    def solving(self, plan_id: str) -> Iterator[bool]:
        """Try to become the plan's only solver; yields whether it did."""
        local = self._thread_lock(plan_id, 0)
        if not local.acquire(blocking=False):
            yield False
            return
        try:
            if not self.postgres:
                yield True
                return
            with self.engine.connect() as connection:
                key = lock_key(plan_id, 0)
                got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
                try:
                    yield got
                finally:
                    if got:
                        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    connection.commit()
        finally:
            local.release()

    @contextmanager
    def writing(self, session: Session, plan_id: str) -> Iterator[None]:
        """Hold the plan's history (changes, audit) while writing to it, and commit before letting go:
        the next writer must see what this one wrote (sequence numbers, the audit chain's head)."""
        session.connection()  # a connection first: whoever holds the lock never waits for the pool
        local = self._thread_lock(plan_id, 1)
        with local:
            if self.postgres:
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(plan_id, 1)})
            yield
            session.commit()
