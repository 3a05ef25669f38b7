"""The weekly digest: each team's week, and the organisation-wide summary.

Queued through the outbox like every other message. The figures travel in the
notice as data (not text) so each channel renders them for its readers, charts
included, when it delivers.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.access import active_teams, team_calendar
from handlers.inbound import first_time
from handlers.insight import (
    FiveStar,
    Insight,
    PairCell,
    Recognition,
    TeamFigures,
    WeekPoint,
    insight,
)
from handlers.notices import NoticeKind
from handlers.recognition import for_a_channel
from handlers.survey import desk_settings
from models.digest_slot import digest_week
from models.outbox import OutboxMessage

WEEK = timedelta(days=7)


async def queue_digests(session: AsyncSession, now: datetime, organisation_zone: str) -> int:
    """Queue every digest whose weekly slot has come and that was not sent this week."""
    settings = await desk_settings(session)
    queued = 0
    for team in await active_teams(session):
        week = digest_week(
            now, team_calendar(team).timezone, settings.digest_day, settings.digest_time
        )
        if week is None or not await first_time(session, f"digest:{team.key}:{week}", now):
            continue
        figures = for_a_channel(
            await insight(session, since=now - WEEK, until=now, now=now, team=team.key)
        )
        session.add(
            OutboxMessage(
                recipient_team_id=team.id,
                kind=NoticeKind.DIGEST.value,
                payload={"scope": "team", "week": week, "insight": insight_to_payload(figures)},
                created_at=now,
                next_attempt_at=now,
            )
        )
        queued += 1
    destination = {
        key: value
        for key, value in (
            ("slack_channel", settings.digest_slack_channel),
            ("teams_channel", settings.digest_teams_channel),
        )
        if value
    }
    if settings.digest_slack_channel and settings.digest_slack_workspace:
        destination["slack_workspace"] = settings.digest_slack_workspace
    week = digest_week(now, ZoneInfo(organisation_zone), settings.digest_day, settings.digest_time)
    if destination and week and await first_time(session, f"digest:organisation:{week}", now):
        figures = for_a_channel(await insight(session, since=now - WEEK, until=now, now=now))
        session.add(
            OutboxMessage(
                kind=NoticeKind.DIGEST.value,
                payload={
                    "scope": "organisation",
                    "week": week,
                    "destination": destination,
                    "insight": insight_to_payload(figures),
                },
                created_at=now,
                next_attempt_at=now,
            )
        )
        queued += 1
    return queued


def insight_to_payload(value: Insight) -> dict[str, Any]:
    plain: dict[str, Any] = _plain(asdict(value))
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def insight_from_payload(data: dict[str, Any]) -> Insight:
    return Insight(
        since=datetime.fromisoformat(data["since"]),
        until=datetime.fromisoformat(data["until"]),
        teams=[_team(t) for t in data["teams"]],
        matrix=[PairCell(**c) for c in data["matrix"]],
        worst=[PairCell(**c) for c in data["worst"]],
        recognition=None
        if data["recognition"] is None
        else [Recognition(**r) for r in data["recognition"]],
        five_stars=None
        if data["five_stars"] is None
        else [FiveStar(**f) for f in data["five_stars"]],
        weekly=[
            WeekPoint(**{**w, "week_start": date.fromisoformat(w["week_start"])})
            for w in data["weekly"]
        ],
    )


def _team(data: dict[str, Any]) -> TeamFigures:
    values: dict[str, Any] = {}
    for spec in fields(TeamFigures):
        raw = data[spec.name]
        if isinstance(raw, dict) and set(raw) == {"seconds"}:
            values[spec.name] = timedelta(seconds=raw["seconds"])
        elif spec.name in ("breaches_by_level", "csat_distribution"):
            values[spec.name] = {int(k): v for k, v in raw.items()}
        elif spec.name == "top_breached_categories":
            values[spec.name] = [tuple(pair) for pair in raw]
        else:
            values[spec.name] = raw
    return TeamFigures(**values)
