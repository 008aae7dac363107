"""HTTP errors as RFC 9457 problem details, mapped in one place.

ApiError                 a problem+json answer with a status
├── Unauthorized  401    no token, or not one of this plan's
├── Forbidden     403    the stakeholder lacks the authority (the reason is the engine's)
├── NotFound      404
├── Conflict      409    e.g. approving a version that is no longer the latest
└── TooManyRequests 429  the token's rate limit
ScenarioError (engine)   422 with the offending field
RequestValidationError   422 with the offending field, as the scenario loader names it
anything else            500, saying nothing of the cause
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from scheduler.errors import ScenarioError, shortened
from scheduler.scenario import describe_errors

PROBLEM = "application/problem+json"
log = logging.getLogger("negotiator.api")


class ApiError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(ApiError):
    status = 401
    title = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    title = "Forbidden"


class NotFound(ApiError):
    status = 404
    title = "Not found"


class Conflict(ApiError):
    status = 409
    title = "Conflict"


class Unprocessable(ApiError):
    status = 422
    title = "Invalid input"


class TooManyRequests(ApiError):
    status = 429
    title = "Too many requests"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem details answer."""
    extra = {name: shortened(value) if isinstance(value, str) else value for name, value in extra.items()}
    body = {"type": "about:blank", "title": title, "status": status, "detail": shortened(detail), **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _methods(request: Request) -> set[str]:
    """The methods some route answers at the request's path."""
    routes = request.app.router.routes
    return {
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    }


def answer_errors_as_problems(app: FastAPI) -> None:
    """Every error the app can raise, answered as problem+json."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthorized) else {}
        response = problem(error.status, error.title, error.detail)
        response.headers.update(headers)
        return response

    @app.exception_handler(ScenarioError)
    async def _invalid(_: Request, error: ScenarioError) -> JSONResponse:
        return problem(422, "Invalid input", str(error), field=error.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid_body(_: Request, error: RequestValidationError) -> JSONResponse:
        if any(tuple(d["loc"]) == ("body",) and isinstance(d.get("input"), bytes) for d in error.errors()):
            # A body that is not JSON (YAML, most often): say so, and echo none of it.
            detail = (
                "send the body as JSON (Content-Type: application/json); `negotiator plans create` reads YAML files"
            )
            return problem(422, "Invalid input", detail, field="")
        details = [{**detail, "loc": tuple(detail["loc"])[1:]} for detail in error.errors()]  # drop "body"
        invalid = describe_errors(details)
        return problem(422, "Invalid input", str(invalid), field=invalid.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        response = problem(error.status_code, str(error.detail), str(error.detail))
        response.headers.update(error.headers or {})
        if error.status_code == 405:  # every method of the path, not only the first route's
            response.headers["Allow"] = ", ".join(sorted(_methods(request)))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # The traceback stays in the server's log; the client learns only that it failed.
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return problem(500, "Internal error", "the server failed; nothing was stored")
