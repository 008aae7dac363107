"""The review page against other sites and guessers (issue: the service under load, faults and
hostile input): security headers, sign-in only from this site's form, never with the admin token,
and at most ten tries a minute from one address; the rate limiter's memory stays bounded; feed
secrets stay out of the access log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from api.access_log import ACCESS_LOGGER
from api.app import create_app
from api.deps import RateLimiter
from api.errors import TooManyRequests
from api.settings import Settings
from tests.api.test_review import opened_plan

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
