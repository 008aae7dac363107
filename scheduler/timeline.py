"""Every time-zone and DST rule of the project, in one place.

Everything outside this module sees UTC instants (aware ``datetime`` in UTC) and slot indices.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from difflib import get_close_matches
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import pendulum
from numpy.typing import NDArray

from scheduler.errors import written

_LOCAL = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[ T](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"\s+(?P<zone>[A-Za-z][\w+\-/]*)$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHORT_DURATION = re.compile(r"^(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?$")


def zone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``, or raise ValueError naming it.

    Only the zones of the IANA list count: ``localtime`` and ``posixrules`` are files of the
    machine's zone directory, whose meaning depends on the machine.
    """
    try:
        if name not in _known_zones():
            raise ValueError(name)
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as "Europe"
        near = _nearest_zone(name)
        hint = f"did you mean {near!r}?" if near else "use an IANA name such as 'Europe/Paris'"
        raise ValueError(f"unknown time zone {name!r}: {hint}") from None


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    """The IANA list, without the files of a zone directory that are no place (localtime, posixrules)."""
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def _nearest_zone(name: str) -> str | None:
    """The IANA zone ``name`` was meant to be: the same but for case, else the closest spelling."""
    by_folded = {known.casefold(): known for known in _known_zones()}
    near = get_close_matches(name.casefold(), by_folded, n=1)
    return by_folded.get(name.casefold()) or (by_folded[near[0]] if near else None)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def parse_instant(value: object) -> datetime:
    """Parse a time of the scenario format into a UTC instant.

    Accepts ISO 8601 with an offset or ``Z``, ``YYYY-MM-DD HH:MM Area/City``, or an aware
    ``datetime`` (PyYAML turns unquoted ISO timestamps into those).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(_missing_zone(value.isoformat(sep=" ")))
        return value.astimezone(UTC)
    if isinstance(value, date):
        raise ValueError(f"'{value.isoformat()}' is a date without a time: write e.g. '{value} 00:00 UTC'")
    if not isinstance(value, str):
        raise ValueError(f"expected a time such as '2009-06-15 21:45 America/Los_Angeles', got {written(value)}")
    text = value.strip()
    if _DATE.match(text):
        raise ValueError(f"'{text}' is a date without a time: write e.g. '{text} 00:00 UTC'")
    local = _LOCAL.match(text)
    if local:
        try:
            day = date.fromisoformat(local["date"])
            naive = datetime(
                day.year, day.month, day.day, int(local["hour"]), int(local["minute"]), int(local["second"] or 0)
            )
        except ValueError as error:
            raise ValueError(f"{text!r} is not a valid local time: {error}") from None
        return local_to_utc(naive, local["zone"])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: write ISO 8601 with an offset ('2009-06-16T04:45:00Z') "
            "or a local time and an IANA zone ('2009-06-15 21:45 America/Los_Angeles')"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(_missing_zone(text))
    return parsed.astimezone(UTC)


def _missing_zone(text: str) -> str:
    return (
        f"'{text}' has no offset or zone: add one, e.g. '{text} America/Los_Angeles' "
        f"or an ISO offset such as '-07:00' or 'Z'"
    )


def local_to_utc(naive: datetime, zone_name: str) -> datetime:
    """Turn a wall-clock time in ``zone_name`` into UTC; gaps and repeated hours are errors."""
    tz = zone(zone_name)
    early = naive.replace(tzinfo=tz, fold=0)
    late = naive.replace(tzinfo=tz, fold=1)
    shown = naive.isoformat(sep=" ", timespec="minutes")
    if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise ValueError(
            f"{shown} does not exist in {zone_name}: the clocks skip that hour (spring forward); "
            "choose a time outside the gap"
        )
    if early.utcoffset() != late.utcoffset():
        first, second = (format_offset(early), format_offset(late))
        raise ValueError(
            f"{shown} occurs twice in {zone_name} (clocks fall back): write it with an offset, "
            f"either {first} ({format_utc(early)}) or {second} ({format_utc(late)})"
        )
    return early.astimezone(UTC)


def local_days(first: date, last: date, zone_name: str) -> tuple[datetime, datetime]:
    """UTC instants of local midnight starting ``first`` and of the local midnight after ``last``.

    A midnight that the clocks skip becomes the first instant of that day; a repeated one, the earlier.
    """
    tz = zone(zone_name)
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_date(instant: datetime, zone_name: str) -> date:
    """The calendar date of ``instant`` in ``zone_name``."""
    return instant.astimezone(zone(zone_name)).date()


def format_offset(moment: datetime) -> str:
    """ISO form of an aware datetime with its own offset, e.g. 2022-11-06T01:30:00-04:00."""
    return moment.isoformat(timespec="seconds")


def format_utc(instant: datetime) -> str:
    """UTC instant as in the JSON output: ``2009-06-16T04:45:00Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_local(instant: datetime, zone_name: str) -> str:
    """``instant`` as a person in ``zone_name`` writes it, in a form ``parse_instant`` reads back."""
    return f"{to_local(instant, zone_name):%Y-%m-%d %H:%M} {zone_name}"


