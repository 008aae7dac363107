"""The HTTP service (README, HTTP service) from the command line: plans, objections, approvals, versions.

Every command takes ``--server`` (``NEGOTIATOR_SERVER``, default http://127.0.0.1:8000) and
``--token`` (``NEGOTIATOR_TOKEN``): the admin's token for ``plans``, a stakeholder's for the rest.

Exit codes: 0 done; 1 the server said no (its problem+json printed as ``error: STATUS TITLE: DETAIL``),
could not be reached, or a change waited for was refused; 2 invalid input, found before anything
was sent (the same message as ``negotiator run``). ``gate`` answers the question in its exit code
instead: 0 open, 1 closed (or the server could not be asked), 2 a question the server refused.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import quote

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from negotiator.table import local_window, user_minutes
from scheduler.errors import ScenarioError
from scheduler.scenario import describe_errors, load_file, read_document
from scheduler.schema import EventIn, RequestIn
from scheduler.timeline import parse_instant

if TYPE_CHECKING:
    import httpx

EXIT_FAILED = 1
EXIT_INVALID = 2  # as ``run``: nothing was sent
TIMEOUT_S = 30.0  # per HTTP request

app = typer.Typer(no_args_is_help=True)
plans_app = typer.Typer(help="Create plans and mint stakeholder tokens (admin).", no_args_is_help=True)
app.add_typer(plans_app, name="plans")

Server = Annotated[
    str, typer.Option("--server", envvar="NEGOTIATOR_SERVER", help="Base URL of the negotiator service.")
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="NEGOTIATOR_TOKEN",
        help="Bearer token: the admin's for plans, a stakeholder's otherwise.",
        show_default=False,
    ),
]
IdempotencyKey = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Re-run with the same key to retry safely: the server stores the change once. Default: a fresh key.",
        show_default=False,
    ),
]
Wait = Annotated[bool, typer.Option("--wait", help="Wait until the change is solved and print what became of it.")]
WaitTimeout = Annotated[float, typer.Option("--wait-timeout", min=0.0, help="Seconds --wait waits before giving up.")]
DEFAULT_SERVER = "http://127.0.0.1:8000"


class ShowFormat(StrEnum):
    table = "table"
    json = "json"


Format = Annotated[ShowFormat, typer.Option("--format", "-f", help="table or json (the server's body as is).")]


class PlanClock(StrEnum):
    live = "live"
    scenario = "scenario"


class ObjectionKind(StrEnum):
    veto = "veto"
    soft = "soft"


# -- talking to the server ------------------------------------------------------------------------


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    Console(stderr=True).print(Text.assemble(("error:", "bold red"), f" {message}"), highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def problem_message(response: httpx.Response) -> str:
    """``STATUS TITLE: DETAIL`` from a problem+json answer, or the status line of any other error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and "title" in body:
        message = f"{response.status_code} {body['title']}"
        detail = body.get("detail")
        if detail and detail != body["title"]:
            message += f": {detail}"
    else:
        message = f"{response.status_code} {response.reason_phrase}"
    retry_after = response.headers.get("Retry-After")
    if response.status_code == 429 and retry_after:
        message += f" (retry after {retry_after} s)"
    return message


class Service:
    """One server and one token; every failure ends the command with ``error: ...`` and exit 1."""

    def __init__(self, server: str, token: str | None, *, refused: int = EXIT_FAILED) -> None:
        """``refused``: the exit code when the server refuses a request (4xx but 429)."""
        import httpx  # here, not at the top: ``negotiator run`` should not pay for it

        self.refused = refused

        if not token:
            fail("no token: pass --token TOKEN or set NEGOTIATOR_TOKEN", refused)
        self.server = server.rstrip("/")
        try:
            self._http = httpx.Client(
                base_url=self.server, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT_S
            )
        except httpx.InvalidURL as error:
            fail(f"cannot reach {server}: {error}")

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def call(
        self, method: str, path: str, *, body: Any = None, key: str | None = None, missing_ok: bool = False
    ) -> Any:
        """Send one request and return its JSON answer (None for 204, and for a 404 when ``missing_ok``)."""
        import httpx

        headers = {"Idempotency-Key": key} if key is not None else {}
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except httpx.ConnectError as error:
            fail(f"cannot reach {self.server}: {error}")
        except (httpx.TransportError, httpx.InvalidURL) as error:
            retry = f"; to retry safely, run it again with --idempotency-key {key}" if key is not None else ""
            fail(f"cannot reach {self.server}: {str(error) or type(error).__name__}{retry}")
        if missing_ok and response.status_code == 404:
            return None
        if not response.is_success:
            refused = 400 <= response.status_code < 500 and response.status_code != 429
            fail(problem_message(response), self.refused if refused else EXIT_FAILED)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            fail(f"{self.server} answered {response.status_code} with something that is not JSON")


