"""Hostile or careless input (issue: the service under load, faults and hostile input): a body-size
cap before authentication, path integers a database cannot hold, 405 with Allow, and a server
failure logged on the server but never sent to the client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

import api.services.versions
from tests.api.test_app import plan_scenario, problem
from tests.factories import make_region, make_request, make_scenario, make_stakeholder

if TYPE_CHECKING:
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio

CHUNK = 64 * 1024


async def test_a_body_over_the_cap_is_refused_before_the_token_is_looked_at(start: Start) -> None:
    async with start(max_body_bytes=256 * 1024) as service:
        declared = await service.client.post(
            "/v1/plans", content=b"x" * (300 * 1024), headers={"content-type": "application/json"}
        )
        assert "larger than 262,144 bytes" in problem(declared, 413)["detail"]

        sent = 0

        async def endless() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            nonlocal sent
            for _ in range(10_000):
                sent += 1
                yield b"x" * CHUNK

        streamed = await service.client.post(
            "/v1/plans", content=endless(), headers={"content-type": "application/json"}
        )
        assert problem(streamed, 413)
        assert sent <= 256 * 1024 // CHUNK + 2  # nothing read far past the cap


async def test_a_body_under_the_cap_goes_through(start: Start) -> None:
    async with start(max_body_bytes=256 * 1024) as service:
        assert await service.create_plan(plan_scenario())


async def test_path_integers_a_database_cannot_hold_are_422_not_500(service: Service) -> None:
    plan = await service.create_plan(plan_scenario())
    for path in ("versions/99999999999999999999", "changes/99999999999999999999", "versions/0"):
        response = await service.client.get(f"/v1/plans/{plan}/{path}", headers=service.admin)
        assert problem(response, 422)
    page = await service.client.get(f"/plans/{plan}?change=99999999999999999999", headers={"cookie": "negotiator=x"})
    assert page.status_code < 500


async def test_405_says_which_methods_there_are(service: Service) -> None:
    response = await service.client.put("/v1/plans", headers=service.admin)

    assert problem(response, 405)
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


async def test_a_server_failure_is_logged_with_its_traceback_and_told_to_nobody(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    plan = await service.create_plan(plan_scenario())

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.services.versions, "list_versions", broken)
    with caplog.at_level(logging.ERROR, logger="negotiator.api"):
        response = await service.client.get(f"/v1/plans/{plan}/versions", headers=service.admin)

    assert "secret internals" not in problem(response, 500)["detail"]
    [record] = [r for r in caplog.records if r.name == "negotiator.api"]
    assert record.exc_info is not None and "secret internals" in str(record.exc_info[1])
    assert f"/v1/plans/{plan}/versions" in record.getMessage()


async def test_machine_files_are_no_time_zone(service: Service) -> None:
    for name in ("localtime", "posixrules"):
        body = make_scenario(regions=[make_region(timezone=name)])
        response = await service.client.post("/v1/plans", json=body, headers=service.admin)
        assert problem(response, 422)["field"] == "regions[0].timezone"


async def test_titles_names_and_reasons_have_a_bounded_length(service: Service) -> None:
    too_long = {
        "requests[0].title": make_scenario(requests=[make_request(title="t" * 301)]),
        "stakeholders[0].name": make_scenario(stakeholders=[make_stakeholder("boss", name="n" * 301)]),
        "description": make_scenario(description="d" * 10_001),
    }
    for field, body in too_long.items():
        response = await service.client.post("/v1/plans", json=body, headers=service.admin)
        refused = problem(response, 422)
        assert refused["field"] == field
        assert "at most" in refused["detail"]
    plan = await service.create_plan(plan_scenario())
    boss = await service.token(plan, "boss")
    objection = {"request": "r1", "kind": "veto", "reason": "r" * 2_001}
    response = await service.client.post(f"/v1/plans/{plan}/objections", json=objection, headers=boss)
    assert problem(response, 422)["field"] == "reason"


async def test_an_error_quotes_only_the_start_of_a_bad_value(service: Service) -> None:
    huge = "z" * 500_000
    bodies = [
        make_scenario(requests=[make_request(duration=huge)]),
        make_scenario(regions=[make_region(timezone=huge)]),
        make_scenario(requests=[make_request(id="x " + huge)]),
        {**make_scenario(), huge: 1},
    ]
    for body in bodies:
        response = await service.client.post("/v1/plans", json=body, headers=service.admin)
        assert response.status_code == 422
        assert len(response.content) < 3_000, response.text[:200]


async def test_a_plan_too_big_to_solve_is_refused_naming_the_field(service: Service) -> None:
    year = make_scenario(
        horizon={"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "slot_minutes": 1},
        regions=[make_region(name) for name in ("eu", "us", "asia", "latam")],
    )

    refused = problem(await service.client.post("/v1/plans", json=year, headers=service.admin), 422)

    assert refused["field"] == "horizon.slot_minutes"
    assert "525,600 slots × 4 regions × 1 requests" in refused["detail"]
    assert (await service.client.get("/v1/plans", headers=service.admin)).json() == []  # nothing stored


async def test_a_submit_that_makes_the_plan_too_big_is_refused(start: Start) -> None:
    async with start(max_problem_cells=200) as service:  # the plan is 48 slots × 2 regions × 2 requests
        plan = await service.create_plan(plan_scenario())
        boss = await service.token(plan, "boss")

        refused = problem(
            await service.client.post(f"/v1/plans/{plan}/requests", json=make_request("r3"), headers=boss), 422
        )

    assert "48 slots × 2 regions × 3 requests is 288, more than this server's 200" in refused["detail"]
