"""Negotiation (docs/format.md section 2.9): authority, versions, announced and started windows, stability,
incremental re-planning, counter-proposals, pins, why-here explanations, and the #nomaintenance replay.

Scenarios are written in the file format with ``tests.factories`` and replayed as the command line
does: ``load_data`` then ``replay``. Unless a test says otherwise the profile is flat (a tenth of
the users every hour), so a one-hour window of the 1000-user region costs
``1000 * 0.1 * 60 * severity * share`` user-minutes wherever it goes, and ties are everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from engine_factories import reference_impact_by_region, single_request_violations

from scheduler import steps
from scheduler.domain import TimeRange, Version, Window
from scheduler.explain import explain_version
from scheduler.negotiation import Negotiation, Replay, WindowStarted, replay, rules_against
from scheduler.report import replay_json
from scheduler.scenario import load_data, load_file
from scheduler.solver import solve
from tests.factories import (
    make_event,
    make_objection,
    make_region,
    make_request,
    make_scenario,
    make_stakeholder,
    make_step,
)

TWITTER = Path(__file__).parents[2] / "scenarios" / "twitter-2009-nomaintenance.yaml"

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # the factories' horizon start, a Monday
HOUR = timedelta(hours=1)
END_OF_DAY_ONE = "2026-03-03T00:00:00Z"
SERVICES = {"web": 0.6, "mobile": 0.4}
# users * flat activity * slot minutes * web share: a one-hour window of r1 at severity 1.
ONE_HOUR_ON_EU_WEB = 1000 * 0.1 * 60 * 0.6

STAKEHOLDERS = [
    make_stakeholder("ops", "requester"),
    make_stakeholder("other-ops", "requester"),
    make_stakeholder("eu-web", "representative", regions=["eu"], services=["web"]),
    make_stakeholder("us-rep", "representative", regions=["us"]),
    make_stakeholder("eu-mobile", "representative", regions=["eu"], services=["mobile"]),
    make_stakeholder("boss", "approver"),
    make_stakeholder("press", "observer"),
]
# In the UTC region of ``_hourly_run`` the cheapest hour is 03:00, then 04:00, 22:00 and 05:00; the
# other hours cost the same.
CHEAP_AT_THREE = [0.5] * 3 + [0.1, 0.2, 0.3] + [0.5] * 16 + [0.25, 0.5]
WHOLE_HORIZON = [{"start": "2026-03-02T00:00:00Z", "end": "2026-03-04T00:00:00Z"}]


def _at(hours: float) -> datetime:
    """The instant ``hours`` after the horizon start."""
    return T0 + hours * HOUR


def _iso(hours: float) -> str:
    return _at(hours).isoformat().replace("+00:00", "Z")


def _run(*steps: dict[str, Any], **overrides: Any) -> Replay:
    """Replay ``steps`` on regions eu (Paris) and us (New York), services web/mobile, and a one-hour
    request r1 on eu's web requested by ops; keyword arguments replace top-level scenario keys."""
    scenario = make_scenario(
        services=SERVICES,
        regions=[make_region("eu"), make_region("us", timezone="America/New_York")],
        requests=[make_request("r1", regions=["eu"], services=["web"], requested_by="ops")],
        stakeholders=STAKEHOLDERS,
        negotiation=list(steps),
    )
    scenario.update(overrides)
    return replay(load_data(scenario))


def _hourly_run(*steps: dict[str, Any], requests: list[dict[str, Any]]) -> Replay:
    """Replay ``steps`` on one UTC region whose cheapest hour is 03:00; ``boss`` approves."""
    scenario = make_scenario(
        regions=[make_region("eu", timezone="UTC", profile={"hourly": CHEAP_AT_THREE})],
        requests=requests,
        stakeholders=[make_stakeholder("boss", "approver")],
        negotiation=list(steps),
    )
    return replay(load_data(scenario))


def _window(version: Version, request: str) -> Window:
    return version.window_by_request[request]


def _overlaps(first: Window, second: Window | TimeRange) -> bool:
    return first.start < second.end and second.start < first.end


def _assert_refused(run: Replay, index: int = 0, *, mentioning: str | None = None) -> None:
    """Step ``index`` was refused with a reason (containing ``mentioning``) and produced no version."""
    step = run.steps[index]
    assert step.accepted is False
    assert step.version is None
    assert step.reason
    if mentioning is not None:
        assert mentioning in step.reason


# --- object --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["veto", "soft"])
@pytest.mark.parametrize("by", ["eu-web", "boss"], ids=["representative-in-scope", "approver"])
def test_objection_from_someone_with_authority_is_accepted_and_moves_the_window(by: str, kind: str) -> None:
    run = _run(make_objection("r1", by, kind))

    step = run.steps[0]
    assert step.accepted is True
    assert step.version == 2
    assert len(run.versions) == 2
    first, second = (_window(version, "r1") for version in run.versions)
    assert not _overlaps(first, second)  # flat profile: a veto or a x10 soft objection both push it away
    assert run.final.moved == ("r1",)


@pytest.mark.parametrize("kind", ["veto", "soft"])
@pytest.mark.parametrize("by", ["us-rep", "eu-mobile"], ids=["regions-miss", "services-miss"])
def test_objection_from_a_representative_outside_the_requests_scope_is_refused(by: str, kind: str) -> None:
    run = _run(make_objection("r1", by, kind))

    _assert_refused(run, mentioning="scope")
    assert len(run.versions) == 1
    assert run.problem.objections == ()


@pytest.mark.parametrize("by", ["ops", "press"], ids=["requester", "observer"])
@pytest.mark.parametrize("kind", ["veto", "soft"])
def test_objection_from_a_requester_or_observer_is_refused(by: str, kind: str) -> None:
    run = _run(make_objection("r1", by, kind))

    _assert_refused(run)
    assert len(run.versions) == 1


