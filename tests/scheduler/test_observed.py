"""Weekly profiles folded from traffic (``scheduler.observed``): local peak hours across zones and
clock changes, the shape, gaps, outliers and partly covered hours."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduler.observed import HOURS, fold

START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday; Europe changes clocks on 25 October, New York on 1 November
ZONES = {"iran": "Asia/Tehran", "germany": "Europe/Berlin", "us": "America/New_York", "india": "Asia/Kolkata"}
PEAKS = {"iran": 21, "germany": 20, "us": 19, "india": 13}


def diurnal(local: datetime, peak: int) -> float:
    """Traffic with its top at ``peak`` local time and a tenth of it at night."""
    hours = local.hour + local.minute / 60
    distance = min(abs(hours - peak), 24 - abs(hours - peak))
    return 10 + 90 * math.exp(-(distance**2) / 8)


def series(region: str, *, days: int = 28, step: timedelta = timedelta(minutes=5)) -> list[tuple[datetime, float]]:
    zone = ZoneInfo(ZONES[region])
    count = int(timedelta(days=days) / step)
    return [(START + i * step, diurnal((START + i * step).astimezone(zone), PEAKS[region])) for i in range(count)]


def test_each_region_peaks_at_its_local_hour_across_the_clock_changes() -> None:
    span = (START, START + timedelta(days=28))
    fitted = fold({region: series(region) for region in ZONES}, ZONES, peak_share=0.3, span=span)

    for region, peak in PEAKS.items():
        values = fitted[region].values
        assert len(values) == HOURS
        assert max(values) == pytest.approx(0.3)
        # Every day, not only on average: the weeks after the clock change fold onto the same hour.
        assert all(max(range(24), key=lambda h, d=day: values[d * 24 + h]) == peak for day in range(7)), region
        assert fitted[region].gaps == {} and fitted[region].outliers == ()


def test_the_shape_follows_the_traffic_scaled_to_the_peak_share() -> None:
    fitted = fold({"germany": series("germany")}, ZONES, peak_share=0.5)
    expected = [diurnal(datetime(2026, 10, 5, h, 30), 20) for h in range(24)]

    day = fitted["germany"].values[24:48]  # a Tuesday
    ratios = [value / (e / max(expected) * 0.5) for value, e in zip(day, expected, strict=True)]
    assert statistics.fmean(ratios) == pytest.approx(1.0, abs=0.05)
    assert min(day) == pytest.approx(0.5 * 10.4 / 100, abs=0.01)  # the night keeps its tenth


def test_missing_samples_are_gaps_and_a_spike_is_an_outlier_left_out() -> None:
    samples = series("iran")
    gap_start, gap_end = START + timedelta(days=9), START + timedelta(days=9, hours=6)
    spike = START + timedelta(days=16, hours=10, minutes=30)  # 14:00 to 15:00 in Tehran (+03:30)
    samples = [(t, v * 20 if spike <= t < spike + timedelta(hours=1) else v) for t, v in samples]
    samples = [(t, v) for t, v in samples if not gap_start <= t < gap_end]

    fitted = fold({"iran": samples}, ZONES, span=(START, START + timedelta(days=28)))["iran"]

    assert fitted.gaps == {START.date() + timedelta(days=7): 5}  # 6 UTC hours hold 5 whole local ones at +03:30
    assert len(fitted.outliers) == 1
    assert fitted.outliers[0].ratio > 10
    assert max(fitted.values) == pytest.approx(0.3)
    assert max(range(24), key=lambda h: fitted.values[2 * 24 + h]) == 21  # the spiked Wednesday is unharmed


def test_counts_leave_out_the_hours_the_span_cuts() -> None:
    # One request every 15 minutes, all day: a flat curve, also in the first and last local hours.
    step = timedelta(minutes=15)
    samples = [(START + i * step, 1.0) for i in range(7 * 96)]

    fitted = fold(
        {"india": samples}, ZONES, kind="count", span=(START, START + timedelta(days=7) - step), peak_share=0.2
    )["india"]

    assert set(fitted.values) == {0.2}
