"""Time rules (docs/format.md section 3): parsing times and durations, DST, and the slot grid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from scheduler.timeline import SlotGrid, parse_duration, parse_instant


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


MONDAY = utc(2026, 3, 2)


def make_grid(start: datetime = MONDAY, hours: float = 48, slot_minutes: int = 60) -> SlotGrid:
    """A grid of ``hours`` from ``start`` (by default two days from Monday 2026-03-02 00:00 UTC)."""
    return SlotGrid.over(start, start + timedelta(hours=hours), slot_minutes)


# --- Times -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2009-06-16T04:45:00Z", utc(2009, 6, 16, 4, 45)),
        ("2009-06-16T04:45Z", utc(2009, 6, 16, 4, 45)),
        ("2009-06-15T21:45:00-07:00", utc(2009, 6, 16, 4, 45)),
        ("2009-06-16T10:30:00+05:45", utc(2009, 6, 16, 4, 45)),
        ("2009-06-15 21:45 America/Los_Angeles", utc(2009, 6, 16, 4, 45)),
        ("2026-03-02 00:00 Europe/Paris", utc(2026, 3, 1, 23)),
        ("2026-07-02 00:00 Europe/Paris", utc(2026, 7, 1, 22)),
        ("2026-03-02 00:00 UTC", utc(2026, 3, 2)),
    ],
    ids=[
        "Z",
        "Z-no-seconds",
        "negative-offset",
        "quarter-hour-offset",
        "local-LA",
        "Paris-winter",
        "Paris-summer",
        "UTC",
    ],
)
def test_times_with_offset_or_zone_become_utc_instants(text: str, expected: datetime) -> None:
    instant = parse_instant(text)

    assert instant == expected
    assert instant.utcoffset() == timedelta(0)


def test_unquoted_yaml_timestamp_with_offset_is_accepted() -> None:
    document = yaml.safe_load("start: 2009-06-16T04:45:00Z\nend: 2009-06-15T21:45:00-07:00\n")

    assert isinstance(document["start"], datetime)
    assert parse_instant(document["start"]) == utc(2009, 6, 16, 4, 45)
    assert parse_instant(document["end"]) == utc(2009, 6, 16, 4, 45)


@pytest.mark.parametrize(
    "value",
    ["2009-06-16 04:45", "2009-06-16T04:45:00", yaml.safe_load("t: 2009-06-16 04:45:00")["t"]],
    ids=["string", "iso-string", "naive-yaml-datetime"],
)
def test_time_without_offset_or_zone_is_rejected_with_advice_to_add_one(value: object) -> None:
    with pytest.raises(ValueError, match=r"no offset or zone: add one"):
        parse_instant(value)


def test_yaml_date_without_time_is_rejected() -> None:
    value = yaml.safe_load("t: 2009-06-16")["t"]
    assert isinstance(value, date)

    with pytest.raises(ValueError, match=r"'2009-06-16' is a date without a time"):
        parse_instant(value)


def test_date_string_without_time_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"2009-06-16"):
        parse_instant("2009-06-16")


def test_date_string_without_time_is_told_the_time_is_missing() -> None:
    with pytest.raises(ValueError, match=r"without a time"):
        parse_instant("2009-06-16")


@pytest.mark.parametrize("value", ["2026-03-02 00:00 Mars/Olympus", "2026-03-02 00:00 europe/paris"])
def test_unknown_time_zone_is_rejected_naming_it(value: str) -> None:
    zone_name = value.split(" ")[-1]

    with pytest.raises(ValueError, match=rf"unknown time zone '{zone_name}'"):
        parse_instant(value)


@pytest.mark.parametrize("value", ["garbage", "", "2026-03-02T25:00Z", 5, None])
def test_things_that_are_not_times_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match=r"time"):
        parse_instant(value)


# --- DST -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown", "zone_name"),
    [
        ("2026-03-08 02:30 America/New_York", "2026-03-08 02:30", "America/New_York"),
        ("2026-03-29 02:30 Europe/Paris", "2026-03-29 02:30", "Europe/Paris"),
        # Lord Howe springs forward by 30 minutes: 02:00 -> 02:30.
        ("2026-10-04 02:15 Australia/Lord_Howe", "2026-10-04 02:15", "Australia/Lord_Howe"),
    ],
)
def test_local_time_in_spring_forward_gap_is_rejected(value: str, shown: str, zone_name: str) -> None:
    with pytest.raises(ValueError, match=rf"{shown} does not exist in {zone_name}"):
        parse_instant(value)


def test_lord_howe_times_just_outside_its_half_hour_gap_are_accepted() -> None:
    assert parse_instant("2026-10-04 01:59 Australia/Lord_Howe") == utc(2026, 10, 3, 15, 29)  # +10:30
    assert parse_instant("2026-10-04 02:30 Australia/Lord_Howe") == utc(2026, 10, 3, 15, 30)  # +11:00


@pytest.mark.parametrize(
    ("value", "zone_name", "first", "second"),
    [
        ("2026-11-01 01:30 America/New_York", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"),
        ("2026-10-25 02:30 Europe/Paris", "Europe/Paris", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"),
        # Lord Howe falls back by 30 minutes, from +11:00 to +10:30.
        ("2026-04-05 01:45 Australia/Lord_Howe", "Australia/Lord_Howe", "2026-04-04T14:45:00Z", "2026-04-04T15:15:00Z"),
    ],
)
def test_repeated_fall_back_time_is_rejected_naming_both_instants(
    value: str, zone_name: str, first: str, second: str
) -> None:
    with pytest.raises(ValueError, match=rf"occurs twice in {zone_name}") as error:
        parse_instant(value)

    assert first in str(error.value)
    assert second in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01T01:30:00-04:00", utc(2026, 11, 1, 5, 30)),
        ("2026-11-01T01:30:00-05:00", utc(2026, 11, 1, 6, 30)),
        ("2026-04-05T01:45:00+11:00", utc(2026, 4, 4, 14, 45)),
        ("2026-04-05T01:45:00+10:30", utc(2026, 4, 4, 15, 15)),
    ],
)
def test_repeated_time_written_with_an_offset_is_accepted(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


def test_lord_howe_time_just_before_the_repeated_half_hour_is_accepted() -> None:
    assert parse_instant("2026-04-05 01:15 Australia/Lord_Howe") == utc(2026, 4, 4, 14, 15)  # still +11:00


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02 06:00 Asia/Kathmandu", utc(2026, 3, 2, 0, 15)),  # +05:45
        ("2026-01-15 12:00 Pacific/Chatham", utc(2026, 1, 14, 22, 15)),  # +13:45 (summer)
        ("2026-07-15 12:00 Pacific/Chatham", utc(2026, 7, 14, 23, 15)),  # +12:45 (winter)
    ],
)
def test_zones_with_quarter_hour_offsets_convert_correctly(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


# --- Durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1d2h3m", timedelta(days=1, hours=2, minutes=3)),
        ("PT1H30M", timedelta(minutes=90)),
        ("P1D", timedelta(days=1)),
    ],
)
def test_durations_in_both_notations_are_accepted(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("value", ["", "abc", "-5m", "1h 30m", 90, 1.5, True])
def test_things_that_are_not_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match=r"duration"):
        parse_duration(value)


@pytest.mark.parametrize("text", ["P1M", "P1Y"])
def test_months_and_years_are_rejected_as_having_no_fixed_length(text: str) -> None:
    with pytest.raises(ValueError, match=r"no fixed length"):
        parse_duration(text)


# --- Slot grid -------------------------------------------------------------------------------


def test_partial_slot_at_the_end_of_the_horizon_is_dropped() -> None:
    start = utc(2026, 3, 2)

    grid = SlotGrid.over(start, start + timedelta(minutes=150), 60)

    assert grid.count == 2
    assert grid.end == start + timedelta(hours=2)
    assert grid.instant(1) == start + timedelta(hours=1)


def test_horizon_of_whole_slots_keeps_every_slot() -> None:
    grid = make_grid(hours=48, slot_minutes=15)

    assert grid.count == 48 * 4
    assert grid.end == utc(2026, 3, 4)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (utc(2026, 3, 2, 1), utc(2026, 3, 2, 3), [1, 2]),  # start included, end excluded
        (utc(2026, 3, 2, 0, 30), utc(2026, 3, 2, 2, 30), [1, 2]),  # slots starting inside the range
        (utc(2026, 3, 2, 1), utc(2026, 3, 2, 1, 30), [1]),
        (utc(2026, 3, 2, 1, 10), utc(2026, 3, 2, 1, 50), []),  # no slot starts inside
        (utc(2026, 3, 1), utc(2026, 3, 2, 2), [0, 1]),  # clipped at the grid's start
        (utc(2026, 3, 3, 22), utc(2026, 3, 9), [46, 47]),  # clipped at the grid's end
    ],
)
def test_slots_starting_in_a_range_are_those_with_start_in_half_open_range(
    start: datetime, end: datetime, expected: list[int]
) -> None:
    assert list(make_grid().slots_starting_in(start, end)) == expected


@pytest.mark.parametrize(
    ("duration", "slot_minutes", "expected"),
    [
        (timedelta(minutes=60), 60, 1),
        (timedelta(minutes=61), 60, 2),
        (timedelta(minutes=90), 60, 2),
        (timedelta(minutes=1), 60, 1),
        (timedelta(minutes=90), 15, 6),
        (timedelta(minutes=100), 15, 7),
        (timedelta(days=1), 30, 48),
    ],
)
def test_window_covers_duration_rounded_up_to_whole_slots(
    duration: timedelta, slot_minutes: int, expected: int
) -> None:
    assert make_grid(slot_minutes=slot_minutes).slots_for(duration) == expected


def test_local_hours_repeat_hour_one_on_us_fall_back_night() -> None:
    # 04:00Z is midnight EDT; clocks fall back at 06:00Z (02:00 EDT -> 01:00 EST).
    grid = make_grid(start=utc(2026, 11, 1, 4), hours=4)

    hours, weekdays = grid.local_hours("America/New_York")

    assert list(hours) == [0, 1, 1, 2]
    assert list(weekdays) == [6, 6, 6, 6]  # Sunday


def test_local_hours_skip_hour_two_on_us_spring_forward_night() -> None:
    # 05:00Z is midnight EST; clocks spring forward at 07:00Z (02:00 EST -> 03:00 EDT).
    grid = make_grid(start=utc(2026, 3, 8, 5), hours=4)

    hours, _ = grid.local_hours("America/New_York")

    assert list(hours) == [0, 1, 3, 4]
    assert 2 not in hours


def test_local_hours_follow_quarter_hour_offset_of_kathmandu() -> None:
    grid = make_grid(start=utc(2026, 3, 2, 0, 15), hours=1, slot_minutes=15)

    hours, weekdays = grid.local_hours("Asia/Kathmandu")

    assert list(hours) == [6, 6, 6, 6]
    assert list(weekdays) == [0, 0, 0, 0]  # Monday


def test_local_weekday_is_the_zones_not_utcs() -> None:
    # Sunday 18:15Z is Monday 00:00 in Kathmandu.
    grid = make_grid(start=utc(2026, 3, 1, 18, 15), hours=1)

    hours, weekdays = grid.local_hours("Asia/Kathmandu")

    assert (hours[0], weekdays[0]) == (0, 0)
