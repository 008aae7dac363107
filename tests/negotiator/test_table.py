"""The table of ``negotiator run``: its wording, and lines that are never cut when piped."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from negotiator.cli import app
from negotiator.table import against_preferred, render, why_text
from scheduler.domain import Window
from scheduler.explain import Blocker, WhyHere
from scheduler.negotiation import replay
from scheduler.scenario import load_data
from tests.factories import make_request, make_scenario, write_scenario

LONG_ID = "ntt-hosting-maintenance-of-the-frankfurt-core-switch-firmware"


def make_window(impact: float, preferred_impact: float | None) -> Window:
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    return Window("r1", start, start.replace(hour=11), impact, {"eu": impact}, preferred_impact)


def test_a_window_dearer_than_its_preferred_start_says_what_it_costs_more() -> None:
    note = against_preferred(make_window(5_544_000, 5_280_000))

    assert "costs 264,000 more (+5%)" in note
    assert "saves" not in note
    assert "-" not in note


def test_a_window_cheaper_than_its_preferred_start_says_what_it_saves() -> None:
    assert "saves 180,000 (67%)" in against_preferred(make_window(90_000, 270_000))


def test_one_ruled_out_start_is_one_start() -> None:
    why = WhyHere(alternatives=(), cheaper_blocked_by=(Blocker("notice", 1, 10.0), Blocker("earliest", 7, 20.0)))

    text = why_text(load_data(make_scenario()).problem, make_window(30, None), why)

    assert "notice (1 start," in text
    assert "earliest (7 starts," in text


def story(columns: int, *, terminal: bool) -> str:
    """The table of a scenario whose request has a long id, on a console ``columns`` wide."""
    result = replay(load_data(make_scenario(requests=[make_request(LONG_ID, title="Core switch firmware")])))
    out = io.StringIO()
    render(result, Console(file=out, width=columns, force_terminal=terminal, color_system=None))
    return out.getvalue()


def test_piped_table_never_cuts_an_id() -> None:
    text = story(40, terminal=False)

    assert LONG_ID in text
    assert "…" not in text


def test_a_terminal_keeps_its_width() -> None:
    text = story(80, terminal=True)

    assert max(len(line) for line in text.splitlines()) <= 80


def test_piped_command_output_keeps_whole_ids(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, make_scenario(requests=[make_request(LONG_ID)]))
    env = {"COLUMNS": "50", "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}

    result = CliRunner().invoke(app, ["run", str(path)], env=env)

    assert result.exit_code == 0, result.output
    assert LONG_ID in result.stdout
