"""Whatever a catalog file holds, loading it returns a Catalog or raises CatalogError.

Two generators: text stitched from YAML's punctuation and the values that broke
the reader before (tags, anchors, thousand-digit numbers, control characters),
and the valid test catalog with one place anywhere in it replaced by a random
value of any shape. Either way the only exception allowed out is CatalogError,
and its report must be printable: bounded, one line per issue, encodable.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.catalog import Catalog, CatalogError, parse_catalog
from tests.unit.test_catalog import doc

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PIECES = [
    *"[]{}:,-&*!|>'\"#%@`?~ \n\n\t",
    "  ",
    "- ",
    ": ",
    "a",
    "mon-fri",
    "teams",
    "calendars: {o: 24x7}\n",
    "digest",
    "day",
    "<<",
    "&a ",
    "*a",
    "!!binary ",
    "!!python/object/apply:os.system ",
    "!!set ",
    "!!int ",
    "!!bool ",
    "!foo ",
    "0x",
    "9" * 30,
    "1:2",
    ".nan",
    "~",
    "true",
    "no",
    "\\e",
    "\\ud800",
    "\x00",
    "\x1b",
    "é",
    "\u202e",
    "%YAML 1.1\n",
    "---\n",
]

yamlish = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**60),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["mon-fri", "24x7", "4h", "9" * 50 + "d", "75%", "09:00", "leads", "no"]),
)
keys = st.one_of(st.text(max_size=10), st.integers(), st.none(), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


def assert_loads_or_reports(text: str) -> None:
    try:
        loaded = parse_catalog(text, "fuzz.yaml")
    except CatalogError as error:
        assert error.issues, "an error names at least one problem"
        assert len(error.issues) <= 101 and error.total >= len(error.issues) - 1
        for issue in error.issues:
            assert issue.path and issue.message
            assert issue.path.isprintable() and issue.message.isprintable()
            assert len(issue.path) <= 200 and len(issue.message) <= 500
        str(error).encode("utf-8")
    else:
        assert isinstance(loaded, Catalog)


@FAST
@given(yamlish)
def test_any_yamlish_text_loads_or_is_reported(text: str) -> None:
    assert_loads_or_reports(text)


@FAST
@given(st.data(), values)
def test_any_value_anywhere_in_a_catalog_loads_or_is_reported(
    data: st.DataObject, value: Any
) -> None:
    holder: Any = {"root": doc()}
    parent, key = holder, "root"
    # Walk down the valid catalog for a while, then put the value where the walk stopped.
    while isinstance(parent[key], (dict, list)) and parent[key] and data.draw(st.booleans()):
        parent = parent[key]
        key = data.draw(
            st.sampled_from(list(parent) if isinstance(parent, dict) else range(len(parent)))
        )
    parent[key] = value
    assert_loads_or_reports(yaml.safe_dump(holder["root"], sort_keys=False))


@FAST
@given(values)
def test_any_document_shape_loads_or_is_reported(value: Any) -> None:
    document = {"calendars": {"o": "24x7"}, "teams": value}
    assert_loads_or_reports(yaml.safe_dump(document, sort_keys=False))
    assert_loads_or_reports(yaml.safe_dump(value, sort_keys=False))
