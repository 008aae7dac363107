"""Holidays and freeze calendars over HTTP: the same schema as files, ``ics_text`` for a calendar's text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.api.test_app import problem
from tests.api.test_review import signed_in
from tests.factories import make_horizon, make_region, make_request, make_scenario, make_stakeholder

if TYPE_CHECKING:
    from tests.api.conftest import Service

pytestmark = pytest.mark.anyio

FREEZE = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//team//freezes//EN
BEGIN:VEVENT
UID:monday-freeze
SUMMARY:Monday freeze
DTSTART;TZID=Europe/Berlin:20260302T000000
DTEND;TZID=Europe/Berlin:20260302T120000
RRULE:FREQ=WEEKLY;COUNT=2
END:VEVENT
END:VCALENDAR
"""


def scenario(event: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    return make_scenario(
        horizon=make_horizon(start="2026-03-01T00:00:00Z", end="2026-03-10T00:00:00Z"),
        regions=[make_region("iran", timezone="Asia/Tehran", country="IR"), make_region("de", country="DE")],
        events=[event],
        requests=[request],
        stakeholders=[make_stakeholder("boss")],
    )


async def test_a_plan_with_holidays_names_the_holiday_that_blocks_a_request(service: Service) -> None:
    # IR keeps 1-7 March 2026 as public holidays in the holidays calendar; the request must fit in the 3rd.
    request = make_request("r1", regions=["iran"], earliest="2026-03-02T22:00:00Z", deadline="2026-03-03T18:00:00Z")
    plan = await service.create_plan(scenario({"id": "holidays", "holidays": True, "blackout": True}, request))

    latest = await service.latest(plan, service.admin)

    assert latest["windows"] == []
    (unscheduled,) = latest["unscheduled"]
    assert "event:holidays:IR:2026-03-03" in unscheduled["reasons"]
    client, _ = await signed_in(service, plan, "boss")
    try:
        page = (await client.get(f"/plans/{plan}")).text
    finally:
        await client.aclose()
    assert 'data-id="event:holidays:IR:2026-03-03"' in page  # shaded, with the holiday's name on hover
    assert "Public Holiday: 2026-03-02T20:30:00Z" in page


async def test_a_plan_with_ics_text_keeps_windows_off_the_freeze(service: Service) -> None:
    request = make_request(
        "r1", regions=["de"], duration="2h", earliest="2026-03-01T23:00:00Z", deadline="2026-03-02T14:00:00Z"
    )
    event = {"id": "freeze", "ics_text": FREEZE, "blackout": True}
    plan = await service.create_plan(scenario(event, request))

    latest = await service.latest(plan, service.admin)

    (window,) = latest["windows"]
    assert window["start"] >= "2026-03-02T11:00:00Z"  # the freeze ends at noon Berlin time


async def test_a_broken_ics_text_is_a_422_naming_the_field_and_line(service: Service) -> None:
    broken = FREEZE.replace("RRULE:FREQ=WEEKLY;COUNT=2", "RRULE:FREQ=FORTNIGHTLY")
    event = {"id": "freeze", "ics_text": broken, "blackout": True}
    response = await service.client.post("/v1/plans", json=scenario(event, make_request()), headers=service.admin)

    body = problem(response, 422)
    assert body["field"] == "events[0].ics_text"
    assert "line 9: RRULE" in body["detail"]


async def test_a_calendar_file_name_over_http_is_a_422_asking_for_its_text(service: Service) -> None:
    event = {"id": "freeze", "ics": "freezes.ics", "blackout": True}
    response = await service.client.post("/v1/plans", json=scenario(event, make_request()), headers=service.admin)

    assert "ics_text" in problem(response, 422)["detail"]
