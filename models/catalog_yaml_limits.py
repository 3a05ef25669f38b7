"""Bounds on what a catalog file can make the YAML reader do.

PyYAML composes nested collections by recursion, so a file of ten thousand `[`
ends in RecursionError; and an alias shares the node it names, so ten lines of
anchors can stand for billions of values ("billion laughs") that validation
would then walk one by one. The composer here refuses both while composing,
before anything is built: it counts how deep the document goes and how many
values its aliases stand for, an alias counting as everything it repeats.

It also remembers where in the document each node sits (`teams[0].key`), so the
constructor can say where a value it refuses is.
"""

from __future__ import annotations

from typing import Final, Protocol

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from models.catalog_errors import CatalogIssue
from models.i18n import _

# A catalog needs seven levels (teams[0].escalation[0].notify[0]); anything much
# deeper is not a catalog, and the bound keeps every recursion over the data
# (composing, validation, repr in a message) far from Python's limit.
MAX_DEPTH: Final = 32
# Aliases are for sharing a block (a team's standards); nothing an admin means to
# repeat comes near this many values, while a bomb passes it within a few lines.
MAX_ALIAS_VALUES: Final = 100_000

STR_TAG: Final = "tag:yaml.org,2002:str"


class Refusal(Exception):
    """The document cannot be read any further; `issue` says where and why."""

    def __init__(self, issue: CatalogIssue) -> None:
        super().__init__(issue)
        self.issue = issue


class _Mark(Protocol):
    line: int
    column: int


def at_mark(mark: _Mark | None) -> str:
    """A place in the text as the catalog's issues name it."""
    if mark is None:
        return "(file)"
    return f"line {mark.line + 1}, column {mark.column + 1}"


class BoundedLoader(yaml.SafeLoader):
    """Safe YAML that refuses too-deep nesting, recursive aliases and alias bombs."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._deepest = 0
        self._values = 0  # values composed so far, each alias counting what it repeats
        self._repeated = 0  # of those, how many came through aliases
        self._anchored: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)
        self._paths: list[str] = []
        self.node_paths: dict[int, str] = {}  # id(node) -> its path, for nodes that need one

    def path_of(self, node: Node) -> str:
        """Where `node` sits in the document (its first place, if an alias repeats it)."""
        path = self.node_paths.get(id(node))
        if path is None:
            return at_mark(node.start_mark)
        return path or "(document)"

    def compose_node(self, parent: Node | None, index: int | Node | None) -> Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            node = self.anchors.get(event.anchor)
            if node is not None:  # an undefined alias is PyYAML's to report
                self._repeat(node, event)
            return super().compose_node(parent, index)  # type: ignore[arg-type]
        self._depth += 1
        self._reach(self._depth, event.start_mark)
        self._values += 1
        values_before, deepest_before, self._deepest = self._values, self._deepest, self._depth
        self._paths.append(self._child_path(parent, index))
        try:
            node = super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            path = self._paths.pop()
            height = self._deepest - self._depth + 1
            self._deepest = max(deepest_before, self._deepest)
            self._depth -= 1
        if node is not None:
            if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
                self._anchored[id(node)] = (self._values - values_before + 1, height)
            if not (isinstance(node, ScalarNode) and node.tag == STR_TAG):
                self.node_paths[id(node)] = path
        return node

    def _child_path(self, parent: Node | None, index: int | Node | None) -> str:
        here = self._paths[-1] if self._paths else ""
        if isinstance(parent, SequenceNode) and isinstance(index, int):
            return f"{here}[{index}]"
        if isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
            return f"{here}.{index.value}" if here else str(index.value)
        return here  # the root, or a mapping's key: named by the mapping it is in

    def _repeat(self, node: Node, event: yaml.AliasEvent) -> None:
        known = self._anchored.get(id(node))
        if known is None:  # its anchor is still open: the alias is inside what it names
            raise Refusal(
                CatalogIssue(
                    at_mark(event.start_mark),
                    _(
                        "*{alias} repeats a block that contains it; "
                        "expected an alias outside its anchor",
                        alias=event.anchor,
                    ),
                )
            )
        values, height = known
        self._reach(self._depth + height, event.start_mark)
        self._values += values
        self._repeated += values
        if self._repeated > MAX_ALIAS_VALUES:
            raise Refusal(
                CatalogIssue(
                    at_mark(event.start_mark),
                    _(
                        "the aliases up to here repeat more than {limit} values; "
                        "expected a catalog that repeats far less (is this a YAML bomb?)",
                        limit=MAX_ALIAS_VALUES,
                    ),
                )
            )

    def _reach(self, depth: int, mark: _Mark | None) -> None:
        self._deepest = max(self._deepest, depth)
        if depth > MAX_DEPTH:
            raise Refusal(
                CatalogIssue(
                    at_mark(mark),
                    _(
                        "nested more than {limit} levels deep here; "
                        "expected a catalog, which needs fewer than ten",
                        limit=MAX_DEPTH,
                    ),
                )
            )
