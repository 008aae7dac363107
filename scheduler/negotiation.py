"""Negotiation (docs/format.md section 2.9): stakeholders' steps, checked against their authority, each accepted
change producing a new version that moves as little as it must.

``Negotiation`` holds the state between steps and is what the command line's replay and the HTTP
service both drive; ``replay`` runs a scenario's ``negotiation:`` list through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from scheduler import steps
from scheduler.authority import Deed, refusal
from scheduler.domain import Event, Objection, Problem, Request, Stakeholder, TimeRange, Version
from scheduler.errors import StepRejected
from scheduler.impact import impact_at
from scheduler.rules import after_rule, before_end, blocked_starts, clashes, resource_rule, shared_resource
from scheduler.scenario import Scenario
from scheduler.solver import Planner
from scheduler.state import NegotiationState
from scheduler.steps import Step
from scheduler.timeline import format_utc


class WindowStarted(StepRejected):
    """A step would move or withdraw a window that has started: it stays where it is."""

    def __init__(self, request: str, start: datetime, what: str) -> None:
        super().__init__(f"the window of {request!r} started at {format_utc(start)}: it cannot be {what}")
        self.request = request


@dataclass(frozen=True)
class CounterResult:
    """What a counter-proposal would do: its impact against the current window, and what forbids it."""

    start: datetime
    impact: float
    impact_by_region: dict[str, float]
    current_impact: float | None  # None when the request has no window now
    allowed: bool
    blocked_by: tuple[str, ...]


@dataclass(frozen=True)
class StepResult:
    index: int
    action: str
    by: str
    accepted: bool
    version: int | None = None  # the version the step produced (approve: the version it approved)
    reason: str | None = None  # why a step was refused
    counter: CounterResult | None = None


@dataclass(frozen=True)
class Replay:
    scenario: str
    slot_minutes: int
    steps: tuple[StepResult, ...]
    versions: tuple[Version, ...]
    problems: tuple[Problem, ...]  # the problem each version solved, in the same order

    @property
    def final(self) -> Version:
        return self.versions[-1]

    @property
    def problem(self) -> Problem:
        """The problem as it stands after the last step."""
        return self.problems[-1]

    def up_to(self, newest: int) -> Replay:
        """The history as far as version ``newest``, as a reader that saw no later version has it."""
        kept = sum(1 for version in self.versions if version.version <= newest)
        return replace(self, versions=self.versions[:kept], problems=self.problems[:kept])


@dataclass
class Negotiation:
    """The state of one negotiation: the current problem, its versions and what was announced."""

    problem: Problem
    planner: Planner
    versions: list[Version] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    announced: dict[str, datetime] = field(default_factory=dict)
    pinned: dict[str, datetime] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    overrides: dict[str, str] = field(default_factory=dict)  # veto rule id -> the approver who proposed lifting it
    # On the server's clock a window starting right now has started (README, live plans); a replay's clock
    # jumps from step to step, and a window starting at its ``now`` may still move (docs/format.md section 2.9).
    live: bool = False

    @classmethod
    def open(cls, problem: Problem, *, time_limit_s: float = 10.0, seed: int = 0, live: bool = False) -> Negotiation:
        """Version 1, computed at the problem's ``now`` before any step."""
        negotiation = cls(problem=problem, planner=Planner(time_limit_s=time_limit_s, seed=seed), live=live)
        negotiation._publish(problem)
        return negotiation

    @classmethod
    def restore(
        cls,
        versions: list[Version],
        problems: list[Problem],
        state: NegotiationState,
        *,
        time_limit_s: float = 10.0,
        seed: int = 0,
        live: bool = False,
    ) -> Negotiation:
        """The negotiation as it stood after ``versions`` (each with the problem it solved) and
        ``state``, without solving anything: the next change is solved from there."""
        assert versions and len(versions) == len(problems)
        return cls(
            problem=replace(problems[-1], now=state.now),
            planner=Planner(time_limit_s=time_limit_s, seed=seed),
            versions=list(versions),
            problems=list(problems),
            announced=dict(state.announced),
            pinned=dict(state.pinned),
            withdrawn=set(state.withdrawn),
            overrides=dict(state.overrides),
            live=live,
        )

    def state(self) -> NegotiationState:
        """What ``restore`` needs besides the versions and their problems."""
        return NegotiationState(
            now=self.problem.now,
            announced=dict(self.announced),
            pinned=dict(self.pinned),
            withdrawn=frozenset(self.withdrawn),
            overrides=dict(self.overrides),
        )

    def history(self) -> Replay:
        """Every version so far with the problem it solved, as a replay reports them."""
        return Replay(
            scenario=self.problem.name,
            slot_minutes=self.problem.grid.slot_minutes,
            steps=(),
            versions=tuple(self.versions),
            problems=tuple(self.problems),
        )

    @property
    def current(self) -> Version:
        return self.versions[-1]

    def apply(self, step: Step) -> StepResult:
        """Run one step: refused steps change nothing; accepted ones (but approve) add a version."""
        return self.apply_all([step])[0]

    def apply_all(self, steps: list[Step]) -> list[StepResult]:
        """Run steps in order and fold every accepted change among them into one new version."""
        results: list[StepResult] = []
        changed: list[int] = []  # positions in ``results`` of the steps the new version includes
        for step in steps:
            result, change = self.take(step)
            results.append(result)
            if change:
                changed.append(len(results) - 1)
        if changed:
            self.publish()
            for position in changed:
                results[position] = replace(results[position], version=self.current.version)
        return results

    def trial(self) -> Negotiation:
        """A copy to try steps on; taking steps in it leaves this negotiation as it is."""
        return replace(
            self,
            versions=list(self.versions),
            problems=list(self.problems),
            announced=dict(self.announced),
            pinned=dict(self.pinned),
            withdrawn=set(self.withdrawn),
            overrides=dict(self.overrides),
        )

    def check(self, step: Step) -> StepResult:
        """What ``step`` would give now (a counter's result included); changes nothing.

        Raises the StepRejected that would refuse it (WindowStarted for a started window).
        """
        trial = self.trial()
        if step.at is not None:
            trial.advance(step.at)
        return trial._take(step)[0]

    def advance(self, now: datetime) -> None:
        """Move the negotiation's clock forward to ``now``; it never goes back."""
        if now > self.problem.now:
            self.problem = replace(self.problem, now=now)

    def has_started(self, start: datetime, now: datetime) -> bool:
        """Whether a window starting at ``start`` has started at ``now``."""
        return start <= now if self.live else start < now

    def started(self, request_id: str) -> datetime | None:
        """The start of the request's current window if it has started, else None."""
        window = self.current.window_by_request.get(request_id)
        return window.start if window is not None and self.has_started(window.start, self.problem.now) else None

    def publish(self, solved: Version | None = None) -> Version:
        """Solve the problem as the steps taken so far left it into a new version.

        With ``solved``, the version another process published from an equal negotiation after the
        same steps, that version is taken as it is and nothing is solved here.
        """
        self._publish(self.problem, solved=solved)
        return self.current

    def take(self, step: Step) -> tuple[StepResult, bool]:
        """Check one step against its author's authority and take in its change, unpublished.

        Returns the step's result and whether it changed the problem (and so needs a version).
        """
        if step.at is not None:
            self.advance(step.at)
        try:
            return self._take(step)
        except StepRejected as refusal:
            return StepResult(step.index, step.action, step.by, accepted=False, reason=str(refusal)), False

    def _take(self, step: Step) -> tuple[StepResult, bool]:
        """``take`` without the clock, raising StepRejected for a refused step."""
        said = (step.index, step.action, step.by)
        stakeholder = self._stakeholder(step.by)
        match step:
            case steps.Approve():
                self._approve(stakeholder, step)
                return StepResult(*said, accepted=True, version=self.current.version), False
            case steps.Counter():
                return StepResult(*said, accepted=True, counter=self._counter(stakeholder, step)), False
            # Lifting a veto or a blackout takes two different approvers: the first one waits.
            case steps.OverrideVeto():
                made = self._override_veto(stakeholder, step)
            case steps.RemoveEvent():
                made = self._remove_event(stakeholder, step)
            case steps.Object():
                self.problem, made = self._object(stakeholder, step), True
            case steps.DeclareEvent():
                self.problem, made = self._declare_event(stakeholder, step), True
            case steps.Submit():
                self.problem, made = self._submit(stakeholder, step), True
            case steps.Withdraw():
                self.problem, made = self._withdraw(stakeholder, step), True
            case steps.Pin():
                self.problem, made = self._pin(stakeholder, step), True
        if not made:
            return StepResult(*said, accepted=True, reason="waiting for a second approver"), False
        return StepResult(*said, accepted=True), True

    # -- the actions -------------------------------------------------------------------------

    def _object(self, stakeholder: Stakeholder, step: steps.Object) -> Problem:
        request = self._request(step.request_id)
        _authorize(stakeholder, "object", request=request)
        avoid = step.avoid if step.avoid is not None else self._current_window(request.id)
        objection = Objection(
            rule=f"{step.kind}:{step.index}",
            by=stakeholder.id,
            request=request.id,
            kind=step.kind,
            avoid=avoid,
            weight=step.weight,
            reason=step.reason,
        )
        return replace(self.problem, objections=(*self.problem.objections, objection))

    def _declare_event(self, stakeholder: Stakeholder, step: steps.DeclareEvent) -> Problem:
        event = step.event
        _authorize(stakeholder, "declare_event", event=event)
        if any(existing.id == event.id for existing in self.problem.events):
            raise StepRejected(f"an event {event.id!r} exists already")
        return replace(self.problem, events=(*self.problem.events, event))

    def _submit(self, stakeholder: Stakeholder, step: steps.Submit) -> Problem:
        request = step.request
        if request.requested_by is None:
            request = replace(request, requested_by=stakeholder.id)
        _authorize(stakeholder, "submit", request=request)
        if request.id in self.problem.request_by_id:
            raise StepRejected(f"a request {request.id!r} exists already")
        # The same work submitted again keeps its vetoes: under its old id they still stand (a
        # withdrawal keeps them); under a new one that ``replaces`` the old, they move over.
        objections = self.problem.objections
        if request.replaces is not None:
            if request.replaces not in self.withdrawn:
                raise StepRejected(f"replaces {request.replaces!r}: only a withdrawn request can be replaced")
            objections = tuple(
                replace(o, request=request.id) if o.request == request.replaces and o.kind == "veto" else o
                for o in objections
            )
        self.withdrawn.discard(request.id)
        return replace(self.problem, requests=(*self.problem.requests, request), objections=objections)

    def _withdraw(self, stakeholder: Stakeholder, step: steps.Withdraw) -> Problem:
        request = self._request(step.request_id)
        _authorize(stakeholder, "withdraw", request=request)
        if request.series is not None:
            raise StepRejected(f"withdraw {request.series!r}: an occurrence cannot be withdrawn on its own")
        started = self.started(request.id)
        if started is not None:
            raise WindowStarted(request.id, started, "withdrawn")
        if request.repeat is not None:
            begun = [o.number or 0 for o in self.problem.series[request.id].occurrences if self.started(o.id)]
            if begun:
                # The occurrences that have started stay as history; the rest are withdrawn.
                kept = replace(request, repeat=replace(request.repeat, count=max(begun), until=None))
                requests = tuple(kept if r.id == request.id else r for r in self.problem.requests)
                return replace(self.problem, requests=requests)
        self.withdrawn.add(request.id)
        self.announced.pop(request.id, None)
        self.pinned.pop(request.id, None)
        requests = tuple(r for r in self.problem.requests if r.id != request.id)
        # Its vetoes stay: they bind whoever submits the same work again.
        objections = tuple(o for o in self.problem.objections if o.request != request.id or o.kind == "veto")
        return replace(self.problem, requests=requests, objections=objections)

    def _approve(self, stakeholder: Stakeholder, step: steps.Approve) -> None:
        # The current version's windows become announced.
        _authorize(stakeholder, "approve")
        if step.version is not None and step.version != self.current.version:
            raise StepRejected(f"version {step.version} is no longer the latest: {self.current.version} is")
        self.versions[-1] = replace(self.current, approved=True)
        self.announced = {window.request: window.start for window in self.current.windows}

    def _pin(self, stakeholder: Stakeholder, step: steps.Pin) -> Problem:
        # A request is fixed at a start its own rules allow.
        request = self._window_of(step.request_id)
        _authorize(stakeholder, "pin")
        started = self.started(request.id)
        if started is not None and started != step.start:
            raise WindowStarted(request.id, started, "moved")
        blocked = rules_against(self.problem, request, step.start) + self._taken_at(request, step.start)
        if blocked:
            raise StepRejected(f"that start is not allowed: {', '.join(blocked)}")
        self.pinned[request.id] = step.start
        return self.problem

    def _override_veto(self, stakeholder: Stakeholder, step: steps.OverrideVeto) -> bool:
        # Lifting a veto takes two different approvers: the first is recorded, the second lifts it.
        _authorize(stakeholder, "override_veto")
        veto = next((o for o in self.problem.objections if o.rule == step.veto and o.kind == "veto"), None)
        if veto is None:
            raise StepRejected(f"no veto {step.veto!r} stands")
        if not self._second_approver(stakeholder, veto.rule, "override"):
            return False
        self.problem = replace(self.problem, objections=tuple(o for o in self.problem.objections if o is not veto))
        return True

    def _remove_event(self, stakeholder: Stakeholder, step: steps.RemoveEvent) -> bool:
        # A blackout forbids like a veto, so removing it takes two approvers.
        _authorize(stakeholder, "remove_event")
        event = next((e for e in self.problem.events if e.id == step.event_id), None)
        if event is None:
            raise StepRejected(f"no event {step.event_id!r}")
        if event.blackout and not self._second_approver(stakeholder, f"event:{event.id}", "removal"):
            return False
        self.problem = replace(self.problem, events=tuple(e for e in self.problem.events if e is not event))
        return True

    def _second_approver(self, stakeholder: Stakeholder, rule: str, what: str) -> bool:
        """Whether ``stakeholder`` is the second, different approver to lift ``rule``; the first is recorded."""
        first = self.overrides.get(rule)
        if first is None:
            self.overrides[rule] = stakeholder.id
            return False
        if first == stakeholder.id:
            raise StepRejected(
                f"{stakeholder.id} proposed this {what} already: a second, different approver must agree"
            )
        del self.overrides[rule]
        return True

    def _counter(self, stakeholder: Stakeholder, step: steps.Counter) -> CounterResult:
        # Whoever may object may propose another start; it changes nothing.
        request = self._window_of(step.request_id)
        _authorize(stakeholder, "counter", request=request)
        impact = impact_at(self.problem, request, step.start)
        current = self.current.window_by_request.get(request.id)
        blocked = rules_against(self.problem, request, step.start)
        return CounterResult(
            start=step.start,
            impact=sum(impact.values()),
            impact_by_region=impact,
            current_impact=current.impact if current is not None else None,
            allowed=not blocked,
            blocked_by=tuple(blocked),
        )

    # -- helpers -----------------------------------------------------------------------------

    def _stakeholder(self, stakeholder_id: str) -> Stakeholder:
        stakeholder = self.problem.stakeholder_by_id.get(stakeholder_id)
        if stakeholder is None:
            raise StepRejected(f"unknown stakeholder {stakeholder_id!r}")
        return stakeholder

    def _request(self, request_id: str) -> Request:
        if request_id in self.withdrawn:
            raise StepRejected(f"request {request_id!r} was withdrawn")
        request = self.problem.request_by_id.get(request_id)
        if request is None:
            raise StepRejected(f"unknown request {request_id!r}")
        return request

    def _window_of(self, request_id: str) -> Request:
        """A request that has one window: a one-off request, or one occurrence of a repeated one."""
        request = self._request(request_id)
        if request.repeat is not None:
            raise StepRejected(f"{request_id!r} repeats: name one occurrence, such as {request_id + '#1'!r}")
        return request

    def _current_window(self, request_id: str) -> tuple[TimeRange, ...]:
        """The request's window now; for a repeated request, the windows of all its occurrences."""
        series = self.problem.series.get(request_id)
        ids = [o.id for o in series.occurrences] if series is not None else [request_id]
        windows = [w for i in ids if (w := self.current.window_by_request.get(i)) is not None]
        if not windows:
            raise StepRejected("the request has no window to object to: give an avoid range")
        return tuple(TimeRange(window.start, window.end) for window in windows)

    def _taken_at(self, request: Request, start: datetime) -> list[str]:
        """What the windows that cannot move (started, pinned) and ``after`` say against ``start``."""
        problem = self.problem
        windows = self.current.window_by_request
        grid = problem.grid
        index = grid.first_at_or_after(start)
        taken = []
        for predecessor in request.after:
            before = windows.get(predecessor)
            if before is None or before_end(
                index, grid.first_at_or_after(before.start), grid.slots_for(before.end - before.start)
            ):
                taken.append(after_rule(predecessor))
        immovable = {w.request: w.start for w in self.current.windows if self.has_started(w.start, problem.now)}
        immovable.update({r: s for r, s in self.pinned.items() if r != request.id})
        return taken + _clashes(problem, request, start, immovable)

    def _publish(self, problem: Problem, *, solved: Version | None = None) -> None:
        """Solve the changed problem into a new version (or take ``solved``, see ``publish``)."""
        previous = self.versions[-1] if self.versions else None
        noticed = {window.request: window.start for window in previous.windows} if previous is not None else {}
        fixed, fixed_by = self._fixed(problem)
        problem = replace(problem, fixed=fixed, fixed_by=fixed_by, noticed=noticed)
        version = solved if solved is not None else self.planner.solve(problem, previous=previous)
        moved_announced = tuple(
            sorted(
                request
                for request, start in self.announced.items()
                if request in version.window_by_request or request in {u.request for u in version.unscheduled}
                if (window := version.window_by_request.get(request)) is None or window.start != start
            )
        )
        # A window moved away from its announcement is no longer announced there.
        for request in moved_announced:
            del self.announced[request]
        self.problem = problem
        added, removed = _added_and_removed(previous, version)
        self.versions.append(replace(version, moved_announced=moved_announced, added=added, removed=removed))
        self.problems.append(problem)

    def _fixed(self, problem: Problem) -> tuple[dict[str, datetime], dict[str, str]]:
        """Windows that stay put, and what keeps each: started ones always; pinned, then announced
        ones, unless a hard constraint now forbids them (a veto, a blackout, or a fixed window on a
        shared resource)."""
        fixed: dict[str, datetime] = {}
        if self.versions:
            fixed = {w.request: w.start for w in self.current.windows if self.has_started(w.start, problem.now)}
        started = set(fixed)
        by = dict.fromkeys(fixed, "started")
        for kind, kept in (("pinned", self.pinned), ("announced", self.announced)):
            for request_id, start in kept.items():
                request = problem.request_by_id.get(request_id)
                if request is None or request_id in fixed or _forbidden(problem, request, start):
                    continue
                if not _clashes(problem, request, start, fixed):
                    fixed[request_id], by[request_id] = start, kind
        # A window whose predecessor may move must be free to follow it.
        released = True
        while released:
            released = False
            for request_id, start in list(fixed.items()):
                if request_id in started:
                    continue
                for predecessor in problem.request_by_id[request_id].after:
                    before = problem.request_by_id.get(predecessor)
                    end = fixed.get(predecessor)
                    if (
                        before is None
                        or end is None
                        or start < end + problem.grid.slots_for(before.duration) * problem.grid.slot
                    ):
                        del fixed[request_id]
                        released = True
                        break
        return fixed, {request_id: by[request_id] for request_id in fixed}