def test_refused_step_changes_nothing_and_later_steps_still_run() -> None:
    veto = make_objection("r1", "boss", avoid=[{"start": _iso(0), "end": _iso(5)}])

    with_refusal = _run(make_objection("r1", "us-rep"), veto)
    without = _run(veto)

    _assert_refused(with_refusal, 0, mentioning="scope")
    assert with_refusal.steps[1].accepted is True
    assert with_refusal.steps[1].version == 2
    assert [v.windows for v in with_refusal.versions] == [v.windows for v in without.versions]
    refused = replay_json(with_refusal)["steps"][0]
    assert refused["accepted"] is False
    assert "scope" in refused["reason"]
    assert "version" not in refused


# --- declare_event -------------------------------------------------------------------------------


def test_representative_declares_an_event_inside_its_scope() -> None:
    # Weight 2 over the first day on eu's web: r1 is cheaper on the second day.
    run = _run(make_step("declare_event", "eu-web", event=make_event("eu-launch", regions=["eu"], services=["web"])))

    assert run.steps[0].accepted is True
    assert run.steps[0].version == 2
    assert _window(run.final, "r1").start >= datetime.fromisoformat(END_OF_DAY_ONE)


@pytest.mark.parametrize(
    "event",
    [
        make_event("us-launch", regions=["us"], services=["web"]),
        make_event("eu-launch", regions=["eu"], services=["web", "mobile"]),
        make_event("everywhere"),  # regions and services default to all
    ],
    ids=["regions-outside", "services-outside", "defaults-to-everything"],
)
def test_representative_cannot_declare_an_event_outside_its_scope(event: dict[str, Any]) -> None:
    run = _run(make_step("declare_event", "eu-web", event=event))

    _assert_refused(run, mentioning="scope")
    assert len(run.versions) == 1
    assert run.problem.events == ()


def test_approver_declares_an_event_anywhere() -> None:
    run = _run(make_step("declare_event", "boss", event=make_event("everywhere")))

    assert run.steps[0].accepted is True
    assert [event.id for event in run.problem.events] == ["everywhere"]
    assert _window(run.final, "r1").start >= datetime.fromisoformat(END_OF_DAY_ONE)


@pytest.mark.parametrize("by", ["ops", "press"], ids=["requester", "observer"])
def test_requester_or_observer_cannot_declare_an_event(by: str) -> None:
    run = _run(make_step("declare_event", by, event=make_event("eu-launch", regions=["eu"], services=["web"])))

    _assert_refused(run)
    assert len(run.versions) == 1


# --- submit and withdraw -------------------------------------------------------------------------


def test_requester_submits_its_own_request_and_becomes_its_requester() -> None:
    run = _run(
        make_step("submit", "ops", request=make_request("r2")),
        make_step("withdraw", "other-ops", request="r2"),
        make_step("withdraw", "ops", request="r2"),
    )

    assert run.steps[0].accepted is True
    assert "r2" in run.versions[1].window_by_request
    # requested_by defaulted to the submitter: only ops (not another requester) may withdraw it.
    _assert_refused(run, 1, mentioning="requester")
    assert run.steps[2].accepted is True
    assert "r2" not in run.final.window_by_request
    assert [step.version for step in run.steps] == [2, None, 3]


def test_requester_cannot_submit_a_request_for_someone_else() -> None:
    run = _run(make_step("submit", "ops", request=make_request("r2", requested_by="other-ops")))

    _assert_refused(run, mentioning="other-ops")
    assert len(run.versions) == 1
    assert "r2" not in run.problem.request_by_id


def test_approver_submits_a_request_for_anyone() -> None:
    run = _run(
        make_step("submit", "boss", request=make_request("r2", requested_by="ops")),
        make_step("withdraw", "ops", request="r2"),
    )

    assert [step.accepted for step in run.steps] == [True, True]
    assert [sorted(version.window_by_request) for version in run.versions] == [["r1"], ["r1", "r2"], ["r1"]]


@pytest.mark.parametrize("by", ["eu-web", "press"], ids=["representative", "observer"])
def test_representative_or_observer_cannot_submit(by: str) -> None:
    run = _run(make_step("submit", by, request=make_request("r2")))

    _assert_refused(run)
    assert len(run.versions) == 1


@pytest.mark.parametrize("by", ["ops", "boss"], ids=["its-requester", "approver"])
def test_withdraw_by_its_requester_or_an_approver_removes_the_request(by: str) -> None:
    run = _run(make_step("withdraw", by, request="r1"))

    assert run.steps[0].accepted is True
    assert run.steps[0].version == 2
    assert run.final.windows == ()
    assert run.final.unscheduled == ()


@pytest.mark.parametrize(
    "by", ["other-ops", "eu-web", "press"], ids=["another-requester", "representative", "observer"]
)
def test_withdraw_by_anyone_else_is_refused(by: str) -> None:
    run = _run(make_step("withdraw", by, request="r1"))

    _assert_refused(run)
    assert len(run.versions) == 1
    assert "r1" in run.final.window_by_request


@pytest.mark.parametrize(
    "step",
    [
        make_objection("r1", "boss"),
        make_objection("r1", "eu-web", "soft"),
        make_step("withdraw", "boss", request="r1"),
        make_step("counter", "boss", request="r1", start=_iso(5)),
        make_step("pin", "boss", request="r1", start=_iso(5)),
    ],
    ids=["veto", "soft", "withdraw", "counter", "pin"],
)
def test_step_on_a_withdrawn_request_is_refused(step: dict[str, Any]) -> None:
    run = _run(make_step("withdraw", "ops", request="r1"), step)

    _assert_refused(run, 1, mentioning="withdrawn")
    assert len(run.versions) == 2


# --- approve and observers -----------------------------------------------------------------------


def test_approver_approves_the_current_version_without_a_new_one() -> None:
    run = _run(make_objection("r1", "boss"), make_step("approve", "boss"))

    approve = run.steps[1]
    assert approve.accepted is True
    assert approve.version == 2
    assert len(run.versions) == 2
    assert [version.approved for version in run.versions] == [False, True]
    assert [version["approved"] for version in replay_json(run)["versions"]] == [False, True]


