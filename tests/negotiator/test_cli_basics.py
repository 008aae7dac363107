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
