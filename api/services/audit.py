"""The audit log: append-only, each entry carrying the keyed hash of the one before it in its plan.

Hashes are HMAC-SHA256 with the server's audit key, which is kept outside the database (the
``NEGOTIATOR_AUDIT_KEY`` setting, or a key file), so whoever can write the rows cannot forge a
chain. Each plan's head (its length and last hash, keyed too) finds entries deleted from the end,
and a whole log deleted. ``verify`` also checks the log against the changes table, both ways: every
stored change has its entry, every entry's change is stored as it was logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.db import unit_of_work, utcnow
from api.models import AuditHeadRow, AuditRow, ChangeRow, PlanRow
from api.principals import Principal, owner
from api.services import plans
from api.settings import Settings
from scheduler.timeline import format_utc

GENESIS = "0" * 64
KEY_FILE = "negotiator-audit.key"
log = logging.getLogger("negotiator.audit")


# -- the key -------------------------------------------------------------------------------------


def key_file(database_url: str) -> Path:
    """Where a server without ``NEGOTIATOR_AUDIT_KEY`` keeps its key: next to its SQLite file."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(f"{url.database}.audit-key")
    return Path(KEY_FILE)


def load_key(settings: Settings, *, create: bool) -> bytes:
    """The audit key: the setting, or the key file (made with a fresh key when ``create``)."""
    if settings.audit_key:
        return settings.audit_key.encode()
    path = key_file(settings.database_url)
    if create and not path.exists():
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server made it first
            pass
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(32) + "\n")
            log.warning("made the audit key %s: keep it, and give every server the same one", path)
    try:
        return path.read_text().strip().encode()
    except OSError as failure:
        raise LookupError(
            f"no audit key: set NEGOTIATOR_AUDIT_KEY or run where the server's key file {path} is ({failure.strerror})"
        ) from None


def _key(session: Session) -> bytes:
    key = session.info.get("audit_key")
    if not key:
        raise LookupError("this session has no audit key (make_sessions(engine, audit_key=...))")
    return bytes(key)


