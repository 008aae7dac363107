"""The API against generated requests (Schemathesis, from the app's own OpenAPI document): no
answer is a 5xx, and every error is problem+json. In-process, solver and webhooks off, as the admin
and as a stakeholder of a real plan (the ``plan`` path parameter pinned to it)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.settings import Settings
from tests.api.test_app import plan_scenario

ADMIN = {"Authorization": "Bearer admin-secret"}
DATABASE = Path(tempfile.mkdtemp(prefix="negotiator-schemathesis-")) / "api.db"
app = create_app(
    Settings(database_url=f"sqlite:///{DATABASE}", admin_token="admin-secret", solver=False, webhooks=False)
)


async def _opened() -> tuple[str, str]:
    """A plan and a token of its approver ``boss``."""
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        plan = (await c.post("/v1/plans", json=plan_scenario(), headers=ADMIN)).json()["id"]
        token = (await c.post(f"/v1/plans/{plan}/stakeholders/boss/tokens", headers=ADMIN)).json()["token"]
    return str(plan), str(token)


schema = schemathesis.openapi.from_asgi("/openapi.json", app)  # reads only the OpenAPI document


@pytest.fixture(scope="module")
def opened() -> tuple[str, dict[str, str]]:
    """The database migrated, a plan in it, and its approver's headers (once, not at import)."""
    plan, token = anyio.run(_opened)
    return plan, {"Authorization": f"Bearer {token}"}


def answered_well(case: Any, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        kind = (response.headers.get("content-type") or [""])[0]
        assert kind.startswith("application/problem+json"), f"{where}: {response.status_code} as {kind}"


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_as_the_admin_get_no_5xx_and_problem_json_errors(
    case: Any, opened: tuple[str, dict[str, str]]
) -> None:
    # ``opened`` ran the app's start: the database is migrated and the admin token known.
    answered_well(case, ADMIN)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_to_a_real_plan_get_no_5xx_and_problem_json_errors(
    case: Any, opened: tuple[str, dict[str, str]]
) -> None:
    plan, boss = opened
    if case.path_parameters and "plan" in case.path_parameters:
        case.path_parameters["plan"] = plan
    answered_well(case, boss)
