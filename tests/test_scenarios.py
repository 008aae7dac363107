"""Every scenario shipped in ``scenarios/`` runs end to end and its windows keep their requests' bounds."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from negotiator.cli import app
from scheduler import steps
from scheduler.domain import Request
from scheduler.scenario import Scenario, load_file

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIO_SUFFIXES = {".yaml", ".yml", ".json"}
SCENARIOS = sorted(path for path in SCENARIO_DIR.iterdir() if path.suffix.lower() in SCENARIO_SUFFIXES)
TWITTER = SCENARIO_DIR / "twitter-2009-nomaintenance.yaml"


@cache
def run_json(path: Path) -> tuple[int, dict[str, Any]]:
    """Exit code and JSON output of ``negotiator run PATH --format json`` (each scenario runs once)."""
    result = CliRunner().invoke(app, ["run", str(path), "--format", "json"])
    assert result.exit_code in (0, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def utc(text: str) -> datetime:
    """The instant of a JSON ``...Z`` string."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def every_request(scenario: Scenario) -> dict[str, Request]:
    """The scenario's requests and occurrences (``ID#k``), and the requests its negotiation submits, by id."""
    requests = dict(scenario.problem.request_by_id)
    requests.update({step.request.id: step.request for step in scenario.steps if isinstance(step, steps.Submit)})
    return requests


def test_there_are_scenarios() -> None:
    assert TWITTER in SCENARIOS


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.name for path in SCENARIOS])
def test_scenario_runs_to_a_solved_final_version(path: Path) -> None:
    scenario = load_file(path)

    exit_code, output = run_json(path)

    final = output["versions"][-1]
    assert final["status"] in {"optimal", "feasible"}
    assert exit_code == (3 if final["unscheduled"] else 0)
    assert output["scenario"] == scenario.name
    assert [step["index"] for step in output["steps"]] == list(range(len(scenario.steps)))


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.name for path in SCENARIOS])
def test_every_window_respects_its_request_and_the_horizon(path: Path) -> None:
    scenario = load_file(path)
    grid = scenario.problem.grid
    requests = every_request(scenario)
    _, output = run_json(path)
    windows = [(version, window) for version in output["versions"] for window in version["windows"]]

    assert windows
    for version, window in windows:
        request = requests[window["request"]]
        start, end = utc(window["start"]), utc(window["end"])
        where = f"version {version['version']}, {request.id} at {window['start']}"
        assert grid.start <= start, where
        assert end <= grid.end, where
        assert request.earliest <= start, where
        assert end <= request.deadline, where
        assert (start - grid.start) % grid.slot == timedelta(0), where
        assert end - start == math.ceil(request.duration / grid.slot) * grid.slot, where
        if request.period is not None:
            assert request.period.start <= start < request.period.end, where


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.name for path in SCENARIOS])
def test_first_version_gives_every_request_its_notice(path: Path) -> None:
    scenario = load_file(path)
    requests = every_request(scenario)
    _, output = run_json(path)
    first = output["versions"][0]

    for window in first["windows"]:
        request = requests[window["request"]]
        assert utc(window["start"]) >= scenario.problem.now + request.notice, request.id


def test_twitter_final_window_is_cheaper_than_the_hosts_preferred_start() -> None:
    scenario = load_file(TWITTER)
    (request,) = scenario.problem.requests
    assert request.preferred == utc("2009-06-16T04:45:00Z")  # 21:45 PDT, 09:15 in Tehran

    _, output = run_json(TWITTER)
    (window,) = output["versions"][-1]["windows"]

    assert utc(window["start"]) != request.preferred
    assert window["impact"] < window["preferred_impact"]


def test_twitter_final_window_keeps_out_of_the_nomaintenance_veto() -> None:
    # The #nomaintenance veto: Tehran's waking hours on Tuesday 16 June, 06:00 to 01:00 (UTC+04:30).
    veto_start, veto_end = utc("2009-06-16T01:30:00Z"), utc("2009-06-16T20:30:00Z")

    _, output = run_json(TWITTER)
    final = output["versions"][-1]
    (window,) = final["windows"]

    assert utc(window["end"]) <= veto_start or utc(window["start"]) >= veto_end
    assert final["approved"] is True
    assert len(output["versions"]) > 1
