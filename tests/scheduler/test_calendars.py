"""Events from calendars: public holidays by a region's country, and iCalendar freeze calendars."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scheduler.domain import Event, Period, Version
from scheduler.errors import ScenarioError
from scheduler.scenario import Scenario, load_data, load_file
from scheduler.solver import solve
from scheduler.state import load_problem, problem_json
from tests.factories import make_horizon, make_region, make_request, make_scenario, write_scenario


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def horizon(start: str, end: str) -> dict[str, Any]:
    return make_horizon(start=start, end=end)


def holiday_scenario(regions: list[dict[str, Any]], start: str, end: str, **event: Any) -> dict[str, Any]:
    return make_scenario(
        horizon=horizon(start, end),
        regions=regions,
        events=[{"id": "holidays", "holidays": True, **(event or {"weight": 3})}],
    )


def periods(scenario: Scenario, event_id: str = "holidays") -> tuple[Period, ...]:
    event: Event = next(e for e in scenario.problem.events if e.id == event_id)
    return event.periods


def by_rule(scenario: Scenario, event_id: str = "holidays") -> dict[str, Period]:
    return {period.rule: period for period in periods(scenario, event_id)}


# --- Public holidays ------------------------------------------------------------------------------


def test_iran_keeps_nowruz_and_the_islamic_holidays_in_its_own_local_day() -> None:
    iran = make_region("iran", timezone="Asia/Tehran", country="IR")
    scenario = load_data(holiday_scenario([iran], "2026-03-15T00:00:00Z", "2026-06-01T00:00:00Z"))
    rules = by_rule(scenario)
    nowruz = rules["event:holidays:IR:2026-03-21"]
    assert "Nowruz" in nowruz.name
    # Tehran is UTC+03:30: its 21 March runs from 20:30 UTC on the 20th.
    assert (nowruz.start, nowruz.end) == (utc(2026, 3, 20, 20, 30), utc(2026, 3, 21, 20, 30))
    assert nowruz.regions == frozenset({"iran"})
    assert "Eid al-Adha" in rules["event:holidays:IR:2026-05-27"].name


def test_bavaria_keeps_epiphany_and_berlin_does_not() -> None:
    bavaria = make_region("munich", timezone="Europe/Berlin", country="DE-BY")
    berlin = make_region("berlin", timezone="Europe/Berlin", country="DE-BE")
    scenario = load_data(holiday_scenario([bavaria, berlin], "2026-01-01T00:00:00Z", "2026-01-10T00:00:00Z"))
    epiphany = [p for p in periods(scenario) if p.start == utc(2026, 1, 5, 23)]
    assert [(p.rule, p.name, p.regions) for p in epiphany] == [
        ("event:holidays:DE-BY:2026-01-06", "Epiphany", frozenset({"munich"}))
    ]
    new_year = {p.rule: p.regions for p in periods(scenario) if p.rule.endswith(":2026-01-01")}
    assert new_year == {
        "event:holidays:DE-BE:2026-01-01": frozenset({"berlin"}),
        "event:holidays:DE-BY:2026-01-01": frozenset({"munich"}),
    }


def test_united_states_independence_day_and_thanksgiving_only_inside_the_horizon() -> None:
    us = make_region("us", timezone="America/New_York", country="US")
    scenario = load_data(holiday_scenario([us], "2026-07-01T00:00:00Z", "2026-11-30T00:00:00Z"))
    rules = by_rule(scenario)
    assert rules["event:holidays:US:2026-07-04"].name == "Independence Day"
    thanksgiving = rules["event:holidays:US:2026-11-26"]
    assert thanksgiving.name == "Thanksgiving Day"
    assert (thanksgiving.start, thanksgiving.end) == (utc(2026, 11, 26, 5), utc(2026, 11, 27, 5))  # EST
    assert "event:holidays:US:2026-01-01" not in rules  # before the horizon
    assert "event:holidays:US:2026-12-25" not in rules  # after it


def test_regions_without_a_country_and_regions_outside_the_event_have_no_holidays() -> None:
    iran = make_region("iran", timezone="Asia/Tehran", country="IR")
    us = make_region("us", timezone="America/New_York", country="US")
    plain = make_region("plain", timezone="Europe/Paris")
    data = holiday_scenario([iran, us, plain], "2026-03-01T00:00:00Z", "2026-07-10T00:00:00Z", weight=2)
    data["events"][0]["regions"] = ["iran", "plain"]
    covered = {region for period in periods(load_data(data)) for region in period.regions}
    assert covered == {"iran"}


def test_a_holiday_blackout_keeps_the_window_off_the_holiday_and_names_it() -> None:
    us = make_region("us", timezone="America/New_York", country="US")
    data = holiday_scenario([us], "2026-07-04 00:00 America/New_York", "2026-07-05 03:00 America/New_York")
    data["events"] = [{"id": "holidays", "holidays": True, "blackout": True}]
    data["requests"] = [make_request("r1", duration="2h")]
    scenario = load_data(data)
    version = solve(scenario.problem)
    (window,) = version.windows
    assert window.start >= utc(2026, 7, 5, 4)  # after local midnight ending the 4th (EDT)

    data["requests"] = [make_request("r1", duration="2h", deadline="2026-07-04 23:00 America/New_York")]
    version = solve(load_data(data).problem)
    assert "event:holidays:US:2026-07-04" in version.unscheduled[0].reasons


def test_a_holiday_weight_multiplies_the_impact_of_a_window_on_that_day() -> None:
    de = make_region("de", timezone="Europe/Berlin", country="DE")
    data = holiday_scenario([de], "2026-12-24 00:00 Europe/Berlin", "2026-12-27 00:00 Europe/Berlin", weight=3)
    pinned = "2026-12-25 10:00 Europe/Berlin"
    ordinary = "2026-12-24 10:00 Europe/Berlin"  # Christmas Eve is no public holiday in Germany

    def impact_at(start: str) -> float:
        data["requests"] = [make_request("r1", earliest=start, deadline=start.replace("10:00", "11:00"))]
        version: Version = solve(load_data(data).problem)
        return version.windows[0].impact

    assert impact_at(pinned) == pytest.approx(3 * impact_at(ordinary))


def test_holiday_periods_survive_the_stored_state() -> None:
    de = make_region("de", timezone="Europe/Berlin", country="DE")
    problem = load_data(holiday_scenario([de], "2026-12-20T00:00:00Z", "2026-12-31T00:00:00Z")).problem
    assert load_problem(problem_json(problem)) == problem


@pytest.mark.parametrize(
    ("country", "message"),
    [
        ("XX", "unknown country 'XX'"),
        ("de", "write it in capitals: 'DE'"),
        ("DE-ZZ", "DE has no subdivision 'ZZ'"),
    ],
)
def test_an_unknown_country_is_an_error_naming_the_field(country: str, message: str) -> None:
    data = make_scenario(regions=[make_region(country=country)])
    with pytest.raises(ScenarioError, match=message) as raised:
        load_data(data)
    assert raised.value.path == "regions[0].country"


def test_holidays_without_any_region_with_a_country_is_an_error() -> None:
    with pytest.raises(ScenarioError, match="none of the event's regions has a country") as raised:
        load_data(holiday_scenario([make_region()], "2026-03-02T00:00:00Z", "2026-03-04T00:00:00Z"))
    assert raised.value.path == "events[0].holidays"


# --- Exactly one source of periods ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "path", "message"),
    [
        ({"weight": 2}, "events[0]", "needs its periods"),
        (
            {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z", "holidays": True, "weight": 2},
            "events[0].holidays",
            "give only one of",
        ),
        ({"holidays": True, "ics_text": "BEGIN:VCALENDAR", "weight": 2}, "events[0].ics_text", "give only one of"),
        ({"ics": "a.ics", "ics_text": "BEGIN:VCALENDAR", "weight": 2}, "events[0].ics_text", "not both"),
        ({"start": "2026-03-02T00:00:00Z", "weight": 2}, "events[0].end", "is required with start"),
        (
            {"ics": "freezes.ics", "blackout": True},
            "events[0].ics",
            "from files only; send the file's text as ics_text",
        ),
    ],
)
def test_an_event_needs_exactly_one_source_of_periods(event: dict[str, Any], path: str, message: str) -> None:
    data = make_scenario(regions=[make_region(country="FR")], events=[{"id": "e1", **event}])
    with pytest.raises(ScenarioError, match=message) as raised:
        load_data(data)
    assert raised.value.path == path


# --- Freeze calendars -----------------------------------------------------------------------------

BERLIN_VTIMEZONE = """\
BEGIN:VTIMEZONE
TZID:Team/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
"""


def calendar(*vevents: str, vtimezone: str = "") -> str:
    body = "".join(textwrap.dedent(v) for v in vevents)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//team//freezes//EN\n{vtimezone}{body}END:VCALENDAR\n"


WEEKLY_FREEZE = """\
BEGIN:VEVENT
UID:weekly-freeze
SUMMARY:Monday release freeze
DTSTART;TZID=Team/Berlin:20260316T090000
DTEND;TZID=Team/Berlin:20260316T120000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Team/Berlin:20260323T090000
END:VEVENT
"""


def freeze_scenario(tmp_path: Path, text: str, regions: list[dict[str, Any]] | None = None) -> Path:
    (tmp_path / "freezes.ics").write_text(text, encoding="utf-8")
    data = make_scenario(
        horizon=horizon("2026-03-14T00:00:00Z", "2026-04-11T00:00:00Z"),
        regions=regions or [make_region("de", timezone="Europe/Berlin")],
        events=[{"id": "freeze", "ics": "freezes.ics", "blackout": True}],
    )
    return write_scenario(tmp_path, data)


def test_rrule_with_exdate_in_a_vtimezone_gives_each_occurrence_but_the_excluded_one(tmp_path: Path) -> None:
    scenario = load_file(freeze_scenario(tmp_path, calendar(WEEKLY_FREEZE, vtimezone=BERLIN_VTIMEZONE)))
    spans = [(p.start, p.end) for p in periods(scenario, "freeze")]
    # 09:00 Berlin is 08:00 UTC before the change of 29 March, 07:00 UTC after it; the 23rd is excluded.
    assert spans == [
        (utc(2026, 3, 16, 8), utc(2026, 3, 16, 11)),
        (utc(2026, 3, 30, 7), utc(2026, 3, 30, 10)),
        (utc(2026, 4, 6, 7), utc(2026, 4, 6, 10)),
    ]
    assert {(p.rule, p.name) for p in periods(scenario, "freeze")} == {
        ("event:freeze:weekly-freeze", "Monday release freeze")
    }


def test_a_freeze_blackout_keeps_windows_off_its_occurrences(tmp_path: Path) -> None:
    text = calendar(WEEKLY_FREEZE, vtimezone=BERLIN_VTIMEZONE)
    scenario = load_file(freeze_scenario(tmp_path, text))
    request = make_request("r1", duration="2h", earliest="2026-03-30T07:00:00Z", deadline="2026-03-30T10:00:00Z")
    data = make_scenario(
        horizon=horizon("2026-03-14T00:00:00Z", "2026-04-11T00:00:00Z"),
        regions=[make_region("de", timezone="Europe/Berlin")],
        events=[{"id": "freeze", "ics_text": text, "blackout": True}],
        requests=[request],
    )
    version = solve(load_data(data).problem)
    assert "event:freeze:weekly-freeze" in version.unscheduled[0].reasons
    assert periods(load_data(data), "freeze") == periods(scenario, "freeze")  # ics_text reads as the file


def test_an_all_day_event_is_its_dates_in_each_region_zone(tmp_path: Path) -> None:
    all_day = """\
    BEGIN:VEVENT
    UID:quarter-end
    SUMMARY:Quarter-end freeze
    DTSTART;VALUE=DATE:20260331
    DTEND;VALUE=DATE:20260402
    END:VEVENT
    """
    regions = [make_region("de", timezone="Europe/Berlin"), make_region("ny", timezone="America/New_York")]
    scenario = load_file(freeze_scenario(tmp_path, calendar(all_day), regions))
    spans = {p.regions: (p.start, p.end) for p in periods(scenario, "freeze")}
    assert spans == {
        frozenset({"de"}): (utc(2026, 3, 30, 22), utc(2026, 4, 1, 22)),  # 31 March and 1 April, CEST
        frozenset({"ny"}): (utc(2026, 3, 31, 4), utc(2026, 4, 2, 4)),  # the same dates, EDT
    }


def test_a_utc_and_an_iana_tzid_time_are_honoured(tmp_path: Path) -> None:
    timed = """\
    BEGIN:VEVENT
    UID:utc-freeze
    DTSTART:20260320T100000Z
    DTEND:20260320T110000Z
    END:VEVENT
    BEGIN:VEVENT
    UID:tokyo-freeze
    DTSTART;TZID=Asia/Tokyo:20260321T090000
    DURATION:PT2H
    END:VEVENT
    """
    scenario = load_file(freeze_scenario(tmp_path, calendar(timed)))
    assert {p.rule: (p.start, p.end) for p in periods(scenario, "freeze")} == {
        "event:freeze:utc-freeze": (utc(2026, 3, 20, 10), utc(2026, 3, 20, 11)),
        "event:freeze:tokyo-freeze": (utc(2026, 3, 21, 0), utc(2026, 3, 21, 2)),
    }


def test_a_floating_time_is_an_error_naming_the_field_and_line(tmp_path: Path) -> None:
    floating = """\
    BEGIN:VEVENT
    UID:floating
    DTSTART:20260320T100000
    DTEND:20260320T110000
    END:VEVENT
    """
    path = freeze_scenario(tmp_path, calendar(floating))
    with pytest.raises(ScenarioError, match=r"events\[0\]\.ics: line 6: DTSTART 20260320T100000 is a floating time"):
        load_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            calendar("BEGIN:VEVENT\nUID:x\nDTSTART:20260320T100000Z\nnot a line\nEND:VEVENT\n"),
            "line 7: not an iCalendar",
        ),
        (
            calendar("BEGIN:VEVENT\nUID:x\nDTSTART:2026-03-20\nEND:VEVENT\n"),
            "line 6: DTSTART '2026-03-20' is not a date",
        ),
        (
            calendar("BEGIN:VEVENT\nUID:x\nDTSTART:20260320T100000Z\nRRULE:FREQ=SOMETIMES\nEND:VEVENT\n"),
            "line 7: RRULE",
        ),
        (
            calendar("BEGIN:VEVENT\nUID:x\nDTSTART:20260320T100000Z\n"),
            "line 7: END:VCALENDAR does not close anything \\(BEGIN:VEVENT on line 4 is still open",
        ),
        (calendar("BEGIN:VEVENT\nDTSTART:20260320T100000Z\nEND:VEVENT\n"), "line 4: this VEVENT has no UID"),
        (
            calendar("BEGIN:VEVENT\nUID:x\nDTSTART;TZID=Mars/Olympus:20260320T100000\nEND:VEVENT\n"),
            "line 6: DTSTART has TZID=Mars/Olympus",
        ),
        ("hello\n", "line 1: not an iCalendar line"),
        ("", "the calendar is empty"),
    ],
)
def test_a_broken_calendar_is_an_error_naming_the_field_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = freeze_scenario(tmp_path, text)
    with pytest.raises(ScenarioError, match=message) as raised:
        load_file(path)
    assert raised.value.path == "events[0].ics"


def test_a_missing_calendar_file_is_an_error_naming_the_field(tmp_path: Path) -> None:
    path = freeze_scenario(tmp_path, calendar(WEEKLY_FREEZE, vtimezone=BERLIN_VTIMEZONE))
    (tmp_path / "freezes.ics").unlink()
    with pytest.raises(ScenarioError, match=r"events\[0\]\.ics: cannot read 'freezes.ics'"):
        load_file(path)