@pytest.mark.parametrize("by", ["ops", "eu-web", "press"], ids=["requester", "representative", "observer"])
def test_only_an_approver_approves(by: str) -> None:
    run = _run(make_step("approve", by))

    _assert_refused(run)
    assert len(run.versions) == 1
    assert run.final.approved is False


@pytest.mark.parametrize(
    "step",
    [
        make_objection("r1", "press"),
        make_objection("r1", "press", "soft"),
        make_step("declare_event", "press", event=make_event("e1", regions=["eu"], services=["web"])),
        make_step("submit", "press", request=make_request("r2")),
        make_step("withdraw", "press", request="r1"),
        make_step("approve", "press"),
        make_step("counter", "press", request="r1", start=_iso(5)),
        make_step("pin", "press", request="r1", start=_iso(5)),
    ],
    ids=["veto", "soft", "declare_event", "submit", "withdraw", "approve", "counter", "pin"],
)
def test_observers_can_do_nothing(step: dict[str, Any]) -> None:
    run = _run(step)

    _assert_refused(run)
    assert run.steps[0].counter is None
    assert len(run.versions) == 1
    assert run.final.approved is False


# --- versions and what moved ---------------------------------------------------------------------


def test_every_accepted_step_but_approve_and_counter_produces_exactly_one_version() -> None:
    run = _run(
        make_objection("r1", "eu-web", "soft"),
        make_step("declare_event", "boss", event=make_event("launch", regions=["us"])),
        make_step("submit", "ops", request=make_request("r2", resources=["db"])),
        make_step("approve", "boss"),
        make_step("counter", "boss", request="r2", start=_iso(7)),
        make_step("pin", "boss", request="r2", start=_iso(7)),
        make_step("withdraw", "ops", request="r2"),
        make_objection("r1", "boss"),
        make_step("approve", "us-rep"),  # refused
    )

    assert [step.accepted for step in run.steps] == [True] * 8 + [False]
    assert [step.version for step in run.steps] == [2, 3, 4, 4, None, 5, 6, 7, None]
    assert [version.version for version in run.versions] == [1, 2, 3, 4, 5, 6, 7]
    assert [version["version"] for version in replay_json(run)["versions"]] == [1, 2, 3, 4, 5, 6, 7]


def _changed(before: Version, after: Version) -> tuple[str, ...]:
    """Requests of both versions whose window (or lack of one) differs."""

    def start(version: Version, request: str) -> datetime | None:
        window = version.window_by_request.get(request)
        return window.start if window is not None else None

    def known(version: Version) -> set[str]:
        return set(version.window_by_request) | {item.request for item in version.unscheduled}

    both = known(before) & known(after)
    return tuple(sorted(request for request in both if start(before, request) != start(after, request)))


def test_moved_lists_exactly_the_requests_whose_window_changed() -> None:
    run = _run(
        make_step("submit", "boss", request=make_request("r2", regions=["us"], requested_by="ops")),
        make_objection("r1", "boss"),  # moves r1 only
        make_objection("r2", "boss", avoid=WHOLE_HORIZON),  # r2 loses its window
        make_step("pin", "boss", request="r1", start=_iso(30)),
    )

    moved = [version.moved for version in run.versions[1:]]
    assert moved == [_changed(before, after) for before, after in pairwise(run.versions)]
    assert moved == [(), ("r1",), ("r2",), ("r1",)]
    assert [version["moved"] for version in replay_json(run)["versions"]] == [[], [], ["r1"], ["r2"], ["r1"]]


# --- vetoes and soft objections ------------------------------------------------------------------


def test_veto_without_avoid_applies_to_the_current_window() -> None:
    run = _run(make_objection("r1", "boss"), requests=[make_request("r1", duration="3h", requested_by="ops")])

    before, after = (_window(version, "r1") for version in run.versions)
    assert not _overlaps(after, before)
    (objection,) = run.problem.objections
    assert objection.avoid == (TimeRange(before.start, before.end),)


def test_veto_that_leaves_no_room_unschedules_the_request_naming_the_step() -> None:
    run = _run(
        make_objection("r1", "eu-web", "soft"),
        make_objection("r1", "boss", avoid=[{"start": _iso(0), "end": _iso(5)}]),  # step 1
        requests=[make_request("r1", regions=["eu"], services=["web"], deadline=_iso(5))],
    )

    assert run.final.windows == ()
    (unscheduled,) = run.final.unscheduled
    assert unscheduled.request == "r1"
    assert set(unscheduled.reasons) == {"deadline", "veto:1"}
    assert replay_json(run)["versions"][-1]["unscheduled"] == [{"request": "r1", "reasons": ["deadline", "veto:1"]}]


def _both_regions(*steps: dict[str, Any]) -> Replay:
    """r1 takes down web in eu and us; every soft objection below covers the whole horizon."""
    return _run(*steps, requests=[make_request("r1", regions=["eu", "us"], services=["web"])])


def test_soft_objection_weighs_only_the_objectors_regions_with_weight_10_by_default() -> None:
    run = _both_regions(make_objection("r1", "eu-web", "soft", avoid=WHOLE_HORIZON))

    before, after = (_window(version, "r1") for version in run.versions)
    assert after.start == before.start  # every start got dearer alike
    assert before.impact_by_region == {"eu": ONE_HOUR_ON_EU_WEB, "us": ONE_HOUR_ON_EU_WEB}
    assert after.impact_by_region == pytest.approx({"eu": 10 * ONE_HOUR_ON_EU_WEB, "us": ONE_HOUR_ON_EU_WEB})
    assert after.impact == pytest.approx(11 * ONE_HOUR_ON_EU_WEB)


