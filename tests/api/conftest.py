"""Fixtures for the HTTP service: the app in-process behind httpx, on SQLite and (when configured) PostgreSQL.

``start(**settings)`` runs ``create_app`` with its lifespan (migrations, background solver) and yields a
``Service``: the httpx client plus the moves nearly every test makes (create a plan, mint a token, wait
for a change or a version). The PostgreSQL runs use the server named by ``NEGOTIATOR_TEST_DATABASE_URL``,
each test in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.db import Clock, utcnow
from api.settings import Settings
from tests.receiver import Receiver, receiving

ADMIN_TOKEN = "admin-secret"
POSTGRES_ENV = "NEGOTIATOR_TEST_DATABASE_URL"
WAIT_S = 10.0  # the longest a test waits for the background solver
PROBLEM = "application/problem+json"


class HandClock:
    """A server clock tests move by hand: ``clock.now = ...``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Service:
    """A running app, the database it writes to, and a client talking to it in-process."""

    admin = bearer(ADMIN_TOKEN)
    wait_s = WAIT_S

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, database_url: str) -> None:
        self.app = app
        self.client = client
        self.database_url = database_url

    async def create_plan(self, scenario: dict[str, Any], *, clock: str = "scenario") -> str:
        """Create a plan as the admin; its id. A rehearsal unless ``clock="live"``: most tests replay
        the factories' March 2026 horizon on its own clock; live ones inject the server's clock."""
        response = await self.client.post("/v1/plans", params={"clock": clock}, json=scenario, headers=self.admin)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def token(self, plan: str, stakeholder: str) -> dict[str, str]:
        """Headers carrying a fresh token of ``stakeholder`` in ``plan``."""
        response = await self.client.post(f"/v1/plans/{plan}/stakeholders/{stakeholder}/tokens", headers=self.admin)
        assert response.status_code == 201, response.text
        return bearer(response.json()["token"])

    async def settled(self, plan: str, change: int, headers: dict[str, str]) -> dict[str, Any]:
        """The change once the solver has taken it in (accepted or refused)."""
        deadline = time.monotonic() + self.wait_s
        while True:
            response = await self.client.get(f"/v1/plans/{plan}/changes/{change}", headers=headers)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] != "pending":
                return body
            assert time.monotonic() < deadline, f"change {change} still pending after {self.wait_s} s"
            await asyncio.sleep(0.02)

    async def versions(self, plan: str, headers: dict[str, str], *, at_least: int = 1) -> list[dict[str, Any]]:
        """The plan's version list once it holds ``at_least`` versions."""
        deadline = time.monotonic() + self.wait_s
        while True:
            response = await self.client.get(f"/v1/plans/{plan}/versions", headers=headers)
            assert response.status_code == 200, response.text
            listed: list[dict[str, Any]] = response.json()
            if len(listed) >= at_least:
                return listed
            assert time.monotonic() < deadline, f"{len(listed)} versions after {self.wait_s} s, waiting for {at_least}"
            await asyncio.sleep(0.02)

    async def latest(self, plan: str, headers: dict[str, str], *, at_least: int = 1) -> dict[str, Any]:
        """``GET versions/latest`` once the plan holds ``at_least`` versions."""
        await self.versions(plan, headers, at_least=at_least)
        response = await self.client.get(f"/v1/plans/{plan}/versions/latest", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _postgres_schema(base_url: str) -> Iterator[str]:
    """A fresh schema on the test server for one test: its URL, and the schema dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base_url)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database URL of one test: a SQLite file, or a fresh schema on the PostgreSQL test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'negotiator.db'}"
        return
    base_url = os.environ.get(POSTGRES_ENV)
    if not base_url:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    yield from _postgres_schema(base_url)


Start = Callable[..., AbstractAsyncContextManager[Service]]


@pytest.fixture
def start(backend: str) -> Start:
    """Run the app on the test's database: ``async with start(solver=False) as service: ...``.

    Keyword arguments override the test settings (admin token, fast polling and retries, 5 s per
    solve); ``clock`` is the server's clock (live plans' time, reminders).
    Starting twice on the same database is a restart.
    """

    @asynccontextmanager
    async def running(clock: Clock = utcnow, **overrides: Any) -> AsyncIterator[Service]:
        settings = {
            "database_url": backend,
            "admin_token": ADMIN_TOKEN,
            "poll_s": 0.05,
            "solve_pause_s": 0.0,  # a version as soon as a change is in (the pause has its own test)
            "time_limit_s": 5.0,
            "webhook_poll_s": 0.05,
            "webhook_retry_s": 0.05,
            "webhook_timeout_s": 5.0,
            "webhook_private_targets": True,  # the receivers are on 127.0.0.1
            "public_url": "http://test",  # where the in-process client reaches the app
        }
        app = create_app(Settings(**{**settings, **overrides}), clock=clock)
        # A server failure must come back as the client sees it (a 500 answer), not as an exception.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            yield Service(app, client, backend)

    return running


@pytest.fixture
async def service(start: Start) -> AsyncIterator[Service]:
    """The app with its background solver, on the test's database."""
    async with start() as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1, for the duration of the test."""
    with receiving() as running:
        yield running
