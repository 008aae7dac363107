"""Real servers the tests start from Debian's packages (Alertmanager, Prometheus): a free loopback
port, the process with its log in the test's directory, and the wait until it says it is ready."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

START_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running(command: list[str], *, port: int, log: Path, what: str) -> Iterator[str]:
    """``command`` (listening on ``port``) until the block ends, once ``/-/ready`` answers; its base URL."""
    with log.open("wb") as sink:  # the child keeps its own copy of the file
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                if httpx.get(f"{base}/-/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)