def plan_path(plan: str, *parts: str | int) -> str:
    """``/v1/plans/{plan}/...`` with every part quoted."""
    return "/".join(["/v1/plans", *(quote(str(part), safe="") for part in (plan, *parts))])


# -- reading files --------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Parsed YAML as JSON: the datetimes PyYAML makes of unquoted timestamps become ISO 8601 text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def scenario_body(path: Path) -> dict[str, Any]:
    """A scenario file checked as ``run`` checks it, as the JSON body of ``POST /v1/plans``.

    The server cannot read csv profiles or calendar files (they are files on this machine): profiles are
    sent as their values, calendars (``ics: FILE``) as their text (``ics_text``).
    """
    try:
        loaded = load_file(path)
        data = read_document(path)
    except ScenarioError as error:
        fail(str(error), EXIT_INVALID)
    body: dict[str, Any] = jsonable(data)
    for region, built in zip(body["regions"], loaded.problem.regions, strict=True):
        profile = region.get("profile")
        if isinstance(profile, Mapping) and "csv" in profile:
            region["profile"] = {"weekly" if built.profile.weekly else "hourly": list(built.profile.values)}
    events = [(f"events[{i}]", event) for i, event in enumerate(body.get("events") or [])]
    events += [
        (f"negotiation[{i}].event", step["event"])
        for i, step in enumerate(body.get("negotiation") or [])
        if isinstance(step, Mapping) and isinstance(step.get("event"), Mapping)
    ]
    for where, event in events:
        _inline_calendar(event, path.parent, f"{path}: {where}")
    return body


def _inline_calendar(event: dict[str, Any], base_dir: Path, where: str) -> None:
    """An event's ``ics: FILE`` replaced by the file's text as ``ics_text``, which the server reads."""
    name = event.get("ics")
    if not isinstance(name, str):
        return
    try:
        event["ics_text"] = (base_dir / name).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{where}.ics: cannot read {name!r}: {getattr(error, 'strerror', None) or error}", EXIT_INVALID)
    del event["ics"]


def checked_body(path: Path, model: type[BaseModel], what: str) -> dict[str, Any]:
    """A file holding one ``what`` (a request, an event), checked field by field before it is sent."""
    try:
        data = read_document(path)
        if not isinstance(data, Mapping):
            raise ScenarioError("", f"the file must hold one {what}, as a mapping", source=str(path))
        try:
            model.model_validate(data)
        except ValidationError as error:
            raise describe_errors(error.errors(include_url=False), schema=model).located(str(path)) from None
    except ScenarioError as error:
        fail(str(error), EXIT_INVALID)
    body: dict[str, Any] = jsonable(data)
    if what == "event":
        _inline_calendar(body, path.parent, str(path))
    return body


