"""The access log without secrets: a calendar feed's URL is its only credential, so the secret in
``/v1/feeds/{secret}.ics`` is logged as ``/v1/feeds/[secret].ics``, by uvicorn's access logger or any
other that logs a request's path."""

from __future__ import annotations

import logging
import re

FEED_SECRET = re.compile(r"(/v1/feeds/)[^/?#\s]+(\.ics)")
ACCESS_LOGGER = "uvicorn.access"


def redacted(text: str) -> str:
    """``text`` with every feed secret in it replaced."""
    return FEED_SECRET.sub(r"\1[secret]\2", text)


class RedactFeedSecrets(logging.Filter):
    """Rewrites the record's message and arguments; keeps every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redacted(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (once, however many apps are made)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactFeedSecrets) for existing in logger.filters):
        logger.addFilter(RedactFeedSecrets())
