"""Congested components: the greedy floor, the large-neighbourhood search, honest reasons, reproducibility.

The search runs on components too big to prove; here ``EXACT_LIMIT`` is lowered so that small
instances take that path too, where brute force and the greedy can check it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace

import pytest
from engine_factories import (
    HOUR,
    T0,
    make_grid,
    make_objection,
    make_problem,
    make_profile,
    make_region,
    make_request,
    make_stakeholder,
    window_violations,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_optimality import assert_matches_brute_force

import scheduler.candidates
import scheduler.optimizer
from scheduler.candidates import build_candidates
from scheduler.domain import Problem, Request, TimeRange, Version
from scheduler.explain import unscheduled_reasons
from scheduler.greedy import most_constrained_first, placed_count
from scheduler.impact import ImpactModel
from scheduler.rules import Blocked
from scheduler.solver import Planner, solve

ZONES = ("UTC", "America/Los_Angeles", "Asia/Tehran", "Asia/Kolkata")


@pytest.fixture
def searched() -> Iterator[None]:
    """Every component with more than one request goes to the search instead of CP-SAT whole."""
    before = scheduler.optimizer.EXACT_LIMIT
    scheduler.optimizer.EXACT_LIMIT = 0
    yield
    scheduler.optimizer.EXACT_LIMIT = before


def greedy(problem: Problem) -> tuple[int, float]:
    """What the most-constrained-first greedy places, and at what impact."""
    impact = ImpactModel(problem)
    candidates = [
        build_candidates(problem, r, impact.window_costs(r, problem.grid.slots_for(r.duration)))
        for r in problem.requests
    ]
    placement = most_constrained_first(candidates)
    cost = sum(c.cost_at(start) for c in candidates if (start := placement[c.id]) is not None)
    return placed_count(placement), cost


@st.composite
def congested(draw: st.DrawFn, most: int = 5, slots: tuple[int, int] = (8, 14)) -> Problem:
    """Requests that all want one or two shared resources in a short horizon, some ``after`` others."""
    grid = make_grid(count=draw(st.integers(*slots)))
    regions = tuple(
        make_region(
            f"r{i}",
            timezone=zone,
            users=draw(st.floats(1e3, 1e6)),
            profile=make_profile([draw(st.floats(0.01, 1.0)) for _ in range(24)]),
        )
        for i, zone in enumerate(draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=2, unique=True)))
    )
    requests: list[Request] = []
    for i in range(draw(st.integers(2, most))):
        earliest = draw(st.integers(0, grid.count - 2))
        after = (requests[draw(st.integers(0, i - 1))].id,) if i and draw(st.integers(0, 3)) == 0 else ()
        requests.append(
            make_request(
                f"q{i}",
                duration=HOUR * draw(st.integers(1, 3)),
                earliest=T0 + HOUR * earliest,
                deadline=T0 + HOUR * min(earliest + draw(st.integers(2, 8)), grid.count),
                regions=frozenset(draw(st.sets(st.sampled_from([r.id for r in regions]), min_size=1))),
                resources=frozenset(draw(st.sets(st.sampled_from(["db", "net"]), min_size=1))),
                after=after,
            )
        )
    return make_problem(grid=grid, regions=regions, requests=tuple(requests))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(congested())
def test_congested_instances_match_brute_force_count_first_then_impact(problem: Problem) -> None:
    assert_matches_brute_force(problem, solve(problem))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(congested(most=12, slots=(12, 30)))
def test_the_search_never_places_fewer_than_the_greedy_nor_costs_more_when_as_many(
    searched: None, problem: Problem
) -> None:
    placed, cost = greedy(problem)

    version = solve(problem, time_limit_s=30, work_limit=0.5)

    assert window_violations(problem, version) == []
    assert len(version.windows) >= placed
    if len(version.windows) == placed:
        assert version.objective <= cost * (1 + 1e-9) + 1e-9
    assert version.bound <= version.objective * (1 + 1e-9) + 1e-9


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(congested(most=12, slots=(12, 30)))
def test_a_time_limit_of_zero_still_places_as_many_as_the_greedy(problem: Problem) -> None:
    placed, _ = greedy(problem)

    version = solve(problem, time_limit_s=0)

    assert window_violations(problem, version) == []
    assert len(version.windows) >= placed


def _crowded(requests: int, *, seed: int) -> Problem:
    """More one-hour requests on one resource than a day has hours, in random ranges."""
    rng = random.Random(seed)
    grid = make_grid(count=24)
    region = make_region(profile=make_profile([rng.random() for _ in range(24)]))
    made = []
    for i in range(requests):
        earliest = rng.randrange(20)
        made.append(
            make_request(
                f"q{i:02d}",
                duration=HOUR,
                earliest=T0 + HOUR * earliest,
                deadline=T0 + HOUR * min(earliest + rng.randint(2, 6), 24),
                resources=frozenset({"db"}),
            )
        )
    return make_problem(grid=grid, regions=(region,), requests=tuple(made))


def test_an_unproven_search_says_time_limit_and_names_no_other_request(searched: None) -> None:
    problem = _crowded(30, seed=3)

    version = solve(problem, time_limit_s=30, work_limit=0.2)

    assert version.status == "feasible"
    assert version.unscheduled
    for item in version.unscheduled:
        assert "time-limit" in item.reasons
        assert not any("request:" in reason for reason in item.reasons)


def test_a_proven_schedule_never_blames_the_time_limit() -> None:
    problem = _crowded(30, seed=3)

    version = solve(problem, time_limit_s=30)

    assert version.status == "optimal"
    assert version.unscheduled
    for item in version.unscheduled:
        assert "time-limit" not in item.reasons


def test_the_same_seed_and_work_limit_give_the_same_windows(searched: None) -> None:
    problem = _crowded(22, seed=5)

    runs = [solve(problem, time_limit_s=60, seed=4, work_limit=1.0) for _ in range(2)]

    assert runs[0].windows == runs[1].windows
    assert runs[0].unscheduled == runs[1].unscheduled


def test_a_replan_after_a_veto_moves_the_vetoed_window_and_keeps_most_others(searched: None) -> None:
    problem = _crowded(18, seed=8)
    planner = Planner(time_limit_s=30, work_limit=1.0)
    first = planner.solve(problem)
    target = first.windows[len(first.windows) // 2]
    veto = make_objection(
        "veto:0", by="ops", request=target.request, avoid=(TimeRange(target.start, target.end),), kind="veto"
    )
    vetoed = make_problem(
        grid=problem.grid,
        regions=problem.regions,
        requests=problem.requests,
        stakeholders=(make_stakeholder("ops", role="approver"),),
        objections=(veto,),
    )

    second: Version = planner.solve(vetoed, previous=first)

    assert window_violations(vetoed, second) == []
    assert len(second.windows) >= len(first.windows) - 1
    assert second.window_by_request.get(target.request) != target
    kept = [w for w in first.windows if second.window_by_request.get(w.request) == w]
    assert len(kept) >= len(first.windows) // 2


def test_a_searched_component_keeps_the_greedy_floor_with_after_chains(searched: None) -> None:
    problem = _crowded(16, seed=9)
    chained = tuple(
        request if i % 4 == 0 else replace(request, after=(problem.requests[i - 1].id,))
        for i, request in enumerate(problem.requests)
    )
    problem = make_problem(grid=problem.grid, regions=problem.regions, requests=chained)
    placed, _ = greedy(problem)

    version = solve(problem, time_limit_s=30, work_limit=0.5)

    assert window_violations(problem, version) == []
    assert len(version.windows) >= placed


def _reasons_for_successor(*, proven: bool, fixed: bool) -> tuple[str, ...]:
    """q must come after p, and p's window (hours 20-23 of a 24-hour day) leaves q no room."""
    p = make_request("p", duration=3 * HOUR, resources=frozenset({"db"}))
    q = make_request("q", duration=2 * HOUR, after=("p",))
    problem = make_problem(requests=(p, q), fixed={"p": T0 + 20 * HOUR} if fixed else {})
    impact = ImpactModel(problem)
    candidates = {
        r.id: build_candidates(problem, r, impact.window_costs(r, problem.grid.slots_for(r.duration)))
        for r in problem.requests
    }
    return unscheduled_reasons(candidates["q"], {"p": 20, "q": None}, candidates, proven=proven)


