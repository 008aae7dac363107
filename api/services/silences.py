"""Alertmanager silences over announced windows: which should exist, written with the version.

A request with ``silence`` matchers gets a silence over each of its announced windows (its
version approved, and the window not moved since), on the plan's Alertmanager. When the window
moves, is withdrawn or loses its window, the silence is expired; a new one comes with the next
approval. The rows are written in the solve's transaction and sent by the courier
(``api/runtime/silencer.py``): none lost, none sent twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import unit_of_work
from api.links import Links
from api.models import PlanRow, SilenceRow
from api.services.plans import get_plan_or_raise
from scheduler.timeline import format_utc

if TYPE_CHECKING:
    from scheduler.negotiation import Negotiation

LIVE = ("creating", "active")  # rows whose silence exists, or is about to


def marker(row: SilenceRow) -> str:
    """What the silence's comment carries so that the courier finds it again after a crash."""
    return f"[negotiator {row.plan_id} silence {row.id}]"


def plan_silences(
    session: Session, links: Links, *, plan_id: str, negotiation: Negotiation, default_url: str | None
) -> None:
    """Bring the plan's silence rows in line with its announced windows (in the solve's transaction)."""
    plan = session.get(PlanRow, plan_id)
    assert plan is not None
    url = plan.alertmanager_url or default_url
    wanted: dict[tuple[str, datetime, datetime], tuple[str, dict[str, str]]] = {}
    if url is not None:  # else nothing is wanted: silences made under an earlier URL are expired
        problem, version = negotiation.problem, negotiation.current
        for window in version.windows:
            request = problem.request_by_id.get(window.request)
            if request is None or not request.silence or negotiation.announced.get(window.request) != window.start:
                continue
            comment = (
                f"Maintenance window of {request.id} ({request.title}), version {version.version} of plan "
                f"{plan_id}: {links.page(plan_id)}"
            )
            wanted[(window.request, window.start, window.end)] = (comment, dict(request.silence))
    rows = session.scalars(select(SilenceRow).where(SilenceRow.plan_id == plan_id)).all()
    known = {(row.request, row.starts_at, row.ends_at): row for row in rows}
    for key, row in known.items():
        if key not in wanted and row.state in LIVE:
            row.state, row.attempts, row.next_attempt_at = "expiring", 0, None
    for (request_id, start, end), (comment, matchers) in wanted.items():
        kept = known.get((request_id, start, end))
        if kept is None:
            session.add(
                SilenceRow(
                    plan_id=plan_id,
                    request=request_id,
                    starts_at=start,
                    ends_at=end,
                    matchers=matchers,
                    url=url,
                    comment=comment,
                    state="creating",
                    attempts=0,
                )
            )
        elif kept.state == "expiring":  # wanted again before it went: keep it
            kept.state, kept.attempts, kept.next_attempt_at = ("active" if kept.silence_id else "creating"), 0, None
        elif kept.state not in LIVE:  # the window came back where it was: a new silence
            kept.state, kept.silence_id, kept.attempts, kept.next_attempt_at, kept.error = (
                "creating",
                None,
                0,
                None,
                None,
            )


@unit_of_work
def list_silences(session: Session, *, plan_id: str) -> list[dict[str, Any]]:
    """The plan's silences, oldest first: each window's, with Alertmanager's id once it has one."""
    get_plan_or_raise(session, plan_id=plan_id)
    rows = session.scalars(select(SilenceRow).where(SilenceRow.plan_id == plan_id).order_by(SilenceRow.id))
    return [
        {
            "id": row.id,
            "request": row.request,
            "start": format_utc(row.starts_at),
            "end": format_utc(row.ends_at),
            "matchers": row.matchers,
            "state": row.state,
            "silence_id": row.silence_id,
            "attempts": row.attempts,
            "error": row.error,
        }
        for row in rows
    ]
