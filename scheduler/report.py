"""The JSON output of SPEC section 8 (``schema_version: 1``), built from the engine's dataclasses."""

from __future__ import annotations

from typing import Any, Literal

from scheduler.domain import Problem, Version, Window
from scheduler.explain import WhyHere, explain_version
from scheduler.negotiation import Replay, StepResult
from scheduler.timeline import SlotGrid, format_utc

SCHEMA_VERSION = 1


def window_json(window: Window, grid: SlotGrid, why: WhyHere | None = None) -> dict[str, Any]:
    """One window as in SPEC section 8, with the added ``why`` explanation when given."""
    out: dict[str, Any] = {
        "request": window.request,
        "start": format_utc(window.start),
        "end": format_utc(window.end),
        "impact": window.impact,
        "impact_by_region": dict(window.impact_by_region),
    }
    if window.preferred_impact is not None:
        out["preferred_impact"] = window.preferred_impact
    if why is not None:
        out["why"] = {
            "alternatives": [
                {"start": format_utc(grid.instant(alt.start)), "impact": alt.impact} for alt in why.alternatives
            ],
            "cheaper_blocked_by": [
                {"rule": b.rule, "starts": b.starts, "cheapest_impact": b.cheapest_impact}
                for b in why.cheaper_blocked_by
            ],
        }
    return out


def version_json(
    version: Version, problem: Problem, *, explain: bool = True, clock: Literal["live", "scenario"] = "scenario"
) -> dict[str, Any]:
    """One version as in SPEC section 8; ``explain`` adds each window's ``why``. ``clock`` says whose
    time ``now`` is: the server's (a live plan) or the scenario's (a replay or a rehearsal)."""
    why = explain_version(problem, version) if explain else {}
    return {
        "version": version.version,
        "clock": clock,
        "now": format_utc(version.now),
        "status": version.status,
        "objective": version.objective,
        "bound": version.bound,
        "approved": version.approved,
        "windows": [window_json(window, problem.grid, why.get(window.request)) for window in version.windows],
        "unscheduled": [{"request": item.request, "reasons": list(item.reasons)} for item in version.unscheduled],
        "moved": list(version.moved),
        "added": list(version.added),
        "removed": list(version.removed),
        "moved_announced": list(version.moved_announced),
    }


def step_json(step: StepResult) -> dict[str, Any]:
    """One replayed step: accepted with the version it produced, or refused with a reason."""
    out: dict[str, Any] = {"index": step.index, "action": step.action, "by": step.by, "accepted": step.accepted}
    if step.version is not None:
        out["version"] = step.version
    if step.reason is not None:
        out["reason"] = step.reason
    if step.counter is not None:
        counter = step.counter
        out["counter"] = {
            "start": format_utc(counter.start),
            "impact": counter.impact,
            "impact_by_region": dict(counter.impact_by_region),
            "current_impact": counter.current_impact,
            "allowed": counter.allowed,
            "blocked_by": list(counter.blocked_by),
        }
    return out


def replay_json(replay: Replay) -> dict[str, Any]:
    """The whole run: every step and every version, the last being the final one."""
    return {
        "schema_version": SCHEMA_VERSION,
        "scenario": replay.scenario,
        "slot_minutes": replay.slot_minutes,
        "steps": [step_json(step) for step in replay.steps],
        "versions": [
            version_json(version, problem) for version, problem in zip(replay.versions, replay.problems, strict=True)
        ],
    }
