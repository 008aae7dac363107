"""Each plan's negotiation in this process, read from what is stored.

The database is the only truth: every accepted change is a row before its reply is sent, and every
solve stores its versions with the state the next solve starts from. A process keeps each plan's
negotiation in memory and catches up from the database when another process moved the plan on,
restoring it from the newest stored version without solving.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.db import Clock
from api.models import ChangeRow, PlanClock, PlanRow, VersionRow
from api.runtime.pool import Pending, SolvePool, fold_in
from api.services.webhooks import Solved
from scheduler.errors import ScenarioError
from scheduler.negotiation import Negotiation, Replay
from scheduler.scenario import Scenario, load_data, load_step
from scheduler.state import load_negotiation_state, load_problem, load_version


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

    def __init__(self, sessions: sessionmaker[Session], pool: SolvePool, *, time_limit_s: float, clock: Clock) -> None:
        self.sessions = sessions
        self.pool = pool  # where the first version, and a history without stored states, are solved
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
        live = self.live(session, plan_id)
        while True:
            with state.lock:
                since = self._ahead(state)
            # Read without the lock, so that checks of the same plan do not queue behind each other's reads.
            later = session.execute(
                select(ChangeRow.seq, ChangeRow.step, ChangeRow.received_at)
                .where(ChangeRow.plan_id == plan_id, ChangeRow.seq > since)
                .order_by(ChangeRow.seq)
            ).all()
            with state.lock:
                if self._ahead(state) < since:
                    continue  # a solve came in meanwhile, from before what was read: read again
                ahead = state.ahead
                assert ahead is not None
                for seq, step, received_at in later:
                    if seq <= state.ahead_seq:
                        continue  # another check took it in meanwhile
                    if live:
                        ahead.advance(received_at)
                    with suppress(ScenarioError):
                        ahead.take(load_step(step, index=seq, problem=ahead.problem))
                    state.ahead_seq = seq
                return ahead.trial()

    @staticmethod
    def _ahead(state: PlanState) -> int:
        """The last change the plan's check copy took in, the copy made again from the newest solve
        if it is older. The caller holds the state's lock."""
        if state.ahead is None or state.ahead_of is not state.negotiation:
            state.ahead, state.ahead_seq, state.ahead_of = state.negotiation.trial(), state.seq, state.negotiation
        return state.ahead_seq

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
            negotiation = self.pool.run(
                Negotiation.open,
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
            batches = sorted({change.batch for change in applied if change.batch is not None})
            if batches:
                groups = [[Pending.of(change) for change in applied if change.batch == batch] for batch in batches]
                stored = set(session.scalars(select(VersionRow.number).where(VersionRow.plan_id == plan_id)))
                clock = self.clock_of(session, plan_id)
                state.negotiation = fold_in(
                    self.pool, state.negotiation, groups, stored=stored, clock=clock
                ).negotiation
                state.batch = batches[-1]
                state.seq = max([state.seq] + [change.seq for change in applied])
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
