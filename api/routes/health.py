"""Liveness, for load balancers: no token, no database."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness, without a token."""
    return {"status": "ok"}
