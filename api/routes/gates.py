"""The deploy gate: may a pipeline run a request's work now?"""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.bodies import GateRead
from api.deps import GateReader, RuntimeDep, SessionDep
from api.routes import PROBLEMS
from api.services import gates

router = APIRouter()


@router.get("/v1/plans/{plan}/gate", responses=PROBLEMS, response_model=GateRead)
def read_gate(
    plan: str,
    request: Annotated[str, Query(min_length=1, max_length=200, description="a request id, or an occurrence's (ID#3)")],
    by: GateReader,
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    """Open exactly while now lies inside an announced window of the request; when it next opens or closes.

    Any stakeholder may read the gate of a request in their scope, with their token or with a
    token that only reads gates (``POST …/stakeholders/{id}/tokens?use=gate``).
    """
    return gates.read_gate(session, runtime, plan_id=plan, request_id=request, by=by)
