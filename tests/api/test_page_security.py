"""The review page against other sites and guessers (issue: the service under load, faults and
hostile input): security headers, sign-in only from this site's form, never with the admin token,
and at most ten tries a minute from one address; the rate limiter's memory stays bounded; feed
secrets stay out of the access log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.orm import Session

from api.access_log import ACCESS_LOGGER
from api.app import create_app
from api.deps import RateLimiter
from api.errors import TooManyRequests
from api.models import TokenRow
from api.routes.review import COOKIE
from api.services.tokens import PAGE_SESSION, token_hash
from api.settings import Settings
from tests.api.test_review import opened_plan, signed_in

if TYPE_CHECKING:
    from tests.api.conftest import Service

pytestmark = pytest.mark.anyio


@pytest.fixture
def start_app(tmp_path: Path) -> None:
    """An app made, as ``negotiator serve`` makes one before uvicorn logs anything."""
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'app.db'}", admin_token="admin-secret"))


async def test_the_page_forbids_framing_sniffing_caching_and_other_sites_content(service: Service) -> None:
    plan = await opened_plan(service)

    page = await service.client.get(f"/plans/{plan}")

    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert 'style="' not in page.text  # the policy allows no inline style
    api = await service.client.get(f"/v1/plans/{plan}/versions", headers=service.admin)
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers  # /docs keeps its own scripts


async def test_the_admin_token_does_not_sign_in_to_the_page(service: Service) -> None:
    plan = await opened_plan(service)
    admin = service.admin["Authorization"].removeprefix("Bearer ")

    refused = await service.client.post(f"/plans/{plan}/sign-in", data={"token": admin})

    assert refused.status_code == 403
    assert "admin token does not sign in here" in refused.text
    assert "set-cookie" not in refused.headers


@pytest.mark.parametrize(
    "headers", [{"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}], ids=["origin", "fetch site"]
)
async def test_a_sign_in_posted_from_another_site_is_refused(service: Service, headers: dict[str, str]) -> None:
    plan = await opened_plan(service)
    token = (await service.token(plan, "boss"))["Authorization"].removeprefix("Bearer ")

    refused = await service.client.post(f"/plans/{plan}/sign-in", data={"token": token}, headers=headers)

    assert refused.status_code == 403
    assert "set-cookie" not in refused.headers  # another site cannot sign a browser in as someone


async def test_guessing_tokens_at_the_sign_in_is_slowed_to_ten_a_minute(service: Service) -> None:
    plan = await opened_plan(service)
    token = (await service.token(plan, "boss"))["Authorization"].removeprefix("Bearer ")

    guesses = [await service.client.post(f"/plans/{plan}/sign-in", data={"token": f"guess-{n}"}) for n in range(10)]
    assert [guess.status_code for guess in guesses] == [401] * 10

    slowed = await service.client.post(f"/plans/{plan}/sign-in", data={"token": token})
    assert slowed.status_code == 429
    assert slowed.headers["retry-after"] == "60"
    assert "set-cookie" not in slowed.headers


def test_the_rate_limiter_keeps_a_bounded_number_of_buckets() -> None:
    limiter = RateLimiter(60, max_keys=100)
    for n in range(5_000):
        limiter.take(f"bearer-{n}")
    assert len(limiter) <= 100
    for _ in range(60):
        limiter.take("busy")
    with pytest.raises(TooManyRequests):
        limiter.take("busy")  # the newest bucket is kept, and still counts


async def test_only_valid_tokens_get_a_bucket_and_guessing_is_slowed_per_address(service: Service) -> None:
    plan = await opened_plan(service)
    auth = service.app.state.auth
    buckets = len(auth.limiter)

    guesses = [
        await service.client.get(f"/v1/plans/{plan}/versions", headers={"Authorization": f"Bearer guess-{n}"})
        for n in range(60)
    ]

    assert {guess.status_code for guess in guesses} == {401}
    assert len(auth.limiter) == buckets  # no bucket per guessed token
    slowed = await service.client.get(f"/v1/plans/{plan}/versions", headers={"Authorization": "Bearer one-more"})
    assert slowed.status_code == 429
    assert "without a valid token from this address" in slowed.json()["detail"]
    assert (await service.client.get(f"/v1/plans/{plan}/versions", headers=service.admin)).status_code == 200


def test_feed_secrets_are_not_written_to_the_access_log(start_app: None, caplog: pytest.LogCaptureFixture) -> None:
    """As uvicorn logs a request (its own format and arguments), once an app has been made."""
    access = logging.getLogger(ACCESS_LOGGER)
    secret = "s3cr3t-feed-token"
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/v1/feeds/{secret}.ics?x=1", "1.1", 200)
    assert secret not in caplog.text
    assert '"GET /v1/feeds/[secret].ics?x=1 HTTP/1.1" 200' in caplog.text


# -- the page's own sessions ---------------------------------------------------------------------


async def test_the_cookie_is_a_session_that_signing_out_ends_on_the_server(service: Service) -> None:
    plan = await opened_plan(service)
    client, session = await signed_in(service, plan, "boss")
    stolen = httpx.AsyncClient(transport=service.client._transport, base_url="http://test")
    stolen.cookies.set(COOKIE, session, path=f"/plans/{plan}")
    assert 'name="token"' not in (await stolen.get(f"/plans/{plan}")).text  # the cookie signs in ...

    await client.post(f"/plans/{plan}/sign-out")

    after = await stolen.get(f"/plans/{plan}")  # ... until signed out, even where it was copied
    assert after.status_code == 401
    assert 'name="token"' in after.text


async def test_a_bearer_token_is_not_a_page_session_nor_a_session_a_bearer_token(service: Service) -> None:
    plan = await opened_plan(service)
    bearer = await service.token(plan, "boss")
    _, session = await signed_in(service, plan, "boss")
    client = httpx.AsyncClient(transport=service.client._transport, base_url="http://test")
    client.cookies.set(COOKIE, bearer["Authorization"].removeprefix("Bearer "), path=f"/plans/{plan}")

    assert (await client.get(f"/plans/{plan}")).status_code == 401
    api = await service.client.get(f"/v1/plans/{plan}/versions", headers={"Authorization": f"Bearer {session}"})
    assert api.status_code == 401


async def test_revoking_a_stakeholders_tokens_signs_their_pages_out(service: Service) -> None:
    plan = await opened_plan(service)
    client, _ = await signed_in(service, plan, "boss")

    revoked = await service.client.delete(f"/v1/plans/{plan}/stakeholders/boss/tokens", headers=service.admin)

    assert revoked.status_code in (200, 204), revoked.text
    assert (await client.get(f"/plans/{plan}")).status_code == 401


async def test_a_page_session_ends_after_twelve_hours(service: Service) -> None:
    plan = await opened_plan(service)
    client, session = await signed_in(service, plan, "boss")
    engine = create_engine(service.database_url)
    with Session(engine) as db, db.begin():
        db.execute(
            update(TokenRow)
            .where(TokenRow.token_hash == token_hash(session))
            .values(created_at=datetime.now(UTC) - PAGE_SESSION - timedelta(minutes=1))
        )
    engine.dispose()

    expired = await client.get(f"/plans/{plan}")

    assert expired.status_code == 401
    assert "sign in again" in expired.text
