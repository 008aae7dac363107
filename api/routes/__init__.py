"""The JSON API's routes, one ``APIRouter`` per resource, and the review page's; ``create_app``
includes them. A route parses, calls one service function (``api/services``) and returns.

Below: what the OpenAPI document says of answers that several routes share.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from api.bodies import ChangeAccepted
from api.errors import PROBLEM

Responses = dict[int | str, dict[str, Any]]

PROBLEMS: Responses = {
    code: {"description": text, "content": {PROBLEM: {}}}
    for code, text in {
        401: "no token, or not one of this plan's",
        403: "no authority (the reason is given)",
        404: "no such plan, stakeholder or version",
        422: "invalid input (the field is named)",
        429: "rate limit",
    }.items()
}
ACCEPTED: Responses = {202: {"model": ChangeAccepted}, **PROBLEMS}
CALENDAR: Responses = {200: {"content": {"text/calendar": {}}, "description": "RFC 5545 calendar"}}

# A row's number in a path (a version, change, feed or webhook): what a database integer holds, or 422.
RowNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
