"""``negotiator plot``: the picture of one version, in PNG or SVG, and its error messages."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from matplotlib.colors import LogNorm, to_hex
from typer.testing import CliRunner, Result

from negotiator.cli import app
from negotiator.plot import COLORMAP
from scheduler.heatmap import Scale
from scheduler.scenario import load_file
from tests.factories import (
    make_objection,
    make_region,
    make_request,
    make_scenario,
    make_stakeholder,
    write_scenario,
)

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
TWITTER = SCENARIO_DIR / "twitter-2009-nomaintenance.yaml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

runner = CliRunner()


def plot_cli(*args: str) -> Result:
    """``negotiator plot ARGS --time-limit 5`` in-process."""
    return runner.invoke(app, ["plot", *args, "--time-limit", "5"])


def svg_text(path: Path) -> str:
    """Every piece of text an SVG shows, one per line."""
    root = ElementTree.parse(path).getroot()
    return "\n".join("".join(element.itertext()) for element in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.fixture(scope="module")
def twitter_versions() -> list[dict[str, Any]]:
    """The versions of the #nomaintenance scenario, as ``negotiator run --format json`` reports them."""
    result = runner.invoke(app, ["run", str(TWITTER), "--format", "json", "--time-limit", "5"])
    assert result.exit_code == 0, result.output
    versions: list[dict[str, Any]] = json.loads(result.stdout)["versions"]
    return versions


def shown_start(version: dict[str, Any]) -> str:
    """The start of the version's only window as the key writes it: ``Tue 16 Jun 08:30``."""
    (window,) = version["windows"]
    return f"{datetime.fromisoformat(window['start'].replace('Z', '+00:00')):%a %d %b %H:%M}"


# The picture


def test_png_is_written(tmp_path: Path) -> None:
    output = tmp_path / "schedule.png"

    result = plot_cli(str(TWITTER), "-o", str(output))

    assert result.exit_code == 0, result.output
    assert str(output) in result.stdout
    picture = output.read_bytes()
    assert picture.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", picture[16:24])  # the IHDR chunk comes first
    assert 800 <= width <= 4000
    assert 400 <= height <= 4000
    assert 20_000 < len(picture) < 5_000_000


def test_svg_names_the_window_its_request_and_every_region(tmp_path: Path) -> None:
    output = tmp_path / "schedule.svg"

    result = plot_cli(str(TWITTER), "-o", str(output))

    assert result.exit_code == 0, result.output
    text = svg_text(output)
    assert "ntt-hosting-maintenance" in text
    assert "NTT America hosting maintenance" in text
    for region in load_file(TWITTER).problem.regions:
        assert f"{region.id} ({region.timezone})" in text
    assert "veto" in text
    assert "share of users active × event weight" in text


def test_each_version_shows_its_own_window(tmp_path: Path, twitter_versions: list[dict[str, Any]]) -> None:
    first, final = twitter_versions[0], twitter_versions[-1]
    assert shown_start(first) != shown_start(final)  # the veto moved the window

    assert plot_cli(str(TWITTER), "-o", str(tmp_path / "first.svg"), "--version", "1").exit_code == 0
    assert plot_cli(str(TWITTER), "-o", str(tmp_path / "final.svg")).exit_code == 0

    shown_first, shown_final = svg_text(tmp_path / "first.svg"), svg_text(tmp_path / "final.svg")
    assert shown_start(first) in shown_first
    assert shown_start(final) not in shown_first
    assert shown_start(final) in shown_final
    assert shown_start(first) not in shown_final
    assert f"version 1 of {len(twitter_versions)}" in shown_first
    assert f"version {final['version']} of {len(twitter_versions)}" in shown_final


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_the_same_scenario_gives_the_same_bytes(tmp_path: Path, suffix: str) -> None:
    once, twice = tmp_path / f"once{suffix}", tmp_path / f"twice{suffix}"

    assert plot_cli(str(TWITTER), "-o", str(once)).exit_code == 0
    assert plot_cli(str(TWITTER), "-o", str(twice)).exit_code == 0

    assert once.read_bytes() == twice.read_bytes()


