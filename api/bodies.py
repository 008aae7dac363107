"""Request bodies of the HTTP API, built from the scenario schema's own field types."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from scheduler.schema import Id, Instant, RangeIn, Strict, Weight


class ChangeBase(Strict):
    at: Instant | None = Field(default=None, description="when it happens; moves the plan's now forward")


class ObjectionCreate(ChangeBase):
    """As an ``object`` step: a veto or a weighted soft objection to one request."""

    request: Id
    kind: Literal["veto", "soft"]
    avoid: list[RangeIn] | None = Field(default=None, description="default: the request's current window")
    weight: Weight | None = Field(default=None, description="soft only; default 10")
    reason: str | None = None


class CounterCreate(ChangeBase):
    """Extension: another start for a request, to see its impact; changes nothing."""

    request: Id
    start: Instant
    reason: str | None = None


class PinCreate(CounterCreate):
    """Extension: an approver fixes a request at an allowed start."""


class OverrideCreate(ChangeBase):
    """Extension: lift a veto; it takes two different approvers."""

    veto: Annotated[str, Field(pattern=r"^veto:\d+$", examples=["veto:3"])]
    reason: str | None = None


class ChangeAccepted(Strict):
    """A change stored, to be solved into a version."""

    change: int
    status: Literal["pending"] = "pending"
    href: str