def test_approvers_soft_objection_weighs_every_region() -> None:
    run = _both_regions(make_objection("r1", "boss", "soft", avoid=WHOLE_HORIZON, weight=3))

    assert _window(run.final, "r1").impact_by_region == pytest.approx(
        {"eu": 3 * ONE_HOUR_ON_EU_WEB, "us": 3 * ONE_HOUR_ON_EU_WEB}
    )


def test_one_stakeholder_repeating_a_soft_objection_does_not_compound() -> None:
    run = _both_regions(
        make_objection("r1", "eu-web", "soft", avoid=WHOLE_HORIZON),
        make_objection("r1", "eu-web", "soft", avoid=WHOLE_HORIZON),
    )

    assert [step.accepted for step in run.steps] == [True, True]
    assert _window(run.final, "r1").impact_by_region["eu"] == pytest.approx(10 * ONE_HOUR_ON_EU_WEB)


# --- announced windows ---------------------------------------------------------------------------


def _contested(*steps: dict[str, Any]) -> Replay:
    """r1 (light) holds db at 03:00, the cheapest hour of day one; r2 (heavy) on db wants it too."""
    heavy = make_request("r2", resources=["db"], deadline=END_OF_DAY_ONE)
    return _hourly_run(
        *steps,
        make_step("submit", "boss", request=heavy),
        requests=[make_request("r1", severity=0.2, resources=["db"], deadline=END_OF_DAY_ONE)],
    )


def test_announced_window_stays_when_a_new_request_wants_its_slot() -> None:
    unannounced = _contested()
    announced = _contested(make_step("approve", "boss"))

    # Without the announcement the heavy newcomer takes the cheapest hour (fewer user-minutes) ...
    assert _window(unannounced.versions[0], "r1").start == _at(3)
    assert _window(unannounced.final, "r2").start == _at(3)
    assert unannounced.final.moved == ("r1",)
    # ... once announced, r1 keeps it and the newcomer goes elsewhere.
    assert announced.versions[0].approved is True
    assert _window(announced.final, "r1").start == _at(3)
    assert not _overlaps(_window(announced.final, "r2"), _window(announced.final, "r1"))
    assert announced.final.moved == ()
    assert announced.final.moved_announced == ()


@pytest.mark.parametrize(
    "step",
    [
        make_objection("r1", "boss"),
        make_step(
            "declare_event",
            "boss",
            event=make_event("freeze", start=_iso(3), end=_iso(4), weight=None, blackout=True),
        ),
    ],
    ids=["veto", "blackout"],
)
def test_announced_window_moves_when_a_new_hard_constraint_forbids_it(step: dict[str, Any]) -> None:
    run = _hourly_run(make_step("approve", "boss"), step, requests=[make_request("r1")])

    before, after = (_window(version, "r1") for version in run.versions)
    assert before.start == _at(3)
    assert not _overlaps(after, before)
    assert run.final.moved_announced == ("r1",)
    assert replay_json(run)["versions"][-1]["moved_announced"] == ["r1"]


def test_announced_window_that_loses_all_room_is_listed_as_moved() -> None:
    run = _hourly_run(
        make_step("approve", "boss"),
        make_objection("r1", "boss", avoid=WHOLE_HORIZON),
        requests=[make_request("r1")],
    )

    assert run.final.windows == ()
    assert [item.reasons for item in run.final.unscheduled] == [("veto:1",)]
    assert run.final.moved == ("r1",)
    assert run.final.moved_announced == ("r1",)


def test_announced_window_stays_under_a_soft_objection() -> None:
    run = _hourly_run(
        make_step("approve", "boss"), make_objection("r1", "boss", "soft", weight=100), requests=[make_request("r1")]
    )

    assert _window(run.final, "r1").start == _at(3)
    assert _window(run.final, "r1").impact == pytest.approx(100 * _window(run.versions[0], "r1").impact)
    assert run.final.moved_announced == ()


def test_moved_announced_lists_a_window_only_in_the_version_that_moved_it() -> None:
    run = _hourly_run(
        make_step("approve", "boss"),
        make_objection("r1", "boss"),
        make_step("submit", "boss", request=make_request("r2")),  # unrelated: no shared resource
        requests=[make_request("r1")],
    )

    assert run.versions[1].moved_announced == ("r1",)
    assert _window(run.versions[2], "r1").start == _window(run.versions[1], "r1").start
    assert run.versions[2].moved == ()
    assert run.versions[2].moved_announced == ()


def test_announced_window_moves_when_its_predecessor_is_pushed_past_it() -> None:
    run = _run(
        make_step("approve", "boss"),
        make_objection("r1", "boss"),
        requests=[make_request("r1", duration="3h"), make_request("r2", after=["r1"])],
    )

    assert [_window(run.versions[0], request).start for request in ("r1", "r2")] == [_at(0), _at(3)]
    # Both fit (r1 from 03:00, r2 after it): docs/format.md section 5.1 places as many as possible; r2 moves.
    assert run.final.unscheduled == ()
    assert run.final.moved_announced == ("r1", "r2")


# --- started windows and the clock ---------------------------------------------------------------


@pytest.mark.parametrize(
    "step",
    [
        make_objection("r1", "boss", at=_iso(1)),
        make_objection("r1", "boss", at=_iso(1), avoid=WHOLE_HORIZON),
        make_step(
            "declare_event",
            "boss",
            at=_iso(1),
            event=make_event("freeze", start=_iso(0), end=_iso(48), weight=None, blackout=True),
        ),
    ],
    ids=["veto-on-its-window", "veto-everywhere", "blackout-everywhere"],
)
def test_started_window_never_moves(step: dict[str, Any]) -> None:
    run = _run(step, requests=[make_request("r1", duration="3h")])

    assert run.steps[0].accepted is True
    assert run.final.now == _at(1)
    assert _window(run.final, "r1").start == _at(0)  # started at 00:00, now is 01:00
    assert run.final.moved == ()


