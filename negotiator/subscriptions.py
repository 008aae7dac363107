"""Being told of a plan from the command line: webhooks (new versions, approvals, reminders) and
secret calendar feed URLs. Each command takes ``--server`` and a stakeholder's ``--token`` like the
other client commands, and follows their exit codes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from negotiator.client import (
    DEFAULT_SERVER,
    EXIT_INVALID,
    Format,
    Server,
    Service,
    ShowFormat,
    Token,
    fail,
    plan_path,
    print_json,
)
from scheduler.timeline import parse_duration

webhooks_app = typer.Typer(
    help="URLs told of new versions, approvals and windows about to start (signed per Standard Webhooks).",
    no_args_is_help=True,
)
feeds_app = typer.Typer(help="Secret calendar URLs a calendar app can subscribe to.", no_args_is_help=True)

PlanId = Annotated[str, typer.Argument(help="The plan's id.")]


class FeedScope(StrEnum):
    mine = "mine"
    plan = "plan"


def lead_times(texts: list[str]) -> list[str]:
    """``--reminder`` values that read as durations, so a typo is caught before anything is sent
    (the server checks their range)."""
    for text in texts:
        try:
            parse_duration(text)
        except ValueError as error:
            fail(f"--reminder: {error}", EXIT_INVALID)
    return texts


def show(
    listed: list[dict[str, Any]], format: ShowFormat, title: str, columns: list[str], row: Callable[[Any], list[str]]
) -> None:
    """The server's list as JSON, or as a table of one row per item."""
    if format is ShowFormat.json:
        print_json(listed)
        return
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column, overflow="fold")
    for item in listed:
        out.add_row(*row(item))
    Console().print(out)


# -- webhooks -------------------------------------------------------------------------------------


@webhooks_app.command("add")
def add_webhook(
    plan: PlanId,
    url: Annotated[str, typer.Argument(help="An http(s) URL that accepts JSON POSTs.")],
    reminder: Annotated[
        list[str] | None,
        typer.Option(
            "--reminder",
            metavar="LEAD",
            help="Remind this long before a window starts (24h, 90m, 1d); repeat for several. "
            "Default: the server's (24h and 1h).",
            show_default=False,
        ),
    ] = None,
    no_reminders: Annotated[bool, typer.Option("--no-reminders", help="Only new versions and approvals.")] = False,
    format: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Register a URL; prints its id and signing secret (shown this once: keep it to verify messages)."""
    if reminder and no_reminders:
        raise typer.BadParameter("--reminder and --no-reminders do not go together", param_hint="--no-reminders")
    body: dict[str, Any] = {"url": url}
    if no_reminders:
        body["reminders"] = []
    elif reminder:
        body["reminders"] = lead_times(reminder)
    with Service(server, token) as service:
        created = service.call("POST", plan_path(plan, "webhooks"), body=body)
    if format is ShowFormat.json:
        print_json(created)
        return
    reminders = ", ".join(created["reminders"]) or "none"
    typer.echo(f"webhook {created['id']}: {created['url']} (reminders: {reminders})")
    typer.echo(f"secret: {created['secret']}")
    typer.echo("The secret is shown this once: it verifies each message's webhook-signature header.")


@webhooks_app.command("list")
def list_webhooks(
    plan: PlanId, format: Format = ShowFormat.table, server: Server = DEFAULT_SERVER, token: Token = None
) -> None:
    """Your webhooks (the admin sees everyone's), without their secrets."""
    with Service(server, token) as service:
        listed = service.call("GET", plan_path(plan, "webhooks"))
    show(
        listed,
        format,
        "webhooks",
        ["id", "stakeholder", "url", "reminders", "created"],
        lambda hook: [
            str(hook["id"]),
            hook["stakeholder"],
            hook["url"],
            ", ".join(hook["reminders"]) or "none",
            hook["created_at"],
        ],
    )


@webhooks_app.command("remove")
def remove_webhook(
    plan: PlanId,
    webhook: Annotated[int, typer.Argument(help="The webhook's id.")],
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Stop calling a URL; messages not yet sent to it are dropped."""
    with Service(server, token) as service:
        service.call("DELETE", plan_path(plan, "webhooks", webhook))
    typer.echo(f"webhook {webhook} removed")


@webhooks_app.command("deliveries")
def deliveries(
    plan: PlanId,
    webhook: Annotated[int, typer.Argument(help="The webhook's id.")],
    format: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """A webhook's delivery log, newest first: each message, its status and its attempts."""
    with Service(server, token) as service:
        listed = service.call("GET", plan_path(plan, "webhooks", webhook, "deliveries"))
    show(
        listed,
        format,
        f"deliveries of webhook {webhook}",
        ["message (webhook-id)", "type", "status", "attempts", "last answer", "delivered / next try"],
        lambda delivery: [
            delivery["message_id"],
            delivery["type"],
            delivery["status"],
            str(len(delivery["attempts"])),
            last_answer(delivery),
            delivery["delivered_at"] or delivery["next_attempt_at"] or "",
        ],
    )


def last_answer(delivery: Mapping[str, Any]) -> str:
    """The receiver's last answer: its status code, or why it could not be reached."""
    if not delivery["attempts"]:
        return ""
    attempt = delivery["attempts"][-1]
    return str(attempt["status_code"]) if attempt["status_code"] is not None else str(attempt["error"])


# -- calendar feeds -------------------------------------------------------------------------------


@feeds_app.command("add")
def add_feed(
    plan: PlanId,
    scope: Annotated[
        FeedScope, typer.Option("--scope", help="mine: the requests in your scope; plan: every request.")
    ] = FeedScope.mine,
    format: Format = ShowFormat.table,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Make a secret calendar URL and print it (shown this once: anyone holding it can read the feed)."""
    with Service(server, token) as service:
        created = service.call("POST", plan_path(plan, "feeds"), body={"scope": scope.value})
    if format is ShowFormat.json:
        print_json(created)
        return
    typer.echo(f"feed {created['id']} ({created['scope']}): {created['url']}")
    typer.echo("The URL is shown this once: keep it, and share it only with who may read this calendar.")


@feeds_app.command("list")
def list_feeds(
    plan: PlanId, format: Format = ShowFormat.table, server: Server = DEFAULT_SERVER, token: Token = None
) -> None:
    """The feeds that still work: yours (the admin sees everyone's). Their URLs were shown once."""
    with Service(server, token) as service:
        listed = service.call("GET", plan_path(plan, "feeds"))
    show(
        listed,
        format,
        "calendar feeds",
        ["id", "stakeholder", "scope", "created"],
        lambda feed: [str(feed["id"]), feed["stakeholder"], feed["scope"], feed["created_at"]],
    )


@feeds_app.command("revoke")
def revoke_feed(
    plan: PlanId,
    feed: Annotated[int, typer.Argument(help="The feed's id.")],
    server: Server = DEFAULT_SERVER,
    token: Token = None,
) -> None:
    """Revoke a feed: its URL stops working at once."""
    with Service(server, token) as service:
        service.call("DELETE", plan_path(plan, "feeds", feed))
    typer.echo(f"feed {feed} revoked")
