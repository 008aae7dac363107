"""Why a request got no window: the rule ids that together leave it no room (SPEC section 6.3)."""

from __future__ import annotations

import numpy as np

from scheduler.candidates import Candidates
from scheduler.optimizer import Placement
from scheduler.rules import Blocked, covering_rules

TIME_LIMIT = "time-limit"


def placement_rules(candidate: Candidates, placement: Placement, candidates: dict[str, Candidates]) -> list[Blocked]:
    """The starts the other requests' windows take away: ``after:ID`` and ``resource:R with request:ID``."""
    count = len(candidate.all_costs)
    every = np.arange(count)
    blocked: list[Blocked] = []
    for predecessor in candidate.request.after:
        start = placement.get(predecessor)
        if start is None or predecessor not in candidates:
            blocked.append(Blocked(f"after:{predecessor}", np.ones(count, dtype=bool)))
        else:
            blocked.append(Blocked(f"after:{predecessor}", every < start + candidates[predecessor].slots))
    for other_id, start in placement.items():
        other = candidates[other_id]
        shared = candidate.request.resources & other.request.resources
        if start is None or other_id == candidate.id or not shared:
            continue
        overlapping = (every > start - candidate.slots) & (every < start + other.slots)
        blocked.append(Blocked(f"resource:{min(shared)} with request:{other_id}", overlapping))
    return blocked


def unscheduled_reasons(
    candidate: Candidates, placement: Placement, candidates: dict[str, Candidates]
) -> tuple[str, ...]:
    """The ids of the rules that together forbid every start of an unscheduled request."""
    rules = [*candidate.rules, *placement_rules(candidate, placement, candidates)]
    everywhere = np.ones(len(candidate.all_costs), dtype=bool)
    reasons = covering_rules(rules, everywhere)
    still_free = everywhere & ~np.logical_or.reduce([rule.starts for rule in rules])
    return (*reasons, TIME_LIMIT) if still_free.any() else reasons
