"""The review page in a real browser: Debian's Chromium driven by Playwright against a live server.

Skipped, with the reason, where Playwright or Chromium is missing or the browser cannot start.
The screenshots are kept in ``test-artifacts/`` (or ``$NEGOTIATOR_TEST_ARTIFACTS``) to be looked at:
``review-page*.png`` for a small plan, ``global-saas-week-{1400,420}*.png`` for a real-sized one.
"""

from __future__ import annotations

import json
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
from scheduler.scenario import read_document
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
BIG_PLAN = Path(__file__).resolve().parents[2] / "scenarios" / "global-saas-week.yaml"


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


@pytest.fixture(scope="module")
def big_plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """``global-saas-week`` (34 windows over 14 regions) on a live server: base URL, plan, and a
    representative's token."""
    database = tmp_path_factory.mktemp("big") / "page.db"
    settings = Settings(database_url=f"sqlite:///{database}", admin_token="admin-secret", poll_s=0.05)
    scenario = json.loads(json.dumps(read_document(BIG_PLAN), default=str))
    with serving(lambda base: create_app(settings.model_copy(update={"public_url": base}))) as base:
        with httpx.Client(base_url=base, headers=ADMIN, timeout=30) as client:
            plan = client.post("/v1/plans", params={"clock": "scenario"}, json=scenario).json()["id"]
            token = client.post(f"/v1/plans/{plan}/stakeholders/emea-customers/tokens").json()["token"]
        yield base, plan, token


def signed_in_page(browser: Any, big_plan: tuple[str, str, str], width: int) -> Any:
    """The big plan's page at ``width`` pixels, once every opening change is solved."""
    base, plan, token = big_plan
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{base}/plans/{plan}")
    page.fill("input[name=token]", token)
    page.click("#sign-in button")
    page.wait_for_function(
        "() => document.querySelector('#heatmap') && document.querySelector('[data-pending]').dataset.pending === '0'",
        timeout=120_000,
    )
    return page


def overlapping(boxes: list[dict[str, float]]) -> list[tuple[int, int]]:
    """The pairs of boxes (as the browser lays them out) that overlap."""
    return [
        (i, j)
        for i, a in enumerate(boxes)
        for j, b in enumerate(boxes[:i])
        if a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    ]


def test_a_real_sized_plan_at_desktop_width_labels_every_window_and_keeps_the_chart_in_view(
    browser: Any, big_plan: tuple[str, str, str]
) -> None:
    page = signed_in_page(browser, big_plan, 1400)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "global-saas-week-1400.png"))
    page.screenshot(path=str(ARTIFACTS / "global-saas-week-1400-full.png"), full_page=True)

    cards = page.locator("details.window-card")
    numbers = page.locator("#heatmap .window-bar text")
    assert numbers.count() == cards.count() >= 30
    assert numbers.all_text_contents() == [str(n) for n in range(1, cards.count() + 1)]
    labels = [numbers.nth(i).bounding_box() for i in range(numbers.count())]
    assert overlapping(labels) == []
    assert min(label["height"] for label in labels) >= 9  # legible: about 10 px text
    assert page.locator("#heatmap .axis text.hour").count() >= 7 * 4  # hours on every day
    assert page.locator("#heatmap .soft, #heatmap .veto").count() >= 1
    assert all(cards.nth(i).bounding_box()["height"] < 40 for i in range(cards.count()))  # one line each

    # Scrolled down to a window's line halfway down the list, the chart is still on screen.
    cards.nth(cards.count() // 2).scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 500
    chart = page.locator("#chart").bounding_box()
    assert chart["y"] >= 0 and chart["y"] + chart["height"] <= 900
    page.screenshot(path=str(ARTIFACTS / "global-saas-week-1400-scrolled.png"))
    # Following a window's number opens its line.
    page.locator("#heatmap .window-bar text").first.click()
    page.wait_for_function("() => document.querySelector('details.window-card').open", timeout=5_000)


def test_a_real_sized_plan_works_at_phone_width(browser: Any, big_plan: tuple[str, str, str]) -> None:
    page = signed_in_page(browser, big_plan, 420)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "global-saas-week-420.png"))
    page.screenshot(path=str(ARTIFACTS / "global-saas-week-420-full.png"), full_page=True)

    assert page.evaluate("document.documentElement.scrollWidth") <= 420  # only the chart scrolls sideways
    wrap = page.locator(".chart-wrap").bounding_box()
    first = page.locator("#heatmap .window-bar rect").first.bounding_box()
    assert wrap["x"] <= first["x"] and first["x"] + first["width"] <= wrap["x"] + wrap["width"]
    assert page.locator("#heatmap .window-bar text").first.bounding_box()["height"] >= 8

    # Scrolled to the week's end, the region names are still at the chart's left edge.
    page.locator(".chart-wrap").evaluate("wrap => { wrap.scrollLeft = wrap.scrollWidth; }")
    page.wait_for_function("() => document.querySelector('#heatmap .labels').getAttribute('transform')")
    region = page.locator("#heatmap .labels .region").first.bounding_box()
    wrap = page.locator(".chart-wrap").bounding_box()
    assert wrap["x"] <= region["x"] < wrap["x"] + 40
    page.screenshot(path=str(ARTIFACTS / "global-saas-week-420-scrolled.png"))
    for field in ("avoid_start", "avoid_end", "reason"):
        box = page.locator(f"input[name={field}]").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 420
