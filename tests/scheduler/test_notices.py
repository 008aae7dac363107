"""What a stakeholder is told: scope, what a version changed for them, and which reminder is due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_factories import HOUR, T0, make_problem, make_region, make_request, make_stakeholder

from scheduler.authority import concerns
from scheduler.domain import Request, Stakeholder, Unscheduled, Version, Window
from scheduler.notices import changes_between, reminders_due

REGIONS = (make_region("r1"), make_region("r2"))
QA = make_request("qa", regions=frozenset({"r1"}), requested_by="ops")
QB = make_request("qb", regions=frozenset({"r2"}))
PROBLEM = make_problem(regions=REGIONS, requests=(QA, QB))
REP_A = make_stakeholder("rep-a", regions=frozenset({"r1"}))
REP_B = make_stakeholder("rep-b", regions=frozenset({"r2"}))
OPS = make_stakeholder("ops", role="requester", regions=frozenset(), services=frozenset())
BOSS = make_stakeholder("boss", role="approver", regions=frozenset(), services=frozenset())


def window(request: str, hour: int) -> Window:
    return Window(request, T0 + hour * HOUR, T0 + (hour + 1) * HOUR, 1.0, {})


def version(number: int, *windows: Window, unscheduled: tuple[Unscheduled, ...] = ()) -> Version:
    return Version(number, T0, "optimal", 0.0, 0.0, windows, unscheduled)


@pytest.mark.parametrize(
    ("stakeholder", "maintenance", "expected"),
    [
        (REP_A, QA, True),
        (REP_A, QB, False),  # another region
        (make_stakeholder("rep-web", services=frozenset({"web"})), QA, False),  # region meets, service does not
        (OPS, QA, True),  # its own request, though its scope is empty
        (OPS, QB, False),
        (BOSS, QB, True),
        (None, QB, True),  # no stakeholder: everything
    ],
)
def test_concerns(stakeholder: Stakeholder | None, maintenance: Request, expected: bool) -> None:
    assert concerns(stakeholder, maintenance) is expected


def test_changes_name_moved_new_cancelled_and_unscheduled_windows_in_scope() -> None:
    before = version(1, window("qa", 2), window("qb", 3))
    withdrawn = make_problem(regions=REGIONS, requests=(QB,))  # qa withdrawn
    after = version(2, window("qb", 5))

    changes = changes_between((before, PROBLEM), (after, withdrawn))

    assert [(c.request, c.change) for c in changes] == [("qa", "cancelled"), ("qb", "moved")]
    assert changes[1].previous == window("qb", 3)
    assert changes[1].window == window("qb", 5)
    # The withdrawn request is still in rep-a's scope (looked up in the problem before); qb is not.
    assert [c.request for c in changes_between((before, PROBLEM), (after, withdrawn), REP_A)] == ["qa"]
    assert [c.request for c in changes_between((before, PROBLEM), (after, withdrawn), REP_B)] == ["qb"]


def test_a_request_left_without_a_window_is_unscheduled_with_its_reasons() -> None:
    before = version(1, window("qa", 2))
    after = version(2, unscheduled=(Unscheduled("qa", ("veto:0",)),))

    [change] = changes_between((before, PROBLEM), (after, PROBLEM))

    assert (change.change, change.reasons, change.previous) == ("unscheduled", ("veto:0",), window("qa", 2))


def test_the_first_version_schedules_and_an_unchanged_window_is_not_a_change() -> None:
    first = version(1, window("qa", 2))

    assert [c.change for c in changes_between(None, (first, PROBLEM))] == ["scheduled"]
    assert changes_between((first, PROBLEM), (version(2, window("qa", 2)), PROBLEM)) == []


LEADS = (timedelta(hours=24), timedelta(hours=1))


@pytest.mark.parametrize(
    ("before_start", "lead"),
    [
        (timedelta(hours=30), None),  # no lead time reached yet
        (timedelta(hours=24), timedelta(hours=24)),  # exactly at the lead time
        (timedelta(hours=5), timedelta(hours=24)),
        (timedelta(minutes=30), timedelta(hours=1)),  # the nearest lead reached wins over the missed 24 h
        (timedelta(0), None),  # started
        (-timedelta(minutes=10), None),
    ],
)
def test_the_nearest_lead_time_reached_is_due(before_start: timedelta, lead: timedelta | None) -> None:
    current = version(1, window("qa", 30))
    now = current.windows[0].start - before_start
    problem = make_problem(regions=REGIONS, requests=(QA,))

    due = reminders_due(current, problem, now=now, leads=LEADS)

    assert [reminder.lead for reminder in due] == ([] if lead is None else [lead])


def test_reminders_keep_to_the_stakeholder_scope() -> None:
    current = version(1, window("qa", 10), window("qb", 10))
    now = T0 + 9 * HOUR + timedelta(minutes=30)

    assert [r.window.request for r in reminders_due(current, PROBLEM, now=now, leads=LEADS, stakeholder=REP_B)] == [
        "qb"
    ]
    assert len(reminders_due(current, PROBLEM, now=now, leads=LEADS)) == 2
