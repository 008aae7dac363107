"""The database: engine and sessions (SQLAlchemy 2). Tables are in ``api/models.py``; migrations in
``api/migrations``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

Clock = Callable[[], datetime]  # the server's time; tests pass their own to create_app


def utcnow() -> datetime:
    return datetime.now(UTC)


# Connections beyond the worker threads' (the solver's, the courier's, a group commit's leader).
SPARE_CONNECTIONS = 8


def make_engine(url: str, *, threads: int = 0) -> Engine:
    """An engine for ``url``, with a connection for each of a server's ``threads`` worker threads (a
    tool has none) and some to spare; SQLite gets WAL and a busy timeout so readers never block the solver."""
    pool = threads + SPARE_CONNECTIONS
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool, max_overflow=pool
        )

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # PostgreSQL: half kept open, the rest opened when needed (several servers share its connections).
    return create_engine(url, pool_pre_ping=True, pool_size=pool // 2, max_overflow=pool)


def make_sessions(engine: Engine, *, audit_key: bytes | None = None) -> sessionmaker[Any]:
    """Sessions on ``engine``; those that write or check the audit log carry its key."""
    return sessionmaker(engine, expire_on_commit=False, info={"audit_key": audit_key})


P = ParamSpec("P")
T = TypeVar("T")


def unit_of_work(service: Callable[Concatenate[Session, P], T]) -> Callable[Concatenate[Session, P], T]:
    """A request's unit of work: the service's session is committed when it returns (rolled back by
    its owner if it raised), which gives its connection back before the route's answer is sent."""

    @functools.wraps(service)
    def run(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> T:
        result = service(session, *args, **kwargs)
        session.commit()
        return result

    return run
