"""The HTTP service (README, HTTP service), in-process with httpx: authority, solving, history, audit and errors.

Every test runs on SQLite, and on PostgreSQL when NEGOTIATOR_TEST_DATABASE_URL is set (see conftest).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from api.models import Base, ChangeRow, TokenRow
from api.services import audit
from api.services.webhooks import lead_text
from negotiator import client
from scheduler.negotiation import replay
from scheduler.report import replay_json
from scheduler.scenario import load_file
from tests.factories import make_event, make_objection, make_region, make_request, make_scenario, make_stakeholder

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))

# -- the plan most tests use -------------------------------------------------------------------------

VETO_START, VETO_END = "2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z"
OPENING_VERSIONS = 3  # version 1, then one for each of the two opening steps


def plan_scenario(**overrides: Any) -> dict[str, Any]:
    """Regions ``eu`` and ``us``, services ``web`` and ``mobile``, and one stakeholder of each kind.

    ``r1`` (eu, web) and ``r2`` (us) are ``req``'s. ``rep-eu`` represents eu/web, so ``r1`` is in its
    scope; ``rep-us`` represents us, so ``r1`` is not. ``boss`` and ``boss2`` approve, ``watcher`` observes.
    The history opens with two steps: ``boss`` vetoes ``r1`` from 10:00 to 12:00 UTC on 2 March
    (``veto:0``) and ``rep-eu`` objects softly to it from 13:00 to 14:00, so changes sent over HTTP
    start at index 2 and version 4.
    """
    scenario = make_scenario(
        services={"web": 0.6, "mobile": 0.4},
        regions=[make_region("eu"), make_region("us", timezone="America/New_York")],
        requests=[
            make_request("r1", regions=["eu"], services=["web"], requested_by="req"),
            make_request("r2", regions=["us"], requested_by="req"),
        ],
        stakeholders=[
            make_stakeholder("req", "requester"),
            make_stakeholder("rep-eu", "representative", regions=["eu"], services=["web"]),
            make_stakeholder("rep-us", "representative", regions=["us"]),
            make_stakeholder("boss", "approver"),
            make_stakeholder("boss2", "approver"),
            make_stakeholder("watcher", "observer"),
        ],
        negotiation=[
            make_objection("r1", "boss", avoid=[{"start": VETO_START, "end": VETO_END}], reason="freeze"),
            make_objection(
                "r1",
                "rep-eu",
                kind="soft",
                weight=2,
                avoid=[{"start": "2026-03-02T13:00:00Z", "end": "2026-03-02T14:00:00Z"}],
            ),
        ],
    )
    scenario.update(overrides)
    return scenario


def soft_objection(start: str = "2026-03-02T15:00:00Z", end: str = "2026-03-02T16:00:00Z") -> dict[str, Any]:
    """A soft objection body to ``r1`` (HTTP form: no ``action``, no ``by``)."""
    return {"request": "r1", "kind": "soft", "weight": 3, "avoid": [{"start": start, "end": end}]}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 body of an error answer, after checking its status, media type and that nothing leaks."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def post_change(service: Service, path: str, body: Any, headers: dict[str, str]) -> int:
    """POST a change that must be accepted at once (202); its id."""
    response = await service.client.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.text
    return int(response.json()["change"])


async def audit_log(service: Service, plan: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await service.client.get(f"/v1/plans/{plan}/audit", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- health, plans and tokens ------------------------------------------------------------------------


async def test_health_answers_without_a_token(service: Service) -> None:
    response = await service.client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_only_the_admin_creates_plans(service: Service) -> None:
    scenario = plan_scenario()
    plan = await service.create_plan(scenario)
    boss = await service.token(plan, "boss")

    problem(await service.client.post("/v1/plans", json=scenario), 401)
    problem(await service.client.post("/v1/plans", json=scenario, headers={"Authorization": "Bearer forged"}), 401)
    problem(await service.client.post("/v1/plans", json=scenario, headers=boss), 403)
    created = await service.client.post("/v1/plans", json=scenario, headers=service.admin)

    assert created.status_code == 201
    assert created.json()["id"] != plan
    assert (await service.latest(created.json()["id"], service.admin))["version"] == OPENING_VERSIONS


@pytest.mark.parametrize(
    ("scenario", "field"),
    [
        (make_scenario(requests=[make_request(duration="0m")]), "requests[0].duration"),
        (make_scenario(requests=[make_request(duration="soon")]), "requests[0].duration"),
        (make_scenario(requests=[make_request(severity=2)]), "requests[0].severity"),
        (make_scenario(horizon={"start": "2026-03-02 00:00", "end": "2026-03-04T00:00:00Z"}), "horizon.start"),
        (make_scenario(regionz=[]), "regionz"),
        (make_scenario(requests=[make_request(regions=["mars"])]), "requests[0].regions"),
        (make_scenario(events=[make_event(weight=None)]), "events[0]"),
    ],
    ids=["zero-duration", "bad-duration", "severity", "no-zone", "unknown-key", "unknown-region", "no-weight"],
)
async def test_an_invalid_scenario_is_a_422_naming_the_field(
    service: Service, scenario: dict[str, Any], field: str
) -> None:
    response = await service.client.post("/v1/plans", json=scenario, headers=service.admin)

    body = problem(response, 422)
    assert body["field"].startswith(field)
    assert field in body["detail"]


async def test_only_the_admin_mints_tokens(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    path = f"/v1/plans/{plan}/stakeholders/watcher/tokens"

    problem(await service.client.post(path), 401)
    problem(await service.client.post(path, headers={"Authorization": "Bearer forged"}), 401)
    problem(await service.client.post(path, headers=boss), 403)
    minted = await service.client.post(path, headers=service.admin)
    assert minted.status_code == 201
    assert set(minted.json()) == {"token"}
    unknown = await service.client.post(f"/v1/plans/{plan}/stakeholders/nobody/tokens", headers=service.admin)
    assert "nobody" in problem(unknown, 404)["detail"]
    problem(await service.client.post("/v1/plans/no-such-plan/stakeholders/boss/tokens", headers=service.admin), 404)


async def test_a_token_is_shown_once_and_only_its_hash_is_stored(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    first = await service.token(plan, "watcher")
    second = await service.token(plan, "watcher")
    tokens = [headers["Authorization"].removeprefix("Bearer ") for headers in (first, second)]

    engine = create_engine(service.database_url)
    try:
        with Session(engine) as session:
            stored = session.scalars(select(TokenRow.token_hash).where(TokenRow.plan_id == plan)).all()
            everything = [
                repr(tuple(row)) for table in Base.metadata.sorted_tables for row in session.execute(select(table))
            ]
    finally:
        engine.dispose()

    assert tokens[0] != tokens[1]
    assert sorted(stored) == sorted(hashlib.sha256(token.encode()).hexdigest() for token in tokens)
    for token in tokens:
        assert not [row for row in everything if token in row], "a token is stored in clear"
    for headers in (first, second):
        assert (await service.client.get(f"/v1/plans/{plan}/versions", headers=headers)).status_code == 200


# -- the authority matrix ----------------------------------------------------------------------------

ROLES = {  # role in the matrix -> the stakeholder of plan_scenario() playing it
    "requester": "req",
    "representative-in-scope": "rep-eu",
    "representative-out-of-scope": "rep-us",
    "approver": "boss",
    "observer": "watcher",
}
EVERYONE = frozenset([*ROLES, "admin"])
REFUSALS = {  # what a refused role is told
    "requester": r"^a requester cannot",
    "representative-in-scope": r"^(a representative cannot|only its requester or an approver)",
    "representative-out-of-scope": r"^(a representative cannot|only its requester or an approver|outside scope)",
    "observer": r"^observers can read, nothing else",
    "admin": r"^the admin manages plans",
}


@dataclass(frozen=True)
class Route:
    """One route of a plan: ``path`` follows /v1/plans/{plan}; ``{change}`` is a change of its history."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    allowed: frozenset[str] = EVERYONE
    status: int = 200
    refusal: str | None = None  # what a refused role is told, when not REFUSALS[role]


