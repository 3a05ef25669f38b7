"""A catalog file can hold anything: whatever it holds, the admin reads where and what.

Each case is a file an admin (or someone handing them one) could produce: nesting
ten thousand deep, a YAML bomb, a number of five thousand digits, a Python tag, a
key that is not a name, bytes that are not UTF-8. Loading it must end in
CatalogError with the exact path and message `inhouse catalog check` prints
(tests/e2e/test_catalog_hostile.py runs the command itself), never in another
exception, and never after minutes or gigabytes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.catalog import CatalogError, CatalogIssue, parse_catalog
from tests.unit.test_catalog import doc, dump

NESTED = "nested more than 32 levels deep here; expected a catalog, which needs fewer than ten"
BOMB = (
    "the aliases up to here repeat more than 100000 values; "
    "expected a catalog that repeats far less (is this a YAML bomb?)"
)
TAGGED = (
    "expected a plain value, got one tagged {tag}; "
    "tags like !!python/object or !!binary are not read"
)


def issues_of(text: str) -> list[CatalogIssue]:
    with pytest.raises(CatalogError) as raised:
        parse_catalog(text, "catalog.yaml")
    return raised.value.issues


def laughs(levels: int = 10) -> str:
    """The billion laughs: each line nine aliases of the one before, 9**10 in all."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


# --- what stops reading: one issue at the line and column ------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("teams: " + "[" * 10_000 + "]" * 10_000 + "\n", "line 1, column 39"),
        ("teams: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", "line 1, column 129"),
        ("teams:\n" + "".join(f"{'  ' * n}- \n" for n in range(1, 200)), "line 33, column 65"),
        # Short aliases that each add ten levels: deep only once they are put together.
        (
            "a0: &a0 [1]\n"
            + "".join(f"a{n}: &a{n} [[[[[[[[[[*a{n - 1}]]]]]]]]]]\n" for n in range(1, 9)),
            "line 4, column 19",
        ),
    ],
    ids=["lists", "mappings", "block-lists", "through-aliases"],
)
def test_deep_nesting_is_refused_where_it_gets_too_deep(text: str, where: str) -> None:
    assert issues_of(text) == [CatalogIssue(where, NESTED)]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (laughs(), "line 6, column 10"),
        # Merge keys copy a mapping's entries: nine copies of nine copies of ...
        (
            "m0: &m0 {x: 1, y: 2}\n"
            + "".join(
                f"m{n}: &m{n} {{<<: [{', '.join([f'*m{n - 1}'] * 9)}]}}\n" for n in range(1, 12)
            ),
            "line 6, column 20",
        ),
        # A valid team repeated until validation would have 200,000 teams to check.
        (
            "calendars: {o: 24x7}\nteams:\n  - &t {key: it, name: IT, members: [a@example.com],"
            " calendar: o, standards: {normal: {first_response: 1h, resolution: 2h}}}\n"
            + "  - *t\n"
            * 20_000,
            "line 5559, column 5",
        ),
    ],
    ids=["billion-laughs", "merge-keys", "repeated-team"],
)
def test_alias_bombs_are_refused_where_the_repetition_passes_the_bound(
    text: str, where: str
) -> None:
    assert issues_of(text) == [CatalogIssue(where, BOMB)]


@pytest.mark.parametrize(
    ("text", "where", "alias"),
    [("teams: &a [*a]\n", "line 1, column 12", "a"), ("x: &m {y: *m}\n", "line 1, column 11", "m")],
)
def test_an_alias_inside_its_own_anchor_is_refused(text: str, where: str, alias: str) -> None:
    message = f"*{alias} repeats a block that contains it; expected an alias outside its anchor"
    assert issues_of(text) == [CatalogIssue(where, message)]


def test_shared_blocks_still_load() -> None:
    # Aliases are how admins share a block; only their abuse is refused.
    text = """\
calendars: {office: 24x7}
teams:
  - {key: it, name: IT, members: [a@example.com], calendar: office,
     standards: &shared {normal: {first_response: 4h, resolution: 3d}}}
  - {key: hr, name: HR, members: [b@example.com], calendar: office, standards: *shared}
"""
    catalog = parse_catalog(text, "catalog.yaml")
    assert (
        catalog.teams[1].standard_for("urgent").resolution
        == catalog.teams[0].standards["normal"].resolution
    )


def test_control_characters_are_refused_at_their_place() -> None:
    assert issues_of("calendars:\n  office: 24x7\nteams: [\x00]\n") == [
        CatalogIssue(
            "line 3, column 9",
            "expected text without control characters, found character U+0000",
        )
    ]


# --- what is refused at its path, while the rest of the file is still checked ---------------

NINES = "9" * 5000


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (NINES, "9999999999999999999999999999999999999... (5000 characters)"),
        ("0x" + "f" * 5000, "0xfffffffffffffffffffffffffffffffffff... (5002 characters)"),
        ("1" + ":0" * 3000, "1:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0... (6001 characters)"),
    ],
    ids=["decimal", "hexadecimal", "sexagesimal"],
)
def test_a_number_of_thousands_of_digits_is_refused_at_its_path(value: str, shown: str) -> None:
    data = dump(doc()).replace("teams:", f"survey: {{scale: {value}}}\nteams:", 1)
    assert issues_of(data) == [
        CatalogIssue("survey.scale", f"expected a whole number of at most 19 digits, got {shown}")
    ]