def avoid_range(text: str) -> dict[str, str]:
    """``START/END`` as a range; zone names hold slashes too, so the split is where both halves are times."""
    splits = [i for i, char in enumerate(text) if char == "/"]
    problems: list[str] = []
    for i in splits:
        start, end = text[:i].strip(), text[i + 1 :].strip()
        try:
            parse_instant(start)
            parse_instant(end)
        except ValueError as error:
            problems.append(str(error))
            continue
        except OSError:  # a split inside a zone name: ZoneInfo("Europe") opens a directory
            continue
        return {"start": start, "end": end}
    why = f": {problems[0]}" if len(problems) == 1 else ""
    raise typer.BadParameter(
        f"{text!r} is not START/END (e.g. 2026-03-02T10:00Z/2026-03-02T12:00Z, "
        f"or '2026-03-02 11:00 Europe/Paris/2026-03-02 13:00 Europe/Paris'){why}"
    )


def instant_text(text: str | None) -> str | None:
    """Check a time option as scenario files are checked; the server gets it as written."""
    if text is not None:
        try:
            parse_instant(text)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    return text


def version_number(text: str | None) -> str | None:
    """``latest`` or a version number from 1."""
    if text is None or text == "latest" or (text.isdigit() and int(text) >= 1):
        return text
    raise typer.BadParameter(f"{text!r} is not a version: give a number from 1, or latest")


# -- what became of a change ----------------------------------------------------------------------


def outcome(change: Mapping[str, Any]) -> str:
    """``accepted into version 3``, ``refused: outside scope ...`` or ``pending``."""
    if change["status"] == "refused":
        return f"refused: {change.get('reason') or 'no reason given'}"
    if change["status"] == "accepted":
        if change.get("version") is None:
            return f"accepted: {change['reason']}" if change.get("reason") else "accepted"
        if change.get("action") == "approve":
            return f"accepted: version {change['version']} approved"
        return f"accepted into version {change['version']}"
    return str(change["status"])


def wait_for(service: Service, plan: str, change_id: int, timeout_s: float) -> Mapping[str, Any]:
    """Poll a change until the solver has taken it in."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        left = deadline - time.monotonic()
        # The server may answer 202 a moment before the change is visible to reads: a 404 means "not yet".
        change: Mapping[str, Any] | None = service.call(
            "GET", plan_path(plan, "changes", change_id), missing_ok=left > 0
        )
        if change is not None and change["status"] != "pending":
            return change
        if left <= 0:
            fail(
                f"change {change_id} is still pending after {timeout_s:g} s: see negotiator changes {plan} {change_id}"
            )
        time.sleep(min(delay, left))
        delay = min(delay * 2, 1.0)


def send_change(
    plan: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    key: str | None,
    wait: bool,
    wait_timeout: float,
    server: str,
    token: str | None,
) -> None:
    """Send a change, print its id, and with ``wait`` what became of it (exit 1 if refused)."""
    with Service(server, token) as service:
        accepted = service.call(method, path, body=body, key=key or str(uuid.uuid4()))
        change_id = int(accepted["change"])
        typer.echo(change_id)
        if wait:
            change = wait_for(service, plan, change_id, wait_timeout)
            typer.echo(f"change {change_id} {outcome(change)}")
            if change["status"] == "refused":
                raise typer.Exit(EXIT_FAILED)


def print_json(body: Any) -> None:
    sys.stdout.write(json.dumps(body, indent=2) + "\n")


# -- commands -------------------------------------------------------------------------------------


@plans_app.command("create")
def create_plan(
    file: Annotated[Path, typer.Argument(help="A scenario file, YAML or JSON.")],
    clock: Annotated[
        PlanClock,
        typer.Option(
            help="live: the server's time (the file's now and at are ignored); "
            "scenario: a rehearsal on the file's clock, moved by approvers' at."
        ),
    ] = PlanClock.live,
    alertmanager: Annotated[
        str | None,
        typer.Option(
            help="The Alertmanager whose silences cover the announced windows of requests with silence "
            "matchers (default: the server's NEGOTIATOR_ALERTMANAGER_URL).",
            show_default=False,
        ),
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Create a plan from a scenario file (checked here first, as run checks it); print the plan's id."""
    body = scenario_body(file)
    query = f"clock={clock.value}" + (f"&alertmanager={quote(alertmanager, safe='')}" if alertmanager else "")
    with Service(server, token) as service:
        created = service.call("POST", f"/v1/plans?{query}", body=body)
    typer.echo(created["id"])


