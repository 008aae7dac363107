"""Changes: a stakeholder's objection, event, request, withdrawal, approval, pin or override,
checked against their authority and stored at once; the solver folds it into a version after.

A change is a row, committed under the plan's write lock, before its ``202`` is answered; a retry
with the same ``Idempotency-Key`` gets the first answer again. A counter is checked the same way,
answered at once and stored nowhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db import unit_of_work
from api.errors import Conflict, Forbidden, NotFound, Unprocessable
from api.models import ChangeRow, IdempotentReplyRow
from api.services import audit
from api.services.plans import check_size, get_plan_or_raise
from api.services.tokens import token_hash
from api.services.versions import approve_check
from scheduler.authority import may
from scheduler.domain import Problem
from scheduler.errors import ScenarioError, StepRejected
from scheduler.negotiation import StepResult, WindowStarted
from scheduler.report import step_json
from scheduler.scenario import load_step
from scheduler.timeline import format_utc

if TYPE_CHECKING:
    from api.runtime import Runtime

Reply = tuple[int, dict[str, Any]]  # an HTTP status and the JSON body answered with it


@unit_of_work
def send(
    session: Session,
    runtime: Runtime,
    *,
    plan_id: str,
    by: str,
    step: dict[str, Any],
    token: str | None,
    key: str | None,
) -> Reply:
    """Store a change (once per Idempotency-Key) and wake the solver: ``202`` with where to follow it.
    A retry with the key answers what the first one did; the key sent with another request is 422."""
    sent = fingerprint(plan_id, step)
    first = replayed(session, token, key, sent)
    if first is not None:
        return first
    idempotency = (token_hash(token), key, sent) if key is not None and token is not None else None
    try:
        change_id = record_change(session, runtime, plan_id=plan_id, by=by, step=step, idempotency=idempotency)
    except IntegrityError:  # the same key, sent again while the first was being stored
        session.rollback()
        first = replayed(session, token, key, sent)
        if first is None:
            raise
        return first
    runtime.changed()
    return 202, accepted(plan_id, change_id)


def fingerprint(plan_id: str, step: dict[str, Any]) -> str:
    """What a request asked, to tell a retry from another request under the same key: the plan,
    the action (which is the route) and the body."""
    return hashlib.sha256(json.dumps({"plan": plan_id, "step": step}, sort_keys=True, default=str).encode()).hexdigest()


def replayed(session: Session, token: str | None, key: str | None, sent: str) -> Reply | None:
    """The first answer to a POST retried with the same Idempotency-Key, if there was one.

    Keys belong to a token; a key sent again with another request (``sent`` differs) is refused,
    not answered with the first request's reply.
    """
    if key is None or token is None:
        return None
    stored = session.scalars(
        select(IdempotentReplyRow).where(
            IdempotentReplyRow.token_hash == token_hash(token), IdempotentReplyRow.key == key
        )
    ).first()
    if stored is None:
        return None
    if stored.request_hash is not None and stored.request_hash != sent:
        raise Unprocessable("this Idempotency-Key was sent before with another request: use a new key for this one")
    return stored.status, stored.body


@dataclass(frozen=True)
class NewChange:
    """A change checked against its author's authority, to be stored: with ``idempotency`` (token
    hash, key, fingerprint), the 202 answer is stored with it."""

    by: str
    step: dict[str, Any]
    received_at: datetime
    idempotency: tuple[str, str, str] | None = None


def record_change(
    session: Session,
    runtime: Runtime,
    *,
    plan_id: str,
    by: str,
    step: dict[str, Any],
    idempotency: tuple[str, str, str] | None = None,
) -> int:
    """Check a change against the author's authority and store it (committed): its id. The solver
    takes it from there.

    Raises ScenarioError (bad body), Forbidden (no authority) or Conflict (a started window).
    """
    now = runtime.plans.now()
    step, _ = check_change(session, runtime, plan_id=plan_id, by=by, step=step, now=now)
    session.commit()  # the check only read: no connection is held while the change waits for its transaction
    # Stored with the changes sent at the same time, in one transaction (``GroupCommit``).
    return runtime.commits.write(plan_id, NewChange(by, step, now, idempotency))


def store_changes(session: Session, plan_id: str, new: list[NewChange]) -> list[int]:
    """Store changes sent together, in order, with their audit entries and 202 answers: their ids.
    The caller holds the plan's write lock. Each kind of row goes in one insert."""
    last = session.scalar(select(func.max(ChangeRow.seq)).where(ChangeRow.plan_id == plan_id))
    first = 0 if last is None else last + 1
    rows = [
        ChangeRow(
            plan_id=plan_id,
            seq=first + index,
            by=change.by,
            action=change.step["action"],
            step=change.step,
            received_at=change.received_at,
        )
        for index, change in enumerate(new)
    ]
    session.add_all(rows)
    session.flush()  # the ids, for the audit entries and the answers
    logged = [
        (change.by, change.step["action"], {"change": row.id, "step": change.step})
        for change, row in zip(new, rows, strict=True)
    ]
    audit.append_all(session, plan_id=plan_id, entries=logged)
    for change, row in zip(new, rows, strict=True):
        if change.idempotency is not None:
            token, key, sent = change.idempotency
            body = accepted(plan_id, row.id)
            session.add(IdempotentReplyRow(token_hash=token, key=key, request_hash=sent, status=202, body=body))
    return [row.id for row in rows]