def test_window_starting_at_now_has_not_started_and_moves() -> None:
    run = _run(make_objection("r1", "boss", at=_iso(0)), requests=[make_request("r1", duration="3h")])

    assert _window(run.final, "r1").start >= _at(3)


def test_at_moves_now_and_notice_counts_from_the_new_now() -> None:
    submitted = make_request("r2", notice="2h")
    run = _run(make_step("submit", "boss", at=_iso(5.5), request=submitted))

    assert run.versions[0].now == T0
    assert run.final.now == _at(5.5)
    assert replay_json(run)["versions"][-1]["now"] == "2026-03-02T05:30:00Z"
    # From the old now the flat profile would put it at 02:00; from 05:30 + 2h the first slot is 08:00.
    assert _window(run.final, "r2").start == _at(8)
    assert _window(run.final, "r1").start == _at(0)  # started: stays


def test_a_kept_window_keeps_the_notice_it_was_given() -> None:
    # r1 goes to 02:00 at 00:00 with 2 h notice; at 01:00 a change elsewhere leaves 02:00 the best
    # start, and r1 stays there although 01:00 + 2 h is later than 02:00.
    requests = [
        make_request("r1", notice="2h", requested_by="ops", regions=["eu"], services=["web"]),
        make_request("r2", regions=["us"]),
    ]
    run = _run(make_objection("r2", "boss", at=_iso(1), kind="soft"), requests=requests)

    assert _window(run.versions[0], "r1").start == _at(2)
    assert run.steps[0].accepted is True
    assert _window(run.final, "r1").start == _at(2)
    assert run.final.unscheduled == ()


def test_a_moved_window_needs_notice_from_the_new_now() -> None:
    requests = [make_request("r1", notice="2h", requested_by="ops", regions=["eu"], services=["web"])]
    veto = make_objection("r1", "boss", at=_iso(1), avoid=[{"start": _iso(2), "end": _iso(3)}])
    run = _run(veto, requests=requests)

    # 03:00 is free of the veto and is exactly 01:00 + 2 h: the first start the notice allows.
    assert _window(run.final, "r1").start == _at(3)


def test_a_live_negotiation_counts_a_window_starting_now_as_started() -> None:
    problem = load_data(
        make_scenario(
            services=SERVICES,
            regions=[make_region("eu"), make_region("us", timezone="America/New_York")],
            stakeholders=STAKEHOLDERS,
        )
    ).problem
    live = Negotiation.open(problem, live=True)
    assert _window(live.current, "r1").start == T0 == problem.now

    refused = live.apply(steps.Withdraw(index=0, by="boss", request_id="r1"))

    assert refused.accepted is False
    assert refused.reason == "the window of 'r1' started at 2026-03-02T00:00:00Z: it cannot be withdrawn"
    with pytest.raises(WindowStarted, match="cannot be moved"):
        live.check(steps.Pin(index=1, by="boss", request_id="r1", start=_at(5)))
    # A replay's clock is section 7's: the same window at its now has not started yet.
    replayed = Negotiation.open(problem)
    assert replayed.apply(steps.Withdraw(index=0, by="boss", request_id="r1")).accepted is True


def test_a_done_window_stays_in_later_versions_as_history() -> None:
    requests = [make_request("r1", requested_by="ops"), make_request("r2", resources=["db"])]
    later = make_step("submit", "boss", at=_iso(30), request=make_request("r3", resources=["db"]))
    run = _run(later, requests=requests)

    assert _window(run.versions[0], "r1").start == T0  # over by 01:00, long before now is 30:00
    assert _window(run.final, "r1") == _window(run.versions[0], "r1")
    assert run.final.moved == ()


def test_versions_list_the_requests_they_add_and_remove() -> None:
    run = _run(
        make_step("submit", "ops", request=make_request("r2", regions=["eu"])),
        make_step("withdraw", "ops", request="r1"),
    )

    assert [(v.added, v.removed) for v in run.versions] == [((), ()), (("r2",), ()), ((), ("r1",))]
    final = replay_json(run)["versions"][-1]
    assert (final["added"], final["removed"], final["moved"]) == ([], ["r1"], [])


# --- vetoes and blackouts that stay ----------------------------------------------------------------

FIRST_HALF_DAY = [{"start": _iso(0), "end": _iso(12)}]
TWO_APPROVERS = [*STAKEHOLDERS, make_stakeholder("boss2", "approver")]


def _resubmitted(**overrides: Any) -> dict[str, Any]:
    return make_step("submit", "ops", request=make_request(regions=["eu"], services=["web"], **overrides))


def test_a_request_withdrawn_and_submitted_again_keeps_its_veto() -> None:
    run = _run(
        make_objection("r1", "boss", avoid=FIRST_HALF_DAY),
        make_step("withdraw", "ops", request="r1"),
        _resubmitted(id="r1"),
    )

    assert [step.accepted for step in run.steps] == [True, True, True]
    assert _window(run.versions[1], "r1").start == _at(12)
    assert _window(run.final, "r1").start == _at(12)  # not back at 00:00, inside the veto
    assert [o.rule for o in run.problems[-1].objections_on("r1")] == ["veto:0"]


def test_a_request_that_replaces_a_withdrawn_one_takes_over_its_vetoes() -> None:
    run = _run(
        make_objection("r1", "boss", avoid=FIRST_HALF_DAY),
        make_step("withdraw", "ops", request="r1"),
        _resubmitted(id="r1-again", replaces="r1"),
        _resubmitted(id="r9", replaces="r1-again"),
    )

    assert _window(run.final, "r1-again").start == _at(12)
    assert [o.request for o in run.problems[-1].objections if o.rule == "veto:0"] == ["r1-again"]
    assert run.steps[3].accepted is False
    assert run.steps[3].reason == "replaces 'r1-again': only a withdrawn request can be replaced"


