"""The Teams app package: what Teams would refuse only after an upload is caught here.

The manifest is checked against the rules of its schema (v1.22) and of Teams that
can be checked offline: required fields, lengths, command lists, the localization
files and their keys, resource-specific consent, icon sizes.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from bot.command_line import ALIASES, KEYED_VERBS, LIST_VERBS, STATS_VERB
from bot.teams.package import ICON_SIZES, PLACEHOLDER, SOURCE, write_package

APP_ID = "0b3c2a1d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
SCHEMA = "https://developer.microsoft.com/json-schemas/teams/v1.22/MicrosoftTeams.schema.json"
LOCALIZATION_SCHEMA = SCHEMA.replace(".schema.json", ".Localization.schema.json")
FILES = ["color.png", "de.json", "it.json", "manifest.json", "outline.png"]
# Every word a person can type to the bot (bot/command_line.py, `request` included).
VERBS = KEYED_VERBS | LIST_VERBS | {STATS_VERB, "request"}
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def manifest_in(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(read_zip(path)["manifest.json"])
    return loaded


def png(width: int, height: int) -> bytes:
    """A minimal valid RGBA PNG of the given size (fully transparent)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x00" * 4 * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the real package sources that a test may spoil."""
    copy = tmp_path / "src"
    shutil.copytree(SOURCE, copy)
    return copy


# --- the zip -----------------------------------------------------------------------------------


def test_the_zip_holds_the_manifest_its_languages_and_icons_at_its_root(tmp_path: Path) -> None:
    written = write_package(APP_ID, tmp_path / "out" / "teams.zip")
    assert written == tmp_path / "out" / "teams.zip"
    with zipfile.ZipFile(written) as zf:
        assert sorted(zf.namelist()) == FILES
        assert zf.testzip() is None
    files = read_zip(written)
    for name in ("color.png", "outline.png", "de.json", "it.json"):
        assert files[name] == (SOURCE / name).read_bytes(), name


def test_the_sources_are_exactly_what_the_zip_holds() -> None:
    """One copy of each file, all of it shipped: nothing stale lies beside them."""
    assert sorted(p.name for p in SOURCE.iterdir() if p.name != "__pycache__") == FILES


def test_a_directory_as_out_gets_the_default_name(tmp_path: Path) -> None:
    written = write_package(APP_ID, tmp_path)
    assert written == tmp_path / "inhouse-teams.zip"
    assert written.is_file()


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first = write_package(APP_ID, tmp_path / "a.zip")
    second = write_package(APP_ID, tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()


# --- the app id --------------------------------------------------------------------------------


def test_the_app_id_is_filled_in_everywhere(tmp_path: Path) -> None:
    written = write_package(f"  {APP_ID}\n", tmp_path / "teams.zip")
    text = read_zip(written)["manifest.json"].decode("utf-8")
    assert PLACEHOLDER not in text
    assert "{{" not in text
    manifest = json.loads(text)
    assert manifest["id"] == APP_ID
    assert manifest["bots"][0]["botId"] == APP_ID
    assert manifest["webApplicationInfo"]["id"] == APP_ID


def test_the_app_id_is_written_in_lower_case(tmp_path: Path) -> None:
    manifest = manifest_in(write_package(APP_ID.upper(), tmp_path / "teams.zip"))
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID


@pytest.mark.parametrize(
    "bad",
    ["", "inhouse", "{{MICROSOFT_APP_ID}}", APP_ID[:-1], APP_ID + "0", APP_ID.replace("-", "")],
)
def test_an_app_id_that_is_not_a_guid_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="must be a GUID") as excinfo:
        write_package(bad, tmp_path / "teams.zip")
    assert repr(bad) in str(excinfo.value)
    assert not (tmp_path / "teams.zip").exists()


# --- validDomains ------------------------------------------------------------------------------


def test_without_an_endpoint_valid_domains_stay_empty(tmp_path: Path) -> None:
    assert manifest_in(write_package(APP_ID, tmp_path / "teams.zip"))["validDomains"] == []


@pytest.mark.parametrize(
    "endpoint",
    ["desk.example.org", "https://desk.example.org/api/messages", "HTTPS://Desk.Example.org/"],
)
def test_the_endpoint_domain_is_added_once(tmp_path: Path, endpoint: str) -> None:
    written = write_package(APP_ID, tmp_path / "teams.zip", endpoint_domain=endpoint)
    assert manifest_in(written)["validDomains"] == ["desk.example.org"]