@unit_of_work
def counter(session: Session, runtime: Runtime, *, plan_id: str, by: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a counter-proposal would do now: its impact against the current window, allowed or what
    forbids it. Checked like a change, answered at once, stored nowhere: it changes nothing."""
    _, result = check_change(
        session, runtime, plan_id=plan_id, by=by, step={"action": "counter", **body}, now=runtime.plans.now()
    )
    return {"request": body["request"], **step_json(result)["counter"]}


def check_change(
    session: Session, runtime: Runtime, *, plan_id: str, by: str, step: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], StepResult]:
    """A change checked against its author's authority and the plan's clock, as the solver will take
    it: the step as it is stored, and what it would give now (a counter's result)."""
    plan = get_plan_or_raise(session, plan_id=plan_id)
    step = {key: value for key, value in step.items() if value is not None}
    step["by"] = by
    # Checked against every change stored so far; the solver checks again when it takes it in.
    trial = runtime.plans.checker(session, plan_id)
    if "at" in step:
        check_clock(trial.problem, clock=plan.clock, by=by)
    parsed = load_step(step, index=0, problem=trial.problem)
    if step["action"] == "submit":
        check_size(trial.problem, runtime.settings.max_problem_cells, more_requests=1)
    if parsed.at is not None:
        grid = trial.problem.grid
        if not grid.start <= parsed.at <= grid.end:
            horizon = f"{format_utc(grid.start)} to {format_utc(grid.end)}"
            raise ScenarioError("at", f"{format_utc(parsed.at)} lies outside the horizon ({horizon})")
        step["at"] = format_utc(parsed.at)
    if plan.clock == "live":
        trial.advance(now)
    try:
        return step, trial.check(parsed)
    except WindowStarted as started:
        raise Conflict(str(started)) from None
    except StepRejected as refusal:
        raise Forbidden(str(refusal)) from None


def check_clock(problem: Problem, *, clock: str, by: str) -> None:
    """Who may send ``at``: nobody on a live plan (422), only an approver in a rehearsal (403)."""
    if clock == "live":
        raise ScenarioError("at", "a live plan runs on the server's clock: send the change without 'at'")
    stakeholder = problem.stakeholder_by_id.get(by)
    if not may(stakeholder, "move_clock"):
        raise Forbidden("only an approver may move a rehearsal's clock with 'at'")


def accepted(plan_id: str, change_id: int) -> dict[str, Any]:
    """The 202 answer to a stored change: where to follow it."""
    return {"change": change_id, "status": "pending", "href": f"/v1/plans/{plan_id}/changes/{change_id}"}


def get_change_or_raise(session: Session, *, plan_id: str, change_id: int) -> ChangeRow:
    change = session.get(ChangeRow, change_id)
    if change is None or change.plan_id != plan_id:
        raise NotFound(f"no change {change_id} in plan {plan_id!r}")
    return change


def change_json(change: ChangeRow) -> dict[str, Any]:
    """A change and, once solved, what became of it."""
    return {
        "id": change.id,
        "index": change.seq,
        "action": change.action,
        "by": change.by,
        "received_at": format_utc(change.received_at),
        "status": "pending" if change.pending else ("accepted" if change.accepted else "refused"),
        "version": change.version,
        "reason": change.reason,
        "step": change.step,
    }


@unit_of_work
def approve(
    session: Session, runtime: Runtime, *, plan_id: str, number: int, by: str, token: str | None, key: str | None
) -> Reply:
    """Approve version ``number``: a conflict unless it is the newest (a retry answers as the first did)."""
    step = {"action": "approve", "version": number}
    first = replayed(session, token, key, fingerprint(plan_id, step))
    if first is not None:
        return first
    approve_check(session, plan_id=plan_id, number=number)
    return send(session, runtime, plan_id=plan_id, by=by, step=step, token=token, key=key)


@unit_of_work
def get(session: Session, *, plan_id: str, change_id: int) -> dict[str, Any]:
    """A change and what became of it."""
    return change_json(get_change_or_raise(session, plan_id=plan_id, change_id=change_id))