REPRESENTATIVES = frozenset({"representative-in-scope", "approver"})
REQUESTERS = frozenset({"requester", "approver"})
APPROVERS = frozenset({"approver"})
STAKEHOLDERS = frozenset(ROLES)
ROUTES = {
    "objections": Route("POST", "/objections", soft_objection(), REPRESENTATIVES, 202),
    "events": Route(
        "POST",
        "/events",
        make_event(
            "launch", regions=["eu"], services=["web"], start="2026-03-03T08:00:00Z", end="2026-03-03T12:00:00Z"
        ),
        REPRESENTATIVES,
        202,
    ),
    "submit": Route("POST", "/requests", make_request("r3", duration="2h", regions=["eu"]), REQUESTERS, 202),
    "withdraw": Route("DELETE", "/requests/r1", None, REQUESTERS, 202),
    "approve": Route("POST", f"/versions/{OPENING_VERSIONS}/approve", None, APPROVERS, 202),
    "counters": Route("POST", "/counters", {"request": "r1", "start": "2026-03-02T15:00:00Z"}, REPRESENTATIVES, 200),
    "pins": Route("POST", "/pins", {"request": "r1", "start": "2026-03-02T15:00:00Z"}, APPROVERS, 202),
    "overrides": Route("POST", "/overrides", {"veto": "veto:0", "reason": "the freeze is over"}, APPROVERS, 202),
    "version-latest": Route("GET", "/versions/latest"),
    "version": Route("GET", "/versions/1"),
    "versions": Route("GET", "/versions"),
    "change": Route("GET", "/changes/{change}"),
    "audit": Route("GET", "/audit"),
    "calendar": Route("GET", "/calendar.ics"),
    "stakeholder-calendar": Route(
        "GET",
        "/stakeholders/rep-eu/calendar.ics",
        allowed=frozenset({"representative-in-scope", "approver", "admin"}),
        refusal=r"^only the stakeholder themselves or an approver",
    ),
    "feeds": Route("POST", "/feeds", {"scope": "mine"}, STAKEHOLDERS, 201),
    "feeds-list": Route("GET", "/feeds"),
    "webhooks": Route("POST", "/webhooks", {"url": "http://127.0.0.1:9/hook"}, STAKEHOLDERS, 201),
    "webhooks-list": Route("GET", "/webhooks"),
}