def test_titles_are_drawn_verbatim_and_unscheduled_requests_are_listed(tmp_path: Path) -> None:
    scenario = make_scenario(
        regions=[make_region("eu"), make_region("np", timezone="Asia/Kathmandu")],
        requests=[
            make_request("r1", title="Save $5 to $10 a month"),
            make_request("r2", deadline="2026-03-02T00:30:00Z"),
        ],
    )
    output = tmp_path / "schedule.svg"

    result = plot_cli(str(write_scenario(tmp_path, scenario)), "-o", str(output))

    assert result.exit_code == 0, result.output
    text = svg_text(output)
    assert "r1: Save $5 to $10 a month" in text
    assert "not scheduled: r2 (deadline)" in text
    assert "np (Asia/Kathmandu)" in text


# Invalid input: exit 2, one message, no traceback, no picture


@pytest.mark.parametrize("name", ["schedule.pdf", "schedule"])
def test_unsupported_suffix_exits_2(tmp_path: Path, name: str) -> None:
    output = tmp_path / name

    result = plot_cli(str(TWITTER), "-o", str(output))

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert str(output) in result.stderr
    assert ".png or .svg" in result.stderr
    assert not output.exists()


def test_missing_scenario_exits_2_with_the_loader_message(tmp_path: Path) -> None:
    scenario = tmp_path / "absent.yaml"

    result = plot_cli(str(scenario), "-o", str(tmp_path / "schedule.png"))

    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {scenario}: cannot read the file: No such file or directory"
    assert not (tmp_path / "schedule.png").exists()


@pytest.mark.parametrize("version", ["0", "4"])
def test_version_that_does_not_exist_exits_2(tmp_path: Path, version: str) -> None:
    result = plot_cli(str(TWITTER), "-o", str(tmp_path / "schedule.png"), "--version", version)

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"--version {version}" in result.stderr
    assert "1 to 3" in result.stderr
    assert not (tmp_path / "schedule.png").exists()


def test_unwritable_path_exits_2(tmp_path: Path) -> None:
    output = tmp_path / "no-such-directory" / "schedule.png"

    result = plot_cli(str(TWITTER), "-o", str(output))

    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{output}: cannot write the picture" in result.stderr


# Cost


def test_run_does_not_load_matplotlib(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, make_scenario())
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from negotiator.cli import app\n"
        f"result = CliRunner().invoke(app, ['run', {str(scenario)!r}, '--format', 'json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('matplotlib' in sys.modules)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True, cwd=SCENARIO_DIR.parent
    )

    assert done.stdout.strip() == "False"


def test_the_picture_and_the_review_page_colour_a_stake_alike() -> None:
    scale = Scale(low=0.002, high=3.0)
    for value in (0.001, 0.002, 0.01, 0.05, 0.2, 0.9, 3.0, 10.0):
        drawn = to_hex(COLORMAP(LogNorm(vmin=scale.low, vmax=scale.high)(min(max(value, scale.low), scale.high))))
        page = scale.colour(value)
        for channel in (1, 3, 5):
            assert abs(int(drawn[channel : channel + 2], 16) - int(page[channel : channel + 2], 16)) <= 3, value


def test_soft_objections_are_drawn_and_named_in_the_legend(tmp_path: Path) -> None:
    scenario = make_scenario(
        regions=[make_region("eu")],
        requests=[make_request("r1", regions=["eu"], requested_by="req")],
        stakeholders=[make_stakeholder("req", "requester"), make_stakeholder("boss", "approver")],
        negotiation=[make_objection("r1", "boss", kind="soft", weight=5, reason="launch")],
    )
    output = tmp_path / "soft.svg"

    result = plot_cli(str(write_scenario(tmp_path, scenario)), "-o", str(output))

    assert result.exit_code == 0, result.output
    text = svg_text(output)
    assert "soft objection (costs its weight)" in text
    assert "soft objection to r1 by boss · weight 5: launch" in text  # its bar in the track
