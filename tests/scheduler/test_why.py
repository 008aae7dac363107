""" "Why here" (docs/format.md 5.3) for every kind of window: a pinned, announced or started one names
what fixes it and offers no next best; any other has no next best cheaper than itself."""

from __future__ import annotations

from datetime import timedelta

from engine_factories import (
    HOUR,
    T0,
    make_grid,
    make_problem,
    make_profile,
    make_region,
    make_request,
    make_stakeholder,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.domain import Problem, TimeRange
from scheduler.explain import explain_version
from scheduler.negotiation import Negotiation
from scheduler.steps import Approve, Object, Pin


@st.composite
def plans(draw: st.DrawFn) -> Problem:
    """A day of hourly slots, two regions with random curves, a few requests that may share a resource."""
    regions = (
        make_region("r1", profile=make_profile([draw(st.floats(0.01, 1.0)) for _ in range(24)])),
        make_region(
            "r2", timezone="Asia/Tehran", profile=make_profile([draw(st.floats(0.01, 1.0)) for _ in range(24)])
        ),
    )
    requests = tuple(
        make_request(
            f"q{i}",
            duration=HOUR * draw(st.integers(1, 3)),
            earliest=T0 + HOUR * draw(st.integers(0, 6)),
            regions=frozenset(draw(st.sets(st.sampled_from(["r1", "r2"]), min_size=1))),
            resources=frozenset(draw(st.sets(st.sampled_from(["db"]), max_size=1))),
        )
        for i in range(draw(st.integers(1, 4)))
    )
    return make_problem(
        grid=make_grid(count=24),
        regions=regions,
        requests=requests,
        stakeholders=(make_stakeholder("boss", role="approver"),),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(), st.data())
def test_every_window_says_what_fixes_it_or_has_no_cheaper_next_best(problem: Problem, data: st.DataObject) -> None:
    negotiation = Negotiation.open(problem, time_limit_s=10)
    for index in range(data.draw(st.integers(1, 4), label="steps")):
        windows = negotiation.current.windows
        if not windows:
            break
        step = data.draw(st.sampled_from(["pin", "approve", "veto", "clock"]), label="step")
        target = data.draw(st.sampled_from(windows), label="target")
        if step == "pin":
            start = T0 + HOUR * data.draw(st.integers(0, 20), label="pin at")
            negotiation.apply(Pin(index=index, by="boss", request_id=target.request, start=start))
        elif step == "approve":
            negotiation.apply(Approve(index=index, by="boss"))
        elif step == "veto":
            avoid = (TimeRange(target.start, target.end),)
            negotiation.apply(Object(index=index, by="boss", request_id=target.request, kind="veto", avoid=avoid))
        else:  # a later step: windows that began before it have started (a veto elsewhere makes the version)
            later = negotiation.problem.now + timedelta(hours=data.draw(st.integers(1, 6), label="hours on"))
            avoid = (TimeRange(T0 + 23 * HOUR, T0 + 24 * HOUR),)
            negotiation.apply(
                Object(index=index, by="boss", request_id=target.request, kind="soft", avoid=avoid, at=later)
            )

    for version, solved in zip(negotiation.versions, negotiation.problems, strict=True):
        why = explain_version(solved, version)
        for window in version.windows:
            here = why[window.request]
            kind = solved.fixed_by.get(window.request) if solved.fixed.get(window.request) == window.start else None
            if kind is not None:
                assert here.fixed == kind
                assert here.alternatives == ()
                assert {b.rule for b in here.cheaper_blocked_by} <= {kind}
            else:
                assert here.fixed is None
                for alternative in here.alternatives:
                    assert alternative.impact >= window.impact * (1 - 1e-9) - 1e-6, (window, alternative)
