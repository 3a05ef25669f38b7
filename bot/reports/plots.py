"""Drawing the report charts onto one matplotlib Axes each (used by bot.reports.charts).

User text on a chart (team names) is passed through `safe()` so `$` is never read as
mathtext; every label is translated and every number formatted for the reader.
"""

from __future__ import annotations

import math

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter, MaxNLocator

from bot.reports.shared import (
    bucket_label,
    bucket_order,
    chart_teams,
    ratings_count,
    score,
    team_colours,
    week_label,
)
from handlers.insight import Insight, TeamFigures, WeekPoint
from models.i18n import _, format_number, format_share, ngettext

TEXT_GREY = "#555555"
VOLUME_GREY = "#c7c7c7"
TEAM_BLUE = "#1f77b4"


def draw_attainment(ax: Axes, insight: Insight) -> None:
    title = _("Standard attainment per week")
    weeks = sorted({p.week_start for p in insight.weekly if p.met is not None})
    colours = team_colours(insight)
    shown = [t for t in chart_teams(insight) if _has_weeks(insight.weekly, t.team_key)]
    if not weeks or not shown:
        no_data(ax, title)
        return
    index = {week: i for i, week in enumerate(weeks)}
    for team in shown:
        values = [math.nan] * len(weeks)
        for point in insight.weekly:
            if point.team_key == team.team_key and point.met is not None:
                values[index[point.week_start]] = point.met
        ax.plot(
            range(len(weeks)),
            values,
            marker="o",
            linewidth=2,
            color=colours[team.team_key],
            label=_legend_label(team.team_name),
        )
    step = max(1, math.ceil(len(weeks) / 10))
    ticks = list(range(0, len(weeks), step))
    ax.set_xticks(ticks, [week_label(weeks[i]) for i in ticks])
    ax.set_xlim(-0.5, len(weeks) - 0.5)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: format_share(value)))
    ax.set_xlabel(_("Week starting"))
    ax.set_ylabel(_("Within standard"))
    ax.grid(axis="y", alpha=0.3)
    _titled(ax, title, insight)
    _legend_below(ax, len(shown))
    _tidy(ax)


def draw_first_response(ax: Axes, insight: Insight) -> None:
    title = _("Time to first response")
    colours = team_colours(insight)
    shown = [t for t in chart_teams(insight) if sum(t.first_response_buckets.values())]
    if not shown:
        no_data(ax, title)
        return
    keys = bucket_order(shown)
    width = 0.8 / len(shown)
    for i, team in enumerate(shown):
        offset = (i - (len(shown) - 1) / 2) * width
        ax.bar(
            [k + offset for k in range(len(keys))],
            [team.first_response_buckets.get(key, 0) for key in keys],
            width,
            color=colours[team.team_key],
            label=_legend_label(team.team_name),
        )
    ax.set_xticks(range(len(keys)), [bucket_label(key) for key in keys])
    _count_axis(ax.yaxis)
    ax.set_xlabel(_("Business time to first response"))
    ax.set_ylabel(_("Requests"))
    ax.grid(axis="y", alpha=0.3)
    _titled(ax, title, insight)
    _legend_below(ax, len(shown))
    _tidy(ax)


def draw_csat(ax: Axes, insight: Insight) -> None:
    title = _("Satisfaction by team")
    teams = insight.teams
    ratings = sorted({r for t in teams for r, n in t.csat_distribution.items() if n})
    if not ratings:
        no_data(ax, title)
        return
    scale = colormaps["RdYlGn"]
    top = max(ratings)
    rows = range(len(teams))
    left = [0.0] * len(teams)
    for rating in ratings:
        shares = [
            t.csat_distribution.get(rating, 0) / ratings_count(t) if ratings_count(t) else 0.0
            for t in teams
        ]
        ax.barh(
            rows,
            shares,
            left=left,
            color=scale(0.1 + 0.8 * (rating - 1) / max(1, top - 1)),
            label=ngettext("{n} star", "{n} stars", rating),
            height=0.6,
        )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    for row, team in zip(rows, teams, strict=True):
        count = ratings_count(team)
        note = (
            _("avg {score}", score=score(team.csat_average))
            + " · "
            + ngettext("{count} rating", "{count} ratings", count, count=format_number(count))
            if count
            else _("no ratings yet")
        )
        ax.text(1.02, row, note, va="center", fontsize=8, color=TEXT_GREY)
    ax.set_yticks(list(rows), [safe(t.team_name) for t in teams])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.4)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: format_share(value)))
    ax.spines["bottom"].set_bounds(0, 1)
    ax.set_xlabel(_("Share of ratings"))
    ax.set_title(title)
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.25 if len(teams) < 4 else -0.08),
        ncols=len(ratings),
        fontsize=7,
        frameon=False,
    )
    _tidy(ax)


