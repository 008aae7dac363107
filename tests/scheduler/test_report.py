"""The JSON output (docs/format.md section 6): impacts as a reader expects them, the engine's values untouched."""

from __future__ import annotations

from datetime import UTC, datetime

from scheduler.domain import Window
from scheduler.report import window_json
from scheduler.scenario import load_data
from tests.factories import make_scenario


def test_impacts_carry_no_float_noise() -> None:
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    window = Window("r1", start, start.replace(hour=11), 90592500.00000001, {"eu": 0.1 + 0.2}, 1e9 / 3)

    out = window_json(window, load_data(make_scenario()).problem.grid)

    assert out["impact"] == 90592500.0
    assert out["impact_by_region"] == {"eu": 0.3}
    assert out["preferred_impact"] == 333333333.333
    assert window.impact == 90592500.00000001
