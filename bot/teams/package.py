"""The Teams app package: the zip an admin uploads to Teams to install the bot.

The sources in bot/teams/package_files (the manifest, its German and Italian
strings, two icons) carry `{{MICROSOFT_APP_ID}}` instead of a real id so one
install serves every tenant; `write_package` fills it in, checks what Teams would
otherwise reject only after a slow upload, and zips the files.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from models.i18n import _

PLACEHOLDER = "{{MICROSOFT_APP_ID}}"
MANIFEST = "manifest.json"
# Teams wants these exact pixel sizes and rejects the package otherwise.
ICON_SIZES: dict[str, tuple[int, int]] = {"color.png": (192, 192), "outline.png": (32, 32)}
DEFAULT_ZIP_NAME = "inhouse-teams.zip"

# Package data beside this module, so a checkout, an editable install and a wheel
# all find the same (and only) copy; deploy/teams/README.md points here.
SOURCE = Path(__file__).resolve().parent / "package_files"

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Catches any `{{NAME}}` the manifest may grow later that this function does not fill.
_ANY_PLACEHOLDER = re.compile(r"\{\{[A-Z0-9_]+\}\}")
_DOMAIN = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*(:\d{1,5})?")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A fixed timestamp makes the zip byte-identical for the same inputs, so a rebuilt
# package shows no spurious change and can be compared by checksum.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_package(
    app_id: str,
    out: Path,
    *,
    source: Path = SOURCE,
    endpoint_domain: str | None = None,
) -> Path:
    """Write the Teams app package for the bot registered as `app_id`; return the zip's path.

    `out` is the zip to write, or an existing directory to put `inhouse-teams.zip` in.
    `endpoint_domain` (a host name or the messaging endpoint URL) is added to
    `validDomains`. Raises ValueError, before writing anything, on a bad app id,
    domain, manifest, icon or language file.
    """
    app_id = _check_app_id(app_id)
    manifest = _fill_manifest(source / MANIFEST, app_id, endpoint_domain)
    icons = {name: _read_icon(source / name, size) for name, size in ICON_SIZES.items()}
    languages = {name: _read_language(source, name) for name in language_files(manifest)}

    target = out / DEFAULT_ZIP_NAME if out.is_dir() else out
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a failure never leaves a half-written
    # zip that looks like a package.
    fd, tmp_name = tempfile.mkstemp(prefix=".teams-", suffix=".zip", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as zf:
            # Teams reads only the zip root: a folder inside makes the upload fail.
            _add(zf, MANIFEST, manifest)
            for name, data in {**icons, **languages}.items():
                _add(zf, name, data)
        tmp.chmod(0o644)  # mkstemp makes it private; the package is no secret
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _check_app_id(app_id: str) -> str:
    # Pasted ids often carry a newline from an env file or terminal.
    cleaned = app_id.strip()
    if not _GUID.fullmatch(cleaned):
        raise ValueError(
            f"Microsoft App ID must be a GUID like 00000000-0000-0000-0000-000000000000 "
            f"(the bot's Application (client) ID from Azure), got {app_id!r}"
        )
    # Azure shows app ids in lower case and the bot's tokens carry them that way; one
    # spelling everywhere avoids a botId that only differs from the registration by case.
    return cleaned.lower()


def language_files(manifest: bytes) -> list[str]:
    """The localization files the manifest names (`localizationInfo`), in its order."""
    info = json.loads(manifest).get("localizationInfo") or {}
    entries = (info.get("additionalLanguages") or []) if isinstance(info, dict) else []
    names = [str(e.get("file") or "") if isinstance(e, dict) else "" for e in entries]
    for name in names:
        # Teams reads only the zip root, and these names become paths in it.
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.json", name) or name == MANIFEST:
            raise ValueError(
                _("'{name}': a language file must be a .json file beside manifest.json", name=name)
            )
    return names


def _read_language(source: Path, name: str) -> bytes:
    path = source / name
    if not path.is_file():
        raise ValueError(
            _(
                "{name}: the manifest names this language file, but {source} has none",
                name=name,
                source=str(source),
            )
        )
    data = path.read_bytes()
    try:
        json.loads(data)
    except ValueError as exc:
        raise ValueError(_("{name}: not valid JSON ({error})", name=name, error=str(exc))) from exc
    return data


def _fill_manifest(path: Path, app_id: str, endpoint_domain: str | None) -> bytes:
    text = path.read_text(encoding="utf-8")
    if PLACEHOLDER not in text:
        raise ValueError(f"{path}: has no {PLACEHOLDER} placeholder to fill with the app id")
    # A GUID has no JSON-special characters, so plain substitution keeps the JSON valid.
    filled = text.replace(PLACEHOLDER, app_id)
    left = _ANY_PLACEHOLDER.search(filled)
    if left:
        raise ValueError(f"{path}: placeholder {left.group()} has no value to fill it with")
    try:
        manifest = json.loads(filled)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")

    icons = manifest.get("icons")
    expected = {"color": "color.png", "outline": "outline.png"}
    if icons != expected:
        # The zip holds exactly these files, so the manifest must name exactly them.
        raise ValueError(f"{path}: icons must be {expected}, got {icons!r}")

    if endpoint_domain is not None:
        domain = _domain_of(endpoint_domain)
        domains = manifest.setdefault("validDomains", [])
        if not isinstance(domains, list):
            raise ValueError(f"{path}: validDomains must be a list")
        if domain not in domains:
            domains.append(domain)

    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _domain_of(endpoint: str) -> str:
    """`https://desk.example.com/api/messages` or `desk.example.com` -> `desk.example.com`."""
    value = endpoint.strip()
    if "://" in value:
        parts = urlsplit(value)
        # Teams matches validDomains without a scheme or path; keep a port if given.
        value = parts.netloc.rpartition("@")[2]
    else:
        value = value.rstrip("/")
    if not _DOMAIN.fullmatch(value):
        raise ValueError(
            f"endpoint domain must be a host name like inhouse.example.com "
            f"(or the bot's https endpoint URL), got {endpoint!r}"
        )
    return value.lower()


def _read_icon(path: Path, size: tuple[int, int]) -> bytes:
    data = path.read_bytes()
    # IHDR is always the first chunk: signature (8), length (4), type (4), width, height.
    if len(data) < 24 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError(f"{path.name}: not a PNG file ({path})")
    width, height = struct.unpack(">II", data[16:24])
    if (width, height) != size:
        raise ValueError(
            f"{path.name}: Teams needs {size[0]}x{size[1]} pixels, "
            f"this one is {width}x{height} ({path})"
        )
    return data


def _add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16  # a plain readable file when unzipped on Unix
    zf.writestr(info, data)