async def opened(service: Service, plan: str, headers: dict[str, str]) -> int:
    """Wait for the plan's opening versions; the id of its first change (the veto)."""
    history = await service.versions(plan, headers, at_least=OPENING_VERSIONS)
    return int(history[1]["changes"][0])


@pytest.mark.parametrize("role", sorted(EVERYONE))
@pytest.mark.parametrize("route", ROUTES)
async def test_authority_matrix(service: Service, route: str, role: str) -> None:
    """Each route, each role: allowed (and, for a change, accepted by the solver too) or 403 with the reason."""
    call = ROUTES[route]
    plan = await service.create_plan(plan_scenario())
    headers = service.admin if role == "admin" else await service.token(plan, ROLES[role])
    first_change = await opened(service, plan, headers)
    before = await audit_log(service, plan, headers)

    response = await service.client.request(
        call.method, f"/v1/plans/{plan}{call.path.format(change=first_change)}", json=call.body, headers=headers
    )

    if role not in call.allowed:
        body = problem(response, 403)
        assert re.search(call.refusal or REFUSALS[role], body["detail"]), body["detail"]
        assert (await audit_log(service, plan, headers))["entries"] == before["entries"], "a refused change was logged"
    elif call.status == 202:
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "pending"
        outcome = await service.settled(plan, response.json()["change"], headers)
        assert outcome["status"] == "accepted", outcome
        assert outcome["by"] == ROLES[role]
    else:
        assert response.status_code == call.status, response.text


