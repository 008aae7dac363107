"""Load a scenario (YAML or JSON, or an already parsed mapping) into the engine's dataclasses.

Every problem becomes a ``ScenarioError`` naming the field path and what is wrong.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from scheduler import calendars, profiles, repeats, steps
from scheduler.domain import (
    Event,
    Problem,
    Profile,
    Region,
    Repeat,
    Request,
    Stakeholder,
    TimeRange,
)
from scheduler.errors import ScenarioError, written
from scheduler.schema import (
    STEP_ACTIONS,
    ApproveStep,
    CounterStep,
    DeclareEventStep,
    EventIn,
    ObjectStep,
    OverrideVetoStep,
    PinStep,
    ProfileIn,
    RegionIn,
    RemoveEventStep,
    RequestIn,
    ScenarioIn,
    StakeholderIn,
    StepIn,
    SubmitStep,
    WithdrawStep,
)
from scheduler.steps import Step
from scheduler.timeline import SlotGrid, format_duration, format_utc, zone

SHARE_TOLERANCE = 1e-9
DEFAULT_SERVICE = "all"


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: the problem at ``now`` before any step, and the steps to replay."""

    name: str
    description: str | None
    problem: Problem
    steps: tuple[Step, ...]


def load_file(path: Path) -> Scenario:
    """Read and validate a scenario file; raises ScenarioError naming the file."""
    data = read_document(path)
    try:
        return load_data(data, base_dir=path.parent)
    except ScenarioError as error:
        raise error.located(str(path)) from None


def read_document(path: Path) -> Any:
    """A YAML or JSON file, parsed (repeated keys refused); raises ScenarioError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError("", f"cannot read the file: {error.strerror}", source=str(path)) from None
    except UnicodeDecodeError:
        raise ScenarioError("", "the file is not UTF-8 text", source=str(path)) from None
    empty = ScenarioError("", "the file is empty (docs/format.md section 1 has a complete example)", source=str(path))
    if not text.strip():
        raise empty
    try:
        data = _parse_text(text, json_format=path.suffix.lower() == ".json")
    except ScenarioError as error:
        raise error.located(str(path)) from None
    if data is None and text.strip().lower() not in ("null", "~"):  # YAML of nothing but comments
        raise empty
    return data


def load_data(data: object, *, base_dir: Path | None = None) -> Scenario:
    """Validate parsed scenario data; ``base_dir`` resolves csv profiles (None forbids them)."""
    if not isinstance(data, Mapping):
        raise ScenarioError("", "a scenario must be a mapping with name, horizon, regions, ...")
    try:
        model = ScenarioIn.model_validate(data)
    except ValidationError as error:
        raise _first_error(error, schema=ScenarioIn) from None
    return _Builder(model, base_dir).build()


def _parse_text(text: str, *, json_format: bool) -> Any:
    if json_format:
        return _parse_json(text)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ScenarioError(where, f"invalid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise ScenarioError("", f"invalid YAML: {error}") from None


def _parse_json(text: str) -> Any:
    """JSON, refusing a key repeated in one object (``json`` keeps the last silently, as PyYAML would)."""
    repeated: dict[int, str] = {}  # id of an object -> its first repeated key

    def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in pairs:
            if key in mapping:
                repeated.setdefault(id(mapping), key)
            mapping[key] = value
        return mapping

    try:
        data = json.loads(text, object_pairs_hook=unique_pairs)
    except json.JSONDecodeError as error:
        raise ScenarioError(f"line {error.lineno} column {error.colno}", f"invalid JSON: {error.msg}") from None
    if repeated:
        loc, key = _find_repeated(data, repeated, []) or ([], next(iter(repeated.values())))
        raise ScenarioError(format_path([*loc, key]), f"invalid JSON: key {key!r} appears twice in one object")
    return data


def _find_repeated(value: Any, repeated: Mapping[int, str], loc: list[int | str]) -> tuple[list[int | str], str] | None:
    """The location of the first object, in reading order, that holds a repeated key, and that key."""
    if isinstance(value, dict):
        if id(value) in repeated:
            return loc, repeated[id(value)]
        children: Iterable[tuple[int | str, Any]] = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return None
    for part, child in children:
        found = _find_repeated(child, repeated, [*loc, part])
        if found is not None:
            return found
    return None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key repeated in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def format_path(loc: Iterable[int | str]) -> str:
    """``('requests', 0, 'duration')`` -> ``requests[0].duration``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _without_branch_tags(loc: tuple[int | str, ...]) -> list[int | str]:
    """Drop the branch names tagged unions put in a location: ``negotiation[0].<action>``, ``.profile.<form>``."""
    parts = list(loc)
    for i in range(len(parts) - 1, 0, -1):
        after_step = i == 2 and parts[0] == "negotiation"
        after_profile = parts[i - 1] == "profile" and isinstance(parts[i - 2] if i >= 2 else None, int)
        if after_step or after_profile:
            del parts[i]
    return parts


