"""A real Prometheus for the profile tests: Debian's ``prometheus``, its data backfilled from an
OpenMetrics text by ``promtool tsdb create-blocks-from openmetrics``, started on a free loopback
port; tests are skipped when the binaries are missing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import free_port, running


@contextmanager
def prometheus(directory: Path, openmetrics: str) -> Iterator[str]:
    """A Prometheus holding ``openmetrics`` (ending ``# EOF``) until the block ends; its base URL."""
    server, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if server is None or promtool is None:
        pytest.skip("no Prometheus (apt-get install prometheus: prometheus and promtool)")
    (directory / "data.om").write_text(openmetrics)
    data = directory / "tsdb"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(directory / "data.om"), str(data)],
        check=True,
        capture_output=True,
    )
    (directory / "prometheus.yml").write_text("global: {}\n")
    port = free_port()
    command = [
        server,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=100y",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(command, port=port, log=directory / "prometheus.log", what="Prometheus") as base:
        yield base
