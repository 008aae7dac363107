"""Activity profiles: the share of a region's users active in each local hour.

Built-in shapes (values are shares of a region's users active during that local hour):

- ``consumer``: a consumer web/mobile product. The shape follows the daily curve that public
  internet-exchange traffic graphs (DE-CIX, AMS-IX, LINX) and Sandvine's *Global Internet
  Phenomena* reports show for residential traffic: a trough around 04:00 near a tenth of the
  evening peak, a morning ramp, a plateau through the day, and a peak at 20:00-22:00. The peak is
  scaled to about a third of users active in the busiest hour, the order of magnitude reported for
  hourly-active over daily-active users of social networks.
- ``business``: a workplace (B2B/SaaS) product, weekly: Monday to Friday follow office hours with a
  lunch dip (peak half of users at 10:00-11:00 and 14:00), evenings and nights near zero, weekends
  at a twentieth of users in the daytime.
- ``flat``: no daily rhythm, a tenth of users every hour: machine-to-machine traffic, or a
  neutral baseline for tests.
"""

from __future__ import annotations

import csv
from pathlib import Path

from scheduler.domain import Profile

_CONSUMER = (
    0.14, 0.09, 0.06, 0.04, 0.035, 0.04, 0.07, 0.12, 0.16, 0.18, 0.19, 0.20,
    0.22, 0.21, 0.20, 0.20, 0.21, 0.23, 0.25, 0.28, 0.31, 0.32, 0.28, 0.21,
)  # fmt: skip
_WORKDAY = (
    0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.08, 0.25, 0.45, 0.50, 0.50,
    0.38, 0.45, 0.50, 0.48, 0.42, 0.28, 0.14, 0.08, 0.06, 0.05, 0.04, 0.03,
)  # fmt: skip
_WEEKEND = (
    0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.04, 0.05, 0.05,
    0.05, 0.05, 0.05, 0.05, 0.04, 0.04, 0.03, 0.03, 0.03, 0.02, 0.02, 0.02,
)  # fmt: skip

BUILTIN: dict[str, Profile] = {
    "consumer": Profile(_CONSUMER),
    "business": Profile(_WORKDAY * 5 + _WEEKEND * 2),
    "flat": Profile((0.1,) * 24),
}


def builtin(name: str) -> Profile:
    """The built-in profile called ``name``, or ValueError listing the names there are."""
    try:
        return BUILTIN[name]
    except KeyError:
        names = ", ".join(sorted(BUILTIN))
        raise ValueError(f"unknown profile {name!r}: use one of {names}, or hourly/weekly/csv") from None


def check_values(values: list[float]) -> Profile:
    """A profile from 24 or 168 values in [0, 1], or ValueError saying which value is wrong."""
    if len(values) not in (24, 168):
        raise ValueError(f"expected 24 (hourly) or 168 (weekly) values, got {len(values)}")
    for hour, value in enumerate(values):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"value {value} for hour {hour} is outside [0, 1]")
    return Profile(tuple(float(value) for value in values))


def read_csv(path: Path) -> Profile:
    """A profile from a CSV file with columns ``hour,activity`` (hours 0-23, or 0-167 for a week).

    Spreadsheet exports are taken as they come: a UTF-8 byte-order mark, spaces around the
    fields. Raises ValueError naming the file and the line of the first problem.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = [[field.strip() for field in row] for row in csv.reader(handle, skipinitialspace=True)]
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; save the file as CSV UTF-8") from None
    if not lines or [name.lower() for name in lines[0]] != ["hour", "activity"]:
        found = f" (found {','.join(lines[0])[:60]!r})" if lines and lines[0] else ""
        raise ValueError(f"{path}:1: the first line must be the header 'hour,activity'{found}")
    by_hour: dict[int, tuple[float, int]] = {}  # hour -> (activity, line)
    for line, row in enumerate(lines[1:], start=2):
        if not any(row):
            continue  # a blank line, as spreadsheets leave at the end
        try:
            hour_text, activity_text = row
            hour, activity = int(hour_text), float(activity_text)
        except ValueError:
            shown = ",".join(row)[:60]
            raise ValueError(f"{path}:{line}: expected an hour and a number, like 7,0.35 (got {shown!r})") from None
        if hour in by_hour:
            raise ValueError(f"{path}:{line}: hour {hour} appears twice (first on line {by_hour[hour][1]})")
        if not 0.0 <= activity <= 1.0:
            raise ValueError(f"{path}:{line}: activity {activity} for hour {hour} is outside [0, 1]")
        by_hour[hour] = (activity, line)
    hours = range(168) if len(by_hour) > 24 or any(hour > 23 for hour in by_hour) else range(24)
    outside = sorted(set(by_hour) - set(hours))
    if outside:
        raise ValueError(
            f"{path}:{by_hour[outside[0]][1]}: hour {outside[0]} is outside {hours.start}-{hours.stop - 1}"
        )
    missing = [hour for hour in hours if hour not in by_hour]
    if missing:
        listed = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        kind = "0-23 (hourly)" if len(hours) == 24 else "0-167 (weekly, Monday 00:00 = 0)"
        raise ValueError(f"{path}: hours {kind} each need a line; missing: {listed}")
    return Profile(tuple(by_hour[hour][0] for hour in hours))
