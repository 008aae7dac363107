"""``negotiator``: solve and replay scenario files.

Exit codes of ``run``: 0 every request scheduled in the final version, 3 some request unscheduled,
2 invalid input (one message naming the file, the field path and what is wrong).
``plot`` exits 0 once the picture is written, 2 on invalid input (a picture it cannot write included).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from negotiator import client, subscriptions
from scheduler.errors import ScenarioError
from scheduler.ics import calendar
from scheduler.negotiation import replay
from scheduler.report import replay_json
from scheduler.scenario import load_file, read_document
from scheduler.timeline import parse_duration, parse_instant

EXIT_INVALID = 2
EXIT_UNSCHEDULED = 3

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Decide when maintenance happens.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    ics = "ics"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"negotiator {metadata.version('maintenance-negotiator')}")
        raise typer.Exit()


@app.callback()
def _commands(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Decide when maintenance happens, weighing who is awake and what is at stake."""


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="A scenario file, YAML or JSON.")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, json or ics.")] = OutputFormat.table,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.01, help="Seconds the optimizer may spend on each version.")
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed of the optimizer (results are reproducible).")] = 0,
    detail: Annotated[
        bool,
        typer.Option(
            "--detail", help="Table: every version in full, each window region by region, and why it is there."
        ),
    ] = False,
) -> None:
    """Solve a scenario and replay its negotiation steps."""
    errors = Console(stderr=True)
    try:
        loaded = load_file(scenario)
    except ScenarioError as error:
        errors.print(Text.assemble(("error:", "bold red"), f" {error}"), highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INVALID) from None
    result = replay(loaded, time_limit_s=time_limit, seed=seed)
    if format is OutputFormat.json:
        sys.stdout.write(json.dumps(replay_json(result), indent=2) + "\n")
    elif format is OutputFormat.ics:
        sys.stdout.buffer.write(calendar(result))
    elif detail:
        from negotiator import table

        table.render(result, Console())
    else:
        from negotiator import summary

        summary.render(result, loaded.steps, Console())
    if result.final.unscheduled:
        if format is not OutputFormat.table:
            for item in result.final.unscheduled:
                errors.print(Text(f"not scheduled: {item.request}: {', '.join(item.reasons)}"), highlight=False)
        raise typer.Exit(EXIT_UNSCHEDULED)


