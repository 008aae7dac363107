"""Events whose periods come from calendars: public holidays by country, and iCalendar files.

Both turn into ``Period`` values over UTC instants; local days are cut by ``scheduler.timeline``.
Problems are ``ValueError`` messages the scenario loader puts under the field's path; those about
a file start with its line (``line 7: ...``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from difflib import get_close_matches
from functools import lru_cache
from typing import Any

import holidays
import recurring_ical_events
from icalendar import Calendar
from icalendar.parser import Contentline
from icalendar.prop import vDDDTypes, vRecur

from scheduler.domain import Period, Region
from scheduler.timeline import SlotGrid, local_date, local_days, zone

HOLIDAYS_RULE = "event:holidays"


# --- Public holidays ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _supported() -> dict[str, list[str]]:
    return dict(holidays.list_supported_countries(include_aliases=False))


def check_country(value: str) -> str:
    """``value`` if the holidays calendar knows it (``DE``, ``DE-BY``); else ValueError saying why."""
    supported = _supported()
    country, dash, subdivision = value.partition("-")
    if country not in supported:
        hint = ""
        if country.upper() in supported:
            hint = f"; write it in capitals: {value.upper()!r}"
        else:
            close = get_close_matches(country.upper(), supported, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown country {value!r}: write an ISO 3166-1 alpha-2 code such as 'DE' or 'IR', "
            f"or one with a subdivision such as 'DE-BY'{hint}"
        )
    if dash and subdivision not in supported[country]:
        known = supported[country]
        choices = ", ".join(f"{country}-{s}" for s in known) if known else f"none: write {country!r}"
        raise ValueError(f"{country} has no subdivision {subdivision!r} in the holidays calendar (known: {choices})")
    return value


def holiday_dates(country: str, first: date, last: date) -> list[tuple[date, str]]:
    """The public holidays of ``country`` (``DE`` or ``DE-BY``) from ``first`` to ``last``, with names."""
    code, _, subdivision = country.partition("-")
    calendar = holidays.country_holidays(code, subdiv=subdivision or None, years=range(first.year, last.year + 1))
    return sorted((day, name) for day, name in calendar.items() if first <= day <= last)


def holiday_periods(regions: Sequence[Region], grid: SlotGrid) -> tuple[Period, ...]:
    """One period per public holiday of each region's country, its local day, over that region.

    Regions with the same country and zone share a period; regions without a country have none.
    """
    by_place: dict[tuple[str, str], set[str]] = defaultdict(set)
    for region in regions:
        if region.country is not None:
            by_place[(region.country, region.timezone)].add(region.id)
    periods = []
    for (country, zone_name), ids in sorted(by_place.items()):
        first, last = local_date(grid.start, zone_name), local_date(grid.end, zone_name)
        for day, name in holiday_dates(country, first, last):
            start, end = local_days(day, day, zone_name)
            if start < grid.end and end > grid.start:
                periods.append(Period(f"{HOLIDAYS_RULE}:{country}:{day.isoformat()}", name, start, end, frozenset(ids)))
    return tuple(sorted(periods, key=lambda period: (period.start, period.rule)))


# --- iCalendar files ------------------------------------------------------------------------------

# Properties whose values are times: each needs a zone (TZID or Z) unless it is a DATE.
_TIME_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")


@dataclass
class _Vevent:
    """Where one VEVENT of the file is: its BEGIN line and the line of each property."""

    begin: int
    lines: dict[str, int] = field(default_factory=dict)
    uid: str | None = None


def _content_lines(text: str) -> Iterable[tuple[int, str]]:
    """Unfolded content lines with the number of the line each starts on; blank lines skipped."""
    current: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and current is not None:
            current = (current[0], current[1] + raw[1:])
            continue
        if current is not None:
            yield current
        current = (number, raw) if raw.strip() else None
    if current is not None:
        yield current


def _check_file(text: str) -> list[_Vevent]:
    """Every line read and every VEVENT checked, naming the line of the first problem."""
    if not text.strip():
        raise ValueError("the calendar is empty: an iCalendar file starts with BEGIN:VCALENDAR")
    stack: list[tuple[str, int]] = []
    zones_defined: set[str] = set()
    vevents: list[_Vevent] = []
    zoned: list[tuple[int, str, str]] = []  # (line, property, TZID) to check once every VTIMEZONE is read
    last = 0
    for number, line in _content_lines(text):
        last = number
        try:
            name, params, value = Contentline(line).parts()  # type: ignore[no-untyped-call]
        except ValueError:
            raise ValueError(f"line {number}: not an iCalendar line: {line[:60]!r}") from None
        name = name.upper()
        if not stack and (name, value.upper()) != ("BEGIN", "VCALENDAR"):
            raise ValueError(f"line {number}: an iCalendar file starts with BEGIN:VCALENDAR, not {line[:40]!r}")
        if name == "BEGIN":
            stack.append((value.upper(), number))
            if value.upper() == "VEVENT":
                vevents.append(_Vevent(begin=number))
            continue
        if name == "END":
            if not stack or stack[-1][0] != value.upper():
                still = f"BEGIN:{stack[-1][0]} on line {stack[-1][1]} is still open" if stack else "nothing is open"
                raise ValueError(f"line {number}: END:{value} does not close anything ({still})")
            stack.pop()
            continue
        inside = stack[-1][0] if stack else ""
        if inside == "VTIMEZONE" and name == "TZID":
            zones_defined.add(value)
        if inside != "VEVENT":
            continue
        vevent = vevents[-1]
        vevent.lines.setdefault(name, number)
        if name == "UID":
            vevent.uid = value
        elif name == "RRULE":
            try:
                vRecur.from_ical(value)
            except ValueError:
                raise ValueError(f"line {number}: RRULE {value!r} is not a recurrence rule") from None
        elif name in _TIME_PROPERTIES:
            _check_time(number, name, params, value)
            if "TZID" in params:
                zoned.append((number, name, str(params["TZID"])))
    if stack:
        kind, opened = stack[-1]
        raise ValueError(f"line {last}: BEGIN:{kind} on line {opened} is never closed (END:{kind} is missing)")
    for where, prop, tzid in zoned:
        if tzid not in zones_defined and not _known_zone(tzid):
            raise ValueError(
                f"line {where}: {prop} has TZID={tzid}, which is neither an IANA zone nor defined by a VTIMEZONE"
            )
    for vevent in vevents:
        if "DTSTART" not in vevent.lines:
            raise ValueError(f"line {vevent.begin}: this VEVENT has no DTSTART")
        if vevent.uid is None:
            raise ValueError(f"line {vevent.begin}: this VEVENT has no UID, which its reason id needs")
    return vevents


def _known_zone(name: str) -> bool:
    try:
        zone(name)
    except ValueError:
        return False
    return True


def _check_time(number: int, name: str, params: Any, value: str) -> None:
    kind = str(params.get("VALUE", "DATE-TIME")).upper()
    if kind == "PERIOD":
        return
    for item in value.split(","):
        try:
            parsed = vDDDTypes.from_ical(item)  # type: ignore[no-untyped-call]
        except ValueError:
            raise ValueError(f"line {number}: {name} {item!r} is not a date or a date-time") from None
        if isinstance(parsed, datetime) and parsed.tzinfo is None and "TZID" not in params:
            raise ValueError(
                f"line {number}: {name} {item} is a floating time (no TZID and no Z), which needs a zone: "
                f"write {name};TZID=Europe/Berlin:{item} or the UTC time with a Z"
            )


def ics_periods(event_id: str, name: str, text: str, regions: Sequence[Region], grid: SlotGrid) -> tuple[Period, ...]:
    """The occurrences inside the horizon of each VEVENT (RRULE, RDATE and EXDATE expanded), as periods.

    A timed occurrence covers all ``regions``; an all-day one is its dates in each region's zone.
    Cancelled VEVENTs are left out. The rule id of a VEVENT's periods is ``event:ID:UID``.
    """
    vevents = _check_file(text)
    try:
        calendar = Calendar.from_ical(text)
    except ValueError as error:
        raise ValueError(f"cannot read the calendar: {error}") from None
    if not isinstance(calendar, Calendar):
        raise ValueError("the text holds more than one VCALENDAR: give one")
    first_line = {vevent.uid: vevent for vevent in reversed(vevents)}
    zones: dict[str, set[str]] = defaultdict(set)
    for region in regions:
        zones[region.timezone].add(region.id)
    everywhere = frozenset(region.id for region in regions)
    # A day of slack on each side: all-day occurrences are placed in the regions' zones below.
    query = recurring_ical_events.of(calendar)
    try:
        occurrences = query.between(grid.start - timedelta(days=2), grid.end + timedelta(days=2))
    except Exception as error:  # the library raises its own errors for rules it cannot expand
        raise ValueError(f"cannot expand the calendar's recurrences: {error}") from None
    periods: list[Period] = []
    for occurrence in occurrences:
        if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
            continue
        uid = str(occurrence.get("UID"))
        rule = f"event:{event_id}:{uid}"
        label = str(occurrence.get("SUMMARY") or name)
        start, end = occurrence.decoded("DTSTART"), occurrence.decoded("DTEND", None)
        if isinstance(start, datetime):
            end = end if end is not None else start + occurrence.decoded("DURATION", timedelta(0))
            if end <= start:
                raise ValueError(
                    f"line {first_line[uid].begin}: this VEVENT ({uid}) has no DTEND or DURATION after DTSTART"
                )
            spans = [(start.astimezone(UTC), end.astimezone(UTC), everywhere)]
        else:
            last = (end - timedelta(days=1)) if isinstance(end, date) and end > start else start
            spans = [(*local_days(start, last, zone_name), frozenset(ids)) for zone_name, ids in sorted(zones.items())]
        for span_start, span_end, covered in spans:
            if span_start < grid.end and span_end > grid.start:
                periods.append(Period(rule, label, span_start, span_end, covered))
    return tuple(sorted(periods, key=lambda period: (period.start, period.rule)))
