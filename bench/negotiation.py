"""Negotiation benchmark: one objection on the 1,000-request engine instance. Prints figures only.

    python bench/negotiation.py

Version 1 is solved first; then a representative vetoes several requests' current windows, one
step at a time, and each new version is timed: how long until it is ready, and which windows moved.
For comparison, the same version is solved from scratch (a fresh planner with the previous version).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import generate, peak_rss_mb

from scheduler.domain import Stakeholder
from scheduler.negotiation import Negotiation
from scheduler.solver import solve
from scheduler.steps import Object

OBJECTIONS = 5


def main() -> None:
    problem = generate()
    approver = Stakeholder(
        id="ops-approver", name="Ops approver", role="approver", regions=frozenset(), services=frozenset()
    )
    problem = replace(problem, stakeholders=(approver,))
    started = time.perf_counter()
    negotiation = Negotiation.open(problem, time_limit_s=60)
    print(f"version 1: {time.perf_counter() - started:.2f} s, status {negotiation.current.status}")
    windows = negotiation.current.windows
    targets = [window.request for window in windows[:: len(windows) // OBJECTIONS]]
    for index, request in enumerate(targets[:OBJECTIONS]):
        before = negotiation.current
        step = Object(index=index, by=approver.id, request_id=request, kind="veto")
        started = time.perf_counter()
        result = negotiation.apply(step)
        elapsed = time.perf_counter() - started
        after = negotiation.current
        started = time.perf_counter()
        fresh = solve(negotiation.problem, previous=before, time_limit_s=60)
        scratch = time.perf_counter() - started
        same = [w.start for w in fresh.windows] == [w.start for w in after.windows]
        print(
            f"veto on {request}: accepted {result.accepted}, version {after.version} ready in {elapsed:.3f} s "
            f"({after.status}); moved {list(after.moved)}; objective {after.objective - before.objective:+,.0f}; "
            f"from scratch {scratch:.2f} s, same windows: {same}"
        )
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