def test_the_rest_of_the_file_is_still_checked_after_a_refused_value() -> None:
    assert issues_of(f"survey: {{scale: {NINES}}}\nteams: []\n") == [
        CatalogIssue("calendars", "expected a value here; this field is required"),
        CatalogIssue("teams", "expected at least one team"),
        CatalogIssue(
            "survey.scale",
            "expected a whole number of at most 19 digits, got "
            "9999999999999999999999999999999999999... (5000 characters)",
        ),
    ]


LONG = "'" + "9" * 37 + "...'"


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("warn_at", f"'{NINES}%'", f"expected a percentage like 75%, got {LONG}"),
        ("first_response", f"{NINES}h", f"expected a duration like 45s, 30m, 4h or 2d, got {LONG}"),
        ("scale", f"'{NINES}'", f"expected a whole number, got {LONG}"),
        ("time", f"'{NINES}:00'", f"expected a time like 09:00, got {LONG}"),
    ],
)
def test_thousands_of_digits_in_text_are_refused_in_the_admins_words(
    field: str, text: str, message: str
) -> None:
    data = doc()
    where = {
        "warn_at": ("teams[0].warn_at", data["teams"][0]),
        "first_response": (
            "teams[0].standards.urgent.first_response",
            data["teams"][0]["standards"]["urgent"],
        ),
        "scale": ("survey.scale", data.setdefault("survey", {})),
        "time": ("digest.time", data.setdefault("digest", {})),
    }
    path, parent = where[field]
    parent[field] = "PLACEHOLDER"
    assert issues_of(dump(data).replace("PLACEHOLDER", text)) == [CatalogIssue(path, message)]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("!!python/object/apply:os.system ['touch {pwned}']", "!!python/object/apply:os.system"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!!omap [{a: 1}]", "!!omap"),
        ("!custom {a: 1}", "!custom"),
    ],
)
def test_tagged_values_are_refused_and_never_built(value: str, tag: str, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    data = dump(doc()).replace("admins:\n- dana@example.com", "admins: PLACEHOLDER")
    text = data.replace("PLACEHOLDER", value.replace("{pwned}", str(pwned)))
    assert issues_of(text) == [CatalogIssue("admins", TAGGED.format(tag=tag))]
    assert not pwned.exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("!!bool maybe", "expected true or false, got maybe"),
        ("!!int twelve", "expected a whole number of at most 19 digits, got twelve"),
        ("!!float much", "expected a number, got much"),
    ],
)
def test_an_explicit_type_that_does_not_fit_its_value_is_refused(value: str, message: str) -> None:
    data = dump(doc()).replace("teams:", f"recognition: {value}\nteams:", 1)
    assert issues_of(data) == [CatalogIssue("recognition", message)]


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("calendars:\n  1: 24x7\n", "calendars.1", "got 1; put it in quotes if it is one"),
        ("calendars:\n  true: 24x7\n", "calendars.true", "got true; put it in quotes if it is one"),
        ("calendars:\n  ~: 24x7\n", "calendars.~", "got nothing"),
        ("calendars:\n  ? [a, b]\n  : 24x7\n", "calendars", "got a list"),
        ("calendars:\n  ? {a: b}\n  : 24x7\n", "calendars", "got a mapping"),
    ],
)
def test_keys_that_are_not_names_are_refused(text: str, path: str, message: str) -> None:
    data = dump(doc()).replace("calendars:\n", text, 1)
    assert issues_of(data) == [CatalogIssue(path, f"expected a name as the key, {message}")]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"people": [[1]]}, "people[0]", "expected a mapping of names to values, got a list"),
        ({"teams": {"it": 1}}, "teams", "expected a list, got a mapping"),
        ({"calendars": ["x"]}, "calendars", "expected a mapping of names to values, got a list"),
        ({"admins": [{"a": 1}]}, "admins[0]", "expected text, got a mapping"),
        ({"digest": None}, "digest", "expected a mapping of names to values, got nothing"),
        ({"survey": {"scale": "five"}}, "survey.scale", "expected a whole number, got 'five'"),
        ({"survey": {"scale": float("nan")}}, "survey.scale", "expected a whole number, got nan"),
        ({"recognition": [True]}, "recognition", "expected true or false, got a list"),
        ({"digest": {"day": 1}}, "digest.day", "expected text, got 1"),
    ],
)
def test_wrong_types_anywhere_say_what_was_expected(
    change: dict[str, object], path: str, message: str
) -> None:
    assert issues_of(dump({**doc(), **change})) == [CatalogIssue(path, message)]


def test_no_and_yes_stay_words_and_only_true_false_are_booleans() -> None:
    data = dump(doc()).replace("name: Dana", "name: no", 1)
    assert parse_catalog(data, "catalog.yaml").people[0].name == "no"
    assert issues_of(data.replace("name: no", "name: true", 1)) == [
        CatalogIssue("people[0].name", "expected text, got true")
    ]
