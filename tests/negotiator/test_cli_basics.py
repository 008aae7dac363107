"""What every command-line user meets first: ``--version``, ``-h``, and ``audit verify`` pointed at the wrong place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from negotiator.cli import app

RUNNER = CliRunner()


def test_version_prints_the_installed_version() -> None:
    result = RUNNER.invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.output.strip().startswith("negotiator 0.")


@pytest.mark.parametrize("command", [[], ["run"], ["audit", "verify"]], ids=["top", "run", "audit-verify"])
def test_dash_h_is_help(command: list[str]) -> None:
    result = RUNNER.invoke(app, [*command, "-h"], prog_name="negotiator")

    assert result.exit_code == 0
    assert "Usage: negotiator" in result.output


def test_audit_verify_outside_the_server_directory_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEGOTIATOR_DATABASE_URL", raising=False)

    result = RUNNER.invoke(app, ["audit", "verify"])

    assert result.exit_code == 2
    assert "there is no SQLite file negotiator.db" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "negotiator.db").exists()


def test_audit_verify_takes_a_file_path_as_well_as_a_url(tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    sqlite3.connect(database).close()  # a SQLite file, but not the server's

    result = RUNNER.invoke(app, ["audit", "verify", "--database", str(database)])

    assert result.exit_code == 2
    assert "not a negotiator database the audit can read (no such table" in result.output
    assert "Could not parse" not in result.output and "Traceback" not in result.output


def test_audit_verify_names_a_database_url_it_cannot_use() -> None:
    result = RUNNER.invoke(app, ["audit", "verify", "--database", "nosuchdb://somewhere"])

    assert result.exit_code == 2
    assert result.output.startswith("error: --database nosuchdb://somewhere:")


def _served(monkeypatch: pytest.MonkeyPatch, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``negotiator serve ARGS`` with uvicorn stubbed out: the exit code, stderr, and the links' base."""
    import uvicorn

    served: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app.state.runtime.links.base))
    monkeypatch.setenv("NEGOTIATOR_ADMIN_TOKEN", "x")
    result = RUNNER.invoke(app, ["serve", *args], env=env)
    return result.exit_code, result.stderr, served[0] if served else ""


def test_serve_links_to_the_address_it_serves_unless_told_the_public_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _served(monkeypatch, "--port", "8123")[::2] == (0, "http://127.0.0.1:8123")
    assert _served(monkeypatch, "--host", "::1", "--port", "9000")[::2] == (0, "http://[::1]:9000")
    public = {"NEGOTIATOR_PUBLIC_URL": "https://ops.example.com/negotiator/"}
    assert _served(monkeypatch, "--port", "8123", env=public)[::2] == (0, "https://ops.example.com/negotiator")
    code, stderr, _ = _served(monkeypatch, "--host", "0.0.0.0")
    assert code == 0 and "set NEGOTIATOR_PUBLIC_URL" in stderr


def test_serve_refuses_a_public_url_that_is_not_one(monkeypatch: pytest.MonkeyPatch) -> None:
    code, stderr, base = _served(monkeypatch, env={"NEGOTIATOR_PUBLIC_URL": "ops.example.com"})

    assert (code, base) == (2, "")
    assert stderr.startswith("error: NEGOTIATOR_PUBLIC_URL: must be an absolute http(s) URL")
