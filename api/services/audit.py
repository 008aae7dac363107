"""The audit log: append-only, each entry carrying the hash of the one before it in its plan.

Rewriting an entry changes its hash, which breaks the link from the next one; ``verify`` finds it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import unit_of_work, utcnow
from api.models import AuditRow
from api.services import plans
from scheduler.timeline import format_utc

GENESIS = "0" * 64


def entry_hash(
    previous_hash: str, *, plan_id: str, seq: int, at: datetime, actor: str, action: str, detail: Any
) -> str:
    """The hash of an entry: its content and its predecessor's hash."""
    moment = at.astimezone(UTC)
    content = json.dumps(
        {"plan": plan_id, "seq": seq, "at": moment.isoformat(), "actor": actor, "action": action, "detail": detail},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(f"{previous_hash}{content}".encode()).hexdigest()


def append(session: Session, *, plan_id: str, actor: str, action: str, detail: dict[str, Any]) -> AuditRow:
    """Add an entry at the end of the plan's chain; the caller holds the plan's write lock."""
    last = session.scalars(
        select(AuditRow).where(AuditRow.plan_id == plan_id).order_by(AuditRow.seq.desc()).limit(1)
    ).first()
    seq = last.seq + 1 if last is not None else 0
    previous = last.hash if last is not None else GENESIS
    at = utcnow().replace(microsecond=0)
    entry = AuditRow(
        plan_id=plan_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        detail=detail,
        previous_hash=previous,
        hash=entry_hash(previous, plan_id=plan_id, seq=seq, at=at, actor=actor, action=action, detail=detail),
    )
    session.add(entry)
    return entry


def verify(session: Session, *, plan_id: str | None = None) -> list[str]:
    """Every break in the chains (of one plan, or of all): an empty list means the log is intact."""
    query = select(AuditRow).order_by(AuditRow.plan_id, AuditRow.seq)
    if plan_id is not None:
        query = query.where(AuditRow.plan_id == plan_id)
    problems: list[str] = []
    previous: dict[str, AuditRow] = {}
    for entry in session.scalars(query):
        before = previous.get(entry.plan_id)
        expected_seq = before.seq + 1 if before is not None else 0
        expected_previous = before.hash if before is not None else GENESIS
        where = f"plan {entry.plan_id} entry {entry.seq}"
        if entry.seq != expected_seq:
            problems.append(f"{where}: expected entry {expected_seq} here; entries are missing")
        if entry.previous_hash != expected_previous:
            problems.append(f"{where}: does not link to the entry before it")
        recomputed = entry_hash(
            entry.previous_hash,
            plan_id=entry.plan_id,
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            detail=entry.detail,
        )
        if recomputed != entry.hash:
            problems.append(f"{where}: its content was changed after it was written")
        previous[entry.plan_id] = entry
    return problems


def list_audit(session: Session, *, plan_id: str) -> list[dict[str, Any]]:
    plans.get_plan_or_raise(session, plan_id=plan_id)
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


@unit_of_work
def log_json(session: Session, *, plan_id: str) -> dict[str, Any]:
    """The plan's log, oldest first, and whether every link of its chain checks out."""
    return {"entries": list_audit(session, plan_id=plan_id), "intact": not verify(session, plan_id=plan_id)}
