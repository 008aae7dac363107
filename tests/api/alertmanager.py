"""A real Alertmanager for the silence tests: Debian's ``prometheus-alertmanager``, started on a
free loopback port with a throwaway configuration; tests are skipped when the binary is missing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

BINARY_ENV = "NEGOTIATOR_ALERTMANAGER_BINARY"
CONFIG = "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n"
START_S = 20.0


def binary() -> str | None:
    return os.environ.get(BINARY_ENV) or shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@contextmanager
def alertmanager(directory: Path) -> Iterator[str]:
    """An Alertmanager on 127.0.0.1 until the block ends; its base URL."""
    found = binary()
    if found is None:
        pytest.skip(f"no Alertmanager (apt-get install prometheus-alertmanager, or set {BINARY_ENV})")
    (directory / "alertmanager.yml").write_text(CONFIG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = directory / "alertmanager.log"
    with log.open("wb") as sink:  # the child keeps its own copy of the file
        process = subprocess.Popen(
            [
                found,
                f"--config.file={directory / 'alertmanager.yml'}",
                f"--storage.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
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
                pytest.fail(f"Alertmanager did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(10)
