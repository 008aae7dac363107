"""Who calls: the admin, or a stakeholder of one plan. Resolved once per request (``api/deps.py``).

Nothing compares ids with ``"admin"``: a stakeholder whose id is ``admin`` is a stakeholder like any
other, and gets what its role gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Admin:
    """The service's administrator: creates plans, mints and revokes tokens; no say inside a plan."""

    actor: ClassVar[str] = "admin"  # how the audit log names it


@dataclass(frozen=True)
class StakeholderRef:
    """A stakeholder of one plan, as its token says; their role and scope are the plan's to tell."""

    plan_id: str
    id: str

    @property
    def actor(self) -> str:
        return self.id


Principal = Admin | StakeholderRef


def owner(principal: Principal) -> str | None:
    """Whose feeds and webhooks a caller sees and changes: their own; the admin's: everyone's (None)."""
    return None if isinstance(principal, Admin) else principal.id
