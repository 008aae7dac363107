"""Loading scenarios (docs/format.md section 2): validation, field paths in errors, references and defaults."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler import steps
from scheduler.errors import ScenarioError
from scheduler.profiles import BUILTIN
from scheduler.scenario import Scenario, load_data, load_file, load_step
from scheduler.state import load_problem, problem_json
from tests.factories import (
    make_event,
    make_horizon,
    make_objection,
    make_region,
    make_request,
    make_scenario,
    make_stakeholder,
    make_step,
    write_scenario,
)

DATA = Path(__file__).parent / "data"
EVENING_CSV = DATA / "profiles" / "evening.csv"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def two_services(**overrides: Any) -> dict[str, Any]:
    """A scenario with services web 0.6 / mobile 0.4 and two regions, ``eu`` and ``us``."""
    scenario = make_scenario(
        services={"web": 0.6, "mobile": 0.4},
        regions=[make_region("eu"), make_region("us", timezone="America/New_York")],
    )
    scenario.update(overrides)
    return scenario


def make_blackout(id: str = "e1", **overrides: Any) -> dict[str, Any]:
    """A blackout event over the first day of the horizon (no weight)."""
    event = make_event(id, blackout=True)
    del event["weight"]
    event.update(overrides)
    return event


def csv_text(values: list[float], header: str = "hour,activity") -> str:
    """A CSV profile with one ``hour,activity`` line per value."""
    return header + "\n" + "".join(f"{hour},{value}\n" for hour, value in enumerate(values))


def with_csv_profile(directory: Path, text: str) -> Path:
    """Write ``profiles/p.csv`` and a scenario using it into ``directory``; return the scenario's path."""
    (directory / "profiles").mkdir()
    (directory / "profiles" / "p.csv").write_text(text, encoding="utf-8")
    scenario = make_scenario(regions=[make_region(profile={"csv": "profiles/p.csv"})])
    return write_scenario(directory, scenario)


# --- Files and formats -------------------------------------------------------------------------


def test_json_scenario_loads_the_same_as_its_yaml_twin() -> None:
    from_yaml = load_file(DATA / "twin.yaml")
    from_json = load_file(DATA / "twin.json")

    assert from_yaml == from_json
    assert [request.id for request in from_yaml.problem.requests] == ["db", "cache"]


def test_minimal_scenario_written_to_a_file_loads_like_the_same_data(tmp_path: Path) -> None:
    scenario = make_scenario()

    assert load_file(write_scenario(tmp_path, scenario)) == load_data(scenario)
    assert load_file(write_scenario(tmp_path, scenario, "scenario.json")) == load_data(scenario)


def test_unquoted_yaml_timestamps_with_offsets_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: unquoted
            horizon: {start: 2009-06-15T12:00:00-07:00, end: 2009-06-17T00:00:00Z, slot_minutes: 60}
            now: 2009-06-16T04:45:00Z
            regions: [{id: us, timezone: America/Los_Angeles, users: 10, profile: flat}]
            """
        ),
        encoding="utf-8",
    )

    problem = load_file(path).problem

    assert problem.now == utc(2009, 6, 16, 4, 45)
    assert problem.grid.start == utc(2009, 6, 15, 19)


def test_unquoted_yaml_timestamp_without_offset_is_rejected_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            name: naive
            horizon: {start: 2009-06-15T12:00:00Z, end: 2009-06-17T00:00:00Z, slot_minutes: 60}
            now: 2009-06-16 04:45:00
            regions: [{id: us, timezone: America/Los_Angeles, users: 10, profile: flat}]
            """
        ),
        encoding="utf-8",
    )

    with pytest.raises(ScenarioError, match=r"no offset or zone: add one") as error:
        load_file(path)

    assert error.value.path == "now"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: t\nhorizon:\n  start: [1, 2\n  end: x\n", "line 4 column 6"),
        ("name: t\n\tregions: []\n", "line 2 column 1"),
    ],
    ids=["unclosed-list", "tab"],
)
def test_malformed_yaml_is_rejected_with_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"invalid YAML") as error:
        load_file(path)

    assert where in str(error.value)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        ("name: a\nname: b\n", "name", "line 2 column 1"),
        ("name: a\nhorizon:\n  start: 2026-03-02T00:00:00Z\n  start: 2026-03-03T00:00:00Z\n", "start", "line 4"),
    ],
    ids=["top-level", "nested"],
)
def test_duplicate_yaml_keys_are_rejected(tmp_path: Path, text: str, key: str, where: str) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ScenarioError, match=rf"key '{key}' appears twice") as error:
        load_file(path)

    assert where in str(error.value)


def test_invalid_json_file_is_rejected_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": "t",\n "horizon": }', encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"invalid JSON") as error:
        load_file(path)

    assert "line 2 column 13" in str(error.value)


