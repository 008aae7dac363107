"""The command line (docs/format.md section 7): exit codes, error messages and the json, ics and table formats."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar
from typer.testing import CliRunner, Result

from negotiator.cli import app
from tests.factories import (
    make_event,
    make_region,
    make_request,
    make_scenario,
    make_stakeholder,
    make_step,
    write_scenario,
)

TOP_KEYS = {"schema_version", "scenario", "slot_minutes", "steps", "versions"}
VERSION_KEYS = {
    "version",
    "clock",  # README, live plans: whose time ``now`` is; a replay's is the scenario's
    "now",
    "status",
    "objective",
    "bound",
    "approved",
    "windows",
    "unscheduled",
    "moved",
    "added",
    "removed",
    "moved_announced",
    "recurrences",  # repeated requests: the same-time ones with every occurrence scheduled
}
WINDOW_KEYS = {"request", "start", "end", "impact", "impact_by_region"}
# Optional fields the project added to a window, as docs/format.md section 2 allows; anything else is a leak.
WINDOW_EXTENSIONS = {"why"}
UTC_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
SCENARIOS = sorted(
    path for path in (Path(__file__).parents[2] / "scenarios").iterdir() if path.suffix in {".yaml", ".json"}
)

# Half of every region's users are active at every hour: impacts are easy to work out by hand.
HALF = {"hourly": [0.5] * 24}

runner = CliRunner()


def run_cli(*args: str, columns: int = 200) -> Result:
    """``negotiator run ARGS`` in-process, on a plain (not colour) console ``columns`` wide."""
    env = {"COLUMNS": str(columns), "FORCE_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
    return runner.invoke(app, ["run", *args], env=env)


def two_zone_scenario(**overrides: Any) -> dict[str, Any]:
    """Regions ``eu`` (Paris, 1000 users) and ``np`` (Kathmandu, UTC+05:45, 2000 users), both at 0.5 activity.

    ``r1`` must run 10:00-11:00 UTC on Monday 2 March 2026; its preferred start, 12:00 UTC, falls in a
    weight-3 event. ``r2`` (no preferred start) must run 05:00-06:00 UTC on Tuesday 3 March.
    By docs/format.md section 4 each window costs 60 min * (1000 + 2000) * 0.5 = 90,000 user-minutes
    (eu 30,000, np 60,000), and r1 at its preferred start would cost three times that, 270,000.
    """
    scenario = make_scenario(
        regions=[
            make_region("eu", profile=HALF),
            make_region("np", timezone="Asia/Kathmandu", users=2000, profile=HALF),
        ],
        events=[make_event("peak", start="2026-03-02T12:00:00Z", end="2026-03-02T13:00:00Z", weight=3)],
        requests=[
            make_request(
                "r1",
                title="Database upgrade",
                earliest="2026-03-02T10:00:00Z",
                deadline="2026-03-02T11:00:00Z",
                preferred="2026-03-02T12:00:00Z",
            ),
            make_request("r2", earliest="2026-03-03T05:00:00Z", deadline="2026-03-03T06:00:00Z"),
        ],
    )
    scenario.update(overrides)
    return scenario


def with_late_request(scenario: dict[str, Any]) -> dict[str, Any]:
    """Add ``r3``: one hour that must end by 00:30 UTC on the first day, which no window can."""
    scenario["requests"] = [*scenario["requests"], make_request("r3", deadline="2026-03-02T00:30:00Z")]
    return scenario


@pytest.fixture
def scheduled(tmp_path: Path) -> Path:
    """A scenario whose every request can be scheduled."""
    return write_scenario(tmp_path, two_zone_scenario())


@pytest.fixture
def unschedulable(tmp_path: Path) -> Path:
    """A scenario in which ``r3`` cannot meet its deadline."""
    return write_scenario(tmp_path, with_late_request(two_zone_scenario()), "late.yaml")


def utc(text: str) -> datetime:
    """The instant of a JSON ``...Z`` string."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def by_request(version: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {window["request"]: window for window in version["windows"]}


