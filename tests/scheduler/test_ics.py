"""The calendar feed (RFC 5545) as calendar apps follow it from version to version: stable UIDs, a
SEQUENCE that rises exactly when what the app shows changes, cancelled events, per-stakeholder feeds.

A ``Negotiation`` is driven step by step, as the HTTP service drives it, on two UTC regions with a
flat profile: ``qa`` in region r1 (requested by ``ops``) and ``qb`` in region r2. Every window costs
the same wherever it goes, so a window moves only when a step forces it to. Each step moves ``now``
on by a minute, so each version has its own ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, get_args

import pytest
from engine_factories import HOUR, T0, make_grid, make_problem, make_region, make_request, make_stakeholder
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from icalendar.cal import Component

from scheduler import steps
from scheduler.domain import TimeRange
from scheduler.ics import PRODUCT_ID, calendar
from scheduler.negotiation import Negotiation, Replay, StepResult

STAKEHOLDERS = (
    make_stakeholder("boss", name="Head of operations", role="approver"),
    make_stakeholder("deputy", role="approver"),
    make_stakeholder("ops", name="Platform team", role="requester", regions=frozenset(), services=frozenset()),
    make_stakeholder("rep-a", name="Users of region r1", regions=frozenset({"r1"})),
    make_stakeholder("rep-b", name="Users of region r2", regions=frozenset({"r2"})),
)
WHOLE_HORIZON = (TimeRange(T0, T0 + 24 * HOUR),)
MINUTE = timedelta(minutes=1)
STEPS: dict[str, Any] = {step.action: step for step in get_args(steps.Step)}


@dataclass
class Plan:
    """A negotiation taken one step at a time; its feed can be read after any prefix of its versions."""

    negotiation: Negotiation
    taken: int = 0

    def take(self, action: str, by: str, *, check: bool = True, **fields: Any) -> StepResult:
        """Apply one step a minute after the previous one; with ``check``, it must be accepted."""
        self.taken += 1
        step = STEPS[action](index=self.taken - 1, by=by, at=T0 + self.taken * MINUTE, **fields)
        result = self.negotiation.apply(step)
        assert result.accepted or not check, result.reason
        return result

    def replay(self, versions: int | None = None) -> Replay:
        """The first ``versions`` versions (all by default) as the HTTP service builds its Replay."""
        count = len(self.negotiation.versions) if versions is None else versions
        problem = self.negotiation.problem
        return Replay(
            scenario=problem.name,
            slot_minutes=problem.grid.slot_minutes,
            steps=(),
            versions=tuple(self.negotiation.versions[:count]),
            problems=tuple(self.negotiation.problems[:count]),
        )

    def feed(self, stakeholder: str | None = None, *, versions: int | None = None) -> Calendar:
        """The feed after ``versions`` versions, parsed back and checked against RFC 5545's musts."""
        replay = self.replay(versions)
        scope = None if stakeholder is None else self.negotiation.problem.stakeholder_by_id[stakeholder]
        return valid(Calendar.from_ical(calendar(replay, scope)))

    def now(self, version: int) -> datetime:
        return self.negotiation.versions[version - 1].now


def open_plan() -> Plan:
    """Version 1 of qa (r1, requested by ops) and qb (r2), both allowed in the second half of the day."""
    # Later than every ``now`` the steps reach, so no window starts while the plan is negotiated.
    afternoon = T0 + 12 * HOUR
    problem = make_problem(
        grid=make_grid(),
        regions=(make_region("r1"), make_region("r2")),
        requests=(
            make_request(
                "qa", title="Database upgrade", regions=frozenset({"r1"}), requested_by="ops", earliest=afternoon
            ),
            make_request("qb", title="Network switch", regions=frozenset({"r2"}), earliest=afternoon),
        ),
        stakeholders=STAKEHOLDERS,
    )
    return Plan(Negotiation.open(problem, time_limit_s=5.0))


def valid(feed: Calendar) -> Calendar:
    """``feed`` after checking what RFC 5545 requires of it and of each of its events."""
    assert not feed.errors
    assert feed["VERSION"] == "2.0"
    assert feed["PRODID"] == PRODUCT_ID
    assert feed["METHOD"] == "PUBLISH"
    for event in feed.walk("VEVENT"):
        assert not event.errors
        for name in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "LAST-MODIFIED", "SUMMARY", "STATUS"):
            assert name in event, f"{event.get('UID')} has no {name}"
        assert event.decoded("DTSTART") < event.decoded("DTEND")
    uids = [str(event["UID"]) for event in feed.walk("VEVENT")]
    assert len(uids) == len(set(uids))
    return feed


def events(feed: Calendar) -> dict[str, Component]:
    """The feed's events by request id (the part of the UID before ``@``)."""
    return {str(event["UID"]).split("@")[0]: event for event in feed.walk("VEVENT")}


