"""Webhooks: URLs told of new versions and of windows about to start, and their delivery logs."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.bodies import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from api.deps import CurrentPrincipal, CurrentStakeholder, RuntimeDep, SessionDep
from api.routes import PROBLEMS, RowNumber
from api.services import webhooks

router = APIRouter()


@router.post("/v1/plans/{plan}/webhooks", status_code=201, responses=PROBLEMS, response_model=WebhookCreated)
def create_webhook(
    plan: str, body: WebhookCreate, by: CurrentStakeholder, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Register a URL for new versions and reminders; its signing secret is shown once."""
    webhook = webhooks.create(session, runtime, plan_id=plan, by=by, url=str(body.url), reminders=body.reminders)
    return webhooks.webhook_json(webhook, secret=True)


@router.get("/v1/plans/{plan}/webhooks", responses=PROBLEMS, response_model=list[WebhookRead])
def list_webhooks(plan: str, by: CurrentPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """Your webhooks (the admin sees all), without their secrets."""
    return [webhooks.webhook_json(webhook) for webhook in webhooks.list_own(session, plan_id=plan, by=by)]


@router.delete("/v1/plans/{plan}/webhooks/{webhook_id}", status_code=204, responses=PROBLEMS, response_class=Response)
def delete_webhook(
    plan: str, webhook_id: RowNumber, by: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Stop calling a URL; messages not yet sent are dropped."""
    webhooks.delete(session, runtime, plan_id=plan, webhook_id=webhook_id, by=by)
    return Response(status_code=204)


@router.get("/v1/plans/{plan}/webhooks/{webhook_id}/deliveries", responses=PROBLEMS, response_model=list[DeliveryRead])
def list_deliveries(
    plan: str, webhook_id: RowNumber, by: CurrentPrincipal, session: SessionDep
) -> list[dict[str, Any]]:
    """The delivery log, newest first: each message, its status and every attempt."""
    return webhooks.list_deliveries(session, plan_id=plan, webhook_id=webhook_id, by=by)
