"""Versions: what the solver stored, read as it was served; approving the newest one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import unit_of_work
from api.errors import Conflict, NotFound
from api.models import VersionRow
from api.services.plans import get_plan_or_raise


def get_version_or_raise(session: Session, *, plan_id: str, number: int | None) -> VersionRow:
    """Version ``number``, or the newest finished one."""
    get_plan_or_raise(session, plan_id=plan_id)
    query = select(VersionRow).where(VersionRow.plan_id == plan_id)
    query = query.where(VersionRow.number == number) if number is not None else query.order_by(VersionRow.number.desc())
    version = session.scalars(query.limit(1)).first()
    if version is None:
        raise NotFound("no such version yet" if number is not None else "the first version is still being solved")
    return version


@unit_of_work
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


@unit_of_work
def get(session: Session, *, plan_id: str, number: int | None) -> dict[str, Any]:
    """Version ``number``, or the newest finished one, as it was stored and served."""
    return get_version_or_raise(session, plan_id=plan_id, number=number).body
