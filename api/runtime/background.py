"""A background thread of the server process that runs rounds of work: every ``poll_s``, or at
once when woken. A round that fails is logged and tried again; nothing it did not finish counts."""

from __future__ import annotations

import logging
import threading
import time


class Background:
    """Subclasses say what a round does; ``wake.set()`` asks for one now."""

    name = "negotiator-background"

    def __init__(self, *, poll_s: float, log: logging.Logger) -> None:
        self.poll_s = poll_s
        self.log = log
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def round(self) -> None:
        raise NotImplementedError

    def next_round_in(self) -> float:
        """Seconds until the next round unless woken before: the poll, unless a subclass knows sooner."""
        return self.poll_s

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the round under way and stop."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(self.next_round_in())
            self.wake.clear()
            try:
                self.round()
            except Exception:
                self.log.exception("%s: round failed", self.name)
                time.sleep(self.poll_s)
