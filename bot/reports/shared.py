"""What the report charts and views share: which teams to show, colours, labels.

Everything here formats for the current reader (models.i18n): shares, numbers,
durations and dates come out in their locale and time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from babel.dates import format_date, format_skeleton
from matplotlib.colors import LinearSegmentedColormap, to_hex

from handlers.insight import NO_DEPARTMENT, Insight, PairCell, TeamFigures
from models.i18n import (
    N_,
    _,
    current_locale,
    current_timezone,
    format_duration,
    format_number,
    format_share,
)

# matplotlib's "tab10": distinct, colour-blind friendlier than a rainbow.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# More lines or bar groups than this in one chart is noise; the busiest teams win.
MAX_SERIES = 8

# The handler's bucket keys, in order, with what a reader sees on the axis.
FIRST_RESPONSE_BUCKETS: dict[str, str] = {
    "<1h": N_("< 1 h"),
    "1-4h": N_("1–4 h"),
    "4-8h": N_("4–8 h"),
    "1-2d": N_("1–2 days"),
    ">2d": N_("> 2 days"),
}

# Standard attainment as a cell background: pale red (half or less) to pale green (all).
_ATTAINMENT = LinearSegmentedColormap.from_list(
    "attainment", [(0.0, "#f4a6a6"), (0.5, "#ffe08a"), (1.0, "#a8e0a0")]
)
NO_FIGURE_COLOUR = "#eeeeee"
DASH = "–"


def attainment_colour(met: float | None) -> str:
    """A light background colour for a share within standard (black text stays readable)."""
    if met is None:
        return NO_FIGURE_COLOUR
    position = (min(max(met, 0.5), 1.0) - 0.5) / 0.5
    return str(to_hex(_ATTAINMENT(position)))


def chart_teams(insight: Insight) -> list[TeamFigures]:
    """The teams charts draw: the busiest MAX_SERIES by requests filed, busiest first."""
    ranked = sorted(insight.teams, key=lambda team: -team.filed)
    return ranked[:MAX_SERIES]


def team_colours(insight: Insight) -> dict[str, str]:
    """One colour per charted team, the same in every chart of one report."""
    return {team.team_key: PALETTE[i] for i, team in enumerate(chart_teams(insight))}


def team_names(insight: Insight) -> dict[str, str]:
    """Team key -> name for every team the insight mentions, in report order."""
    names = {team.team_key: team.team_name for team in insight.teams}
    for cell in insight.matrix:
        names.setdefault(cell.team_key, cell.team_name)
    return names


def matrix_grid(
    insight: Insight,
) -> tuple[list[str], list[tuple[str, str]], dict[tuple[str, str], PairCell]]:
    """The department-pair matrix as rows (departments, busiest first), columns
    (teams in report order, then any others) and cells keyed (department, team key)."""
    cells = {(cell.department, cell.team_key): cell for cell in insight.matrix}
    volume: dict[str, int] = {}
    for cell in insight.matrix:
        volume[cell.department] = volume.get(cell.department, 0) + cell.volume
    departments = sorted(volume, key=lambda department: (-volume[department], department))
    used = {cell.team_key for cell in insight.matrix}
    columns = [(key, name) for key, name in team_names(insight).items() if key in used]
    return departments, columns, cells


def department_label(department: str) -> str:
    """A requesting department as shown; requests without one are grouped under a label."""
    return _(NO_DEPARTMENT) if department == NO_DEPARTMENT else department


def share(value: float | None) -> str:
    return format_share(value) if value is not None else DASH


def score(value: float | None) -> str:
    """A rating average, one decimal."""
    return format_number(round(value, 1)) if value is not None else DASH


def duration(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else DASH


def median_and_p90(median: timedelta | None, p90: timedelta | None) -> str:
    if median is None:
        return DASH
    return _("{median} (p90 {p90})", median=duration(median), p90=duration(p90))


def breaches_text(by_level: dict[int, int]) -> str:
    """'L1: 3, L2: 1' — breaches per escalation ladder level."""
    parts = [
        _("L{level}: {count}", level=level, count=format_number(count))
        for level, count in sorted(by_level.items())
        if count
    ]
    return ", ".join(parts) if parts else DASH


def categories_text(categories: list[tuple[str, int]]) -> str:
    parts = [f"{name} ({format_number(count)})" for name, count in categories]
    return ", ".join(parts) if parts else DASH


def ratings_count(team: TeamFigures) -> int:
    return sum(team.csat_distribution.values())


def bucket_label(key: str) -> str:
    label = FIRST_RESPONSE_BUCKETS.get(key)
    return _(label) if label is not None else key


def bucket_order(teams: list[TeamFigures]) -> list[str]:
    """The known buckets in order, then any the handler added, as first seen."""
    keys = list(FIRST_RESPONSE_BUCKETS)
    for team in teams:
        keys.extend(key for key in team.first_response_buckets if key not in keys)
    return keys


def week_label(week_start: date) -> str:
    """'Nov 23' / '23. Nov.' — a week on a chart axis."""
    return str(format_skeleton("MMMd", week_start, locale=current_locale()))


def period_label(since: datetime, until: datetime) -> str:
    """The report period as the reader's dates; `until` is exclusive, so its day before."""
    tz = current_timezone()
    first = _aware(since).astimezone(tz).date()
    last = (_aware(until) - timedelta(microseconds=1)).astimezone(tz).date()
    last = max(first, last)
    locale = current_locale()
    return _(
        "{first} – {last}",
        first=format_date(first, "medium", locale=locale),
        last=format_date(last, "medium", locale=locale),
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the team tables, shared by the terminal and the HTML report --------------------


def volume_headers() -> list[str]:
    return [
        _("Team"),
        _("Filed"),
        _("Resolved"),
        _("Backlog"),
        _("Oldest open"),
        _("First response"),
        _("Resolution"),
    ]


def volume_row(team: TeamFigures) -> list[str]:
    return [
        team.team_name,
        format_number(team.filed),
        format_number(team.resolved),
        format_number(team.backlog),
        duration(team.backlog_oldest_age),
        median_and_p90(team.first_response_median, team.first_response_p90),
        median_and_p90(team.resolution_median, team.resolution_p90),
    ]


def standards_headers() -> list[str]:
    return [
        _("Team"),
        _("1st response in standard"),
        _("Resolved in standard"),
        _("Breaches by level"),
        _("Reopened"),
        _("CSAT"),
        _("Rated"),
        _("Most breaches in"),
    ]


def standards_row(team: TeamFigures) -> list[str]:
    return [
        team.team_name,
        share(team.first_response_met),
        share(team.resolution_met),
        breaches_text(team.breaches_by_level),
        share(team.reopen_rate),
        rating_text(team.csat_average, ratings_count(team)),
        share(team.csat_response_rate),
        categories_text(team.top_breached_categories),
    ]


def recognition_headers() -> list[str]:
    return [_("Person"), _("Team"), _("Resolved within standard"), _("Rating")]


def recognition_rows(insight: Insight) -> list[list[str]]:
    names = team_names(insight)
    return [
        [
            person.person,
            names.get(person.team_key, person.team_key),
            format_number(person.resolved_within_standard),
            rating_text(person.average_rating, person.ratings),
        ]
        for person in insight.recognition or []
    ]


def rating_text(average: float | None, count: int) -> str:
    """'4.2 (20)': the average rating and how many ratings it rests on."""
    if average is None:
        return DASH
    return _("{score} ({count})", score=score(average), count=format_number(count))