def sequence(event: Component) -> int:
    value: int = event.decoded("SEQUENCE")
    return value


def shown(event: Component) -> tuple[datetime, datetime, bool]:
    """What a calendar app shows of an event: its times, and whether it is cancelled."""
    return event.decoded("DTSTART"), event.decoded("DTEND"), str(event["STATUS"]) == "CANCELLED"


# --- one version ----------------------------------------------------------------------------------


def test_first_version_is_a_feed_of_tentative_events_at_sequence_zero() -> None:
    plan = open_plan()
    replay = plan.replay()

    feed = plan.feed()

    assert str(feed["X-WR-CALNAME"]) == "Maintenance: test"
    by_request = events(feed)
    assert set(by_request) == {"qa", "qb"}
    for request, event in by_request.items():
        window = replay.final.window_by_request[request]
        assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (window.start, window.end)
        assert sequence(event) == 0
        assert event.decoded("DTSTAMP") == event.decoded("LAST-MODIFIED") == replay.final.now
        assert str(event["STATUS"]) == "TENTATIVE"
        assert "Impact" in str(event["DESCRIPTION"])
    assert str(by_request["qa"]["SUMMARY"]) == "Database upgrade"


# --- moves ----------------------------------------------------------------------------------------


def test_a_veto_that_moves_the_window_keeps_the_uid_and_adds_one_to_sequence() -> None:
    plan = open_plan()
    before = events(plan.feed())

    plan.take("object", "rep-a", request_id="qa", kind="veto")
    after = events(plan.feed())

    assert after["qa"]["UID"] == before["qa"]["UID"]
    assert after["qa"].decoded("DTSTART") != before["qa"].decoded("DTSTART")
    assert sequence(after["qa"]) == 1
    assert after["qa"].decoded("LAST-MODIFIED") == plan.now(2)
    assert after["qa"].decoded("DTSTAMP") == plan.now(2)


def test_a_version_that_leaves_the_window_where_it_was_keeps_its_sequence() -> None:
    plan = open_plan()
    before = events(plan.feed())

    plan.take("object", "rep-b", request_id="qb", kind="veto")  # moves qb, not qa
    after = events(plan.feed())

    assert len(plan.negotiation.versions) == 2
    assert shown(after["qa"]) == shown(before["qa"])
    assert sequence(after["qa"]) == 0
    assert after["qa"].decoded("LAST-MODIFIED") == plan.now(1)
    assert after["qa"].decoded("DTSTAMP") == plan.now(2)  # the feed itself is newer
    assert sequence(after["qb"]) == 1


def test_each_move_adds_one_and_a_version_without_one_adds_nothing() -> None:
    plan = open_plan()

    plan.take("object", "rep-a", request_id="qa", kind="veto")
    plan.take("object", "rep-b", request_id="qb", kind="veto")
    plan.take("object", "boss", request_id="qa", kind="veto")

    assert [sequence(events(plan.feed(versions=n))["qa"]) for n in (1, 2, 3, 4)] == [0, 1, 1, 2]


def test_approval_confirms_the_events_without_moving_them() -> None:
    plan = open_plan()
    plan.take("object", "rep-a", request_id="qa", kind="veto")

    plan.take("approve", "boss")
    feed = events(plan.feed())

    assert {str(event["STATUS"]) for event in feed.values()} == {"CONFIRMED"}
    assert sequence(feed["qa"]) == 1
    assert sequence(feed["qb"]) == 0


# --- cancellations --------------------------------------------------------------------------------


def test_a_withdrawn_request_becomes_a_cancelled_event_with_a_higher_sequence() -> None:
    plan = open_plan()
    before = events(plan.feed())

    plan.take("withdraw", "ops", request_id="qa")
    feed = plan.feed()
    after = events(feed)

    assert feed["METHOD"] == "PUBLISH"
    cancelled = after["qa"]
    assert cancelled["UID"] == before["qa"]["UID"]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert sequence(cancelled) == 1
    assert shown(cancelled)[:2] == shown(before["qa"])[:2]  # the last known window
    assert str(cancelled["SUMMARY"]) == "Cancelled: Database upgrade"
    assert "Withdrawn" in str(cancelled["DESCRIPTION"])
    assert cancelled.decoded("LAST-MODIFIED") == plan.now(2)
    assert sequence(after["qb"]) == 0


def test_a_cancelled_event_keeps_its_sequence_while_nothing_changes() -> None:
    plan = open_plan()
    plan.take("withdraw", "ops", request_id="qa")

    plan.take("object", "rep-b", request_id="qb", kind="veto")
    cancelled = events(plan.feed())["qa"]

    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert sequence(cancelled) == 1
    assert cancelled.decoded("LAST-MODIFIED") == plan.now(2)


