"""Repeated requests: periods, occurrences ``ID#k``, the same-time offset across clock changes, and optimality."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar

from scheduler.domain import Problem, Request, Version
from scheduler.errors import ScenarioError
from scheduler.ics import calendar
from scheduler.impact import impact_at
from scheduler.negotiation import replay, rules_against
from scheduler.report import version_json
from scheduler.scenario import load_data
from scheduler.solver import solve
from scheduler.state import load_problem, load_version, problem_json
from tests.factories import make_objection, make_region, make_request, make_scenario, make_stakeholder


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def repeated(start: str, end: str, *, slot: int = 60, regions: list[dict[str, Any]] | None = None, **request: Any):
    """A scenario over [start, end) with one repeated request ``weekly`` (keys of ``request`` replace its own)."""
    return make_scenario(
        horizon={"start": start, "end": end, "slot_minutes": slot},
        regions=regions or [make_region("germany", timezone="Europe/Berlin", profile="consumer")],
        requests=[make_request("weekly", **request)],
    )


def starts_of(version: Version, request_id: str) -> list[datetime]:
    return [w.start for w in version.windows if w.request.partition("#")[0] == request_id]


def local(instant: datetime, zone_name: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone_name))


# --- periods and occurrences -------------------------------------------------------------------


def test_weekly_local_keeps_the_berlin_wall_clock_across_the_march_change() -> None:
    scenario = load_data(
        repeated(
            "2026-03-02T00:00:00Z",
            "2026-04-27T00:00:00Z",
            duration="2h",
            repeat={"every": "1w", "count": 8, "same_time": "local", "zone": "Europe/Berlin"},
        )
    )
    version = solve(scenario.problem)
    starts = starts_of(version, "weekly")
    assert [w.request for w in version.windows] == [f"weekly#{k}" for k in range(1, 9)]
    walls = {(local(s, "Europe/Berlin").weekday(), local(s, "Europe/Berlin").time()) for s in starts}
    assert len(walls) == 1  # one weekday and one local time
    # The UTC instant shifts by the hour on 29 March.
    gaps = {b - a for a, b in itertools.pairwise(starts)}
    assert gaps == {timedelta(days=7), timedelta(days=7) - timedelta(hours=1)}
    assert version.recurrences[0].rrule == "FREQ=WEEKLY;INTERVAL=1;COUNT=8"
    assert version.recurrences[0].zone == "Europe/Berlin"


def test_weekly_utc_keeps_the_utc_time_and_new_york_local_shifts() -> None:
    scenario = load_data(
        repeated(
            "2026-02-23T00:00:00Z",
            "2026-03-23T00:00:00Z",
            regions=[make_region("us", timezone="America/New_York", profile="consumer")],
            duration="1h",
            repeat={"every": "1w", "same_time": "utc"},
        )
    )
    version = solve(scenario.problem)
    starts = starts_of(version, "weekly")
    assert len(starts) == 4  # the periods wholly inside the horizon
    assert {b - a for a, b in itertools.pairwise(starts)} == {timedelta(days=7)}
    hours = [local(s, "America/New_York").hour for s in starts]
    assert hours[0] != hours[-1]  # 8 March moved New York's clock, not the window's UTC time
    assert version.recurrences[0].zone == "UTC"


def test_new_york_local_weekly_across_the_november_change() -> None:
    scenario = load_data(
        repeated(
            "2026-10-26T04:00:00Z",
            "2026-11-16T05:00:00Z",
            regions=[make_region("us", timezone="America/New_York", profile="consumer")],
            duration="1h",
            repeat={"every": "1w", "count": 3},
        )
    )
    assert scenario.problem.request_by_id["weekly"].repeat.zone == "America/New_York"  # type: ignore[union-attr]
    starts = starts_of(solve(scenario.problem), "weekly")
    assert len({local(s, "America/New_York").time() for s in starts}) == 1
    assert starts[2] - starts[1] == timedelta(days=7)
    assert starts[1] - starts[0] == timedelta(days=7, hours=1)


def test_lord_howe_shifts_by_half_an_hour() -> None:
    # Lord Howe Island leaves its 30-minute daylight saving on 5 April 2026.
    scenario = load_data(
        repeated(
            "2026-03-29T13:30:00Z",
            "2026-04-19T13:30:00Z",
            slot=15,
            regions=[make_region("lhi", timezone="Australia/Lord_Howe", profile="consumer")],
            duration="1h",
            repeat={"every": "1w", "count": 3},
        )
    )
    starts = starts_of(solve(scenario.problem), "weekly")
    assert len({local(s, "Australia/Lord_Howe").time() for s in starts}) == 1
    assert starts[1] - starts[0] == timedelta(days=7, minutes=30)


def flat_but(hour: int) -> dict[str, Any]:
    """An hourly profile where local ``hour`` is the only quiet one."""
    return {"hourly": [0.01 if h == hour else 0.5 for h in range(24)]}


def test_an_offset_in_a_spring_forward_gap_is_not_allowed() -> None:
    # 02:00-03:00 does not exist in Berlin on 29 March 2026: the quiet hour 02 cannot be the daily time.
    scenario = load_data(
        repeated(
            "2026-03-27T23:00:00Z",
            "2026-03-30T22:00:00Z",
            regions=[make_region("germany", timezone="Europe/Berlin", profile=flat_but(2))],
            duration="1h",
            repeat={"every": "1d", "count": 3},
        )
    )
    problem = scenario.problem
    series = problem.series["weekly"]
    offset_2am = 2  # period 1 starts at local midnight; offsets are hours in 60-minute slots
    assert not series.exists[:, offset_2am].all() and series.exists[0, offset_2am]
    version = solve(problem)
    assert len(version.windows) == 3
    assert {local(s, "Europe/Berlin").hour for s in starts_of(version, "weekly")} != {2}


def test_an_offset_in_a_fold_takes_the_first_instant() -> None:
    # 02:00-03:00 happens twice in Berlin on 25 October 2026; the daily 02:00 takes the first (CEST, 00:00Z).
    scenario = load_data(
        repeated(
            "2026-10-23T22:00:00Z",
            "2026-10-26T23:00:00Z",
            regions=[make_region("germany", timezone="Europe/Berlin", profile=flat_but(2))],
            duration="1h",
            repeat={"every": "1d", "count": 3},
        )
    )
    starts = starts_of(solve(scenario.problem), "weekly")
    assert starts == [utc(2026, 10, 24, 0), utc(2026, 10, 25, 0), utc(2026, 10, 26, 1)]


def test_count_until_and_the_default_periods() -> None:
    base = {"duration": "1h", "earliest": "2026-03-02T00:00:00Z"}
    start, end = "2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z"
    by_count = load_data(repeated(start, end, **base, repeat={"every": "1d", "count": 3, "same_time": "utc"}))
    assert len(by_count.problem.series["weekly"].occurrences) == 3
    by_until = load_data(
        repeated(start, end, **base, repeat={"every": "1d", "until": "2026-03-05T00:00:00Z", "same_time": "utc"})
    )
    assert len(by_until.problem.series["weekly"].occurrences) == 3  # periods starting 2, 3 and 4 March
    default = load_data(repeated(start, end, **base, deadline="2026-03-06T12:00:00Z", repeat={"every": "1d"}))
    assert len(default.problem.series["weekly"].occurrences) == 4  # the fifth period ends after the deadline


def test_the_deadline_bounds_the_last_occurrence_and_the_offset_keeps_them_all() -> None:
    # The quiet hour is 20:00 UTC, but the deadline ends the third day at noon: all three at one
    # earlier hour place more occurrences than two at 20:00.
    regions = [make_region("uk", timezone="UTC", profile=flat_but(20))]
    scenario = load_data(
        repeated(
            "2026-03-02T00:00:00Z",
            "2026-03-05T00:00:00Z",
            regions=regions,
            duration="1h",
            deadline="2026-03-04T12:00:00Z",
            repeat={"every": "1d", "count": 3, "same_time": "utc"},
        )
    )
    version = solve(scenario.problem)
    assert len(version.windows) == 3
    assert version.windows[-1].end <= utc(2026, 3, 4, 12)


def test_an_occurrence_blocked_at_the_chosen_offset_names_repeat_and_the_rule() -> None:
    data = repeated(
        "2026-03-02T00:00:00Z",
        "2026-03-05T00:00:00Z",
        regions=[make_region("uk", timezone="UTC", profile="consumer")],
        duration="1h",
        repeat={"every": "1d", "count": 3, "same_time": "utc"},
    )
    whole_day = {"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"}
    data["stakeholders"] = [make_stakeholder("ops")]
    data["negotiation"] = [make_objection("weekly#2", by="ops", avoid=[whole_day])]
    final = replay(load_data(data)).final
    assert [w.request for w in final.windows] == ["weekly#1", "weekly#3"]
    assert [(u.request, u.reasons) for u in final.unscheduled] == [("weekly#2", ("repeat:weekly", "veto:0"))]
    assert final.recurrences == ()  # not every occurrence is scheduled


def test_a_veto_on_one_occurrence_moves_them_all_and_a_free_one_alone() -> None:
    for same_time, moved in (("local", {"weekly#1", "weekly#2", "weekly#3"}), ("free", {"weekly#2"})):
        data = repeated(
            "2026-03-02T00:00:00Z",
            "2026-03-05T00:00:00Z",
            regions=[make_region("uk", timezone="UTC", profile="consumer")],
            duration="1h",
            repeat={"every": "1d", "count": 3, "same_time": same_time},
        )
        data["stakeholders"] = [make_stakeholder("ops")]
        data["negotiation"] = [make_objection("weekly#2", by="ops")]
        result = replay(load_data(data))
        assert set(result.final.moved) == moved, same_time
        assert len(result.final.windows) == 3


def test_an_objection_to_the_request_covers_every_occurrence() -> None:
    data = repeated(
        "2026-03-02T00:00:00Z",
        "2026-03-05T00:00:00Z",
        regions=[make_region("uk", timezone="UTC", profile="consumer")],
        duration="1h",
        repeat={"every": "1d", "count": 3, "same_time": "free"},
    )
    data["stakeholders"] = [make_stakeholder("ops")]
    data["negotiation"] = [make_objection("weekly", by="ops")]
    result = replay(load_data(data))
    before, after = result.versions
    assert set(after.moved) == {"weekly#1", "weekly#2", "weekly#3"}
    assert not {w.start for w in before.windows} & {w.start for w in after.windows}


def test_after_pairs_occurrences_and_a_one_off_waits_for_the_last() -> None:
    data = make_scenario(
        horizon={"start": "2026-03-02T00:00:00Z", "end": "2026-03-06T00:00:00Z", "slot_minutes": 60},
        regions=[make_region("uk", timezone="UTC", profile="consumer")],
        requests=[
            make_request("backup", duration="2h", repeat={"every": "1d", "count": 3, "same_time": "utc"}),
            make_request("patch", duration="1h", after=["backup"], repeat={"every": "1d", "count": 3}),
            make_request("report", duration="1h", after=["patch"]),
        ],
    )
    problem = load_data(data).problem
    assert problem.request_by_id["patch#2"].after == ("backup#2",)
    assert problem.request_by_id["report"].after == ("patch#3",)
    windows = solve(problem).window_by_request
    for k in (1, 2, 3):
        assert windows[f"patch#{k}"].start >= windows[f"backup#{k}"].end
    assert windows["report"].start >= windows["patch#3"].end


def test_a_repeated_request_survives_the_stored_state() -> None:
    problem = load_data(
        repeated("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z", duration="1h", repeat={"every": "1d", "count": 3})
    ).problem
    assert load_problem(problem_json(problem)) == problem
    version = solve(problem)
    assert load_version(version_json(version, problem)).recurrences == version.recurrences


@pytest.mark.parametrize(
    ("repeat", "path", "words"),
    [
        ({"every": "36h"}, "requests[0].repeat.every", "whole number of days"),
        ({"every": "1d", "count": 2, "until": "2026-03-05T00:00:00Z"}, "requests[0].repeat", "count or until"),
        ({"every": "1d", "zone": "Europe/Berln"}, "requests[0].repeat.zone", "Europe/Berlin"),
        ({"every": "4w"}, "requests[0].repeat", "no period"),
        ({"every": "1d", "until": "2026-03-01T00:00:00Z"}, "requests[0].repeat.until", "after"),
        ({"every": "1d", "count": 0}, "requests[0].repeat.count", ""),
        ({"every": "1d", "same_time": "weekly"}, "requests[0].repeat.same_time", ""),
    ],
)
def test_bad_repeats_name_the_field(repeat: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load_data(repeated("2026-03-02T00:00:00Z", "2026-03-09T00:00:00Z", duration="1h", repeat=repeat))
    assert error.value.path == path
    assert words in str(error.value)


def test_an_occurrence_cannot_be_withdrawn_alone_and_started_ones_stay() -> None:
    data = repeated(
        "2026-03-02T00:00:00Z",
        "2026-03-06T00:00:00Z",
        regions=[make_region("uk", timezone="UTC", profile="flat")],
        duration="1h",
        repeat={"every": "1d", "count": 3, "same_time": "utc"},
    )
    data["stakeholders"] = [make_stakeholder("ops")]
    data["negotiation"] = [
        make_objection("weekly#3", by="ops", kind="soft"),
        {"action": "withdraw", "by": "ops", "request": "weekly", "at": "2026-03-03T12:00:00Z"},
    ]
    result = replay(load_data(data))
    assert result.steps[1].accepted
    # The flat profile puts each at its period's start: #1 and #2 have started and stay; #3 is withdrawn.
    assert [w.request for w in result.final.windows] == ["weekly#1", "weekly#2"]
    with pytest.raises(ScenarioError):
        data["negotiation"] = [{"action": "withdraw", "by": "ops", "request": "weekly#2"}]
        load_data(data)


# --- the calendar ------------------------------------------------------------------------------


def test_the_rrule_expanded_by_a_calendar_library_gives_the_json_windows() -> None:
    result = replay(
        load_data(
            repeated(
                "2026-03-02T00:00:00Z",
                "2026-04-27T00:00:00Z",
                duration="2h",
                repeat={"every": "1w", "count": 8, "zone": "Europe/Berlin"},
            )
        )
    )
    parsed = Calendar.from_ical(calendar(result))
    events = [c for c in parsed.walk("VEVENT")]
    assert len(events) == 1 and "RRULE" in events[0]
    assert events[0]["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert parsed.walk("VTIMEZONE")
    expanded = recurring_ical_events.of(parsed).between(utc(2026, 1, 1), utc(2027, 1, 1))
    got = sorted((e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC)) for e in expanded)
    assert got == [(w.start, w.end) for w in result.final.windows]


# --- optimality against brute force ------------------------------------------------------------


def brute_force(problem: Problem) -> tuple[int, float]:
    """The most occurrences placed, then the least impact, by trying every offset (or start) of everything.

    For a same-time request, an offset places each occurrence its own rules allow there; a free
    one's occurrences each try every start of their period. Windows sharing a resource must not overlap.
    """
    grid = problem.grid
    options: list[list[list[tuple[Request, datetime]]]] = []  # per chooser, its options: the windows each places
    for request in problem.requests:
        if request.repeat is None:
            options.append([[(request, grid.instant(i))] for i in range(grid.count)])
            continue
        occurrences = problem.series[request.id].occurrences
        if request.repeat.same_time == "free":
            options += [[[(o, grid.instant(i))] for i in range(grid.count)] for o in occurrences]
            continue
        tz = ZoneInfo(request.repeat.zone) if request.repeat.same_time == "local" else UTC
        wall = request.earliest.astimezone(tz).replace(tzinfo=None)
        chosen = []
        for hours in range(int(request.repeat.every / timedelta(hours=1))):
            windows = []
            for k, occurrence in enumerate(occurrences):
                target = wall + k * request.repeat.every + timedelta(hours=hours)
                instant = target.replace(tzinfo=tz, fold=0).astimezone(UTC)
                if instant.astimezone(tz).replace(tzinfo=None) != target:
                    windows = None  # this local time does not exist in some period
                    break
                windows.append((occurrence, instant))
            if windows is not None:
                chosen.append(windows)
        options.append(chosen)
    allowed = [
        [[(r, s) for r, s in option if not rules_against(problem, r, s)] for option in chooser] for chooser in options
    ]
    costs: dict[tuple[str, datetime], float] = {}

    def cost_of(request: Request, start: datetime) -> float:
        if (request.id, start) not in costs:
            costs[request.id, start] = sum(impact_at(problem, request, start).values())
        return costs[request.id, start]

    best = (0, 0.0)
    for combination in itertools.product(*[[[], *[o for o in chooser if o]] for chooser in allowed]):
        windows = [w for option in combination for w in option]
        spans = [(r, s, s + grid.slots_for(r.duration) * grid.slot) for r, s in windows]
        if any(
            a[0].resources & b[0].resources and a[1] < b[2] and b[1] < a[2] for a, b in itertools.combinations(spans, 2)
        ):
            continue
        cost = sum(cost_of(r, s) for r, s in windows)
        if len(windows) > best[0] or (len(windows) == best[0] and cost < best[1] - 1e-6):
            best = (len(windows), cost)
    return best


@pytest.mark.parametrize("same_time", ["local", "utc", "free"])
def test_optimal_against_brute_force_with_a_shared_resource(same_time: str) -> None:
    # Two daily occurrences across Berlin's spring-forward night, and a one-off request that
    # needs the same database.
    data = make_scenario(
        horizon={"start": "2026-03-28T03:00:00Z", "end": "2026-03-30T09:00:00Z", "slot_minutes": 60},
        regions=[
            make_region("germany", timezone="Europe/Berlin", profile="consumer"),
            make_region("us", timezone="America/New_York", users=3000, profile="business"),
        ],
        requests=[
            make_request(
                "patch",
                duration="2h",
                resources=["db"],
                repeat={"every": "1d", "count": 2, "same_time": same_time},
            ),
            make_request("migrate", duration="3h", resources=["db"], deadline="2026-03-29T06:00:00Z"),
        ],
    )
    problem = load_data(data).problem
    version = solve(problem)
    count, cost = brute_force(problem)
    assert len(version.windows) == count
    assert version.objective == pytest.approx(cost, rel=1e-9)
    assert version.status == "optimal"


def test_a_counter_or_pin_names_one_occurrence() -> None:
    data = repeated(
        "2026-03-02T00:00:00Z",
        "2026-03-05T00:00:00Z",
        regions=[make_region("uk", timezone="UTC", profile="consumer")],
        duration="1h",
        repeat={"every": "1d", "count": 3, "same_time": "utc"},
    )
    data["stakeholders"] = [make_stakeholder("ops")]
    data["negotiation"] = [
        {"action": "counter", "by": "ops", "request": "weekly", "start": "2026-03-03T10:00:00Z"},
        {"action": "pin", "by": "ops", "request": "weekly#2", "start": "2026-03-03T10:00:00Z"},
    ]
    result = replay(load_data(data))
    refused, pinned = result.steps
    assert not refused.accepted and "weekly#1" in (refused.reason or "")
    assert pinned.accepted
    windows = result.final.window_by_request
    assert windows["weekly#2"].start == utc(2026, 3, 3, 10)
    # The others still share one time; the pinned one no longer binds them.
    assert windows["weekly#3"].start - windows["weekly#1"].start == timedelta(days=2)


def test_the_calendar_cancels_the_recurring_event_when_an_occurrence_leaves_it() -> None:
    data = repeated(
        "2026-03-02T00:00:00Z",
        "2026-03-05T00:00:00Z",
        regions=[make_region("uk", timezone="UTC", profile="consumer")],
        duration="1h",
        repeat={"every": "1d", "count": 3, "same_time": "utc"},
    )
    whole_day = {"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"}
    data["stakeholders"] = [make_stakeholder("ops")]
    data["negotiation"] = [make_objection("weekly#2", by="ops", avoid=[whole_day])]
    parsed = Calendar.from_ical(calendar(replay(load_data(data))))
    by_uid = {str(e["UID"]).partition("@")[0]: e for e in parsed.walk("VEVENT")}
    assert set(by_uid) == {"weekly", "weekly#1", "weekly#3"}
    assert by_uid["weekly"]["STATUS"] == "CANCELLED" and by_uid["weekly"]["SEQUENCE"] == 1


def test_a_pinned_window_on_the_shared_resource_leaves_out_one_occurrence_not_itself() -> None:
    data = make_scenario(
        horizon={"start": "2026-03-02T00:00:00Z", "end": "2026-03-05T00:00:00Z", "slot_minutes": 60},
        regions=[make_region("uk", timezone="UTC", profile="consumer")],
        requests=[
            make_request("nightly", duration="1h", resources=["db"], repeat={"every": "1d", "count": 3}),
            make_request("rebuild", duration="1d", resources=["db"]),
        ],
        stakeholders=[make_stakeholder("ops")],
        negotiation=[{"action": "pin", "by": "ops", "request": "rebuild", "start": "2026-03-03T00:00:00Z"}],
    )
    final = replay(load_data(data)).final
    assert final.window_by_request["rebuild"].start == utc(2026, 3, 3)
    assert {w.request for w in final.windows} == {"rebuild", "nightly#1", "nightly#3"}
    assert [(u.request, u.reasons) for u in final.unscheduled] == [
        ("nightly#2", ("repeat:nightly", "resource:db with request:rebuild"))
    ]
