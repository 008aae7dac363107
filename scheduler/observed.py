"""Weekly activity profiles from a team's own traffic: samples folded onto each region's local week.

``fold`` takes, per region, timestamped samples (a rate sampled at a fixed step, or counts per
request or per bucket) and returns a weekly profile (168 values, Monday 00:00 local first) with
what it could not use. The steps, in each region's own zone, daylight saving time included:

1. Each sample goes to its local week (the Monday that starts it) and hour of the week.
2. Per week and hour: the mean of the samples (``kind="rate"``) or their sum (``kind="count"``).
   An hour of a week with no sample is a gap (rates only: no request in an hour is a count of 0,
   and an hour the data's span only partly covers is left out of the counts).
3. Outliers are dropped: a week's value more than ``OUTLIER`` times the median of that hour over
   all weeks (or less than the median divided by it), when at least three weeks have the hour.
4. Per hour of the week: the mean over the weeks that have it. An hour no week has takes the
   mean of its neighbours in the week.
5. Scaled so that the busiest hour is ``peak_share`` (the share of the region's users active then)
   and every other hour keeps its proportion to it: the metric gives the shape, not the level.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from scheduler.timeline import local_week_start, week_hour, zone

HOURS = 168
OUTLIER = 4.0  # a week's hour this many times off the median of that hour is dropped
DEFAULT_PEAK_SHARE = 0.3  # about a third of users active in the busiest hour, as the consumer built-in
Kind = Literal["rate", "count"]


@dataclass(frozen=True)
class Outlier:
    week: date
    hour: int  # of the week
    ratio: float  # value / median of that hour


@dataclass(frozen=True)
class Fitted:
    """A region's weekly profile, and what was left out making it."""

    region: str
    values: tuple[float, ...]  # 168 shares in [0, 1]
    weeks: int  # weeks with data
    gaps: dict[date, int] = field(default_factory=dict)  # week -> hours without a sample
    outliers: tuple[Outlier, ...] = ()
    filled: tuple[int, ...] = ()  # hours no week had, taken from their neighbours


def fold(
    samples: Mapping[str, Iterable[tuple[datetime, float]]],
    zones: Mapping[str, str],
    *,
    kind: Kind = "rate",
    peak_share: float = DEFAULT_PEAK_SHARE,
    span: tuple[datetime, datetime] | None = None,
) -> dict[str, Fitted]:
    """Each region's profile from its samples (regions without any are left out).

    ``span`` is the time the data covers: weeks it only partly covers count gaps only inside it.
    """
    fitted: dict[str, Fitted] = {}
    for region, series in samples.items():
        cells: dict[tuple[date, int], list[float]] = {}
        for instant, value in series:
            key = (local_week_start(instant, zones[region]), week_hour(instant, zones[region]))
            cells.setdefault(key, []).append(value)
        if not cells:
            continue
        weekly = {key: (statistics.fmean(v) if kind == "rate" else sum(v)) for key, v in cells.items()}
        fitted[region] = _fit(region, weekly, zones[region], kind=kind, peak_share=peak_share, span=span)
    return fitted


def _fit(
    region: str,
    weekly: dict[tuple[date, int], float],
    zone_name: str,
    *,
    kind: Kind,
    peak_share: float,
    span: tuple[datetime, datetime] | None,
) -> Fitted:
    weeks = sorted({week for week, _ in weekly})
    if kind == "count":  # an hour without a request counts 0; one the span cuts counts only part
        weekly = {key: value for key, value in weekly.items() if _covered(*key, zone_name, span)}
        for week in weeks:
            for hour in range(HOURS):
                if _covered(week, hour, zone_name, span):
                    weekly.setdefault((week, hour), 0.0)
    gaps = {
        week: missing
        for week in weeks
        if (missing := sum(1 for h in range(HOURS) if (week, h) not in weekly and _covered(week, h, zone_name, span)))
    }
    outliers: list[Outlier] = []
    by_hour: list[list[float]] = [[] for _ in range(HOURS)]
    for hour in range(HOURS):
        seen = [(week, weekly[(week, hour)]) for week in weeks if (week, hour) in weekly]
        median = statistics.median(v for _, v in seen) if seen else 0.0
        for week, value in seen:
            if len(seen) >= 3 and median > 0 and not median / OUTLIER <= value <= median * OUTLIER:
                outliers.append(Outlier(week, hour, value / median))
            else:
                by_hour[hour].append(value)
    means = [statistics.fmean(v) if v else None for v in by_hour]
    filled = tuple(h for h, m in enumerate(means) if m is None)
    curve = [m if m is not None else _neighbours(means, h) for h, m in enumerate(means)]
    peak = max(curve)
    values = tuple(round(min(max(c / peak * peak_share, 0.0), 1.0), 4) if peak > 0 else 0.0 for c in curve)
    return Fitted(region, values, len(weeks), gaps, tuple(outliers), filled)


def _covered(week: date, hour: int, zone_name: str, span: tuple[datetime, datetime] | None) -> bool:
    """Whether the data's span covers that hour of that local week (always, without a span)."""
    if span is None:
        return True
    start = datetime(week.year, week.month, week.day, tzinfo=zone(zone_name)) + timedelta(hours=hour)
    return span[0] <= start and start + timedelta(hours=1) <= span[1]


def _neighbours(means: list[float | None], hour: int) -> float:
    """The mean of the nearest hours of the week, before and after, that have a value."""
    near = [
        next(
            (means[(hour + step * d) % HOURS] for d in range(1, HOURS) if means[(hour + step * d) % HOURS] is not None),
            0.0,
        )
        for step in (-1, 1)
    ]
    return statistics.fmean(v for v in near if v is not None)
