"""Engine benchmark: prints figures, asserts nothing (speed is measured here, not in timed tests).

    python bench/engine.py                 # 1,000 requests: time, peak memory, greedy baseline
    python bench/engine.py --large         # also 10,000 requests: time and gap
    python bench/engine.py --congested     # congested weeks, N = 200, 1,000, 5,000 at 10, 30, 60 s

The instance: 24 regions around the globe, a 7-day horizon at 5-minute slots, 3 services, a few
weighted events, and requests of 30 min to 3 h with allowed ranges of 1 to 7 days, each holding
one of 200 shared resources.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from scheduler.candidates import build_candidates
from scheduler.domain import Event, Objection, Problem, Region, Request, Stakeholder, TimeRange, Version
from scheduler.greedy import most_constrained_first
from scheduler.impact import ImpactModel
from scheduler.profiles import BUILTIN
from scheduler.solver import Planner, solve
from scheduler.timeline import SlotGrid

ZONES = [
    "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
    "America/Mexico_City", "America/Bogota", "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Istanbul",
    "Africa/Lagos", "Africa/Johannesburg", "Asia/Tehran", "Asia/Dubai", "Asia/Kolkata", "Asia/Kathmandu",
    "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Asia/Seoul", "Australia/Sydney", "Australia/Adelaide",
    "Pacific/Auckland",
]  # fmt: skip
SERVICES = {"web": 0.5, "mobile": 0.4, "api": 0.1}
START = datetime(2026, 12, 14, tzinfo=UTC)


def generate(requests: int = 1000, resources: int = 200, seed: int = 7) -> Problem:
    """The benchmark instance described in the module docstring."""
    rng = random.Random(seed)
    grid = SlotGrid.over(START, START + timedelta(days=7), 5)
    regions = tuple(
        Region(
            id=f"r{i:02d}-{zone.split('/')[-1].lower()}",
            timezone=zone,
            users=float(rng.randint(100_000, 10_000_000)),
            profile=BUILTIN["business" if i % 4 == 0 else "consumer"],
            shares=SERVICES,
        )
        for i, zone in enumerate(ZONES)
    )
    events = tuple(
        Event(
            id=f"event-{i}",
            name=f"event {i}",
            regions=frozenset(rng.sample([r.id for r in regions], 3)),
            services=frozenset(SERVICES),
            start=START + timedelta(hours=rng.randint(0, 150)),
            end=START + timedelta(hours=rng.randint(151, 168)),
            weight=rng.choice([2.0, 3.0, 5.0]),
        )
        for i in range(6)
    )
    region_ids = [r.id for r in regions]
    items = []
    for i in range(requests):
        duration = timedelta(minutes=5 * rng.randint(6, 36))
        span = timedelta(days=rng.randint(1, 7))
        earliest = START + timedelta(minutes=5 * rng.randint(0, int((timedelta(days=7) - span) / timedelta(minutes=5))))
        items.append(
            Request(
                id=f"q{i:05d}",
                title=f"request {i}",
                duration=duration,
                earliest=earliest,
                deadline=earliest + span,
                services=frozenset(rng.sample(list(SERVICES), rng.randint(1, 3))),
                regions=frozenset(region_ids if rng.random() < 0.5 else rng.sample(region_ids, rng.randint(1, 24))),
                severity=rng.choice([1.0, 1.0, 0.5, 0.25]),
                resources=frozenset({f"res-{rng.randrange(resources)}"}),
            )
        )
    return Problem(
        name="bench",
        grid=grid,
        now=START,
        services=SERVICES,
        regions=regions,
        requests=tuple(items),
        events=events,
    )


def congested(requests: int = 200, seed: int = 7) -> Problem:
    """A congested week: N requests fighting over N/40 shared resources, with ``after`` chains.

    Each request takes down 1 to 6 neighbouring regions, holds 1 or 2 resources, lasts 30 min to
    3 h and must fit in a range of 1 to 2 days; about one in seven comes after an earlier one.
    The ranges are drawn around a hidden schedule that places every request, so a schedule
    placing all N is known to exist.
    """
    rng = random.Random(seed)
    base = generate(requests=0, seed=seed)
    region_ids = [r.id for r in base.regions]
    resources = max(requests // 40, 1)
    count = 7 * 24 * 12  # 5-minute slots in the week
    busy = {f"res-{r:03d}": np.zeros(count + 1, dtype=np.int64) for r in range(resources)}  # prefix sums
    planted: dict[str, int] = {}  # request id -> end slot in the hidden schedule
    items: list[Request] = []
    while len(items) < requests:
        slots = rng.randint(6, 36)
        held = sorted({f"res-{rng.randrange(resources):03d}" for _ in range(rng.randint(1, 2))})
        after: tuple[str, ...] = ()
        first_start = 0
        if items and rng.random() < 0.15:
            predecessor = items[rng.randrange(len(items))]
            after, first_start = (predecessor.id,), planted[predecessor.id]
        taken = sum(busy[r][slots:] - busy[r][:-slots] for r in held)  # held slots in [t, t + slots)
        free = np.flatnonzero(taken[first_start:] == 0) + first_start
        if not len(free):
            continue  # this draw does not fit the hidden schedule: draw another request
        start = int(free[rng.randrange(len(free))])
        for r in held:
            used = np.diff(busy[r])
            used[start : start + slots] = 1
            busy[r][1:] = np.cumsum(used)
        span = rng.randint(288, 576)  # 1 to 2 days
        earliest = min(max(start - rng.randint(0, span - slots), first_start), max(count - span, 0))
        earliest = min(earliest, start)
        deadline = min(max(earliest + span, start + slots), count)
        request_id = f"q{len(items):05d}"
        planted[request_id] = start + slots
        first = rng.randrange(len(region_ids))
        items.append(
            Request(
                id=request_id,
                title=f"request {len(items)}",
                duration=timedelta(minutes=5 * slots),
                earliest=START + timedelta(minutes=5 * earliest),
                deadline=START + timedelta(minutes=5 * deadline),
                services=frozenset(rng.sample(list(SERVICES), rng.randint(1, 3))),
                regions=frozenset(region_ids[(first + j) % len(region_ids)] for j in range(rng.randint(1, 6))),
                severity=rng.choice([1.0, 1.0, 0.5, 0.25]),
                resources=frozenset(held),
                after=after,
            )
        )
    return replace(base, name="congested", requests=tuple(items))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def greedy_objective(problem: Problem) -> tuple[float, int]:
    """Requests in input order, each at its cheapest start still free: what a careful human would do."""
    impact = ImpactModel(problem)
    candidates = [
        build_candidates(problem, request, impact.window_costs(request, problem.grid.slots_for(request.duration)))
        for request in problem.requests
    ]
    placement = most_constrained_first(candidates)
    placed = [c for c in candidates if placement[c.id] is not None]
    return sum(c.cost_at(placement[c.id]) for c in placed), len(placed)  # type: ignore[arg-type]


def report(label: str, version: Version, seconds: float) -> None:
    gap = (version.objective - version.bound) / version.objective if version.objective else 0.0
    print(
        f"{label}: {seconds:.2f} s, status {version.status}, {len(version.windows)} scheduled, "
        f"{len(version.unscheduled)} unscheduled, objective {version.objective:,.0f}, bound {version.bound:,.0f}, "
        f"gap {gap:.4%}, peak RSS {peak_rss_mb():,.0f} MB"
    )


def congested_row(requests: int, time_limit: float) -> dict[str, float]:
    """One row of the congested table, measured in this process (run it in a fresh one for peak RSS)."""
    problem = congested(requests)
    baseline, greedy_placed = greedy_objective(problem)
    planner = Planner(time_limit_s=time_limit)
    started = time.perf_counter()
    version = planner.solve(problem)
    wall = time.perf_counter() - started
    row = {
        "scheduled": len(version.windows),
        "greedy": greedy_placed,
        "ratio": version.objective / baseline,
        "bound": version.bound / baseline,
        "gap": (version.objective - version.bound) / version.objective,
        "wall": wall,
        "rss": peak_rss_mb(),
    }
    if requests == 1000 and time_limit == 30:  # the re-plan figure: one veto on the first window
        window = version.windows[0]
        stakeholder = Stakeholder("ops", "ops", "approver", frozenset(), frozenset())
        veto = Objection("veto:0", "ops", window.request, "veto", (TimeRange(window.start, window.end),))
        vetoed = replace(problem, stakeholders=(stakeholder,), objections=(veto,))
        started = time.perf_counter()
        again = planner.solve(vetoed, previous=version)
        row["replan"] = time.perf_counter() - started
        row["moved"] = len(again.moved)
    return row


def congested_table(sizes: list[int], limits: list[float]) -> None:
    """The congested family, each row in a fresh process so that its peak RSS is its own."""
    print("congested weeks: N requests on N/40 resources, 7 days at 5-minute slots, 24 regions")
    print("obj/greedy and bound/greedy divide by the greedy's impact, which places the 'greedy' count")
    columns = ("N", "limit", "scheduled", "greedy", "obj/greedy", "bound/greedy", "gap", "wall", "RSS")
    print(" ".join(f"{name:>{width}}" for name, width in zip(columns, (6, 6, 10, 6, 11, 13, 7, 7, 8), strict=True)))
    for requests in sizes:
        for limit in limits:
            done = subprocess.run(
                [sys.executable, __file__, "--row", str(requests), str(limit)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(done.stdout)
            print(
                f"{requests:>6} {limit:>5.0f}s {row['scheduled']:>5.0f}/{requests:<4} {row['greedy']:>6.0f} "
                f"{row['ratio']:>11.3f} {row['bound']:>13.3f} {row['gap']:>7.1%} "
                f"{row['wall']:>6.1f}s {row['rss']:>6.0f}MB"
            )
            if "replan" in row:
                print(f"{'':>14}re-plan after one veto: {row['replan']:.2f} s, {row['moved']:.0f} windows moved")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="also run 10,000 requests")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--congested", action="store_true", help="the congested table (N = 200, 1,000, 5,000)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 5000])
    parser.add_argument("--limits", type=float, nargs="+", default=[10.0, 30.0, 60.0])
    parser.add_argument("--row", nargs=2, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.row:
        print(json.dumps(congested_row(int(args.row[0]), args.row[1])))
        return
    if args.congested:
        congested_table(args.sizes, args.limits)
        return
    problem = generate()
    started = time.perf_counter()
    version = solve(problem, time_limit_s=args.time_limit)
    report("1,000 requests", version, time.perf_counter() - started)
    baseline, placed = greedy_objective(problem)
    print(
        f"greedy baseline: objective {baseline:,.0f} ({placed} scheduled), "
        f"{(baseline - version.objective) / version.objective:+.2%} against the optimizer"
    )
    if args.large:
        large = generate(requests=10_000, resources=2_000, seed=11)
        started = time.perf_counter()
        version = solve(large, time_limit_s=args.time_limit)
        report("10,000 requests", version, time.perf_counter() - started)


if __name__ == "__main__":
    main()
