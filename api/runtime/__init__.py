"""What lives as long as the server process: per-plan locks, each plan's negotiation in memory,
the pool of worker processes that solve, and the two background threads (the solver, the
courier). ``Runtime.build`` makes them all; ``create_app`` owns one and starts and stops it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.db import Clock, make_engine, make_sessions
from api.links import Links
from api.runtime.commits import GroupCommit
from api.runtime.courier import Courier
from api.runtime.locks import Locks
from api.runtime.pool import SolvePool
from api.runtime.solver import Solver
from api.runtime.states import Plans
from api.services.audit import load_key
from api.services.changes import NewChange, store_changes
from api.settings import Settings


@dataclass(frozen=True)
class Runtime:
    """The database, the locks, the plans' states and the threads that solve and deliver."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    locks: Locks
    commits: GroupCommit[NewChange, int]
    pool: SolvePool
    plans: Plans
    solver: Solver
    courier: Courier
    links: Links

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock) -> Runtime:
        """Everything wired together; nothing runs until ``start``."""
        engine = make_engine(settings.database_url, threads=settings.worker_threads)
        links = Links(settings.public_url)
        sessions = make_sessions(engine, audit_key=load_key(settings, create=True))
        locks = Locks(engine)
        commits = GroupCommit(sessions, locks, store_changes)
        pool = SolvePool(processes=settings.solver_processes, timeout_s=settings.solve_timeout_s)
        plans = Plans(sessions, pool, time_limit_s=settings.time_limit_s, clock=clock)
        courier = Courier(
            sessions,
            plans.latest,
            poll_s=settings.webhook_poll_s,
            timeout_s=settings.webhook_timeout_s,
            retry_s=settings.webhook_retry_s,
            max_attempts=settings.webhook_max_attempts,
            links=links,
            concurrency=settings.webhook_concurrency,
            per_host=settings.webhook_per_host,
            private_targets=settings.webhook_private_targets,
            clock=clock,
        )
        # The messages a solve writes go out at once, not at the courier's next poll.
        solver = Solver(
            sessions,
            plans,
            locks,
            pool,
            links=links,
            alertmanager_url=settings.alertmanager_url,
            poll_s=settings.poll_s,
            pause_s=settings.solve_pause_s,
            recorded=courier.wake.set,
        )
        return cls(settings, engine, sessions, locks, commits, pool, plans, solver, courier, links)

    def start(self) -> None:
        """Start the threads this process runs (``NEGOTIATOR_SOLVER``, ``NEGOTIATOR_WEBHOOKS``)."""
        if self.settings.solver:
            self.solver.start()
            self.solver.wake.set()  # resume what a previous run left pending
        if self.settings.webhooks:
            self.courier.start()

    def stop(self) -> None:
        """Let the threads finish their round, then close the database."""
        self.courier.stop()
        self.solver.stop()
        self.engine.dispose()

    def changed(self) -> None:
        """A change was stored: the solver takes it in now, not at its next poll."""
        self.solver.wake.set()
