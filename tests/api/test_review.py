"""The review page, in-process: sign-in, what the page shows, and forms guarded by the API's rules
and against cross-site requests. The page in a real browser is in test_review_browser.py."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest

from api.routes.review import COOKIE, csrf_token
from api.runtime.solver import Solver
from api.runtime.states import Plans
from tests.api.test_app import plan_scenario, post_change
from tests.factories import make_request

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from scheduler.negotiation import Replay
    from tests.api.conftest import Service, Start

pytestmark = pytest.mark.anyio


async def signed_in(service: Service, plan: str, stakeholder: str) -> tuple[httpx.AsyncClient, str]:
    """A client of its own with the stakeholder signed in to the page; and the page's session."""
    token = (await service.token(plan, stakeholder))["Authorization"].removeprefix("Bearer ")
    transport = service.client._transport
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    response = await client.post(f"/plans/{plan}/sign-in", data={"token": token})
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert f"Path=/plans/{plan}" in cookie
    session = client.cookies[COOKIE]
    assert session != token  # the cookie is a session of the page's own, not the bearer token
    return client, session


async def opened_plan(service: Service) -> str:
    plan = await service.create_plan(plan_scenario())
    await service.versions(plan, service.admin, at_least=3)
    return plan


async def test_the_page_asks_for_a_token_and_refuses_a_wrong_one(service: Service) -> None:
    plan = await opened_plan(service)

    page = await service.client.get(f"/plans/{plan}")
    assert page.status_code == 200
    assert 'action="/plans/' in page.text
    assert 'name="token"' in page.text

    wrong = await service.client.post(f"/plans/{plan}/sign-in", data={"token": "guess"})
    assert wrong.status_code == 401
    assert "not valid for this plan" in wrong.text
    assert "set-cookie" not in wrong.headers


async def test_the_page_shows_heatmap_windows_versions_and_objections(service: Service) -> None:
    plan = await opened_plan(service)
    client, _ = await signed_in(service, plan, "rep-eu")
    latest = await service.latest(plan, service.admin)

    page = (await client.get(f"/plans/{plan}")).text

    assert '<svg id="heatmap"' in page
    assert page.count('class="night"') >= 2  # eu and us each have nights in two days
    for window in latest["windows"]:
        assert f'class="window" data-request="{window["request"]}"' in page
        assert window["start"] in page
    assert 'class="veto" data-id="veto:0"' in page  # the opening veto, shaded
    assert 'class="soft" data-id="soft:1"' in page  # and rep-eu's soft objection
    assert re.search(r"Version 3</strong>", page)
    assert "rule <code>veto:0</code>" in page
    assert "Why here?" in page
    assert page.count("Next best allowed starts:") == len(latest["windows"])
    assert 'id="object-form"' in page  # rep-eu may object to r1
    assert 'id="approve-form"' not in page  # but not approve


async def test_every_window_is_numbered_on_the_chart_and_in_the_list_in_time_order(service: Service) -> None:
    plan = await opened_plan(service)
    client, _ = await signed_in(service, plan, "rep-eu")
    latest = await service.latest(plan, service.admin)
    in_time_order = [w["request"] for w in sorted(latest["windows"], key=lambda w: (w["start"], w["request"]))]

    page = (await client.get(f"/plans/{plan}")).text

    bars = re.findall(r'<g class="window-bar" data-request="([^"]+)">.*?<text [^>]*>(\d+)</text>', page)
    assert bars == [(request, str(n)) for n, request in enumerate(in_time_order, start=1)]
    cards = re.findall(
        r'<details class="window-card" id="window-([^"]+)".*?<span class="number">(\d+)</span>', page, re.S
    )
    assert cards == bars
    for request in in_time_order:  # the chart's outline and bar both link to the list's line
        assert page.count(f'href="#window-{request}"') == 2
    hours = re.findall(r'<text class="hour"[^>]*>(\d\d)</text>', page)
    assert {"00", "06", "12", "18"} <= set(hours)  # two days of 48 columns: a label every few hours


async def test_the_forms_examples_come_from_the_plan(service: Service) -> None:
    plan = await opened_plan(service)
    client, _ = await signed_in(service, plan, "rep-eu")

    page = (await client.get(f"/plans/{plan}")).text

    example = re.search(r'name="avoid_end" value="" placeholder="e\.g\. ([^"]+)"', page)
    assert example is not None
    assert re.fullmatch(r"2026-03-0\d \d\d:\d\d Europe/Paris", example[1])  # rep-eu's region, the plan's days
    assert "Tehran" not in page


