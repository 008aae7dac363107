"""The review page in a real browser: Debian's Chromium driven by Playwright against a live server.

Skipped, with the reason, where Playwright or Chromium is missing or the browser cannot start.
The screenshot is kept in ``test-artifacts/`` (or ``$NEGOTIATOR_TEST_ARTIFACTS``) to be looked at.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from tests.api.test_app import plan_scenario
from tests.live import serving

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

CHROMIUM = os.environ.get("NEGOTIATOR_CHROMIUM", "/usr/bin/chromium")
# As root in a container, with no network beyond localhost: no sandbox, no background connections.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(os.environ.get("NEGOTIATOR_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set NEGOTIATOR_CHROMIUM)")
    with playwright.sync_playwright() as driver:
        try:
            launched = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        except playwright.Error as failure:
            pytest.skip(f"Chromium did not start: {str(failure).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'page.db'}", admin_token="admin-secret", poll_s=0.05)
    with serving(lambda base: create_app(settings.model_copy(update={"public_url": base}))) as base:
        yield base


def new_plan(base: str) -> tuple[str, dict[str, str]]:
    """A rehearsal of ``plan_scenario()`` once its opening versions are solved; tokens by stakeholder.

    A rehearsal keeps the scenario's March 2026 clock: a live plan would start on today's.
    """
    with httpx.Client(base_url=base, headers=ADMIN, timeout=10) as client:
        plan = client.post("/v1/plans", params={"clock": "scenario"}, json=plan_scenario()).json()["id"]
        tokens = {
            who: client.post(f"/v1/plans/{plan}/stakeholders/{who}/tokens").json()["token"]
            for who in ("boss", "rep-eu")
        }
        deadline = time.monotonic() + 10
        while len(client.get(f"/v1/plans/{plan}/versions").json()) < 3:
            assert time.monotonic() < deadline, "the opening versions were not solved"
            time.sleep(0.02)
    return plan, tokens


def test_a_stakeholder_signs_in_sees_the_schedule_objects_and_sees_the_new_version(browser: Any, live: str) -> None:
    plan, tokens = new_plan(live)
    page = browser.new_page(viewport={"width": 1280, "height": 900})

    page.goto(f"{live}/plans/{plan}")
    page.fill("input[name=token]", tokens["boss"])
    page.click("#sign-in button")

    heatmap = page.locator("#heatmap")
    heatmap.wait_for()
    assert heatmap.bounding_box()["width"] > 600
    assert page.locator("#heatmap .cells rect").count() == 2 * 48  # two regions, 48 hourly columns
    assert page.locator("#heatmap .night").count() >= 4
    windows = page.locator("#heatmap g.window")
    assert sorted(windows.nth(i).get_attribute("data-request") for i in range(windows.count())) == ["r1", "r2"]
    assert page.locator("#heatmap rect.veto").count() == 1
    assert page.locator("#version-number").inner_text() == "Version 3"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-page.png"), full_page=True)

    # A veto on r1's current window, from the form: the page follows the solver to version 4.
    page.select_option("select[name=request]", "r1")
    page.check("input[name=kind][value=veto]")
    page.fill("input[name=reason]", "change freeze")
    page.click("#object-form button")

    # The page may first show the change pending (with or without version 4): it polls until both are in.
    page.wait_for_function(
        """() => document.querySelector('#version-number').textContent === 'Version 4'
            && document.querySelector('#message').textContent.endsWith('(object) is accepted')""",
        timeout=15_000,
    )
    assert page.locator("#heatmap rect.veto").count() == 2
    assert "change freeze" in page.locator("#versions").inner_text()
    page.screenshot(path=str(ARTIFACTS / "review-page-after-veto.png"), full_page=True)


def test_a_representative_approve_button_is_absent_and_forged_posts_fail(browser: Any, live: str) -> None:
    plan, tokens = new_plan(live)
    page = browser.new_page()
    page.goto(f"{live}/plans/{plan}")
    page.fill("input[name=token]", tokens["rep-eu"])
    page.click("#sign-in button")
    page.locator("#heatmap").wait_for()

    assert page.locator("#approve-form").count() == 0
    # Another site's page posting to the form with the stakeholder's cookie is refused.
    forged = page.evaluate(
        """async (plan) => {
            const body = new URLSearchParams({request: "r1", kind: "veto", csrf: "forged"});
            const response = await fetch(`/plans/${plan}/object`, {method: "POST", body});
            return response.status;
        }""",
        plan,
    )
    assert forged == 403
