"""What the review page shows, worked out from a plan's history: the heatmap (``api.chart``), the
windows with their impact and "why here", the versions and the objections, the forms' examples.
No HTTP here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.chart import chart
from scheduler.authority import may
from scheduler.domain import Problem, Stakeholder, Version
from scheduler.explain import explain_version, rule_text
from scheduler.heatmap import heatmap
from scheduler.negotiation import Replay
from scheduler.report import window_json
from scheduler.timeline import format_local, format_span, format_utc, to_local

# How the form's fields are named on the page, for refusals that name a field by its path.
FORM_FIELDS = {
    "avoid[0].start": "“Avoid from”",
    "avoid[0].end": "“to”",
    "avoid": "the range to avoid",
    "weight": "the weight",
    "reason": "the reason",
    "request": "the request",
    "kind": "the kind",
}


def windows(version: Version, problem: Problem, numbers: Mapping[str, int]) -> list[dict[str, Any]]:
    """Each window as in the JSON output (with ``why``), in time order, plus its number on the
    chart, its title, when in words, whether it moved, and its impact by region with the local time
    there."""
    why = explain_version(problem, version)
    zones = {region.id: region.timezone for region in problem.regions}
    return [
        {
            **window_json(window, problem.grid, why.get(window.request)),
            "number": numbers.get(window.request),
            "title": problem.request_by_id[window.request].title,
            "when": format_span(window.start, window.end),
            "moved": window.request in version.moved,
            "regions": [
                {
                    "region": region,
                    "impact": impact,
                    "local": f"{to_local(window.start, zones[region]):%a %H:%M}"
                    f"–{to_local(window.end, zones[region]):%H:%M}",
                }
                for region, impact in sorted(window.impact_by_region.items(), key=lambda item: -item[1])
            ],
        }
        for window in sorted(version.windows, key=lambda window: (window.start, window.request))
    ]


def objectable(problem: Problem, version: Version, stakeholder: Stakeholder | None) -> list[dict[str, str]]:
    """The windows a stakeholder may object to: approvers any, representatives those meeting their scope."""
    out = []
    for window in version.windows:
        request = problem.request_by_id[window.request]
        if may(stakeholder, "object", request=request):
            out.append({"request": request.id, "title": request.title, "start": format_utc(window.start)})
    return out


def example_end(problem: Problem, version: Version, stakeholder: Stakeholder | None) -> str:
    """The "to" field's example: the first window's length and a slot after it ends, in the zone of
    the stakeholder's first region (else the plan's first region)."""
    first = min(version.windows, key=lambda window: window.start, default=None)
    if first is None:
        return "e.g. " + format_local(problem.now, problem.regions[0].timezone)
    zones = {region.id: region.timezone for region in problem.regions}
    theirs = sorted(stakeholder.regions & zones.keys()) if stakeholder and stakeholder.regions else []
    zone = zones[theirs[0]] if theirs else problem.regions[0].timezone
    return "e.g. " + format_local(first.end + (first.end - first.start) + problem.grid.slot, zone)


def subject(step: Mapping[str, Any]) -> str | None:
    """What a change is about: its request, event, veto or version, as the version list names it."""
    for field in ("request", "event"):
        value = step.get(field)
        if isinstance(value, Mapping):  # a submitted request or a declared event
            value = value.get("id")
        if isinstance(value, str):
            return value
    if isinstance(step.get("veto"), str):
        return str(step["veto"])
    return f"version {step['version']}" if step.get("version") is not None else None


def change_message(change: dict[str, Any]) -> str:
    """What became of a change sent from the page."""
    message = f"your change #{change['id']} ({change['action']}) is {change['status']}"
    return f"{message}: {change['reason']}" if change["reason"] else message


def refusal_in_words(path: str, message: str) -> str:
    """A refusal of a form's field, the field named as the form names it."""
    field = FORM_FIELDS.get(path, path)
    return f"{field}: {message}" if field else message


def page(
    history: Replay,
    *,
    stakeholder: Stakeholder | None,
    versions: list[dict[str, Any]],
    changes: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """Everything the page template needs about the plan."""
    latest, problem = history.final, history.problem
    drawn = chart(heatmap(problem, latest))
    return {
        "chart": drawn,
        "latest": latest,
        "latest_now": format_utc(latest.now),
        "windows": windows(latest, problem, drawn["numbers"]),
        "unscheduled": [
            {"request": u.request, "reasons": [rule_text(problem, r) for r in u.reasons]} for u in latest.unscheduled
        ],
        "rule_names": problem.period_names,
        "versions": [
            {
                **v,
                "included": [
                    {**changes[c], "subject": subject(changes[c]["step"])} for c in v["changes"] if c in changes
                ],
            }
            for v in reversed(versions)
        ],
        "objections": [c for c in changes.values() if c["action"] == "object"],
        "pending": [c for c in changes.values() if c["status"] == "pending"],
        "objectable": objectable(problem, latest, stakeholder),
        "example_end": example_end(problem, latest, stakeholder),
    }
