"""Background solving: pending changes fold into new versions, one solve per plan at a time.

The database is the only truth: every accepted change is a row before its reply is sent, and a
solve takes the plan's pending changes, applies them to the plan's negotiation and writes the new
version and the changes' outcome in one transaction. A process keeps each plan's negotiation in
memory and catches up from the database when another process moved the plan on. Across processes,
a PostgreSQL advisory lock makes sure only one of them solves a plan at a time; SQLite serves one
process, where a lock per plan does the same.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api import audit, webhooks
from api.background import Background
from api.db import utcnow
from api.models import ChangeRow, PlanRow, VersionRow
from api.webhooks import Clock, Solved
from scheduler.errors import ScenarioError
from scheduler.negotiation import Negotiation, Replay, StepResult
from scheduler.report import step_json, version_json
from scheduler.scenario import Scenario, load_data, load_step
from scheduler.state import load_negotiation_state, load_problem, load_version, negotiation_state_json, problem_json

log = logging.getLogger("negotiator.solver")

PlanClock = Literal["live", "scenario"]


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


@dataclass
class PlanState:
    """A plan's negotiation in memory, as of its ``batch``-th solve and its change ``seq``."""

    negotiation: Negotiation
    batch: int = 0
    seq: int = -1  # the last change taken in
    lock: threading.RLock = field(default_factory=threading.RLock)
    # ``negotiation`` with every later change taken in, unsolved: what new changes are checked against.
    ahead: Negotiation | None = None
    ahead_seq: int = -1
    ahead_of: Negotiation | None = None


class Plans:
    """Every plan's negotiation in this process, brought up to date from the database on demand."""

    def __init__(self, sessions: sessionmaker[Session], *, time_limit_s: float, clock: Clock) -> None:
        self.sessions = sessions
        self.time_limit_s = time_limit_s
        self.clock = clock
        self._states: dict[str, PlanState] = {}
        self._scenarios: dict[str, Scenario] = {}
        self._live: dict[str, bool] = {}
        self._guard = threading.Lock()

    def now(self) -> datetime:
        """The server's time, to the second: when a change to a live plan is taken."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def live(self, session: Session, plan_id: str) -> bool:
        """Whether the plan runs on the server's clock (else it is a rehearsal on the scenario's)."""
        live = self._live.get(plan_id)
        if live is None:
            plan = session.get(PlanRow, plan_id)
            assert plan is not None
            live = self._live[plan_id] = plan.clock == "live"
        return live

    def scenario(self, session: Session, plan_id: str) -> Scenario:
        """The scenario the plan was created from (parsed once per process)."""
        scenario = self._scenarios.get(plan_id)
        if scenario is None:
            plan = session.get(PlanRow, plan_id)
            assert plan is not None
            scenario = load_data(plan.scenario)
            self._scenarios[plan_id] = scenario
        return scenario

    def checker(self, session: Session, plan_id: str) -> Negotiation:
        """A copy of the plan's negotiation with every stored change taken in (unsolved), to check a
        new change against. Kept between calls and brought forward with the changes since."""
        with self._guard:
            state = self._states.get(plan_id)
        if state is None:
            state = self.state(session, plan_id)
        with state.lock:
            if state.ahead is None or state.ahead_of is not state.negotiation:
                state.ahead, state.ahead_seq, state.ahead_of = state.negotiation.trial(), state.seq, state.negotiation
            ahead = state.ahead
            later = session.scalars(
                select(ChangeRow)
                .where(ChangeRow.plan_id == plan_id, ChangeRow.seq > state.ahead_seq)
                .order_by(ChangeRow.seq)
            ).all()
            live = self.live(session, plan_id)
            for change in later:
                if live:
                    ahead.advance(change.received_at)
                with suppress(ScenarioError):
                    ahead.take(load_step(change.step, index=change.seq, problem=ahead.problem))
                state.ahead_seq = change.seq
            return ahead.trial()

    def state(self, session: Session, plan_id: str) -> PlanState:
        """The plan's negotiation as the database last recorded it.

        Restored from the newest stored version's state, without solving; solved again from the
        history only for a plan's first version and for versions stored before states were.
        """
        with self._guard:
            state = self._states.get(plan_id)
        recorded = session.scalar(select(func.max(ChangeRow.batch)).where(ChangeRow.plan_id == plan_id)) or 0
        if state is not None and state.batch >= recorded:
            return state
        restored = self._restored(session, plan_id)
        if restored is not None:
            if state is None:
                with self._guard:
                    state = self._states.setdefault(plan_id, restored)
            with state.lock:
                if state.batch < restored.batch:
                    state.negotiation, state.batch, state.seq = restored.negotiation, restored.batch, restored.seq
            return state
        if state is None:
            negotiation = Negotiation.open(
                self.scenario(session, plan_id).problem,
                time_limit_s=self.time_limit_s,
                live=self.live(session, plan_id),
            )
            state = PlanState(negotiation)
            with self._guard:
                state = self._states.setdefault(plan_id, state)
        with state.lock:
            applied = session.scalars(
                select(ChangeRow)
                .where(ChangeRow.plan_id == plan_id, ChangeRow.batch > state.batch)
                .order_by(ChangeRow.batch, ChangeRow.seq)
            ).all()
            for batch in sorted({change.batch for change in applied if change.batch is not None}):
                take_in(state.negotiation, [change for change in applied if change.batch == batch])
                state.batch = batch
                state.seq = max([state.seq] + [change.seq for change in applied if change.batch == batch])
        return state

    def _restored(self, session: Session, plan_id: str) -> PlanState | None:
        """The plan's state from its stored versions, or None if they do not hold it."""
        rows = session.scalars(
            select(VersionRow).where(VersionRow.plan_id == plan_id).order_by(VersionRow.number)
        ).all()
        if not rows or rows[-1].state is None or any(row.problem is None for row in rows):
            return None
        stored = rows[-1].state
        negotiation = Negotiation.restore(
            [load_version(row.body) for row in rows],
            [load_problem(row.problem) for row in rows if row.problem is not None],
            load_negotiation_state(stored["negotiation"]),
            time_limit_s=self.time_limit_s,
            live=self.live(session, plan_id),
        )
        return PlanState(negotiation, batch=stored["batch"], seq=stored["seq"])

    def history(self, session: Session, plan_id: str) -> Replay | None:
        """Every stored version of the plan with the problem it solved; None before the first."""
        if session.scalar(select(func.max(VersionRow.number)).where(VersionRow.plan_id == plan_id)) is None:
            return None
        state = self.state(session, plan_id)
        with state.lock:
            return state.negotiation.history()

    def latest(self, session: Session, plan_id: str) -> Solved | None:
        """The newest stored version of the plan and the problem it solved."""
        history = self.history(session, plan_id)
        return (history.final, history.problem) if history is not None else None

    def clock_of(self, session: Session, plan_id: str) -> PlanClock:
        """The plan's clock as its versions' JSON names it."""
        return "live" if self.live(session, plan_id) else "scenario"

    def forget(self, plan_id: str) -> None:
        """Drop the plan's state: the next use rebuilds it from the database."""
        with self._guard:
            self._states.pop(plan_id, None)