def _mac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def canonical(*, plan_id: str, seq: int, at: datetime, actor: str, action: str, detail: Any) -> str:
    return json.dumps(
        {
            "plan": plan_id,
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(),
            "actor": actor,
            "action": action,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )


def entry_hash(key: bytes, previous_hash: str, **content: Any) -> str:
    """The keyed hash of an entry: its content and its predecessor's hash."""
    return _mac(key, f"{previous_hash}{canonical(**content)}")


def head_mac(key: bytes, head: AuditHeadRow) -> str:
    return _mac(key, f"{head.plan_id}:{head.count}:{head.hash}")


def fields_of(entry: AuditRow) -> dict[str, Any]:
    """What an entry's hash covers, besides the hash before it."""
    return {
        "plan_id": entry.plan_id,
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "detail": entry.detail,
    }


# -- writing -------------------------------------------------------------------------------------


def append(session: Session, *, plan_id: str, actor: str, action: str, detail: dict[str, Any]) -> AuditRow:
    """Add an entry at the end of the plan's chain; the caller holds the plan's write lock."""
    return append_all(session, plan_id=plan_id, entries=[(actor, action, detail)])[0]


def append_all(session: Session, *, plan_id: str, entries: list[tuple[str, str, dict[str, Any]]]) -> list[AuditRow]:
    """Add entries (actor, action, detail), in order, at the end of the plan's chain, reading its head
    once; the caller holds the plan's write lock."""
    key = _key(session)
    # Read afresh: a session that committed before keeps its objects, and another process may
    # have appended since (the plan's lock orders the appends, the row lock is a second guard).
    head = session.get(AuditHeadRow, plan_id, populate_existing=True, with_for_update=True)
    if head is None:
        head = AuditHeadRow(plan_id=plan_id, count=0, hash=GENESIS, mac="")  # keyed below
        session.add(head)
    at = utcnow().replace(microsecond=0)
    rows = []
    for actor, action, detail in entries:
        fields = {"plan_id": plan_id, "seq": head.count, "at": at, "actor": actor, "action": action, "detail": detail}
        entry = AuditRow(**fields, previous_hash=head.hash, hash=entry_hash(key, head.hash, **fields))
        rows.append(entry)
        head.count, head.hash = head.count + 1, entry.hash
    session.add_all(rows)
    if head.mac is not None:  # a log that could not be keyed at start stays marked for verify
        head.mac = head_mac(key, head)
    return rows


def key_old_logs(session: Session) -> None:
    """Key the chains written before the audit key (heads without their mark), if they are intact
    under the unkeyed SHA-256 they were written with; the others stay unkeyed, for verify to name."""
    key = _key(session)
    for head in session.scalars(select(AuditHeadRow).where(AuditHeadRow.mac.is_(None))):
        entries = list(session.scalars(select(AuditRow).where(AuditRow.plan_id == head.plan_id).order_by(AuditRow.seq)))
        previous = GENESIS
        for entry in entries:
            unkeyed = hashlib.sha256(f"{previous}{canonical(**fields_of(entry))}".encode()).hexdigest()
            if entry.previous_hash != previous or entry.hash != unkeyed:
                log.error("plan %s: its audit log was changed before it was keyed; left for verify", head.plan_id)
                break
            previous = entry.hash
        else:
            previous = GENESIS
            for entry in entries:
                entry.previous_hash, entry.hash = previous, entry_hash(key, previous, **fields_of(entry))
                previous = entry.hash
            head.count, head.hash = len(entries), previous
            head.mac = head_mac(key, head)
            log.info("plan %s: its audit log is keyed now", head.plan_id)


# -- checking ------------------------------------------------------------------------------------


def verify(session: Session, *, plan_id: str | None = None) -> list[str]:
    """Every break in the logs (of one plan, or of all): an empty list means the log is intact."""
    key = _key(session)

    def of_plan(model: Any) -> Any:
        query = select(model)
        return query if plan_id is None else query.where(model.plan_id == plan_id)

    entries: dict[str, list[AuditRow]] = {}
    for entry in session.scalars(of_plan(AuditRow).order_by(AuditRow.plan_id, AuditRow.seq)):
        entries.setdefault(entry.plan_id, []).append(entry)
    heads = {head.plan_id: head for head in session.scalars(of_plan(AuditHeadRow))}
    stored = session.scalars(select(PlanRow) if plan_id is None else select(PlanRow).where(PlanRow.id == plan_id))
    scenarios = {plan.id: plan.scenario for plan in stored}
    changes: dict[str, list[ChangeRow]] = {}
    for change in session.scalars(of_plan(ChangeRow).order_by(ChangeRow.seq)):
        changes.setdefault(change.plan_id, []).append(change)
    problems: list[str] = []
    for plan in sorted({*entries, *heads, *scenarios, *changes}):
        problems += _chain(key, plan, entries.get(plan, []), heads.get(plan))
        problems += _changes(plan, entries.get(plan, []), changes.get(plan, []), scenarios.get(plan))
    return problems


def _chain(key: bytes, plan: str, entries: list[AuditRow], head: AuditHeadRow | None) -> list[str]:
    problems: list[str] = []
    previous = GENESIS
    for expected_seq, entry in enumerate(entries):
        where = f"plan {plan} entry {entry.seq}"
        if entry.seq != expected_seq:
            problems.append(f"{where}: expected entry {expected_seq} here; entries are missing")
        if entry.previous_hash != previous:
            problems.append(f"{where}: does not link to the entry before it")
        if entry_hash(key, entry.previous_hash, **fields_of(entry)) != entry.hash:
            problems.append(f"{where}: its content was changed after it was written (or another key wrote it)")
        previous = entry.hash
    if head is None:
        problems.append(f"plan {plan}: its audit head is missing: its log was deleted, or written elsewhere")
    elif head.mac is None:
        problems.append(f"plan {plan}: its log predates the audit key and was not intact when the server keyed it")
    elif head.mac != head_mac(key, head):
        problems.append(f"plan {plan}: its audit head was changed")
    elif head.count != len(entries) or head.hash != previous:
        problems.append(
            f"plan {plan}: the log has {len(entries)} entries but its head says {head.count}: "
            "entries were deleted from its end"
        )
    return problems


def _changes(
    plan: str, entries: list[AuditRow], changes: list[ChangeRow], scenario: dict[str, Any] | None
) -> list[str]:
    """The changes table against the log: each change sent over HTTP has its entry with the same step,
    each logged change is stored, and the steps a plan was created with are its scenario's."""
    if scenario is None:
        return [f"plan {plan}: its log and changes are stored, but the plan is not"]
    logged = {entry.detail["change"]: entry for entry in entries if isinstance(entry.detail.get("change"), int)}
    opening = scenario.get("negotiation") or []
    problems: list[str] = []
    for change in changes:
        where = f"plan {plan} change {change.id} (step {change.seq})"
        if change.alone:
            if change.seq >= len(opening) or opening[change.seq] != change.step:
                problems.append(f"{where}: not a step of the scenario the plan was created with")
            continue
        entry = logged.pop(change.id, None)
        if entry is None:
            problems.append(f"{where}: stored without an audit entry")
        elif entry.detail.get("step") != change.step or entry.actor != change.by:
            problems.append(f"{where}: differs from its audit entry {entry.seq}")
    problems += [
        f"plan {plan} entry {entry.seq}: its change {number} is not stored" for number, entry in logged.items()
    ]
    return problems


# -- reading -------------------------------------------------------------------------------------


def shown_url(url: str) -> str:
    """A URL as the log shows it: without credentials, query or fragment."""
    parsed = urlsplit(url)
    return urlunsplit(parsed._replace(netloc=parsed.netloc.rpartition("@")[2], query="", fragment=""))


def shown_detail(entry: AuditRow, reader: str | None) -> dict[str, Any]:
    """An entry's detail for ``reader`` (``None``: the admin): a webhook's URL only to its owner and
    the admin, and no URL with its credentials or query."""
    detail = dict(entry.detail)
    for name in ("url", "alertmanager"):
        if isinstance(detail.get(name), str):
            detail[name] = shown_url(detail[name])
    if entry.action == "create_webhook" and reader is not None and reader != entry.actor:
        detail["url"] = None  # another stakeholder's
    return detail


def list_audit(session: Session, *, plan_id: str, by: Principal) -> list[dict[str, Any]]:
    plans.get_plan_or_raise(session, plan_id=plan_id)
    reader = owner(by)
    rows = session.scalars(select(AuditRow).where(AuditRow.plan_id == plan_id).order_by(AuditRow.seq))
    return [
        {
            "seq": row.seq,
            "at": format_utc(row.at),
            "actor": row.actor,
            "action": row.action,
            "detail": shown_detail(row, reader),
            "previous_hash": row.previous_hash,
            "hash": row.hash,
        }
        for row in rows
    ]


@unit_of_work
def log_json(session: Session, *, plan_id: str, by: Principal) -> dict[str, Any]:
    """The plan's log, oldest first, as ``by`` may read it, and whether it checks out."""
    return {"entries": list_audit(session, plan_id=plan_id, by=by), "intact": not verify(session, plan_id=plan_id)}