@pytest.mark.parametrize("route", ROUTES)
async def test_a_missing_wrong_or_other_plans_token_is_401(service: Service, route: str) -> None:
    """No plan answers a stakeholder of another plan: not its versions, changes, audit or calendar."""
    call = ROUTES[route]
    plan = await service.create_plan(plan_scenario())
    other = await service.create_plan(plan_scenario())
    outsider = await service.token(other, "boss")
    first_change = await opened(service, plan, service.admin)
    path = f"/v1/plans/{plan}{call.path.format(change=first_change)}"
    credentials = {
        "missing": {},
        "garbage": {"Authorization": "Bearer not-a-token"},
        "not bearer": {"Authorization": "Basic Ym9zczpzZWNyZXQ="},
        "another plan's": outsider,
    }

    for name, headers in credentials.items():
        response = await service.client.request(call.method, path, json=call.body, headers=headers)
        assert response.status_code == 401, f"{name}: {response.text}"
        problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_plan_does_not_show_another_plans_change(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    other = await service.create_plan(plan_scenario())
    insider = await service.token(other, "boss")
    first_change = await opened(service, plan, service.admin)

    problem(await service.client.get(f"/v1/plans/{other}/changes/{first_change}", headers=insider), 404)


async def test_unknown_plans_versions_and_changes_are_404(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)

    problem(await service.client.get("/v1/plans/no-such-plan/versions/latest", headers=service.admin), 404)
    problem(await service.client.get(f"/v1/plans/{plan}/versions/99", headers=boss), 404)
    problem(await service.client.get(f"/v1/plans/{plan}/changes/999999", headers=boss), 404)


# -- changes, versions and the solver ----------------------------------------------------------------


async def test_a_change_is_stored_before_the_reply(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")

    response = await service.client.post(f"/v1/plans/{plan}/objections", json=soft_objection(), headers=boss)
    assert response.status_code == 202
    accepted = response.json()
    stored = await service.client.get(accepted["href"], headers=boss)

    assert accepted["href"] == f"/v1/plans/{plan}/changes/{accepted['change']}"
    assert stored.status_code == 200
    assert stored.json()["status"] in {"pending", "accepted"}
    assert stored.json()["by"] == "boss"
    assert stored.json()["step"]["avoid"] == soft_objection()["avoid"]


async def test_a_change_is_committed_before_its_202_is_sent(service: Service) -> None:
    """Driven as raw ASGI: at the moment the answer starts, another connection must already see the change."""
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)
    engine = create_engine(service.database_url)

    def stored() -> int:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).where(ChangeRow.plan_id == plan)) or 0)

    before = stored()
    body = json.dumps(soft_objection()).encode()
    seen: list[tuple[int, int]] = []  # (status, changes another connection sees) when the answer starts

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.append((message["status"], stored()))

    path = f"/v1/plans/{plan}/objections"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-type", b"application/json"),
            (b"authorization", boss["Authorization"].encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    try:
        await service.app(scope, receive, send)
    finally:
        engine.dispose()

    assert seen == [(202, before + 1)]


@pytest.mark.parametrize("opening_steps", [0, 1, 2])
async def test_changes_are_numbered_after_the_plans_history(service: Service, opening_steps: int) -> None:
    """Whatever the scenario's history, each change gets the next index (the N of ``veto:N``) and is stored."""
    avoid = [{"start": "2026-03-02T05:00:00Z", "end": "2026-03-02T06:00:00Z"}]
    history = [make_objection("r1", "boss", kind="soft", avoid=avoid)] * opening_steps
    plan = await service.create_plan(make_scenario(stakeholders=[make_stakeholder("boss")], negotiation=history))
    boss = await service.token(plan, "boss")
    path = f"/v1/plans/{plan}/objections"

    changes = [
        await post_change(service, path, soft_objection(), boss),
        await post_change(service, path, soft_objection("2026-03-03T15:00:00Z", "2026-03-03T16:00:00Z"), boss),
    ]
    outcomes = [await service.settled(plan, change, boss) for change in changes]

    assert [outcome["index"] for outcome in outcomes] == [opening_steps, opening_steps + 1]
    assert [outcome["status"] for outcome in outcomes] == ["accepted", "accepted"]


async def test_concurrent_changes_are_all_stored(service: Service) -> None:
    """A burst of changes sent at once: every one is answered 202, stored once and taken into a version."""
    plan = await service.create_plan(plan_scenario())
    senders = [await service.token(plan, stakeholder) for stakeholder in ("boss", "boss2", "rep-eu")]
    await opened(service, plan, senders[0])

    async def send(number: int) -> httpx.Response:
        hour = f"{number % 24:02d}"
        body = soft_objection(f"2026-03-03T{hour}:00:00Z", f"2026-03-03T{hour}:30:00Z")
        return await service.client.post(
            f"/v1/plans/{plan}/objections", json=body, headers=senders[number % len(senders)]
        )

    responses: list[httpx.Response] = []

    async def collect(number: int) -> None:
        responses.append(await send(number))

    async with anyio.create_task_group() as group:
        for number in range(12):
            group.start_soon(collect, number)

    assert [response.status_code for response in responses] == [202] * 12, [r.text for r in responses]
    changes = sorted(response.json()["change"] for response in responses)
    outcomes = [await service.settled(plan, change, senders[0]) for change in changes]
    log = await audit_log(service, plan, senders[0])

    assert len(set(changes)) == 12
    assert sorted(outcome["index"] for outcome in outcomes) == list(range(2, 14))
    assert {outcome["status"] for outcome in outcomes} == {"accepted"}
    assert log["intact"] is True


async def test_each_version_lists_the_changes_it_includes(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    rep = await service.token(plan, "rep-eu")
    first_change = await opened(service, plan, rep)

    change = await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), rep)
    outcome = await service.settled(plan, change, rep)
    latest = await service.latest(plan, rep, at_least=OPENING_VERSIONS + 1)
    listed = await service.versions(plan, rep)

    assert outcome["status"] == "accepted"
    assert outcome["version"] == latest["version"] == OPENING_VERSIONS + 1
    assert latest["changes"] == [change]
    assert [version["changes"] for version in listed] == [[], [first_change], [first_change + 1], [change]]


async def test_a_change_is_checked_against_the_changes_still_pending(service: Service) -> None:
    """An objection to a request whose withdrawal is accepted but not solved yet is refused at once."""
    plan = await service.create_plan(plan_scenario())
    req = await service.token(plan, "req")
    rep = await service.token(plan, "rep-eu")
    await opened(service, plan, req)

    withdrawal = await service.client.delete(f"/v1/plans/{plan}/requests/r1", headers=req)
    objection = await service.client.post(f"/v1/plans/{plan}/objections", json=soft_objection(), headers=rep)

    assert withdrawal.status_code == 202
    assert problem(objection, 422)["field"] == "request"
    assert "'r1'" in objection.json()["detail"]
    outcome = await service.settled(plan, withdrawal.json()["change"], req)
    latest = await service.latest(plan, req, at_least=OPENING_VERSIONS + 1)
    assert outcome["status"] == "accepted"
    assert "r1" not in [window["request"] for window in latest["windows"]]
    assert latest["changes"] == [outcome["id"]]


