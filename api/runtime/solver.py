"""The solver: pending changes fold into new versions, one solve per plan at a time, several plans
side by side.

A round hands each plan that waits to a solving thread, up to the pool's size, so that a big plan
holds one slot and the others go on. A solve takes the plan's pending changes, has a worker process
apply them to a copy of the plan's negotiation (``SolvePool``), and writes the new versions, the
changes' outcome and the webhook messages that tell of them in one transaction, under the plan's
write lock. Only one process solves a plan at a time (``Locks``). After a solve, the plan's next one
waits ``pause_s``, so that the changes of a burst fold into a few versions rather than keeping a core
busy with one solve after another. A solve that runs too long is stopped and its changes refused; a
plan whose solve failed rests a while before the next try.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import utcnow
from api.links import Links
from api.models import ChangeRow, PlanRow, VersionRow
from api.runtime.background import Background
from api.runtime.locks import Locks
from api.runtime.pool import Pending, SolvePool, SolveTimedOut, fold_in
from api.runtime.states import Plans
from api.services import audit, silences, webhooks
from api.services.webhooks import Solved
from scheduler.negotiation import StepResult
from scheduler.report import step_json, version_json
from scheduler.state import negotiation_state_json, problem_json

log = logging.getLogger("negotiator.solver")


class Solver(Background):
    """Solves plans with pending changes, several at once; a solve that failed is retried after a
    rest, its changes staying pending."""

    name = "negotiator-solver"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        plans: Plans,
        locks: Locks,
        pool: SolvePool,
        *,
        links: Links,
        alertmanager_url: str | None,
        poll_s: float,
        pause_s: float,
        recorded: Callable[[], None],
    ) -> None:
        super().__init__(poll_s=poll_s, log=log)
        self.pause_s = pause_s  # after a plan's solve, its next one waits this long
        self.sessions = sessions
        self.plans = plans
        self.locks = locks
        self.pool = pool
        self.links = links
        self.alertmanager_url = alertmanager_url  # the server's, for plans that name none
        self.recorded = recorded  # called once a solve is stored (with the webhook messages it wrote)
        self._threads = ThreadPoolExecutor(pool.processes, thread_name_prefix="negotiator-solve")
        self._busy: set[str] = set()  # plans handed to a solving thread
        # Plans solved lately -> when their next solve may start (monotonic): ``pause_s`` after a
        # solve, the pool's timeout after one that failed.
        self._not_before: dict[str, float] = {}
        self._guard = threading.Lock()

    def round(self) -> None:
        """Hand the plans that wait to solving threads, as many as the pool has slots for."""
        for plan_id in self.waiting():
            with self._guard:
                if plan_id in self._busy or self._not_before.get(plan_id, 0.0) > time.monotonic():
                    continue
                if len(self._busy) >= self.pool.processes:
                    return
                self._busy.add(plan_id)
            self._threads.submit(self._solve_in_turn, plan_id)

    def next_round_in(self) -> float:
        """Until the next round: the poll, or sooner when a plan's pause between solves ends."""
        now = time.monotonic()
        with self._guard:
            for plan_id, due in list(self._not_before.items()):
                if due <= now:
                    del self._not_before[plan_id]
            return min([self.poll_s, *(due - now for due in self._not_before.values())])

    def _solve_in_turn(self, plan_id: str) -> None:
        pause = self.pool.timeout_s
        try:
            self.solve(plan_id)
            pause = self.pause_s
        except Exception:
            log.exception("solving plan %s failed; it rests %g s before the next try", plan_id, pause)
        finally:
            with self._guard:
                self._not_before[plan_id] = time.monotonic() + pause
                self._busy.discard(plan_id)
            self.wake.set()  # changes that came in meanwhile, and plans that waited for the slot

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the round and the solves under way, and stop."""
        super().stop(timeout_s)
        self._threads.shutdown(wait=True)

    def waiting(self) -> list[str]:
        """Plans with no version yet, then plans with pending changes, the longest waiting first."""
        with self.sessions() as session:
            unsolved = session.scalars(
                select(PlanRow.id)
                .where(~select(VersionRow.number).where(VersionRow.plan_id == PlanRow.id).exists())
                .order_by(PlanRow.created_at)
            ).all()
            pending = session.scalars(
                select(ChangeRow.plan_id)
                .where(ChangeRow.pending)
                .group_by(ChangeRow.plan_id)
                .order_by(func.min(ChangeRow.seq))
            ).all()
        return list(dict.fromkeys([*unsolved, *pending]))

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
            clock = self.plans.clock_of(session, plan_id)
        groups = list(_batches(pending))
        # Solve on a copy: requests keep checking new changes against the state meanwhile.
        with state.lock:
            negotiation = state.negotiation.trial()
        results: list[list[StepResult]] = []
        bodies: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        try:
            if groups or negotiation.current.version not in stored:
                sent = [[Pending.of(change) for change in group] for group in groups]
                folded = fold_in(self.pool, negotiation, sent, stored=stored, clock=clock)
                negotiation, results, bodies = folded.negotiation, folded.results, folded.bodies
        except SolveTimedOut as error:
            # The plan stays as it was: its changes are refused, so that the next ones can be solved.
            log.error("plan %s: %s; its %d pending changes are refused", plan_id, error, len(pending))
            reason = f"{error}; the plan is unchanged"
            results = [[StepResult(c.seq, c.action, c.by, accepted=False, reason=reason) for c in g] for g in groups]
        outcomes: list[tuple[int, list[ChangeRow], list[StepResult]]] = []
        for group, group_results in zip(groups, results, strict=True):
            last_batch += 1
            outcomes.append((last_batch, group, group_results))
        solved = list(zip(negotiation.versions, negotiation.problems, strict=True))
        # Each new version with the one before it, for what changed.
        fresh = [
            (solved[index - 1] if index else None, after)
            for index, after in enumerate(solved)
            if after[0].version not in stored
        ]
        if not pending and not fresh:
            return  # another round solved it meanwhile: nothing to write
        seq = max([state.seq] + [change.seq for change in pending])
        with self.sessions() as session, self.locks.writing(session, plan_id):
            self._record(session, plan_id, outcomes, fresh, bodies)
            if fresh or any(result.accepted for _, _, results in outcomes for result in results):
                silences.plan_silences(
                    session, self.links, plan_id=plan_id, negotiation=negotiation, default_url=self.alertmanager_url
                )
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
        bodies: dict[int, tuple[dict[str, Any], dict[str, Any]]],
    ) -> None:
        """Write what a solve decided: each change's outcome, the new versions, approvals, and the
        webhook messages that tell of them (in the same transaction: none lost, none twice)."""
        included: dict[int, list[int]] = {}
        approved: set[int] = set()
        decided: list[dict[str, Any]] = []
        for batch, group, results in outcomes:
            for change, result in zip(group, results, strict=True):
                decided.append(
                    {
                        "id": change.id,
                        "pending": False,
                        "batch": batch,
                        "accepted": result.accepted,
                        "reason": result.reason,
                        "version": result.version,
                        "result": step_json(result),
                    }
                )
                if result.action == "approve" and result.accepted and result.version is not None:
                    approved.add(result.version)
                elif result.version is not None:
                    included.setdefault(result.version, []).append(change.id)
        if decided:  # one statement for all of them, by primary key
            session.execute(update(ChangeRow), decided)
        for _, (version, problem) in fresh:
            body, problem_body = bodies.get(version.version) or (
                version_json(version, problem, clock=self.plans.clock_of(session, plan_id)),
                problem_json(problem),
            )
            body["changes"] = included.get(version.version, [])
            session.add(VersionRow(plan_id=plan_id, number=version.version, body=body, problem=problem_body))
        session.flush()
        webhooks.enqueue_versions(session, self.links, plan_id=plan_id, solved=fresh)
        for number in sorted(approved):
            stored = session.get(VersionRow, (plan_id, number))
            if stored is not None and not stored.body.get("approved"):
                stored.body = {**stored.body, "approved": True}
                webhooks.enqueue_approval(session, self.links, plan_id=plan_id, number=number)


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
