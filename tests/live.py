"""A real server for tests that need one on a port (the client CLI, a browser): uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

START_S = 10.0


@contextmanager
def serving(app_at: Callable[[str], FastAPI]) -> Iterator[str]:
    """Run the app ``app_at(base_url)`` makes on a free port of 127.0.0.1 until the block ends; its
    base URL (which the app needs first: the links it sends out are absolute)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app_at(base), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="negotiator-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    assert httpx.get(f"{base}/health").json() == {"status": "ok"}
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(START_S)
        assert not thread.is_alive(), "the server did not stop"