@pytest.mark.parametrize("endpoint", ["", "https://", "desk example.org", "desk.example.org/x"])
def test_a_malformed_endpoint_domain_is_refused(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(ValueError, match="endpoint domain"):
        write_package(APP_ID, tmp_path / "teams.zip", endpoint_domain=endpoint)


# --- icons -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ICON_SIZES))
def test_an_icon_of_the_wrong_size_is_refused_by_name(
    tmp_path: Path, source: Path, name: str
) -> None:
    (source / name).write_bytes(png(64, 64))
    with pytest.raises(ValueError, match=rf"^{re.escape(name)}: .*64x64") as excinfo:
        write_package(APP_ID, tmp_path / "teams.zip", source=source)
    width, height = ICON_SIZES[name]
    assert f"{width}x{height}" in str(excinfo.value)
    assert not (tmp_path / "teams.zip").exists()


def test_an_icon_that_is_not_a_png_is_refused_by_name(tmp_path: Path, source: Path) -> None:
    (source / "outline.png").write_bytes(b"GIF89a not a png at all")
    with pytest.raises(ValueError, match=r"^outline\.png: not a PNG"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)


def test_the_committed_icons_have_the_sizes_teams_needs() -> None:
    for name, size in ICON_SIZES.items():
        data = (SOURCE / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == size, name


# --- a spoiled manifest ------------------------------------------------------------------------


def test_an_unknown_placeholder_is_refused(tmp_path: Path, source: Path) -> None:
    path = source / "manifest.json"
    spoiled = re.sub(r'"version": "[^"]+"', '"version": "{{APP_VERSION}}"', path.read_text())
    path.write_text(spoiled)
    with pytest.raises(ValueError, match=r"\{\{APP_VERSION\}\}"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)


def test_broken_json_is_refused(tmp_path: Path, source: Path) -> None:
    path = source / "manifest.json"
    path.write_text(path.read_text().rstrip().removesuffix("}"))
    with pytest.raises(ValueError, match="not valid JSON"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)


@pytest.mark.parametrize("name", ["../de.json", "sub/de.json", "de.txt", "manifest.json", ""])
def test_a_language_file_outside_the_zip_root_is_refused(
    tmp_path: Path, source: Path, name: str
) -> None:
    path = source / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["localizationInfo"]["additionalLanguages"][0]["file"] = name
    path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"a language file must be a \.json file"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)
    assert not (tmp_path / "teams.zip").exists()


def test_a_missing_or_broken_language_file_is_refused_by_name(tmp_path: Path, source: Path) -> None:
    (source / "it.json").write_text('{"name.short": ')
    with pytest.raises(ValueError, match=r"^it\.json: not valid JSON"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)
    (source / "it.json").unlink()
    with pytest.raises(ValueError, match=r"^it\.json: the manifest names this language file"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)
    assert not (tmp_path / "teams.zip").exists()


# --- the manifest against the v1.22 schema's rules ---------------------------------------------


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return manifest_in(write_package(APP_ID, tmp_path_factory.mktemp("pkg") / "teams.zip"))


def test_the_required_keys_are_present(manifest: dict[str, Any]) -> None:
    required = {
        "manifestVersion",
        "version",
        "id",
        "developer",
        "name",
        "description",
        "icons",
        "accentColor",
    }
    assert required <= manifest.keys()
    assert manifest["manifestVersion"] == "1.22"
    assert manifest["$schema"] == SCHEMA
    assert SEMVER.fullmatch(manifest["version"])
    assert GUID.fullmatch(manifest["id"])
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["accentColor"])
    developer = manifest["developer"]
    assert len(developer["name"]) <= 32
    for url in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert developer[url].startswith("https://"), url


def test_names_and_descriptions_fit(manifest: dict[str, Any]) -> None:
    assert manifest["name"]["short"] == "Inhouse"
    assert len(manifest["name"]["short"]) <= 30
    assert len(manifest["name"].get("full", "")) <= 100
    assert 0 < len(manifest["description"]["short"]) <= 80
    assert 0 < len(manifest["description"]["full"]) <= 4000


def test_the_bot(manifest: dict[str, Any]) -> None:
    [bot] = manifest["bots"]
    assert GUID.fullmatch(bot["botId"])
    assert sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    assert bot["supportsFiles"] is False
    assert bot["isNotificationOnly"] is False
    lists = bot["commandLists"]
    assert len(lists) <= 3
    listed_scopes = [scope for entry in lists for scope in entry["scopes"]]
    # One list per scope: a scope named twice leaves Teams to pick one of them.
    assert len(listed_scopes) == len(set(listed_scopes))
    assert set(listed_scopes) == set(bot["scopes"])
    for entry in lists:
        commands = entry["commands"]
        assert 0 < len(commands) <= 10  # Teams' limit per list
        titles = [c["title"] for c in commands]
        assert len(titles) == len(set(titles))
        for command in commands:
            assert len(command["title"]) <= 32
            assert 0 < len(command["description"]) <= 128