def test_json_file_is_parsed_as_json_not_yaml(tmp_path: Path) -> None:
    # Valid YAML, invalid JSON: a .json file must be held to JSON's rules.
    path = tmp_path / "scenario.json"
    path.write_text("name: t\n", encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"invalid JSON"):
        load_file(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"], ids=["list", "string", "number"])
def test_scenario_file_that_is_not_a_mapping_is_rejected(tmp_path: Path, text: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"must be a mapping"):
        load_file(path)


@pytest.mark.parametrize("data", [[make_scenario()], "name: t", None], ids=["list", "string", "none"])
def test_scenario_data_that_is_not_a_mapping_is_rejected(data: object) -> None:
    with pytest.raises(ScenarioError, match=r"must be a mapping"):
        load_data(data)


def test_missing_file_is_a_scenario_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"

    with pytest.raises(ScenarioError, match=r"cannot read the file") as error:
        load_file(path)

    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        (make_scenario(requests=[make_request(duration="soon")]), "requests[0].duration"),
        (make_scenario(requests=[make_request(), make_request("r2", deadline="tomorrow")]), "requests[1].deadline"),
        (make_scenario(regions=[make_region(), make_region("us", profile="nope")]), "regions[1].profile"),
        (make_scenario(horizon=make_horizon(slot_minutes=7)), "horizon.slot_minutes"),
        (make_scenario(requests=[make_request(regions=["mars"])]), "requests[0].regions[0]"),
    ],
    ids=["duration", "deadline", "profile", "slot", "reference"],
)
def test_error_from_a_file_names_the_file_and_the_field_path(
    tmp_path: Path, scenario: dict[str, Any], path: str
) -> None:
    file = write_scenario(tmp_path, scenario)

    with pytest.raises(ScenarioError) as error:
        load_file(file)

    assert error.value.path == path
    assert str(error.value).startswith(f"{file}: {path}: ")


# --- Unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        (make_scenario(nmae="typo"), "nmae"),
        (make_scenario(horizon=make_horizon(slots=60)), "horizon.slots"),
        (make_scenario(regions=[make_region(), make_region("us", tz="America/New_York")]), "regions[1].tz"),
        (make_scenario(requests=[make_request(deadlin="2026-03-03T00:00:00Z")]), "requests[0].deadlin"),
        (make_scenario(events=[make_event(colour="red")]), "events[0].colour"),
        (make_scenario(stakeholders=[make_stakeholder(scope=["eu"])]), "stakeholders[0].scope"),
        (
            make_scenario(stakeholders=[make_stakeholder()], negotiation=[make_step(), make_step(when="now")]),
            "negotiation[1].when",
        ),
        (
            make_scenario(
                stakeholders=[make_stakeholder()],
                negotiation=[
                    make_objection(avoid=[{"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T02:00:00Z", "x": 1}])
                ],
            ),
            "negotiation[0].avoid[0].x",
        ),
    ],
    ids=["top", "horizon", "region", "request", "event", "stakeholder", "step", "avoid"],
)
def test_unknown_key_is_rejected_naming_its_path(scenario: dict[str, Any], path: str) -> None:
    key = path.rsplit(".", 1)[-1]

    with pytest.raises(ScenarioError, match=rf"unknown key '{key}'") as error:
        load_data(scenario)

    assert error.value.path == path


