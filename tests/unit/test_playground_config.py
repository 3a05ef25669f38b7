"""The Agents Playground's config matches the example catalog, so trying Teams
locally covers both sides: filing as a requester, working the card as the team.

Checked offline against the Playground's own config schema (version 0.1.1, in its
npm package) and against what the catalog accepts; tests/e2e/test_playground.py
drives the real Playground when it is installed.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from models.catalog import Catalog, load_catalog
from models.catalog_fields import classify_person_ref
from tests.e2e.cli import EXAMPLE_CATALOG, ROOT

CONFIG = ROOT / "deploy" / "teams" / ".m365agentsplayground.yml"
USER_FIELDS = {"id", "name", "userPrincipleName", "aadObjectId", "givenName", "surname", "email"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(EXAMPLE_CATALOG)


def users(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [config["currentUser"], *config["users"]]


def test_the_playground_would_load_it(config: dict[str, Any]) -> None:
    """The schema's rules: it refuses unknown keys, wants exactly five other users,
    at most one channel besides General, and names within their lengths."""
    assert set(config) == {
        "version",
        "tenantId",
        "bot",
        "currentUser",
        "users",
        "personalChat",
        "groupChat",
        "team",
    }
    assert config["version"] in ("0.1.0", "0.1.1")
    assert set(config["bot"]) == {"id", "name"} and len(config["bot"]["name"]) <= 42
    assert len(config["users"]) == 5
    for user in users(config):
        assert set(user) == USER_FIELDS
        assert all(isinstance(value, str) and value for value in user.values())
    assert set(config["personalChat"]) == {"id"}
    assert set(config["groupChat"]) == {"id", "name"}
    team = config["team"]
    assert set(team) == {"id", "name", "aadGroupId", "channels"}
    assert len(team["channels"]) <= 1
    assert all(set(channel) == {"id", "name"} for channel in team["channels"])
    ids = [u["id"] for u in users(config)] + [config["bot"]["id"]]
    assert len(ids) == len(set(ids))


def test_its_people_are_the_catalogs(config: dict[str, Any], catalog: Catalog) -> None:
    people = {person.email: person for person in catalog.people}
    for user in users(config):
        # An id the catalog accepts (not the Playground's default `user-id-0`) ...
        assert classify_person_ref(user["id"]) == ("teams", user["id"])
        # ... and an email it knows, under the same Teams id where it lists one.
        person = people[user["email"]]
        assert person.teams in (None, user["id"]), user["email"]
        assert f"{user['givenName']} {user['surname']}" == user["name"] == person.name
    assert people[config["currentUser"]["email"]].teams == config["currentUser"]["id"]


def test_you_can_work_the_card_in_its_team_channel(
    config: dict[str, Any], catalog: Catalog
) -> None:
    [channel] = config["team"]["channels"]
    [team] = [t for t in catalog.teams if t.teams_channel == channel["id"]]
    me = config["currentUser"]
    assert me["email"] in team.members  # so Alice may claim, reply and resolve
    assert team.key == "it"
    # The bot's name is what you @mention in the card's reply chain.
    assert config["bot"]["name"] == "Inhouse"


def test_the_readme_steps_use_this_file() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it locally with the Agents Playground", 1)[1]
    section = section.split("\n## ", 1)[0]
    for step in (
        "inhouse catalog apply models/catalogs/example.yaml",
        "inhouse serve --teams-local",
        "TEAMSAPPTESTER_BROWSER=none",
        f"M365_AGENTS_PLAYGROUND_CONFIG_PATH={CONFIG.relative_to(ROOT)}",
        "-e http://localhost:3978/api/messages -c msteams",
    ):
        assert step in section, step
