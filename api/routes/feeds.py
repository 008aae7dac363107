"""Calendar feeds: secret URLs that calendar apps subscribe to without a bearer header."""

# No "from __future__ import annotations": FastAPI must see the Annotated dependencies.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.bodies import FeedCreate, FeedCreated, FeedRead
from api.deps import CurrentPrincipal, CurrentStakeholder, RuntimeDep, SessionDep
from api.routes import CALENDAR, PROBLEMS, RowNumber
from api.routes.calendars import ICS
from api.services import calendars, feeds

router = APIRouter()


@router.post("/v1/plans/{plan}/feeds", status_code=201, responses=PROBLEMS, response_model=FeedCreated)
def create_feed(
    plan: str, body: FeedCreate, by: CurrentStakeholder, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """A secret calendar URL to subscribe to without a bearer header; shown once."""
    feed, secret = feeds.create(session, runtime, plan_id=plan, by=by, scope=body.scope)
    return feeds.feed_json(feed, url=runtime.links.feed(secret))


@router.get("/v1/plans/{plan}/feeds", responses=PROBLEMS, response_model=list[FeedRead])
def list_feeds(plan: str, by: CurrentPrincipal, session: SessionDep) -> list[dict[str, Any]]:
    """The feeds that still work: your own (the admin sees all). Their URLs were shown once."""
    return [feeds.feed_json(feed) for feed in feeds.list_own(session, plan_id=plan, by=by)]


@router.delete("/v1/plans/{plan}/feeds/{feed_id}", status_code=204, responses=PROBLEMS, response_class=Response)
def revoke_feed(
    plan: str, feed_id: RowNumber, by: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Revoke a feed: its URL stops working at once."""
    feeds.revoke(session, runtime, plan_id=plan, feed_id=feed_id, by=by)
    return Response(status_code=204)


@router.get(
    "/v1/feeds/{secret}.ics",
    name="subscribed_calendar",
    responses={404: PROBLEMS[404], **CALENDAR},
    response_class=Response,
)
def subscribed_calendar(secret: str, session: SessionDep, runtime: RuntimeDep) -> Response:
    """A feed by its secret URL, for calendar apps: no bearer header."""
    return Response(calendars.feed_calendar(session, runtime, secret=secret), media_type=ICS)
