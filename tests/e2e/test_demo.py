"""`inhouse demo`: the scripted story a newcomer runs first, played twice in a row."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cli import Inhouse, describe, flat

STORY = [
    "Filed IT-1: My laptop won't boot. IT Service Desk aims to respond by",
    "→ [#it] IT-1 · My laptop won't boot · from Luca Rossi",
    "Alice Novak from IT Service Desk is on it.",
    "IT-1 now waits on Luca Rossi; its clock is paused.",
    "Alice Novak needs something from you: Can you bring it to room 2.14 tomorrow?",
    "resolved by Alice Novak: Replaced the mainboard; your files are intact.",
    "Luca Rossi rated 5 of 5. “Super fast, thank you!”",
    "Sorry it went badly.",
    "Maria Lopez rated 2 of 5.",
    "FIN-1 is reopened; Finance has been told.",
    "Maria Lopez reopened it: The payout never arrived.",
    "Where service breaks down",
]
HEADING = "Service report"


@dataclass(frozen=True)
class Run:
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def summary(self) -> str:
        return self.result.stdout.split(HEADING, 1)[1]


@dataclass(frozen=True)
class Demo:
    machine: Inhouse
    runs: list[Run]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """`inhouse demo` twice in the same folder (on its default ./inhouse-demo.db)."""
    machine = Inhouse(tmp_path_factory.mktemp("demo"))
    runs = []
    for _attempt in (1, 2):
        started = time.monotonic()
        result = machine.run("demo", timeout=30)
        runs.append(Run(result, time.monotonic() - started))
    return Demo(machine, runs)


def test_demo_finishes_quickly_every_time(demo: Demo) -> None:
    for run in demo.runs:
        assert run.result.returncode == 0, describe(run.result)
        assert "Traceback" not in run.result.stdout + run.result.stderr, describe(run.result)
        assert run.seconds < 15, f"the demo took {run.seconds:.1f}s"


def test_demo_tells_the_story_in_order(demo: Demo) -> None:
    for number, run in enumerate(demo.runs, start=1):
        out = flat(run.result.stdout)
        position = -1
        for line in STORY:
            found = out.find(line, position + 1)
            assert found > position, f"run {number}: missing or out of order: {line!r}\n{out}"
            position = found


def test_demo_summary_shows_how_each_team_did(demo: Demo) -> None:
    for run in demo.runs:
        # Team, filed, resolved, backlog: IT resolved its request, Finance's was reopened.
        assert re.search(r"│ IT Service Desk\s*│ 1\s*│ 1\s*│ 0\s*│", run.summary), run.summary
        assert re.search(r"│ Finance\s*│ 1\s*│ 0\s*│ 1\s*│", run.summary), run.summary
        assert re.search(r"│ People & HR\s*│ 0\s*│ 0\s*│ 0\s*│", run.summary), run.summary
        assert re.search(r"│ Facilities\s*│ 0\s*│ 0\s*│ 0\s*│", run.summary), run.summary


def test_demo_starts_from_a_fresh_database_each_time(demo: Demo) -> None:
    first, second = (flat(run.result.stdout) for run in demo.runs)
    # The second run did not continue the first one's numbering or history.
    for out in (first, second):
        assert "IT-2" not in out and "FIN-2" not in out, out
    assert first.count("Filed IT-1") == second.count("Filed IT-1") == 1
    assert Path(demo.machine.workdir / "inhouse-demo.db").exists()
    # The demo plays on its own file and leaves DATABASE_URL's alone.
    assert not demo.machine.db.exists()


def test_demo_summary_shows_the_department_pairs(demo: Demo) -> None:
    summary = demo.runs[0].summary
    # Sales asked IT, Marketing asked Finance: one cell each in the matrix.
    assert re.search(r"│ Sales\s*│\s*–\s*│\s*100% · 5 · 1\s*│", summary), summary
    assert re.search(r"│ Marketing\s*│\s*– · 2 · 1\s*│", summary), summary


def test_demo_ends_with_the_commands_that_open_its_desk_and_they_work(
    demo: Demo, tmp_path: Path
) -> None:
    out = demo.runs[-1].result.stdout
    told = out.split("The demo's desk is kept in ", 1)[1]
    path, _, rest = told.partition(". To look around in it:")
    assert Path(path) == (demo.machine.workdir / "inhouse-demo.db").resolve()
    commands = [line.strip() for line in rest.splitlines() if " inhouse " in line]
    setting = f"DATABASE_URL=sqlite+aiosqlite:///{path}"
    assert commands == [
        f"{setting} inhouse report --since 2026-11-22 --until 2026-11-26",
        f"{setting} inhouse chat --as luca@example.com",
        f"{setting} inhouse chat --as alice@example.com",
    ]
    report = _typed(commands[0], demo.machine, tmp_path)
    luca = _typed(commands[1], demo.machine, tmp_path, "/request status IT-1\nquit\n")
    alice = _typed(commands[2], demo.machine, tmp_path, "/request status FIN-1\nquit\n")
    # The same figures as the demo's own summary, from another folder.
    assert re.search(r"│ IT Service Desk\s*│ 1\s*│ 1\s*│ 0\s*│", report), report
    assert re.search(r"│ Finance\s*│ 1\s*│ 0\s*│ 1\s*│", report), report
    assert "Hello Luca Rossi." in luca and "Rated 5 of 5" in luca, luca
    # Alice is not on Finance: she cannot see its request, as in Slack.
    assert "Hello Alice Novak." in alice, alice
    assert "There is no request FIN-1 that you can see." in alice, alice


def _typed(command: str, machine: Inhouse, cwd: Path, input: str = "") -> str:
    """A line from the demo's output, typed into a shell as it stands."""
    env = machine.env()
    del env["DATABASE_URL"]  # only what the printed line sets
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    result = subprocess.run(
        ["bash", "-c", command],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    return result.stdout