async def test_changes_sent_while_no_solver_runs_fold_into_one_version_after_a_restart(start: Start) -> None:
    """A restart loses no accepted change and resumes the pending solve, folding the burst into one version."""
    async with start(solver=False) as service:
        plan = await service.create_plan(plan_scenario())
        boss = await service.token(plan, "boss")
        changes = [
            await post_change(
                service,
                f"/v1/plans/{plan}/objections",
                soft_objection(f"2026-03-0{day}T{hour}:00:00Z", f"2026-03-0{day}T{hour}:59:00Z"),
                {**boss, "Idempotency-Key": f"burst-{day}-{hour}"},
            )
            for day, hour in [(2, 15), (2, 18), (3, 19)]
        ]
        for change in changes:
            pending = await service.client.get(f"/v1/plans/{plan}/changes/{change}", headers=boss)
            assert pending.json()["status"] == "pending"
        assert (
            "still being solved"
            in problem(await service.client.get(f"/v1/plans/{plan}/versions/latest", headers=boss), 404)["detail"]
        )

    async with start() as service:
        outcomes = [await service.settled(plan, change, boss) for change in changes]
        latest = await service.latest(plan, boss, at_least=OPENING_VERSIONS + 1)
        listed = await service.versions(plan, boss)
        retried = await service.client.post(
            f"/v1/plans/{plan}/objections",
            json=soft_objection("2026-03-02T15:00:00Z", "2026-03-02T15:59:00Z"),
            headers={**boss, "Idempotency-Key": "burst-2-15"},
        )

    assert [outcome["status"] for outcome in outcomes] == ["accepted"] * 3
    assert {outcome["version"] for outcome in outcomes} == {OPENING_VERSIONS + 1}
    assert latest["version"] == OPENING_VERSIONS + 1
    assert latest["changes"] == changes
    assert len(listed) == OPENING_VERSIONS + 1
    assert retried.status_code == 202
    assert retried.json()["change"] == changes[0], "a retry after the restart was stored again"


async def test_changes_sent_during_a_solve_fold_into_the_next_version(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)
    started, release = threading.Event(), threading.Event()
    pool = service.app.state.runtime.pool
    run = pool.run

    def held(work: Any, *args: Any, **kwargs: Any) -> Any:
        """The first solve after the opening ones (of a change sent over HTTP) waits for the test."""
        if not release.is_set():
            started.set()
            release.wait(service.wait_s)
        return run(work, *args, **kwargs)

    monkeypatch.setattr(pool, "run", held)
    path = f"/v1/plans/{plan}/objections"
    first = await post_change(service, path, soft_objection(), boss)
    assert await anyio.to_thread.run_sync(started.wait, service.wait_s), "the solve did not start"
    during = [
        await post_change(service, path, soft_objection("2026-03-03T15:00:00Z", "2026-03-03T16:00:00Z"), boss),
        await post_change(service, path, soft_objection("2026-03-03T18:00:00Z", "2026-03-03T19:00:00Z"), boss),
    ]
    release.set()
    outcomes = [await service.settled(plan, change, boss) for change in [first, *during]]
    listed = await service.versions(plan, boss, at_least=OPENING_VERSIONS + 2)

    assert [outcome["version"] for outcome in outcomes] == [OPENING_VERSIONS + 1] + [OPENING_VERSIONS + 2] * 2
    assert [version["changes"] for version in listed[OPENING_VERSIONS:]] == [[first], during]
    assert (await service.latest(plan, boss))["version"] == OPENING_VERSIONS + 2


def scenario_body(path: Path) -> dict[str, Any]:
    """A scenario file as the JSON body of POST /v1/plans, as ``negotiator plans create`` sends it.

    YAML timestamps keep their offset; csv profiles go as their values, calendar files as ``ics_text``.
    """
    return client.scenario_body(path)


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.stem for path in SCENARIOS])
async def test_a_plans_history_replays_to_the_versions_of_the_cli(service: Service, path: Path) -> None:
    """A plan made from a shipped scenario ends with the versions and step outcomes of ``negotiator run``."""
    expected = replay_json(replay(load_file(path), time_limit_s=5.0))
    plan = await service.create_plan(scenario_body(path), clock="scenario")

    listed = await service.versions(plan, service.admin, at_least=len(expected["versions"]))
    versions = []
    for entry in listed:
        response = await service.client.get(f"/v1/plans/{plan}/versions/{entry['version']}", headers=service.admin)
        versions.append({key: value for key, value in response.json().items() if key != "changes"})
    solved = [
        entry for entry in (await audit_log(service, plan, service.admin))["entries"] if entry["action"] == "solve"
    ]
    steps = [
        await service.settled(plan, change, service.admin) for entry in solved for change in entry["detail"]["changes"]
    ]

    assert versions == expected["versions"]  # why included
    assert [(step["action"], step["by"], step["status"] == "accepted", step["version"]) for step in steps] == [
        (step["action"], step["by"], step["accepted"], step.get("version")) for step in expected["steps"]
    ]


async def test_approve_names_the_latest_version_or_gets_409(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)

    stale = await service.client.post(f"/v1/plans/{plan}/versions/1/approve", headers=boss)
    unknown = await service.client.post(f"/v1/plans/{plan}/versions/99/approve", headers=boss)
    change = await post_change(service, f"/v1/plans/{plan}/versions/{OPENING_VERSIONS}/approve", None, boss)
    outcome = await service.settled(plan, change, boss)
    approved = await service.client.get(f"/v1/plans/{plan}/versions/{OPENING_VERSIONS}", headers=boss)

    assert f"version {OPENING_VERSIONS} is" in problem(stale, 409)["detail"]
    problem(unknown, 409)
    assert outcome["status"] == "accepted"
    assert outcome["version"] == OPENING_VERSIONS
    assert approved.json()["approved"] is True
    assert (await service.latest(plan, boss))["version"] == OPENING_VERSIONS, "approving made a new version"
    older = await service.client.get(f"/v1/plans/{plan}/versions/{OPENING_VERSIONS - 1}", headers=boss)
    assert older.json()["approved"] is False