def test_a_predecessor_the_search_could_still_move_is_no_proof() -> None:
    assert _reasons_for_successor(proven=False, fixed=False) == ("horizon", "after:p", "time-limit")


def test_a_fixed_predecessor_or_a_proven_search_is_a_proof() -> None:
    assert _reasons_for_successor(proven=False, fixed=True) == ("horizon", "after:p")
    assert _reasons_for_successor(proven=True, fixed=False) == ("horizon", "after:p")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(congested(most=6, slots=(10, 16)), st.data())
def test_a_planner_replan_is_as_good_as_a_fresh_solve_after_each_change(problem: Problem, data: st.DataObject) -> None:
    """The planner reuses the last solve's candidates and components; every change that touches them counts."""
    problem = replace(
        problem, requests=tuple(replace(r, notice=HOUR * (i % 3)) for i, r in enumerate(problem.requests))
    )
    problem = replace(problem, stakeholders=(make_stakeholder("ops", role="approver"),))
    planner = Planner(time_limit_s=30)
    previous = planner.solve(problem)
    for _ in range(4):
        change = data.draw(st.sampled_from(["clock", "veto", "pin", "withdraw"]))
        noticed = {w.request: w.start for w in previous.windows}
        if change == "clock":  # within a slot, then past it: notice moves with the clock
            problem = replace(problem, now=problem.now + HOUR * data.draw(st.sampled_from([0.25, 1.0])))
        elif change == "veto" and previous.windows:
            target = data.draw(st.sampled_from(previous.windows))
            veto = make_objection(
                f"veto:{len(problem.objections)}",
                by="ops",
                request=target.request,
                avoid=(TimeRange(target.start, target.end),),
                kind="veto",
            )
            problem = replace(problem, objections=(*problem.objections, veto))
        elif change == "pin":  # anywhere in the horizon, as a pin may be
            target = data.draw(st.sampled_from(problem.requests)).id
            start = T0 + HOUR * data.draw(st.integers(0, problem.grid.count - 1))
            problem = replace(problem, fixed={**problem.fixed, target: start})
        elif change == "withdraw" and len(problem.requests) > 1:
            gone = data.draw(st.sampled_from(problem.requests)).id
            problem = replace(
                problem,
                requests=tuple(r for r in problem.requests if r.id != gone),
                fixed={r: s for r, s in problem.fixed.items() if r != gone},
            )
        problem = replace(problem, noticed=noticed)

        replanned = planner.solve(problem, previous=previous)
        fresh = solve(problem, previous=previous, time_limit_s=30)

        assert _broken(problem, replanned) == [], change
        assert len(replanned.windows) == len(fresh.windows), change
        assert replanned.objective == pytest.approx(fresh.objective), change
        previous = replanned