def format_span(start: datetime, end: datetime) -> str:
    """A UTC range for people: ``Mon 14 Dec 00:00–01:30 UTC``, the end's date only if it differs."""
    end_format = "%H:%M" if end.date() == start.date() else "%a %d %b %H:%M"
    return f"{start:%a %d %b %H:%M}–{end:{end_format}} UTC"


def to_local(instant: datetime, zone_name: str) -> datetime:
    """The wall-clock time of ``instant`` in ``zone_name``."""
    return instant.astimezone(zone(zone_name))


def week_hour(instant: datetime, zone_name: str) -> int:
    """The local hour of the week of ``instant`` in ``zone_name``: weekday × 24 + hour, Monday 00:00 = 0
    (the index of a weekly profile)."""
    local = to_local(instant, zone_name)
    return local.weekday() * 24 + local.hour


def local_week_start(instant: datetime, zone_name: str) -> date:
    """The date of the local Monday that starts the week holding ``instant`` in ``zone_name``."""
    day = local_date(instant, zone_name)
    return day - timedelta(days=day.weekday())


def format_duration(duration: timedelta) -> str:
    """A duration in the short form ``parse_duration`` reads back: ``1h30m``, ``45s`` as ``PT45S``."""
    seconds = int(duration.total_seconds())
    if seconds % 60:
        return f"PT{seconds}S"
    days, rest = divmod(seconds // 60, 24 * 60)
    hours, minutes = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return text or "0m"


def parse_duration(value: object) -> timedelta:
    """Parse ``90m``, ``1h30m``, ``2h``, ``1d``, ``1w`` or ISO 8601 ``PT1H30M`` into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration such as '90m', '1h30m' or 'PT1H30M', got {written(value)}")
    text = value.strip()
    short = _SHORT_DURATION.match(text)
    if short and text:
        weeks, days, hours, minutes = (int(short[unit] or 0) for unit in "wdhm")
        return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)
    if text.upper().startswith("P"):
        try:
            parsed = pendulum.parse(text.upper())
        except (ValueError, pendulum.parsing.exceptions.ParserError):
            parsed = None
        if isinstance(parsed, pendulum.Duration):
            if parsed.years or parsed.months:
                raise ValueError(f"{text!r}: years and months have no fixed length; use days")
            return timedelta(seconds=parsed.total_seconds())
    raise ValueError(f"{text!r} is not a duration: write e.g. '90m', '1h30m', '2h', '1d' or 'PT1H30M'")


@dataclass(frozen=True)
class SlotGrid:
    """The horizon cut into equal slots; slot i starts at ``start + i * slot_minutes``."""

    start: datetime
    slot_minutes: int
    count: int

    @classmethod
    def over(cls, start: datetime, end: datetime, slot_minutes: int) -> SlotGrid:
        """The slots of ``[start, end)``; a partial slot at the end is dropped."""
        count = int((end - start) // timedelta(minutes=slot_minutes))
        return cls(start=start, slot_minutes=slot_minutes, count=max(count, 0))

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    @property
    def end(self) -> datetime:
        """End of the last whole slot."""
        return self.instant(self.count)

    def instant(self, index: int) -> datetime:
        """Start instant of slot ``index`` (``count`` gives the grid's end)."""
        return self.start + index * self.slot

    def slots_for(self, duration: timedelta) -> int:
        """How many whole slots a window of ``duration`` covers."""
        return max(1, math.ceil(duration / self.slot))

    def first_at_or_after(self, instant: datetime) -> int:
        """Index of the first slot boundary at or after ``instant`` (may be < 0 or > count)."""
        return math.ceil((instant - self.start) / self.slot)

    def last_at_or_before(self, instant: datetime) -> int:
        """Index of the last slot boundary at or before ``instant``."""
        return math.floor((instant - self.start) / self.slot)

    def slots_starting_in(self, start: datetime, end: datetime) -> range:
        """Slots whose start instant s satisfies ``start <= s < end``, clipped to the grid."""
        first = max(self.first_at_or_after(start), 0)
        stop = min(self.first_at_or_after(end), self.count)
        return range(first, max(first, stop))

    def local_hours(self, zone_name: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Local hour (0-23) and weekday (Monday 0) of every slot's start in ``zone_name``."""
        return _local_hours(self, zone_name)


@lru_cache(maxsize=256)
def _local_hours(grid: SlotGrid, zone_name: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    tz = zone(zone_name)
    hours = np.empty(grid.count, dtype=np.int64)
    weekdays = np.empty(grid.count, dtype=np.int64)
    for index in range(grid.count):
        local = grid.instant(index).astimezone(tz)
        hours[index] = local.hour
        weekdays[index] = local.weekday()
    hours.flags.writeable = False
    weekdays.flags.writeable = False
    return hours, weekdays


def repeat_starts(first: datetime, every: timedelta, count: int, zone_name: str | None) -> list[datetime]:
    """The UTC instants of ``count`` period starts, ``every`` apart from ``first``.

    With a zone, the periods start at the same wall-clock time there: a start that falls in a gap
    moves forward by the gap, one that falls in a fold takes the first instant. Without, ``every``
    apart in UTC.
    """
    if zone_name is None:
        return [first + k * every for k in range(count)]
    tz = zone(zone_name)
    wall = first.astimezone(tz).replace(tzinfo=None)
    # fold=0 reads a time in a gap with the offset before it (so it moves forward) and a repeated time as the first.
    return [(wall + k * every).replace(tzinfo=tz, fold=0).astimezone(UTC) for k in range(count)]


@lru_cache(maxsize=256)
def wall_clock_slots(
    grid: SlotGrid, zone_name: str, first: datetime, every: timedelta, count: int
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Where each of ``count`` periods starting at ``first`` (local wall clock) has each offset.

    The offsets are the slot boundaries of the first period, measured as wall-clock time in
    ``zone_name`` from its start. Returns ``(starts, exists)`` of shape (count, offsets):
    ``starts[k, o]`` is the slot index of offset o's local time in period k (it may lie outside
    the grid), taking the first instant of a repeated time; ``exists[k, o]`` is false where that
    local time does not exist (a spring-forward gap) or is no slot boundary.
    """
    tz = zone(zone_name)
    minute = timedelta(minutes=1)
    offsets = every // grid.slot
    first_slot = grid.first_at_or_after(first)
    wall_first = first.astimezone(tz).replace(tzinfo=None)
    lead = (grid.instant(first_slot).astimezone(tz).replace(tzinfo=None) - wall_first) // minute
    targets = (
        (wall_first - datetime(1970, 1, 1)) // minute
        + np.arange(count, dtype=np.int64)[:, None] * (every // minute)
        + lead
        + np.arange(offsets, dtype=np.int64)[None, :] * grid.slot_minutes
    )
    # Every slot boundary from a day before the first period to a day after the last, with its wall-clock minute.
    low = first_slot - (24 * 60) // grid.slot_minutes
    high = grid.first_at_or_after(first + count * every + timedelta(days=1))
    boundaries = np.arange(low, high + 1, dtype=np.int64)
    known, first_index = np.unique(_wall_minutes(grid, zone_name, low, high), return_index=True)
    position = np.clip(np.searchsorted(known, targets), 0, len(known) - 1)
    exists = known[position] == targets  # np.unique keeps the first instant of a repeated wall time
    starts = np.where(exists, boundaries[first_index[position]], -1)
    starts.flags.writeable = False
    exists.flags.writeable = False
    return starts, exists


def _wall_minutes(grid: SlotGrid, zone_name: str, low: int, high: int) -> NDArray[np.int64]:
    """The wall-clock time in ``zone_name`` of slot boundaries ``low..high``, in minutes since 1970."""
    tz = zone(zone_name)
    epoch = datetime(1970, 1, 1)
    minute = timedelta(minutes=1)
    return np.array(
        [(grid.instant(int(i)).astimezone(tz).replace(tzinfo=None) - epoch) // minute for i in range(low, high + 1)],
        dtype=np.int64,
    )
