"""Catalog rules that relate several places (names, references, ordering).

They run over the raw document rather than the validated models, so they still
report when some other part of the file is broken: one typo does not hide the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from models.calendar import BusinessCalendar
from models.catalog_errors import CatalogIssue
from models.catalog_specs import NEEDS_NORMAL, CalendarSpec
from models.durations import BusinessDuration, parse_duration
from models.i18n import N_, _

Items = list[tuple[int, Mapping[str, Any]]]


def _at(path: str, message: str, **params: object) -> CatalogIssue:
    return CatalogIssue(path, _(message, **params))


def unknown_calendar(name: object, calendars: Mapping[str, object]) -> str:
    """What to say about a calendar name that is not defined (also for `Catalog.calendar`)."""
    if not calendars:
        return _("unknown calendar '{name}'; no calendars are defined", name=name)
    choices = ", ".join(sorted(str(key) for key in calendars))
    return _("unknown calendar '{name}'; expected one of: {choices}", name=name, choices=choices)


def cross_check(data: Mapping[str, Any]) -> list[CatalogIssue]:
    """Rules relating several places, over the raw document (whatever else is wrong)."""
    raw_calendars = data.get("calendars")
    calendars = raw_calendars if isinstance(raw_calendars, Mapping) else None
    built: dict[str, BusinessCalendar | None] = {}
    for name, raw in (calendars or {}).items():
        try:
            built[str(name)] = CalendarSpec.model_validate(raw).build()
        except ValueError:  # pydantic's ValidationError is one; reported on its own
            built[str(name)] = None
    teams = _items(data.get("teams"))
    people = _items(data.get("people"))
    return [
        *_check_hours(data, people, calendars),
        *_check_people(people),
        *_check_team_names(teams),
        *_check_team_rules(teams, calendars, built),
    ]


def _items(value: object) -> Items:
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, Mapping)]


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _check_hours(
    data: Mapping[str, Any], people: Items, calendars: Mapping[str, Any] | None
) -> list[CatalogIssue]:
    """The organisation's default hours and each person's own name defined calendars."""
    if calendars is None:
        return []
    named = [("default_calendar", data.get("default_calendar"))]
    named += [(f"people[{index}].calendar", person.get("calendar")) for index, person in people]
    return [
        CatalogIssue(path, unknown_calendar(name, calendars))
        for path, name in named
        if isinstance(name, str) and name and name not in calendars  # "" is refused already
    ]


def _check_people(people: Items) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    by_email: dict[str, tuple[int, Mapping[str, Any]]] = {}
    owners: dict[tuple[str, str], tuple[int, str]] = {}
    for index, person in people:
        email = (_text(person.get("email")) or "").lower()
        if email in by_email:
            first, earlier = by_email[email]
            for field, value in person.items():
                was = earlier.get(field)
                if field != "email" and None not in (value, was) and value != was:
                    issues.append(
                        _at(
                            f"people[{index}].{field}",
                            N_(
                                "{email} is already listed at people[{first}] with {field} "
                                "'{was}'; expected one entry per person"
                            ),
                            email=email,
                            first=first,
                            field=field,
                            was=was,
                        )
                    )
            continue
        if email:
            by_email[email] = (index, person)
        for platform, label in (("slack", "Slack"), ("teams", "Teams")):
            user_id = _text(person.get(platform))
            owner = owners.setdefault((platform, user_id or ""), (index, email))
            if user_id and email and owner[1] != email:
                issues.append(
                    _at(
                        f"people[{index}].{platform}",
                        N_("{platform} id {id} already belongs to {owner} (people[{first}])"),
                        platform=label,
                        id=user_id,
                        owner=owner[1],
                        first=owner[0],
                    )
                )
    return issues


def _check_team_names(teams: Items) -> list[CatalogIssue]:
    """Keys, aliases (case-insensitive) and request prefixes name one team each."""
    issues: list[CatalogIssue] = []
    keys: dict[str, int] = {}
    for index, team in teams:
        key = (_text(team.get("key")) or "").lower()
        first = keys.setdefault(key, index) if key else index
        if first != index:
            message = N_("team key '{key}' is already used by teams[{first}]")
            issues.append(_at(f"teams[{index}].key", message, key=key, first=first))
    names, prefixes = dict(keys), dict[str, int]()
    for index, team in teams:
        aliases = team.get("aliases")
        for position, alias in enumerate(aliases if isinstance(aliases, list) else []):
            word = (_text(alias) or "").lower()
            first = names.setdefault(word, index) if word else index
            if first != index:
                issues.append(
                    _at(
                        f"teams[{index}].aliases[{position}]",
                        N_(
                            "'{alias}' already names teams[{first}]; "
                            "expected a key or alias no other team uses"
                        ),
                        alias=alias,
                        first=first,
                    )
                )
        own_key = _text(team.get("key"))
        prefix = _text(team.get("prefix"))
        if prefix is None and own_key is not None and keys.get(own_key.lower()) == index:
            prefix = own_key  # a repeated key is reported once, on the key
        first = prefixes.setdefault(prefix.upper(), index) if prefix else index
        if prefix and first != index:
            issues.append(
                _at(
                    f"teams[{index}].prefix",
                    N_(
                        "request prefix '{prefix}' is already used by teams[{first}]; "
                        "expected a prefix of its own"
                    ),
                    prefix=prefix.upper(),
                    first=first,
                )
            )
    return issues


def _check_team_rules(
    teams: Items, calendars: Mapping[str, Any] | None, built: Mapping[str, BusinessCalendar | None]
) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    for index, team in teams:
        here, name = f"teams[{index}]", team.get("calendar")
        calendar: BusinessCalendar | None = None
        if calendars is not None and isinstance(name, str):
            if name in calendars:
                calendar = built.get(name)
            else:
                issues.append(CatalogIssue(f"{here}.calendar", unknown_calendar(name, calendars)))
        standards = team.get("standards")
        if isinstance(standards, Mapping) and "normal" not in standards:
            issues.append(_at(f"{here}.standards", NEEDS_NORMAL))
        issues += _check_standards(here, standards, calendar)
        issues += _check_escalation(here, team, calendar)
    return issues


def _duration(value: object) -> BusinessDuration | None:
    if isinstance(value, BusinessDuration):
        return value
    try:
        return parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _compare(
    a: BusinessDuration, b: BusinessDuration, calendar: BusinessCalendar | None
) -> int | None:
    """-1, 0, 1 as a is shorter, equal, longer than b; None if only a lost calendar could tell."""
    if calendar is not None or "d" not in (a.unit, b.unit):
        plain = calendar or BusinessCalendar.twenty_four_seven()
        left, right = a.resolve(plain), b.resolve(plain)
    elif a.unit == b.unit:
        left, right = timedelta(a.amount), timedelta(b.amount)
    else:
        return None
    return (left > right) - (left < right)


def _check_standards(
    here: str, standards: object, calendar: BusinessCalendar | None
) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    for priority, standard in standards.items() if isinstance(standards, Mapping) else ():
        if not isinstance(standard, Mapping):
            continue
        first = _duration(standard.get("first_response"))
        resolution = _duration(standard.get("resolution"))
        if first and resolution and _compare(first, resolution, calendar) == 1:
            issues.append(
                _at(
                    f"{here}.standards.{priority}.first_response",
                    N_(
                        "first response ({first}) is longer than resolution ({resolution}); "
                        "expected at most the resolution time"
                    ),
                    first=first,
                    resolution=resolution,
                )
            )
    return issues


def _check_escalation(
    here: str, team: Mapping[str, Any], calendar: BusinessCalendar | None
) -> list[CatalogIssue]:
    issues: list[CatalogIssue] = []
    leads = team.get("leads")
    previous: BusinessDuration | None = None
    for index, step in _items(team.get("escalation")):
        after = _duration(step.get("after"))
        if after and previous and _compare(after, previous, calendar) in (-1, 0):
            issues.append(
                _at(
                    f"{here}.escalation[{index}].after",
                    N_(
                        "expected more than the step before ({previous}), got {after}; "
                        "steps go in increasing order"
                    ),
                    previous=previous,
                    after=after,
                )
            )
        previous = after or previous
        notify = step.get("notify")
        for position, ref in enumerate(notify if isinstance(notify, list) else []):
            if ref == "leads" and not (isinstance(leads, list) and leads):
                issues.append(
                    _at(
                        f"{here}.escalation[{index}].notify[{position}]",
                        N_("this team has no leads; expected leads: [...] on the team"),
                    )
                )
    return issues
