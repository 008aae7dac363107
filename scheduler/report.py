"""The JSON output of docs/format.md section 6 (``schema_version: 1``), built from the engine's dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from scheduler.domain import Problem, Version, Window
from scheduler.explain import WhyHere, explain_version
from scheduler.negotiation import Replay, StepResult
from scheduler.timeline import SlotGrid, format_utc

SCHEMA_VERSION = 1
IMPACT_DIGITS = 12  # significant digits kept: sums of floats carry noise such as 90592500.00000001


def impact(value: float) -> float:
    """An impact as shown: rounded to ``IMPACT_DIGITS`` significant digits (the engine keeps its own)."""
    return float(f"{value:.{IMPACT_DIGITS}g}")


def impacts(by_region: Mapping[str, float]) -> dict[str, float]:
    """Impacts by region, each as shown."""
    return {region: impact(value) for region, value in by_region.items()}


def window_json(window: Window, grid: SlotGrid, why: WhyHere | None = None) -> dict[str, Any]:
    """One window as in docs/format.md section 6, with the added ``why`` explanation when given."""
    out: dict[str, Any] = {
        "request": window.request,
        "start": format_utc(window.start),
        "end": format_utc(window.end),
        "impact": impact(window.impact),
        "impact_by_region": impacts(window.impact_by_region),
    }
    if window.preferred_impact is not None:
        out["preferred_impact"] = impact(window.preferred_impact)
    if why is not None:
        out["why"] = {
            "alternatives": [
                {"start": format_utc(grid.instant(alt.start)), "impact": impact(alt.impact)} for alt in why.alternatives
            ],
            "cheaper_blocked_by": [
                {"rule": b.rule, "starts": b.starts, "cheapest_impact": impact(b.cheapest_impact)}
                for b in why.cheaper_blocked_by
            ],
        }
        if why.fixed is not None:
            out["why"]["fixed"] = why.fixed
    return out


def version_json(
    version: Version, problem: Problem, *, explain: bool = True, clock: Literal["live", "scenario"] = "scenario"
) -> dict[str, Any]:
    """One version as in docs/format.md section 6; ``explain`` adds each window's ``why``. ``clock`` says whose
    time ``now`` is: the server's (a live plan) or the scenario's (a replay or a rehearsal)."""
    why = explain_version(problem, version) if explain else {}
    return {
        "version": version.version,
        "clock": clock,
        "now": format_utc(version.now),
        "status": version.status,
        "objective": impact(version.objective),
        "bound": impact(version.bound),
        "approved": version.approved,
        "windows": [window_json(window, problem.grid, why.get(window.request)) for window in version.windows],
        "unscheduled": [{"request": item.request, "reasons": list(item.reasons)} for item in version.unscheduled],
        "moved": list(version.moved),
        "added": list(version.added),
        "removed": list(version.removed),
        "moved_announced": list(version.moved_announced),
        "recurrences": [
            {"request": r.request, "rrule": r.rrule, "dtstart": format_utc(r.dtstart), "zone": r.zone}
            for r in version.recurrences
        ],
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
            "impact": impact(counter.impact),
            "impact_by_region": impacts(counter.impact_by_region),
            "current_impact": None if counter.current_impact is None else impact(counter.current_impact),
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
