"""Turning what went wrong into `path: expected ...` lines an admin can act on.

`CatalogIssue` is one problem at one place in the document; `CatalogError`
carries all of them for one file. Pydantic's errors are rewritten here, so the
schema can stay declarative and the admin never sees pydantic's wording.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Annotated, Any, Final, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from models.i18n import N_, _, ngettext


class CatalogIssue(NamedTuple):
    path: str
    message: str


# A file of 200,000 wrong entries is as wrong after the first hundred; listing them
# all would keep the admin's terminal busy for minutes.
MAX_LISTED: Final = 100


class CatalogError(Exception):
    """Everything wrong with one catalog file, one line per issue.

    Paths and messages quote the file, and a file can hold anything: each issue is
    kept to one printable line of bounded length, so what the admin's terminal
    shows is the issue, not whatever escape codes or megabytes the file contained.
    """

    def __init__(self, file: str, issues: Sequence[CatalogIssue]) -> None:
        self.file = printable(file, 500)
        self.total = len(issues)  # the issues listed stop at MAX_LISTED, this does not
        self.issues = [
            CatalogIssue(printable(issue.path, 200), printable(issue.message, 500))
            for issue in issues[:MAX_LISTED]
        ]
        if self.total > MAX_LISTED:
            more = self.total - MAX_LISTED
            message = ngettext(
                "{n} more problem is not listed; fix the ones above and check again",
                "{n} more problems are not listed; fix the ones above and check again",
                more,
            )
            self.issues.append(CatalogIssue("(more)", message))
        super().__init__(self.file, self.issues)

    def __str__(self) -> str:
        return "\n".join(f"{self.file}: {issue.path}: {issue.message}" for issue in self.issues)


def printable(text: str, limit: int) -> str:
    """`text` on one line, control and format characters (and lone surrogates, which
    no terminal can print) escaped, and cut to about `limit` characters."""
    if len(text) <= limit and text.isprintable():
        return text
    shown = "".join(
        char if char.isprintable() else char.encode("unicode_escape", "backslashreplace").decode()
        for char in text[: limit + 1]
    )
    return shown if len(shown) <= limit else f"{shown[: limit - 3]}..."


# --- pydantic errors as an admin reads them -------------------------------------------------

_EXPECTED: Final[dict[str, str]] = {
    "string_type": N_("expected text, got {got}"),
    "int_type": N_("expected a whole number, got {got}"),
    "int_parsing": N_("expected a whole number, got {got}"),
    "int_from_float": N_("expected a whole number, got {got}"),
    "int_parsing_size": N_("expected a whole number, got {got}"),
    "finite_number": N_("expected a whole number, got {got}"),
    "bool_type": N_("expected true or false, got {got}"),
    "bool_parsing": N_("expected true or false, got {got}"),
    "list_type": N_("expected a list, got {got}"),
    "dict_type": N_("expected a mapping of names to values, got {got}"),
    "model_type": N_("expected a mapping of names to values, got {got}"),
    "model_attributes_type": N_("expected a mapping of names to values, got {got}"),
    "date_type": N_("expected a date like 2026-12-24, got {got}"),
    "date_parsing": N_("expected a date like 2026-12-24, got {got}"),
    "date_from_datetime_parsing": N_("expected a date like 2026-12-24, got {got}"),
    "date_from_datetime_inexact": N_("expected a date like 2026-12-24, got {got}"),
    "greater_than_equal": N_("expected a number of at least {ge}, got {got}"),
    "less_than_equal": N_("expected a number of at most {le}, got {got}"),
    "string_too_long": N_("expected at most {max_length} characters"),
    "string_too_short": N_("expected some text, got {got}"),
}


def shorten(text: str) -> str:
    """`text` cut to 40 characters, as messages quote what the admin wrote."""
    return text if len(text) <= 40 else f"{text[:37]}..."


def show_value(value: object) -> str:
    """`value` as a message quotes it: short, and in the document's own terms."""
    if value is None:
        return _("nothing")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{shorten(value)}'"
    if isinstance(value, Mapping):
        return _("a mapping")
    if isinstance(value, list):
        return _("a list")
    return str(value)


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def validation_issues(exc: ValidationError, schema: type[BaseModel]) -> list[CatalogIssue]:
    """Each of pydantic's errors as a path and an "expected ..." message.

    `schema` is the model that was validated; it names the fields an unknown one
    could have meant.
    """
    return [CatalogIssue(_path(error["loc"]), _describe(error, schema)) for error in exc.errors()]


def _describe(error: ErrorDetails, schema: type[BaseModel]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    got = show_value(error.get("input"))
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "missing":
        return _("expected a value here; this field is required")
    if kind == "extra_forbidden":
        name = error["loc"][-1] if error["loc"] else "?"
        fields = _fields_at(schema, error["loc"][:-1])
        if fields:
            return _(
                "unknown field '{name}'; expected one of: {fields}",
                name=name,
                fields=", ".join(fields),
            )
        return _("unknown field '{name}'", name=name)
    if kind == "literal_error":
        return _("expected {expected}, got {got}", expected=ctx.get("expected", "?"), got=got)
    if kind == "too_short":
        count = int(ctx.get("min_length", 1))
        return ngettext("expected at least {n} entry", "expected at least {n} entries", count)
    if kind in _EXPECTED:
        return _(_EXPECTED[kind], got=got, **ctx)
    return _(error["msg"])


def _fields_at(schema: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names allowed at `loc` in `schema` (for 'unknown field')."""
    current: Any = schema
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return []
            current = current.model_fields[part].annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` -> X."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation
