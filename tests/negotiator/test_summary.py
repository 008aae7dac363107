"""The compact output of ``negotiator run`` (its default): one line per step, one line per window,
a closing summary; snapshots of every shipped scenario at 80 and 120 columns and piped.

Set NEGOTIATOR_UPDATE_SNAPSHOTS=1 to write the snapshots anew (then read the diff).
"""

from __future__ import annotations

import io
import os
from functools import cache
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from negotiator import summary
from negotiator.cli import app
from scheduler.negotiation import Replay, replay
from scheduler.scenario import Scenario, load_file
from tests.factories import make_request, make_scenario, make_stakeholder, write_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SNAPSHOTS = Path(__file__).with_name("snapshots")
SHIPPED = sorted(path.stem for path in SCENARIOS.glob("*.yaml"))
RUNNER = CliRunner()


@cache
def replayed(name: str) -> tuple[Scenario, Replay]:
    loaded = load_file(SCENARIOS / f"{name}.yaml")
    return loaded, replay(loaded)


def shown(name: str, width: int | None) -> str:
    """The compact output on a terminal ``width`` wide, or piped (None)."""
    if width is None:
        result = RUNNER.invoke(app, ["run", str(SCENARIOS / f"{name}.yaml")], env={"COLUMNS": "80"})
        assert result.exit_code in (0, 3), result.output
        return result.stdout
    loaded, replay_ = replayed(name)
    console = Console(width=width, force_terminal=True, color_system=None, record=True, file=io.StringIO())
    summary.render(replay_, loaded.steps, console)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 120, None], ids=["80", "120", "piped"])
@pytest.mark.parametrize("name", SHIPPED)
def test_the_compact_output_of_each_shipped_scenario(name: str, width: int | None) -> None:
    text = shown(name, width)
    snapshot = SNAPSHOTS / f"{name}-{width or 'piped'}.txt"
    if os.environ.get("NEGOTIATOR_UPDATE_SNAPSHOTS"):
        snapshot.write_text(text)
    assert text == snapshot.read_text()


@pytest.mark.parametrize("width", [80, 120, None], ids=["80", "120", "piped"])
@pytest.mark.parametrize("name", SHIPPED)
def test_every_id_is_whole_and_a_terminal_line_keeps_to_its_width(name: str, width: int | None) -> None:
    text = shown(name, width)
    _, replay_ = replayed(name)

    words = set(text.replace(",", " ").split())
    for window in replay_.final.windows:
        shown_id = window.request.partition("#")[0] if window.request.partition("#")[0] in words else window.request
        assert shown_id in words, shown_id
    if width is not None:
        assert max(len(line) for line in text.splitlines()) <= width
    assert len(text.splitlines()) < 5 * len(replay_.final.windows) + 4 * len(replay_.steps) + 12


def test_the_story_names_the_kind_the_range_the_reason_and_what_a_version_added(tmp_path: Path) -> None:
    scenario = make_scenario(
        requests=[make_request("r1")],
        stakeholders=[make_stakeholder("boss"), make_stakeholder("rep", role="representative")],
        negotiation=[
            {
                "by": "boss",
                "action": "object",
                "request": "r1",
                "kind": "veto",
                "avoid": [{"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T06:00:00Z"}],
                "reason": "exams",
            },
            {"by": "boss", "action": "submit", "request": {"id": "r2", "duration": "1h"}},
            {"by": "rep", "action": "approve"},
        ],
    )
    result = RUNNER.invoke(app, ["run", str(write_scenario(tmp_path, scenario))], env={"COLUMNS": "200"})
    lines = result.stdout.splitlines()

    assert any(
        line.startswith('step 0: boss vetoes r1 in Mon 02 Mar 00:00Z–Mon 02 Mar 06:00Z ("exams") → version 2: moved r1')
        for line in lines
    ), lines
    assert any(line.startswith("step 1: boss submits r2 → version 3: added r2;") for line in lines), lines
    assert not any("moved: nothing" in line for line in lines)
    assert any(line.startswith("step 2: rep approves the latest version → refused:") for line in lines), lines
    assert lines[-1].startswith("final: version 3 of 3, optimal, 2 windows")


def test_detail_prints_every_version_in_full(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, make_scenario(requests=[make_request("r1", title="Database upgrade")]))

    compact = RUNNER.invoke(app, ["run", str(path)], env={"COLUMNS": "120"})
    detail = RUNNER.invoke(app, ["run", str(path), "--detail"], env={"COLUMNS": "120"})

    assert "Database upgrade" not in compact.stdout
    assert "Database upgrade" in detail.stdout and "no allowed start costs less" in detail.stdout
