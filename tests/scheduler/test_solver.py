"""The solver's contract: hard rules, reasons, windows, status, ties and time limit (docs/format.md 3, 5)."""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

import pytest
from engine_factories import (
    HOUR,
    T0,
    make_event,
    make_grid,
    make_objection,
    make_problem,
    make_profile,
    make_region,
    make_request,
    make_stakeholder,
    reference_impact,
    window_violations,
)

from scheduler.domain import Problem, Profile, Request, TimeRange, Unscheduled, Version
from scheduler.solver import solve

INCREASING = make_profile([hour / 100 for hour in range(24)])  # the earliest start is the cheapest
DECREASING = make_profile([(24 - hour) / 100 for hour in range(24)])  # the latest start is the cheapest


def _problem(*requests: Request, profile: Profile = INCREASING, **overrides: object) -> Problem:
    """The default 24-hour horizon with one region of the given profile."""
    return make_problem(regions=(make_region(profile=profile),), requests=requests, **overrides)


def _reasons(version: Version, request: str) -> set[str]:
    (unscheduled,) = [item for item in version.unscheduled if item.request == request]
    return set(unscheduled.reasons)


# --- Single-request rules and their reason ids ------------------------------------------------


def test_request_longer_than_the_horizon_is_unscheduled_for_horizon() -> None:
    request = make_request(duration=25 * HOUR, deadline=T0 + 30 * 24 * HOUR)

    version = solve(_problem(request))

    assert version.windows == ()
    assert version.unscheduled == (Unscheduled("q1", ("horizon",)),)
    assert version.status == "infeasible"


@pytest.mark.parametrize(
    ("earliest", "deadline", "duration"),
    [
        (T0 + 10 * HOUR, T0 + 12 * HOUR, 3 * HOUR),
        # 2h fits between 10:30 and 12:30 as instants, but no slot boundary at or after 10:30
        # leaves two whole slots before 12:30.
        (T0 + 10.5 * HOUR, T0 + 12.5 * HOUR, 2 * HOUR),
    ],
    ids=["range-shorter-than-duration", "unaligned-bounds"],
)
def test_range_too_short_is_unscheduled_for_earliest_and_deadline(
    earliest: datetime, deadline: datetime, duration: timedelta
) -> None:
    request = make_request(earliest=earliest, deadline=deadline, duration=duration)

    version = solve(_problem(request))

    assert version.windows == ()
    assert _reasons(version, "q1") == {"earliest", "deadline"}


def test_notice_ending_after_the_deadline_is_unscheduled_for_notice_and_deadline() -> None:
    request = make_request(notice=12 * HOUR, deadline=T0 + 10 * HOUR)

    version = solve(_problem(request, now=T0 + 2 * HOUR))

    assert version.windows == ()
    assert _reasons(version, "q1") == {"notice", "deadline"}


def test_window_starts_at_the_first_slot_boundary_after_now_plus_notice() -> None:
    request = make_request(notice=2 * HOUR)

    (window,) = solve(_problem(request, now=T0 + 1.5 * HOUR)).windows

    assert window.start == T0 + 4 * HOUR


@pytest.mark.parametrize(
    ("profile", "expected_start"),
    [(INCREASING, T0 + 6 * HOUR), (DECREASING, T0 + 8 * HOUR)],
    ids=["cheapest-first", "cheapest-last"],
)
def test_window_keeps_unaligned_earliest_and_deadline_as_instants(profile: Profile, expected_start: datetime) -> None:
    # 90 minutes covers two hourly slots: start >= 05:30, start + 2h <= 10:30.
    request = make_request(earliest=T0 + 5.5 * HOUR, deadline=T0 + 10.5 * HOUR, duration=timedelta(minutes=90))

    (window,) = solve(_problem(request, profile=profile)).windows

    assert (window.start, window.end) == (expected_start, expected_start + 2 * HOUR)


