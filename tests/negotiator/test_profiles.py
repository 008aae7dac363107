"""``negotiator profile``: weekly profiles from a CSV file and from a real Prometheus, written into a
copy of the scenario that ``negotiator run`` takes, drawn, and with what was left out said."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from typer.testing import CliRunner

from negotiator.cli import app
from scheduler.scenario import load_file
from tests.negotiator.prometheus import prometheus
from tests.scheduler.test_observed import PEAKS, START, diurnal

RUNNER = CliRunner()
TWITTER = Path(__file__).resolve().parents[2] / "scenarios" / "twitter-2009-nomaintenance.yaml"
ZONES = {"iran": "Asia/Tehran", "germany": "Europe/Berlin", "us-east": "America/New_York"}
LABELS = {"IR": "iran", "DE": "germany", "US": "us-east"}
PEAK_OF = {"iran": PEAKS["iran"], "germany": PEAKS["germany"], "us-east": PEAKS["us"]}


def traffic(step: timedelta, days: int = 28) -> list[tuple[str, int, float]]:
    """(label, Unix seconds, value) of each region's diurnal traffic, every ``step``."""
    rows = []
    for label, region in LABELS.items():
        zone = ZoneInfo(ZONES[region])
        for i in range(int(timedelta(days=days) / step)):
            instant = START + i * step
            rows.append((label, int(instant.timestamp()), diurnal(instant.astimezone(zone), PEAK_OF[region])))
    return rows


def weekly_peaks(path: Path) -> dict[str, set[int]]:
    """Each region's busiest local hour of every day, in a written scenario."""
    regions = {r["id"]: r for r in yaml.safe_load(path.read_text())["regions"]}
    peaks = {}
    for region in ZONES:
        values = regions[region]["profile"]["weekly"]
        peaks[region] = {max(range(24), key=lambda h, d=day: values[d * 24 + h]) for day in range(7)}
    return peaks


def test_a_csv_of_buckets_gives_each_region_its_local_peak_in_a_scenario_run_takes(tmp_path: Path) -> None:
    lines = ["timestamp,region,count"] + [f"{t},{label},{v:.3f}" for label, t, v in traffic(timedelta(minutes=15))]
    (tmp_path / "traffic.csv").write_text("\ufeff" + "\n".join(lines) + "\n")  # a spreadsheet's BOM
    output, picture = tmp_path / "fitted.yaml", tmp_path / "curves.png"
    args = ["profile", str(TWITTER), "--csv", str(tmp_path / "traffic.csv"), "-o", str(output), "--plot", str(picture)]
    maps = [item for label, region in LABELS.items() for item in ("--map", f"{label}={region}")]

    result = RUNNER.invoke(app, [*args, *maps, "--peak-share", "0.25"])

    assert result.exit_code == 0, result.output
    assert weekly_peaks(output) == {region: {peak} for region, peak in PEAK_OF.items()}
    assert "japan: no data: its profile is kept" in result.output
    assert "iran: 5 weeks, peak " in result.output and " local at 0.25" in result.output
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_file(output).problem.regions  # the copy is a valid scenario
    assert RUNNER.invoke(app, ["run", str(output), "-f", "json"]).exit_code in (0, 3)


def test_csv_mistakes_name_the_file_and_line(tmp_path: Path) -> None:
    cases = {
        "hour,activity\n0,1\n": ":1: the header must be timestamp,region",
        "timestamp,region\n2026-10-05T00:00:00Z,iran\nsoon,iran\n": ":3: timestamp:",
        "timestamp,region,count\n2026-10-05T00:00:00Z,iran,many\n": ":2: count: 'many' is not a number",
        "timestamp,region\n": "has no rows under its header",
    }
    for text, words in cases.items():
        (tmp_path / "bad.csv").write_text(text)

        result = RUNNER.invoke(app, ["profile", str(TWITTER), "--csv", str(tmp_path / "bad.csv")])

        assert result.exit_code == 2, text
        assert words in result.output, result.output


def test_it_needs_one_source_and_known_regions(tmp_path: Path) -> None:
    neither = RUNNER.invoke(app, ["profile", str(TWITTER)])
    unknown = RUNNER.invoke(app, ["profile", str(TWITTER), "--csv", "x.csv", "--map", "IR=persia"])

    assert neither.exit_code == 2 and "--prometheus URL" in neither.output
    assert unknown.exit_code == 2 and "--map IR=persia" in unknown.output


def test_a_prometheus_range_query_gives_the_same_peaks_and_says_what_it_left_out(tmp_path: Path) -> None:
    lines = ["# TYPE traffic gauge"]
    lines += [f'traffic{{country="{label}"}} {value:.3f} {t}' for label, t, value in traffic(timedelta(minutes=5))]
    end = int((START + timedelta(days=28)).timestamp())
    lines += [f'traffic{{country="XX"}} 1 {t}' for t in range(end - 7200, end, 300)]  # a country the plan lacks
    output = tmp_path / "fitted.yaml"

    with prometheus(tmp_path, "\n".join(lines) + "\n# EOF\n") as url:
        query = ["--prometheus", url, "--query", "sum by (country) (traffic)", "--label", "country"]
        window = ["--range", "28d", "--end", (START + timedelta(days=28)).isoformat(), "--step", "5m"]
        maps = [item for label, region in LABELS.items() for item in ("--map", f"{label}={region}")]
        result = RUNNER.invoke(app, ["profile", str(TWITTER), *query, *window, *maps, "-o", str(output)])

    assert result.exit_code == 0, result.output
    assert weekly_peaks(output) == {region: {peak} for region, peak in PEAK_OF.items()}
    assert "not used: 'XX'" in result.output and "--map XX=REGION" in result.output


def test_an_unreachable_prometheus_is_exit_1(tmp_path: Path) -> None:
    query = ["--prometheus", "http://127.0.0.1:9", "--query", "up", "--label", "country"]

    result = RUNNER.invoke(app, ["profile", str(TWITTER), *query])

    assert result.exit_code == 1
    assert "cannot reach Prometheus at http://127.0.0.1:9" in result.output