def test_removing_a_blackout_takes_two_different_approvers() -> None:
    blackout = make_event("freeze", start=_iso(0), end=_iso(12), weight=None, blackout=True)
    remove = {"action": "remove_event", "event": "freeze"}
    run = _run(
        make_step(by="eu-web", **remove),
        make_step(by="boss", **remove),
        make_step(by="boss", **remove),
        make_step(by="boss2", **remove),
        events=[blackout],
        stakeholders=TWO_APPROVERS,
    )

    assert [(step.accepted, step.reason) for step in run.steps] == [
        (False, "a representative cannot remove events"),
        (True, "waiting for a second approver"),
        (False, "boss proposed this removal already: a second, different approver must agree"),
        (True, None),
    ]
    assert _window(run.versions[0], "r1").start == _at(12)
    assert len(run.versions) == 2  # only the second approver's removal makes a version
    assert run.problems[-1].events == ()
    assert "event:freeze" not in rules_against(run.problems[-1], run.problems[-1].request_by_id["r1"], _at(0))


def test_one_approver_removes_a_weighted_event() -> None:
    run = _run(make_step("remove_event", "boss", event="e1"), events=[make_event("e1", weight=5)])

    assert run.steps[0].accepted is True
    assert run.problems[-1].events == ()


# --- stability -----------------------------------------------------------------------------------


def test_objection_on_one_request_never_moves_an_unrelated_request() -> None:
    run = _hourly_run(make_objection("r1", "boss"), requests=[make_request("r1"), make_request("r2")])

    assert _window(run.versions[0], "r2").start == _at(3)
    assert _window(run.final, "r1").start != _at(3)
    assert _window(run.final, "r2").start == _at(3)
    assert run.final.moved == ("r1",)


def test_equally_good_schedules_keep_the_previous_windows_after_a_withdrawal() -> None:
    run = _run(
        make_step("withdraw", "boss", request="r1"),
        requests=[make_request("r1", resources=["db"]), make_request("r2", resources=["db"])],
    )

    kept = _window(run.versions[0], "r2").start
    assert kept != T0  # r1 held the first hour
    assert _window(run.final, "r2").start == kept  # the first hour is free now, and no better
    assert run.final.moved == ()


def test_equally_good_schedules_keep_the_previous_windows_when_costs_level_out() -> None:
    # A weight-2 event on day one sends r1 to day two; the same weight on day two makes every start
    # equal again, and r1 stays rather than going back to the first hour.
    day_two = make_event("day-two", start=END_OF_DAY_ONE, end=_iso(48))
    run = _run(make_step("declare_event", "boss", event=day_two), events=[make_event("day-one")])

    assert _window(run.versions[0], "r1").start == _at(24)
    assert _window(run.final, "r1").start == _at(24)
    assert _window(run.final, "r1").impact == pytest.approx(2 * ONE_HOUR_ON_EU_WEB)


# --- incremental equals full, determinism ---------------------------------------------------------


def _busy_scenario() -> dict[str, Any]:
    """Three regions, several components (db, cache with an 'after' chain, loners) and every action."""
    return make_scenario(
        horizon={"start": "2026-03-02T00:00:00Z", "end": "2026-03-05T00:00:00Z", "slot_minutes": 30},
        services=SERVICES,
        regions=[
            make_region("eu", users=4000, profile="consumer"),
            make_region("us", timezone="America/New_York", users=6000, profile="consumer"),
            make_region("jp", timezone="Asia/Tokyo", users=2000, profile="business", services={"web": 0.5}),
        ],
        requests=[
            make_request("db-upgrade", duration="2h", resources=["db"], requested_by="ops"),
            make_request("db-vacuum", duration="90m", resources=["db"], severity=0.5, requested_by="ops"),
            make_request("cache-flush", duration="1h", resources=["cache"], regions=["eu", "us"]),
            make_request("cache-warm", duration="1h", after=["cache-flush"], services=["web"]),
            make_request("jp-patch", duration="3h", regions=["jp"], deadline="2026-03-04T00:00:00Z"),
            make_request("us-patch", duration="45m", regions=["us"], notice="6h", requested_by="ops"),
        ],
        stakeholders=[
            make_stakeholder("ops", "requester"),
            make_stakeholder("eu-rep", "representative", regions=["eu"]),
            make_stakeholder("jp-rep", "representative", regions=["jp"], services=["web"]),
            make_stakeholder("boss", "approver"),
        ],
        negotiation=[
            make_objection("db-upgrade", "eu-rep", at="2026-03-02T01:00:00Z"),
            make_objection("cache-flush", "eu-rep", "soft", weight=4),
            make_step(
                "declare_event",
                "jp-rep",
                event=make_event("jp-launch", regions=["jp"], services=["web"], weight=5, end="2026-03-03T12:00:00Z"),
            ),
            make_step("approve", "boss", at="2026-03-02T04:00:00Z"),
            make_step("submit", "ops", request=make_request("db-reindex", duration="1h", resources=["db"])),
            make_objection("jp-patch", "jp-rep", "veto"),
            make_step("withdraw", "ops", request="db-vacuum", at="2026-03-02T09:00:00Z"),
            make_step(
                "declare_event",
                "boss",
                event=make_event(
                    "freeze",
                    regions=["us"],
                    start="2026-03-03T00:00:00Z",
                    end="2026-03-03T12:00:00Z",
                    weight=None,
                    blackout=True,
                ),
            ),
            make_step("pin", "boss", request="us-patch", start="2026-03-04T06:00:00Z"),
            make_objection("cache-warm", "boss", "soft", weight=2, at="2026-03-02T18:00:00Z"),
        ],
    )


@pytest.fixture(scope="module")
def busy_replay() -> Replay:
    return replay(load_data(_busy_scenario()))


def test_busy_scenario_accepts_every_step(busy_replay: Replay) -> None:
    assert all(step.accepted for step in busy_replay.steps), [s.reason for s in busy_replay.steps]
    assert len(busy_replay.versions) == 10


