"""Hostile catalog files, continued: what the file is, what the report shows, one-day fields.

The file an admin names may be no catalog at all (a directory, a disk image, bytes
in another encoding, /dev/zero); the report quotes the file, so what it prints
must stay one printable line per issue whatever the file holds; and a field
meant for one day does not quietly take the first of several.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.catalog import (
    MAX_FILE_BYTES,
    CatalogError,
    CatalogIssue,
    load_catalog,
    parse_catalog,
)
from tests.unit.test_catalog import doc, dump


def load_issues(path: Path | str) -> list[CatalogIssue]:
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    assert raised.value.file == str(path)
    return raised.value.issues


def parse_error(text: str) -> CatalogError:
    with pytest.raises(CatalogError) as raised:
        parse_catalog(text, "catalog.yaml")
    return raised.value


# --- what the file is -----------------------------------------------------------------------


def test_a_directory_missing_file_or_empty_file_is_named_as_such(tmp_path: Path) -> None:
    assert load_issues(tmp_path) == [CatalogIssue("(file)", "expected a file, got a directory")]
    assert load_issues(tmp_path / "nope.yaml") == [CatalogIssue("(file)", "no such file")]
    for text in ("", "  \n# only a comment\n", "---\n"):
        (tmp_path / "empty.yaml").write_text(text)
        assert load_issues(tmp_path / "empty.yaml") == [
            CatalogIssue("(document)", "the file is empty; expected calendars and teams")
        ]


def test_bytes_that_are_not_utf8_are_located(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("calendars: {office: 24x7}\nteams: [Café]\n".encode("latin-1"))
    assert load_issues(path) == [CatalogIssue("line 2, column 12", "expected UTF-8 text")]


def test_a_file_too_large_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES)
    refused = [
        CatalogIssue(
            "(file)", "the file is larger than 4 MB; expected a catalog of at most that size"
        )
    ]
    assert load_issues(path) == refused
    if os.path.exists("/dev/zero"):  # endless: read up to the bound, not to the end
        assert load_issues("/dev/zero") == refused


def test_a_root_document_with_a_tag_is_not_called_empty(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_text("--- !!binary aGVsbG8=\n")
    assert load_issues(path) == [
        CatalogIssue(
            "(document)",
            "expected a plain value, got one tagged !!binary; "
            "tags like !!python/object or !!binary are not read",
        )
    ]


# --- what the report shows ------------------------------------------------------------------


def test_control_characters_and_lone_surrogates_are_shown_escaped() -> None:
    # YAML's own escapes can put an ANSI sequence or half a UTF-16 pair in a value;
    # printed raw, one recolours the terminal and the other cannot be printed at all.
    error = parse_error(
        dump(doc()).replace("admins:\n- dana@example.com", 'admins: "\\e[2J\\ud800"')
    )
    assert error.issues == [CatalogIssue("admins", "expected a list, got '\\x1b[2J\\ud800'")]
    assert str(error).encode("utf-8")  # printable, so encodable
    key = "x\u202e" + "y" * 600
    error = parse_error(dump({**doc(), key: 1}))
    (issue,) = error.issues
    assert issue.path == "x\\u202e" + "y" * 190 + "..."
    assert issue.message.startswith("unknown field 'x\\u202eyyy")
    assert len(issue.message) == 500 and issue.message.endswith("...")


def test_a_file_with_thousands_of_problems_lists_the_first_hundred() -> None:
    error = parse_error("calendars: {office: 24x7}\nteams: [" + ", ".join(["1"] * 2500) + "]\n")
    assert error.total == 2500
    assert len(error.issues) == 101
    assert error.issues[0] == CatalogIssue(
        "teams[0]", "expected a mapping of names to values, got 1"
    )
    assert error.issues[99].path == "teams[99]"
    assert error.issues[100] == CatalogIssue(
        "(more)", "2400 more problems are not listed; fix the ones above and check again"
    )


def test_a_key_spelled_like_a_huge_list_position_is_sorted_not_crashed_on() -> None:
    error = parse_error(dump({**doc(), "[" + "9" * 5000 + "]": 1}))
    assert [issue.path[:12] for issue in error.issues] == ["[99999999999"]


# --- a field for one day takes one day ------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "day"),
    [("mon", "mon"), ("Friday", "fri"), ("tues", "tue"), ("THURS", "thu"), ("weds", "wed")],
)
def test_digest_day_accepts_one_day_however_it_is_spelled(written: str, day: str) -> None:
    data = {**doc(), "digest": {"day": written}}
    assert parse_catalog(dump(data), "catalog.yaml").digest.day == day


@pytest.mark.parametrize("written", ["mon-fri", "mon, wed", "Monday to Friday", "sat/sun"])
def test_digest_day_refuses_several_days(written: str) -> None:
    error = parse_error(dump({**doc(), "digest": {"day": written}}))
    message = f"expected one day, like mon, got '{written}'; it happens once a week"
    assert error.issues == [CatalogIssue("digest.day", message)]


@pytest.mark.parametrize("written", ["monkey", "mo", "someday", "1st"])
def test_digest_day_refuses_what_is_no_day(written: str) -> None:
    error = parse_error(dump({**doc(), "digest": {"day": written}}))
    message = f"expected a weekday like mon or friday, got '{written}'"
    assert error.issues == [CatalogIssue("digest.day", message)]


def test_digest_time_takes_one_time() -> None:
    assert parse_catalog(dump({**doc(), "digest": {"time": "9:30"}}), "c.yaml").digest.time == (
        "09:30"
    )
    error = parse_error(dump({**doc(), "digest": {"time": "09:00-17:00"}}))
    message = "expected one time, like 09:00, got '09:00-17:00'; it happens once a week"
    assert error.issues == [CatalogIssue("digest.time", message)]
    error = parse_error(dump({**doc(), "digest": {"time": "²:00"}}))
    assert error.issues == [CatalogIssue("digest.time", "expected a time like 09:00, got '²:00'")]


def test_an_alias_holding_several_is_refused() -> None:
    data = doc()
    data["teams"][0]["aliases"] = ["helpdesk", "pc, laptop"]
    error = parse_error(dump(data))
    message = "expected one alias per entry, like [helpdesk, computer], got 'pc, laptop'"
    assert error.issues == [CatalogIssue("teams[0].aliases[1]", message)]