# --- Unique ids and references ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "path", "message"),
    [
        (make_scenario(regions=[make_region(), make_region()]), "regions[1].id", "region id 'eu' is used twice"),
        (make_scenario(requests=[make_request(), make_request()]), "requests[1].id", "request id 'r1' is used twice"),
        (make_scenario(events=[make_event(), make_event()]), "events[1].id", "event id 'e1' is used twice"),
        (
            make_scenario(stakeholders=[make_stakeholder(), make_stakeholder(role="observer")]),
            "stakeholders[1].id",
            "stakeholder id 's1' is used twice",
        ),
        (
            make_scenario(stakeholders=[make_stakeholder()], negotiation=[make_step("submit", request=make_request())]),
            "negotiation[0].request.id",
            "request id 'r1' is used twice",
        ),
    ],
    ids=["region", "request", "event", "stakeholder", "submitted-request"],
)
def test_duplicate_id_is_rejected(scenario: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as error:
        load_data(scenario)

    assert error.value.path == path


@pytest.mark.parametrize(
    ("scenario", "path", "message"),
    [
        (
            make_scenario(requests=[make_request(regions=["eu", "asia"])]),
            "requests[0].regions[1]",
            "unknown region 'asia'",
        ),
        (make_scenario(requests=[make_request(services=["web"])]), "requests[0].services[0]", "unknown service 'web'"),
        (make_scenario(events=[make_event(regions=["mars"])]), "events[0].regions[0]", "unknown region 'mars'"),
        (two_services(events=[make_event(services=["tv"])]), "events[0].services[0]", "unknown service 'tv'"),
        (make_scenario(requests=[make_request(after=["ghost"])]), "requests[0].after[0]", "unknown request 'ghost'"),
        (
            make_scenario(requests=[make_request(requested_by="ghost")]),
            "requests[0].requested_by",
            "unknown stakeholder",
        ),
        (
            make_scenario(stakeholders=[make_stakeholder(role="representative", regions=["mars"])]),
            "stakeholders[0].regions[0]",
            "unknown region 'mars'",
        ),
        (
            two_services(stakeholders=[make_stakeholder(role="representative", services=["tv"])]),
            "stakeholders[0].services[0]",
            "unknown service 'tv'",
        ),
        (
            make_scenario(stakeholders=[make_stakeholder()], negotiation=[make_step(by="ghost")]),
            "negotiation[0].by",
            "unknown stakeholder 'ghost'",
        ),
        (
            make_scenario(stakeholders=[make_stakeholder()], negotiation=[make_objection(request="ghost")]),
            "negotiation[0].request",
            "unknown request 'ghost'",
        ),
        (
            make_scenario(stakeholders=[make_stakeholder()], negotiation=[make_step("withdraw", request="ghost")]),
            "negotiation[0].request",
            "unknown request 'ghost'",
        ),
        (
            two_services(regions=[make_region(services={"tv": 0.5})]),
            "regions[0].services.tv",
            "unknown service 'tv'",
        ),
    ],
    ids=[
        "request-region",
        "request-service",
        "event-region",
        "event-service",
        "request-after",
        "requested-by",
        "stakeholder-region",
        "stakeholder-service",
        "step-by",
        "step-object-request",
        "step-withdraw-request",
        "region-service-override",
    ],
)
def test_dangling_reference_is_rejected(scenario: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as error:
        load_data(scenario)

    assert error.value.path == path


def test_after_may_name_a_request_declared_further_down() -> None:
    scenario = load_data(make_scenario(requests=[make_request("r2", after=["r1"]), make_request("r1")]))

    assert scenario.problem.request_by_id["r2"].after == ("r1",)


def test_step_may_name_a_request_submitted_by_an_earlier_step() -> None:
    steps = [make_step("submit", request=make_request("r2")), make_step("withdraw", request="r2")]

    scenario = load_data(make_scenario(stakeholders=[make_stakeholder()], negotiation=steps))

    assert [step.request_id for step in scenario.steps] == ["r2", "r2"]


@pytest.mark.parametrize(
    ("requests", "cycle"),
    [
        ([make_request("a", after=["b"]), make_request("b", after=["a"])], ["a", "b"]),
        (
            [make_request("a", after=["b"]), make_request("b", after=["c"]), make_request("c", after=["a"])],
            ["a", "b", "c"],
        ),
    ],
    ids=["two", "three"],
)
def test_after_cycle_is_rejected_naming_the_cycle(requests: list[dict[str, Any]], cycle: list[str]) -> None:
    with pytest.raises(ScenarioError, match=r"'after' forms a cycle") as error:
        load_data(make_scenario(requests=requests))

    named = str(error.value).split("cycle: ", 1)[1]
    assert sorted(set(named.split(" after "))) == cycle
    assert error.value.path.startswith("requests[")
    assert error.value.path.endswith("].after")


def test_request_after_itself_is_rejected() -> None:
    with pytest.raises(ScenarioError, match=r"cannot come after itself") as error:
        load_data(make_scenario(requests=[make_request(after=["r1"])]))

    assert error.value.path == "requests[0].after[0]"


# --- Services and shares ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "path", "message"),
    [
        (make_scenario(services={"web": 0.7, "mobile": 0.4}), "services", r"add up to 1\.1"),
        (
            two_services(regions=[make_region(services={"web": 0.7, "mobile": 0.4})]),
            "regions[0].services",
            r"add up to 1\.1",
        ),
        (make_scenario(services={"web": 1.5}), "services.web", r"less than or equal to 1"),
        (make_scenario(services={"web": -0.1}), "services.web", r"greater than or equal to 0"),
        (two_services(regions=[make_region(services={"web": 1.7})]), "regions[0].services.web", r"less than or equal"),
    ],
    ids=["scenario-sum", "region-sum", "over-one", "negative", "region-over-one"],
)
def test_bad_service_shares_are_rejected(scenario: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as error:
        load_data(scenario)

    assert error.value.path == path


def test_shares_adding_up_to_exactly_one_are_accepted() -> None:
    scenario = load_data(make_scenario(services={"web": 0.7, "mobile": 0.2, "dm": 0.1}))

    assert scenario.problem.services == {"web": 0.7, "mobile": 0.2, "dm": 0.1}


@pytest.mark.parametrize("service", ["pin", "approve", "str"])
def test_share_error_path_names_the_service_whatever_its_name(service: str) -> None:
    with pytest.raises(ScenarioError, match=r"less than or equal to 1") as error:
        load_data(make_scenario(services={service: 1.5}))

    assert error.value.path == f"services.{service}"


# --- Profiles --------------------------------------------------------------------------------


def test_unknown_builtin_profile_is_rejected_listing_the_names() -> None:
    scenario = make_scenario(regions=[make_region(), make_region("us", profile="gamers")])

    with pytest.raises(ScenarioError, match=r"unknown profile 'gamers': use one of business, consumer, flat") as error:
        load_data(scenario)

    assert error.value.path == "regions[1].profile"


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_profiles_are_accepted(name: str) -> None:
    scenario = load_data(make_scenario(regions=[make_region(profile=name)]))

    assert scenario.problem.regions[0].profile == BUILTIN[name]


@pytest.mark.parametrize(
    "profile",
    [{"hourly": [0.2] * 24}, {"weekly": [0.3] * 168}],
    ids=["hourly", "weekly"],
)
def test_inline_profiles_are_accepted(profile: dict[str, list[float]]) -> None:
    scenario = load_data(make_scenario(regions=[make_region(profile=profile)]))

    values = next(iter(profile.values()))
    assert scenario.problem.regions[0].profile.values == tuple(values)


BAD_INLINE_PROFILES = {
    "hourly-23": ({"hourly": [0.1] * 23}, r"24"),
    "weekly-167": ({"weekly": [0.1] * 167}, r"168"),
    "hourly-over-one": ({"hourly": [0.1] * 5 + [1.5] + [0.1] * 18}, r"1\.5"),
    "weekly-negative": ({"weekly": [-0.2] + [0.1] * 167}, r"-0\.2"),
    "unknown-key": ({"hourly": [0.1] * 24, "colour": "red"}, r"unknown key 'colour'"),
}


@pytest.mark.parametrize(
    "profile", [profile for profile, _ in BAD_INLINE_PROFILES.values()], ids=BAD_INLINE_PROFILES.keys()
)
def test_bad_inline_profile_is_rejected(profile: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError) as error:
        load_data(make_scenario(regions=[make_region(), make_region("us", profile=profile)]))

    assert error.value.path.startswith("regions[1].profile")


@pytest.mark.parametrize(("profile", "message"), BAD_INLINE_PROFILES.values(), ids=BAD_INLINE_PROFILES.keys())
def test_bad_inline_profile_error_says_what_is_wrong(profile: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_data(make_scenario(regions=[make_region(), make_region("us", profile=profile)]))


def test_csv_profile_is_read_relative_to_the_scenario_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario_dir = tmp_path / "plans"
    scenario_dir.mkdir()
    path = with_csv_profile(scenario_dir, EVENING_CSV.read_text(encoding="utf-8"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    profile = load_file(path).problem.regions[0].profile

    assert len(profile.values) == 24
    assert profile.values[20] == 0.4
    assert profile.values[3] == 0.05


def test_weekly_csv_profile_is_accepted(tmp_path: Path) -> None:
    values = [round(hour / 1000, 3) for hour in range(168)]

    profile = load_file(with_csv_profile(tmp_path, csv_text(values))).problem.regions[0].profile

    assert profile.weekly
    assert profile.values == tuple(values)


def test_csv_profile_in_load_data_resolves_against_base_dir() -> None:
    scenario = make_scenario(regions=[make_region(profile={"csv": "profiles/evening.csv"})])

    profile = load_data(scenario, base_dir=DATA).problem.regions[0].profile

    assert profile.values[21] == 0.4


def test_csv_profile_without_base_dir_is_rejected() -> None:
    scenario = make_scenario(regions=[make_region(profile={"csv": "profiles/evening.csv"})])

    with pytest.raises(ScenarioError, match=r"csv profiles are read from files only") as error:
        load_data(scenario)

    assert error.value.path == "regions[0].profile.csv"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (csv_text([0.1] * 23), r"hours 0-23 \(hourly\) each need a line; missing: 23$"),
        (csv_text([0.1] * 24).replace("\n7,0.1\n", "\n"), r"missing: 7$"),
        (csv_text([0.1] * 24, header="hour,users"), r"p\.csv:1: .*header 'hour,activity' \(found 'hour,users'\)"),
        (csv_text([0.1] * 24)[len("hour,activity\n") :], r"header 'hour,activity'"),
        (csv_text([0.1] * 5 + [1.5] + [0.1] * 18), r"p\.csv:7: activity 1\.5 for hour 5 is outside \[0, 1\]"),
        (csv_text([0.1] * 24).replace("\n3,0.1\n", "\n3,lots\n"), r"p\.csv:5: expected an hour and a number"),
        (csv_text([0.1] * 24) + "3,0.2\n", r"p\.csv:26: hour 3 appears twice \(first on line 5\)"),
        ("", r"header 'hour,activity'"),
        (csv_text([0.1] * 24) + "200,0.1\n", r"p\.csv:26: hour 200 is outside 0-167"),
    ],
    ids=[
        "23-hours",
        "missing-hour",
        "bad-header",
        "no-header",
        "out-of-range",
        "not-a-number",
        "repeated",
        "empty",
        "hour-past-a-week",
    ],
)
def test_bad_csv_profile_is_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = with_csv_profile(tmp_path, text)

    with pytest.raises(ScenarioError, match=message) as error:
        load_file(path)

    assert error.value.path == "regions[0].profile.csv"
    assert str(error.value).startswith(str(path))


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff" + csv_text([0.1] * 24),
        csv_text([0.1] * 24, header="hour, activity").replace(",0.1", ", 0.1"),
        csv_text([0.1] * 24, header="Hour,Activity") + "\n\n",
    ],
    ids=["byte-order-mark", "spaces-after-commas", "capitals-and-blank-lines"],
)
def test_spreadsheet_csv_exports_are_accepted(tmp_path: Path, text: str) -> None:
    profile = load_file(with_csv_profile(tmp_path, text)).problem.regions[0].profile

    assert profile.values == (0.1,) * 24


def test_csv_profile_that_is_not_utf8_says_how_to_save_it(tmp_path: Path) -> None:
    path = with_csv_profile(tmp_path, csv_text([0.1] * 24))
    (tmp_path / "profiles" / "p.csv").write_bytes("hour,activity\n0,0.1 café\n".encode("latin-1"))

    with pytest.raises(ScenarioError, match=r"p\.csv: not UTF-8 text; save the file as CSV UTF-8"):
        load_file(path)


def test_missing_csv_profile_file_is_rejected(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, make_scenario(regions=[make_region(profile={"csv": "missing.csv"})]))

    with pytest.raises(ScenarioError, match=r"cannot read .*missing\.csv") as error:
        load_file(path)

    assert error.value.path == "regions[0].profile.csv"


# --- Horizon, regions, requests, events --------------------------------------------------------


@pytest.mark.parametrize(
    ("horizon", "message"),
    [
        (make_horizon(start="2026-03-04T00:00:00Z", end="2026-03-02T00:00:00Z"), r"must be later than horizon\.start"),
        (make_horizon(end="2026-03-02T00:00:00Z"), r"must be later than horizon\.start"),
        (make_horizon(end="2026-03-02T00:59:00Z"), r"shorter than one slot \(60 min\)"),
        (make_horizon(end="2026-03-02T00:14:00Z", slot_minutes=15), r"shorter than one slot \(15 min\)"),
    ],
    ids=["reversed", "empty", "under-one-slot", "under-one-short-slot"],
)
def test_horizon_without_a_whole_slot_is_rejected(horizon: dict[str, Any], message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as error:
        load_data(make_scenario(horizon=horizon))

    assert error.value.path == "horizon.end"


@pytest.mark.parametrize("slot_minutes", [0, 7, 20, 45, 120, "15"])
def test_slot_minutes_outside_the_allowed_set_is_rejected(slot_minutes: object) -> None:
    with pytest.raises(ScenarioError, match=r"1, 5, 10, 15, 30 or 60") as error:
        load_data(make_scenario(horizon=make_horizon(slot_minutes=slot_minutes)))

    assert error.value.path == "horizon.slot_minutes"


@pytest.mark.parametrize("slot_minutes", [1, 5, 10, 15, 30, 60])
def test_allowed_slot_minutes_cut_the_horizon(slot_minutes: int) -> None:
    grid = load_data(make_scenario(horizon=make_horizon(slot_minutes=slot_minutes))).problem.grid

    assert grid.slot_minutes == slot_minutes
    assert grid.count == 48 * 60 // slot_minutes


def test_partial_last_slot_of_the_horizon_is_dropped() -> None:
    grid = load_data(make_scenario(horizon=make_horizon(end="2026-03-02T02:30:00Z"))).problem.grid

    assert grid.count == 2
    assert grid.end == utc(2026, 3, 2, 2)


@pytest.mark.parametrize("users", [0, -5])
def test_region_without_users_is_rejected(users: int) -> None:
    with pytest.raises(ScenarioError, match=r"greater than 0") as error:
        load_data(make_scenario(regions=[make_region(users=users)]))

    assert error.value.path == "regions[0].users"


def test_region_with_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ScenarioError, match=r"unknown time zone 'Europe/Pariss'") as error:
        load_data(make_scenario(regions=[make_region(timezone="Europe/Pariss")]))

    assert error.value.path == "regions[0].timezone"


def test_scenario_without_regions_is_rejected() -> None:
    with pytest.raises(ScenarioError) as error:
        load_data(make_scenario(regions=[]))

    assert error.value.path == "regions"


@pytest.mark.parametrize(
    ("severity", "message"), [(0, r"greater than 0"), (-0.5, r"greater than 0"), (1.5, r"less than or equal to 1")]
)
def test_severity_outside_zero_to_one_is_rejected(severity: float, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as error:
        load_data(make_scenario(requests=[make_request(severity=severity)]))

    assert error.value.path == "requests[0].severity"


def test_severity_of_one_is_accepted() -> None:
    assert load_data(make_scenario(requests=[make_request(severity=1)])).problem.requests[0].severity == 1.0


@pytest.mark.parametrize("duration", ["", "abc", "-5m", 90, "P1M"])
def test_bad_duration_is_rejected_naming_the_field(duration: object) -> None:
    with pytest.raises(ScenarioError, match=r"duration|no fixed length") as error:
        load_data(make_scenario(requests=[make_request(duration=duration)]))

    assert error.value.path == "requests[0].duration"


@pytest.mark.parametrize("duration", ["0m", "PT0S", "0d"])
def test_zero_duration_is_rejected(duration: str) -> None:
    with pytest.raises(ScenarioError, match=r"^requests\[0\]\.duration: must be longer than 0") as error:
        load_data(make_scenario(requests=[make_request(duration=duration)]))

    assert error.value.path == "requests[0].duration"


def test_zero_duration_error_names_the_duration_field() -> None:
    with pytest.raises(ScenarioError, match=r"longer than 0") as error:
        load_data(make_scenario(requests=[make_request(duration="0m")]))

    assert error.value.path == "requests[0].duration"


@pytest.mark.parametrize(
    "event",
    [
        make_event(blackout=True),
        {"id": "e1", "start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"},
        make_blackout(blackout=False),
    ],
    ids=["both", "neither", "blackout-false"],
)
def test_event_needs_exactly_one_of_weight_and_blackout(event: dict[str, Any]) -> None:
    with pytest.raises(ScenarioError, match=r"exactly one of weight \(> 0\) and blackout: true") as error:
        load_data(make_scenario(events=[make_event("ok"), event]))

    assert error.value.path.startswith("events[1]")


def test_event_with_zero_weight_is_rejected() -> None:
    with pytest.raises(ScenarioError, match=r"greater than 0") as error:
        load_data(make_scenario(events=[make_event(weight=0)]))

    assert error.value.path == "events[0].weight"


def test_blackout_event_is_accepted() -> None:
    event = load_data(make_scenario(events=[make_blackout()])).problem.events[0]

    assert event.blackout
    assert event.weight is None


# --- Times in the scenario ---------------------------------------------------------------------


def test_time_in_spring_forward_gap_is_rejected_naming_field_value_and_zone() -> None:
    scenario = make_scenario(requests=[make_request(earliest="2026-03-29 02:30 Europe/Paris")])

    with pytest.raises(ScenarioError, match=r"2026-03-29 02:30 does not exist in Europe/Paris") as error:
        load_data(scenario)

    assert error.value.path == "requests[0].earliest"


def test_us_spring_forward_gap_is_rejected_in_an_event() -> None:
    scenario = make_scenario(events=[make_event(end="2026-03-08 02:30 America/New_York")])

    with pytest.raises(ScenarioError, match=r"2026-03-08 02:30 does not exist in America/New_York") as error:
        load_data(scenario)

    assert error.value.path == "events[0].end"


def test_repeated_time_is_rejected_naming_field_and_both_instants() -> None:
    scenario = make_scenario(requests=[make_request(deadline="2026-11-01 01:30 America/New_York")])

    with pytest.raises(ScenarioError, match=r"2026-11-01 01:30 occurs twice in America/New_York") as error:
        load_data(scenario)

    assert error.value.path == "requests[0].deadline"
    assert "2026-11-01T05:30:00Z" in str(error.value)
    assert "2026-11-01T06:30:00Z" in str(error.value)


def test_repeated_time_written_with_an_offset_is_accepted() -> None:
    horizon = make_horizon(start="2026-10-31T00:00:00Z", end="2026-11-02T00:00:00Z")
    scenario = make_scenario(horizon=horizon, requests=[make_request(deadline="2026-11-01T01:30:00-05:00")])

    assert load_data(scenario).problem.requests[0].deadline == utc(2026, 11, 1, 6, 30)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("now", "2026-03-02 09:00", r"no offset or zone: add one"),
        ("now", "2026-03-02 09:00 Europe/Pariss", r"unknown time zone 'Europe/Pariss'"),
        ("now", "2026-03-02", r"2026-03-02"),
    ],
    ids=["no-zone", "unknown-zone", "date-only"],
)
def test_bad_time_is_rejected_naming_the_field(field: str, value: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as error:
        load_data(make_scenario(**{field: value}))

    assert error.value.path == field


def test_avoid_range_time_error_names_its_path() -> None:
    avoid = [{"start": "2026-03-02T00:00:00Z", "end": "2026-03-29 02:30 Europe/Paris"}]
    scenario = make_scenario(stakeholders=[make_stakeholder()], negotiation=[make_objection(avoid=avoid)])

    with pytest.raises(ScenarioError, match=r"does not exist in Europe/Paris") as error:
        load_data(scenario)

    assert error.value.path == "negotiation[0].avoid[0].end"


# --- Negotiation steps -------------------------------------------------------------------------


def test_step_going_back_in_time_is_rejected_naming_its_at() -> None:
    steps = [make_step(at="2026-03-02T05:00:00Z"), make_step(), make_step(at="2026-03-02T04:00:00Z")]

    with pytest.raises(ScenarioError, match=r"goes back in time") as error:
        load_data(make_scenario(stakeholders=[make_stakeholder()], negotiation=steps))

    assert error.value.path == "negotiation[2].at"


def test_step_before_now_is_rejected() -> None:
    scenario = make_scenario(
        now="2026-03-02T05:00:00Z",
        stakeholders=[make_stakeholder()],
        negotiation=[make_step(at="2026-03-02T04:59:00Z")],
    )

    with pytest.raises(ScenarioError, match=r"goes back in time") as error:
        load_data(scenario)

    assert error.value.path == "negotiation[0].at"


def test_steps_at_the_same_time_or_later_are_accepted() -> None:
    steps = [make_step(at="2026-03-02T05:00:00Z"), make_step(at="2026-03-02 06:00 Europe/Paris"), make_step()]

    scenario = load_data(make_scenario(stakeholders=[make_stakeholder()], negotiation=steps))

    assert [step.at for step in scenario.steps] == [utc(2026, 3, 2, 5), utc(2026, 3, 2, 5), None]


def test_unknown_step_action_is_rejected_listing_the_actions() -> None:
    steps = [make_step(), make_step("haggle")]

    with pytest.raises(ScenarioError, match=r"unknown action 'haggle': use one of object, declare_event") as error:
        load_data(make_scenario(stakeholders=[make_stakeholder()], negotiation=steps))

    assert error.value.path == "negotiation[1]"


def test_step_without_action_is_rejected() -> None:
    with pytest.raises(ScenarioError, match=r"needs an action") as error:
        load_data(make_scenario(stakeholders=[make_stakeholder()], negotiation=[{"by": "s1"}]))

    assert error.value.path == "negotiation[0]"


# --- Defaults ----------------------------------------------------------------------------------


def load(**overrides: Any) -> Scenario:
    """Load ``make_scenario(**overrides)``."""
    return load_data(make_scenario(**overrides))


def test_services_default_to_one_service_all_with_share_one() -> None:
    problem = load().problem

    assert problem.services == {"all": 1.0}
    assert problem.regions[0].shares == {"all": 1.0}
    assert problem.requests[0].services == frozenset({"all"})


def test_region_services_override_replaces_the_scenario_shares() -> None:
    problem = load_data(two_services(regions=[make_region(services={"web": 0.7}), make_region("us")])).problem

    regions = {region.id: region for region in problem.regions}
    assert regions["eu"].shares == {"web": 0.7, "mobile": 0.0}
    assert regions["us"].shares == {"web": 0.6, "mobile": 0.4}


def test_request_defaults_span_the_horizon_every_region_and_service() -> None:
    request = load_data(two_services()).problem.requests[0]

    assert request.earliest == utc(2026, 3, 2)
    assert request.deadline == utc(2026, 3, 4)
    assert request.regions == frozenset({"eu", "us"})
    assert request.services == frozenset({"web", "mobile"})
    assert request.severity == 1.0
    assert request.notice == timedelta(0)
    assert request.after == ()
    assert request.resources == frozenset()


def test_request_fields_given_are_kept() -> None:
    request = load(
        requests=[
            make_request(
                duration="1h30m",
                earliest="2026-03-02 08:00 Europe/Paris",
                deadline="2026-03-03T12:00:00+01:00",
                preferred="2026-03-02T22:00:00Z",
                severity=0.4,
                notice="2h",
                resources=["db-1"],
                regions=["eu"],
            )
        ]
    ).problem.requests[0]

    assert request.duration == timedelta(minutes=90)
    assert request.earliest == utc(2026, 3, 2, 7)
    assert request.deadline == utc(2026, 3, 3, 11)
    assert request.preferred == utc(2026, 3, 2, 22)
    assert request.severity == 0.4
    assert request.notice == timedelta(hours=2)
    assert request.resources == frozenset({"db-1"})


def test_event_scope_defaults_to_every_region_and_service() -> None:
    event = load_data(two_services(events=[make_event()])).problem.events[0]

    assert event.regions == frozenset({"eu", "us"})
    assert event.services == frozenset({"web", "mobile"})
    assert event.weight == 2


def test_stakeholder_scope_defaults_to_everything() -> None:
    stakeholder = load_data(two_services(stakeholders=[make_stakeholder(role="representative")])).problem.stakeholders[
        0
    ]

    assert stakeholder.regions == frozenset({"eu", "us"})
    assert stakeholder.services == frozenset({"web", "mobile"})


def test_stakeholder_scope_given_is_kept() -> None:
    stakeholders = [make_stakeholder(role="representative", regions=["us"], services=["web"])]

    stakeholder = load_data(two_services(stakeholders=stakeholders)).problem.stakeholders[0]

    assert stakeholder.regions == frozenset({"us"})
    assert stakeholder.services == frozenset({"web"})


def test_now_defaults_to_the_horizon_start() -> None:
    assert load().problem.now == utc(2026, 3, 2)


def test_now_given_is_kept() -> None:
    assert load(now="2026-03-02 10:00 Europe/Paris").problem.now == utc(2026, 3, 2, 9)


def test_slot_minutes_default_to_fifteen() -> None:
    horizon = make_horizon()
    del horizon["slot_minutes"]

    grid = load(horizon=horizon).problem.grid

    assert grid.slot_minutes == 15
    assert grid.count == 48 * 4


def test_soft_objection_weight_defaults_to_ten() -> None:
    written = [make_objection(kind="soft"), make_objection(kind="soft", weight=3), make_objection(kind="veto")]

    scenario = load(stakeholders=[make_stakeholder()], negotiation=written)

    objections = [step for step in scenario.steps if isinstance(step, steps.Object)]
    assert [(step.kind, step.weight) for step in objections[:2]] == [("soft", 10.0), ("soft", 3.0)]
    assert objections[2].kind == "veto"


# Messages a user reads: nearest key, zone and action; values as written; no missing documents


@pytest.mark.parametrize(
    ("scenario", "path", "meant"),
    [
        (make_scenario(requests=[make_request(dedline="2026-03-03T00:00:00Z")]), "requests[0].dedline", "deadline"),
        (make_scenario(regions=[make_region(profile={"hourley": [0.5] * 24})]), "regions[0].profile.hourley", "hourly"),
        (make_scenario(horizn=make_horizon()), "horizn", "horizon"),
        (
            make_scenario(stakeholders=[make_stakeholder()], negotiation=[make_objection(reson="x")]),
            "negotiation[0].reson",
            "reason",
        ),
    ],
    ids=["request", "profile", "top-level", "step"],
)
def test_unknown_key_suggests_the_key_meant(scenario: dict[str, Any], path: str, meant: str) -> None:
    with pytest.raises(ScenarioError, match=rf"did you mean '{meant}'\? docs/format\.md section 2") as error:
        load_data(scenario)

    assert error.value.path == path


def test_unknown_key_without_a_near_one_points_to_the_format_reference() -> None:
    with pytest.raises(ScenarioError, match=r"check its spelling; docs/format\.md section 2 lists the keys"):
        load_data(make_scenario(requests=[make_request(zzzzzz=1)]))


def test_unknown_key_of_a_lone_step_suggests_the_key_meant() -> None:
    problem = load_data(make_scenario(stakeholders=[make_stakeholder()])).problem

    with pytest.raises(ScenarioError, match=r"unknown key 'kindd' \(did you mean 'kind'\?") as error:
        load_step(make_objection(kindd="veto"), index=0, problem=problem)

    assert error.value.path == "kindd"


def test_unknown_action_suggests_the_action_meant() -> None:
    steps = [make_step("objet", request="r1", kind="veto")]

    with pytest.raises(ScenarioError, match=r"unknown action 'objet' \(did you mean 'object'\?\): use one of"):
        load_data(make_scenario(stakeholders=[make_stakeholder()], negotiation=steps))


@pytest.mark.parametrize(("timezone", "meant"), [("europe/berlin", "Europe/Berlin"), ("Europe/Pariss", "Europe/Paris")])
def test_unknown_time_zone_suggests_the_zone_meant(timezone: str, meant: str) -> None:
    with pytest.raises(ScenarioError, match=rf"unknown time zone '{timezone}': did you mean '{meant}'\?"):
        load_data(make_scenario(regions=[make_region(timezone=timezone)]))


def test_time_in_a_misspelt_zone_suggests_the_zone_meant() -> None:
    request = make_request(deadline="2026-03-03 10:00 europe/berlin")

    with pytest.raises(ScenarioError, match=r"did you mean 'Europe/Berlin'\?"):
        load_data(make_scenario(requests=[request]))


@pytest.mark.parametrize(
    ("request_fields", "shown"),
    [
        ({"deadline": datetime(2026, 3, 23)}, "'2026-03-23 00:00:00' has no offset or zone"),
        ({"title": datetime(2026, 3, 23)}, "an unquoted 2026-03-23 00:00:00 is read as a time; put it in quotes"),
        ({"severity": None}, "(got null)"),
        ({"duration": True}, "got true"),
    ],
    ids=["naive time", "time as a title", "null", "boolean"],
)
def test_values_in_messages_are_shown_as_written_not_as_python(request_fields: dict[str, Any], shown: str) -> None:
    with pytest.raises(ScenarioError) as error:
        load_data(make_scenario(requests=[make_request(**request_fields)]))

    assert shown in str(error.value)
    assert "datetime" not in str(error.value)
    assert "None" not in str(error.value)
    assert "True" not in str(error.value)


@pytest.mark.parametrize(
    ("name", "text"),
    [("a.yaml", ""), ("a.yaml", "\n  \n"), ("a.yaml", "# only a comment\n"), ("a.json", ""), ("a.json", "\n")],
    ids=["yaml", "yaml-blank", "yaml-comment", "json", "json-blank"],
)
def test_empty_file_is_said_to_be_empty(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"the file is empty") as error:
        load_file(path)

    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"name": "a", "name": "b"}', "name"),
        ('{"name": "t", "requests": [{"id": "r1", "duration": "1h", "duration": "2h"}]}', "requests[0].duration"),
    ],
    ids=["top-level", "nested"],
)
def test_duplicate_json_keys_are_rejected_with_their_path(tmp_path: Path, text: str, path: str) -> None:
    file = tmp_path / "twice.json"
    file.write_text(text, encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"key '\w+' appears twice in one object") as error:
        load_file(file)

    assert error.value.path == path


@pytest.mark.parametrize(
    ("silence", "words"),
    [
        ({"matchers": {}}, "give at least one label"),
        ({"matchers": {"bad-name": "x"}}, "'bad-name' is not a label name"),
        ({"matchers": {"team": ""}}, "label 'team' needs a value"),
        ({"matcher": {"team": "db"}}, "matcher"),
    ],
    ids=["empty", "name", "value", "key"],
)
def test_bad_silences_name_the_field(silence: dict[str, Any], words: str) -> None:
    with pytest.raises(ScenarioError) as raised:
        load_data(make_scenario(requests=[make_request(silence=silence)]))

    assert str(raised.value).startswith("requests[0].silence")
    assert words in str(raised.value)


def test_silence_matchers_reach_the_request_and_survive_the_stored_state() -> None:
    problem = load_data(make_scenario(requests=[make_request(silence={"matchers": {"team": "db", "service": "web"}})]))

    request = problem.problem.requests[0]
    assert request.silence == (("service", "web"), ("team", "db"))
    assert load_problem(problem_json(problem.problem)).requests[0].silence == request.silence
