"""Repeated requests: their periods, their occurrences ``ID#k`` and where a same-time one may start.

A repeated request stands for one occurrence per period (docs/format.md, repeated requests).
Every field of the request applies to each occurrence; ``after`` pairs occurrences by number.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from scheduler.domain import Problem, Recurrence, Request, Series, TimeRange, Version
from scheduler.timeline import SlotGrid, repeat_starts, to_local, wall_clock_slots

MAX_OCCURRENCES = 1000


def occurrence_id(request_id: str, number: int) -> str:
    return f"{request_id}#{number}"


def period_starts(grid: SlotGrid, request: Request) -> list[datetime]:
    """The start of each period of a repeated request, and the end of the last one."""
    repeat = request.repeat
    assert repeat is not None
    wall_zone = repeat.zone if repeat.same_time == "local" else None
    if repeat.count is not None:
        return repeat_starts(request.earliest, repeat.every, repeat.count + 1, wall_zone)
    # Enough periods to pass the horizon's end (and ``until``), then cut.
    last = max(grid.end, repeat.until or grid.end)
    enough = min(int((last - request.earliest) // repeat.every) + 3, MAX_OCCURRENCES + 1)
    starts = repeat_starts(request.earliest, repeat.every, max(enough, 1), wall_zone)
    if repeat.until is not None:
        kept = sum(1 for start in starts[:-1] if start < repeat.until)
    else:
        end = min(grid.end, request.deadline)
        kept = sum(1 for k in range(len(starts) - 1) if starts[k + 1] <= end)
    return starts[: kept + 1] if kept else []


def expand(problem: Problem, request: Request) -> Series:
    """The occurrences of a repeated request, and for a same-time one the slots of every offset."""
    repeat = request.repeat
    assert repeat is not None
    bounds = period_starts(problem.grid, request)
    count = max(len(bounds) - 1, 0)
    written = {r.id: r for r in problem.requests}
    occurrences = tuple(
        replace(
            request,
            id=occurrence_id(request.id, k + 1),
            repeat=None,
            series=request.id,
            period=TimeRange(bounds[k], bounds[k + 1]),
            preferred=_within(request.preferred, bounds[k], bounds[k + 1]),
            after=tuple(_predecessor(problem, written.get(p), p, k + 1) for p in request.after),
            replaces=None,
        )
        for k in range(count)
    )
    grid = problem.grid
    if repeat.same_time == "free" or not count:
        empty = np.zeros((count, 0), dtype=np.int64)
        return Series(request, occurrences, empty, empty.astype(bool))
    if repeat.same_time == "local":
        starts, exists = wall_clock_slots(grid, repeat.zone, request.earliest, repeat.every, count)
        return Series(request, occurrences, starts, exists)
    every = repeat.every // grid.slot
    first = grid.first_at_or_after(request.earliest)
    starts = first + np.arange(count, dtype=np.int64)[:, None] * every + np.arange(every, dtype=np.int64)[None, :]
    return Series(request, occurrences, starts, np.ones(starts.shape, dtype=bool))


def _within(instant: datetime | None, start: datetime, end: datetime) -> datetime | None:
    """``instant`` if it lies in [start, end): the one occurrence a request's preferred start is for."""
    return instant if instant is not None and start <= instant < end else None


def _predecessor(problem: Problem, predecessor: Request | None, predecessor_id: str, number: int | None) -> str:
    """Whom an occurrence (``number``) or a one-off request (None) waits for, given ``after: [p]``.

    Two repeated requests pair occurrences by number (the last one of ``p`` when it has fewer);
    a one-off request waits for ``p``'s last occurrence; every occurrence waits for a one-off ``p``.
    """
    if predecessor is None or predecessor.repeat is None:
        return predecessor_id
    periods = max(len(period_starts(problem.grid, predecessor)) - 1, 0)
    if not periods:
        return predecessor_id
    return occurrence_id(predecessor_id, min(number or periods, periods))


def waiting_for_repeats(problem: Problem, request: Request) -> Request:
    """A one-off request whose ``after`` names repeated requests, waiting for their last occurrences."""
    written = {r.id: r for r in problem.requests}
    after = tuple(_predecessor(problem, written.get(p), p, None) for p in request.after)
    return request if after == request.after else replace(request, after=after)


def recurrences(problem: Problem, version: Version) -> tuple[Recurrence, ...]:
    """The same-time requests that have every occurrence scheduled, as recurrence rules.

    The rule is the one a calendar reads: weekly when the period is a whole number of weeks,
    else daily; ``dtstart`` is the first occurrence's start and ``zone`` the wall clock it keeps
    (UTC for ``same_time: utc``). Offsets that shift between occurrences (a window announced or
    started before a change of offset) have no single rule, so none is given.
    """
    found = []
    for series in problem.series.values():
        repeat = series.request.repeat
        assert repeat is not None
        windows = [version.window_by_request.get(o.id) for o in series.occurrences]
        if not series.tied or not windows or any(w is None for w in windows):
            continue
        starts = [w.start for w in windows if w is not None]
        wall_zone = repeat.zone if repeat.same_time == "local" else None
        if repeat_starts(starts[0], repeat.every, len(starts), wall_zone) != starts:
            continue
        days = repeat.every // timedelta(days=1)
        frequency, interval = ("WEEKLY", days // 7) if days % 7 == 0 else ("DAILY", days)
        rule = f"FREQ={frequency};INTERVAL={interval};COUNT={len(starts)}"
        found.append(Recurrence(series.request.id, rule, starts[0].astimezone(UTC), wall_zone or "UTC"))
    return tuple(found)


def describe(series: Series, version: Version) -> str | None:
    """The rule in words, when every occurrence shares it: ``Tuesdays 02:00 Europe/Berlin, 8 times``."""
    for recurrence in version.recurrences:
        if recurrence.request == series.request.id:
            first = recurrence.dtstart
            local = to_local(first, recurrence.zone)
            count = len(series.occurrences)
            times = "once" if count == 1 else f"{count} times"
            repeat = series.request.repeat
            assert repeat is not None
            days = repeat.every // timedelta(days=1)
            if days == 1:
                when = "daily"
            elif days % 7 == 0:
                when = f"{local.strftime('%A')}s" + (f" every {days // 7} weeks" if days > 7 else "")
            else:
                when = f"every {days} days from {local.strftime('%a %d %b')}"
            return f"{when} {local.strftime('%H:%M')} {recurrence.zone}, {times}"
    return None