def take_in(negotiation: Negotiation, changes: list[ChangeRow]) -> list[StepResult]:
    """Apply one solve's changes to the negotiation; a new version if any of them changed the plan.

    A live plan takes each change at the server's time it was received: that is the version's ``now``.
    """
    results: list[StepResult] = []
    changed: list[int] = []
    for change in changes:
        if negotiation.live:
            negotiation.advance(change.received_at)
        try:
            step = load_step(change.step, index=change.seq, problem=negotiation.problem)
        except ScenarioError as error:
            results.append(StepResult(change.seq, change.action, change.by, accepted=False, reason=str(error)))
            continue
        result, is_change = negotiation.take(step)
        results.append(result)
        if is_change:
            changed.append(len(results) - 1)
    if changed:
        version = negotiation.publish()
        for position in changed:
            results[position] = replace(results[position], version=version.version)
    return results


class Solver(Background):
    """Solves plans with pending changes in a background thread of the server process; a solve
    that failed is retried, its changes staying pending."""

    name = "negotiator-solver"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        plans: Plans,
        locks: Locks,
        *,
        poll_s: float,
        recorded: Callable[[], None],
    ) -> None:
        super().__init__(poll_s=poll_s, log=log)
        self.sessions = sessions
        self.plans = plans
        self.locks = locks
        self.recorded = recorded  # called once a solve is stored (with the webhook messages it wrote)

    def round(self) -> None:
        self.solve_waiting()

    def waiting(self) -> list[str]:
        """Plans with pending changes or no version yet."""
        with self.sessions() as session:
            pending = set(session.scalars(select(ChangeRow.plan_id).where(ChangeRow.pending).distinct()))
            unsolved = set(
                session.scalars(
                    select(PlanRow.id).where(
                        ~select(VersionRow.number).where(VersionRow.plan_id == PlanRow.id).exists()
                    )
                )
            )
        return sorted(pending | unsolved)

    def solve_waiting(self) -> None:
        for plan_id in self.waiting():
            self.solve(plan_id)

    def solve(self, plan_id: str) -> bool:
        """Fold the plan's pending changes into a version, unless another solver has the plan."""
        with self.locks.solving(plan_id) as mine:
            if not mine:
                return False
            try:
                self._solve(plan_id)
            except Exception:
                self.plans.forget(plan_id)
                raise
        return True

    def _solve(self, plan_id: str) -> None:
        started = utcnow()
        with self.sessions() as session:
            state = self.plans.state(session, plan_id)
            pending = session.scalars(
                select(ChangeRow).where(ChangeRow.plan_id == plan_id, ChangeRow.pending).order_by(ChangeRow.seq)
            ).all()
            stored = set(session.scalars(select(VersionRow.number).where(VersionRow.plan_id == plan_id)))
            last_batch = session.scalar(select(func.max(ChangeRow.batch)).where(ChangeRow.plan_id == plan_id)) or 0
        # Solve on a copy: requests keep checking new changes against the state meanwhile.
        with state.lock:
            negotiation = state.negotiation.trial()
        outcomes: list[tuple[int, list[ChangeRow], list[StepResult]]] = []
        for group in _batches(pending):
            last_batch += 1
            outcomes.append((last_batch, group, take_in(negotiation, group)))
        solved = list(zip(negotiation.versions, negotiation.problems, strict=True))
        # Each new version with the one before it, for what changed.
        fresh = [
            (solved[index - 1] if index else None, after)
            for index, after in enumerate(solved)
            if after[0].version not in stored
        ]
        seq = max([state.seq] + [change.seq for change in pending])
        with self.sessions() as session, self.locks.writing(session, plan_id):
            self._record(session, plan_id, outcomes, fresh)
            # Where the next solve, and every read, starts: the newest version holds it.
            newest = session.get(VersionRow, (plan_id, negotiation.current.version))
            assert newest is not None
            newest.state = {
                "negotiation": negotiation_state_json(negotiation.state()),
                "batch": last_batch,
                "seq": seq,
            }
            audit.append(
                session,
                plan_id=plan_id,
                actor="solver",
                action="solve",
                detail={
                    "versions": [version.version for _, (version, _) in fresh],
                    "changes": [change.id for _, group, _ in outcomes for change in group],
                    "process": os.getpid(),
                    "started": started.isoformat(),
                    "finished": utcnow().isoformat(),
                },
            )
        with state.lock:
            state.negotiation = negotiation
            state.batch = last_batch
            state.seq = seq
        self.recorded()

    def _record(
        self,
        session: Session,
        plan_id: str,
        outcomes: list[tuple[int, list[ChangeRow], list[StepResult]]],
        fresh: list[tuple[Solved | None, Solved]],
    ) -> None:
        """Write what a solve decided: each change's outcome, the new versions, approvals, and the
        webhook messages that tell of them (in the same transaction: none lost, none twice)."""
        included: dict[int, list[int]] = {}
        approved: set[int] = set()
        for batch, group, results in outcomes:
            for change, result in zip(group, results, strict=True):
                row = session.merge(change)
                row.pending = False
                row.batch = batch
                row.accepted = result.accepted
                row.reason = result.reason
                row.version = result.version
                row.result = step_json(result)
                if result.action == "approve" and result.accepted and result.version is not None:
                    approved.add(result.version)
                elif result.version is not None:
                    included.setdefault(result.version, []).append(change.id)
        for _, (version, problem) in fresh:
            body = version_json(version, problem, explain=False, clock=self.plans.clock_of(session, plan_id))
            body["changes"] = included.get(version.version, [])
            session.add(VersionRow(plan_id=plan_id, number=version.version, body=body, problem=problem_json(problem)))
        session.flush()
        webhooks.enqueue_versions(session, plan_id=plan_id, solved=fresh)
        for number in sorted(approved):
            stored = session.get(VersionRow, (plan_id, number))
            if stored is not None and not stored.body.get("approved"):
                stored.body = {**stored.body, "approved": True}
                webhooks.enqueue_approval(session, plan_id=plan_id, number=number)


def _batches(pending: Sequence[ChangeRow]) -> Iterator[list[ChangeRow]]:
    """Pending changes in order, folded together, except a scenario's steps, each on its own."""
    group: list[ChangeRow] = []
    for change in pending:
        if change.alone:
            if group:
                yield group
                group = []
            yield [change]
        else:
            group.append(change)
    if group:
        yield group
