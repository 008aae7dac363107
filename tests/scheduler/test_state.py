"""A negotiation's stored state: problems and versions round-trip through JSON, and a restored
negotiation goes on exactly as the one it was stored from."""

from __future__ import annotations

import json

from scheduler.negotiation import Negotiation
from scheduler.report import version_json
from scheduler.scenario import load_data, load_step
from scheduler.state import (
    load_negotiation_state,
    load_problem,
    load_version,
    negotiation_state_json,
    problem_json,
)
from tests.factories import make_event, make_objection, make_region, make_request, make_scenario, make_stakeholder


def busy_scenario() -> dict[str, object]:
    """Two regions, every kind of request field, events, objections and an approval."""
    return make_scenario(
        services={"web": 0.6, "mobile": 0.4},
        regions=[
            make_region("eu", profile="consumer"),
            make_region("us", timezone="America/New_York", profile="business", services={"web": 0.5}),
        ],
        events=[
            make_event("launch", weight=3),
            make_event("freeze", start="2026-03-03T02:00:00Z", end="2026-03-03T04:00:00Z", weight=None, blackout=True),
        ],
        requests=[
            make_request(
                "db",
                duration="90m",
                resources=["db-1"],
                notice="2h",
                preferred="2026-03-02T03:00:00Z",
                requested_by="ops",
            ),
            make_request(
                "app", after=["db"], regions=["us"], services=["web"], severity=0.5, deadline="2026-03-03T20:00:00Z"
            ),
            make_request("cache", resources=["db-1"], earliest="2026-03-02T06:00:00Z"),
        ],
        stakeholders=[
            make_stakeholder("ops", "requester"),
            make_stakeholder("eu-rep", "representative", regions=["eu"]),
            make_stakeholder("boss", "approver"),
            make_stakeholder("boss2", "approver"),
        ],
        negotiation=[
            make_objection("db", "eu-rep", kind="soft", weight=4, at="2026-03-02T01:00:00Z"),
            {"action": "approve", "by": "boss"},
            make_objection("cache", "boss", avoid=[{"start": "2026-03-02T06:00:00Z", "end": "2026-03-02T09:00:00Z"}]),
            {"action": "override_veto", "by": "boss", "veto": "veto:2"},
        ],
    )


def opened() -> Negotiation:
    scenario = load_data(busy_scenario())
    negotiation = Negotiation.open(scenario.problem, time_limit_s=5.0)
    for step in scenario.steps:
        negotiation.apply(step)
    return negotiation


def through_json(negotiation: Negotiation) -> Negotiation:
    """The negotiation as a service stores it (JSON text) and restores it."""
    stored = json.loads(
        json.dumps(
            {
                "versions": [
                    version_json(v, p, explain=False)
                    for v, p in zip(negotiation.versions, negotiation.problems, strict=True)
                ],
                "problems": [problem_json(p) for p in negotiation.problems],
                "state": negotiation_state_json(negotiation.state()),
            }
        )
    )
    return Negotiation.restore(
        [load_version(body) for body in stored["versions"]],
        [load_problem(problem) for problem in stored["problems"]],
        load_negotiation_state(stored["state"]),
        time_limit_s=5.0,
    )


def test_problems_versions_and_state_round_trip_through_json() -> None:
    negotiation = opened()
    restored = through_json(negotiation)

    assert restored.problems == negotiation.problems
    assert restored.versions == negotiation.versions
    assert restored.problem == negotiation.problem
    assert (restored.announced, restored.pinned, restored.withdrawn, restored.overrides) == (
        negotiation.announced,
        negotiation.pinned,
        negotiation.withdrawn,
        negotiation.overrides,
    )
    assert negotiation.overrides == {"veto:2": "boss"}  # the override waits for a second approver
    assert negotiation.announced  # the approval announced the windows of version 2


def test_a_restored_negotiation_goes_on_as_the_original_would() -> None:
    original = opened()
    restored = through_json(original)
    steps = [
        {"action": "override_veto", "by": "boss2", "veto": "veto:2"},  # the second approver lifts it
        make_objection("app", "boss", kind="soft", at="2026-03-02T02:00:00Z"),
    ]

    for index, step in enumerate(steps, start=10):
        for negotiation in (original, restored):
            negotiation.apply(load_step(step, index=index, problem=negotiation.problem))

    assert restored.versions == original.versions
    assert restored.problem == original.problem