@plans_app.command("token")
def create_token(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    stakeholder: Annotated[str, typer.Argument(help="A stakeholder id of the plan's scenario.")],
    gate: Annotated[
        bool, typer.Option("--gate", help="A token that only reads deploy gates in the stakeholder's scope.")
    ] = False,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Mint a token for a stakeholder and print it: it is shown this once, the server keeps only a hash."""
    path = plan_path(plan, "stakeholders", stakeholder, "tokens") + ("?use=gate" if gate else "")
    with Service(server, token) as service:
        created = service.call("POST", path)
    typer.echo(created["token"])


@app.command("gate")
def read_gate(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    request: Annotated[str, typer.Argument(help="The request (or one occurrence, ID#3) whose work would run.")],
    format: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """May the request's work run now? Exit 0 while an announced window of it is open, 1 otherwise.

    For a pipeline: negotiator gate PLAN REQUEST && ./migrate.sh. Exit 2 when the server refuses
    the question (no such plan or request, a bad token); 1 when it cannot be asked (unreachable).
    """
    with Service(server, token, refused=EXIT_INVALID) as service:
        body = service.call("GET", plan_path(plan, "gate") + f"?request={quote(request, safe='')}")
    if format is ShowFormat.json:
        print_json(body)
    else:
        typer.echo(gate_line(body))
    raise typer.Exit(0 if body["open"] else EXIT_FAILED)


def gate_line(body: Mapping[str, Any]) -> str:
    """``open``/``closed``, the window it is about, and when that changes, in words."""
    window = body["window"]
    span = f"{window['start']} to {window['end']}" if window else None
    change = body["next_transition"]
    if body["open"]:
        return f"open: {body['request']} is in its announced window {span}; closes at {change}"
    if window is None:
        return f"closed: {body['request']} has no window ahead"
    state = "announced" if body["announced"] else "not announced (no approved version has it there)"
    opens = f"opens at {change}" if change else "no announced window ahead"
    return f"closed: {body['request']}'s window {span} is {state}; {opens}"


@app.command("object")
def object_to(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    request: Annotated[str, typer.Argument(help="The request objected to.")],
    kind: Annotated[ObjectionKind, typer.Option("--kind", help="veto (hard) or soft (weighted).")],
    avoid: Annotated[
        list[str] | None,
        typer.Option(
            "--avoid",
            metavar="START/END",
            help="A range to keep the request out of; repeat for several. Default: its current window.",
            show_default=False,
        ),
    ] = None,
    weight: Annotated[
        float | None, typer.Option(help="Soft only: how many times worse a window there is (default 10).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for the others to read.")] = None,
    at: Annotated[
        str | None, typer.Option(help="When it happens (moves the plan's now forward).", callback=instant_text)
    ] = None,
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Object to a request: a veto or a soft objection. Prints the change's id."""
    if weight is not None and kind is ObjectionKind.veto:
        raise typer.BadParameter("a veto has no weight: use --kind soft", param_hint="--weight")
    body = {
        "request": request,
        "kind": kind.value,
        "avoid": [avoid_range(text) for text in avoid] if avoid else None,
        "weight": weight,
        "reason": reason,
        "at": at,
    }
    body = {key: value for key, value in body.items() if value is not None}
    send_change(
        plan,
        "POST",
        plan_path(plan, "objections"),
        body=body,
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command()
def approve(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    version: Annotated[int, typer.Argument(min=1, help="The version approved: it must be the latest.")],
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Approve a version (approvers): its windows become announced. Refused unless it is the latest."""
    send_change(
        plan,
        "POST",
        plan_path(plan, "versions", version, "approve"),
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command()
def submit(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    file: Annotated[Path, typer.Argument(help="One request, YAML or JSON, as under requests: in a scenario.")],
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Submit a maintenance request (requesters, approvers). Prints the change's id."""
    body = checked_body(file, RequestIn, "request")
    send_change(
        plan,
        "POST",
        plan_path(plan, "requests"),
        body=body,
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command()
def withdraw(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    request: Annotated[str, typer.Argument(help="The request withdrawn.")],
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Withdraw a request (its requester, approvers). Prints the change's id."""
    send_change(
        plan,
        "DELETE",
        plan_path(plan, "requests", request),
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command()
def events(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    file: Annotated[Path, typer.Argument(help="One event, YAML or JSON, as under events: in a scenario.")],
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Declare a critical event (representatives inside their scope, approvers). Prints the change's id."""
    body = checked_body(file, EventIn, "event")
    send_change(
        plan,
        "POST",
        plan_path(plan, "events"),
        body=body,
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command("remove-event")
def remove_event(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    event: Annotated[str, typer.Argument(help="The event's id, as declared.")],
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Remove a declared event (approvers). A blackout goes only when a second, different approver
    removes it too: the first approver's removal waits. Prints the change's id."""
    send_change(
        plan,
        "DELETE",
        plan_path(plan, "events", event),
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command()
def counter(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    request: Annotated[str, typer.Argument(help="The request.")],
    start: Annotated[str, typer.Argument(help="The start proposed.", callback=instant_text)],
    output: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """What another start would do (representatives in scope, approvers): its impact against the
    current window's, and whether it is allowed. Changes nothing. Exit 1 when it is not allowed."""
    with Service(server, token) as service:
        answer = service.call("POST", plan_path(plan, "counters"), body={"request": request, "start": start})
    if output is ShowFormat.json:
        print_json(answer)
    else:
        current = answer["current_impact"]
        typer.echo(f"{answer['request']} at {answer['start']}: {user_minutes(answer['impact'])} user-minutes")
        typer.echo("  now: no window" if current is None else f"  now: {user_minutes(current)} user-minutes")
        for region, impact in answer["impact_by_region"].items():
            typer.echo(f"  {region}: {user_minutes(impact)}")
        typer.echo("  allowed" if answer["allowed"] else f"  not allowed: {', '.join(answer['blocked_by'])}")
    if not answer["allowed"]:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def pin(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    request: Annotated[str, typer.Argument(help="The request pinned.")],
    start: Annotated[str, typer.Argument(help="Where it stays: a start its rules allow.", callback=instant_text)],
    reason: Annotated[str | None, typer.Option(help="Why, for the others to read.")] = None,
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Fix a request at a start (approvers). Prints the change's id."""
    body = {key: value for key, value in {"request": request, "start": start, "reason": reason}.items() if value}
    send_change(
        plan,
        "POST",
        plan_path(plan, "pins"),
        body=body,
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command()
def override(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    veto: Annotated[str, typer.Argument(help="The veto's rule id, e.g. veto:3.")],
    reason: Annotated[str | None, typer.Option(help="Why, for the others to read.")] = None,
    wait: Wait = False,
    wait_timeout: WaitTimeout = 60.0,
    idempotency_key: IdempotencyKey = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Lift a veto (approvers): the first approver's override waits for a second, different one."""
    body = {key: value for key, value in {"veto": veto, "reason": reason}.items() if value}
    send_change(
        plan,
        "POST",
        plan_path(plan, "overrides"),
        body=body,
        key=idempotency_key,
        wait=wait,
        wait_timeout=wait_timeout,
        server=server,
        token=token,
    )


@app.command()
def changes(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    change: Annotated[int, typer.Argument(help="The change's id, as printed when it was sent.")],
    format: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """What became of a change: pending, accepted into a version, or refused with the reason."""
    with Service(server, token) as service:
        body = service.call("GET", plan_path(plan, "changes", change))
    if format is ShowFormat.json:
        print_json(body)
        return
    typer.echo(f"change {body['id']}: {body['action']} by {body['by']}, received {body['received_at']}")
    typer.echo(outcome(body))


@app.command()
def versions(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    number: Annotated[
        str | None,
        typer.Argument(
            metavar="[NUMBER|latest]", help="Show this version; without it, list them all.", callback=version_number
        ),
    ] = None,
    format: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """List a plan's versions, or show one: its windows in UTC with their impact."""
    path = plan_path(plan, "versions") if number is None else plan_path(plan, "versions", number)
    with Service(server, token) as service:
        body = service.call("GET", path)
    if format is ShowFormat.json:
        print_json(body)
    elif number is None:
        Console().print(versions_table(body))
    else:
        show_version(body, Console())


def audit_show(
    plan: Annotated[str, typer.Argument(help="The plan's id.")],
    format: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """A plan's audit log from the server; exit 1 if a hash link does not check out."""
    with Service(server, token) as service:
        body = service.call("GET", plan_path(plan, "audit"))
    if format is ShowFormat.json:
        print_json(body)
    else:
        Console().print(audit_table(body["entries"]))
    if not body["intact"]:
        fail("the audit log is not intact: run negotiator audit verify on the server's database")


# -- tables ---------------------------------------------------------------------------------------


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def versions_table(rows: list[Mapping[str, Any]]) -> Table:
    """One line per version, oldest first."""
    table = Table(title="versions", title_justify="left")
    columns: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
        ("version", lambda row: str(row["version"])),
        ("status", lambda row: str(row["status"])),
        ("impact (user-min)", lambda row: user_minutes(row["objective"])),
        ("approved", lambda row: "yes" if row["approved"] else ""),
        ("moved", lambda row: ", ".join(row["moved"])),
        ("added", lambda row: ", ".join(row.get("added", []))),
        ("removed", lambda row: ", ".join(row.get("removed", []))),
        ("changes", lambda row: ", ".join(str(change) for change in row.get("changes", []))),
    ]
    for title, _ in columns:
        table.add_column(title, justify="right" if title.startswith(("version", "impact")) else "left")
    for row in rows:
        table.add_row(*(cell(row) for _, cell in columns))
    return table


def show_version(body: Mapping[str, Any], console: Console) -> None:
    """One version: status and total, each window in UTC with its impact, what is not scheduled, what moved."""
    headline = (
        f"version {body['version']}: {body['status']}, total impact {user_minutes(body['objective'])} user-minutes"
    )
    if body["status"] == "feasible":
        headline += f" (lower bound {user_minutes(body['bound'])})"
    if body["approved"]:
        headline += ", approved"
    console.print(Text(headline, style="bold"))
    console.print(Text(f"as of {body['now']}"))
    table = Table()
    table.add_column("request")
    table.add_column("window (UTC)")
    table.add_column("impact (user-min)", justify="right")
    table.add_column("by region")
    for window in body["windows"]:
        by_region = ", ".join(f"{region} {user_minutes(value)}" for region, value in window["impact_by_region"].items())
        table.add_row(
            window["request"],
            local_window(_instant(window["start"]), _instant(window["end"]), "UTC"),
            user_minutes(window["impact"]),
            by_region,
        )
    console.print(table)
    for item in body["unscheduled"]:
        console.print(Text(f"not scheduled: {item['request']} — {', '.join(item['reasons'])}", style="red"))
    console.print(Text(f"moved: {', '.join(body['moved']) or 'nothing'}"))
    for what in ("added", "removed"):
        if body.get(what):
            console.print(Text(f"{what}: {', '.join(body[what])}"))
    if body["moved_announced"]:
        console.print(Text(f"announced windows moved: {', '.join(body['moved_announced'])}", style="bold red"))
    if body.get("changes"):
        console.print(Text(f"changes included: {', '.join(str(change) for change in body['changes'])}"))


def audit_table(entries: list[Mapping[str, Any]]) -> Table:
    """One line per audit entry: who did what, when."""
    table = Table(title="audit log", title_justify="left")
    for column in ("seq", "at", "actor", "action", "detail"):
        table.add_column(column, justify="right" if column == "seq" else "left", overflow="fold")
    for entry in entries:
        detail = json.dumps(entry["detail"], separators=(",", ":"), sort_keys=True)
        table.add_row(str(entry["seq"]), str(entry["at"]), str(entry["actor"]), str(entry["action"]), detail)
    return table
