"""Installed from a wheel, as a company installs it: no checkout beside the code.

The wheel is built from a copy of the sources the project ships (a build in the
repo would reuse a stale build/ folder), installed into a new virtual environment
that borrows this one's dependencies (no network), and run from a folder that is
not the checkout, so nothing can be found there by accident.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.e2e.cli import ROOT

APP_ID = "0b3c2a1d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
# What pyproject.toml builds from: the project's metadata and its packages.
SHIPPED = ["pyproject.toml", "README.md", "app.py", "bot", "handlers", "models", "scheduler"]
SHIPPED += ["migrations"]


def run(*args: str | Path, cwd: Path) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "MICROSOFT_", "INHOUSE_", "PYTHON", "PIP_"))
        and k not in ("DATABASE_URL", "VIRTUAL_ENV")
    }
    env.update(LANG="C.UTF-8", PYTHONUTF8="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with only the wheel installed; its bin folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    for name in SHIPPED:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, source / name)
    wheels = base / "wheels"
    # No build isolation: the build backend (setuptools, wheel) comes from this
    # environment's test extras instead of the network.
    pip = [sys.executable, "-m", "pip"]
    run(*pip, "wheel", source, "--no-deps", "--no-build-isolation", "-q", "-w", wheels, cwd=base)
    [wheel] = wheels.glob("inhouse-*.whl")

    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base)
    # The dependencies are those of this environment; the .pth adds its
    # site-packages after the new one, and .pth files there (this checkout's
    # editable install) are not read, so `inhouse` can only come from the wheel.
    (Path(site.strip()) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(*pip, "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=base)
    return venv / "bin"


def test_the_wheel_carries_the_teams_package_sources(installed: Path, tmp_path: Path) -> None:
    where = run(
        installed / "python", "-c", "import bot.teams.package as p; print(p.SOURCE)", cwd=tmp_path
    ).strip()
    assert Path(where).is_relative_to(installed.parent), where
    assert sorted(p.name for p in Path(where).iterdir()) == [
        "color.png",
        "de.json",
        "it.json",
        "manifest.json",
        "outline.png",
    ]


def test_teams_package_works_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "teams.zip"
    said = run(
        installed / "inhouse", "teams-package", "--app-id", APP_ID, "--out", out, cwd=tmp_path
    )
    assert f"Wrote {out}" in said
    with zipfile.ZipFile(out) as zf:
        names = sorted(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        german = json.loads(zf.read("de.json"))
    assert names == ["color.png", "de.json", "it.json", "manifest.json", "outline.png"]
    assert manifest["id"] == manifest["bots"][0]["botId"] == APP_ID
    assert manifest["manifestVersion"] == "1.22"
    assert german["name.full"] == "Inhouse: Ihr interner Service-Desk"
