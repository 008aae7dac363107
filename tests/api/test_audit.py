"""The audit log: keyed hashes nobody without the server's key can forge, heads that find
truncation, a check of the changes table both ways, and URLs shown only to whom they belong."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.models import AuditHeadRow, AuditRow, ChangeRow
from api.services.audit import GENESIS, canonical, entry_hash, fields_of, head_mac, key_file, load_key, verify
from api.settings import Settings
from negotiator.cli import app as cli
from tests.api.test_app import audit_log, plan_scenario, post_change, soft_objection
from tests.conftest import TEST_AUDIT_KEY

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio
KEY = TEST_AUDIT_KEY.encode()
Tamper = Callable[[Session, str], None]


def entries(session: Session, plan: str) -> list[AuditRow]:
    return list(session.scalars(select(AuditRow).where(AuditRow.plan_id == plan).order_by(AuditRow.seq)))


def rechain(session: Session, plan: str, key: bytes, *, head: bool = True) -> None:
    """Re-hash the whole chain (and the head) with ``key``, as a forger who guesses a key would."""
    previous = GENESIS
    rows = entries(session, plan)
    for entry in rows:
        entry.previous_hash, entry.hash = previous, entry_hash(key, previous, **fields_of(entry))
        previous = entry.hash
    stored = session.get(AuditHeadRow, plan)
    if head and stored is not None:
        stored.count, stored.hash = len(rows), previous
        stored.mac = head_mac(key, stored)


def rewrite_content(session: Session, plan: str) -> None:
    session.execute(
        update(AuditRow).where(AuditRow.plan_id == plan, AuditRow.seq == 1).values(detail={"stakeholder": "mallory"})
    )


def rewrite_and_rechain_unkeyed(session: Session, plan: str) -> None:
    """Rewrite an entry and re-hash the chain and head with SHA-256, as the log was once hashed."""
    session.execute(
        update(AuditRow).where(AuditRow.plan_id == plan, AuditRow.seq == 1).values(detail={"stakeholder": "mallory"})
    )
    unkeyed(session, plan)


def unkeyed(session: Session, plan: str) -> str:
    """Re-hash the chain with SHA-256, as the log was hashed before the audit key; the last hash."""
    previous = GENESIS
    for entry in entries(session, plan):
        text = f"{previous}{canonical(**fields_of(entry))}"
        entry.previous_hash, entry.hash = previous, hashlib.sha256(text.encode()).hexdigest()
        previous = entry.hash
    return previous


def rewrite_and_rechain_with_a_guessed_key(session: Session, plan: str) -> None:
    session.execute(
        update(AuditRow).where(AuditRow.plan_id == plan, AuditRow.seq == 1).values(detail={"stakeholder": "mallory"})
    )
    rechain(session, plan, b"guessed")


def remove_entry(session: Session, plan: str) -> None:
    session.execute(delete(AuditRow).where(AuditRow.plan_id == plan, AuditRow.seq == 1))


def truncate(session: Session, plan: str) -> None:
    last = entries(session, plan)[-1].seq
    session.execute(delete(AuditRow).where(AuditRow.plan_id == plan, AuditRow.seq > last - 5))


def delete_log(session: Session, plan: str) -> None:
    session.execute(delete(AuditRow).where(AuditRow.plan_id == plan))


def delete_log_and_head(session: Session, plan: str) -> None:
    session.execute(delete(AuditRow).where(AuditRow.plan_id == plan))
    session.execute(delete(AuditHeadRow).where(AuditHeadRow.plan_id == plan))


def delete_change(session: Session, plan: str) -> None:
    session.execute(delete(ChangeRow).where(ChangeRow.plan_id == plan, ChangeRow.alone.is_(False)))


def rewrite_change(session: Session, plan: str) -> None:
    change = session.scalars(select(ChangeRow).where(ChangeRow.plan_id == plan, ChangeRow.alone.is_(False))).one()
    change.step = {**change.step, "reason": "never said"}


def add_change(session: Session, plan: str) -> None:
    change = session.scalars(select(ChangeRow).where(ChangeRow.plan_id == plan, ChangeRow.alone.is_(False))).one()
    session.add(ChangeRow(plan_id=plan, seq=change.seq + 1, by="boss", action="object", step=change.step))


def rewrite_opening_step(session: Session, plan: str) -> None:
    change = session.scalars(select(ChangeRow).where(ChangeRow.plan_id == plan, ChangeRow.alone.is_(True))).first()
    assert change is not None
    change.step = {**change.step, "by": "mallory"}


TAMPERING: dict[str, tuple[Tamper, str]] = {
    "content": (rewrite_content, "entry 1: its content was changed"),
    "unkeyed-rechain": (rewrite_and_rechain_unkeyed, "entry 0: its content was changed"),
    "guessed-key-rechain": (rewrite_and_rechain_with_a_guessed_key, "entry 0: its content was changed"),
    "removed": (remove_entry, "entry 2: expected entry 1 here"),
    "truncated": (truncate, "entries were deleted from its end"),
    "log-deleted": (delete_log, "the log has 0 entries but its head says"),
    "log-and-head-deleted": (delete_log_and_head, "its audit head is missing"),
    "change-deleted": (delete_change, "is not stored"),
    "change-rewritten": (rewrite_change, "differs from its audit entry"),
    "change-added": (add_change, "stored without an audit entry"),
    "opening-step-rewritten": (rewrite_opening_step, "not a step of the scenario"),
}


@pytest.mark.parametrize(("tamper", "named"), TAMPERING.values(), ids=TAMPERING.keys())
async def test_verify_names_each_kind_of_tampering(service: Service, tamper: Tamper, named: str) -> None:
    plan = await service.create_plan(plan_scenario())
    untouched = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    watcher = await service.token(plan, "watcher")
    await service.settled(
        plan, await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss), boss
    )
    before = await audit_log(service, plan, watcher)
    runner = CliRunner()
    intact = runner.invoke(cli, ["audit", "verify", "--database", service.database_url])

    engine = create_engine(service.database_url)
    try:
        with Session(engine) as session, session.begin():
            tamper(session, plan)
        with Session(engine, info={"audit_key": KEY}) as session:
            found = verify(session, plan_id=plan)
    finally:
        engine.dispose()
    after = await audit_log(service, plan, watcher)
    detected = runner.invoke(cli, ["audit", "verify", "--database", service.database_url])
    elsewhere = runner.invoke(cli, ["audit", "verify", "--database", service.database_url, "--plan", untouched])

    assert before["intact"] is True
    assert [entry["seq"] for entry in before["entries"]] == list(range(len(before["entries"])))
    assert intact.exit_code == 0, intact.output
    assert any(named in problem for problem in found), found
    assert all(problem.startswith(f"plan {plan}") for problem in found)
    assert after["intact"] is False
    assert detected.exit_code == 1
    assert named in detected.output
    assert elsewhere.exit_code == 0, elsewhere.output


async def test_a_log_written_before_the_audit_key_is_keyed_at_start_if_intact(start: Start) -> None:
    async with start() as service:
        plan = await service.create_plan(plan_scenario())
        forged = await service.create_plan(plan_scenario())
        watcher = await service.token(plan, "watcher")
    engine = create_engine(service.database_url)
    with Session(engine) as session, session.begin():
        for name in (plan, forged):  # as the log was before: unkeyed SHA-256, a head without its mark
            head = session.get(AuditHeadRow, name)
            assert head is not None
            head.hash, head.mac = unkeyed(session, name), None
        session.execute(update(AuditRow).where(AuditRow.plan_id == forged, AuditRow.seq == 0).values(actor="mallory"))
    engine.dispose()

    async with start() as service:  # the restart keys the intact log, and leaves the forged one
        assert (await audit_log(service, plan, watcher))["intact"] is True
        detected = CliRunner().invoke(cli, ["audit", "verify", "--database", service.database_url])
    assert detected.exit_code == 1
    assert f"plan {forged}: its log predates the audit key" in detected.output
    assert f"plan {plan}" not in detected.output


def test_without_a_key_setting_the_server_makes_a_key_file_next_to_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEGOTIATOR_AUDIT_KEY")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'n.db'}")
    assert key_file(settings.database_url) == tmp_path / "n.db.audit-key"
    with pytest.raises(LookupError, match="NEGOTIATOR_AUDIT_KEY"):
        load_key(settings, create=False)

    made = load_key(settings, create=True)

    assert len(made) >= 32
    assert (tmp_path / "n.db.audit-key").stat().st_mode & 0o777 == 0o600
    assert load_key(settings, create=True) == made  # kept, not made again
    assert load_key(settings.model_copy(update={"audit_key": "set"}), create=False) == b"set"


def test_verify_without_the_key_says_where_the_key_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEGOTIATOR_AUDIT_KEY")
    database = tmp_path / "n.db"
    create_engine(f"sqlite:///{database}").dispose()
    database.touch()

    result = CliRunner().invoke(cli, ["audit", "verify", "--database", str(database)])

    assert result.exit_code == 2
    assert "NEGOTIATOR_AUDIT_KEY" in result.output
    assert "n.db.audit-key" in result.output


async def test_a_webhook_url_is_shown_only_to_its_owner_and_the_admin(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    rep = await service.token(plan, "rep-eu")
    watcher = await service.token(plan, "watcher")
    url = "https://hooks.example.org/in?token=s3cret"
    created = await service.client.post(f"/v1/plans/{plan}/webhooks", json={"url": url}, headers=rep)
    assert created.status_code == 201, created.text

    def logged(log: dict[str, Any]) -> Any:
        return next(e["detail"]["url"] for e in log["entries"] if e["action"] == "create_webhook")

    assert logged(await audit_log(service, plan, rep)) == "https://hooks.example.org/in"
    assert logged(await audit_log(service, plan, service.admin)) == "https://hooks.example.org/in"
    assert logged(await audit_log(service, plan, watcher)) is None
    assert "s3cret" not in (await service.client.get(f"/v1/plans/{plan}/audit", headers=rep)).text


async def test_an_alertmanager_url_is_shown_without_its_credentials(service: Service) -> None:
    response = await service.client.post(
        "/v1/plans",
        params={"alertmanager": "https://ops:hunter2@am.example.org:9093"},
        json=plan_scenario(),
        headers=service.admin,
    )
    assert response.status_code == 201, response.text
    plan = response.json()["id"]
    watcher = await service.token(plan, "watcher")

    log = await service.client.get(f"/v1/plans/{plan}/audit", headers=watcher)

    assert "hunter2" not in log.text
    assert log.json()["entries"][0]["detail"]["alertmanager"] == "https://am.example.org:9093"