def _first_error(error: ValidationError, *, schema: Any, step: bool = False) -> ScenarioError:
    return describe_errors(list(error.errors(include_url=False)), schema=schema, step=step)


def describe_errors(details: Sequence[Mapping[str, Any]], *, schema: Any = None, step: bool = False) -> ScenarioError:
    """The first of pydantic's error details as a ScenarioError with a clean field path.

    ``schema``: the type validated (``ScenarioIn``, ``StepIn``, ...), to suggest the key meant by an
    unknown one. ``step``: the details are about a lone negotiation step (paths relative to it).
    """
    first = details[0]
    loc = _without_branch_tags(("negotiation", 0, *first["loc"]) if step else first["loc"])[2 if step else 0 :]
    message = first["msg"].removeprefix("Value error, ")
    given = first.get("input")
    if first["type"] == "extra_forbidden":
        key = str(loc[-1])
        near = difflib.get_close_matches(key, _keys_at(schema, tuple(first["loc"])[:-1]), n=1)
        hint = f"did you mean {near[0]!r}?" if near else "check its spelling;"
        message = f"unknown key {key!r} ({hint} docs/format.md section 2 lists the keys)"
    elif first["type"] == "missing":
        message = "is required"
    elif first["type"] == "union_tag_invalid":
        action = str(given.get("action")) if isinstance(given, Mapping) else ""
        near = difflib.get_close_matches(action, STEP_ACTIONS, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        message = f"unknown action {action!r}{hint}: use one of {', '.join(STEP_ACTIONS)}"
    elif first["type"] == "union_tag_not_found":
        message = f"needs an action: one of {', '.join(STEP_ACTIONS)}"
    elif first["type"] == "string_type" and isinstance(given, date):
        message = f"must be text: an unquoted {written(given)} is read as a time; put it in quotes"
    elif "input" in first and not isinstance(given, Mapping | list) and written(given) not in message:
        message = f"{message} (got {written(given)})"
    more = len(details) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ScenarioError(format_path(loc), message)


def _keys_at(schema: Any, loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the mapping at ``loc`` (pydantic's, branch tags included) of ``schema``."""
    models = _models_in(schema)
    for part in loc:
        if isinstance(part, int):
            continue
        fields = [model.model_fields[part] for model in models if part in model.model_fields]
        if fields:
            models = [inner for field in fields for inner in _models_in(field.annotation)]
        else:  # a branch tag: a step's action, or a profile's form
            chosen = [model for model in models if _action_of(model) == part]
            models = chosen or models
    return sorted({key for model in models for key in model.model_fields})


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold, through Annotated, unions, lists and dicts."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        args = args[:1]
    elif typing.get_origin(annotation) is dict:
        args = args[1:]
    elif not args or typing.get_origin(annotation) not in (list, typing.Union, types.UnionType):
        return []
    return [model for arg in args for model in _models_in(arg)]


def _action_of(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("action")
    choices = typing.get_args(field.annotation) if field is not None else ()
    return str(choices[0]) if len(choices) == 1 else None


class _Builder:
    """Checks references between fields and builds the engine's dataclasses."""

    def __init__(self, model: ScenarioIn, base_dir: Path | None) -> None:
        self.model = model
        self.base_dir = base_dir
        self.services = dict(model.services) if model.services is not None else {DEFAULT_SERVICE: 1.0}
        self.region_ids: set[str] = set()
        self.regions: dict[str, Region] = {}  # by id: holiday and calendar events need their zones and countries
        self.grid: SlotGrid | None = None  # the horizon, which bounds the periods of those events
        self.request_ids: set[str] = set()
        self.event_ids: set[str] = set()
        self.stakeholder_ids: set[str] = set()
        self.withdrawn_ids: set[str] = set()  # withdrawn by an earlier step: their ids may be submitted again

    def build(self) -> Scenario:
        model = self.model
        if model.horizon.end <= model.horizon.start:
            raise ScenarioError("horizon.end", "must be later than horizon.start")
        grid = SlotGrid.over(model.horizon.start, model.horizon.end, model.horizon.slot_minutes)
        if grid.count == 0:
            raise ScenarioError("horizon.end", f"the horizon is shorter than one slot ({grid.slot_minutes} min)")
        _check_shares(self.services, "services")
        self.grid = grid
        regions = tuple(self._region(region, f"regions[{i}]") for i, region in enumerate(model.regions))
        stakeholders = tuple(self._stakeholder(s, f"stakeholders[{i}]") for i, s in enumerate(model.stakeholders))
        events = tuple(self._event(event, f"events[{i}]") for i, event in enumerate(model.events))
        requests = tuple(self._request(r, f"requests[{i}]", grid) for i, r in enumerate(model.requests))
        now = model.now if model.now is not None else model.horizon.start
        taken = tuple(self._step(i, step, grid, now) for i, step in enumerate(model.negotiation))
        all_requests = list(requests) + [step.request for step in taken if isinstance(step, steps.Submit)]
        _check_after_cycles(all_requests, {r.id: self._request_path(r.id) for r in all_requests})
        problem = Problem(
            name=model.name,
            grid=grid,
            now=now,
            services=self.services,
            regions=regions,
            requests=requests,
            events=events,
            stakeholders=stakeholders,
        )
        return Scenario(name=model.name, description=model.description, problem=problem, steps=taken)

    def _request_path(self, request_id: str) -> str:
        for i, request in enumerate(self.model.requests):
            if request.id == request_id:
                return f"requests[{i}].after"
        for i, step in enumerate(self.model.negotiation):
            if isinstance(step, SubmitStep) and step.request.id == request_id:
                return f"negotiation[{i}].request.after"
        return "requests"

    def _unique(self, seen: set[str], value: str, path: str, kind: str) -> None:
        if value in seen:
            raise ScenarioError(path, f"{kind} id {value!r} is used twice")
        seen.add(value)

    def _refs(self, values: list[str] | None, known: Iterable[str], path: str, kind: str) -> frozenset[str]:
        known_set = set(known)
        if values is None:
            return frozenset(known_set)
        for i, value in enumerate(values):
            if value not in known_set:
                choices = ", ".join(sorted(known_set)) or "none declared"
                raise ScenarioError(f"{path}[{i}]", f"unknown {kind} {value!r} (known: {choices})")
        return frozenset(values)

    def _region(self, region: RegionIn, path: str) -> Region:
        self._unique(self.region_ids, region.id, f"{path}.id", "region")
        try:
            zone(region.timezone)
        except ValueError as error:
            raise ScenarioError(f"{path}.timezone", str(error)) from None
        shares = self.services
        if region.services is not None:
            unknown = sorted(set(region.services) - set(self.services))
            if unknown:
                raise ScenarioError(
                    f"{path}.services.{unknown[0]}",
                    f"unknown service {unknown[0]!r} (known: {', '.join(sorted(self.services))})",
                )
            shares = {service: region.services.get(service, 0.0) for service in self.services}
            _check_shares(shares, f"{path}.services")
        if region.country is not None:
            try:
                calendars.check_country(region.country)
            except ValueError as error:
                raise ScenarioError(f"{path}.country", str(error)) from None
        built = Region(
            id=region.id,
            timezone=region.timezone,
            users=region.users,
            profile=self._profile(region.profile, f"{path}.profile"),
            shares=shares,
            country=region.country,
        )
        self.regions[built.id] = built
        return built

    def _profile(self, profile: str | ProfileIn, path: str) -> Profile:
        try:
            if isinstance(profile, str):
                return profiles.builtin(profile)
            if profile.hourly is not None:
                return profiles.check_values(profile.hourly)
            if profile.weekly is not None:
                return profiles.check_values(profile.weekly)
        except ValueError as error:
            raise ScenarioError(path, str(error)) from None
        assert profile.csv is not None
        if self.base_dir is None:
            raise ScenarioError(f"{path}.csv", "csv profiles are read from files only; send hourly or weekly values")
        try:
            return profiles.read_csv(self.base_dir / profile.csv)
        except ValueError as error:
            raise ScenarioError(f"{path}.csv", str(error)) from None

    def _stakeholder(self, stakeholder: StakeholderIn, path: str) -> Stakeholder:
        self._unique(self.stakeholder_ids, stakeholder.id, f"{path}.id", "stakeholder")
        return Stakeholder(
            id=stakeholder.id,
            name=stakeholder.name or stakeholder.id,
            role=stakeholder.role,
            regions=self._refs(stakeholder.regions, self.region_ids, f"{path}.regions", "region"),
            services=self._refs(stakeholder.services, self.services, f"{path}.services", "service"),
        )

    def _event(self, event: EventIn, path: str) -> Event:
        self._unique(self.event_ids, event.id, f"{path}.id", "event")
        regions = self._refs(event.regions, self.region_ids, f"{path}.regions", "region")
        services = self._refs(event.services, self.services, f"{path}.services", "service")
        name = event.name or event.id
        weighing: dict[str, Any] = {"weight": event.weight, "blackout": bool(event.blackout)}
        source = _period_source(event, path)
        if source == "start":
            assert event.start is not None and event.end is not None
            if event.end <= event.start:
                raise ScenarioError(f"{path}.end", "must be later than start")
            return Event.spanning(
                event.id, event.start, event.end, regions=regions, services=services, name=name, **weighing
            )
        assert self.grid is not None
        covered = [self.regions[region] for region in sorted(regions)]
        if source == "holidays":
            if all(region.country is None for region in covered):
                raise ScenarioError(
                    f"{path}.holidays", "none of the event's regions has a country: give them one, e.g. country: DE"
                )
            periods = calendars.holiday_periods(covered, self.grid)
        else:
            text, where = self._calendar_text(event, path)
            try:
                periods = calendars.ics_periods(event.id, name, text, covered, self.grid)
            except ValueError as error:
                raise ScenarioError(where, str(error)) from None
        return Event(event.id, name, regions, services, periods, **weighing)

    def _calendar_text(self, event: EventIn, path: str) -> tuple[str, str]:
        """The iCalendar text of an ``ics``/``ics_text`` event, and the field path its errors name."""
        if event.ics_text is not None:
            return event.ics_text, f"{path}.ics_text"
        assert event.ics is not None
        where = f"{path}.ics"
        if self.base_dir is None:
            raise ScenarioError(where, "calendar files are read from files only; send the file's text as ics_text")
        try:
            return (self.base_dir / event.ics).read_text(encoding="utf-8-sig"), where
        except OSError as error:
            raise ScenarioError(where, f"cannot read {event.ics!r}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise ScenarioError(where, f"{event.ics!r} is not UTF-8 text") from None

    def _request(self, request: RequestIn, path: str, grid: SlotGrid) -> Request:
        self._unique(self.request_ids, request.id, f"{path}.id", "request")
        for i, predecessor in enumerate(request.after):
            if predecessor == request.id:
                raise ScenarioError(f"{path}.after[{i}]", "a request cannot come after itself")
            if predecessor not in self.request_ids and not self._declared_later(predecessor):
                raise ScenarioError(f"{path}.after[{i}]", f"unknown request {predecessor!r}")
        if request.requested_by is not None and request.requested_by not in self.stakeholder_ids:
            raise ScenarioError(f"{path}.requested_by", f"unknown stakeholder {request.requested_by!r}")
        built = Request(
            id=request.id,
            title=request.title or request.id,
            duration=request.duration,
            earliest=request.earliest or grid.start,
            deadline=request.deadline or grid.end,
            preferred=request.preferred,
            services=self._refs(request.services, self.services, f"{path}.services", "service"),
            regions=self._refs(request.regions, self.region_ids, f"{path}.regions", "region"),
            severity=request.severity,
            resources=frozenset(request.resources),
            after=tuple(request.after),
            notice=request.notice,
            requested_by=request.requested_by,
            replaces=request.replaces,
            silence=tuple(sorted(request.silence.matchers.items())) if request.silence is not None else (),
        )
        if request.repeat is None:
            return built
        return replace(built, repeat=self._repeat(request, built, f"{path}.repeat", grid))

    def _repeat(self, request: RequestIn, built: Request, path: str, grid: SlotGrid) -> Repeat:
        written = request.repeat
        assert written is not None
        if written.zone is not None:
            try:
                zone(written.zone)
            except ValueError as error:
                raise ScenarioError(f"{path}.zone", str(error)) from None
        first_region = (request.regions or list(self.regions))[:1]
        zone_name = written.zone or (self.regions[first_region[0]].timezone if first_region else "UTC")
        if written.until is not None and written.until <= built.earliest:
            raise ScenarioError(f"{path}.until", f"must be after the first period's start {format_utc(built.earliest)}")
        repeat = Repeat(written.every, written.same_time, zone_name, count=written.count, until=written.until)
        if len(repeats.period_starts(grid, replace(built, repeat=repeat))) < 2:
            raise ScenarioError(
                path,
                f"no period of {format_duration(written.every)} from {format_utc(built.earliest)} "
                f"fits the horizon and ends by the deadline: give count, or a shorter every",
            )
        return repeat

    def _declared_later(self, request_id: str) -> bool:
        """``after`` may name a request declared further down the list, not one submitted later."""
        return any(request.id == request_id for request in self.model.requests)

    def _step(self, index: int, step: Any, grid: SlotGrid, now: datetime, path: str | None = None) -> Step:
        path = f"negotiation[{index}]" if path is None else path
        if step.by not in self.stakeholder_ids:
            raise ScenarioError(_join(path, "by"), f"unknown stakeholder {step.by!r}")
        if step.at is not None:
            previous_at = self._last_at or now
            if step.at < previous_at:
                raise ScenarioError(
                    _join(path, "at"),
                    f"goes back in time: {format_utc(step.at)} is before {format_utc(previous_at)}",
                )
            self._last_at = step.at
        common: dict[str, Any] = {"index": index, "by": step.by, "at": step.at}
        match step:
            case SubmitStep():
                if step.request.id in self.withdrawn_ids:
                    self.withdrawn_ids.discard(step.request.id)
                    self.request_ids.discard(step.request.id)
                return steps.Submit(**common, request=self._request(step.request, _join(path, "request"), grid))
            case DeclareEventStep():
                return steps.DeclareEvent(**common, event=self._event(step.event, _join(path, "event")))
            case ApproveStep():
                return steps.Approve(**common, version=step.version)
            case OverrideVetoStep():
                return steps.OverrideVeto(**common, veto=step.veto, reason=step.reason)
            case RemoveEventStep():
                if step.event not in self.event_ids:
                    raise ScenarioError(_join(path, "event"), f"unknown event {step.event!r}")
                return steps.RemoveEvent(**common, event_id=step.event, reason=step.reason)
        # An objection, a counter or a pin may name one occurrence (``ID#3``) of a repeated request.
        if step.request.partition("#")[0] not in self.request_ids or (
            "#" in step.request and isinstance(step, WithdrawStep)
        ):
            raise ScenarioError(_join(path, "request"), f"unknown request {step.request!r}")
        match step:
            case ObjectStep():
                avoid = None
                if step.avoid is not None:
                    for i, span in enumerate(step.avoid):
                        if span.end <= span.start:
                            raise ScenarioError(_join(path, f"avoid[{i}].end"), "must be later than start")
                    avoid = tuple(TimeRange(span.start, span.end) for span in step.avoid)
                weight = step.weight if step.weight is not None else 10.0
                return steps.Object(
                    **common, request_id=step.request, kind=step.kind, avoid=avoid, weight=weight, reason=step.reason
                )
            case WithdrawStep():
                self.withdrawn_ids.add(step.request)
                return steps.Withdraw(**common, request_id=step.request)
            case CounterStep():
                return steps.Counter(**common, request_id=step.request, start=step.start, reason=step.reason)
            case PinStep():
                return steps.Pin(**common, request_id=step.request, start=step.start, reason=step.reason)
        raise AssertionError(f"no step for {step!r}")

    _last_at: datetime | None = None

    @classmethod
    def for_problem(cls, problem: Problem) -> _Builder:
        """A builder that knows the ids of an existing problem, to check new steps against it."""
        builder = cls(ScenarioIn.model_construct(requests=[], negotiation=[]), None)
        builder.services = dict(problem.services)
        builder.region_ids = {region.id for region in problem.regions}
        builder.regions = {region.id: region for region in problem.regions}
        builder.grid = problem.grid
        builder.request_ids = {request.id for request in problem.requests}
        builder.event_ids = {event.id for event in problem.events}
        builder.stakeholder_ids = set(problem.stakeholder_by_id)
        return builder


def load_step(data: object, *, index: int, problem: Problem) -> Step:
    """Validate one negotiation step (an HTTP body) against the problem as it stands.

    Field paths in errors are relative to the step (``avoid[0].end``, ``request.duration``).
    """
    if not isinstance(data, Mapping):
        raise ScenarioError("", "a step must be a mapping")
    try:
        model = _STEP.validate_python(data)
    except ValidationError as error:
        raise _first_error(error, schema=StepIn, step=True) from None
    return _Builder.for_problem(problem)._step(index, model, problem.grid, problem.now, path="")


_STEP: TypeAdapter[Any] = TypeAdapter(StepIn)


def _period_source(event: EventIn, path: str) -> Literal["start", "holidays", "ics"]:
    """Which field gives the event its periods: exactly one of start/end, holidays: true, ics/ics_text."""
    given: list[Literal["start", "holidays", "ics"]] = []
    if event.start is not None or event.end is not None:
        given.append("start")
    if event.holidays:
        given.append("holidays")
    if event.ics is not None or event.ics_text is not None:
        given.append("ics")
    shown = {"start": "start/end", "holidays": "holidays: true", "ics": "ics"}
    if not given:
        raise ScenarioError(
            path, "needs its periods: give start and end, holidays: true, or ics (a calendar file; ics_text over HTTP)"
        )
    if len(given) > 1:
        field = "holidays" if given[1] == "holidays" else ("ics_text" if event.ics is None else "ics")
        raise ScenarioError(
            _join(path, field),
            f"give only one of start/end, holidays: true and ics/ics_text; this event has {shown[given[0]]} too",
        )
    if event.ics is not None and event.ics_text is not None:
        raise ScenarioError(_join(path, "ics_text"), "give ics (a file) or ics_text (its text), not both")
    if given == ["start"]:
        for key in ("start", "end"):
            if getattr(event, key) is None:
                raise ScenarioError(_join(path, key), "is required with " + ("end" if key == "start" else "start"))
    return given[0]


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _check_shares(shares: Mapping[str, float], path: str) -> None:
    total = sum(shares.values())
    if total > 1 + SHARE_TOLERANCE:
        raise ScenarioError(path, f"service shares add up to {total:g}; they must add up to at most 1")


def _check_after_cycles(requests: list[Request], paths: Mapping[str, str]) -> None:
    """``after`` must not form a cycle: the error names the cycle."""
    sorter = TopologicalSorter({request.id: request.after for request in requests})
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = list(reversed(error.args[1]))
        raise ScenarioError(paths[cycle[0]], f"'after' forms a cycle: {' after '.join(cycle)}") from None
