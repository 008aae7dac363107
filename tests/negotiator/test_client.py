"""The HTTP client commands (``plans``, ``object``, ``approve``, ``versions``, ...) against a real server.

The module starts one server (conftest.py); each test creates its own plan through
``negotiator plans create`` and mints its stakeholders' tokens.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from negotiator.cli import app
from tests.factories import (
    make_event,
    make_request,
    make_scenario,
    write_scenario,
)
from tests.negotiator.conftest import ADMIN_TOKEN, Plan, client_scenario, create_plan, negotiator, ok, runner, veto_r1

# -- plans ----------------------------------------------------------------------------------------


def test_plans_create_prints_the_plan_id_and_plans_token_one_token_per_call(plan: Plan) -> None:
    assert plan.id.startswith("client-test-")
    assert all(token and "\n" not in token for token in plan.tokens.values())
    assert len(set(plan.tokens.values())) == len(plan.tokens)
    assert plan.version(1)["version"] == 1


def test_plans_create_checks_the_file_before_sending_it_with_the_message_of_run(
    tmp_path: Path, dead_server: str
) -> None:
    path = write_scenario(tmp_path, make_scenario(requests=[make_request(duration="soon")]))

    created = negotiator("plans", "create", str(path), server=dead_server, token=ADMIN_TOKEN)
    run = runner.invoke(app, ["run", str(path)], env={"COLUMNS": "200"})

    assert created.exit_code == run.exit_code == 2
    assert created.stderr == run.stderr
    assert created.stderr.startswith(f"error: {path}: requests[0].duration:")
    assert created.stdout == ""


def test_plans_create_sends_unquoted_yaml_timestamps_and_csv_profiles(server: str, tmp_path: Path) -> None:
    (tmp_path / "half.csv").write_text("hour,activity\n" + "".join(f"{h},0.5\n" for h in range(24)))
    (tmp_path / "scenario.yaml").write_text(
        "name: csv-and-timestamps\n"
        "horizon: {start: 2026-03-02T00:00:00Z, end: 2026-03-03T00:00:00Z, slot_minutes: 60}\n"
        "regions: [{id: eu, timezone: Europe/Paris, users: 1000, profile: {csv: half.csv}}]\n"
        "requests: [{id: r1, duration: 1h, earliest: 2026-03-02T10:00:00Z}]\n"
        "stakeholders: [{id: boss, role: approver}]\n"
    )

    created = negotiator(
        "plans", "create", str(tmp_path / "scenario.yaml"), "--clock", "scenario", server=server, token=ADMIN_TOKEN
    )
    plan_id = ok(created)
    token = ok(negotiator("plans", "token", plan_id.strip(), "boss", server=server, token=ADMIN_TOKEN)).strip()
    plan = Plan(server=server, id=plan_id.strip(), tokens={"boss": token})

    (window,) = plan.version(1, by="boss")["windows"]
    assert window["start"] == "2026-03-02T10:00:00Z"
    assert window["impact"] == 1000 * 0.5 * 60  # the csv's activity, not a built-in profile's


def test_plans_create_sends_a_calendar_file_as_its_text(server: str, tmp_path: Path) -> None:
    (tmp_path / "freezes.ics").write_text(
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//team//freezes//EN\nBEGIN:VEVENT\nUID:morning\n"
        "DTSTART:20260302T000000Z\nDTEND:20260302T100000Z\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    (tmp_path / "scenario.yaml").write_text(
        "name: freeze-file\n"
        "horizon: {start: 2026-03-02T00:00:00Z, end: 2026-03-03T00:00:00Z, slot_minutes: 60}\n"
        "regions: [{id: eu, timezone: Europe/Paris, users: 1000, profile: flat}]\n"
        "events: [{id: freeze, ics: freezes.ics, blackout: true}]\n"
        "requests: [{id: r1, duration: 1h}]\n"
        "stakeholders: [{id: boss, role: approver}]\n"
    )

    created = negotiator(
        "plans", "create", str(tmp_path / "scenario.yaml"), "--clock", "scenario", server=server, token=ADMIN_TOKEN
    )
    plan_id = ok(created).strip()
    token = ok(negotiator("plans", "token", plan_id, "boss", server=server, token=ADMIN_TOKEN)).strip()
    plan = Plan(server=server, id=plan_id, tokens={"boss": token})

    (window,) = plan.version(1, by="boss")["windows"]
    assert window["start"] == "2026-03-02T10:00:00Z"  # the first start after the freeze


def test_plans_token_for_an_unknown_stakeholder_is_not_found(plan: Plan) -> None:
    result = plan.run("plans", "token", plan.id, "nobody", by="admin")

    assert result.exit_code == 1
    assert result.stderr == f"error: 404 Not found: no stakeholder 'nobody' in plan '{plan.id}'\n"


# -- object, approve ------------------------------------------------------------------------------


def test_a_veto_with_wait_moves_the_request_into_a_new_version(plan: Plan) -> None:
    before = plan.version(1)["windows"][0]

    change = veto_r1(plan)

    latest = plan.version()
    assert latest["version"] == 2
    assert latest["changes"] == [change]
    assert latest["moved"] == ["r1"]
    assert latest["windows"][0]["start"] != before["start"]


def test_a_soft_objection_takes_avoid_ranges_written_with_zone_names(plan: Plan) -> None:
    result = plan.run(
        "object",
        plan.id,
        "r1",
        "--kind",
        "soft",
        "--avoid",
        "2026-03-02 01:00 Europe/Paris/2026-03-02 05:00 Europe/Paris",
        "--avoid",
        "2026-03-03T00:00Z/2026-03-03T02:00Z",
        "--weight",
        "3",
        "--wait",
        by="eu-rep",
    )
    change = ok(result).splitlines()[0]

    shown = json.loads(ok(plan.run("changes", plan.id, change, "--format", "json", by="eu-rep")))
    assert shown["status"] == "accepted"
    assert shown["step"]["avoid"] == [
        {"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T04:00:00Z"},
        {"start": "2026-03-03T00:00:00Z", "end": "2026-03-03T02:00:00Z"},
    ]
    assert shown["step"]["weight"] == 3


def test_object_refuses_a_range_that_is_not_two_times_before_sending(plan: Plan) -> None:
    result = plan.run("object", plan.id, "r1", "--kind", "veto", "--avoid", "2026-03-02 10:00/11:00", by="eu-rep")

    assert result.exit_code == 2
    assert "is not START/END" in result.stderr


def test_approving_the_latest_version_works_and_an_older_one_is_a_conflict(plan: Plan) -> None:
    veto_r1(plan)

    approved = ok(plan.run("approve", plan.id, "2", "--wait", by="boss"))
    stale = plan.run("approve", plan.id, "1", by="boss")

    assert approved.splitlines()[1].endswith("accepted: version 2 approved")
    assert plan.version(2)["approved"] is True
    assert stale.exit_code == 1
    assert stale.stderr == "error: 409 Conflict: version 1 is not the latest: version 2 is\n"


def test_an_objection_outside_the_stakeholders_scope_is_forbidden_with_the_reason(plan: Plan) -> None:
    result = plan.run("object", plan.id, "r1", "--kind", "veto", by="us-rep")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: 403 Forbidden: outside scope")
    assert result.stdout == ""


def test_an_unknown_request_is_invalid_input_naming_the_field(plan: Plan) -> None:
    result = plan.run("object", plan.id, "r9", "--kind", "veto", by="eu-rep")

    assert result.exit_code == 1
    assert result.stderr == "error: 422 Invalid input: request: unknown request 'r9'\n"


def test_the_same_idempotency_key_stores_the_change_once(plan: Plan) -> None:
    args = ("object", plan.id, "r1", "--kind", "soft", "--idempotency-key", "retry-1")

    first = ok(plan.run(*args, by="eu-rep"))
    again = ok(plan.run(*args, by="eu-rep"))
    other = ok(plan.run("object", plan.id, "r1", "--kind", "soft", by="eu-rep"))

    assert first == again
    assert other != first


# -- versions -------------------------------------------------------------------------------------


def test_versions_lists_every_version_as_a_table_and_as_json(plan: Plan) -> None:
    change = veto_r1(plan)

    table = ok(plan.run("versions", plan.id, by="eu-rep"))
    listed = json.loads(ok(plan.run("versions", plan.id, "--format", "json", by="eu-rep")))

    assert [row["version"] for row in listed] == [1, 2]
    assert listed[1]["changes"] == [change] and listed[1]["moved"] == ["r1"]
    rows = [line for line in table.splitlines() if line.startswith("│")]
    assert len(rows) == 2
    assert rows[1].split("│")[1].strip() == "2" and "r1" in rows[1]


def test_one_version_as_json_is_the_servers_body_as_is(plan: Plan) -> None:
    veto_r1(plan)

    shown = json.loads(ok(plan.run("versions", plan.id, "2", "--format", "json", by="eu-rep")))
    latest = json.loads(ok(plan.run("versions", plan.id, "latest", "--format", "json", by="eu-rep")))
    served = httpx.get(
        f"{plan.server}/v1/plans/{plan.id}/versions/2", headers={"Authorization": f"Bearer {plan.tokens['eu-rep']}"}
    ).json()

    assert shown == latest == served


def test_one_version_as_a_table_shows_each_window_in_utc_with_its_impact(plan: Plan) -> None:
    (window,) = plan.version(1)["windows"]
    start = window["start"][11:16]  # HH:MM of 2026-03-02THH:MM:00Z

    table = ok(plan.run("versions", plan.id, "1", by="eu-rep"))

    assert table.startswith("version 1: optimal, total impact 6,000 user-minutes")
    row = next(line for line in table.splitlines() if "r1" in line)
    assert f"Mon 02 Mar {start}–" in row
    assert "6,000" in row and "eu 6,000" in row  # 1000 users * 0.1 (flat) * 60 minutes


def test_versions_refuses_a_number_that_is_not_one(plan: Plan) -> None:
    result = plan.run("versions", plan.id, "first", by="eu-rep")

    assert result.exit_code == 2
    assert "'first' is not a version" in result.stderr


# -- tokens and servers ---------------------------------------------------------------------------


def test_a_bad_token_is_unauthorized(plan: Plan) -> None:
    result = negotiator("versions", plan.id, server=plan.server, token="not-a-token")

    assert result.exit_code == 1
    assert result.stderr == "error: 401 Unauthorized: this token is not valid for this plan\n"


def test_flags_override_the_environment(plan: Plan, dead_server: str) -> None:
    result = negotiator(
        "versions", plan.id, "--server", plan.server, "--token", plan.tokens["eu-rep"], server=dead_server, token="bad"
    )

    assert result.exit_code == 0


def test_no_token_says_how_to_give_one(plan: Plan) -> None:
    result = negotiator("versions", plan.id, server=plan.server, token=None)

    assert result.exit_code == 1
    assert result.stderr == "error: no token: pass --token TOKEN or set NEGOTIATOR_TOKEN\n"


def test_an_unreachable_server_is_one_line_and_exit_1(dead_server: str) -> None:
    result = negotiator("versions", "some-plan", server=dead_server, token="t")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach {dead_server}: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


# -- submit, events, withdraw, changes, audit -----------------------------------------------------


def test_submit_declare_an_event_and_withdraw_each_make_a_version(plan: Plan, tmp_path: Path) -> None:
    (tmp_path / "r2.yaml").write_text("id: r2\nduration: 2h\nearliest: 2026-03-03T08:00:00Z\nrequested_by: ops\n")
    event = make_event("launch", start="2026-03-02T00:00:00Z", end="2026-03-02T12:00:00Z", blackout=True)
    del event["weight"]
    (tmp_path / "launch.json").write_text(json.dumps(event))

    submitted = ok(plan.run("submit", plan.id, str(tmp_path / "r2.yaml"), "--wait", by="ops"))
    declared = ok(plan.run("events", plan.id, str(tmp_path / "launch.json"), "--wait", by="boss"))
    withdrawn = ok(plan.run("withdraw", plan.id, "r2", "--wait", by="ops"))

    assert [text.splitlines()[1].split(" ", 2)[2] for text in (submitted, declared, withdrawn)] == [
        "accepted into version 2",
        "accepted into version 3",
        "accepted into version 4",
    ]
    assert [window["request"] for window in plan.version(3)["windows"]] == ["r1", "r2"]
    assert [window["request"] for window in plan.version(4)["windows"]] == ["r1"]
    assert plan.version(4)["windows"][0]["start"] >= "2026-03-02T12:00:00Z"  # out of the blackout


def test_a_request_file_with_a_bad_field_is_refused_before_sending(plan: Plan, tmp_path: Path) -> None:
    (tmp_path / "r2.yaml").write_text("id: r2\nduration: soon\n")

    result = plan.run("submit", plan.id, str(tmp_path / "r2.yaml"), by="ops")

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path / 'r2.yaml'}: duration:")


def test_changes_tells_what_became_of_a_change(plan: Plan) -> None:
    change = veto_r1(plan)

    shown = ok(plan.run("changes", plan.id, str(change), by="boss"))

    assert shown.splitlines()[0].startswith(f"change {change}: object by eu-rep, received ")
    assert shown.splitlines()[1] == "accepted into version 2"


def test_audit_show_lists_who_did_what_and_says_the_log_is_intact(plan: Plan) -> None:
    veto_r1(plan)

    table = ok(plan.run("audit", "show", plan.id, by="boss"))
    body = json.loads(ok(plan.run("audit", "show", plan.id, "--format", "json", by="boss")))

    assert body["intact"] is True
    actions = [entry["action"] for entry in body["entries"]]
    assert actions[0] == "create_plan" and "object" in actions
    assert "create_plan" in table and "eu-rep" in table


# -- a server bug the client meets ----------------------------------------------------------------


def test_a_plan_without_steps_takes_a_second_change(server: str, tmp_path: Path) -> None:
    plan = create_plan(server, tmp_path, client_scenario(negotiation=[]))
    veto_r1(plan)

    approved = plan.run("approve", plan.id, "2", by="boss")

    assert approved.exit_code == 0, approved.stderr


def test_counter_shows_the_impact_against_the_current_window_and_exits_1_when_not_allowed(plan: Plan) -> None:
    vetoed = plan.version(1)["windows"][0]
    veto_r1(plan)  # veto:0 on r1's first window

    refused = plan.run("counter", plan.id, "r1", vetoed["start"], by="eu-rep")
    allowed = plan.run("counter", plan.id, "r1", "2026-03-03T15:00:00Z", "--format", "json", by="eu-rep")

    assert refused.exit_code == 1
    assert f"r1 at {vetoed['start']}: 6,000 user-minutes" in refused.stdout
    assert "not allowed: veto:0" in refused.stdout
    assert allowed.exit_code == 0
    answer = json.loads(allowed.stdout)
    assert (answer["allowed"], answer["blocked_by"], answer["impact"]) == (True, [], 6000.0)
    assert answer["current_impact"] == plan.version()["windows"][0]["impact"]
    assert plan.version()["version"] == 2  # a counter changes nothing


def test_pin_fixes_a_request_where_an_approver_says(plan: Plan) -> None:
    lines = ok(plan.run("pin", plan.id, "r1", "2026-03-03T15:00:00Z", "--wait", by="boss")).splitlines()

    assert lines[1].endswith("accepted into version 2")
    assert plan.version()["windows"][0]["start"] == "2026-03-03T15:00:00Z"


def test_override_lifts_a_veto_when_a_second_approver_agrees(server: str, tmp_path: Path) -> None:
    scenario = client_scenario()
    scenario["stakeholders"].append({"id": "boss2", "role": "approver"})
    plan = create_plan(server, tmp_path, scenario)
    veto_r1(plan)

    first = ok(plan.run("override", plan.id, "veto:0", "--reason", "exams over", "--wait", by="boss"))
    second = ok(plan.run("override", plan.id, "veto:0", "--wait", by="boss2"))

    assert first.splitlines()[1].endswith("accepted: waiting for a second approver")
    assert second.splitlines()[1].endswith("accepted into version 3")


def test_remove_event_takes_a_blackout_away_only_when_a_second_approver_agrees(server: str, tmp_path: Path) -> None:
    freeze = make_event("freeze", end="2026-03-02T12:00:00Z", blackout=True)
    del freeze["weight"]
    scenario = client_scenario(events=[freeze])
    scenario["stakeholders"].append({"id": "boss2", "role": "approver"})
    plan = create_plan(server, tmp_path, scenario)
    inside = "2026-03-02T08:00:00Z"
    frozen = plan.run("counter", plan.id, "r1", inside, "--format", "json", by="boss")  # exit 1: not allowed

    refused = plan.run("remove-event", plan.id, "freeze", by="eu-rep")
    first = ok(plan.run("remove-event", plan.id, "freeze", "--wait", by="boss"))
    again = plan.run("remove-event", plan.id, "freeze", by="boss")
    second = ok(plan.run("remove-event", plan.id, "freeze", "--wait", by="boss2"))
    thawed = json.loads(ok(plan.run("counter", plan.id, "r1", inside, "--format", "json", by="boss")))

    assert json.loads(frozen.stdout)["blocked_by"] == ["event:freeze"]
    assert refused.exit_code == 1 and refused.stderr.startswith("error: 403 Forbidden:")
    assert first.splitlines()[1].endswith("accepted: waiting for a second approver")
    assert again.exit_code == 1
    assert "a second, different approver must agree" in again.stderr
    assert second.splitlines()[1].endswith("accepted into version 2")
    assert (thawed["allowed"], thawed["blocked_by"]) == (True, [])


# -- the deploy gate --------------------------------------------------------------------------------


def test_gate_exits_0_only_while_an_announced_window_is_open_and_says_when_that_changes(
    server: str, tmp_path: Path
) -> None:
    later = [make_request("r1", regions=["eu"], earliest="2026-03-02T06:00:00Z")]  # not at the plan's now
    plan = create_plan(server, tmp_path, client_scenario(requests=later))
    window = plan.version(1)["windows"][0]
    start = datetime.fromisoformat(window["start"].replace("Z", "+00:00"))
    pipeline = ok(negotiator("plans", "token", plan.id, "eu-rep", "--gate", server=plan.server, token=ADMIN_TOKEN))

    proposed = negotiator("gate", plan.id, "r1", server=plan.server, token=pipeline.strip())
    ok(plan.run("approve", plan.id, "1", "--wait", by="boss"))
    announced = plan.run("gate", plan.id, "r1", by="eu-rep")
    inside = (start + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    elsewhere = f"{window['end']}/{(start + timedelta(hours=6)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    ok(plan.run("object", plan.id, "r1", "--kind", "soft", "--avoid", elsewhere, "--at", inside, "--wait", by="boss"))
    during = plan.run("gate", plan.id, "r1", by="eu-rep")
    as_json = plan.run("gate", plan.id, "r1", "--format", "json", by="eu-rep")

    assert proposed.exit_code == 1
    assert proposed.stdout.startswith("closed: r1's window") and "not announced" in proposed.stdout
    assert announced.exit_code == 1
    assert f"is announced; opens at {window['start']}" in announced.stdout
    assert during.exit_code == 0
    span = f"{window['start']} to {window['end']}"
    assert during.stdout == f"open: r1 is in its announced window {span}; closes at {window['end']}\n"
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout)["next_transition"] == window["end"]


def test_gate_exits_2_when_the_question_is_wrong_and_1_when_the_server_is_away(plan: Plan, dead_server: str) -> None:
    unknown = plan.run("gate", plan.id, "nope", by="eu-rep")
    no_token = negotiator("gate", plan.id, "r1", server=plan.server, token=None)
    away = negotiator("gate", plan.id, "r1", server=dead_server, token="x")

    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("error: 404 Not found: no request 'nope'")
    assert no_token.exit_code == 2
    assert away.exit_code == 1
    assert "cannot reach" in away.stderr
