"""The catalog as an admin meets it: what loads, and what a mistake looks like.

Assertions are on what `inhouse catalog check` prints: the path of the mistake in
the document and the key words of the message.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from models.calendar import BusinessCalendar, parse_hours
from models.catalog import (
    EXAMPLE_CATALOG,
    PRIORITIES,
    Catalog,
    CatalogError,
    CatalogIssue,
    classify_person_ref,
    load_catalog,
    parse_catalog,
)
from models.durations import BusinessDuration, parse_duration

HERE = Path(__file__).parent / "catalogs"

BASE: dict[str, Any] = {
    "calendars": {
        "office": {
            "timezone": "Europe/Berlin",
            "hours": {"mon-fri": "09:00-17:00"},
            "holidays": {"country": "DE", "subdivision": "BE", "dates": ["2026-12-24"]},
        },
        "always": "24x7",
    },
    "people": [
        {
            "email": "dana@example.com",
            "name": "Dana",
            "department": "Operations",
            "slack": "U0DANA",
        },
        {"email": "erik@example.com", "name": "Erik", "department": "Engineering"},
    ],
    "admins": ["dana@example.com"],
    "teams": [
        {
            "key": "it",
            "name": "IT Service Desk",
            "aliases": ["helpdesk", "Computer"],
            "members": ["alice@example.com", "U0BOB"],
            "leads": ["carol@example.com"],
            "calendar": "office",
            "standards": {
                "urgent": {"first_response": "30m", "resolution": "4h"},
                "normal": {"first_response": "4h", "resolution": "3d"},
            },
            "escalation": [
                {"after": "0m", "notify": ["leads"]},
                {"after": "2h", "notify": ["dana@example.com"], "urgent": True},
            ],
        },
        {
            "key": "hr",
            "name": "HR",
            "members": ["hanna@example.com"],
            "calendar": "always",
            "standards": {"normal": {"first_response": "1d", "resolution": "5d"}},
        },
    ],
}


def doc() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def issues_of(data: dict[str, Any] | str) -> list[CatalogIssue]:
    text = data if isinstance(data, str) else dump(data)
    with pytest.raises(CatalogError) as raised:
        parse_catalog(text, "catalog.yaml")
    assert raised.value.file == "catalog.yaml"
    return raised.value.issues


def message_at(data: dict[str, Any] | str, path: str) -> str:
    """The one message reported at `path`; fails listing what was reported instead."""
    found = issues_of(data)
    at_path = [issue.message for issue in found if issue.path == path]
    assert len(at_path) == 1, f"expected one issue at {path}, got {found}"
    return at_path[0]


# --- what loads -------------------------------------------------------------------------------


def test_base_document_is_valid() -> None:
    catalog = parse_catalog(dump(doc()), "catalog.yaml")
    assert [team.key for team in catalog.teams] == ["it", "hr"]
    assert catalog.admins == ["dana@example.com"]


def test_bundled_example_loads() -> None:
    catalog = load_catalog(EXAMPLE_CATALOG)
    teams = {team.key: team for team in catalog.teams}
    assert set(teams) == {"it", "hr", "finance", "facilities"}
    assert {key: team.request_prefix for key, team in teams.items()} == {
        "it": "IT",
        "hr": "HR",
        "finance": "FIN",
        "facilities": "FAC",
    }
    assert teams["it"].name == "IT Service Desk"
    assert teams["facilities"].calendar != teams["it"].calendar
    assert len(catalog.people) >= 10
    departments = {person.department for person in catalog.people}
    assert {"Sales", "Marketing", "Finance", "HR", "Operations", "Engineering"} <= departments
    assert all(person.email.endswith("@example.com") for person in catalog.people)
    assert any(person.slack for person in catalog.people)
    assert catalog.admins
    # The demo runs without chat platforms; the one channel is the Agents Playground's
    # (deploy/teams/.m365agentsplayground.yml, checked in tests/unit/test_playground_config.py).
    assert all(team.slack_channel is None for team in catalog.teams)
    assert [t.key for t in catalog.teams if t.teams_channel] == ["it"]
    for team in catalog.teams:
        assert team.members and team.leads and team.escalation
        assert catalog.team_calendar(team).working_day_length() > timedelta(0)
    office = catalog.calendar(teams["it"].calendar)
    assert office.holidays.country == "DE"


def test_minimal_fixture_gets_defaults() -> None:
    catalog = load_catalog(HERE / "minimal.yaml")
    team = catalog.teams[0]
    assert team.request_prefix == "IT"
    assert team.warn_at == 75
    assert team.escalation == []
    assert catalog.people == [] and catalog.admins == []
    assert catalog.survey.scale == 5 and catalog.survey.reopen_below == 3
    assert str(catalog.survey.auto_close_after) == "3d"
    assert catalog.recognition is False


def test_24x7_shorthand_is_always_open_utc() -> None:
    catalog = parse_catalog(dump(doc()), "catalog.yaml")
    always = catalog.calendar("always")
    assert always.always_open
    assert str(always.timezone) == "UTC"
    assert always.working_day_length() == timedelta(hours=24)


def test_calendar_is_built_from_its_spec() -> None:
    catalog = parse_catalog(dump(doc()), "catalog.yaml")
    office = catalog.calendar("office")
    assert isinstance(office, BusinessCalendar)
    assert str(office.timezone) == "Europe/Berlin"
    assert office.week == parse_hours({"mon-fri": "09:00-17:00"})
    assert office.holidays.subdivision == "BE"
    assert catalog.calendar("office") is office  # built once
    with pytest.raises(KeyError, match="unknown calendar 'nope'"):
        catalog.calendar("nope")


def test_stored_calendar_form_round_trips() -> None:
    catalog = parse_catalog(dump(doc()), "catalog.yaml")
    assert catalog.calendars["office"].model_dump(mode="json") == {
        "always_open": False,
        "timezone": "Europe/Berlin",
        "hours": {"mon-fri": "09:00-17:00"},
        "holidays": {"country": "DE", "subdivision": "BE", "dates": ["2026-12-24"]},
    }


def test_team_lookup_by_key_or_alias_ignores_case() -> None:
    catalog = parse_catalog(dump(doc()), "catalog.yaml")
    for name in ("it", "IT", " HelpDesk ", "computer", "COMPUTER"):
        found = catalog.team(name)
        assert found is not None and found.key == "it", name
    assert catalog.team("hr") is catalog.teams[1]
    assert catalog.team("payroll") is None


def test_standard_falls_back_to_normal() -> None:
    team = parse_catalog(dump(doc()), "catalog.yaml").teams[0]
    assert PRIORITIES == ("urgent", "high", "normal", "low")
    assert str(team.standard_for("urgent").first_response) == "30m"
    assert team.standard_for("high") == team.standards["normal"]
    assert team.standard_for("low") == team.standards["normal"]


def test_warn_at_accepts_percent_text_or_number() -> None:
    data = doc()
    data["teams"][0]["warn_at"] = "80%"
    data["teams"][1]["warn_at"] = 60
    catalog = parse_catalog(dump(data), "catalog.yaml")
    assert [team.warn_at for team in catalog.teams] == [80, 60]


def test_references_are_normalised() -> None:
    data = doc()
    data["teams"][0]["members"] = ["Alice@Example.COM", "U0BOB", "29:1abc"]
    catalog = parse_catalog(dump(data), "catalog.yaml")
    assert catalog.teams[0].members == ["alice@example.com", "U0BOB", "29:1abc"]


def test_identical_duplicate_person_is_not_a_conflict() -> None:
    data = doc()
    data["people"].append(dict(data["people"][0]))
    parse_catalog(dump(data), "catalog.yaml")


def test_norway_stays_a_country_code() -> None:
    text = dump(doc()).replace("country: DE", "country: 'NO'").replace("subdivision: BE", "")
    text = text.replace("country: 'NO'", "country: NO")  # unquoted, as an admin writes it
    catalog = parse_catalog(text, "catalog.yaml")
    assert catalog.calendars["office"].holidays.country == "NO"


def test_constructing_a_catalog_in_code_runs_the_same_checks() -> None:
    data = doc()
    data["teams"][0]["calendar"] = "ofice"
    with pytest.raises(pydantic.ValidationError, match=r"teams\[0\]\.calendar: unknown calendar"):
        Catalog.model_validate(data)


# --- each check, at its path ------------------------------------------------------------------


def test_unknown_calendar() -> None:
    data = doc()
    data["teams"][0]["calendar"] = "ofice"
    assert message_at(data, "teams[0].calendar") == (
        "unknown calendar 'ofice'; expected one of: always, office"
    )


def test_people_may_keep_their_own_hours_and_the_desk_a_default() -> None:
    data = doc()
    data["default_calendar"] = "office"
    data["people"][1]["calendar"] = "always"
    catalog = parse_catalog(dump(data), "catalog.yaml")
    assert catalog.default_calendar == "office"
    assert [person.calendar for person in catalog.people] == [None, "always"]
    assert parse_catalog(dump(doc()), "catalog.yaml").default_calendar is None


def test_own_hours_and_the_default_name_a_calendar_of_the_catalog() -> None:
    data = doc()
    data["default_calendar"] = "hq"
    data["people"][1]["calendar"] = "ofice"
    assert message_at(data, "default_calendar") == (
        "unknown calendar 'hq'; expected one of: always, office"
    )
    assert message_at(data, "people[1].calendar") == (
        "unknown calendar 'ofice'; expected one of: always, office"
    )


def test_own_hours_are_a_name_not_a_calendar() -> None:
    data = doc()
    data["people"][0]["calendar"] = {"timezone": "Europe/Rome"}
    data["default_calendar"] = ""
    assert message_at(data, "people[0].calendar") == "expected text, got a mapping"
    assert message_at(data, "default_calendar") == "expected some text, got ''"


def test_bad_duration() -> None:
    data = doc()
    data["teams"][0]["standards"]["urgent"]["first_response"] = "4 hours"
    data["teams"][1]["standards"]["urgent"] = {"first_response": "1.5h", "resolution": "4h"}
    message = message_at(data, "teams[1].standards.urgent.first_response")
    assert "expected a duration like 45s, 30m, 4h or 2d" in message and "'1.5h'" in message
    message = message_at(data, "teams[0].standards.urgent.first_response")
    assert message == "expected a duration like 45s, 30m, 4h or 2d, got '4 hours'"


def test_number_where_a_duration_belongs() -> None:
    text = dump(doc()).replace("resolution: 4h", "resolution: 4")
    message = message_at(text, "teams[0].standards.urgent.resolution")
    assert "expected a duration like" in message and "got 4" in message


def test_unknown_priority() -> None:
    data = doc()
    data["teams"][0]["standards"]["critical"] = {"first_response": "5m", "resolution": "1h"}
    message = message_at(data, "teams[0].standards.critical")
    assert "critical" in message and "expected one of: urgent, high, normal, low" in message


def test_normal_standard_is_required() -> None:
    data = doc()
    del data["teams"][0]["standards"]["normal"]
    assert "'normal'" in message_at(data, "teams[0].standards")


def test_same_email_listed_differently() -> None:
    data = doc()
    data["people"].append({"email": "DANA@example.com", "name": "Danielle", "slack": "U0DANA"})
    message = message_at(data, "people[2].name")
    assert "dana@example.com" in message and "people[0]" in message and "'Dana'" in message


def test_slack_id_on_two_people() -> None:
    data = doc()
    data["people"].append({"email": "frank@example.com"})
    data["people"].append({"email": "sofia@example.com", "slack": "U0DANA"})
    message = message_at(data, "people[3].slack")
    assert "U0DANA" in message and "dana@example.com" in message


def test_teams_id_on_two_people() -> None:
    data = doc()
    data["people"][1]["teams"] = "29:1abc"
    data["people"].append({"email": "sofia@example.com", "teams": "29:1abc"})
    message = message_at(data, "people[2].teams")
    assert "29:1abc" in message and "erik@example.com" in message


def test_duplicate_team_key() -> None:
    data = doc()
    data["teams"][1]["key"] = "it"
    message = message_at(data, "teams[1].key")
    assert "'it'" in message and "teams[0]" in message
    # The repeated default prefix is the same mistake; it is reported once.
    assert [issue.path for issue in issues_of(data)] == ["teams[1].key"]


def test_duplicate_alias() -> None:
    data = doc()
    data["teams"][1]["aliases"] = ["people", "HELPDESK"]
    message = message_at(data, "teams[1].aliases[1]")
    assert "HELPDESK" in message and "teams[0]" in message


def test_alias_equal_to_another_teams_key() -> None:
    data = doc()
    data["teams"][0]["aliases"] = ["Hr"]
    assert "teams[1]" in message_at(data, "teams[0].aliases[0]")


def test_warn_at_out_of_range() -> None:
    for bad in ("120%", 0, "100%"):
        data = doc()
        data["teams"][0]["warn_at"] = bad
        assert "between 1% and 99%" in message_at(data, "teams[0].warn_at"), bad
    data = doc()
    data["teams"][0]["warn_at"] = "most"
    assert "expected a percentage like 75%" in message_at(data, "teams[0].warn_at")


def test_escalation_out_of_order() -> None:
    data = doc()
    data["teams"][0]["escalation"][1]["after"] = "0m"
    message = message_at(data, "teams[0].escalation[1].after")
    assert "increasing order" in message


def test_escalation_order_counts_days_in_the_teams_calendar() -> None:
    data = doc()
    # Under 09:00-17:00, 1d is 8h: 7h then 1d is in order, 1d then 8h is not.
    data["teams"][0]["escalation"] = [
        {"after": "7h", "notify": ["leads"]},
        {"after": "1d", "notify": ["members"]},
        {"after": "8h", "notify": ["dana@example.com"]},
    ]
    found = issues_of(data)
    assert [issue.path for issue in found] == ["teams[0].escalation[2].after"]


def test_escalation_notify_entries() -> None:
    data = doc()
    data["teams"][0]["escalation"][0]["notify"] = [
        "leads",
        "members",
        "dana@example.com",
        "U0DANA",
        "29:1abc",
        "the boss",
    ]
    message = message_at(data, "teams[0].escalation[0].notify[5]")
    assert "'the boss'" in message and "leads, members, an email" in message


def test_escalation_to_leads_of_a_team_without_leads() -> None:
    data = doc()
    data["teams"][1]["escalation"] = [{"after": "0m", "notify": ["leads"]}]
    assert "no leads" in message_at(data, "teams[1].escalation[0].notify[0]")


def test_team_without_members() -> None:
    data = doc()
    data["teams"][0]["members"] = []
    assert "at least one member" in message_at(data, "teams[0].members")


def test_calendar_without_working_hours() -> None:
    data = doc()
    data["calendars"]["office"]["hours"] = {}
    assert "no working hours" in message_at(data, "calendars.office.hours")


def test_invalid_hours_keep_the_calendars_explanation() -> None:
    data = doc()
    data["calendars"]["office"]["hours"] = {"mon-fry": "09:00-17:00"}
    message = message_at(data, "calendars.office.hours")
    assert "invalid working hours" in message and "mon-fry" in message


def test_first_response_longer_than_resolution() -> None:
    data = doc()
    data["teams"][0]["standards"]["urgent"] = {"first_response": "5h", "resolution": "4h"}
    message = message_at(data, "teams[0].standards.urgent.first_response")
    assert "5h" in message and "4h" in message and "longer than resolution" in message


def test_first_response_against_resolution_in_working_days() -> None:
    # 10h is more than one 8-hour office day, but less than one 24x7 day.
    data = doc()
    data["teams"][0]["standards"]["normal"] = {"first_response": "10h", "resolution": "1d"}
    data["teams"][1]["standards"]["normal"] = {"first_response": "10h", "resolution": "1d"}
    assert [issue.path for issue in issues_of(data)] == ["teams[0].standards.normal.first_response"]


def test_duplicate_request_prefix() -> None:
    data = doc()
    data["teams"][1]["prefix"] = "it"
    message = message_at(data, "teams[1].prefix")
    assert "'IT'" in message and "teams[0]" in message


def test_team_key_must_be_a_slug() -> None:
    data = doc()
    data["teams"][0]["key"] = "IT Desk"
    assert "lower-case letters" in message_at(data, "teams[0].key")


def test_unknown_time_zones() -> None:
    data = doc()
    data["calendars"]["office"]["timezone"] = "Europe/Berlinn"
    data["people"][0]["timezone"] = "Mars/Olympus"
    assert "Europe/Berlinn" in message_at(data, "calendars.office.timezone")
    assert "Mars/Olympus" in message_at(data, "people[0].timezone")


def test_unknown_holiday_country_and_subdivision() -> None:
    data = doc()
    data["calendars"]["office"]["holidays"]["subdivision"] = "XX"
    message = message_at(data, "calendars.office.holidays.subdivision")
    assert "'XX'" in message and "BE" in message
    data["calendars"]["office"]["holidays"] = {"country": "ZZ"}
    assert "'ZZ'" in message_at(data, "calendars.office.holidays.country")


def test_bad_person_references() -> None:
    data = doc()
    data["admins"] = ["dana"]
    data["teams"][0]["leads"] = ["carol@example.com", "u0lower"]
    assert "'dana'" in message_at(data, "admins[0]")
    assert "Slack user id" in message_at(data, "teams[0].leads[1]")


def test_survey_limits() -> None:
    data = doc()
    data["survey"] = {"scale": 5, "reopen_below": 7}
    assert "between 1 and 5" in message_at(data, "survey.reopen_below")
    data["survey"] = {"scale": 11}
    assert "at most 10" in message_at(data, "survey.scale")
    data["survey"] = {"scale": 2}
    assert parse_catalog(dump(data), "catalog.yaml").survey.reopen_below == 2


def test_pydantic_errors_read_as_expectations() -> None:
    data = doc()
    del data["teams"][0]["name"]
    data["teams"][0]["memebers"] = []
    data["teams"][1]["categories"] = "Leave"
    data["teams"][1]["escalation"] = [{"after": "1h", "notify": ["leads"], "urgent": "maybe"}]
    data["recognition"] = "sometimes"
    assert "required" in message_at(data, "teams[0].name")
    message = message_at(data, "teams[0].memebers")
    assert "unknown field 'memebers'" in message and "members" in message
    assert "expected a list" in message_at(data, "teams[1].categories")
    assert "expected true or false" in message_at(data, "teams[1].escalation[0].urgent")
    assert "expected true or false" in message_at(data, "recognition")


def test_calendar_value_must_be_24x7_or_a_mapping() -> None:
    data = doc()
    data["calendars"]["always"] = "24/7"
    assert "expected 24x7 or a mapping" in message_at(data, "calendars.always")


def test_duplicate_yaml_key_is_reported_with_its_line() -> None:
    text = dump(doc()).replace("teams:\n", "calendars: {}\nteams:\n", 1)
    found = issues_of(text)
    assert found[0].path.startswith("line ") and "'calendars' is given twice" in found[0].message


# --- all at once, and the file itself ---------------------------------------------------------


def test_several_problems_are_reported_at_once() -> None:
    path = HERE / "several_problems.yaml"
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    paths = [issue.path for issue in raised.value.issues]
    assert paths == [
        "people[3].slack",
        "teams[0].calendar",
        "teams[0].escalation[1].after",
        "teams[0].standards.critical",
        "teams[0].warn_at",
        "teams[1].standards.urgent.first_response",
    ]
    lines = str(raised.value).splitlines()
    assert len(lines) == len(paths)
    assert lines[1] == f"{path}: teams[0].calendar: unknown calendar 'ofice'; expected one of: " + (
        "always, office"
    )


def test_yaml_syntax_error_names_line_and_column() -> None:
    path = HERE / "syntax_error.yaml"
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    [issue] = raised.value.issues
    assert issue.path == "line 3, column 1"
    assert "YAML syntax error" in issue.message and "line 2" in issue.message
    assert str(raised.value).startswith(f"{path}: line 3, column 1: YAML syntax error")


def test_missing_file() -> None:
    with pytest.raises(CatalogError) as raised:
        load_catalog(HERE / "no-such-catalog.yaml")
    assert raised.value.issues == [CatalogIssue("(file)", "no such file")]
    assert str(raised.value).endswith("no-such-catalog.yaml: (file): no such file")


def test_empty_or_shapeless_document() -> None:
    assert issues_of("") == [
        CatalogIssue("(document)", "the file is empty; expected calendars and teams")
    ]
    [issue] = issues_of("- just\n- a list\n")
    assert issue.path == "(document)" and "expected a mapping" in issue.message
    paths = {issue.path for issue in issues_of("survey: {}\n")}
    assert paths == {"calendars", "teams"}


# --- durations and references -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [("45s", 45, "s"), ("30m", 30, "m"), ("4h", 4, "h"), ("2d", 2, "d"), (" 4 h ", 4, "h")],
)
def test_parse_duration(text: str, amount: int, unit: str) -> None:
    parsed = parse_duration(text)
    assert (parsed.amount, parsed.unit) == (amount, unit)
    assert str(parsed) == f"{amount}{unit}"


@pytest.mark.parametrize("text", ["", "  ", "-4h", "1.5h", "4", "h", "4 hours", "4w", "4h30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like 45s, 30m, 4h or 2d, got"):
        parse_duration(text)


def test_duration_resolves_under_a_calendar() -> None:
    office = parse_catalog(dump(doc()), "catalog.yaml").calendar("office")
    always = BusinessCalendar.twenty_four_seven()
    assert parse_duration("2d").resolve(office) == timedelta(hours=16)
    assert parse_duration("2d").resolve(always) == timedelta(hours=48)
    assert parse_duration("90m").resolve(office) == timedelta(minutes=90)
    assert parse_duration("45s").resolve(always) == timedelta(seconds=45)
    assert BusinessDuration(3, "h") == parse_duration("3h")


def test_classify_person_ref() -> None:
    assert classify_person_ref("Dana@Example.com") == ("email", "dana@example.com")
    assert classify_person_ref("U0DANA") == ("slack", "U0DANA")
    assert classify_person_ref("W0ENTERPRISE") == ("slack", "W0ENTERPRISE")
    assert classify_person_ref("29:1abc-def") == ("teams", "29:1abc-def")
    for bad in ("dana", "", "C0CHANNEL", "29:"):
        with pytest.raises(ValueError, match="expected an email, a Slack user id"):
            classify_person_ref(bad)


def test_an_impossible_holiday_date_is_reported_with_its_path() -> None:
    from models.catalog import CatalogError, parse_catalog

    text = EXAMPLE_CATALOG.read_text().replace("2026-12-24", "2026-13-01", 1)
    with pytest.raises(CatalogError) as failure:
        parse_catalog(text, "dates.yaml")
    assert any(".holidays.dates[0]" in issue.path for issue in failure.value.issues)
