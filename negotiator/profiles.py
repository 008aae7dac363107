"""``negotiator profile``: a scenario's weekly activity profiles from the team's own traffic.

Data comes from a Prometheus range query (``/api/v1/query_range``, one series per region label
value) or a CSV file (one row per request, or per bucket with a count). ``scheduler.observed``
folds it onto each region's local week; this module fetches, reads, writes and draws.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from scheduler.observed import HOURS, Fitted
from scheduler.timeline import parse_instant

CHUNK = timedelta(days=7)  # a range query per week: Prometheus answers at most 11,000 points a series
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ProfileError(Exception):
    """Input that cannot be used; the message names the option or the file and line."""


@dataclass
class Samples:
    """Samples by region, the time they cover, and what could not be used."""

    by_region: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)
    span: tuple[datetime, datetime] | None = None
    unmapped: dict[str, int] = field(default_factory=dict)  # label value (or CSV region) -> samples left out


def region_of(label: str, regions: set[str], mapping: Mapping[str, str]) -> str | None:
    """The region a label value (``IR``) stands for: through ``--map``, or a region of that id."""
    if label in mapping:
        return mapping[label]
    return label if label in regions else None


def from_prometheus(
    client: Any,
    *,
    url: str,
    query: str,
    label: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    regions: set[str],
    mapping: Mapping[str, str],
) -> Samples:
    """Samples of each region from a range query, a week at a time; ``client`` is an ``httpx.Client``."""
    import httpx

    found = Samples(span=(start, end))
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(chunk_start + CHUNK, end)
        params = {
            "query": query,
            "start": chunk_start.timestamp(),
            "end": chunk_end.timestamp(),
            "step": f"{int(step.total_seconds())}s",
        }
        try:
            response = client.get(f"{url.rstrip('/')}/api/v1/query_range", params=params)
        except httpx.HTTPError as error:
            raise ConnectionError(f"cannot reach Prometheus at {url}: {str(error) or type(error).__name__}") from None
        body = _json(response, url)
        if body.get("status") != "success":
            raise ProfileError(f"--query: Prometheus refused it: {body.get('error', response.status_code)}")
        if body["data"]["resultType"] != "matrix":
            raise ProfileError(f"--query: gives a {body['data']['resultType']}, not a range of series")
        for series in body["data"]["result"]:
            value = series["metric"].get(label)
            if value is None:
                raise ProfileError(f"--label {label}: a series of the query has no such label: {series['metric']}")
            region = region_of(value, regions, mapping)
            points = [
                (datetime.fromtimestamp(float(t), UTC), float(v))
                for t, v in series["values"]
                if math.isfinite(float(v)) and datetime.fromtimestamp(float(t), UTC) < chunk_end
            ]
            if region is None:
                found.unmapped[value] = found.unmapped.get(value, 0) + len(points)
            else:
                found.by_region.setdefault(region, []).extend(points)
        chunk_start = chunk_end
    return found


def _json(response: Any, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ConnectionError(f"{url} answered {response.status_code} with something that is not Prometheus") from None
    if not isinstance(body, dict):
        raise ConnectionError(f"{url} answered {response.status_code} with something that is not Prometheus")
    return body


def from_csv(path: Path, *, regions: set[str], mapping: Mapping[str, str]) -> Samples:
    """Samples from a CSV file: ``timestamp,region`` per request, or ``timestamp,region,count`` per bucket."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise ProfileError(f"--csv {path}: cannot read it: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ProfileError(f"--csv {path}: is not UTF-8 text") from None
    rows = csv.reader(io.StringIO(text))
    header = [name.strip().lower() for name in next(rows, [])]
    if header[:2] != ["timestamp", "region"] or header[2:] not in ([], ["count"]):
        raise ProfileError(f"{path}:1: the header must be timestamp,region or timestamp,region,count")
    found = Samples()
    first: datetime | None = None
    last: datetime | None = None
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ProfileError(f"{path}:{number}: expected {len(header)} columns, got {len(row)}")
        try:
            instant = _instant(row[0].strip())
        except ValueError as error:
            raise ProfileError(f"{path}:{number}: timestamp: {error}") from None
        try:
            count = float(row[2]) if len(row) == 3 else 1.0
        except ValueError:
            raise ProfileError(f"{path}:{number}: count: {row[2].strip()!r} is not a number") from None
        if not math.isfinite(count) or count < 0:
            raise ProfileError(f"{path}:{number}: count: {row[2].strip()!r} must be a number of at least 0")
        first = instant if first is None or instant < first else first
        last = instant if last is None or instant > last else last
        region = region_of(row[1].strip(), regions, mapping)
        if region is None:
            found.unmapped[row[1].strip()] = found.unmapped.get(row[1].strip(), 0) + 1
        else:
            found.by_region.setdefault(region, []).append((instant, count))
    if first is None or last is None:
        raise ProfileError(f"{path}: has no rows under its header")
    found.span = (first, last)
    return found


