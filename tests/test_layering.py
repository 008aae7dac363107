"""The engine knows nothing of HTTP, databases or the clock (STYLE: the shape of this project)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import scheduler

SCHEDULER_DIR = Path(scheduler.__file__).resolve().parent
FORBIDDEN_PACKAGES = ("fastapi", "starlette", "sqlalchemy")

# Reading the wall clock or today's date; ``time.monotonic`` (the solver's time limit) is allowed.
CLOCK_READS = re.compile(
    r"\bdatetime\.(?:now|utcnow|today)\b"
    r"|\bdate\.today\b"
    r"|\btime\.(?:time|time_ns|localtime|gmtime|ctime|asctime)\b"
    r"|\bpendulum\.(?:now|today|yesterday|tomorrow)\b"
    r"|\bfrom\s+time\s+import\s+[^\n]*\btime\b"
)


IMPORT_EVERY_MODULE = """
import json, pkgutil, importlib, sys
import scheduler
modules = [info.name for info in pkgutil.walk_packages(scheduler.__path__, "scheduler.")]
for name in modules:
    importlib.import_module(name)
print(json.dumps({"modules": modules, "loaded": sorted(sys.modules)}))
"""


def test_importing_every_scheduler_module_imports_no_web_or_database_package() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=SCHEDULER_DIR.parent,
    )
    report = json.loads(done.stdout)

    assert "scheduler.solver" in report["modules"]
    assert "scheduler.negotiation" in report["modules"]
    leaked = [name for name in report["loaded"] if name.split(".")[0] in FORBIDDEN_PACKAGES]
    assert leaked == []


def test_the_clock_pattern_catches_what_it_should() -> None:
    caught = [
        "datetime.now(UTC)",
        "field(default_factory=datetime.now)",
        "date.today()",
        "time.time()",
        "from time import sleep, time",
        "pendulum.now('UTC')",
    ]
    allowed = ["started = time.monotonic()", "problem.now + notice", "self.time_limit_s", "format_utc(version.now)"]

    assert all(CLOCK_READS.search(line) for line in caught)
    assert not any(CLOCK_READS.search(line) for line in allowed)


def test_nothing_in_the_scheduler_reads_the_clock() -> None:
    sources = sorted(SCHEDULER_DIR.rglob("*.py"))
    reads = [
        f"{path.relative_to(SCHEDULER_DIR.parent)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if CLOCK_READS.search(line)
    ]

    assert len(sources) > 5
    assert reads == []