def _broken(problem: Problem, version: Version) -> list[str]:
    """The rules the version's windows break, but for a pinned window where it is pinned, and the
    notice of a window kept where it was."""
    broken = []
    for item in window_violations(problem, version):
        request, _, rule = item.partition(": ")
        start = version.window_by_request[request].start
        if problem.fixed.get(request) == start or (rule == "notice" and problem.noticed.get(request) == start):
            continue
        broken.append(item)
    return broken


def test_a_replan_after_a_veto_computes_the_rules_of_the_vetoed_request_only(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = replace(_crowded(12, seed=2), stakeholders=(make_stakeholder("ops", role="approver"),))
    planner = Planner(time_limit_s=30)
    first = planner.solve(problem)
    target = first.windows[0]
    veto = make_objection("veto:0", by="ops", request=target.request, avoid=(TimeRange(target.start, target.end),))
    computed: list[str] = []
    blocked_starts = scheduler.candidates.blocked_starts

    def counting(problem: Problem, request: Request, slots: int) -> list[Blocked]:
        computed.append(request.id)
        return blocked_starts(problem, request, slots)

    monkeypatch.setattr(scheduler.candidates, "blocked_starts", counting)
    noticed = {w.request: w.start for w in first.windows}

    planner.solve(replace(problem, objections=(veto,), noticed=noticed), previous=first)

    assert computed == [target.request]