def _added_and_removed(previous: Version | None, version: Version) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The requests ``version`` has that ``previous`` had not, and those it no longer has (none in version 1)."""
    if previous is None:
        return (), ()

    def known(v: Version) -> set[str]:
        return {w.request for w in v.windows} | {u.request for u in v.unscheduled}

    before, after = known(previous), known(version)
    return tuple(sorted(after - before)), tuple(sorted(before - after))


def rules_against(problem: Problem, request: Request, start: datetime) -> list[str]:
    """The ids of the request's own rules that forbid ``start`` (slot alignment included)."""
    grid = problem.grid
    index = grid.first_at_or_after(start)
    if grid.instant(index) != start:
        return ["slot boundary"]
    if not 0 <= index < grid.count:
        return ["horizon"]
    rules = blocked_starts(problem, request, grid.slots_for(request.duration))
    return [rule.rule for rule in rules if rule.starts[index]]


def _forbidden(problem: Problem, request: Request, start: datetime) -> bool:
    """Whether a veto, a blackout or the horizon now forbids the window at ``start``."""
    return any(rule.startswith(("veto:", "event:", "horizon")) for rule in rules_against(problem, request, start))


def _clashes(problem: Problem, request: Request, start: datetime, windows: dict[str, datetime]) -> list[str]:
    """``resource:R with request:X`` for each of ``windows`` that the window at ``start`` would overlap."""
    grid = problem.grid
    index, slots = grid.first_at_or_after(start), grid.slots_for(request.duration)
    found = []
    for other_id, other_start in windows.items():
        other = problem.request_by_id.get(other_id)
        resource = shared_resource(request, other) if other is not None else None
        if other is None or resource is None:
            continue
        if clashes(index, slots, grid.first_at_or_after(other_start), grid.slots_for(other.duration)):
            found.append(resource_rule(resource, other_id))
    return found


def _authorize(
    stakeholder: Stakeholder, deed: Deed, *, request: Request | None = None, event: Event | None = None
) -> None:
    """Refuse the step unless its author has the authority for it."""
    reason = refusal(stakeholder, deed, request=request, event=event)
    if reason is not None:
        raise StepRejected(reason)


def replay(scenario: Scenario, *, time_limit_s: float = 10.0, seed: int = 0) -> Replay:
    """Version 1 at ``now``, then every step of the scenario in order."""
    negotiation = Negotiation.open(scenario.problem, time_limit_s=time_limit_s, seed=seed)
    results = tuple(negotiation.apply(step) for step in scenario.steps)
    return Replay(
        scenario=scenario.name,
        slot_minutes=scenario.problem.grid.slot_minutes,
        steps=results,
        versions=tuple(negotiation.versions),
        problems=tuple(negotiation.problems),
    )
