"""Impact in user-minutes (docs/format.md section 4), checked against an independent reading of the formula."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
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
    reference_impact_by_region,
    single_request_violations,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain import Objection, Problem, Request, Stakeholder, TimeRange
from scheduler.impact import ImpactModel
from scheduler.solver import solve
from scheduler.timeline import SlotGrid

# Zones with DST, half-hour and quarter-hour offsets, and Lord Howe's half-hour DST shift.
ZONES = (
    "UTC",
    "America/Los_Angeles",
    "Europe/Paris",
    "Asia/Tehran",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
# Horizon starts around DST changes (US and EU spring forward, US fall back, Lord Howe fall back).
GRID_STARTS = (
    datetime(2024, 3, 10, 6, tzinfo=UTC),
    datetime(2024, 3, 30, 20, tzinfo=UTC),
    datetime(2024, 11, 3, 4, tzinfo=UTC),
    datetime(2024, 4, 6, 12, tzinfo=UTC),
    datetime(2009, 6, 15, 19, 45, tzinfo=UTC),
)
SERVICES = ("web", "mobile", "dm")


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-9, abs=1e-6)


def _subset(draw: st.DrawFn, items: list[str]) -> frozenset[str]:
    return frozenset(draw(st.lists(st.sampled_from(items), min_size=1, max_size=len(items), unique=True)))


@st.composite
def impact_problems(draw: st.DrawFn) -> Problem:
    """A random one-request problem exercising every factor of the impact formula."""
    slot_minutes = draw(st.sampled_from([15, 30, 60]))
    count = draw(st.integers(4, 36))
    grid = SlotGrid(start=draw(st.sampled_from(GRID_STARTS)), slot_minutes=slot_minutes, count=count)
    span = count * slot_minutes
    services = list(SERVICES[: draw(st.integers(1, 3))])
    scenario_shares = {k: draw(st.floats(0, 1 / len(services))) for k in services}
    shares = st.floats(0, 1 / len(services))
    regions = []
    for i in range(draw(st.integers(1, 3))):
        size = draw(st.sampled_from([24, 168]))
        profile = make_profile(draw(st.lists(st.floats(0, 1), min_size=size, max_size=size)))
        override = draw(st.booleans())
        regions.append(
            make_region(
                f"r{i}",
                timezone=draw(st.sampled_from(ZONES)),
                users=draw(st.floats(1, 1e6)),
                profile=profile,
                shares={k: draw(shares) for k in services} if override else dict(scenario_shares),
            )
        )
    region_ids = [region.id for region in regions]
    minutes = st.integers(-2 * slot_minutes, span + 2 * slot_minutes)
    events = []
    for i in range(draw(st.integers(0, 3))):
        start = grid.start + timedelta(minutes=draw(minutes))
        blackout = draw(st.integers(0, 4)) == 0
        events.append(
            make_event(
                f"e{i}",
                regions=_subset(draw, region_ids),
                services=_subset(draw, services),
                start=start,
                end=start + timedelta(minutes=draw(st.integers(1, span))),
                weight=None if blackout else draw(st.floats(0.1, 10)),
                blackout=blackout,
            )
        )
    stakeholders = [
        make_stakeholder(
            f"s{i}",
            role=draw(st.sampled_from(["representative", "approver"])),
            regions=_subset(draw, region_ids),
            services=frozenset(services),
        )
        for i in range(draw(st.integers(0, 3)))
    ]
    objections = []
    if stakeholders:
        for i in range(draw(st.integers(0, 4))):
            avoid = []
            for _ in range(draw(st.integers(1, 2))):
                start = grid.start + timedelta(minutes=draw(minutes))
                avoid.append(TimeRange(start, start + timedelta(minutes=draw(st.integers(1, span)))))
            objections.append(
                make_objection(
                    f"soft:{i}",
                    by=draw(st.sampled_from([s.id for s in stakeholders])),
                    kind="soft",
                    avoid=tuple(avoid),
                    weight=draw(st.floats(0.1, 20)),
                )
            )
    preferred = None
    if draw(st.booleans()):
        preferred = grid.start + draw(st.integers(-4, count + 4)) * grid.slot
    request = make_request(
        "q1",
        duration=timedelta(minutes=draw(st.integers(1, span))),
        earliest=grid.start,
        deadline=grid.end,
        services=_subset(draw, services),
        regions=_subset(draw, region_ids),
        severity=draw(st.floats(0.01, 1)),
        preferred=preferred,
    )
    return make_problem(
        grid=grid,
        services=scenario_shares,
        regions=tuple(regions),
        requests=(request,),
        events=tuple(events),
        stakeholders=tuple(stakeholders),
        objections=tuple(objections),
    )


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(impact_problems())
def test_window_costs_match_the_formula_at_every_start(problem: Problem) -> None:
    request = problem.requests[0]
    grid = problem.grid
    slots = grid.slots_for(request.duration)
    model = ImpactModel(problem)

    costs = model.window_costs(request, slots)

    for start in range(grid.count):
        if start + slots > grid.count:
            assert costs[start] == np.inf
            continue
        expected = reference_impact_by_region(problem, request, grid.instant(start))
        assert costs[start] == approx(sum(expected.values()))
        by_region = model.impact_by_region(request, start, slots)
        assert by_region.keys() == expected.keys()
        for region, value in expected.items():
            assert by_region[region] == approx(value)


@PROPERTY
@given(impact_problems())
def test_solved_window_reports_the_formula_and_the_cheapest_allowed_start(problem: Problem) -> None:
    request = problem.requests[0]
    grid = problem.grid
    allowed = [
        grid.instant(i) for i in range(grid.count) if not single_request_violations(problem, request, grid.instant(i))
    ]

    version = solve(problem)

    if not allowed:
        assert version.windows == ()
        return
    (window,) = version.windows
    expected = reference_impact_by_region(problem, request, window.start)
    assert window.impact == approx(sum(expected.values()))
    assert window.impact == approx(min(reference_impact(problem, request, start) for start in allowed))
    assert window.impact_by_region.keys() == expected.keys()
    for region, value in expected.items():
        assert window.impact_by_region[region] == approx(value)
    assert sum(window.impact_by_region.values()) == approx(window.impact)
    assert version.objective == approx(window.impact)
    if request.preferred is None:
        assert window.preferred_impact is None
    else:
        assert window.preferred_impact == approx(reference_impact(problem, request, request.preferred))


# --- Each factor on a hand-computed case ------------------------------------------------------


def _impact_at(problem: Problem, start: datetime, request: Request | None = None) -> float:
    request = request or problem.requests[0]
    model = ImpactModel(problem)
    slots = problem.grid.slots_for(request.duration)
    return float(model.window_costs(request, slots)[problem.grid.first_at_or_after(start)])


def _increasing_hours() -> tuple[float, ...]:
    return tuple(hour / 100 for hour in range(24))


def test_hourly_profile_reads_the_local_hour_across_spring_forward() -> None:
    # 2024-03-10 in Los Angeles: 01:00 PST is 09:00Z, 03:00 PDT is 10:00Z (02:00 never happens).
    region = make_region(timezone="America/Los_Angeles", users=100.0, profile=make_profile(_increasing_hours()))
    grid = make_grid(start=datetime(2024, 3, 10, 8, tzinfo=UTC), count=4)
    problem = make_problem(grid=grid, regions=(region,))

    assert _impact_at(problem, datetime(2024, 3, 10, 9, tzinfo=UTC)) == approx(100 * 0.01 * 60)
    assert _impact_at(problem, datetime(2024, 3, 10, 10, tzinfo=UTC)) == approx(100 * 0.03 * 60)


def test_weekly_profile_uses_the_local_weekday_with_monday_zero() -> None:
    values = [0.0] * 168
    values[0 * 24 + 9] = 0.25  # Monday 09:00 in Tokyo is T0 (Monday 00:00Z)
    values[6 * 24 + 17] = 0.75  # Sunday 17:00 in Los Angeles (PDT) is T0 too
    tokyo = make_region("tokyo", timezone="Asia/Tokyo", users=10.0, profile=make_profile(values))
    los_angeles = make_region("la", timezone="America/Los_Angeles", users=20.0, profile=make_profile(values))
    request = make_request(regions=frozenset({"tokyo", "la"}))
    problem = make_problem(regions=(tokyo, los_angeles), requests=(request,))

    by_region = ImpactModel(problem).impact_by_region(request, 0, 1)

    assert by_region == {"tokyo": approx(10 * 0.25 * 60), "la": approx(20 * 0.75 * 60)}


def test_severity_duration_and_region_share_overrides_scale_the_impact() -> None:
    services = {"web": 0.6, "mobile": 0.4}
    plain = make_region("plain", users=100.0, profile=make_profile([1.0] * 24), shares=dict(services))
    tilted = make_region("tilted", users=100.0, profile=make_profile([1.0] * 24), shares={"web": 0.1, "mobile": 0.9})
    request = make_request(
        duration=timedelta(minutes=90),  # two hourly slots
        services=frozenset({"web"}),
        regions=frozenset({"plain", "tilted"}),
        severity=0.5,
    )
    problem = make_problem(services=services, regions=(plain, tilted), requests=(request,))

    by_region = ImpactModel(problem).impact_by_region(request, 0, 2)

    assert by_region == {"plain": approx(0.5 * 60 * 2 * 100 * 0.6), "tilted": approx(0.5 * 60 * 2 * 100 * 0.1)}


def test_weight_event_counts_slots_whose_start_lies_in_its_range() -> None:
    # With hourly slots, an event from 10:30 to 12:00 covers only the slot starting at 11:00.
    event = make_event(start=T0 + 10.5 * HOUR, end=T0 + 12 * HOUR, weight=4.0, blackout=False)
    problem = make_problem(events=(event,))
    base = 1000 * 0.5 * 60

    assert _impact_at(problem, T0 + 10 * HOUR) == approx(base)
    assert _impact_at(problem, T0 + 11 * HOUR) == approx(4 * base)
    assert _impact_at(problem, T0 + 12 * HOUR) == approx(base)


def test_overlapping_weight_events_multiply() -> None:
    events = (
        make_event("e1", start=T0, end=T0 + 6 * HOUR, weight=2.0, blackout=False),
        make_event("e2", start=T0 + 3 * HOUR, end=T0 + 9 * HOUR, weight=3.0, blackout=False),
    )
    problem = make_problem(events=events)
    base = 1000 * 0.5 * 60

    assert _impact_at(problem, T0 + 2 * HOUR) == approx(2 * base)
    assert _impact_at(problem, T0 + 4 * HOUR) == approx(6 * base)
    assert _impact_at(problem, T0 + 7 * HOUR) == approx(3 * base)


def test_weight_event_only_multiplies_the_regions_and_services_it_covers() -> None:
    services = {"web": 0.5, "mobile": 0.5}
    regions = (
        make_region("r1", shares=dict(services)),
        make_region("r2", shares=dict(services)),
    )
    event = make_event(regions=frozenset({"r1"}), services=frozenset({"web"}), weight=10.0, blackout=False)
    request = make_request(services=frozenset({"web", "mobile"}), regions=frozenset({"r1", "r2"}))
    problem = make_problem(services=services, regions=regions, requests=(request,), events=(event,))
    half = 1000 * 0.5 * 60 * 0.5

    by_region = ImpactModel(problem).impact_by_region(request, 0, 1)

    assert by_region == {"r1": approx(10 * half + half), "r2": approx(2 * half)}


def _soft(rule: str, by: str, weight: float, start: datetime = T0, end: datetime = T0 + 24 * HOUR) -> Objection:
    return make_objection(rule, by=by, kind="soft", weight=weight, avoid=(TimeRange(start, end),))


def _two_region_problem(stakeholders: tuple[Stakeholder, ...], objections: tuple[Objection, ...]) -> Problem:
    regions = (make_region("r1"), make_region("r2"))
    request = make_request(regions=frozenset({"r1", "r2"}))
    return make_problem(regions=regions, requests=(request,), stakeholders=stakeholders, objections=objections)


BASE = 1000 * 0.5 * 60  # one hour of one default region


def test_soft_objection_weighs_only_the_regions_in_the_objector_scope() -> None:
    stakeholders = (make_stakeholder("rep2", regions=frozenset({"r2"})),)
    problem = _two_region_problem(stakeholders, (_soft("soft:0", "rep2", 3.0),))

    assert ImpactModel(problem).impact_by_region(problem.requests[0], 0, 1) == {
        "r1": approx(BASE),
        "r2": approx(3 * BASE),
    }


def test_approver_soft_objection_weighs_every_region() -> None:
    stakeholders = (make_stakeholder("boss", role="approver", regions=frozenset({"r2"})),)
    problem = _two_region_problem(stakeholders, (_soft("soft:0", "boss", 3.0),))

    assert ImpactModel(problem).impact_by_region(problem.requests[0], 0, 1) == {
        "r1": approx(3 * BASE),
        "r2": approx(3 * BASE),
    }


def test_one_stakeholder_repeating_an_objection_counts_its_largest_weight_once() -> None:
    stakeholders = (make_stakeholder("rep", regions=frozenset({"r1", "r2"})),)
    objections = (_soft("soft:0", "rep", 3.0), _soft("soft:1", "rep", 5.0), _soft("soft:2", "rep", 5.0))
    problem = _two_region_problem(stakeholders, objections)

    assert _impact_at(problem, T0) == approx(2 * 5 * BASE)


def test_objections_of_different_stakeholders_multiply() -> None:
    stakeholders = (make_stakeholder("a", regions=frozenset({"r1"})), make_stakeholder("b", regions=frozenset({"r1"})))
    objections = (_soft("soft:0", "a", 3.0), _soft("soft:1", "b", 5.0))
    problem = _two_region_problem(stakeholders, objections)

    assert ImpactModel(problem).impact_by_region(problem.requests[0], 0, 1)["r1"] == approx(15 * BASE)


def test_soft_objection_counts_slots_whose_start_lies_in_its_avoid_range() -> None:
    stakeholders = (make_stakeholder("rep", regions=frozenset({"r1", "r2"})),)
    objection = _soft("soft:0", "rep", 4.0, start=T0 + 10.5 * HOUR, end=T0 + 12 * HOUR)
    problem = _two_region_problem(stakeholders, (objection,))

    assert _impact_at(problem, T0 + 10 * HOUR) == approx(2 * BASE)
    assert _impact_at(problem, T0 + 11 * HOUR) == approx(2 * 4 * BASE)
    assert _impact_at(problem, T0 + 12 * HOUR) == approx(2 * BASE)


def test_soft_objection_on_another_request_does_not_weigh() -> None:
    stakeholders = (make_stakeholder("rep", regions=frozenset({"r1", "r2"})),)
    objection = replace(_soft("soft:0", "rep", 4.0), request="someone-else")
    problem = _two_region_problem(stakeholders, (objection,))

    assert _impact_at(problem, T0) == approx(2 * BASE)


def test_soft_objection_with_weight_below_one_scales_down() -> None:
    stakeholders = (make_stakeholder("rep", regions=frozenset({"r1", "r2"})),)
    problem = _two_region_problem(stakeholders, (_soft("soft:0", "rep", 0.5),))

    assert _impact_at(problem, T0) == approx(2 * 0.5 * BASE)


# --- preferred_impact ----------------------------------------------------------------------------


def _preferred_problem(**overrides: object) -> Problem:
    region = make_region(users=100.0, profile=make_profile(_increasing_hours()))
    request = make_request(**{"duration": 2 * HOUR, "preferred": T0 + 20 * HOUR, **overrides})
    return make_problem(regions=(region,), requests=(request,))


def _preferred_expected(start_hour: int) -> float:
    return 100 * 60 * (start_hour / 100 + (start_hour + 1) / 100)


def test_preferred_impact_is_computed_inside_a_blackout() -> None:
    problem = replace(_preferred_problem(), events=(make_event(start=T0 + 18 * HOUR, end=T0 + 23 * HOUR),))

    (window,) = solve(problem).windows

    assert window.start == T0  # the cheapest start is also outside the blackout
    assert window.preferred_impact == approx(_preferred_expected(20))


def test_preferred_impact_is_computed_before_earliest_and_after_deadline() -> None:
    before = _preferred_problem(earliest=T0 + 22 * HOUR)
    after = _preferred_problem(preferred=T0 + 20 * HOUR, deadline=T0 + 4 * HOUR)

    assert solve(before).windows[0].preferred_impact == approx(_preferred_expected(20))
    assert solve(after).windows[0].preferred_impact == approx(_preferred_expected(20))


def test_preferred_impact_is_computed_outside_the_horizon() -> None:
    problem = _preferred_problem(preferred=T0 + 26 * HOUR)  # next day, 02:00 UTC

    assert solve(problem).windows[0].preferred_impact == approx(_preferred_expected(2))


def test_preferred_impact_sees_weight_events_and_soft_objections() -> None:
    problem = replace(
        _preferred_problem(),
        events=(make_event(start=T0 + 21 * HOUR, end=T0 + 22 * HOUR, weight=10.0, blackout=False),),
        stakeholders=(make_stakeholder(),),
        objections=(_soft("soft:0", "s1", 3.0, start=T0 + 20 * HOUR, end=T0 + 21 * HOUR),),
    )

    assert solve(problem).windows[0].preferred_impact == approx(100 * 60 * (3 * 0.20 + 10 * 0.21))


def test_no_preferred_means_no_preferred_impact() -> None:
    assert solve(make_problem()).windows[0].preferred_impact is None
