"""Repeated requests over HTTP: the same schema as files, objections to ``ID#k``, one recurring calendar event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from icalendar import Calendar

from tests.factories import make_horizon, make_region, make_request, make_scenario, make_stakeholder

if TYPE_CHECKING:
    from tests.api.conftest import Service

pytestmark = pytest.mark.anyio


def weekly_plan() -> dict[str, Any]:
    return make_scenario(
        horizon=make_horizon(start="2026-03-02T00:00:00Z", end="2026-03-30T00:00:00Z"),
        regions=[make_region("de", timezone="Europe/Berlin", profile="consumer")],
        requests=[make_request("patch", duration="2h", repeat={"every": "1w", "count": 4})],
        stakeholders=[make_stakeholder("boss"), make_stakeholder("de-users", role="representative", regions=["de"])],
    )


async def test_a_veto_on_one_occurrence_moves_the_whole_series(service: Service) -> None:
    plan = await service.create_plan(weekly_plan())
    first = await service.latest(plan, service.admin)
    assert [w["request"] for w in first["windows"]] == ["patch#1", "patch#2", "patch#3", "patch#4"]
    (recurrence,) = first["recurrences"]
    assert recurrence["rrule"] == "FREQ=WEEKLY;INTERVAL=1;COUNT=4" and recurrence["zone"] == "Europe/Berlin"

    representative = await service.token(plan, "de-users")
    response = await service.client.post(
        f"/v1/plans/{plan}/objections", json={"request": "patch#3", "kind": "veto"}, headers=representative
    )
    assert response.status_code == 202, response.text
    second = await service.latest(plan, representative, at_least=2)

    assert set(second["moved"]) == {"patch#1", "patch#2", "patch#3", "patch#4"}
    assert len(second["windows"]) == 4 and second["recurrences"]
    feed = await service.client.get(f"/v1/plans/{plan}/calendar.ics", headers=representative)
    (event,) = Calendar.from_ical(feed.content).walk("VEVENT")
    assert event["RRULE"]["COUNT"] == [4]
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"


async def test_a_bad_repeat_is_a_422_naming_the_field(service: Service) -> None:
    body = weekly_plan()
    body["requests"][0]["repeat"] = {"every": "36h"}
    response = await service.client.post("/v1/plans", json=body, headers=service.admin)

    assert response.status_code == 422
    assert response.json()["field"] == "requests[0].repeat.every"