def test_each_version_equals_a_fresh_solve_from_the_previous_one(busy_replay: Replay) -> None:
    versions, problems = busy_replay.versions, busy_replay.problems
    assert len(versions) == len(problems)
    for previous, version, problem in zip(versions, versions[1:], problems[1:], strict=False):
        fresh = solve(problem, previous=previous)
        assert [(w.request, w.start, w.end) for w in version.windows] == [
            (w.request, w.start, w.end) for w in fresh.windows
        ], f"version {version.version}"
        assert version.objective == pytest.approx(fresh.objective, rel=1e-12)
        assert version.unscheduled == fresh.unscheduled
        assert version.status == fresh.status == "optimal"


def test_replaying_the_same_scenario_twice_gives_identical_json(busy_replay: Replay) -> None:
    again = replay(load_data(_busy_scenario()))

    assert replay_json(again) == replay_json(busy_replay)


# --- counter-proposals ---------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["eu-web", "boss"], ids=["representative-in-scope", "approver"])
def test_counter_reports_the_impact_of_another_start_and_changes_nothing(by: str) -> None:
    run = _run(
        make_step("counter", by, request="r1", start=_iso(5)),
        requests=[make_request("r1", regions=["eu"], services=["web"], severity=0.5)],
    )

    step = run.steps[0]
    assert step.accepted is True
    assert step.version is None
    assert len(run.versions) == 1
    counter = step.counter
    assert counter is not None
    assert counter.start == _at(5)
    assert counter.impact == pytest.approx(1000 * 0.1 * 60 * 0.5 * 0.6)
    assert counter.impact_by_region == pytest.approx({"eu": 1000 * 0.1 * 60 * 0.5 * 0.6})
    assert counter.current_impact == _window(run.final, "r1").impact
    assert counter.allowed is True
    assert counter.blocked_by == ()
    out = replay_json(run)["steps"][0]
    assert out["counter"]["start"] == "2026-03-02T05:00:00Z"
    assert out["counter"]["allowed"] is True
    assert "version" not in out


def test_counter_at_a_start_past_the_deadline_is_not_allowed() -> None:
    run = _run(
        make_step("counter", "eu-web", request="r1", start=_iso(12)),
        requests=[make_request("r1", regions=["eu"], services=["web"], deadline=_iso(12))],
    )

    counter = run.steps[0].counter
    assert counter is not None
    assert counter.allowed is False
    assert counter.blocked_by == ("deadline",)
    assert counter.impact == pytest.approx(ONE_HOUR_ON_EU_WEB)


def test_counter_at_a_vetoed_start_names_the_veto() -> None:
    run = _run(
        make_objection("r1", "boss", avoid=[{"start": _iso(4), "end": _iso(6)}]),
        make_step("counter", "eu-web", request="r1", start=_iso(5)),
    )

    counter = run.steps[1].counter
    assert counter is not None
    assert counter.allowed is False
    assert counter.blocked_by == ("veto:0",)
    assert replay_json(run)["steps"][1]["counter"]["blocked_by"] == ["veto:0"]


@pytest.mark.parametrize(
    ("by", "mentioning"),
    [("press", None), ("us-rep", "scope"), ("eu-mobile", "scope"), ("ops", None)],
    ids=["observer", "representative-regions-miss", "representative-services-miss", "requester"],
)
def test_counter_by_someone_who_may_not_object_is_refused(by: str, mentioning: str | None) -> None:
    run = _run(make_step("counter", by, request="r1", start=_iso(5)))

    _assert_refused(run, mentioning=mentioning)
    assert run.steps[0].counter is None
    assert len(run.versions) == 1


# --- pins ----------------------------------------------------------------------------------------


def test_approver_pins_a_window_and_it_stays_in_later_versions() -> None:
    run = _run(
        make_step("pin", "boss", request="r1", start=_iso(10)),
        make_step("submit", "ops", request=make_request("r2", regions=["eu"], resources=["db"])),
        make_objection("r1", "eu-web", "soft", weight=50),  # on the pinned window itself
    )

    assert run.steps[0].accepted is True
    assert run.steps[0].version == 2
    assert _window(run.versions[0], "r1").start == T0
    assert [_window(version, "r1").start for version in run.versions[1:]] == [_at(10)] * 3
    assert _window(run.final, "r1").impact == pytest.approx(50 * ONE_HOUR_ON_EU_WEB)


def test_pin_at_a_start_past_the_deadline_is_refused_naming_the_rule() -> None:
    run = _run(make_step("pin", "boss", request="r1", start=_iso(12)), requests=[make_request("r1", deadline=_iso(12))])

    _assert_refused(run, mentioning="deadline")
    assert len(run.versions) == 1


def test_pin_at_a_vetoed_start_is_refused_naming_the_veto() -> None:
    run = _run(
        make_objection("r1", "boss", avoid=[{"start": _iso(4), "end": _iso(6)}]),
        make_step("pin", "boss", request="r1", start=_iso(5)),
    )

    _assert_refused(run, 1, mentioning="veto:0")
    assert len(run.versions) == 2


@pytest.mark.parametrize("by", ["ops", "eu-web"], ids=["requester", "representative"])
def test_only_an_approver_pins(by: str) -> None:
    run = _run(make_step("pin", by, request="r1", start=_iso(10)))

    _assert_refused(run)
    assert len(run.versions) == 1
    assert _window(run.final, "r1").start == T0


def test_pin_at_a_start_breaking_after_is_refused() -> None:
    run = _run(
        make_step("pin", "boss", request="r2", start=_iso(1)),
        requests=[make_request("r1", duration="3h"), make_request("r2", after=["r1"])],
    )

    _assert_refused(run, mentioning="after:r1")
    assert len(run.versions) == 1


def test_pin_overlapping_a_started_window_on_a_shared_resource_is_refused() -> None:
    run = _run(
        make_step("pin", "boss", at=_iso(0.5), request="r2", start=_iso(1)),
        requests=[make_request("r1", duration="3h", resources=["db"]), make_request("r2", resources=["db"])],
    )

    _assert_refused(run, mentioning="resource:db")
    assert len(run.versions) == 1


