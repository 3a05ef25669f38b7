"""`inhouse catalog check|apply` on hostile files, as a real process.

Before, nesting ten thousand deep ended in a RecursionError traceback and a
billion-laughs file could keep the command busy for as long as memory lasted.
Now each ends within seconds, exit code 1, with the located line the admin acts
on, and `apply` writes nothing.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.cli import Inhouse, describe, flat

DEEP = "teams: " + "[" * 50_000 + "]" * 50_000 + "\n"
BOMB = "".join(
    [
        'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n',
        *(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)),
        "teams: *a9\n",
    ]
)
CASES = {
    "deep.yaml": (
        DEEP,
        "deep.yaml: line 1, column 39: nested more than 32 levels deep here; "
        "expected a catalog, which needs fewer than ten",
    ),
    "bomb.yaml": (
        BOMB,
        "bomb.yaml: line 6, column 10: the aliases up to here repeat more than 100000 values; "
        "expected a catalog that repeats far less (is this a YAML bomb?)",
    ),
    "digits.yaml": (
        "calendars: {office: 24x7}\nsurvey: {scale: " + "9" * 5000 + "}\nteams: []\n",
        "digits.yaml: survey.scale: expected a whole number of at most 19 digits, "
        "got 9999999999999999999999999999999999999... (5000 characters)",
    ),
}


@pytest.mark.parametrize("verb", ["check", "apply"])
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_catalog_ends_in_a_located_problem(inhouse: Inhouse, name: str, verb: str) -> None:
    text, problem = CASES[name]
    (inhouse.workdir / name).write_text(text)
    started = time.monotonic()
    result = inhouse.run("catalog", verb, name, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1, describe(result)
    assert "Traceback" not in result.stdout + result.stderr, describe(result)
    assert problem in flat(result.stdout), describe(result)
    assert took < 15, f"catalog {verb} {name} took {took:.1f}s"
    assert not inhouse.db.exists(), "a refused catalog must not create the database"
