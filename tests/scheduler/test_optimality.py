"""The optimizer against exhaustive search on small random instances (docs/format.md section 5).

The brute force enumerates, for every request, each start the rules allow or "unscheduled", keeps
the combinations that respect resources and ``after``, and takes the most requests placed, then the
least total impact; impacts and rules come from the independent oracles in ``engine_factories``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from engine_factories import (
    make_event,
    make_grid,
    make_problem,
    make_profile,
    make_region,
    make_request,
    reference_impact,
    single_request_violations,
    window_end,
    window_violations,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain import Problem, Request, Version
from scheduler.solver import solve

ZONES = ("UTC", "America/Los_Angeles", "Asia/Tehran", "Asia/Kolkata", "Europe/Paris")
GRID_STARTS = (datetime(2024, 6, 3, tzinfo=UTC), datetime(2024, 3, 10, 4, tzinfo=UTC))
RESOURCES = ("db", "net", "dc", "lb")
SERVICES = {"web": 0.6, "mobile": 0.4}
# Widest earliest-to-deadline range (in hours) per number of requests, so the search stays small.
WIDEST_RANGE = {2: 24, 3: 14, 4: 9, 5: 6}
LIKELY_NOT = st.sampled_from([False, False, True])  # about one time in three


@dataclass(frozen=True)
class Option:
    start: int  # slot index
    end: int
    impact: float


@dataclass(frozen=True)
class Optimum:
    scheduled: int
    impact: float


def brute_force(problem: Problem) -> Optimum:
    """Every combination of allowed start or unscheduled per request; most placed, then least impact."""
    grid = problem.grid
    slot = grid.slot
    options: dict[str, list[Option]] = {}
    for request in problem.requests:
        options[request.id] = []
        for index in range(grid.count):
            start = grid.instant(index)
            if not single_request_violations(problem, request, start):
                slots = math.ceil(request.duration / slot)
                options[request.id].append(Option(index, index + slots, reference_impact(problem, request, start)))
    requests = _predecessors_first(problem.requests)
    best = Optimum(0, 0.0)
    chosen: dict[str, Option | None] = {}

    def fits(request: Request, option: Option) -> bool:
        for predecessor in request.after:
            before = chosen.get(predecessor)
            if before is None or option.start < before.end:
                return False
        for other_id, other in chosen.items():
            if other is None or not (request.resources & problem.request_by_id[other_id].resources):
                continue
            if option.start < other.end and other.start < option.end:
                return False
        return True

    def search(position: int, scheduled: int, impact: float) -> None:
        nonlocal best
        if scheduled + len(requests) - position < best.scheduled:
            return  # even placing all the rest would place fewer than the best found
        if position == len(requests):
            if scheduled > best.scheduled or (scheduled == best.scheduled and impact < best.impact):
                best = Optimum(scheduled, impact)
            return
        request = requests[position]
        for option in options[request.id]:
            if fits(request, option):
                chosen[request.id] = option
                search(position + 1, scheduled + 1, impact + option.impact)
                del chosen[request.id]
        chosen[request.id] = None
        search(position + 1, scheduled, impact)
        del chosen[request.id]

    search(0, 0, 0.0)
    return best


def _predecessors_first(requests: tuple[Request, ...]) -> list[Request]:
    ordered: list[Request] = []
    placed: set[str] = set()
    remaining = list(requests)
    while remaining:
        ready = [r for r in remaining if all(p in placed for p in r.after)]
        ordered += ready
        placed |= {r.id for r in ready}
        remaining = [r for r in remaining if r.id not in placed]
    return ordered


def assert_matches_brute_force(problem: Problem, version: Version) -> None:
    """Same number placed, same objective, every rule kept, each window's impact as in docs/format.md section 4."""
    optimum = brute_force(problem)
    assert window_violations(problem, version) == []
    assert len(version.windows) == optimum.scheduled
    assert version.objective == pytest.approx(optimum.impact, rel=1e-6, abs=1e-6)
    for window in version.windows:
        request = problem.request_by_id[window.request]
        assert window.impact == pytest.approx(reference_impact(problem, request, window.start), rel=1e-9, abs=1e-6)
    assert version.status == ("optimal" if version.windows else "infeasible")
    assert version.bound == version.objective
    assert len(version.unscheduled) == len(problem.requests) - len(version.windows)
    for item in version.unscheduled:
        assert "time-limit" not in item.reasons
        assert_reasons_leave_no_room(problem, version, problem.request_by_id[item.request], item.reasons)


def assert_reasons_leave_no_room(
    problem: Problem, version: Version, request: Request, reasons: tuple[str, ...]
) -> None:
    """Every start of the grid is forbidden by at least one of the named rules (docs/format.md section 5.2)."""
    assert reasons
    grid = problem.grid
    windows = version.window_by_request
    for index in range(grid.count):
        start = grid.instant(index)
        end = window_end(problem, request, start)
        broken = set(single_request_violations(problem, request, start))
        for reason in reasons:
            if reason in broken:
                break
            if reason.startswith("after:"):
                before = windows.get(reason.removeprefix("after:"))
                assert reason.removeprefix("after:") in request.after
                if before is None or start < before.end:
                    break
            if reason.startswith("resource:"):
                resource, other = reason.removeprefix("resource:").split(" with request:")
                assert resource in request.resources & problem.request_by_id[other].resources
                held = windows[other]
                if start < held.end and held.start < end:
                    break
        else:
            pytest.fail(f"{request.id} could start at {start}: none of {reasons} forbids it")


