"""Solves in worker processes, a bounded number at once, each stopped when it runs too long.

Every solve (a plan's first version, or its pending changes folded into the next) runs in a fresh
process forked from a server that has the engine imported: solves of different plans run side by
side on the machine's cores, the memory a big solve takes goes back to the system when its process
ends, and a solve still running after ``timeout_s`` is killed (``SolveTimedOut``). The worker gets
the negotiation and the changes as plain data and sends back the versions it solved; the server
takes the same changes into its own copy and each version as the worker solved it.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, Protocol, TypeVar

from api.models import PlanClock
from scheduler.domain import Version
from scheduler.errors import ScenarioError
from scheduler.negotiation import Negotiation, StepResult
from scheduler.report import version_json
from scheduler.scenario import load_step
from scheduler.state import problem_json

log = logging.getLogger("negotiator.solver")

T = TypeVar("T")

# Workers are forked from one process that imported the engine once, never from the threaded server.
_CONTEXT = multiprocessing.get_context("forkserver")
_PACKAGES = ("api", "scheduler", "negotiator")


class SolveFailed(Exception):
    """A solve's worker raised (its traceback is the message) or died."""


class SolveTimedOut(SolveFailed):
    """A solve ran longer than the server allows and its worker was killed."""


class Change(Protocol):
    """What a solve needs of a stored change."""

    @property
    def seq(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def by(self) -> str: ...
    @property
    def step(self) -> dict[str, Any]: ...
    @property
    def received_at(self) -> datetime: ...


@dataclass(frozen=True)
class Pending:
    """A stored change as a worker process receives it."""

    seq: int
    action: str
    by: str
    step: dict[str, Any]
    received_at: datetime

    @classmethod
    def of(cls, change: Change) -> Pending:
        return cls(change.seq, change.action, change.by, dict(change.step), change.received_at)


class SolvePool:
    """Runs solves in worker processes, at most ``processes`` at once."""

    def __init__(self, *, processes: int, timeout_s: float) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self._slots = threading.BoundedSemaphore(processes)
        # Each worker runs the program's main module again (multiprocessing does, as ``__mp_main__``):
        # with what it imports already imported, that costs nothing.
        _CONTEXT.set_forkserver_preload(sorted({__name__, *(n for n in sys.modules if n.split(".")[0] in _PACKAGES)}))

    def run(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``work(*args, **kwargs)`` in a worker process of its own; waits for a free slot first."""
        with self._slots:
            receiver, sender = _CONTEXT.Pipe(duplex=False)
            process = _CONTEXT.Process(target=_work, args=(sender, work, args, kwargs), daemon=True)
            process.start()
            sender.close()
            try:
                if not receiver.poll(self.timeout_s):
                    raise SolveTimedOut(f"solving took longer than the server's limit of {self.timeout_s:g} s")
                try:
                    done, value = receiver.recv()
                except EOFError:
                    process.join()
                    raise SolveFailed(f"the solve's worker died (exit code {process.exitcode})") from None
            finally:
                if process.is_alive():
                    process.kill()
                process.join()
                receiver.close()
        if not done:
            raise SolveFailed(value)
        return value  # type: ignore[no-any-return]


def _work(sender: Connection, work: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> None:
    """The worker process: run, send back the result or the traceback."""
    try:
        outcome: tuple[bool, Any] = (True, work(*args, **kwargs))
    except Exception:
        outcome = (False, traceback.format_exc())
    sender.send(outcome)
    sender.close()


@dataclass(frozen=True)
class Folded:
    """What a solve of pending changes gives: the negotiation that took them in, each change's
    result (by group), and the stored form (version JSON, problem JSON) of each version not stored yet."""

    negotiation: Negotiation
    results: list[list[StepResult]]
    bodies: dict[int, tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Solved:
    """What a worker sends back: for each group of changes, the version it published (None if the
    group changed nothing), and the stored form of each version not stored yet."""

    versions: list[Version | None]
    bodies: dict[int, tuple[dict[str, Any], dict[str, Any]]]


def fold_in(
    pool: SolvePool, negotiation: Negotiation, groups: list[list[Pending]], *, stored: set[int], clock: PlanClock
) -> Folded:
    """Each group of changes taken in, a version per group that changed the plan, solved by a worker.

    Only the newest version and its problem travel to the worker (a negotiation uses no other), and
    only the versions it solved come back: what crosses does not grow with the plan's history, and
    the problem, which grows with every change, goes one way. Here the same changes are taken into
    a copy of ``negotiation`` and each group's version is taken as the worker solved it.
    """
    earlier = len(negotiation.versions) - 1
    newest = replace(negotiation, versions=negotiation.versions[earlier:], problems=negotiation.problems[earlier:])
    solved = pool.run(fold, newest, groups, stored=stored, clock=clock)
    after = negotiation.trial()
    results = [take_in_solved(after, group, version) for group, version in zip(groups, solved.versions, strict=True)]
    return Folded(after, results, solved.bodies)


def fold(negotiation: Negotiation, groups: list[list[Pending]], *, stored: set[int], clock: PlanClock) -> Solved:
    """``fold_in``'s part in the worker: take the changes in, solve, write the new versions' JSON."""
    versions: list[Version | None] = []
    for group in groups:
        before = negotiation.current.version
        take_in(negotiation, group)
        versions.append(negotiation.current if negotiation.current.version != before else None)
    bodies = {
        version.version: (version_json(version, problem, clock=clock), problem_json(problem))
        for version, problem in zip(negotiation.versions, negotiation.problems, strict=True)
        if version.version not in stored
    }
    return Solved(versions, bodies)


def take_in(negotiation: Negotiation, changes: Sequence[Change]) -> list[StepResult]:
    """Apply one solve's changes to the negotiation; a new version, solved here, if any of them
    changed the plan.

    A live plan takes each change at the server's time it was received: that is the version's ``now``.
    """
    results, changed = _take(negotiation, changes)
    return _published(results, changed, negotiation.publish() if changed else None)


def take_in_solved(negotiation: Negotiation, changes: Sequence[Change], solved: Version | None) -> list[StepResult]:
    """``take_in`` with the version a worker published after the same changes (None if they changed
    nothing), taken as it is: nothing is solved here."""
    results, changed = _take(negotiation, changes)
    if bool(changed) != (solved is not None):
        raise SolveFailed("the worker and the server took the same changes in differently")
    return _published(results, changed, negotiation.publish(solved) if changed else None)


def _take(negotiation: Negotiation, changes: Sequence[Change]) -> tuple[list[StepResult], list[int]]:
    """Each change's result, and the positions of those that changed the plan."""
    results: list[StepResult] = []
    changed: list[int] = []
    for change in changes:
        if negotiation.live:
            negotiation.advance(change.received_at)
        try:
            step = load_step(change.step, index=change.seq, problem=negotiation.problem)
        except ScenarioError as error:
            results.append(StepResult(change.seq, change.action, change.by, accepted=False, reason=str(error)))
            continue
        result, is_change = negotiation.take(step)
        results.append(result)
        if is_change:
            changed.append(len(results) - 1)
    return results, changed


def _published(results: list[StepResult], changed: list[int], version: Version | None) -> list[StepResult]:
    """The results, those that changed the plan naming the version that took them in."""
    if version is not None:
        for position in changed:
            results[position] = replace(results[position], version=version.version)
    return results
