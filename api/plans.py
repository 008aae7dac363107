"""What the routes do, without HTTP: plans, tokens, changes, versions and the audit log.

Keyword-only functions with one verb set (``create``, ``get_or_raise``, ``list``, ``record``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api import audit
from api.errors import Conflict, Forbidden, NotFound, Unauthorized
from api.models import AuditRow, ChangeRow, IdempotentReplyRow, PlanRow, TokenRow, VersionRow
from api.solving import Locks, PlanClock, Plans
from scheduler.authority import may
from scheduler.domain import Problem
from scheduler.errors import ScenarioError, StepRejected
from scheduler.negotiation import StepResult, WindowStarted
from scheduler.report import step_json
from scheduler.scenario import load_data, load_step
from scheduler.timeline import format_utc


def token_hash(token: str) -> str:
    """Tokens are long random secrets: a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_plan(session: Session, locks: Locks, *, body: dict[str, Any], clock: PlanClock, now: datetime) -> str:
    """A new plan from a scenario body; its ``negotiation`` steps become its first changes.

    A live plan starts at ``now`` (the server's time): the body's ``now`` and its steps' ``at`` are
    dropped, and its steps are taken at ``now``, in order. A rehearsal keeps the scenario's clock.
    """
    if clock == "live":
        steps = [{key: value for key, value in step.items() if key != "at"} for step in body.get("negotiation") or []]
        body = {**body, "now": format_utc(now), "negotiation": steps}
    scenario = load_data(body)
    plan_id = f"{scenario.name}-{uuid.uuid4().hex[:8]}"
    session.add(PlanRow(id=plan_id, name=scenario.name, scenario=body, clock=clock, created_at=now))
    session.flush()
    with locks.writing(session, plan_id):
        detail = {"name": scenario.name, "clock": clock}
        audit.append(session, plan_id=plan_id, actor="admin", action="create_plan", detail=detail)
        for index, step in enumerate(body.get("negotiation") or []):
            session.add(
                ChangeRow(
                    plan_id=plan_id,
                    seq=index,
                    by=step["by"],
                    action=step["action"],
                    step=step,
                    alone=True,
                    received_at=now,
                )
            )
    return plan_id


def list_plans(session: Session) -> list[dict[str, Any]]:
    """Every plan, oldest first, with its clock and newest version."""
    newest = select(VersionRow.plan_id, func.max(VersionRow.number)).group_by(VersionRow.plan_id)
    latest = {plan_id: number for plan_id, number in session.execute(newest)}
    return [
        {
            "id": plan.id,
            "name": plan.name,
            "clock": plan.clock,
            "created_at": format_utc(plan.created_at),
            "latest_version": latest.get(plan.id),
        }
        for plan in session.scalars(select(PlanRow).order_by(PlanRow.created_at, PlanRow.id))
    ]


def plan_json(session: Session, plans: Plans, *, plan_id: str) -> dict[str, Any]:
    """One plan for the admin: its clock, newest version, pending changes and each stakeholder's live tokens."""
    plan = get_plan_or_raise(session, plan_id=plan_id)
    counted = (
        select(TokenRow.stakeholder, func.count()).where(TokenRow.plan_id == plan_id).group_by(TokenRow.stakeholder)
    )
    tokens = {stakeholder: count for stakeholder, count in session.execute(counted)}
    latest = session.scalar(select(func.max(VersionRow.number)).where(VersionRow.plan_id == plan_id))
    pending = session.scalar(select(func.count()).where(ChangeRow.plan_id == plan_id, ChangeRow.pending))
    return {
        "id": plan.id,
        "name": plan.name,
        "clock": plan.clock,
        "created_at": format_utc(plan.created_at),
        "latest_version": latest,
        "pending_changes": pending or 0,
        "stakeholders": [
            {"id": s.id, "name": s.name, "role": s.role, "tokens": tokens.get(s.id, 0)}
            for s in plans.scenario(session, plan_id).problem.stakeholders
        ],
    }


def revoke_tokens(session: Session, plans: Plans, locks: Locks, *, plan_id: str, stakeholder: str) -> int:
    """Revoke every token of a stakeholder of the plan: they answer 401 from now on. How many there were."""
    get_plan_or_raise(session, plan_id=plan_id)
    if stakeholder not in plans.scenario(session, plan_id).problem.stakeholder_by_id:
        raise NotFound(f"no stakeholder {stakeholder!r} in plan {plan_id!r}")
    with locks.writing(session, plan_id):
        rows = session.scalars(
            select(TokenRow).where(TokenRow.plan_id == plan_id, TokenRow.stakeholder == stakeholder)
        ).all()
        for row in rows:
            session.delete(row)
        detail = {"stakeholder": stakeholder, "revoked": len(rows)}
        audit.append(session, plan_id=plan_id, actor="admin", action="revoke_tokens", detail=detail)
    return len(rows)


def get_plan_or_raise(session: Session, *, plan_id: str) -> PlanRow:
    plan = session.get(PlanRow, plan_id)
    if plan is None:
        raise NotFound(f"no plan {plan_id!r}")
    return plan


