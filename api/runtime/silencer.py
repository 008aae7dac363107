"""Sends the silences the solver wrote: creates them on Alertmanager, keeps their ids, expires them.

Alertmanager's API v2: ``POST /api/v2/silences`` answers ``{"silenceID"}``, ``DELETE
/api/v2/silence/{id}`` expires one, ``GET /api/v2/silences`` lists them. A silence is created at
most once: its comment carries a marker (``silences.marker``), and before posting, the courier
looks for a silence with that marker, which a send cut short by a crash may have left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import Clock
from api.models import SilenceRow
from api.services.silences import marker
from scheduler.timeline import format_utc

log = logging.getLogger("negotiator.silences")

CREATED_BY = "maintenance-negotiator"


class Silencer:
    """The silences part of the courier's round."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: httpx.Client,
        *,
        retry: Callable[[int], timedelta],
        max_attempts: int,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.retry = retry  # attempts -> the wait (a timedelta) before the next one
        self.max_attempts = max_attempts
        self.clock = clock

    def send_due(self) -> int:
        """Create and expire every silence whose time has come; how many were done."""
        with self.sessions() as session:
            due = session.scalars(
                select(SilenceRow.id)
                .where(
                    SilenceRow.state.in_(("creating", "expiring")),
                    or_(SilenceRow.next_attempt_at.is_(None), SilenceRow.next_attempt_at <= self.clock()),
                )
                .order_by(SilenceRow.id)
            ).all()
        return sum(self._send(silence_id) for silence_id in due)

    def _send(self, row_id: int) -> bool:
        with self.sessions() as session:
            row = session.scalars(
                select(SilenceRow)
                .where(SilenceRow.id == row_id, SilenceRow.state.in_(("creating", "expiring")))
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:  # done meanwhile, or being done by another server
                return False
            try:
                if row.state == "creating":
                    silence_id = self._create(row)
                    # The solver may have asked meanwhile for the silence to go: then it stays ``expiring``.
                    where = update(SilenceRow).where(SilenceRow.id == row.id)
                    session.execute(where.values(silence_id=silence_id, error=None))
                    done = "active" if silence_id is not None else "expired"
                    session.execute(where.where(SilenceRow.state == "creating").values(state=done))
                else:
                    self._expire(row)
            except (httpx.HTTPError, ValueError, KeyError) as failure:
                row.attempts += 1
                row.error = _unreachable(failure)
                if row.attempts >= self.max_attempts:
                    row.state, row.next_attempt_at = "failed", None
                else:
                    row.next_attempt_at = self.clock() + self.retry(row.attempts)
                session.commit()
                log.warning("silence %s of plan %s: %s", row.id, row.plan_id, row.error)
                return False
            session.commit()
            return True

    def _create(self, row: SilenceRow) -> str | None:
        """Alertmanager's id of the row's silence, created unless a cut-short send made it; None
        when the window is over and there is nothing to silence."""
        if row.ends_at <= self.clock():
            return None
        silence_id = self._find(row)
        if silence_id is not None:
            return silence_id
        body = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(row.matchers.items())
            ],
            "startsAt": format_utc(row.starts_at),
            "endsAt": format_utc(row.ends_at),
            "createdBy": CREATED_BY,
            "comment": f"{row.comment} {marker(row)}",
        }
        response = self.client.post(f"{row.url}/api/v2/silences", json=body)
        response.raise_for_status()
        return str(response.json()["silenceID"])

    def _expire(self, row: SilenceRow) -> None:
        silence_id = row.silence_id or self._find(row)
        if silence_id is not None:
            response = self.client.delete(f"{row.url}/api/v2/silence/{silence_id}")
            if response.status_code != 404:  # 404: Alertmanager no longer has it
                response.raise_for_status()
        row.state, row.error = "expired", None

    def _find(self, row: SilenceRow) -> str | None:
        """The id of a live silence this row already made, if a cut-short send left one."""
        response = self.client.get(f"{row.url}/api/v2/silences")
        response.raise_for_status()
        mark = marker(row)
        for silence in response.json():
            if mark in silence.get("comment", "") and silence.get("status", {}).get("state") != "expired":
                return str(silence["id"])
        return None


def _unreachable(failure: Exception) -> str:
    """What the log keeps of a failure: the status, or only that the Alertmanager could not be reached."""
    if isinstance(failure, httpx.HTTPStatusError):
        return f"Alertmanager answered {failure.response.status_code}: {failure.response.text[:200]}"
    if isinstance(failure, ValueError | KeyError):
        return "Alertmanager answered something that is not a silence id"
    return "unreachable"
