"""A local webhook receiver for tests: a real HTTP server on 127.0.0.1 that keeps what it gets."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def message(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    """Answers ``answers`` in turn (then 204) and keeps what it got. A test that clears ``answering``
    holds every request it gets until it sets it again; ``arrived`` counts requests read so far."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    guard: threading.Lock = field(default_factory=threading.Lock)
    answering: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0

    def __post_init__(self) -> None:
        self.answering.set()

    def answer(self) -> int:
        with self.guard:
            return self.answers.pop(0) if self.answers else 204

    def delivered(self, kind: str | None = None) -> list[Received]:
        """The messages answered with 2xx, of one type or all."""
        with self.guard:
            got = list(self.received)
        return [r for r in got if 200 <= r.answered < 300 and (kind is None or r.message["type"] == kind)]

    def _short(self, count: int, kind: str | None, deadline: float) -> bool:
        """Whether fewer than ``count`` messages are in, failing the test once ``deadline`` is past."""
        got = len(self.delivered(kind))
        assert got >= count or time.monotonic() < deadline, f"{got} {kind or ''} messages, waiting for {count}"
        return got < count

    async def wait_for(self, count: int, kind: str | None = None, wait_s: float = 10.0) -> list[Received]:
        """In an async test: the delivered messages once there are ``count``."""
        deadline = time.monotonic() + wait_s
        while self._short(count, kind, deadline):
            await asyncio.sleep(0.02)
        return self.delivered(kind)

    def wait(self, count: int, kind: str | None = None, wait_s: float = 10.0) -> list[Received]:
        """The same, blocking, for a test whose server runs in a thread."""
        deadline = time.monotonic() + wait_s
        while self._short(count, kind, deadline):
            time.sleep(0.02)
        return self.delivered(kind)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver listening on a free port until the block ends."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert receiver is not None
            body = self.rfile.read(int(self.headers["content-length"]))
            with receiver.guard:
                receiver.arrived += 1
            receiver.answering.wait(60)
            status = receiver.answer()
            with receiver.guard:
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body, status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