@pytest.mark.parametrize("slot_minutes", [15, 60])
@pytest.mark.parametrize("minutes", [1, 14, 15, 16, 59, 60, 61, 90, 120])
def test_window_starts_on_a_slot_boundary_and_covers_whole_slots(slot_minutes: int, minutes: int) -> None:
    grid = make_grid(slot_minutes=slot_minutes, count=24 * 60 // slot_minutes)
    request = make_request(duration=timedelta(minutes=minutes), earliest=T0 + timedelta(minutes=7))
    slot = timedelta(minutes=slot_minutes)
    slots = -(-minutes // slot_minutes)

    (window,) = solve(make_problem(grid=grid, requests=(request,))).windows

    assert (window.start - T0) % slot == timedelta(0)
    assert window.start == T0 + slot  # first boundary at or after 00:07 with a flat profile
    assert window.end == window.start + slots * slot


def test_blackout_over_the_whole_range_is_the_reason() -> None:
    version = solve(_problem(make_request(), events=(make_event("launch"),)))

    assert version.unscheduled == (Unscheduled("q1", ("event:launch",)),)


def test_partial_blackout_pushes_the_window_past_it() -> None:
    blackout = make_event("launch", start=T0, end=T0 + 21.5 * HOUR)  # the slot starting 21:00 belongs

    (window,) = solve(_problem(make_request(), events=(blackout,))).windows

    assert window.start == T0 + 22 * HOUR


def test_window_may_end_where_a_blackout_starts() -> None:
    blackout = make_event("launch", start=T0 + 2 * HOUR, end=T0 + 24 * HOUR)
    request = make_request(duration=2 * HOUR)

    (window,) = solve(_problem(request, profile=DECREASING, events=(blackout,))).windows

    assert (window.start, window.end) == (T0, T0 + 2 * HOUR)


def test_blackout_in_a_region_the_request_does_not_touch_does_not_block_it() -> None:
    regions = (make_region("r1"), make_region("r2"))
    blackout = make_event("iran-only", regions=frozenset({"r2"}))

    version = solve(make_problem(regions=regions, requests=(make_request(),), events=(blackout,)))

    assert [window.request for window in version.windows] == ["q1"]


def test_blackout_in_a_service_the_request_does_not_touch_does_not_block_it() -> None:
    services = {"web": 0.5, "mobile": 0.5}
    region = make_region(shares=dict(services))
    request = make_request(services=frozenset({"web"}))
    blackout = make_event("app-launch", services=frozenset({"mobile"}))

    version = solve(make_problem(services=services, regions=(region,), requests=(request,), events=(blackout,)))

    assert [window.request for window in version.windows] == ["q1"]


def test_blackout_on_one_of_the_request_regions_and_services_blocks_it() -> None:
    services = {"web": 0.5, "mobile": 0.5}
    regions = (make_region("r1", shares=dict(services)), make_region("r2", shares=dict(services)))
    request = make_request(services=frozenset({"web", "mobile"}), regions=frozenset({"r1", "r2"}))
    blackout = make_event("iran-app", regions=frozenset({"r2"}), services=frozenset({"mobile"}))

    version = solve(make_problem(services=services, regions=regions, requests=(request,), events=(blackout,)))

    assert version.unscheduled == (Unscheduled("q1", ("event:iran-app",)),)


def test_weight_event_does_not_block() -> None:
    event = make_event("busy", weight=100.0, blackout=False)

    assert len(solve(_problem(make_request(), events=(event,))).windows) == 1


def test_veto_over_the_whole_range_is_the_reason() -> None:
    veto = make_objection("veto:3", kind="veto", avoid=(TimeRange(T0, T0 + 24 * HOUR),))

    version = solve(_problem(make_request(), stakeholders=(make_stakeholder(),), objections=(veto,)))

    assert version.unscheduled == (Unscheduled("q1", ("veto:3",)),)


def test_veto_moves_the_window_out_of_its_avoid_range() -> None:
    veto = make_objection(
        "veto:3", kind="veto", avoid=(TimeRange(T0, T0 + 2 * HOUR), TimeRange(T0 + 3 * HOUR, T0 + 23 * HOUR))
    )
    request = make_request()

    (window,) = solve(_problem(request, stakeholders=(make_stakeholder(),), objections=(veto,))).windows

    assert window.start == T0 + 2 * HOUR


def test_veto_and_soft_objection_on_other_requests_do_not_block() -> None:
    objections = (
        make_objection("veto:1", request="other"),
        make_objection("soft:2", kind="soft", weight=50.0),
    )
    problem = _problem(make_request(), stakeholders=(make_stakeholder(),), objections=objections)

    assert [window.request for window in solve(problem).windows] == ["q1"]


def test_two_requests_that_fit_only_in_the_same_slot_name_the_resource_and_the_placed_request() -> None:
    common = {
        "earliest": T0 + 5 * HOUR,
        "deadline": T0 + 7 * HOUR,
        "duration": 2 * HOUR,
        "resources": frozenset({"db"}),
    }
    problem = _problem(make_request("a", **common), make_request("b", **common))

    version = solve(problem)

    (window,) = version.windows
    (unscheduled,) = version.unscheduled
    assert window.start == T0 + 5 * HOUR
    assert set(unscheduled.reasons) == {"earliest", "deadline", f"resource:db with request:{window.request}"}
    assert version.status == "optimal"


def test_requests_sharing_no_resource_may_overlap() -> None:
    common = {"earliest": T0 + 5 * HOUR, "deadline": T0 + 7 * HOUR, "duration": 2 * HOUR}
    problem = _problem(
        make_request("a", resources=frozenset({"db-1"}), **common),
        make_request("b", resources=frozenset({"db-2"}), **common),
    )

    assert [window.start for window in solve(problem).windows] == [T0 + 5 * HOUR] * 2


# --- after ---------------------------------------------------------------------------------------


def test_successor_of_an_unscheduled_request_is_unscheduled_for_after() -> None:
    predecessor = make_request("p", duration=25 * HOUR, deadline=T0 + 30 * 24 * HOUR)
    successor = make_request("s", after=("p",))

    version = solve(_problem(predecessor, successor))

    assert version.windows == ()
    assert dict((item.request, item.reasons) for item in version.unscheduled) == {"p": ("horizon",), "s": ("after:p",)}


def test_successor_of_a_request_missing_from_the_problem_is_unscheduled_for_after() -> None:
    version = solve(_problem(make_request("s", after=("withdrawn",))))

    assert version.unscheduled == (Unscheduled("s", ("after:withdrawn",)),)


def test_successor_starts_when_its_predecessor_ends() -> None:
    predecessor = make_request("p", earliest=T0 + 10 * HOUR, duration=2 * HOUR)
    successor = make_request("s", after=("p",))  # alone it would take 00:00, the cheapest hour

    version = solve(_problem(predecessor, successor))

    windows = version.window_by_request
    assert windows["p"].start == T0 + 10 * HOUR
    assert windows["s"].start == windows["p"].end == T0 + 12 * HOUR


def test_successor_sharing_a_resource_may_touch_its_predecessor() -> None:
    common = {
        "earliest": T0 + 5 * HOUR,
        "deadline": T0 + 9 * HOUR,
        "duration": 2 * HOUR,
        "resources": frozenset({"db"}),
    }
    problem = _problem(make_request("a", **common), make_request("b", after=("a",), **common))

    windows = solve(problem).window_by_request

    assert (windows["a"].start, windows["a"].end) == (T0 + 5 * HOUR, T0 + 7 * HOUR)
    assert (windows["b"].start, windows["b"].end) == (T0 + 7 * HOUR, T0 + 9 * HOUR)


def test_successor_left_no_room_after_its_predecessor_names_after_and_its_own_rule() -> None:
    predecessor = make_request("p", earliest=T0 + 20 * HOUR, duration=2 * HOUR)
    successor = make_request("s", after=("p",), deadline=T0 + 21 * HOUR)

    version = solve(_problem(predecessor, successor))

    assert [window.request for window in version.windows] == ["p"]
    assert _reasons(version, "s") == {"after:p", "deadline"}


# --- What the optimizer returns ------------------------------------------------------------------


def test_most_requests_first_even_when_placing_one_alone_is_cheaper() -> None:
    # Hours 0-1 are nearly free, hours 2-3 are expensive; both 2h windows fit only as 0-2 and 2-4.
    profile = make_profile([0.01, 0.01, 1.0, 1.0] + [1.0] * 20)
    common = {"deadline": T0 + 4 * HOUR, "duration": 2 * HOUR, "resources": frozenset({"db"})}
    problem = _problem(make_request("a", **common), make_request("b", **common), profile=profile)

    version = solve(problem)

    assert sorted(window.start for window in version.windows) == [T0, T0 + 2 * HOUR]
    assert version.objective == pytest.approx(
        sum(reference_impact(problem, problem.request_by_id[w.request], w.start) for w in version.windows)
    )
    assert version.status == "optimal"


def test_most_requests_first_when_one_request_cheapest_start_blocks_the_other() -> None:
    # a alone would take 01:00 (its cheapest hour), leaving no room for b's two hours before 03:00.
    profile = make_profile([0.5, 0.1] + [0.5] * 22)
    a = make_request("a", deadline=T0 + 2 * HOUR, resources=frozenset({"db"}))
    b = make_request("b", deadline=T0 + 3 * HOUR, duration=2 * HOUR, resources=frozenset({"db"}))

    version = solve(_problem(a, b, profile=profile))

    windows = version.window_by_request
    assert (windows["a"].start, windows["b"].start) == (T0, T0 + HOUR)
    assert version.status == "optimal"


def test_proven_schedule_is_optimal_with_bound_equal_to_objective() -> None:
    common = {"duration": 3 * HOUR, "resources": frozenset({"db"})}
    problem = _problem(*(make_request(f"q{i}", **common) for i in range(4)))

    version = solve(problem)

    assert version.status == "optimal"
    assert version.bound == version.objective
    assert [window.start for window in version.windows] == [T0 + 3 * HOUR * i for i in range(4)]
    assert window_violations(problem, version) == []


def test_nothing_placeable_is_infeasible() -> None:
    problem = _problem(
        make_request("a", duration=25 * HOUR, deadline=T0 + 30 * 24 * HOUR),
        make_request("b", earliest=T0 + 30 * HOUR, deadline=T0 + 40 * HOUR),
    )

    version = solve(problem)

    assert version.status == "infeasible"
    assert version.windows == ()
    assert [item.request for item in version.unscheduled] == ["a", "b"]
    assert all(item.reasons for item in version.unscheduled)


def test_some_placed_is_not_infeasible() -> None:
    problem = _problem(make_request("a"), make_request("b", duration=25 * HOUR, deadline=T0 + 30 * 24 * HOUR))

    assert solve(problem).status == "optimal"


# --- Ties keep the previous version ---------------------------------------------------------------


def test_equal_cost_starts_keep_the_previous_window() -> None:
    flat = make_problem()
    assert solve(flat).windows[0].start == T0  # without a previous version, ties go to the earliest

    previous = solve(make_problem(requests=(make_request(earliest=T0 + 7 * HOUR),)))
    assert previous.windows[0].start == T0 + 7 * HOUR

    version = solve(flat, previous=previous)

    assert version.windows[0].start == T0 + 7 * HOUR
    assert version.moved == ()
    assert version.version == previous.version + 1


def test_previous_window_no_longer_allowed_moves_and_is_listed() -> None:
    previous = solve(make_problem(requests=(make_request(earliest=T0 + 7 * HOUR),)))
    veto = make_objection("veto:1", avoid=(TimeRange(T0 + 7 * HOUR, T0 + 8 * HOUR),))
    problem = make_problem(stakeholders=(make_stakeholder(),), objections=(veto,))

    version = solve(problem, previous=previous)

    assert version.windows[0].start == T0
    assert version.moved == ("q1",)


def test_ties_keep_as_many_previous_windows_as_the_resources_allow() -> None:
    # Before: a and b at 05:00 on separate resources, c at 12:00. Now all three share one resource.
    before = make_problem(
        requests=(
            make_request("a", earliest=T0 + 5 * HOUR, deadline=T0 + 6 * HOUR, resources=frozenset({"x"})),
            make_request("b", earliest=T0 + 5 * HOUR, deadline=T0 + 6 * HOUR, resources=frozenset({"y"})),
            make_request("c", earliest=T0 + 12 * HOUR, deadline=T0 + 13 * HOUR, resources=frozenset({"z"})),
        )
    )
    previous = solve(before)
    now_shared = make_problem(requests=tuple(make_request(i, resources=frozenset({"db"})) for i in "abc"))

    version = solve(now_shared, previous=previous)

    starts = {window.request: window.start for window in version.windows}
    assert starts["c"] == T0 + 12 * HOUR
    assert sorted([starts["a"] == T0 + 5 * HOUR, starts["b"] == T0 + 5 * HOUR]) == [False, True]
    assert len(version.moved) == 1
    assert window_violations(now_shared, version) == []


def test_ties_do_not_move_a_window_that_could_stay() -> None:
    # Before: a and b at 05:00 on separate resources, c at 00:00. Now all three share one resource
    # and cost the same everywhere: only one of a and b has to move.
    before = make_problem(
        requests=(
            make_request("a", earliest=T0 + 5 * HOUR, deadline=T0 + 6 * HOUR, resources=frozenset({"x"})),
            make_request("b", earliest=T0 + 5 * HOUR, deadline=T0 + 6 * HOUR, resources=frozenset({"y"})),
            make_request("c", deadline=T0 + HOUR, resources=frozenset({"z"})),
        )
    )
    previous = solve(before)
    now_shared = make_problem(requests=tuple(make_request(i, resources=frozenset({"db"})) for i in "abc"))

    version = solve(now_shared, previous=previous)

    assert version.window_by_request["c"].start == T0
    assert len(version.moved) == 1


# --- Determinism and time limit ------------------------------------------------------------------


def _busy_problem(requests: int, *, seed: int, days: int = 2, slot_minutes: int = 60) -> Problem:
    """Many requests on a few resources with random durations, ranges, profile and ``after`` links."""
    rng = random.Random(seed)
    grid = make_grid(slot_minutes=slot_minutes, count=days * 24 * 60 // slot_minutes)
    regions = (
        make_region(
            "us", timezone="America/Los_Angeles", users=4e6, profile=make_profile([rng.random() for _ in range(24)])
        ),
        make_region("ir", timezone="Asia/Tehran", users=1e6, profile=make_profile([rng.random() for _ in range(24)])),
    )
    made: list[Request] = []
    for i in range(requests):
        earliest = T0 + timedelta(minutes=slot_minutes * rng.randrange(grid.count // 2))
        after = (made[rng.randrange(i)].id,) if i and rng.random() < 0.15 else ()
        made.append(
            make_request(
                f"q{i:02d}",
                duration=timedelta(minutes=rng.choice([30, 60, 90, 120, 240])),
                earliest=earliest,
                deadline=earliest + timedelta(hours=rng.randint(6, 24 * days)),
                regions=frozenset(rng.sample(["us", "ir"], rng.randint(1, 2))),
                resources=frozenset(rng.sample(["db", "net", "dc"], rng.randint(1, 2))),
                after=after,
            )
        )
    events = (make_event("protests", regions=frozenset({"ir"}), start=T0 + 30 * HOUR, end=T0 + 34 * HOUR),)
    return make_problem(grid=grid, regions=regions, requests=tuple(made), events=events)


def test_same_problem_and_seed_give_the_same_version() -> None:
    problem = _busy_problem(12, seed=7)

    first = solve(problem, seed=3)
    second = solve(problem, seed=3)

    assert first == second
    assert window_violations(problem, first) == []


def test_time_limit_returns_quickly_with_valid_windows() -> None:
    problem = _busy_problem(60, seed=11, days=7, slot_minutes=15)

    started = time.monotonic()
    version = solve(problem, time_limit_s=0.01)
    elapsed = time.monotonic() - started

    assert elapsed < 5.0
    assert version.status in ("feasible", "optimal")
    assert version.windows
    assert window_violations(problem, version) == []
    assert version.bound <= version.objective + 1e-6
    assert {w.request for w in version.windows} | {u.request for u in version.unscheduled} == {
        r.id for r in problem.requests
    }


def test_time_limited_bound_never_exceeds_a_schedule_placing_as_many() -> None:
    # q1 (2h, only at 00:00) and q2 (1h, 00:00 or 01:00) exclude each other; 40 zero-cost requests fill
    # the rest of the resource so the search cannot finish in time. The best schedule places the 40
    # and q2 at 00:00: 1 user * 0.001 active * 0.4 mobile share * 60 minutes = 0.024.
    services = {"web": 0.6, "mobile": 0.4}
    regions = (
        make_region("trap", users=1.0, profile=make_profile([0.001] * 24), shares=dict(services)),
        make_region("idle", profile=make_profile([0.0] * 24), shares=dict(services)),
    )
    grid = make_grid(count=8 + 4 * 40)
    trap = {"deadline": T0 + 2 * HOUR, "regions": frozenset({"trap"}), "resources": frozenset({"db"})}
    fillers = [
        make_request(
            f"f{i:02d}",
            duration=4 * HOUR,
            earliest=T0 + (8 + 4 * i) * HOUR,
            deadline=grid.end,
            services=frozenset({"web"}),
            regions=frozenset({"idle"}),
            resources=frozenset({"db"}),
        )
        for i in range(40)
    ]
    problem = make_problem(
        grid=grid,
        services=services,
        regions=regions,
        requests=(
            make_request("q1", duration=2 * HOUR, services=frozenset({"web"}), **trap),
            make_request("q2", duration=HOUR, services=frozenset({"mobile"}), **trap),
            *fillers,
        ),
    )

    version = solve(problem, time_limit_s=0)

    assert len(version.windows) == 41
    assert window_violations(problem, version) == []
    assert version.bound <= 0.024 + 1e-12