def _instant(text: str) -> datetime:
    """A CSV timestamp: a time as scenarios write them, or Unix seconds."""
    try:
        seconds = float(text)
    except ValueError:
        return parse_instant(text)
    if not math.isfinite(seconds):
        raise ValueError(f"{text!r} is not a time")
    return datetime.fromtimestamp(seconds, UTC)


def hour_text(hour: int) -> str:
    """An hour of the week in words: ``Tue 20:00``."""
    return f"{WEEKDAYS[hour // 24]} {hour % 24:02d}:00"


def peak_hour(values: tuple[float, ...]) -> str:
    """The busiest hour of a weekly profile in words."""
    return hour_text(max(range(HOURS), key=lambda h: values[h]))


def report(fitted: Mapping[str, Fitted], samples: Samples, regions: list[str]) -> Iterator[str]:
    """What was fitted, and what could not be used, one line each."""
    for region in regions:
        fit = fitted.get(region)
        if fit is None:
            yield f"{region}: no data: its profile is kept"
            continue
        notes = []
        if fit.gaps:
            weeks = ", ".join(f"{week.isoformat()} ({hours} h)" for week, hours in sorted(fit.gaps.items()))
            notes.append(f"hours without samples in the weeks of {weeks}")
        if fit.outliers:
            shown = ", ".join(f"{o.week.isoformat()} {hour_text(o.hour)} ({o.ratio:.1f}x)" for o in fit.outliers[:5])
            more = f" and {len(fit.outliers) - 5} more" if len(fit.outliers) > 5 else ""
            notes.append(f"{len(fit.outliers)} outliers left out: {shown}{more}")
        if fit.filled:
            notes.append(f"{len(fit.filled)} hours of the week had no data in any week: taken from their neighbours")
        peak = f"peak {peak_hour(fit.values)} local at {max(fit.values):.2f}"
        yield f"{region}: {fit.weeks} weeks, {peak}" + "".join(f"; {note}" for note in notes)
    for label, count in sorted(samples.unmapped.items()):
        yield f"not used: {label!r} ({count} samples) is no region of the scenario: add --map {label}=REGION"


def write_scenario(document: dict[str, Any], fitted: Mapping[str, Fitted], output: Path) -> None:
    """A copy of the scenario with each fitted region's profile as ``{weekly: [...]}``."""
    copy = {**document, "regions": [dict(region) for region in document.get("regions", [])]}
    for region in copy["regions"]:
        fit = fitted.get(region.get("id"))
        if fit is not None:
            region["profile"] = {"weekly": list(fit.values)}
    text = yaml.safe_dump(copy, sort_keys=False, allow_unicode=True, width=120)
    output.write_text(text, encoding="utf-8")


def draw(fitted: Mapping[str, Fitted], before: Mapping[str, tuple[float, ...]], output: Path) -> None:
    """One line per region over its local week; the profile it had before dashed in the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(14, 6), constrained_layout=True)
    for index, (region, fit) in enumerate(sorted(fitted.items())):
        colour = f"C{index % 10}"
        axes.plot(range(HOURS), fit.values, color=colour, linewidth=1.6, label=region)
        old = before.get(region)
        if old is not None:
            weekly = old if len(old) == HOURS else old * 7
            axes.plot(range(HOURS), weekly, color=colour, linewidth=1.0, linestyle="--", alpha=0.7)
    axes.set_xticks(range(0, HOURS + 1, 12))
    axes.set_xticklabels(
        [f"{WEEKDAYS[h // 24 % 7]} {h % 24:02d}h" if h < HOURS else "" for h in range(0, HOURS + 1, 12)]
    )
    axes.set_xlim(0, HOURS - 1)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("local time of the week, in each region's own zone")
    axes.set_ylabel("share of the region's users active")
    axes.set_title("Activity profiles from the data (solid) and as the scenario had them (dashed)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", ncols=4, fontsize="small")
    figure.savefig(output, dpi=110)
    plt.close(figure)
