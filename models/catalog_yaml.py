"""Reading catalog YAML: safe, bounded, strict about booleans, loud about duplicate keys.

Only plain YAML is read: text, whole numbers, decimals, true/false, null, lists and
mappings whose keys are text. A value the reader will not build (a `!!python/...`
or `!!binary` tag, a number with hundreds of digits, a key that is not text) is
reported at its path and read as nothing, so validation goes on and reports the
rest of the file; what stops reading altogether (a syntax error, nesting or
aliases beyond `models.catalog_yaml_limits`) is reported alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from models.catalog_errors import CatalogError, CatalogIssue
from models.catalog_yaml_limits import STR_TAG, BoundedLoader, Refusal, at_mark
from models.i18n import N_, _

_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"
# Sixty-three bits need 19 digits; no count, scale or percentage in a catalog needs
# more, and Python refuses to turn a number of over 4300 digits into text at all
# (hexadecimal and 1:30:00 forms are bounded by their length the same way).
MAX_NUMBER_DIGITS: Final = 19


@dataclass(frozen=True)
class YamlDocument:
    """What the reader made of a file: the data, what it reported, and the paths
    where it put nothing in place of a value it refused."""

    data: object
    issues: list[CatalogIssue]
    refused: frozenset[str]


class _Loader(BoundedLoader):
    """Safe YAML that reports duplicate keys and values it will not build, and where
    only true/false are booleans (so `country: NO` stays Norway and `yes`/`on` stay
    words)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.issues: list[CatalogIssue] = []
        self.refused: set[str] = set()

    def refuse(self, node: Node, message: str) -> None:
        """Report `node`'s value as `message` (translated) and read it as nothing."""
        path = self.path_of(node)
        self.issues.append(CatalogIssue(path, message))
        self.refused.add(path)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _value in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                self.issues.append(
                    CatalogIssue(
                        at_mark(key_node.start_mark),
                        _("'{key}' is given twice here; the last one would win", key=key[1]),
                    )
                )
            seen.add(key)
        self.flatten_mapping(node)  # merged (<<) keys are checked like the mapping's own
        node.value = [(key, value) for key, value in node.value if self._text_key(node, key)]
        return super().construct_mapping(node, deep=deep)

    def _text_key(self, mapping: MappingNode, key: Node) -> bool:
        if isinstance(key, ScalarNode) and key.tag in (STR_TAG, _TIMESTAMP_TAG):
            return True  # a date-like key is read as text, as a date-like value is
        where = self.path_of(mapping)
        if not isinstance(key, ScalarNode):
            kind = _("a mapping") if isinstance(key, MappingNode) else _("a list")
            message = _("expected a name as the key, got {got}", got=kind)
        else:
            spelled = str(key.value) or "~"  # `? ` alone is a null key spelled as nothing
            where = f"{where}.{spelled}" if where != "(document)" else spelled
            if key.tag == "tag:yaml.org,2002:null":
                message = _("expected a name as the key, got {got}", got=_("nothing"))
            else:
                message = _(
                    "expected a name as the key, got {got}; put it in quotes if it is one",
                    got=spelled,
                )
        self.issues.append(CatalogIssue(where, message))
        return False


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# Dates stay text here so that an impossible one (2026-13-01) is reported by the
# schema with its path, instead of crashing the YAML reader without one.
def _timestamp_as_text(loader: _Loader, node: Node) -> str | None:
    if isinstance(node, ScalarNode):
        return str(node.value)
    _refused_tag(loader, node)
    return None


def _refused_tag(loader: _Loader, node: Node) -> None:
    loader.refuse(
        node,
        _(
            "expected a plain value, got one tagged {tag}; tags like !!python/object "
            "or !!binary are not read",
            tag=node.tag.replace("tag:yaml.org,2002:", "!!"),
        ),
    )


def _checked_scalar(
    build: Callable[[yaml.SafeLoader, ScalarNode], object], expected: str, longest: int | None
) -> Callable[[_Loader, Node], object]:
    """`build` for a scalar, refusing (not crashing on) one it cannot make sense of."""

    def construct(loader: _Loader, node: Node) -> object:
        if not isinstance(node, ScalarNode):
            _refused_tag(loader, node)
            return None
        text = str(node.value)
        if longest is None or len(text.replace("_", "").lstrip("+-")) <= longest:
            try:
                return build(loader, node)
            except (ValueError, LookupError, ArithmeticError):
                pass  # reported below, as for a value too long to be one
        shown = text if len(text) <= 40 else f"{text[:37]}... ({len(text)} characters)"
        loader.refuse(node, _(expected, got=shown))
        return None

    return construct


_Loader.add_constructor(
    "tag:yaml.org,2002:int",
    _checked_scalar(
        yaml.SafeLoader.construct_yaml_int,
        N_("expected a whole number of at most 19 digits, got {got}"),
        MAX_NUMBER_DIGITS,
    ),
)
_Loader.add_constructor(
    "tag:yaml.org,2002:float",
    _checked_scalar(yaml.SafeLoader.construct_yaml_float, N_("expected a number, got {got}"), None),
)
_Loader.add_constructor(
    _BOOL_TAG,
    _checked_scalar(
        yaml.SafeLoader.construct_yaml_bool, N_("expected true or false, got {got}"), None
    ),
)
_Loader.add_constructor(_TIMESTAMP_TAG, _timestamp_as_text)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refused_tag)
_Loader.add_constructor(None, _refused_tag)  # every other tag, !!python/... among them


def _syntax_issue(exc: yaml.MarkedYAMLError) -> CatalogIssue:
    mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
    if mark is None:
        return CatalogIssue("(file)", _("YAML syntax error: {problem}", problem=exc))
    problem = exc.problem or exc.context or str(exc)
    if exc.problem and exc.context and context is not None and context.line != mark.line:
        problem = f"{problem} ({exc.context} at line {context.line + 1})"
    return CatalogIssue(at_mark(mark), _("YAML syntax error: {problem}", problem=problem))


def _reader_issue(exc: yaml.reader.ReaderError, text: str) -> CatalogIssue:
    """A character YAML does not allow (a NUL, a control character) at its place."""
    line = text.count("\n", 0, exc.position) + 1
    column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
    return CatalogIssue(
        f"line {line}, column {column}",
        _(
            "expected text without control characters, found character {code}",
            code=f"U+{exc.character:04X}" if isinstance(exc.character, int) else "?",
        ),
    )


def read_yaml(text: str, file: str) -> YamlDocument:
    """The document in `text`, and what the reader found wrong on the way.

    A syntax error, or nesting or aliases beyond the bounds, stops reading, so it
    raises CatalogError for `file` at once.
    """
    try:
        return _read(text)
    except Refusal as refusal:
        raise CatalogError(file, [refusal.issue]) from None
    except yaml.reader.ReaderError as exc:
        raise CatalogError(file, [_reader_issue(exc, text)]) from None
    except yaml.MarkedYAMLError as exc:
        raise CatalogError(file, [_syntax_issue(exc)]) from None
    except yaml.YAMLError as exc:
        issue = CatalogIssue("(file)", _("YAML syntax error: {problem}", problem=exc))
        raise CatalogError(file, [issue]) from None


def _read(text: str) -> YamlDocument:
    loader = _Loader(text)  # checks the characters first: ReaderError
    try:
        data = loader.get_single_data()
    finally:
        loader.dispose()
    return YamlDocument(data, loader.issues, frozenset(loader.refused))
