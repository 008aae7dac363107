"""The review page's heatmap geometry: every window numbered in the track, no number over another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from api.chart import DIGIT_W, _track
from scheduler.heatmap import Span

START = datetime(2026, 3, 2, tzinfo=UTC)


def x_of(instant: datetime) -> float:
    """Ten units an hour from START."""
    return (instant - START) / timedelta(hours=1) * 10


windows = st.lists(
    st.tuples(st.integers(0, 160), st.integers(0, 12)).map(
        lambda place: (START + timedelta(hours=place[0]), timedelta(minutes=15 * place[1]))
    ),
    max_size=60,
)


@given(windows)
def test_every_window_gets_a_number_in_a_lane_where_it_runs_over_nothing(
    placed: list[tuple[datetime, timedelta]],
) -> None:
    spans = [
        Span("window", f"title {i}", start, start + length, ("eu",), id=f"w{i}")
        for i, (start, length) in enumerate(placed)
    ]

    bars = _track(spans, x_of)

    assert [bar["number"] for bar in bars] == list(range(1, len(spans) + 1))
    assert [bar["id"] for bar in bars] == [span.id for span in spans]
    by_lane: dict[int, list[tuple[float, float]]] = {}
    for bar in bars:
        extent = (bar["box"].x, bar["text_x"] + len(str(bar["number"])) * DIGIT_W)
        for other in by_lane.get(bar["lane"], []):
            assert extent[1] <= other[0] or other[1] <= extent[0], (bar, other)
        by_lane.setdefault(bar["lane"], []).append(extent)