@app.command()
def plot(
    scenario: Annotated[Path, typer.Argument(help="A scenario file, YAML or JSON.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The picture to write: a .png or .svg file.")],
    version: Annotated[
        int | None, typer.Option("--version", help="Which version to draw, from 1; default the final one.")
    ] = None,
    time_limit: Annotated[
        float, typer.Option("--time-limit", min=0.01, help="Seconds the optimizer may spend on each version.")
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed of the optimizer (results are reproducible).")] = 0,
) -> None:
    """Draw a version's windows over who is active when, region by region, as a PNG or SVG picture."""
    # matplotlib loads only here: ``run`` does not pay for it.
    from negotiator.plot import FORMATS
    from negotiator.plot import plot as draw

    if output.suffix.lower() not in FORMATS:
        suffix = f"the suffix {output.suffix!r}" if output.suffix else "a name without a suffix"
        raise _invalid(f"{output}: cannot tell the picture format from {suffix}: use .png or .svg")
    try:
        loaded = load_file(scenario)
    except ScenarioError as error:
        raise _invalid(str(error)) from None
    result = replay(loaded, time_limit_s=time_limit, seed=seed)
    count = len(result.versions)
    index = count - 1 if version is None else version - 1
    if not 0 <= index < count:
        raise _invalid(f"--version {version}: {result.scenario} has versions 1 to {count}")
    chosen = result.versions[index]
    title = f"{result.scenario} — version {chosen.version} of {count}{' (approved)' if chosen.approved else ''}"
    try:
        draw(result.problems[index], chosen, output, title=title)
    except OSError as error:
        raise _invalid(f"{output}: cannot write the picture: {error.strerror or error}") from None
    typer.echo(f"wrote {output}: version {chosen.version} of {count} of {result.scenario}")


@app.command()
def profile(
    scenario: Annotated[Path, typer.Argument(help="The scenario whose regions get profiles, YAML or JSON.")],
    prometheus: Annotated[
        str | None, typer.Option(help="Prometheus base URL: a range query gives the traffic.", show_default=False)
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(help="PromQL with one series per region, e.g. 'sum by (country) (rate(x[5m]))'."),
    ] = None,
    label: Annotated[str | None, typer.Option(help="The label that names the region (country).")] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="VALUE=REGION", help="A label value's region (IR=iran); repeat it."),
    ] = None,
    reach: Annotated[str, typer.Option("--range", help="How far back the query reaches (28d).")] = "28d",
    end: Annotated[str | None, typer.Option(help="Where the range ends (default: now).")] = None,
    step: Annotated[str, typer.Option(help="The query's resolution.")] = "5m",
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="A CSV file instead: timestamp,region per request, or timestamp,region,count per bucket."
        ),
    ] = None,
    peak_share: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="Share of users active in the busiest hour, 0.01 to 1.")
    ] = 0.3,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write a copy of the scenario with the weekly profiles.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw the curves into this PNG.")] = None,
) -> None:
    """Weekly activity profiles for the scenario's regions from your own traffic (Prometheus or CSV).

    Each region's data is folded onto its local week (its own zone, daylight saving time included),
    averaged over the weeks, and scaled so that the busiest hour has --peak-share of the users.
    """
    import httpx

    from negotiator import profiles as fit
    from scheduler.observed import Kind, fold

    if (prometheus is None) == (csv_file is None):
        raise _invalid("give --prometheus URL (with --query and --label) or --csv FILE, one of them")
    try:
        document = read_document(scenario)
        loaded = load_file(scenario)
    except ScenarioError as error:
        raise _invalid(str(error)) from None
    regions = {r.id: r for r in loaded.problem.regions}
    mapping: dict[str, str] = {}
    for text in maps or []:
        value, _, region = text.partition("=")
        if not value or region not in regions:
            raise _invalid(f"--map {text}: give VALUE=REGION with one of the regions {', '.join(sorted(regions))}")
        mapping[value] = region
    kind: Kind = "count"
    try:
        if csv_file is not None:
            samples = fit.from_csv(csv_file, regions=set(regions), mapping=mapping)
        else:
            assert prometheus is not None
            if not query or not label:
                raise _invalid(f"--prometheus needs --query and --label{'' if query else ' (and --query)'}")
            try:
                last = parse_instant(end) if end is not None else datetime.now(UTC)
                back, resolution = parse_duration(reach), parse_duration(step)
            except ValueError as error:
                raise _invalid(f"--range, --step or --end: {error}") from None
            with httpx.Client(timeout=60.0) as client:
                samples = fit.from_prometheus(
                    client,
                    url=prometheus,
                    query=query,
                    label=label,
                    start=last - back,
                    end=last,
                    step=resolution,
                    regions=set(regions),
                    mapping=mapping,
                )
            kind = "rate"
    except fit.ProfileError as error:
        raise _invalid(str(error)) from None
    except ConnectionError as error:
        Console(stderr=True).print(Text.assemble(("error:", "bold red"), f" {error}"), highlight=False)
        raise typer.Exit(1) from None
    zones = {region_id: region.timezone for region_id, region in regions.items()}
    fitted = fold(samples.by_region, zones, kind=kind, peak_share=peak_share, span=samples.span)
    for line in fit.report(fitted, samples, list(regions)):
        typer.echo(line)
    if output is not None:
        try:
            fit.write_scenario(document, fitted, output)
        except OSError as error:
            raise _invalid(f"{output}: cannot write it: {error.strerror}") from None
        typer.echo(f"wrote {output}: {len(fitted)} of {len(regions)} regions with weekly profiles from the data")
    if plot is not None:
        before = {region_id: region.profile.values for region_id, region in regions.items()}
        try:
            fit.draw(fitted, before, plot)
        except OSError as error:
            raise _invalid(f"{plot}: cannot write the picture: {error.strerror or error}") from None
        typer.echo(f"wrote {plot}")