async def test_an_approved_window_is_announced_and_stays(service: Service) -> None:
    """After approval, a soft objection elsewhere does not move the announced window."""
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)
    announced = (await service.latest(plan, boss))["windows"]

    await service.settled(
        plan, await post_change(service, f"/v1/plans/{plan}/versions/{OPENING_VERSIONS}/approve", None, boss), boss
    )
    window = next(window for window in announced if window["request"] == "r1")
    change = await post_change(
        service, f"/v1/plans/{plan}/objections", soft_objection(window["start"], window["end"]), boss
    )
    await service.settled(plan, change, boss)
    latest = await service.latest(plan, boss, at_least=OPENING_VERSIONS + 1)

    assert [(w["request"], w["start"]) for w in latest["windows"]] == [(w["request"], w["start"]) for w in announced]
    assert latest["moved"] == []


# -- Idempotency-Key ---------------------------------------------------------------------------------


async def test_a_post_retried_with_its_idempotency_key_is_stored_once(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    rep = await service.token(plan, "rep-eu")
    path = f"/v1/plans/{plan}/objections"
    await opened(service, plan, boss)

    first = await service.client.post(path, json=soft_objection(), headers={**boss, "Idempotency-Key": "k-1"})
    retry = await service.client.post(path, json=soft_objection(), headers={**boss, "Idempotency-Key": "k-1"})
    fresh = await service.client.post(path, json=soft_objection(), headers={**boss, "Idempotency-Key": "k-2"})
    someone_else = await service.client.post(path, json=soft_objection(), headers={**rep, "Idempotency-Key": "k-1"})
    for response in (first, retry, fresh, someone_else):
        assert response.status_code == 202, response.text
    ids = [response.json()["change"] for response in (first, retry, fresh, someone_else)]
    for change in set(ids):
        await service.settled(plan, change, boss)
    logged = [entry for entry in (await audit_log(service, plan, boss))["entries"] if entry["action"] == "object"]

    assert retry.json() == first.json()
    assert len(set(ids)) == 3
    assert sorted(entry["detail"]["change"] for entry in logged) == sorted(set(ids))


async def test_an_idempotency_key_sent_again_with_another_request_is_refused(service: Service) -> None:
    """A key names one request: sent with another body or to another route, it is 422, never the
    first request's 202 (an approval answered as an objection, and nothing approved)."""
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)
    headers = {**boss, "Idempotency-Key": "k-1"}
    first = await service.client.post(f"/v1/plans/{plan}/objections", json=soft_objection(), headers=headers)
    assert first.status_code == 202

    other_body = await service.client.post(
        f"/v1/plans/{plan}/objections", json={**soft_objection(), "weight": 9}, headers=headers
    )
    other_route = await service.client.post(f"/v1/plans/{plan}/versions/{OPENING_VERSIONS}/approve", headers=headers)

    for refused in (other_body, other_route):
        assert "Idempotency-Key was sent before with another request" in problem(refused, 422)["detail"]
    await service.settled(plan, first.json()["change"], boss)
    logged = [entry["action"] for entry in (await audit_log(service, plan, boss))["entries"]]
    assert logged.count("approve") == 0


async def test_simultaneous_retries_with_one_idempotency_key_store_one_change(service: Service) -> None:
    """A client that retries before its first attempt was answered: one change, never two."""
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)
    headers = {**boss, "Idempotency-Key": "impatient"}
    responses: list[httpx.Response] = []

    async def attempt() -> None:
        responses.append(
            await service.client.post(f"/v1/plans/{plan}/objections", json=soft_objection(), headers=headers)
        )

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(attempt)
    settled = await service.client.post(f"/v1/plans/{plan}/objections", json=soft_objection(), headers=headers)
    logged = [entry for entry in (await audit_log(service, plan, boss))["entries"] if entry["action"] == "object"]

    assert settled.status_code == 202
    assert {response.json()["change"] for response in responses if response.status_code == 202} <= {
        settled.json()["change"]
    }
    assert [entry["detail"]["change"] for entry in logged] == [settled.json()["change"]]