# --- why here ------------------------------------------------------------------------------------


def test_why_here_names_the_veto_that_pushed_a_window_from_the_cheapest_start() -> None:
    run = _hourly_run(make_objection("r1", "boss"), requests=[make_request("r1", deadline=END_OF_DAY_ONE)])

    assert _window(run.versions[0], "r1").start == _at(3)
    assert _window(run.final, "r1").start == _at(4)
    why = explain_version(run.problem, run.final)["r1"]
    assert "veto:0" in [blocker.rule for blocker in why.cheaper_blocked_by]
    (veto,) = [blocker for blocker in why.cheaper_blocked_by if blocker.rule == "veto:0"]
    assert veto.starts == 1  # 03:00, the only cheaper start of day one
    assert veto.cheapest_impact == pytest.approx(1000 * 0.1 * 60)


def test_why_here_names_the_request_holding_the_resource() -> None:
    run = _contested()  # r2 (heavy) takes 03:00; r1 (light) is pushed to 04:00
    problem, version = run.problem, run.final

    assert _window(version, "r1").start == _at(4)
    why = explain_version(problem, version)["r1"]
    assert "resource:db with request:r2" in [blocker.rule for blocker in why.cheaper_blocked_by]
    # The alternatives are the cheapest allowed starts other than its own, cheapest first.
    request = problem.request_by_id["r1"]
    held = _window(version, "r2")
    allowed = {
        start: sum(reference_impact_by_region(problem, request, start).values())
        for start in (_at(hour) for hour in range(48))
        if start != _at(4)
        and not single_request_violations(problem, request, start)
        and not (start < held.end and held.start < start + HOUR)
    }
    listed = {problem.grid.instant(alternative.start): alternative.impact for alternative in why.alternatives}
    assert [alternative.impact for alternative in why.alternatives] == pytest.approx(sorted(allowed.values())[:3])
    assert [0.2 * 1000 * 60 * activity for activity in (0.25, 0.3, 0.5)] == pytest.approx(list(listed.values()))
    assert all(allowed[start] == pytest.approx(impact) for start, impact in listed.items())


def test_json_windows_carry_a_why_object() -> None:
    run = _contested()

    windows = {window["request"]: window for window in replay_json(run)["versions"][-1]["windows"]}
    why = windows["r1"]["why"]
    assert set(why) == {"alternatives", "cheaper_blocked_by"}
    assert "resource:db with request:r2" in [blocker["rule"] for blocker in why["cheaper_blocked_by"]]
    assert all(set(alternative) == {"start", "impact"} for alternative in why["alternatives"])
    assert windows["r2"]["why"]["cheaper_blocked_by"] == []  # r2 sits at the cheapest start


# --- the #nomaintenance replay -------------------------------------------------------------------


@pytest.fixture(scope="module")
def twitter() -> Replay:
    return replay(load_file(TWITTER))


NTT = "ntt-hosting-maintenance"
PDT = timedelta(hours=-7)


def _pdt(day: int, hour: int, minute: int = 0) -> datetime:
    """A June 2009 wall-clock time in Pacific daylight time, as UTC."""
    return datetime(2009, 6, day, hour, minute, tzinfo=UTC) - PDT


def test_twitter_version_one_beats_the_hosts_preferred_start(twitter: Replay) -> None:
    first = _window(twitter.versions[0], NTT)

    assert first.start >= _pdt(15, 21, 45)
    assert first.start != _pdt(15, 21, 45)
    assert first.preferred_impact is not None
    assert first.impact < first.preferred_impact


def test_twitter_veto_is_accepted_and_the_next_version_keeps_out_of_it(twitter: Replay) -> None:
    scenario = load_file(TWITTER)
    veto_step = scenario.steps[0]
    assert (veto_step.action, veto_step.by, veto_step.kind) == ("object", "iran-users", "veto")
    assert veto_step.avoid is not None

    result = twitter.steps[0]
    assert result.accepted is True
    assert result.version is not None
    window = _window(twitter.versions[result.version - 1], NTT)
    assert not any(_overlaps(window, span) for span in veto_step.avoid)


def test_twitter_negotiation_lowers_irans_impact_and_ends_approved(twitter: Replay) -> None:
    first, final = _window(twitter.versions[0], NTT), _window(twitter.final, NTT)

    assert final.impact_by_region["iran"] < first.impact_by_region["iran"]
    assert twitter.final.approved is True
    assert [step.accepted for step in twitter.steps] == [True] * len(twitter.steps)


def test_twitter_counter_reports_the_historical_two_pm_window(twitter: Replay) -> None:
    (counter_step,) = [step for step in twitter.steps if step.action == "counter"]
    counter = counter_step.counter
    assert counter is not None
    assert counter.start == _pdt(16, 14)

    problem = twitter.problem  # the counter came after the last change
    expected = reference_impact_by_region(problem, problem.request_by_id[NTT], _pdt(16, 14))
    assert counter.impact_by_region == pytest.approx(expected, rel=1e-9)
    assert counter.impact == pytest.approx(sum(expected.values()), rel=1e-9)
    assert counter.current_impact == _window(twitter.final, NTT).impact
    assert counter.allowed is True


def test_twitter_replay_is_deterministic(twitter: Replay) -> None:
    assert replay_json(replay(load_file(TWITTER))) == replay_json(twitter)


def test_a_history_up_to_a_version_keeps_each_version_with_its_problem(twitter: Replay) -> None:
    assert len(twitter.versions) > 2
    cut = twitter.up_to(2)

    assert [v.version for v in cut.versions] == [1, 2]
    assert cut.problems == twitter.problems[:2]
    assert (cut.final, cut.problem) == (twitter.versions[1], twitter.problems[1])
    assert twitter.up_to(len(twitter.versions) + 5) == twitter
