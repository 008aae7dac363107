"""Security headers on every answer, and on the review page a strict content policy.

Every answer: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` (a page's
address names its plan: no other site learns it, while this site's own form posts keep their
Origin, which sign-in and the forms check; ``no-referrer`` would make it ``null``). The review
page (``/plans/…``): a content policy that allows only this server's own scripts, styles and
forms, never framing (clickjacking), and ``Cache-Control: no-store``, since what it shows depends on who is signed in.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_PREFIX = "/plans/"
EVERY_ANSWER = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PAGE_ANSWERS = [
    (b"content-security-policy", PAGE_POLICY.encode()),
    (b"x-frame-options", b"DENY"),  # for browsers that predate frame-ancestors
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware adding the headers above; a header the route set itself is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = EVERY_ANSWER + (PAGE_ANSWERS if scope["path"].startswith(PAGE_PREFIX) else [])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in added if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)
