"""A real server for the client command tests (uvicorn in a thread, SQLite in a temporary directory),
plans made through ``negotiator plans create``, and ``negotiator`` run in-process against it."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from api.app import create_app
from api.settings import Settings
from negotiator.cli import app
from tests.factories import make_region, make_request, make_scenario, make_stakeholder, write_scenario
from tests.live import serving

ADMIN_TOKEN = "admin-secret"
WAIT_S = 10.0

runner = CliRunner()


def negotiator(*args: str, server: str | None, token: str | None) -> Result:
    """``negotiator ARGS`` in-process with NEGOTIATOR_SERVER/NEGOTIATOR_TOKEN set (None: unset)."""
    env = {
        "NEGOTIATOR_SERVER": server,
        "NEGOTIATOR_TOKEN": token,
        "COLUMNS": "200",
        "FORCE_COLOR": None,
        "TTY_COMPATIBLE": None,
        "TTY_INTERACTIVE": None,
    }
    return runner.invoke(app, list(args), env=env)


def ok(result: Result) -> str:
    """The command's stdout, after checking it succeeded."""
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running service on a free port; its base URL."""
    database = tmp_path_factory.mktemp("server") / "c.db"
    settings = {
        "database_url": f"sqlite:///{database}",
        "admin_token": ADMIN_TOKEN,
        "poll_s": 0.05,
        "solve_pause_s": 0.0,  # a version as soon as a change is in (the pause has its own test)
        "webhook_private_targets": True,  # the receivers are on 127.0.0.1
    }
    with serving(lambda base: create_app(Settings(**settings, public_url=base))) as base:
        yield base


@pytest.fixture
def dead_server() -> Iterator[str]:
    """The URL of a port that is bound but not listening: connections are refused."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


def client_scenario(**overrides: Any) -> dict[str, Any]:
    """Regions ``eu`` (Paris) and ``us`` (New York), one request ``r1`` in ``eu``, four stakeholders."""
    scenario = make_scenario(
        name="client-test",
        regions=[make_region("eu"), make_region("us", timezone="America/New_York")],
        requests=[make_request("r1", regions=["eu"])],
        stakeholders=[
            make_stakeholder("boss"),
            make_stakeholder("eu-rep", role="representative", regions=["eu"]),
            make_stakeholder("us-rep", role="representative", regions=["us"]),
            make_stakeholder("ops", role="requester"),
        ],
    )
    scenario.update(overrides)
    return scenario


@dataclass(frozen=True)
class Plan:
    server: str
    id: str
    tokens: dict[str, str]

    def run(self, *args: str, by: str) -> Result:
        """``negotiator ARGS`` as stakeholder ``by`` (``admin`` for the admin)."""
        token = ADMIN_TOKEN if by == "admin" else self.tokens[by]
        return negotiator(*args, server=self.server, token=token)

    def version(self, number: int | str = "latest", *, by: str = "eu-rep") -> dict[str, Any]:
        """A version as the json format prints it, once it is there."""
        deadline = time.monotonic() + WAIT_S
        while True:
            result = self.run("versions", self.id, str(number), "--format", "json", by=by)
            if result.exit_code == 0 or time.monotonic() > deadline:
                body: dict[str, Any] = json.loads(ok(result))
                return body
            time.sleep(0.05)


def create_plan(server: str, directory: Path, scenario: dict[str, Any]) -> Plan:
    """A plan made with ``negotiator plans create`` and a token per stakeholder from ``plans token``."""
    path = write_scenario(directory, scenario)
    # A rehearsal: the scenario's March 2026 horizon on its own clock.
    created = negotiator("plans", "create", str(path), "--clock", "scenario", server=server, token=ADMIN_TOKEN)
    plan_id = ok(created).strip()
    tokens = {
        stakeholder["id"]: ok(
            negotiator("plans", "token", plan_id, stakeholder["id"], server=server, token=ADMIN_TOKEN)
        ).strip()
        for stakeholder in scenario.get("stakeholders", [])
    }
    return Plan(server=server, id=plan_id, tokens=tokens)


@pytest.fixture
def plan(server: str, tmp_path: Path) -> Plan:
    return create_plan(server, tmp_path, client_scenario())


def veto_r1(plan: Plan) -> int:
    """eu-rep vetoes r1's current window and waits: the id of the change (it goes into version 2)."""
    lines = ok(plan.run("object", plan.id, "r1", "--kind", "veto", "--reason", "exams", "--wait", by="eu-rep"))
    change, outcome = lines.splitlines()
    assert outcome == f"change {change} accepted into version 2"
    return int(change)
