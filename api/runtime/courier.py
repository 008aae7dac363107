"""The courier's thread: sends the webhook messages that are due, adds the reminders that are, and
sends the Alertmanager silences the solver wrote (``api/runtime/silencer.py``).

Messages follow the Standard Webhooks convention (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``: HMAC-SHA256 with the webhook's ``whsec_`` secret). A message is sent until a
2xx answer, retried with exponential backoff, and every attempt is logged.

Messages are sent side by side by a pool of ``concurrency`` threads, at most ``per_host`` at a time
to one host and port, so a receiver that hangs holds up only its own messages. Each goes only to an
address ``api/runtime/targets.py`` allows; the delivery log says "unreachable" for a target that
could not be reached or was refused, and only the server's log says why.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
from api.runtime.targets import Refused, host_of, pinned
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
        concurrency: int = 8,
        per_host: int = 2,
        private_targets: bool = False,
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
        self.per_host = per_host
        self.private_targets = private_targets
        self._client = httpx.Client(
            timeout=timeout_s, follow_redirects=False, limits=httpx.Limits(max_connections=concurrency + 2)
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="negotiator-send")
        self._guard = threading.Lock()
        self._sending: set[int] = set()  # deliveries in the pool
        self._busy: Counter[str] = Counter()  # deliveries in the pool per host
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
        self._pool.shutdown(wait=True, cancel_futures=True)
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
        """Hand every message whose time has come to the pool, within the per-host limit; how many."""
        with self.sessions() as session:
            due = session.execute(
                select(DeliveryRow.id, WebhookRow.url)
                .join(WebhookRow, WebhookRow.id == DeliveryRow.webhook_id)
                .where(
                    DeliveryRow.status == "pending",
                    or_(DeliveryRow.next_attempt_at.is_(None), DeliveryRow.next_attempt_at <= self.clock()),
                )
                .order_by(DeliveryRow.id)
            ).all()
        started = 0
        for delivery_id, url in due:
            host = host_of(url)
            with self._guard:
                if self.stopping or delivery_id in self._sending or self._busy[host] >= self.per_host:
                    continue
                self._sending.add(delivery_id)
                self._busy[host] += 1
            self._pool.submit(self._sending_one, delivery_id, host)
            started += 1
        return started

    def _sending_one(self, delivery_id: int, host: str) -> None:
        try:
            self._send(delivery_id)
        except Exception:
            log.exception("delivery %s: sending failed", delivery_id)
        finally:
            with self._guard:
                self._sending.discard(delivery_id)
                self._busy[host] -= 1
                if not self._busy[host]:
                    del self._busy[host]
            self.wake.set()  # the host's next message, if one waits

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
                target = pinned(webhook.url, private_ok=self.private_targets)
                headers = signed_headers(webhook.secret, delivery.message_id, body, at) | target.headers
                response = self._client.post(target.url, content=body, headers=headers, extensions=target.extensions)
                status_code = response.status_code
            except (Refused, httpx.HTTPError) as failure:
                error = "unreachable"  # what failed, and where, would tell a prober which ports are open
                log.warning(
                    "webhook %s of plan %s: %s: %s", webhook.id, webhook.plan_id, type(failure).__name__, failure
                )
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
