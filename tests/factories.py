"""Plain factories for tests: scenario pieces in the file format (docs/format.md section 2), as Python dicts.

Each ``make_*`` returns a fresh, minimal, valid piece; keyword arguments replace its keys.
``make_scenario()`` is a whole valid scenario: two days (2026-03-02 00:00 UTC to 2026-03-04
00:00 UTC) in 60-minute slots, one region ``eu`` (Europe/Paris, 1000 users, flat profile) and
one one-hour request ``r1``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

HORIZON_START = "2026-03-02T00:00:00Z"
HORIZON_END = "2026-03-04T00:00:00Z"


def make_horizon(**overrides: Any) -> dict[str, Any]:
    """A two-day horizon in 60-minute slots."""
    return {"start": HORIZON_START, "end": HORIZON_END, "slot_minutes": 60, **overrides}


def make_region(id: str = "eu", **overrides: Any) -> dict[str, Any]:
    """A region of 1000 users in Europe/Paris with the flat profile."""
    return {"id": id, "timezone": "Europe/Paris", "users": 1000, "profile": "flat", **overrides}


def make_request(id: str = "r1", **overrides: Any) -> dict[str, Any]:
    """A one-hour request that may go anywhere in the horizon."""
    return {"id": id, "duration": "1h", **overrides}


def make_event(id: str = "e1", **overrides: Any) -> dict[str, Any]:
    """A weight-2 event over the first day of the horizon, covering every region and service."""
    return {"id": id, "start": HORIZON_START, "end": "2026-03-03T00:00:00Z", "weight": 2, **overrides}


def make_stakeholder(id: str = "s1", role: str = "approver", **overrides: Any) -> dict[str, Any]:
    """A stakeholder whose scope is everything (no regions/services given)."""
    return {"id": id, "role": role, **overrides}


def make_step(action: str = "approve", by: str = "s1", **overrides: Any) -> dict[str, Any]:
    """A negotiation step; add the fields its action needs (``request``, ``kind``, ...)."""
    return {"action": action, "by": by, **overrides}


def make_objection(request: str = "r1", by: str = "s1", kind: str = "veto", **overrides: Any) -> dict[str, Any]:
    """An ``object`` step on ``request``."""
    return make_step("object", by, request=request, kind=kind, **overrides)


def make_scenario(**overrides: Any) -> dict[str, Any]:
    """A minimal valid scenario; keyword arguments replace top-level keys."""
    scenario: dict[str, Any] = {
        "name": "test-scenario",
        "horizon": make_horizon(),
        "regions": [make_region()],
        "requests": [make_request()],
    }
    scenario.update(overrides)
    return scenario


def write_scenario(directory: Path, scenario: dict[str, Any], name: str = "scenario.yaml") -> Path:
    """Write ``scenario`` as YAML (or JSON if ``name`` ends in .json) into ``directory``; return its path."""
    path = directory / name
    if path.suffix == ".json":
        path.write_text(json.dumps(scenario, indent=2, default=str), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    return path