def create_token(session: Session, plans: Plans, locks: Locks, *, plan_id: str, stakeholder: str) -> str:
    """A new token for a stakeholder of the plan, returned once; only its hash is kept."""
    get_plan_or_raise(session, plan_id=plan_id)
    if stakeholder not in plans.scenario(session, plan_id).problem.stakeholder_by_id:
        raise NotFound(f"no stakeholder {stakeholder!r} in plan {plan_id!r}")
    token = secrets.token_urlsafe(32)
    session.add(TokenRow(plan_id=plan_id, stakeholder=stakeholder, token_hash=token_hash(token)))
    with locks.writing(session, plan_id):
        audit.append(
            session, plan_id=plan_id, actor="admin", action="create_token", detail={"stakeholder": stakeholder}
        )
    return token


def token_exists(session: Session, *, token: str) -> bool:
    """Whether any plan issued this token."""
    return session.scalars(select(TokenRow.id).where(TokenRow.token_hash == token_hash(token))).first() is not None


def authenticate(session: Session, *, plan_id: str, token: str | None) -> str:
    """The stakeholder a token belongs to, for this plan only."""
    if not token:
        raise Unauthorized("send Authorization: Bearer TOKEN")
    row = session.scalars(select(TokenRow).where(TokenRow.token_hash == token_hash(token))).first()
    if row is None or row.plan_id != plan_id:
        raise Unauthorized("this token is not valid for this plan")
    return row.stakeholder


def record_change(
    session: Session,
    plans: Plans,
    locks: Locks,
    *,
    plan_id: str,
    by: str,
    step: dict[str, Any],
    idempotency: tuple[str, str] | None = None,
) -> ChangeRow:
    """Check a change against the author's authority and store it (committed); the solver takes it
    from there. With ``idempotency`` (token hash, key), the 202 answer is stored with it.

    Raises ScenarioError (bad body), Forbidden (no authority) or Conflict (a started window).
    """
    now = plans.now()
    step, _ = check_change(session, plans, plan_id=plan_id, by=by, step=step, now=now)
    with locks.writing(session, plan_id):
        last = session.scalar(select(func.max(ChangeRow.seq)).where(ChangeRow.plan_id == plan_id))
        seq = 0 if last is None else last + 1
        change = ChangeRow(plan_id=plan_id, seq=seq, by=by, action=step["action"], step=step, received_at=now)
        session.add(change)
        session.flush()
        audit.append(
            session, plan_id=plan_id, actor=by, action=step["action"], detail={"change": change.id, "step": step}
        )
        if idempotency is not None:
            body = accepted(plan_id, change.id)
            session.add(IdempotentReplyRow(token_hash=idempotency[0], key=idempotency[1], status=202, body=body))
    return change


def counter(session: Session, plans: Plans, *, plan_id: str, by: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a counter-proposal would do now: its impact against the current window, allowed or what
    forbids it. Checked like a change, answered at once, stored nowhere: it changes nothing."""
    _, result = check_change(
        session, plans, plan_id=plan_id, by=by, step={"action": "counter", **body}, now=plans.now()
    )
    return {"request": body["request"], **step_json(result)["counter"]}


def check_change(
    session: Session, plans: Plans, *, plan_id: str, by: str, step: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], StepResult]:
    """A change checked against its author's authority and the plan's clock, as the solver will take
    it: the step as it is stored, and what it would give now (a counter's result)."""
    plan = get_plan_or_raise(session, plan_id=plan_id)
    step = {key: value for key, value in step.items() if value is not None}
    step["by"] = by
    # Checked against every change stored so far; the solver checks again when it takes it in.
    trial = plans.checker(session, plan_id)
    if "at" in step:
        check_clock(trial.problem, clock=plan.clock, by=by)
    parsed = load_step(step, index=0, problem=trial.problem)
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


def get_version_or_raise(session: Session, *, plan_id: str, number: int | None) -> VersionRow:
    """Version ``number``, or the newest finished one."""
    get_plan_or_raise(session, plan_id=plan_id)
    query = select(VersionRow).where(VersionRow.plan_id == plan_id)
    query = query.where(VersionRow.number == number) if number is not None else query.order_by(VersionRow.number.desc())
    version = session.scalars(query.limit(1)).first()
    if version is None:
        raise NotFound("no such version yet" if number is not None else "the first version is still being solved")
    return version


def list_versions(session: Session, *, plan_id: str) -> list[dict[str, Any]]:
    get_plan_or_raise(session, plan_id=plan_id)
    rows = session.scalars(select(VersionRow).where(VersionRow.plan_id == plan_id).order_by(VersionRow.number))
    return [
        {
            "version": row.body["version"],
            "status": row.body["status"],
            "objective": row.body["objective"],
            "approved": row.body["approved"],
            "moved": row.body["moved"],
            "added": row.body.get("added", []),
            "removed": row.body.get("removed", []),
            "changes": row.body.get("changes", []),
        }
        for row in rows
    ]


def approve_check(session: Session, *, plan_id: str, number: int) -> None:
    """Approving version ``number`` is a conflict unless it is the newest version."""
    latest = get_version_or_raise(session, plan_id=plan_id, number=None)
    if latest.number != number:
        raise Conflict(f"version {number} is not the latest: version {latest.number} is")


def list_audit(session: Session, *, plan_id: str) -> list[dict[str, Any]]:
    get_plan_or_raise(session, plan_id=plan_id)
    rows = session.scalars(select(AuditRow).where(AuditRow.plan_id == plan_id).order_by(AuditRow.seq))
    return [
        {
            "seq": row.seq,
            "at": format_utc(row.at),
            "actor": row.actor,
            "action": row.action,
            "detail": row.detail,
            "previous_hash": row.previous_hash,
            "hash": row.hash,
        }
        for row in rows
    ]
