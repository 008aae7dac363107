"""Liveness, for load balancers (no token, no database), and the front door: where things are."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from fastapi import APIRouter

from api.deps import RuntimeDep

router = APIRouter()


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness, without a token."""
    return {"status": "ok"}


@router.get("/")
async def front_door(runtime: RuntimeDep) -> dict[str, str]:
    """What this service is and where its documentation, API and review pages are."""
    base = runtime.links.base
    return {
        "service": "maintenance-negotiator",
        "docs": f"{base}/docs",
        "openapi": f"{base}/openapi.json",
        "plans": f"{base}/v1/plans",
        "review_page": f"{base}/plans/{{plan}}",
        "health": f"{base}/health",
    }
