"""HTTP errors as RFC 9457 problem details, mapped in one place.

ApiError                 a problem+json answer with a status
├── Unauthorized  401    no token, or not one of this plan's
├── Forbidden     403    the stakeholder lacks the authority (the reason is the engine's)
├── NotFound      404
├── Conflict      409    e.g. approving a version that is no longer the latest
└── TooManyRequests 429  the token's rate limit
ScenarioError (engine)   422 with the offending field
"""

from __future__ import annotations


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


class TooManyRequests(ApiError):
    status = 429
    title = "Too many requests"
