"""A real Alertmanager for the silence tests: Debian's ``prometheus-alertmanager``, started on a
free loopback port with a throwaway configuration; tests are skipped when the binary is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import free_port, running

BINARY_ENV = "NEGOTIATOR_ALERTMANAGER_BINARY"
CONFIG = "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n"


@contextmanager
def alertmanager(directory: Path) -> Iterator[str]:
    """An Alertmanager on 127.0.0.1 until the block ends; its base URL."""
    found = os.environ.get(BINARY_ENV) or shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        pytest.skip(f"no Alertmanager (apt-get install prometheus-alertmanager, or set {BINARY_ENV})")
    (directory / "alertmanager.yml").write_text(CONFIG)
    port = free_port()
    command = [
        found,
        f"--config.file={directory / 'alertmanager.yml'}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with running(command, port=port, log=directory / "alertmanager.log", what="Alertmanager") as base:
        yield base
