"""The courier's thread: sends the webhook messages that are due, adds the reminders that are, and
sends the Alertmanager silences the solver wrote (``api/runtime/silencer.py``).

Messages follow the Standard Webhooks convention (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``: HMAC-SHA256 with the webhook's ``whsec_`` secret). A message is sent until a
2xx answer, retried with exponential backoff, and every attempt is logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook as Signer

from api.db import Clock, utcnow
from api.links import Links
from api.models import DeliveryAttemptRow, DeliveryRow, WebhookRow
from api.runtime.background import Background
from api.runtime.silencer import Silencer
from api.services.webhooks import Solved, enqueue_reminders

log = logging.getLogger("negotiator.webhooks")


def signed_headers(secret: str, message_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, sent at ``at``."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, at, body),
        "content-type": "application/json",
    }


def backoff(attempts: int, first_s: float) -> timedelta:
    """The wait after the ``attempts``-th failure: ``first_s``, doubled each time, at most a day."""
    return timedelta(seconds=min(first_s * 2 ** (attempts - 1), 86_400.0))


class Courier(Background):
    """Sends due messages and adds due reminders, in a background thread of the server process.

    On PostgreSQL a message is sent under ``FOR UPDATE SKIP LOCKED``, so two servers never send
    the same one at once; a message answered with 2xx is never sent again.
    """

    name = "negotiator-courier"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        latest: Callable[[Session, str], Solved | None],
        *,
        poll_s: float,
        timeout_s: float,
        retry_s: float,
        max_attempts: int,
        links: Links,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(poll_s=poll_s, log=log)
        self.sessions = sessions
        self.latest = latest
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.max_attempts = max_attempts
        self.links = links
        self.clock = clock
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)
        self.silencer = Silencer(
            sessions,
            self._client,
            retry=lambda attempts: backoff(attempts, retry_s),
            max_attempts=max_attempts,
            clock=clock,
        )

    def round(self) -> None:
        self.remind()
        self.send_due()
        self.silencer.send_due()

    def stop(self, timeout_s: float | None = None) -> None:
        super().stop(self.timeout_s + 5 if timeout_s is None else timeout_s)
        self._client.close()

    def remind(self) -> None:
        """Add the reminders due now for every plan with webhooks."""
        with self.sessions() as session:
            plans = sorted(set(session.scalars(select(WebhookRow.plan_id).where(WebhookRow.active))))
        for plan_id in plans:
            with self.sessions() as session:
                latest = self.latest(session, plan_id)
                if latest is not None and enqueue_reminders(
                    session, self.links, plan_id=plan_id, latest=latest, now=self.clock()
                ):
                    session.commit()

    def send_due(self) -> int:
        """Send every message whose time has come; how many were delivered."""
        with self.sessions() as session:
            due = session.scalars(
                select(DeliveryRow.id)
                .where(
                    DeliveryRow.status == "pending",
                    or_(DeliveryRow.next_attempt_at.is_(None), DeliveryRow.next_attempt_at <= self.clock()),
                )
                .order_by(DeliveryRow.id)
            ).all()
        return sum(self._send(delivery_id) for delivery_id in due if not self.stopping)

    def _send(self, delivery_id: int) -> bool:
        with self.sessions() as session:
            delivery = session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.id == delivery_id, DeliveryRow.status == "pending")
                .with_for_update(skip_locked=True)
            ).first()
            if delivery is None:  # sent meanwhile, or being sent by another server
                return False
            webhook = session.get(WebhookRow, delivery.webhook_id)
            assert webhook is not None
            if not webhook.active:
                delivery.status, delivery.next_attempt_at = "cancelled", None
                session.commit()
                return False
            body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
            at = self.clock()
            status_code, error = None, None
            started = time.monotonic()
            try:
                response = self._client.post(
                    webhook.url, content=body, headers=signed_headers(webhook.secret, delivery.message_id, body, at)
                )
                status_code = response.status_code
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"
            duration_ms = int((time.monotonic() - started) * 1000)
            delivered = status_code is not None and 200 <= status_code < 300
            delivery.attempts += 1
            if delivered:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", at, None
            elif status_code == 410:  # Gone: the receiver asks not to be called again
                delivery.status, delivery.next_attempt_at = "failed", None
                webhook.active = False
            elif delivery.attempts >= self.max_attempts:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = at + backoff(delivery.attempts, self.retry_s)
            if error is None and not delivered:
                error = f"HTTP {status_code}"
            session.add(
                DeliveryAttemptRow(
                    delivery_id=delivery.id, at=at, status_code=status_code, error=error, duration_ms=duration_ms
                )
            )
            session.commit()
            return delivered
