"""The deploy gate (README, deploy gate): open exactly while now lies inside an announced window of the request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.domain import Problem, Version
from scheduler.gate import gate
from scheduler.scenario import load_data
from scheduler.solver import solve
from tests.factories import make_region, make_request, make_scenario

HOUR = timedelta(hours=1)


def weekly_plan() -> tuple[Problem, Version]:
    """A request repeated three weeks and a one-off, over three weeks of hourly slots."""
    scenario = make_scenario(
        horizon={"start": "2026-03-02T00:00:00Z", "end": "2026-03-23T00:00:00Z", "slot_minutes": 60},
        regions=[make_region("eu", timezone="Europe/Paris", profile="consumer")],
        requests=[
            make_request("weekly", duration="2h", repeat={"every": "1w", "count": 3, "same_time": "utc"}),
            make_request("once", duration="1h"),
        ],
    )
    problem = load_data(scenario).problem
    return problem, solve(problem)


PROBLEM, VERSION = weekly_plan()
WINDOWS = {w.request: w for w in VERSION.windows}
ALL_ANNOUNCED = {w.request: w.start for w in VERSION.windows}


def test_a_repeated_request_opens_in_each_announced_occurrence_and_an_occurrence_in_its_own() -> None:
    second = WINDOWS["weekly#2"]

    inside = gate(PROBLEM, VERSION, ALL_ANNOUNCED, "weekly", second.start + HOUR)
    own = gate(PROBLEM, VERSION, ALL_ANNOUNCED, "weekly#2", second.start)
    other = gate(PROBLEM, VERSION, ALL_ANNOUNCED, "weekly#3", second.start)

    assert (inside.open, inside.window and inside.window.start, inside.next_transition) == (
        True,
        second.start,
        second.end,
    )
    assert own.open
    assert not other.open and other.next_transition == WINDOWS["weekly#3"].start


def test_between_occurrences_the_gate_names_the_next_and_when_it_opens() -> None:
    first, second = WINDOWS["weekly#1"], WINDOWS["weekly#2"]
    unannounced_second = {k: v for k, v in ALL_ANNOUNCED.items() if k != "weekly#2"}

    between = gate(PROBLEM, VERSION, ALL_ANNOUNCED, "weekly", first.end)
    skipping = gate(PROBLEM, VERSION, unannounced_second, "weekly", first.end)

    assert (between.open, between.window and between.window.start, between.announced) == (False, second.start, True)
    assert between.next_transition == second.start
    assert (skipping.announced, skipping.next_transition) == (False, WINDOWS["weekly#3"].start)


@settings(max_examples=200, deadline=None)
@given(
    hours=st.integers(-2, 21 * 24 + 2),
    announced=st.sets(st.sampled_from(sorted(WINDOWS))),
    request=st.sampled_from(["weekly", "weekly#1", "weekly#2", "weekly#3", "once"]),
)
def test_open_exactly_while_now_lies_inside_an_announced_window(hours: int, announced: set[str], request: str) -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC) + hours * HOUR
    marks = {r: ALL_ANNOUNCED[r] for r in announced}
    mine = [w for w in VERSION.windows if w.request == request or w.request.partition("#")[0] == request]

    found = gate(PROBLEM, VERSION, marks, request, now)

    assert found.open == any(w.start <= now < w.end and w.request in announced for w in mine)
    if found.next_transition is not None:
        assert found.next_transition > now
    ahead = [w.start for w in mine if w.start > now and w.request in announced]
    if not found.open:
        assert found.next_transition == (min(ahead) if ahead else None)
