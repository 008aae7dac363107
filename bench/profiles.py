"""Profile fit speed: 28 days × 24 regions at 5-minute resolution folded onto local weeks. Prints figures only.

    python bench/profiles.py

The samples are the synthetic diurnal traffic of the tests (a peak in the evening, a tenth of it
at night), in 24 zones with and without daylight saving time, over four weeks that hold the
European clock change. The figure is the time ``scheduler.observed.fold`` takes for all of them.
"""

from __future__ import annotations

import math
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.recurring import ZONES
from scheduler.observed import fold

START = datetime(2026, 10, 5, tzinfo=UTC)
STEP = timedelta(minutes=5)
DAYS = 28


def main() -> None:
    zones = {f"r{i:02d}": zone for i, zone in enumerate(ZONES)}
    samples = {}
    for region, zone in zones.items():
        tz = ZoneInfo(zone)
        points = []
        for i in range(int(timedelta(days=DAYS) / STEP)):
            instant = START + i * STEP
            local = instant.astimezone(tz)
            hours = local.hour + local.minute / 60
            points.append((instant, 10 + 90 * math.exp(-(min(abs(hours - 20), 24 - abs(hours - 20)) ** 2) / 8)))
        samples[region] = points
    count = sum(map(len, samples.values()))
    started = time.perf_counter()
    fitted = fold(samples, zones, span=(START, START + timedelta(days=DAYS)))
    took = time.perf_counter() - started
    peaks = {max(range(24), key=lambda h, f=f: f.values[24 + h]) for f in fitted.values()}
    print(f"profile fit: {len(zones)} regions x {DAYS} days at 5-minute resolution = {count:,} samples")
    print(f"  fold: {took:.2f} s ({count / took:,.0f} samples/s); Tuesday peak hours found: {sorted(peaks)}")


if __name__ == "__main__":
    main()
