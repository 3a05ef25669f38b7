"""The week (or any period) in a few lines: the digest and the `stats` answer.

Shared by every channel; names pass through the channel's `esc` so Slack and
Teams show them as typed. Figures about people appear only when the catalog has
recognition on (the insight then carries them; otherwise they are None).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from handlers.insight import Insight, TeamFigures, worst_cell_sentence
from models.i18n import _, format_duration, format_number, format_share, ngettext

Escape = Callable[[str], str]


def _span(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "–"


def _share(value: float | None) -> str:
    return format_share(value) if value is not None else "–"


def team_lines(figures: TeamFigures, esc: Escape) -> list[str]:
    lines = [
        _(
            "{team}: {filed} filed, {resolved} resolved, {backlog} open",
            team=esc(figures.team_name),
            filed=figures.filed,
            resolved=figures.resolved,
            backlog=figures.backlog,
        )
        + (
            _(" (oldest waiting {age})", age=_span(figures.backlog_oldest_age))
            if figures.backlog_oldest_age
            else ""
        ),
        _(
            "First response: median {median}, 90% within {p90}; {met} within the standard",
            median=_span(figures.first_response_median),
            p90=_span(figures.first_response_p90),
            met=_share(figures.first_response_met),
        ),
        _(
            "Resolution: median {median}, 90% within {p90}; {met} within the standard",
            median=_span(figures.resolution_median),
            p90=_span(figures.resolution_p90),
            met=_share(figures.resolution_met),
        ),
    ]
    if figures.csat_average is not None:
        answers = sum(figures.csat_distribution.values())
        lines.append(
            ngettext(
                "Satisfaction {score} from {n} answer ({rate} answered)",
                "Satisfaction {score} from {n} answers ({rate} answered)",
                answers,
                score=format_number(round(figures.csat_average, 1)),
                rate=_share(figures.csat_response_rate),
            )
        )
    if figures.reopen_rate:
        lines.append(_("Reopened: {rate}", rate=_share(figures.reopen_rate)))
    if figures.breaches_by_level:
        steps = ", ".join(
            _("level {level}: {n}", level=level, n=n)
            for level, n in sorted(figures.breaches_by_level.items())
        )
        lines.append(_("Escalations: {steps}", steps=steps))
    if figures.top_breached_categories:
        lines.append(
            _(
                "Most breached: {categories}",
                categories=", ".join(
                    f"{esc(category)} ({n})" for category, n in figures.top_breached_categories
                ),
            )
        )
    return lines


def organisation_lines(insight: Insight, esc: Escape) -> list[str]:
    lines = [_("How each team kept its promises:")]
    for figures in insight.teams:
        lines.append(
            "• "
            + _(
                "{team}: {filed} filed, {met} resolved within standard, satisfaction {csat}",
                team=esc(figures.team_name),
                filed=figures.filed,
                met=_share(figures.resolution_met),
                csat=format_number(round(figures.csat_average, 1))
                if figures.csat_average is not None
                else "–",
            )
        )
    if insight.worst:
        lines.append(_("Where service breaks down:"))
        lines += ["• " + esc(worst_cell_sentence(cell)) for cell in insight.worst]
    return lines + recognition_lines(insight, esc)


def recognition_lines(insight: Insight, esc: Escape) -> list[str]:
    """Thanks by name (recognition on), as far as the insight was scoped for its
    reader (handlers.recognition)."""
    lines: list[str] = []
    if insight.recognition:
        lines.append(_("Thank you:"))
        lines += [
            "• "
            + _(
                "{name} ({team}): {n} resolved within standard",
                name=esc(r.person),
                team=r.team_key,
                n=r.resolved_within_standard,
            )
            for r in insight.recognition
        ]
    if insight.five_stars:
        lines += [
            "⭐ " + f"“{esc(star.comment)}”" + (f" — {esc(star.person)}" if star.person else "")
            for star in insight.five_stars
        ]
    return lines
