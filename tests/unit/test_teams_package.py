"""The Teams app package: what Teams would refuse only after an upload is caught here."""

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

from bot.teams.package import ICON_SIZES, PLACEHOLDER, SOURCE, write_package

APP_ID = "0b3c2a1d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
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


def test_the_zip_holds_exactly_the_three_files_at_its_root(tmp_path: Path) -> None:
    written = write_package(APP_ID, tmp_path / "out" / "teams.zip")
    assert written == tmp_path / "out" / "teams.zip"
    with zipfile.ZipFile(written) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert zf.testzip() is None
    files = read_zip(written)
    assert files["color.png"] == (SOURCE / "color.png").read_bytes()
    assert files["outline.png"] == (SOURCE / "outline.png").read_bytes()


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
    path.write_text(path.read_text().replace("1.0.0", "{{APP_VERSION}}"))
    with pytest.raises(ValueError, match=r"\{\{APP_VERSION\}\}"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)


def test_broken_json_is_refused(tmp_path: Path, source: Path) -> None:
    path = source / "manifest.json"
    path.write_text(path.read_text().rstrip().removesuffix("}"))
    with pytest.raises(ValueError, match="not valid JSON"):
        write_package(APP_ID, tmp_path / "teams.zip", source=source)


# --- the manifest against the v1.17 schema's rules ---------------------------------------------


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
    assert manifest["manifestVersion"] == "1.17"
    assert manifest["$schema"].endswith("/teams/v1.17/MicrosoftTeams.schema.json")
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
    assert {"personal", "team"} <= set(listed_scopes) <= set(bot["scopes"])
    for entry in lists:
        commands = entry["commands"]
        assert len(commands) <= 10
        assert [c["title"] for c in commands] == ["request", "list", "status", "queue", "help"]
        for command in commands:
            assert len(command["title"]) <= 32
            assert 0 < len(command["description"]) <= 128


def test_permissions_domains_and_icons(manifest: dict[str, Any]) -> None:
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["validDomains"] == []