def _invalid(message: str) -> typer.Exit:
    """Print ``error: message`` on standard error; the exit to raise for invalid input."""
    Console(stderr=True).print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_INVALID)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    database: Annotated[
        str | None, typer.Option(help="Database URL; default NEGOTIATOR_DATABASE_URL, else sqlite:///negotiator.db.")
    ] = None,
) -> None:
    """Run the HTTP service (SQLite by default; PostgreSQL for several servers).

    Links in webhook messages and calendar feeds point to NEGOTIATOR_PUBLIC_URL, by default the
    address served here.
    """
    import uvicorn
    from pydantic import ValidationError

    from api.app import create_app
    from api.settings import Settings

    try:
        settings = Settings() if database is None else Settings(database_url=database)
    except ValidationError as error:
        problem = error.errors()[0]
        name = f"NEGOTIATOR_{str(problem['loc'][0]).upper()}" if problem["loc"] else "a NEGOTIATOR_ setting"
        raise _invalid(f"{name}: {problem['msg'].removeprefix('Value error, ')}") from None
    if "public_url" not in settings.model_fields_set:
        address = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets
        settings = settings.model_copy(update={"public_url": f"http://{address}:{port}"})
        if host in ("0.0.0.0", "::"):
            typer.echo(f"negotiator: links point to {settings.public_url}: set NEGOTIATOR_PUBLIC_URL", err=True)
    uvicorn.run(create_app(settings), host=host, port=port)


def _existing_database(database: str) -> str:
    """The URL of a database that is there: a URL as given, or a path taken as a SQLite file."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = database if "://" in database else f"sqlite:///{database}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise _invalid(f"--database {database}: not a database URL or a file path") from None
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if sqlite_file and not Path(str(parsed.database)).is_file():
        raise _invalid(
            f"--database {database}: there is no SQLite file {parsed.database}; run this in the server's "
            "directory or pass --database PATH (or a postgresql+psycopg:// URL)"
        )
    return url


audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    database: Annotated[
        str | None,
        typer.Option(
            help="Database URL or SQLite file; default NEGOTIATOR_DATABASE_URL, else sqlite:///negotiator.db."
        ),
    ] = None,
    plan: Annotated[str | None, typer.Option(help="Only this plan's log.")] = None,
) -> None:
    """Check the audit log with the server's audit key: every keyed link, each plan's head (entries
    deleted from the end, a log deleted whole) and the changes table both ways. Exit 1 and name
    each break."""
    from sqlalchemy.exc import SQLAlchemyError

    from api.db import make_engine, make_sessions
    from api.services.audit import load_key, verify
    from api.settings import Settings

    settings = Settings()
    url = _existing_database(database or settings.database_url)
    try:
        key = load_key(settings.model_copy(update={"database_url": url}), create=False)
    except LookupError as error:
        raise _invalid(str(error)) from None
    try:
        engine = make_engine(url)
    except SQLAlchemyError as error:
        raise _invalid(f"--database {url}: {error}") from None
    try:
        with make_sessions(engine, audit_key=key)() as session:
            problems = verify(session, plan_id=plan)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise _invalid(f"--database {url}: not a negotiator database the audit can read ({reason})") from None
    finally:
        engine.dispose()
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("audit log intact")


# The HTTP client (negotiator/client.py): plans, object, approve, versions, ... against --server.
app.add_typer(client.app)
audit_app.command("show")(client.audit_show)
app.add_typer(subscriptions.webhooks_app, name="webhooks")
app.add_typer(subscriptions.feeds_app, name="feeds")


def main() -> None:
    """Entry point of the ``negotiator`` console script."""
    app()