async def test_the_version_list_names_what_each_change_was_about(service: Service) -> None:
    plan = await opened_plan(service)
    submitted = make_request("r3", duration="1h", regions=["us"])
    change = await post_change(service, f"/v1/plans/{plan}/requests", submitted, await service.token(plan, "req"))
    assert (await service.settled(plan, change, service.admin))["status"] == "accepted"
    client, _ = await signed_in(service, plan, "rep-eu")

    versions = (await client.get(f"/plans/{plan}")).text.split('id="versions"')[1]

    assert "submit <code>r3</code> by req" in versions
    assert "object (soft) <code>r1</code> by rep-eu" in versions


async def test_an_observer_sees_no_forms(service: Service) -> None:
    plan = await opened_plan(service)
    client, _ = await signed_in(service, plan, "watcher")

    page = (await client.get(f"/plans/{plan}")).text

    assert 'id="object-form"' not in page
    assert 'id="approve-form"' not in page
    assert "You can read this plan" in page


async def test_an_objection_from_the_page_becomes_a_new_version(service: Service) -> None:
    plan = await opened_plan(service)
    client, token = await signed_in(service, plan, "rep-eu")
    form = {"csrf": csrf_token(token, plan), "request": "r1", "kind": "soft", "weight": "4", "reason": "launch day"}

    sent = await client.post(f"/plans/{plan}/object", data=form, headers={"origin": "http://test"})

    assert sent.status_code == 303
    change = int(sent.headers["location"].rsplit("=", 1)[1])
    outcome = await service.settled(plan, change, service.admin)
    assert outcome["status"] == "accepted"
    assert outcome["by"] == "rep-eu"
    assert outcome["step"]["weight"] == 4
    page = (await client.get(sent.headers["location"])).text
    assert f"your change #{change} (object) is accepted" in page
    assert "Version 4</strong>" in page


@pytest.mark.parametrize("stored", ["before", "after"])
async def test_a_version_stored_while_the_page_is_read_leaves_it_waiting_for_that_version(
    start: Start, monkeypatch: pytest.MonkeyPatch, stored: str
) -> None:
    """The solver stores a version while the page reads the plan (just before or just after the page
    takes the solved history): the page shows the versions and changes it read together, so it still
    says the change is pending and polls for the new version, never the old version with nothing
    pending (a page that would never reload)."""
    async with start(solver=False) as service:
        solver: Solver = service.app.state.runtime.solver
        plan = await service.create_plan(plan_scenario())
        solver.solve(plan)
        client, token = await signed_in(service, plan, "rep-eu")
        form = {"csrf": csrf_token(token, plan), "request": "r1", "kind": "soft", "weight": "4"}
        sent = await client.post(f"/plans/{plan}/object", data=form, headers={"origin": "http://test"})
        assert sent.status_code == 303

        history = Plans.history

        def solved_meanwhile(plans: Plans, session: Session, plan_id: str) -> Replay | None:
            if stored == "before":
                solver.solve(plan_id)
            found = history(plans, session, plan_id)
            if stored == "after":
                solver.solve(plan_id)
            return found

        monkeypatch.setattr(Plans, "history", solved_meanwhile)
        page = (await client.get(sent.headers["location"])).text
        monkeypatch.undo()

        assert 'data-version="3" data-pending="1"' in page
        assert "(object) is pending" in page
        assert "Version 4</strong>" not in page
        status = (await client.get(f"/plans/{plan}/status")).json()
        assert status == {"version": 4, "pending": 0}  # what the page's script polls for, then reloads
        page = (await client.get(sent.headers["location"])).text
        assert 'data-version="4" data-pending="0"' in page
        assert "(object) is accepted" in page


async def test_forms_follow_the_api_authority_rules(service: Service) -> None:
    plan = await opened_plan(service)
    client, token = await signed_in(service, plan, "rep-us")  # r1 is in eu: outside rep-us's scope
    form = {"csrf": csrf_token(token, plan), "request": "r1", "kind": "veto"}

    refused = await client.post(f"/plans/{plan}/object", data=form)

    assert refused.status_code == 403
    assert "refused: outside scope" in refused.text
    approve = await client.post(f"/plans/{plan}/approve", data={"csrf": csrf_token(token, plan), "version": "3"})
    assert approve.status_code == 403
    assert "a representative cannot" in approve.text


