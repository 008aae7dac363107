"""Absolute links to the service, for what leaves it: webhook messages, calendar feeds, feed URLs.

A receiver cannot use ``/v1/plans/…``: every link carries the service's public address,
``NEGOTIATOR_PUBLIC_URL`` (default: the address ``negotiator serve`` listens on).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Links:
    base: str  # scheme, host, port and any path prefix, without a trailing slash

    def _at(self, *parts: str | int) -> str:
        return "/".join([self.base, *(quote(str(part), safe="") for part in parts)])

    def version(self, plan_id: str, number: int) -> str:
        return self._at("v1", "plans", plan_id, "versions", number)

    def page(self, plan_id: str) -> str:
        """The plan's review page."""
        return self._at("plans", plan_id)

    def feed(self, secret: str) -> str:
        """A calendar feed's secret URL."""
        return self._at("v1", "feeds", f"{secret}.ics")