async def test_a_retried_approve_gets_its_first_answer(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    await opened(service, plan, boss)
    approve = f"/v1/plans/{plan}/versions/{OPENING_VERSIONS}/approve"

    first = await service.client.post(approve, headers={**boss, "Idempotency-Key": "approve-3"})
    await service.settled(plan, first.json()["change"], boss)
    change = await post_change(service, f"/v1/plans/{plan}/objections", soft_objection(), boss)
    await service.settled(plan, change, boss)
    retry = await service.client.post(approve, headers={**boss, "Idempotency-Key": "approve-3"})

    assert retry.status_code == 202, retry.text
    assert retry.json() == first.json()


# -- rate limit --------------------------------------------------------------------------------------


async def test_a_token_over_its_rate_limit_gets_429(start: Start) -> None:
    async with start(rate_limit_per_minute=5) as service:
        plan = await service.create_plan(plan_scenario())
        watcher = await service.token(plan, "watcher")
        boss = await service.token(plan, "boss")
        path = f"/v1/plans/{plan}/audit"

        within = [(await service.client.get(path, headers=watcher)).status_code for _ in range(5)]
        over = await service.client.get(path, headers=watcher)
        other_token = await service.client.get(path, headers=boss)

    assert within == [200] * 5
    assert "requests a minute" in problem(over, 429)["detail"]
    assert other_token.status_code == 200


# -- overriding a veto -------------------------------------------------------------------------------


async def test_lifting_a_veto_takes_two_different_approvers(service: Service) -> None:
    narrow = make_request(
        "r1", regions=["eu"], services=["web"], requested_by="req", earliest=VETO_START, deadline=VETO_END
    )
    plan = await service.create_plan(plan_scenario(requests=[narrow, make_request("r2", regions=["us"])]))
    boss = await service.token(plan, "boss")
    boss2 = await service.token(plan, "boss2")
    rep = await service.token(plan, "rep-eu")
    overrides = f"/v1/plans/{plan}/overrides"
    vetoed = await service.latest(plan, boss, at_least=OPENING_VERSIONS)

    proposed = await service.settled(plan, await post_change(service, overrides, {"veto": "veto:0"}, boss), boss)
    still = await service.latest(plan, boss)
    again = await service.client.post(overrides, json={"veto": "veto:0"}, headers=boss)
    not_an_approver = await service.client.post(overrides, json={"veto": "veto:0"}, headers=rep)
    lifted = await service.settled(plan, await post_change(service, overrides, {"veto": "veto:0"}, boss2), boss2)
    latest = await service.latest(plan, boss, at_least=OPENING_VERSIONS + 1)

    assert "r1" not in [window["request"] for window in vetoed["windows"]]
    assert "veto:0" in next(u["reasons"] for u in vetoed["unscheduled"] if u["request"] == "r1")
    assert proposed["status"] == "accepted"
    assert proposed["version"] is None
    assert "second approver" in proposed["reason"]
    assert still["version"] == OPENING_VERSIONS
    assert "different approver" in problem(again, 403)["detail"]
    assert "cannot override" in problem(not_an_approver, 403)["detail"]
    assert lifted["status"] == "accepted"
    assert latest["version"] == lifted["version"] == OPENING_VERSIONS + 1
    window = next(window for window in latest["windows"] if window["request"] == "r1")
    assert VETO_START <= window["start"] < VETO_END
    assert latest["changes"] == [lifted["id"]]


async def test_an_unknown_veto_cannot_be_overridden(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")

    response = await service.client.post(f"/v1/plans/{plan}/overrides", json={"veto": "veto:7"}, headers=boss)

    assert "veto:7" in problem(response, 403)["detail"]


# -- errors and documentation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/objections", {**soft_objection(), "kind": "sof"}, "kind"),
        ("/objections", {**soft_objection(), "colour": "red"}, "colour"),
        ("/objections", soft_objection("2026-03-02T16:00:00Z", "2026-03-02T15:00:00Z"), "avoid[0].end"),
        ("/objections", {**soft_objection(), "request": "nope"}, "request"),
        ("/objections", {**soft_objection(), "weight": -1}, "weight"),
        ("/events", make_event("x", weight=None), ""),
        ("/events", make_event("x", regions=["mars"]), "event.regions[0]"),
        ("/requests", make_request("r9", duration="0m"), "duration"),
        ("/counters", {"request": "r1", "start": "2026-03-02 15:00"}, "start"),
        ("/overrides", {"veto": "soft:1"}, "veto"),
    ],
    ids=[
        "kind",
        "unknown-key",
        "avoid-end",
        "unknown-request",
        "weight",
        "no-weight",
        "unknown-region",
        "duration",
        "no-zone",
        "override-pattern",
    ],
)
async def test_an_invalid_change_is_a_422_naming_the_field(
    service: Service, path: str, body: dict[str, Any], field: str
) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")

    response = await service.client.post(f"/v1/plans/{plan}{path}", json=body, headers=boss)

    found = problem(response, 422)
    assert found["field"] == field
    assert field in found["detail"]


