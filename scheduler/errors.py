"""Errors the engine raises; the command line and the HTTP API map each to an answer in one place.

NegotiatorError
├── ScenarioError   invalid input: the source, the field path and what is wrong (exit 2, HTTP 422)
└── StepRejected    a negotiation step its author has no authority for (reported, never fatal)
"""

from __future__ import annotations

import re
from datetime import date, datetime

# An error quotes at most this much of what it was given, and says at most this much in all: a
# 20 MB bad value gets a short answer.
QUOTED_CHARS = 60
MESSAGE_CHARS = 1_000
PATH_CHARS = 200
_LONG_QUOTE = re.compile(rf"(['\"])([^'\"]{{{QUOTED_CHARS}}})[^'\"]{{2,}}\1")


class NegotiatorError(Exception):
    """Base of every error the engine raises on purpose."""


class ScenarioError(NegotiatorError):
    """Invalid scenario input: names the field (``requests[0].duration``) and what is wrong."""

    def __init__(self, path: str, message: str, *, source: str | None = None) -> None:
        self.path = shortened(path, PATH_CHARS)
        self.message = shortened(message)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        return f"{where}: {self.message}" if where else self.message

    def located(self, source: str) -> ScenarioError:
        """The same error, attributed to ``source`` (a file name)."""
        return ScenarioError(self.path, self.message, source=source)


class StepRejected(NegotiatorError):
    """A negotiation step refused for lack of authority; the reason is shown to the user."""


def written(value: object) -> str:
    """A value the way a scenario file writes it: ``'text'``, ``2026-03-23 00:00:00``, ``true``, ``null``."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def shortened(text: str, limit: int = MESSAGE_CHARS) -> str:
    """``text`` with every quoted value over ``QUOTED_CHARS`` cut to its start, and the whole cut to
    ``limit``: what an error says about the input it was given, never all of it."""
    text = _LONG_QUOTE.sub(lambda quoted: f"{quoted[1]}{quoted[2]}…{quoted[1]}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
