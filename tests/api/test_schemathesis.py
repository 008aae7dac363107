"""The API against generated requests (Schemathesis, from the app's own OpenAPI document): no
answer is a 5xx, and every error is problem+json. In-process, solver and webhooks off, as the admin
and as a stakeholder of a real plan (the ``plan`` path parameter pinned to it)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx
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


PLAN, _TOKEN = anyio.run(_opened)
BOSS = {"Authorization": f"Bearer {_TOKEN}"}
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


def answered_well(case: Any, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    where = f"{case.method} {case.formatted_path}"
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        kind = (response.headers.get("content-type") or [""])[0]
        assert kind.startswith("application/problem+json"), f"{where}: {response.status_code} as {kind}"


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_as_the_admin_get_no_5xx_and_problem_json_errors(case: Any) -> None:
    answered_well(case, ADMIN)


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_to_a_real_plan_get_no_5xx_and_problem_json_errors(case: Any) -> None:
    if case.path_parameters and "plan" in case.path_parameters:
        case.path_parameters["plan"] = PLAN
    answered_well(case, BOSS)