# Exit codes


def test_every_request_scheduled_exits_0(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--format", "json")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["versions"][-1]["unscheduled"] == []


@pytest.mark.parametrize("output_format", ["json", "ics"])
def test_unscheduled_request_exits_3_with_reasons_on_stderr(unschedulable: Path, output_format: str) -> None:
    result = run_cli(str(unschedulable), "--format", output_format)

    assert result.exit_code == 3, result.output
    assert "r3" in result.stderr
    assert "deadline" in result.stderr
    if output_format == "json":
        assert json.loads(result.stdout)["versions"][-1]["unscheduled"] == [{"request": "r3", "reasons": ["deadline"]}]
    else:
        assert len(Calendar.from_ical(result.stdout_bytes).walk("VEVENT")) == 2


def test_unscheduled_request_exits_3_with_reasons_in_the_table(unschedulable: Path) -> None:
    result = run_cli(str(unschedulable))

    assert result.exit_code == 3, result.output
    lines = [line for line in result.stdout.splitlines() if "r3" in line]
    assert lines, result.stdout
    assert any("deadline" in line for line in lines)


def test_exit_codes_of_the_installed_executable(scheduled: Path, unschedulable: Path, tmp_path: Path) -> None:
    executable = shutil.which("negotiator") or str(Path(sys.executable).parent / "negotiator")
    invalid = write_scenario(tmp_path, make_scenario(requests=[make_request(duration="soon")]), "invalid.yaml")

    def exit_code(path: Path) -> tuple[int, str]:
        done = subprocess.run(
            [executable, "run", str(path), "--format", "json", "--time-limit", "5"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stderr

    assert exit_code(scheduled) == (0, "")
    code, stderr = exit_code(unschedulable)
    assert code == 3
    assert "r3" in stderr
    code, stderr = exit_code(invalid)
    assert code == 2
    assert "requests[0].duration" in stderr
    assert "Traceback" not in stderr


# Invalid input: one message naming the file, the field and what is wrong, no traceback


def _missing_file(directory: Path) -> Path:
    return directory / "absent.yaml"


def _malformed_yaml(directory: Path) -> Path:
    path = directory / "broken.yaml"
    path.write_text("name: broken\nhorizon: [\n  start: 2026-03-02T00:00:00Z\n", encoding="utf-8")
    return path


def _malformed_json(directory: Path) -> Path:
    path = directory / "broken.json"
    path.write_text('{"name": "broken",', encoding="utf-8")
    return path


def _unknown_key(directory: Path) -> Path:
    return write_scenario(directory, make_scenario(requests=[make_request(duraton="1h")]), "typo.yaml")


def _bad_duration(directory: Path) -> Path:
    return write_scenario(directory, make_scenario(requests=[make_request(duration="90 minutes")]), "duration.yaml")


def _zero_duration(directory: Path) -> Path:
    return write_scenario(directory, make_scenario(requests=[make_request(duration="0m")]), "zero.yaml")


def _time_without_zone(directory: Path) -> Path:
    request = make_request(earliest="2026-03-02 10:00")
    return write_scenario(directory, make_scenario(requests=[request]), "nozone.yaml")


def _unquoted_time_without_zone(directory: Path) -> Path:
    # PyYAML reads an unquoted timestamp without offset as a naive datetime.
    path = write_scenario(directory, make_scenario(), "naive.yaml")
    path.write_text(
        path.read_text(encoding="utf-8").replace("duration: 1h", "duration: 1h\n  deadline: 2026-03-03 10:00:00")
    )
    return path


def _time_in_dst_gap(directory: Path) -> Path:
    # Clocks in Paris jump from 02:00 to 03:00 on 29 March 2026.
    request = make_request(deadline="2026-03-29 02:30 Europe/Paris")
    return write_scenario(directory, make_scenario(requests=[request]), "gap.yaml")


def _unknown_region(directory: Path) -> Path:
    scenario = make_scenario(requests=[make_request(regions=["mars"])])
    return write_scenario(directory, scenario, "region.yaml")


INVALID_INPUTS: list[tuple[str, Callable[[Path], Path], str, tuple[str, ...]]] = [
    ("missing file", _missing_file, "", ("cannot read",)),
    ("malformed yaml", _malformed_yaml, "line 4", ("invalid YAML",)),
    ("malformed json", _malformed_json, "line 1", ("invalid JSON",)),
    ("unknown key", _unknown_key, "requests[0].duraton", ("unknown key",)),
    ("bad duration", _bad_duration, "requests[0].duration", ("'90 minutes'", "not a duration")),
    ("zero duration", _zero_duration, "requests[0].duration", ("longer than 0",)),
    ("time without zone", _time_without_zone, "requests[0].earliest", ("2026-03-02 10:00", "no offset or zone")),
    ("unquoted time without zone", _unquoted_time_without_zone, "requests[0].deadline", ("no offset or zone",)),
    ("time in a DST gap", _time_in_dst_gap, "requests[0].deadline", ("02:30", "Europe/Paris", "does not exist")),
    ("unknown reference", _unknown_region, "requests[0].regions[0]", ("unknown region 'mars'",)),
]


@pytest.mark.parametrize(
    ("write", "field", "what"),
    [case[1:] for case in INVALID_INPUTS],
    ids=[case[0] for case in INVALID_INPUTS],
)
@pytest.mark.parametrize("output_format", ["table", "json"])
def test_invalid_input_exits_2_with_one_message(
    tmp_path: Path, write: Callable[[Path], Path], field: str, what: tuple[str, ...], output_format: str
) -> None:
    path = write(tmp_path)

    result = run_cli(str(path), "--format", output_format)

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    message = lines[0]
    assert str(path) in message
    assert field in message
    for words in what:
        assert words in message


@pytest.mark.parametrize("duration", ["[/x]", "[red]90m"])
def test_invalid_value_with_square_brackets_is_quoted_verbatim(tmp_path: Path, duration: str) -> None:
    path = write_scenario(tmp_path, make_scenario(requests=[make_request(duration=duration)]))

    result = run_cli(str(path))

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"'{duration}'" in result.stderr


def test_invalid_format_is_refused_by_the_command_line(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--format", "xml")

    assert result.exit_code == 2
    assert "xml" in result.output
    assert "Traceback" not in result.output


# Options


def test_time_limit_is_accepted(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--format", "json", "--time-limit", "0.5")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["versions"][-1]["status"] == "optimal"


def test_time_limit_must_be_positive(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--time-limit", "0")

    assert result.exit_code == 2
    assert "--time-limit" in result.output


# --format json (docs/format.md section 6)


def test_json_output_has_the_keys_of_the_format_reference(unschedulable: Path) -> None:
    result = run_cli(str(unschedulable), "--format", "json")
    output = json.loads(result.stdout)

    assert set(output) == TOP_KEYS
    assert output["schema_version"] == 1
    assert output["scenario"] == "test-scenario"
    assert output["slot_minutes"] == 60
    assert output["steps"] == []
    assert output["versions"]
    for version in output["versions"]:
        assert set(version) == VERSION_KEYS
        assert version["clock"] == "scenario"
        assert UTC_INSTANT.match(version["now"])
        assert version["status"] in {"optimal", "feasible", "infeasible"}
        for window in version["windows"]:
            expected = WINDOW_KEYS | ({"preferred_impact"} if window["request"] == "r1" else set())
            assert set(window) - WINDOW_EXTENSIONS == expected, window["request"]
            assert UTC_INSTANT.match(window["start"])
            assert UTC_INSTANT.match(window["end"])
        for item in version["unscheduled"]:
            assert set(item) == {"request", "reasons"}


def test_json_windows_and_impacts_follow_the_scenario(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--format", "json")
    final = json.loads(result.stdout)["versions"][-1]
    windows = by_request(final)

    assert final["version"] == 1
    assert final["now"] == "2026-03-02T00:00:00Z"
    assert final["status"] == "optimal"
    assert final["objective"] == pytest.approx(180_000)
    assert final["approved"] is False
    assert windows["r1"]["start"] == "2026-03-02T10:00:00Z"
    assert windows["r1"]["end"] == "2026-03-02T11:00:00Z"
    assert windows["r1"]["impact"] == pytest.approx(90_000)
    assert windows["r1"]["impact_by_region"] == pytest.approx({"eu": 30_000, "np": 60_000})
    assert windows["r1"]["preferred_impact"] == pytest.approx(270_000)
    assert windows["r2"]["start"] == "2026-03-03T05:00:00Z"
    assert windows["r2"]["end"] == "2026-03-03T06:00:00Z"
    assert "preferred_impact" not in windows["r2"]


def test_json_reports_each_negotiation_step(tmp_path: Path) -> None:
    scenario = two_zone_scenario(
        stakeholders=[make_stakeholder("press", "observer"), make_stakeholder("board", "approver")],
        negotiation=[make_step("approve", "press"), make_step("approve", "board")],
    )
    path = write_scenario(tmp_path, scenario)

    output = json.loads(run_cli(str(path), "--format", "json").stdout)

    refused, approved = output["steps"]
    assert {key: refused[key] for key in ("index", "action", "by", "accepted")} == {
        "index": 0,
        "action": "approve",
        "by": "press",
        "accepted": False,
    }
    assert refused["reason"]
    assert approved == {"index": 1, "action": "approve", "by": "board", "accepted": True, "version": 1}
    assert [version["approved"] for version in output["versions"]] == [True]


# --format ics


def test_ics_has_one_event_per_window_at_the_json_times(scheduled: Path) -> None:
    windows = by_request(json.loads(run_cli(str(scheduled), "--format", "json").stdout)["versions"][-1])
    result = run_cli(str(scheduled), "--format", "ics")

    assert result.exit_code == 0, result.output
    events = Calendar.from_ical(result.stdout_bytes).walk("VEVENT")
    assert len(events) == len(windows) == 2
    seen = set()
    for event in events:
        (request,) = [name for name in windows if str(event["UID"]).startswith(f"{name}@")]
        seen.add(request)
        assert event.decoded("DTSTART") == utc(windows[request]["start"])
        assert event.decoded("DTEND") == utc(windows[request]["end"])
    assert seen == {"r1", "r2"}


def test_ics_uids_are_stable_across_runs(scheduled: Path) -> None:
    def uids() -> list[str]:
        result = run_cli(str(scheduled), "--format", "ics")
        return sorted(str(event["UID"]) for event in Calendar.from_ical(result.stdout_bytes).walk("VEVENT"))

    first = uids()

    assert len(set(first)) == 2
    assert uids() == first


def calendar_entries(version: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What a calendar shows of a version, by UID: each window, except that a repeated request with
    a recurrence is one event under its own id, starting with its first occurrence."""
    recurring = {r["request"] for r in version["recurrences"]}
    entries: dict[str, dict[str, Any]] = {}
    for window in version["windows"]:
        series = window["request"].partition("#")[0]
        entries.setdefault(series if series in recurring else window["request"], window)
    return entries


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.name for path in SCENARIOS])
def test_shipped_scenarios_give_a_calendar_of_their_windows(path: Path) -> None:
    versions = json.loads(run_cli(str(path), "--format", "json").stdout)["versions"]
    result = run_cli(str(path), "--format", "ics")

    assert result.exit_code in (0, 3), result.output
    feed = Calendar.from_ical(result.stdout_bytes)
    assert not feed.errors
    assert (feed["VERSION"], feed["PRODID"]) == ("2.0", "-//maintenance-negotiator//EN")
    events = {str(event["UID"]).split("@")[0]: event for event in feed.walk("VEVENT")}
    windows = calendar_entries(versions[-1])
    ever_scheduled = {request for version in versions for request in calendar_entries(version)}
    assert events.keys() == ever_scheduled
    for request, event in events.items():
        assert all(name in event for name in ("DTSTAMP", "DTSTART", "DTEND", "SEQUENCE")), request
        # Cancelled events keep their last window; scheduled ones show the final version's.
        assert (str(event["STATUS"]) == "CANCELLED") == (request not in windows)
        if request in windows:
            assert event.decoded("DTSTART") == utc(windows[request]["start"])
            assert event.decoded("DTEND") == utc(windows[request]["end"])
        # A window that stayed where it first appeared in every later version keeps SEQUENCE 0.
        if "#" not in request and request in {r["request"] for v in versions for r in v["recurrences"]}:
            assert "RRULE" in event, request
        shown = [calendar_entries(version).get(request) for version in versions]
        first = next(i for i, window in enumerate(shown) if window is not None)
        unchanged = all(
            window is not None and (window["start"], window["end"]) == (shown[first]["start"], shown[first]["end"])
            for window in shown[first:]
        )
        assert (event.decoded("SEQUENCE") == 0) == unchanged, request


# --format table (the default)


def region_lines(table: str, label: str) -> list[str]:
    """The table lines whose ``where`` cell is ``label`` (one per window)."""
    return [line for line in table.splitlines() if re.search(rf"│\s*{re.escape(label)}\s*│", line)]


def test_table_shows_each_window_in_utc_and_every_region_local_time(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--detail")

    assert result.exit_code == 0, result.output
    assert "Database upgrade" in result.stdout
    (r1_utc, _) = region_lines(result.stdout, "UTC")
    assert re.search(r"Mon 02 Mar 10:00\W+11:00", r1_utc)
    assert "90,000" in r1_utc
    (r1_paris, _) = region_lines(result.stdout, "eu")
    assert re.search(r"Mon 02 Mar 11:00\W+12:00", r1_paris)
    assert "+01:00" in r1_paris
    assert "30,000" in r1_paris
    (r1_kathmandu, r2_kathmandu) = region_lines(result.stdout, "np")
    assert re.search(r"Mon 02 Mar 15:45\W+16:45", r1_kathmandu)
    assert "+05:45" in r1_kathmandu
    assert "60,000" in r1_kathmandu
    assert re.search(r"Tue 03 Mar 10:45\W+11:45", r2_kathmandu)


def test_table_shows_the_saving_against_the_preferred_start(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--detail")

    (note,) = [line for line in result.stdout.splitlines() if "preferred" in line]
    assert "270,000" in note
    assert "180,000" in note


def test_table_on_an_80_column_terminal_names_every_region(scheduled: Path) -> None:
    result = run_cli(str(scheduled), "--detail", columns=80)

    assert result.exit_code == 0, result.output
    (r1_kathmandu, _) = region_lines(result.stdout, "np")
    assert re.search(r"15:45\W+16:45", r1_kathmandu)


def test_table_shows_a_title_with_square_brackets_verbatim(tmp_path: Path) -> None:
    title = "Upgrade [/db] cluster"
    path = write_scenario(tmp_path, make_scenario(requests=[make_request(title=title)]))

    result = run_cli(str(path), "--detail")

    assert result.exit_code == 0, result.output
    assert title in result.stdout


def test_the_table_names_the_holidays_and_freezes_that_shape_a_window() -> None:
    path = Path(__file__).parents[2] / "scenarios" / "holiday-week-2026-12.yaml"

    result = run_cli(str(path), "--detail")

    assert result.exit_code == 0, result.output
    # The database upgrade lands on an Iranian holiday (the cheapest start left), weighed three times there.
    assert "during: event:holidays:IR:2026-12-23 (Birthday of Imam Ali), ×3 in iran" in result.stdout
    assert "event:change-freeze:christmas-eve-freeze@platform (Christmas Eve change freeze)" in result.stdout