async def test_every_error_is_problem_json_without_a_traceback(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    client = service.client

    problem(await client.get("/v1/nowhere", headers=boss), 404)
    problem(await client.put(f"/v1/plans/{plan}/objections", json={}, headers=boss), 405)
    problem(
        await client.post(
            "/v1/plans", content=b"{not json", headers={**service.admin, "content-type": "application/json"}
        ),
        422,
    )
    problem(
        await client.post(
            f"/v1/plans/{plan}/objections", content=b"[1, 2", headers={**boss, "content-type": "application/json"}
        ),
        422,
    )
    assert problem(await client.get(f"/v1/plans/{plan}/versions/one", headers=boss), 422)["field"] == "number"
    problem(await client.post("/v1/plans", json=[1, 2], headers=service.admin), 422)
    too_long = {**boss, "Idempotency-Key": "k" * 201}
    rejected = await client.post(f"/v1/plans/{plan}/objections", json=soft_objection(), headers=too_long)
    assert problem(rejected, 422)["field"].lower() == "idempotency-key"


async def test_bodies_with_times_raise_no_warning(service: Service) -> None:
    """Reading and storing times (scenario and change bodies) is quiet: no serializer warnings in the log."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = await service.create_plan(plan_scenario())
        boss = await service.token(plan, "boss")
        response = await service.client.post(f"/v1/plans/{plan}/objections", json=soft_objection(), headers=boss)
        submitted = await service.client.post(
            f"/v1/plans/{plan}/requests", json=make_request("r9", duration="1h30m", notice="2h"), headers=boss
        )

    assert response.status_code == 202
    assert submitted.status_code == 202
    assert [str(warning.message) for warning in caught] == []


async def test_a_server_failure_is_a_500_problem_without_details(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")

    def fail(*_: Any, **__: Any) -> None:
        raise RuntimeError("secret-internal-detail")

    monkeypatch.setattr(audit, "list_audit", fail)
    response = await service.client.get(f"/v1/plans/{plan}/audit", headers=boss)

    problem(response, 500)
    assert "secret-internal-detail" not in response.text
    assert "RuntimeError" not in response.text


async def test_the_calendar_is_the_latest_version_as_icalendar(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    watcher = await service.token(plan, "watcher")
    await opened(service, plan, watcher)

    response = await service.client.get(f"/v1/plans/{plan}/calendar.ics", headers=watcher)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.text.startswith("BEGIN:VCALENDAR")
    assert response.text.count("BEGIN:VEVENT") == len((await service.latest(plan, watcher))["windows"])


BODIES = {  # route -> whether its POST/DELETE takes a body
    ("post", "/v1/plans"): True,
    ("post", "/v1/plans/{plan}/stakeholders/{stakeholder_id}/tokens"): False,
    ("get", "/v1/plans/{plan}/versions"): False,
    ("get", "/v1/plans/{plan}/versions/latest"): False,
    ("get", "/v1/plans/{plan}/versions/{number}"): False,
    ("post", "/v1/plans/{plan}/versions/{number}/approve"): False,
    ("post", "/v1/plans/{plan}/objections"): True,
    ("post", "/v1/plans/{plan}/events"): True,
    ("post", "/v1/plans/{plan}/requests"): True,
    ("delete", "/v1/plans/{plan}/requests/{request_id}"): False,
    ("post", "/v1/plans/{plan}/counters"): True,
    ("post", "/v1/plans/{plan}/pins"): True,
    ("post", "/v1/plans/{plan}/overrides"): True,
    ("get", "/v1/plans/{plan}/changes/{change_id}"): False,
    ("get", "/v1/plans/{plan}/audit"): False,
    ("get", "/v1/plans/{plan}/calendar.ics"): False,
    ("get", "/v1/plans/{plan}/gate"): False,
    ("get", "/v1/plans/{plan}/silences"): False,
}


async def test_openapi_lists_every_route_with_its_body_and_errors(service: Service) -> None:
    response = await service.client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    schemas = spec["components"]["schemas"]

    listed = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert set(BODIES) | {("get", "/health")} <= listed
    for (method, path), has_body in BODIES.items():
        operation = spec["paths"][path][method]
        where = f"{method.upper()} {path}"
        if has_body:
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            assert schema["$ref"].removeprefix("#/components/schemas/") in schemas, where
        for status in ("401", "403", "404", "422", "429"):
            assert PROBLEM in operation["responses"][status]["content"], f"{where} {status}"
        assert {"HTTPBearer": []} in operation["security"], where
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    approve = spec["paths"]["/v1/plans/{plan}/versions/{number}/approve"]["post"]
    assert PROBLEM in approve["responses"]["409"]["content"]
    assert "/health" in spec["paths"]


async def test_the_front_door_says_where_things_are(service: Service) -> None:
    response = await service.client.get("/")

    assert response.status_code == 200
    assert response.json()["docs"] == "http://test/docs"
    assert response.json()["plans"] == "http://test/v1/plans"


async def test_a_yaml_body_is_told_to_send_json_and_not_echoed(service: Service) -> None:
    yaml_text = "name: big\nhorizon: {start: 2026-03-02T00:00:00Z}\n" + "# padding\n" * 1000
    response = await service.client.post(
        "/v1/plans", content=yaml_text, headers={**service.admin, "content-type": "application/yaml"}
    )

    body = problem(response, 422)
    assert "send the body as JSON" in body["detail"]
    assert "padding" not in response.text


def test_reminder_lead_times_read_as_written() -> None:
    assert [lead_text(m) for m in (1440, 60, 90, 30, 0, 2880)] == ["24h", "1h", "1h30m", "30m", "0m", "48h"]