def test_each_command_list_is_words_the_bot_understands_and_help_names_the_rest(
    manifest: dict[str, Any],
) -> None:
    """Teams puts a chosen command's title into the compose box, so a title must be
    a word the bot acts on. Ten fit in a list; the `help` entry names the others."""
    for entry in manifest["bots"][0]["commandLists"]:
        titles = {c["title"] for c in entry["commands"]}
        assert titles <= VERBS, titles - VERBS
        assert "request" in titles or "queue" in titles
        helper = next(c["description"] for c in entry["commands"] if c["title"] == "help")
        left_out = VERBS - titles - {"comment"}  # a comment answers the survey card
        named = set(re.findall(r"[a-z]+", helper))
        assert left_out <= named, (entry["scopes"], left_out - named)


def test_the_bot_may_read_its_cards_replies_in_channels(manifest: dict[str, Any]) -> None:
    """Without this consent Teams hands the bot a reply in a card's chain only when it
    @mentions the bot (see tests/adapters/teams/test_channel_delivery.py)."""
    consent = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert consent == [{"name": "ChannelMessage.Read.Group", "type": "Application"}]
    # Consent is given to the Entra app; Teams wants a resource, whatever it is.
    assert manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["webApplicationInfo"]["resource"]


def test_permissions_domains_and_icons(manifest: dict[str, Any]) -> None:
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["validDomains"] == []


# --- languages ---------------------------------------------------------------------------------

# The keys a localization file may hold (schema v1.22) for what this app has, and
# their maximum lengths.
LOCALIZABLE = {
    r"name\.short": 30,
    r"name\.full": 100,
    r"description\.short": 80,
    r"description\.full": 4000,
    r"bots\[0\]\.commandLists\[[0-2]\]\.commands\[[0-9]\]\.title": 32,
    r"bots\[0\]\.commandLists\[[0-2]\]\.commands\[[0-9]\]\.description": 128,
}
REQUIRED = {"name.short", "name.full", "description.short", "description.full"}


def value_at(manifest: dict[str, Any], key: str) -> Any:
    """`bots[0].commandLists[1].commands[2].title` looked up in the manifest."""
    found: Any = manifest
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        found = found[int(part[1:-1])] if part.startswith("[") else found[part]
    return found


def languages(manifest: dict[str, Any], tmp_path: Path) -> dict[str, dict[str, Any]]:
    files = read_zip(write_package(APP_ID, tmp_path / "teams.zip"))
    return {
        entry["languageTag"]: json.loads(files[entry["file"]])
        for entry in manifest["localizationInfo"]["additionalLanguages"]
    }


def test_the_app_speaks_english_german_and_italian(manifest: dict[str, Any]) -> None:
    info = manifest["localizationInfo"]
    assert info["defaultLanguageTag"] == "en"
    assert [(e["languageTag"], e["file"]) for e in info["additionalLanguages"]] == [
        ("de", "de.json"),
        ("it", "it.json"),
    ]


@pytest.mark.parametrize("language", ["de", "it"])
def test_a_language_file_follows_the_schema_and_the_manifest(
    manifest: dict[str, Any], tmp_path: Path, language: str
) -> None:
    strings = languages(manifest, tmp_path)[language]
    # Teams refuses a language file of another manifest version than the manifest's.
    assert strings.pop("$schema") == LOCALIZATION_SCHEMA
    assert strings.keys() >= REQUIRED
    for key, text in strings.items():
        limit = next((n for pattern, n in LOCALIZABLE.items() if re.fullmatch(pattern, key)), 0)
        assert limit, f"{language}: {key} is no key Teams localizes"
        assert isinstance(text, str) and 0 < len(text) <= limit, (language, key, len(text))
        # Each key replaces a string the manifest has: no key for a missing command.
        english = value_at(manifest, key)
        assert isinstance(english, str)
        if key.endswith(".title"):
            assert text in VERBS | set(ALIASES), f"{language}: {text} is not a command"
        elif key != "name.short":
            assert text != english, f"{language}: {key} is not translated"


@pytest.mark.parametrize("language", ["de", "it"])
def test_every_command_is_described_in_each_language(
    manifest: dict[str, Any], tmp_path: Path, language: str
) -> None:
    strings = languages(manifest, tmp_path)[language]
    for i, entry in enumerate(manifest["bots"][0]["commandLists"]):
        for j, command in enumerate(entry["commands"]):
            described = strings.get(f"bots[0].commandLists[{i}].commands[{j}].description")
            assert described, (language, command["title"])
            # Where the description shows what to type, the keyword stays the bot's.
            if re.search(rf"\b{command['title']} [<\[]", command["description"]):
                assert re.search(rf"\b{command['title']} [<\[]", described), described
