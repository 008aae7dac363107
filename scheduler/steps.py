"""Negotiation steps: one frozen dataclass per action, as the loader builds them from a scenario's
``negotiation:`` list or an HTTP body, and as ``Negotiation`` takes them (one ``match``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from scheduler.domain import Event, Request, TimeRange

Action = Literal[
    "object", "declare_event", "submit", "withdraw", "approve", "counter", "pin", "override_veto", "remove_event"
]


@dataclass(frozen=True, kw_only=True)
class StepBase:
    """What every step has: its place in the negotiation, its author and, in a rehearsal, its time."""

    action: ClassVar[Action]
    index: int
    by: str
    at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Object(StepBase):
    """A veto or a soft objection to a request's window (or to ``avoid``, when given)."""

    action: ClassVar[Action] = "object"
    request_id: str
    kind: Literal["veto", "soft"] = "veto"
    avoid: tuple[TimeRange, ...] | None = None
    weight: float = 10.0  # soft objections only
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class DeclareEvent(StepBase):
    action: ClassVar[Action] = "declare_event"
    event: Event


@dataclass(frozen=True, kw_only=True)
class RemoveEvent(StepBase):
    action: ClassVar[Action] = "remove_event"
    event_id: str
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Submit(StepBase):
    action: ClassVar[Action] = "submit"
    request: Request

    @property
    def request_id(self) -> str:
        return self.request.id


@dataclass(frozen=True, kw_only=True)
class Withdraw(StepBase):
    action: ClassVar[Action] = "withdraw"
    request_id: str


@dataclass(frozen=True, kw_only=True)
class Approve(StepBase):
    action: ClassVar[Action] = "approve"
    version: int | None = None  # the version meant: refused if it is no longer the latest


@dataclass(frozen=True, kw_only=True)
class Counter(StepBase):
    """Another start proposed for a request, to see what it would do; it changes nothing."""

    action: ClassVar[Action] = "counter"
    request_id: str
    start: datetime
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Pin(StepBase):
    action: ClassVar[Action] = "pin"
    request_id: str
    start: datetime
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class OverrideVeto(StepBase):
    action: ClassVar[Action] = "override_veto"
    veto: str  # the rule id of the veto to lift
    reason: str | None = None


Step = Object | DeclareEvent | RemoveEvent | Submit | Withdraw | Approve | Counter | Pin | OverrideVeto