def draw_team_weeks(ax: Axes, points: list[WeekPoint]) -> None:
    positions = range(len(points))
    ax.bar(positions, [p.volume for p in points], color=VOLUME_GREY, label=_("Requests"))
    _count_axis(ax.yaxis)
    ax.tick_params(labelsize=7)
    ax.set_xticks(list(positions), [week_label(p.week_start) for p in points], fontsize=7)
    ax.tick_params(axis="x", labelrotation=30)
    share_axis = ax.twinx()
    share_axis.plot(
        positions,
        [p.met if p.met is not None else math.nan for p in points],
        marker="o",
        color=TEAM_BLUE,
        linewidth=2,
        label=_("Within standard"),
    )
    share_axis.set_ylim(0, 1.05)
    share_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: format_share(value)))
    share_axis.tick_params(labelsize=7)
    ax.set_title(_("Per week"), fontsize=9)
    handles = ax.get_legend_handles_labels()
    more = share_axis.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=6, loc="lower left")
    for axis in (ax, share_axis):
        axis.spines["top"].set_visible(False)


def draw_team_buckets(ax: Axes, figures: TeamFigures) -> None:
    """One team's first responses per bucket (the right half of the team card)."""
    keys = bucket_order([figures])
    counts = [figures.first_response_buckets.get(key, 0) for key in keys]
    if not sum(counts):
        no_data(ax, _("First response"), small=True)
        return
    ax.bar(range(len(keys)), counts, color=TEAM_BLUE)
    ax.set_xticks(range(len(keys)), [bucket_label(key) for key in keys], fontsize=7)
    ax.tick_params(axis="x", labelrotation=30)
    _count_axis(ax.yaxis)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(_("First response"), fontsize=9)
    _tidy(ax)


# --- helpers ------------------------------------------------------------------------


def no_data(ax: Axes, title: str, *, small: bool = False) -> None:
    ax.set_axis_off()
    if small:
        ax.set_title(title, fontsize=9)
    else:
        ax.set_title(title)
    ax.text(
        0.5,
        0.5,
        _("No data yet"),
        ha="center",
        va="center",
        transform=ax.transAxes,
        fontsize=10 if small else 14,
        color=TEXT_GREY,
    )


def _titled(ax: Axes, title: str, insight: Insight) -> None:
    charted = len(chart_teams(insight))
    if len(insight.teams) > charted:
        title += "\n" + _(
            "the {shown} busiest of {total} teams", shown=charted, total=len(insight.teams)
        )
    ax.set_title(title)


def _legend_below(ax: Axes, entries: int) -> None:
    """Under the plot, so it never hides a line or a bar."""
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncols=min(4, entries),
        fontsize=8,
        frameon=False,
    )


def _count_axis(axis: Axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: format_number(int(value))))


def _tidy(ax: Axes) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def _has_weeks(weekly: list[WeekPoint], team_key: str) -> bool:
    return any(p.team_key == team_key and p.met is not None for p in weekly)


def safe(text: str) -> str:
    """User text shown literally: `$…$` would otherwise be read as mathtext."""
    return text.replace("$", r"\$")


def _legend_label(text: str) -> str:
    # A label starting with "_" is hidden from matplotlib legends.
    shown = safe(text)
    return f" {shown}" if shown.startswith("_") else shown
