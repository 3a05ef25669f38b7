"""Reading catalog YAML: safe, strict about booleans, loud about duplicate keys."""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

import yaml

from models.catalog_errors import CatalogError, CatalogIssue
from models.i18n import _

_BOOL_TAG = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """Safe YAML that reports duplicate keys, and where only true/false are booleans
    (so `country: NO` stays Norway and `yes`/`on` stay words)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[CatalogIssue] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _value in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                mark = key_node.start_mark
                self.duplicates.append(
                    CatalogIssue(
                        f"line {mark.line + 1}, column {mark.column + 1}",
                        _("'{key}' is given twice here; the last one would win", key=key[1]),
                    )
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# Dates stay text here so that an impossible one (2026-13-01) is reported by the
# schema with its path, instead of crashing the YAML reader without one.
def _timestamp_as_text(loader: _Loader, node: yaml.Node) -> str:
    return str(node.value)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _syntax_issue(exc: yaml.MarkedYAMLError) -> CatalogIssue:
    mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
    if mark is None:
        return CatalogIssue("(file)", _("YAML syntax error: {problem}", problem=exc))
    problem = exc.problem or exc.context or str(exc)
    if exc.problem and exc.context and context is not None and context.line != mark.line:
        problem = f"{problem} ({exc.context} at line {context.line + 1})"
    return CatalogIssue(
        f"line {mark.line + 1}, column {mark.column + 1}",
        _("YAML syntax error: {problem}", problem=problem),
    )


def read_yaml(text: str, file: str) -> tuple[object, list[CatalogIssue]]:
    """The document in `text`, and its duplicate keys as issues.

    A syntax error stops reading, so it raises CatalogError for `file` at once.
    """
    try:
        return _read(text)
    except yaml.MarkedYAMLError as exc:
        raise CatalogError(file, [_syntax_issue(exc)]) from None
    except yaml.YAMLError as exc:
        issue = CatalogIssue("(file)", _("YAML syntax error: {problem}", problem=exc))
        raise CatalogError(file, [issue]) from None


def _read(text: str) -> tuple[object, list[CatalogIssue]]:
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()
