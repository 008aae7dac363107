"""The deploy gate: may a request's work run now? Open exactly while now lies in an announced window.

A pipeline asks before it runs (``negotiator gate PLAN REQUEST && ./migrate.sh``). A repeated
request's gate opens in each of its announced occurrences; an occurrence id (``ID#3``) asks for
that occurrence only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from scheduler.domain import Problem, TimeRange, Version, Window


@dataclass(frozen=True)
class Gate:
    """The gate of one request at ``now``.

    ``window`` is the request's window that holds now, else its next one (None when it has none
    left); ``announced`` says whether that window is announced. ``next_transition`` is when the
    gate next opens or closes, as far as what is announced tells (None: nothing announced ahead).
    """

    request: str
    open: bool
    window: TimeRange | None
    announced: bool
    next_transition: datetime | None


def gate(problem: Problem, version: Version, announced: Mapping[str, datetime], request_id: str, now: datetime) -> Gate:
    """The gate of ``request_id`` (a request, a repeated request or one occurrence) at ``now``."""
    series = problem.series.get(request_id)
    ids = {o.id for o in series.occurrences} if series is not None else {request_id}
    windows = sorted((w for w in version.windows if w.request in ids), key=lambda w: w.start)

    def is_announced(window: Window) -> bool:
        return announced.get(window.request) == window.start

    current = next((w for w in windows if w.start <= now < w.end), None)
    ahead = [w for w in windows if w.start > now]
    shown = current or (ahead[0] if ahead else None)
    opens = next((w.start for w in ahead if is_announced(w)), None)
    is_open = current is not None and is_announced(current)
    return Gate(
        request=request_id,
        open=is_open,
        window=TimeRange(shown.start, shown.end) if shown is not None else None,
        announced=shown is not None and is_announced(shown),
        next_transition=current.end if is_open and current is not None else opens,
    )
