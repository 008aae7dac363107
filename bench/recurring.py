"""Repeated-request benchmark: prints figures against their targets, asserts nothing.

    python bench/recurring.py              # 50 weekly requests over 52 weeks, 15-minute slots, 24 regions
    python bench/recurring.py --quick      # 50 weekly requests over 8 weeks, 6 regions
    python bench/recurring.py --profile    # the same case under cProfile (top 25 by cumulative time)

The instance, built through ``load_data`` (the scenario file format): a horizon of the weeks plus
one spare week at 15-minute slots; regions in IANA zones with and without daylight saving time,
with the built-in ``consumer`` and ``business`` profiles; 3 services and a few weighted events
(a few weeks each). Each request repeats weekly (``count`` = the weeks) with ``same_time: local``
in a zone drawn from the regions', lasts 30 min to 3 h, starts its first period somewhere in the
first week and takes down a few regions. Requests 0-24 come in groups of 5 sharing one resource;
the other 25 hold a resource of their own.

Targets: version 1 proven optimal within 30 s and the process's peak RSS at most 1 GB (the case
runs in a fresh process so that the figure is its own); then an approver vetoes occurrence #10
of the first resource-sharing request at its current window, through ``Negotiation.apply``, and
the re-plan is ready within 1 s.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import pstats
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scheduler.domain import Problem, TimeRange, Version
from scheduler.negotiation import Negotiation
from scheduler.scenario import load_data
from scheduler.solver import solve
from scheduler.steps import Object

# Zones with daylight saving time (north and south) and without, including half- and quarter-hour offsets.
ZONES = [
    "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney", "America/Sao_Paulo",
    "Europe/London", "America/Los_Angeles", "Asia/Shanghai", "Asia/Kathmandu", "Pacific/Auckland", "Africa/Lagos",
    "America/Chicago", "Asia/Dubai", "Australia/Adelaide", "America/Bogota", "Europe/Istanbul", "Asia/Seoul",
    "America/Denver", "Africa/Johannesburg", "Asia/Tehran", "Europe/Paris", "America/Mexico_City", "Asia/Bangkok",
]  # fmt: skip
SERVICES = {"web": 0.5, "mobile": 0.4, "api": 0.1}
START = datetime(2027, 1, 4, tzinfo=UTC)  # a Monday; the year holds every northern and southern clock change
REQUESTS = 50
GROUPS, GROUP_SIZE = 5, 5  # requests 0-24: five groups of five sharing one resource each
TIME_LIMIT_S = 60.0
TARGET_OPTIMAL_S = 30.0
TARGET_RSS_MB = 1024.0
TARGET_REPLAN_S = 1.0
VETOED_OCCURRENCE = 10
APPROVER = "ops"


def scenario(weeks: int, regions: int, seed: int = 7) -> dict[str, Any]:
    """The benchmark instance described in the module docstring, in the scenario file format."""
    rng = random.Random(seed)
    zones = ZONES[:regions]
    region_ids = [f"r{i:02d}-{zone.split('/')[-1].lower().replace('_', '-')}" for i, zone in enumerate(zones)]
    end = START + timedelta(weeks=weeks + 1)
    events = []
    for i in range(4):
        first = START + timedelta(days=rng.randrange(7 * weeks))
        events.append(
            {
                "id": f"event-{i}",
                "regions": rng.sample(region_ids, min(3, len(region_ids))),
                "start": first.isoformat(),
                "end": (first + timedelta(days=rng.randint(2, 10))).isoformat(),
                "weight": rng.choice([2.0, 3.0, 5.0]),
            }
        )
    requests = []
    for i in range(REQUESTS):
        earliest = START + timedelta(minutes=15 * rng.randrange(7 * 96))
        shared = i < GROUPS * GROUP_SIZE
        requests.append(
            {
                "id": f"q{i:02d}",
                "duration": f"{15 * rng.randint(2, 12)}m",
                "earliest": earliest.isoformat(),
                "regions": rng.sample(region_ids, rng.randint(1, min(4, len(region_ids)))),
                "services": rng.sample(list(SERVICES), rng.randint(1, 3)),
                "severity": rng.choice([1.0, 1.0, 0.5, 0.25]),
                "resources": [f"shared-{i // GROUP_SIZE}" if shared else f"own-{i:02d}"],
                "repeat": {"every": "1w", "count": weeks, "same_time": "local", "zone": rng.choice(zones)},
            }
        )
    return {
        "name": f"recurring-{weeks}w-{regions}r",
        "horizon": {"start": START.isoformat(), "end": end.isoformat(), "slot_minutes": 15},
        "services": SERVICES,
        "regions": [
            {
                "id": region_id,
                "timezone": zone,
                "users": rng.randint(100_000, 10_000_000),
                "profile": "business" if i % 3 == 0 else "consumer",
            }
            for i, (region_id, zone) in enumerate(zip(region_ids, zones, strict=True))
        ],
        "events": events,
        "requests": requests,
        "stakeholders": [{"id": APPROVER, "role": "approver"}],
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def same_time_violations(problem: Problem, version: Version) -> int:
    """Requests whose scheduled occurrences do not all start at one weekday and wall-clock time in their zone."""
    bad = 0
    for series in problem.series.values():
        repeat = series.request.repeat
        assert repeat is not None
        tz = ZoneInfo(repeat.zone)
        walls = set()
        for occurrence in series.occurrences:
            window = version.window_by_request.get(occurrence.id)
            if window is not None:
                local = window.start.astimezone(tz)
                walls.add((local.weekday(), local.time()))
        bad += len(walls) > 1
    return bad


def resource_overlaps(problem: Problem, version: Version) -> int:
    """Pairs of windows that hold one resource at once (must be 0)."""
    held: dict[str, list[tuple[datetime, datetime]]] = {}
    for occurrence in problem.occurrences:
        window = version.window_by_request.get(occurrence.id)
        if window is not None:
            for name in occurrence.resources:
                held.setdefault(name, []).append((window.start, window.end))
    overlaps = 0
    for spans in held.values():
        spans.sort()
        overlaps += sum(1 for (_, end), (start, _) in itertools.pairwise(spans) if start < end)
    return overlaps


def run_case(weeks: int, regions: int, check: bool) -> dict[str, Any]:
    """Load, solve version 1, veto one occurrence and re-plan; every figure, as JSON-ready values."""
    row: dict[str, Any] = {"weeks": weeks, "regions": regions}
    started = time.perf_counter()
    problem = load_data(scenario(weeks, regions)).problem
    row["load_s"] = time.perf_counter() - started
    row["occurrences"] = len(problem.occurrences)
    row["rss_after_load_mb"] = peak_rss_mb()

    started = time.perf_counter()
    negotiation = Negotiation.open(problem, time_limit_s=TIME_LIMIT_S)
    row["open_s"] = time.perf_counter() - started
    first = negotiation.current
    row["rss_after_open_mb"] = peak_rss_mb()
    row.update(
        status=first.status,
        objective=first.objective,
        bound=first.bound,
        scheduled=len(first.windows),
        unscheduled=len(first.unscheduled),
        recurrences=len(first.recurrences),
        same_time_violations=same_time_violations(problem, first),
        resource_overlaps=resource_overlaps(problem, first),
    )

    target = f"q00#{min(VETOED_OCCURRENCE, weeks)}"
    window = first.window_by_request.get(target)
    row["veto_target"] = target
    if window is None:
        row["veto_error"] = f"{target} has no window in version 1"
        return row
    step = Object(index=0, by=APPROVER, request_id=target, kind="veto", avoid=(TimeRange(window.start, window.end),))
    started = time.perf_counter()
    result = negotiation.apply(step)
    row["replan_s"] = time.perf_counter() - started
    row["rss_after_replan_mb"] = peak_rss_mb()
    second = negotiation.current
    again = second.window_by_request.get(target)
    row.update(
        veto_accepted=result.accepted,
        veto_reason=result.reason,
        replan_version=second.version,
        replan_status=second.status,
        replan_objective=second.objective,
        replan_moved=len(second.moved),
        replan_moved_series=sorted({m.partition("#")[0] for m in second.moved}),
        target_before=window.start.isoformat(),
        target_after=again.start.isoformat() if again else None,
        target_still_in_vetoed_window=again is not None and again.start < window.end and window.start < again.end,
        replan_same_time_violations=same_time_violations(negotiation.problem, second),
        replan_resource_overlaps=resource_overlaps(negotiation.problem, second),
    )
    if check:  # the incremental re-plan against a fresh solve of the same problem (not part of the figures)
        started = time.perf_counter()
        fresh = solve(negotiation.problem, previous=first, time_limit_s=TIME_LIMIT_S)
        row["fresh_s"] = time.perf_counter() - started
        row["fresh_status"] = fresh.status
        row["fresh_objective"] = fresh.objective
        row["fresh_same_windows"] = [(w.request, w.start) for w in fresh.windows] == [
            (w.request, w.start) for w in second.windows
        ]
    return row


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


def report(row: dict[str, Any], quick: bool) -> None:
    note = " (quick run: the targets are for the full run)" if quick else ""
    print(
        f"{REQUESTS} weekly requests x {row['weeks']} weeks = {row['occurrences']} occurrences, 15-minute slots, "
        f"{row['regions']} regions, same_time: local{note}"
    )
    print(f"load_data: {row['load_s']:.2f} s, peak RSS after load {row['rss_after_load_mb']:,.0f} MB")
    optimal = row["status"] == "optimal"
    print(
        f"version 1 (Negotiation.open, time limit {TIME_LIMIT_S:.0f} s): {row['open_s']:.2f} s, "
        f"status {row['status']}, "
        f"objective {row['objective']:,.2f}, bound {row['bound']:,.2f}, {row['scheduled']} scheduled, "
        f"{row['unscheduled']} unscheduled, {row['recurrences']}/{REQUESTS} with a recurrence rule"
    )
    met = "met" if optimal and row["open_s"] <= TARGET_OPTIMAL_S else "MISSED"
    print(f"  time to optimal: {row['open_s']:.2f} s, target <= {TARGET_OPTIMAL_S:.0f} s and optimal: {met}")
    rss = row.get("rss_after_replan_mb", row["rss_after_open_mb"])
    print(f"  peak RSS (load + version 1 + re-plan): {rss:,.0f} MB, target <= {TARGET_RSS_MB:,.0f} MB: "
          f"{verdict(rss, TARGET_RSS_MB)}")  # fmt: skip
    print(
        f"  checks: {row['same_time_violations']} requests off their wall-clock time, "
        f"{row['resource_overlaps']} resource overlaps"
    )
    if "veto_error" in row:
        print(f"re-plan: not measured: {row['veto_error']}")
        return
    print(
        f"re-plan after a veto on {row['veto_target']} at {row['target_before']}: accepted {row['veto_accepted']}"
        + (f" ({row['veto_reason']})" if row["veto_reason"] else "")
        + f", version {row['replan_version']} {row['replan_status']}, objective {row['replan_objective']:,.2f} "
        f"({row['replan_objective'] - row['objective']:+,.2f}), {row['replan_moved']} windows moved "
        f"(requests {', '.join(row['replan_moved_series']) or 'none'}); {row['veto_target']} now at "
        f"{row['target_after'] or 'unscheduled'}"
    )
    print(f"  re-plan time: {row['replan_s']:.3f} s, target <= {TARGET_REPLAN_S:.0f} s: "
          f"{verdict(row['replan_s'], TARGET_REPLAN_S)}")  # fmt: skip
    print(
        f"  checks: still in the vetoed window: {row['target_still_in_vetoed_window']}, "
        f"{row['replan_same_time_violations']} requests off their wall-clock time, "
        f"{row['replan_resource_overlaps']} resource overlaps"
    )
    if "fresh_s" in row:
        print(
            f"  fresh solve of the vetoed problem: {row['fresh_s']:.2f} s, {row['fresh_status']}, objective "
            f"{row['fresh_objective']:,.2f}, same windows as the re-plan: {row['fresh_same_windows']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 weeks, 6 regions")
    parser.add_argument("--profile", action="store_true", help="run the case in this process under cProfile")
    parser.add_argument("--no-check", action="store_true", help="skip the fresh solve that checks the re-plan")
    parser.add_argument("--case", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    weeks, regions = (8, 6) if args.quick else (52, 24)

    if args.case:
        print(json.dumps(run_case(weeks, regions, check=not args.no_check)))
        return
    if args.profile:
        profiler = cProfile.Profile()
        row = profiler.runcall(run_case, weeks, regions, False)
        report(row, args.quick)
        print("\ncProfile, top 25 by cumulative time:")
        pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats("cumulative").print_stats(25)
        return
    command = [sys.executable, __file__, "--case"] + (["--quick"] if args.quick else [])
    command += ["--no-check"] if args.no_check else []
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(done.returncode)
    report(json.loads(done.stdout), args.quick)


if __name__ == "__main__":
    main()
