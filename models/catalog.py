"""The catalog: who serves whom, when, and with what promise (YAML, validated).

An admin edits one YAML file; `load_catalog` reads it and either returns a
frozen `Catalog` or raises `CatalogError` listing EVERY problem at once, each as
`file: path: what was expected` (path like `teams[1].standards.urgent.resolution`).
Shape and single-field rules live on the pydantic models (`models.catalog_fields`,
`models.catalog_specs`); rules that relate several places (unknown calendar names,
duplicate keys, escalation order, ...) run over the raw document as well
(`models.catalog_checks`), so one typo does not hide the next.
See `models/catalogs/example.yaml` for the format.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.calendar import BusinessCalendar
from models.catalog_checks import cross_check, unknown_calendar
from models.catalog_errors import CatalogError, CatalogIssue, show_value, validation_issues
from models.catalog_fields import (
    PRIORITIES,
    PersonRef,
    PersonRefKind,
    Priority,
    classify_person_ref,
)
from models.catalog_specs import (
    CalendarName,
    CalendarSpec,
    DigestSpec,
    EscalationStepSpec,
    HolidaysSpec,
    PersonSpec,
    Spec,
    StandardSpec,
    SurveySpec,
    TeamSpec,
)
from models.catalog_yaml import read_yaml
from models.i18n import _

__all__ = [
    "EXAMPLE_CATALOG",
    "PRIORITIES",
    "CalendarSpec",
    "Catalog",
    "CatalogError",
    "CatalogIssue",
    "DigestSpec",
    "EscalationStepSpec",
    "HolidaysSpec",
    "PersonRefKind",
    "PersonSpec",
    "Priority",
    "StandardSpec",
    "SurveySpec",
    "TeamSpec",
    "classify_person_ref",
    "load_catalog",
    "parse_catalog",
]

EXAMPLE_CATALOG: Final = Path(__file__).parent / "catalogs" / "example.yaml"

_SKIP_CROSS_CHECKS: Final = "inhouse_skip_cross_checks"
# A catalog of 20,000 people is about 2 MB; the bound keeps a wrong file (a log, a
# disk image, /dev/zero) from being read into memory and parsed for minutes.
MAX_FILE_BYTES: Final = 4 * 2**20


class Catalog(Spec):
    calendars: dict[CalendarName, CalendarSpec]
    # Working hours of people who name none of their own (see PersonSpec.calendar).
    default_calendar: CalendarName | None = None
    people: list[PersonSpec] = Field(default_factory=list)
    admins: list[PersonRef] = Field(default_factory=list)
    teams: list[TeamSpec]
    survey: SurveySpec = SurveySpec()
    recognition: bool = False
    digest: DigestSpec = DigestSpec()

    _built: dict[str, BusinessCalendar] = PrivateAttr(default_factory=dict)

    @field_validator("teams")
    @classmethod
    def _some_team(cls, value: list[TeamSpec]) -> list[TeamSpec]:
        if not value:
            raise ValueError(_("expected at least one team"))
        return value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Catalog:
        if info.context and info.context.get(_SKIP_CROSS_CHECKS):
            return self  # parse_catalog runs them on the raw document itself
        issues = cross_check(self.model_dump(mode="json"))
        if issues:
            raise ValueError("\n".join(f"{issue.path}: {issue.message}" for issue in issues))
        return self

    def calendar(self, name: str) -> BusinessCalendar:
        """The business calendar called `name` (KeyError when there is none)."""
        if name not in self._built:
            spec = self.calendars.get(name)
            if spec is None:
                raise KeyError(unknown_calendar(name, self.calendars))
            self._built[name] = spec.build()
        return self._built[name]

    def team(self, key_or_alias: str) -> TeamSpec | None:
        """The team with this key or alias, ignoring case and surrounding spaces."""
        wanted = key_or_alias.strip().lower()
        for team in self.teams:
            if wanted == team.key or wanted in team.aliases:
                return team
        return None

    def team_calendar(self, team: TeamSpec | str) -> BusinessCalendar:
        spec = team if isinstance(team, TeamSpec) else self.team(team)
        if spec is None:
            raise KeyError(_("unknown team '{team}'", team=team))
        return self.calendar(spec.calendar)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file; CatalogError lists every problem."""
    file = str(path)
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)  # bounded: the path may be /dev/zero
    except FileNotFoundError:
        raise CatalogError(file, [CatalogIssue("(file)", _("no such file"))]) from None
    except IsADirectoryError:
        issue = CatalogIssue("(file)", _("expected a file, got a directory"))
        raise CatalogError(file, [issue]) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        issue = CatalogIssue("(file)", _("cannot read it: {reason}", reason=reason))
        raise CatalogError(file, [issue]) from None
    if len(raw) > MAX_FILE_BYTES:
        issue = CatalogIssue(
            "(file)",
            _(
                "the file is larger than {limit} MB; expected a catalog of at most that size",
                limit=MAX_FILE_BYTES // 2**20,
            ),
        )
        raise CatalogError(file, [issue]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        issue = CatalogIssue(f"line {line}, column {column}", _("expected UTF-8 text"))
        raise CatalogError(file, [issue]) from None
    return parse_catalog(text, file)


def parse_catalog(text: str, file: str) -> Catalog:
    """Validate catalog YAML `text`; `file` names it in error messages."""
    document = read_yaml(text, file)
    data, issues = document.data, list(document.issues)
    found: list[CatalogIssue] = []
    catalog: Catalog | None = None
    if data is None:
        if "(document)" not in document.refused:
            message = _("the file is empty; expected calendars and teams")
            issues.append(CatalogIssue("(document)", message))
    elif not isinstance(data, dict):
        message = _(
            "expected a mapping with calendars, teams and so on, got {got}", got=show_value(data)
        )
        issues.append(CatalogIssue("(document)", message))
    else:
        try:
            catalog = Catalog.model_validate(data, context={_SKIP_CROSS_CHECKS: True})
        except ValidationError as exc:
            found.extend(validation_issues(exc, Catalog))
        found.extend(cross_check(data))
    # Where the reader refused a value it put nothing; it has said what was wrong there.
    issues.extend(issue for issue in found if not _beneath(issue.path, document.refused))
    if issues or catalog is None:
        raise CatalogError(file, sorted(dict.fromkeys(issues), key=_document_order))
    return catalog


def _beneath(path: str, refused: frozenset[str]) -> bool:
    """Whether `path` is one of `refused` or inside one of them."""
    if not refused:
        return False
    cuts = [match.start() for match in re.finditer(r"[.\[]", path)]
    return any(path[:cut] in refused for cut in [*cuts, len(path)])


def _document_order(issue: CatalogIssue) -> tuple[tuple[int, int | str], ...]:
    if issue.path.startswith("("):
        return ((-3, 0),)
    line = re.fullmatch(r"line (\d+), column (\d+)", issue.path)
    if line:
        return ((-2, int(line.group(1))), (0, int(line.group(2))))
    parts: list[tuple[int, int | str]] = []
    for index, name in re.findall(r"\[(\d+)\]|([^.\[\]]+)", issue.path):
        if index:  # a list position; a key spelled like one may be long, so bound it
            parts.append((0, int(index[:18])))
        elif not parts and name in Catalog.model_fields:
            parts.append((-1, list(Catalog.model_fields).index(name)))
        else:
            parts.append((1, name))
    return tuple(parts)
