"""Insight in Teams: `stats` with its chart as an image, and the weekly digest."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from handlers.digest import queue_digests
from models.digest_slot import WEEKDAYS
from models.directory import DeskSettings
from tests.adapters.teams.conftest import TeamsWorld
from tests.adapters.teams.driver import IT_CHANNEL

PNG = b"\x89PNG\r\n\x1a\n"


def images(activity: dict) -> list[bytes]:
    found = []
    for attachment in activity.get("attachments") or []:
        url = attachment.get("contentUrl") or ""
        if attachment.get("contentType") == "image/png" and url.startswith("data:image/png"):
            found.append(base64.b64decode(url.split(",", 1)[1]))
    return found


async def test_stats_answers_with_a_card_and_a_chart(teams: TeamsWorld) -> None:
    await teams.driver.say("sam", "request it Printer on fire")
    await teams.driver.say("alice", "stats")
    sent = teams.to("a:1alice")
    assert "IT Service Desk: 1 filed, 0 resolved, 1 open" in str(sent[-2])
    pictures = images(sent[-1])
    assert pictures and pictures[0].startswith(PNG)


async def test_the_weekly_digest_reaches_the_teams_channel(teams: TeamsWorld) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.say("sam", "request it Printer on fire")
    now = datetime.now(UTC)
    async with teams.runtime.sessions.begin() as session:
        settings = await session.get(DeskSettings, 1)
        assert settings is not None
        settings.digest_day, settings.digest_time = WEEKDAYS[now.weekday()], "00:00"
    async with teams.runtime.sessions.begin() as session:
        assert await queue_digests(session, now, "UTC") >= 1
    await teams.deliver()
    posts = [s for s in teams.connector.sent if s.conversation_id.startswith(IT_CHANNEL)]
    assert any("in figures" in str(p.activity) for p in posts)
    assert any(images(p.activity) for p in posts)