async def test_a_bad_form_value_is_refused_naming_the_field(service: Service) -> None:
    plan = await opened_plan(service)
    client, token = await signed_in(service, plan, "boss")
    form = {"csrf": csrf_token(token, plan), "request": "r1", "kind": "veto", "avoid_start": "tomorrow"}

    refused = await client.post(f"/plans/{plan}/object", data=form)

    assert refused.status_code == 422
    assert "avoid" in refused.text
    assert "Traceback" not in refused.text


async def test_a_refused_objection_keeps_what_was_typed_and_names_the_field_as_the_form_does(service: Service) -> None:
    plan = await opened_plan(service)
    client, token = await signed_in(service, plan, "boss")
    typed = {
        "request": "r2",
        "kind": "veto",
        "avoid_start": "2026-03-02 09:00 Europe/Paris",
        "avoid_end": "half past ten",
        "reason": "board meeting",
    }

    refused = await client.post(f"/plans/{plan}/object", data={"csrf": csrf_token(token, plan), **typed})

    assert refused.status_code == 422
    message = re.search(r'<p class="message error"[^>]*>(.*?)</p>', refused.text, re.S)
    assert message is not None
    assert message[1].startswith("refused: “to”: ")  # the form's label, not avoid[0].end
    assert "avoid[0]" not in message[1]
    assert '<option value="r2" selected>' in refused.text
    assert 'value="veto" checked' in refused.text
    for field in ("avoid_start", "avoid_end", "reason"):
        assert f'name="{field}" value="{typed[field]}"' in refused.text


async def test_approving_a_stale_version_from_the_page_is_a_conflict(service: Service) -> None:
    plan = await opened_plan(service)
    client, token = await signed_in(service, plan, "boss")

    stale = await client.post(f"/plans/{plan}/approve", data={"csrf": csrf_token(token, plan), "version": "2"})

    assert stale.status_code == 409
    assert "not the latest" in stale.text


@pytest.mark.parametrize(
    ("csrf", "headers"),
    [
        ("", {}),
        ("0" * 64, {}),
        (None, {"origin": "http://evil.example"}),
        (None, {"sec-fetch-site": "cross-site"}),
    ],
    ids=["no token", "wrong token", "foreign origin", "cross-site fetch"],
)
async def test_cross_site_form_posts_are_refused(service: Service, csrf: str | None, headers: dict[str, str]) -> None:
    plan = await opened_plan(service)
    client, token = await signed_in(service, plan, "boss")
    changes_before = len((await service.client.get(f"/v1/plans/{plan}/audit", headers=service.admin)).json()["entries"])
    form = {"csrf": csrf_token(token, plan) if csrf is None else csrf, "request": "r1", "kind": "veto"}

    refused = await client.post(f"/plans/{plan}/object", data=form, headers=headers)

    assert refused.status_code == 403
    assert "did not come from this page" in refused.text
    audit = (await service.client.get(f"/v1/plans/{plan}/audit", headers=service.admin)).json()["entries"]
    assert len(audit) == changes_before


async def test_a_form_without_the_cookie_asks_to_sign_in(service: Service) -> None:
    plan = await opened_plan(service)
    response = await service.client.post(f"/plans/{plan}/object", data={"request": "r1", "kind": "veto"})
    assert response.status_code == 401
    assert 'name="token"' in response.text


async def test_signing_out_forgets_the_token(service: Service) -> None:
    plan = await opened_plan(service)
    client, _ = await signed_in(service, plan, "boss")

    out = await client.post(f"/plans/{plan}/sign-out")

    assert out.status_code == 303
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert 'name="token"' in (await client.get(f"/plans/{plan}")).text


async def test_the_page_is_served_with_its_own_assets(service: Service) -> None:
    plan = await opened_plan(service)
    client, _ = await signed_in(service, plan, "boss")
    page = (await client.get(f"/plans/{plan}")).text

    assets = re.findall(r'(?:href|src)="(/[^"]+\.(?:css|js))"', page)

    assert sorted(assets) == ["/static/review.css", "/static/review.js"]
    for asset in assets:
        assert (await client.get(asset)).status_code == 200
    assert "http://" not in page.split("<body>")[0] and "https://" not in page  # no CDN