def test_a_request_left_without_a_window_is_cancelled_with_the_reasons_and_comes_back_with_a_new_sequence() -> None:
    plan = open_plan()
    veto = plan.take("object", "boss", request_id="qb", kind="veto", avoid=WHOLE_HORIZON)

    cancelled = events(plan.feed())["qb"]

    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert sequence(cancelled) == 1
    assert str(cancelled["SUMMARY"]) == "Cancelled: Network switch"
    assert f"veto:{veto.index}" in str(cancelled["DESCRIPTION"])
    assert "Withdrawn" not in str(cancelled["DESCRIPTION"])

    plan.take("override_veto", "boss", veto=f"veto:{veto.index}")  # the first approver: no version yet
    plan.take("override_veto", "deputy", veto=f"veto:{veto.index}")
    back = events(plan.feed())["qb"]

    assert str(back["STATUS"]) == "TENTATIVE"
    assert str(back["SUMMARY"]) == "Network switch"
    assert sequence(back) == 2
    assert back.decoded("LAST-MODIFIED") == plan.now(3)


def test_a_request_that_never_had_a_window_has_no_event() -> None:
    plan = open_plan()
    plan.take("submit", "ops", request=make_request("qc", regions=frozenset({"r1"}), deadline=T0 + 30 * MINUTE))

    feed = events(plan.feed())

    assert plan.negotiation.current.unscheduled[0].request == "qc"
    assert set(feed) == {"qa", "qb"}


# --- per-stakeholder feeds ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stakeholder", "requests"),
    [
        ("rep-a", {"qa"}),  # a representative sees the requests in its regions
        ("rep-b", {"qb"}),
        ("boss", {"qa", "qb"}),  # an approver sees everything
        ("ops", {"qa"}),  # a requester sees its own, even outside its scope
    ],
)
def test_a_stakeholders_feed_holds_the_requests_that_concern_it(stakeholder: str, requests: set[str]) -> None:
    plan = open_plan()

    feed = plan.feed(stakeholder)

    assert set(events(feed)) == requests
    name = plan.negotiation.problem.stakeholder_by_id[stakeholder].name
    assert str(feed["X-WR-CALNAME"]) == f"Maintenance: test for {name}"


def test_a_withdrawn_request_is_cancelled_only_in_the_feeds_it_concerns() -> None:
    plan = open_plan()

    plan.take("withdraw", "boss", request_id="qb")

    assert str(events(plan.feed("rep-b"))["qb"]["STATUS"]) == "CANCELLED"
    assert set(events(plan.feed("rep-a"))) == {"qa"}
    assert str(events(plan.feed("boss"))["qb"]["STATUS"]) == "CANCELLED"


def test_a_scoped_feed_shows_the_same_events_as_the_whole_feed() -> None:
    plan = open_plan()
    plan.take("object", "rep-a", request_id="qa", kind="veto")

    whole, scoped = events(plan.feed()), events(plan.feed("rep-a"))

    assert scoped["qa"].to_ical() == whole["qa"].to_ical()


# --- across versions ------------------------------------------------------------------------------

MOVES = {
    "move qa": ("object", "rep-a", {"request_id": "qa", "kind": "veto"}),
    "move qb": ("object", "rep-b", {"request_id": "qb", "kind": "veto"}),
    "soft on qa": ("object", "rep-a", {"request_id": "qa", "kind": "soft"}),
    "block qb": ("object", "boss", {"request_id": "qb", "kind": "veto", "avoid": WHOLE_HORIZON}),
    "lift a veto": ("override_veto", "deputy", {}),  # the latest veto on qb, boss having proposed it
    "withdraw qa": ("withdraw", "ops", {"request_id": "qa"}),
    "approve": ("approve", "boss", {}),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(MOVES)), min_size=1, max_size=5))
@example(["block qb", "lift a veto", "move qb"])  # cancelled, back, moved
@example(["move qa", "approve", "withdraw qa", "move qb"])
def test_sequence_never_decreases_and_rises_exactly_when_what_is_shown_changes(moves: list[str]) -> None:
    plan = open_plan()
    for move in moves:
        action, by, fields = MOVES[move]
        if action == "override_veto":
            vetoes = [o.rule for o in plan.negotiation.problem.objections_on("qb") if o.kind == "veto"]
            if not vetoes:
                continue
            plan.take("override_veto", "boss", check=False, veto=vetoes[-1])
            fields = {"veto": vetoes[-1]}
        plan.take(action, by, check=False, **fields)

    feeds = [events(plan.feed(versions=n)) for n in range(1, len(plan.negotiation.versions) + 1)]

    for before, after in pairwise(feeds):
        assert before.keys() <= after.keys()  # an event once published never disappears
        for request, event in after.items():
            if request not in before:
                assert sequence(event) == 0
                continue
            changed = shown(event) != shown(before[request])
            assert sequence(event) == sequence(before[request]) + changed, (request, moves)