def _hours(draw: st.DrawFn) -> tuple[float, ...]:
    # Distinct-ish activity values; hypothesis would otherwise favour all-zero profiles where every schedule ties.
    return tuple(draw(st.lists(st.integers(1, 1000).map(lambda n: n / 1000), min_size=24, max_size=24)))


def _regions(draw: st.DrawFn) -> tuple:  # type: ignore[type-arg]
    return tuple(
        make_region(
            f"r{i}",
            timezone=draw(st.sampled_from(ZONES)),
            users=draw(st.floats(1, 10_000)),
            profile=make_profile(_hours(draw)),
            shares=dict(SERVICES),
        )
        for i in range(draw(st.integers(1, 2)))
    )


def _subset(draw: st.DrawFn, items: list[str], min_size: int = 1, max_size: int | None = None) -> frozenset[str]:
    size = len(items) if max_size is None else max_size
    return frozenset(draw(st.lists(st.sampled_from(items), min_size=min_size, max_size=size, unique=True)))


@st.composite
def small_instances(draw: st.DrawFn) -> Problem:
    """2-5 requests on 2-4 resources, 8-24 hourly slots, random ranges, ``after`` links and blackouts."""
    grid = make_grid(start=draw(st.sampled_from(GRID_STARTS)), count=draw(st.integers(8, 24)))
    regions = _regions(draw)
    region_ids = [region.id for region in regions]
    resources = list(RESOURCES[: draw(st.integers(2, 4))])
    count = draw(st.integers(2, 5))
    widest = WIDEST_RANGE[count] * 60 - 60
    quarter_hours = st.integers(-4, (grid.count - 2) * 4).map(lambda n: timedelta(minutes=15 * n))
    requests: list[Request] = []
    for i in range(count):
        earliest = grid.start + draw(quarter_hours)
        duration = timedelta(minutes=draw(st.integers(1, 180)))
        earlier = [request.id for request in requests]
        after = _subset(draw, earlier, 0, 2) if earlier and draw(LIKELY_NOT) else frozenset()
        requests.append(
            make_request(
                f"q{i}",
                duration=duration,
                earliest=earliest,
                deadline=earliest + duration + timedelta(minutes=draw(st.integers(0, widest))),
                regions=_subset(draw, region_ids),
                services=_subset(draw, list(SERVICES)),
                severity=draw(st.floats(0.1, 1)),
                resources=_subset(draw, resources, 0, 2),
                after=tuple(sorted(after)),
                notice=timedelta(minutes=draw(st.sampled_from([0, 0, 0, 45, 120]))),
            )
        )
    events = []
    if draw(LIKELY_NOT):
        start = draw(st.integers(0, grid.count - 1))
        events.append(
            make_event(
                "blackout",
                regions=_subset(draw, region_ids),
                services=_subset(draw, list(SERVICES)),
                start=grid.instant(start),
                end=grid.instant(draw(st.integers(start + 1, grid.count))),
            )
        )
    if draw(LIKELY_NOT):
        start = grid.start + draw(quarter_hours)
        events.append(
            make_event(
                "busy",
                regions=_subset(draw, region_ids),
                services=_subset(draw, list(SERVICES)),
                start=start,
                end=start + timedelta(hours=draw(st.integers(1, 12))),
                weight=draw(st.floats(0.5, 10)),
                blackout=False,
            )
        )
    now = grid.start + timedelta(minutes=draw(st.sampled_from([0, 0, 0, 90, 240])))
    return make_problem(
        grid=grid,
        now=now,
        services=dict(SERVICES),
        regions=regions,
        requests=tuple(requests),
        events=tuple(events),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_solver_matches_brute_force_on_small_instances(problem: Problem) -> None:
    assert_matches_brute_force(problem, solve(problem))


@st.composite
def one_busy_resource(draw: st.DrawFn) -> Problem:
    """3-4 requests of 1-2 slots all holding ``db``, allowed anywhere in a 12-16 slot horizon.

    Each request has more allowed starts than 1 + sum(d_c + d_o - 1) over the others, the number
    of cheapest starts among which one is always free, so the optimizer can drop the rest.
    """
    grid = make_grid(start=draw(st.sampled_from(GRID_STARTS)), count=draw(st.integers(12, 16)))
    regions = tuple(
        make_region(f"r{i}", timezone=zone, profile=make_profile(_hours(draw)), shares={"all": 1.0})
        for i, zone in enumerate(["UTC", draw(st.sampled_from(ZONES))])
    )
    requests = tuple(
        make_request(
            f"q{i}",
            duration=timedelta(minutes=draw(st.sampled_from([30, 60, 90, 120]))),
            earliest=grid.start,
            deadline=grid.end,
            regions=_subset(draw, ["r0", "r1"]),
            severity=draw(st.floats(0.1, 1)),
            resources=frozenset({"db"}) | _subset(draw, ["net"], 0, 1),
        )
        for i in range(draw(st.integers(3, 4)))
    )
    return make_problem(grid=grid, regions=regions, requests=requests)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_busy_resource())
def test_pruned_starts_still_match_brute_force(problem: Problem) -> None:
    slots = {r.id: math.ceil(r.duration / problem.grid.slot) for r in problem.requests}
    for request in problem.requests:
        kept = 1 + sum(slots[request.id] + slots[other] - 1 for other in slots if other != request.id)
        assert problem.grid.count - slots[request.id] + 1 > kept  # pruning has starts to drop

    assert_matches_brute_force(problem, solve(problem))
