"""How the Bot Framework connector's answers steer the outbox: 403 and 404 are dead
letters at once with their code; 5xx and 408 are outages, retried."""

from __future__ import annotations

from sqlalchemy import select

from models.outbox import OutboxMessage
from tests.adapters.teams.conftest import TeamsWorld


async def undelivered(teams: TeamsWorld) -> list[OutboxMessage]:
    async with teams.runtime.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.delivered_at.is_(None))
                .order_by(OutboxMessage.id)
            )
        )


async def test_teams_403_404_are_dead_letters_and_5xx_408_are_retried(
    teams: TeamsWorld,
) -> None:
    await teams.driver.install_in_team("alice")
    await teams.driver.install_personal("sam")
    # The cards wait until the connector is set to fail them: the test runs the loop.
    teams.dispatcher.held = True
    titles = {403: "Printer on fire", 404: "Invoice missing", 502: "Desk broken"}
    titles[408] = "Mouse missing"
    for title in titles.values():
        await teams.driver.say("sam", f"request it {title}")
    for status in titles:  # the cards' posts, in the order they are queued
        teams.connector.fail_next("send", status=status)
    await teams.deliver()
    rows = await undelivered(teams)
    by_title = {r.payload["request"]["title"]: r for r in rows if r.kind == "team_card"}
    assert {t: (r.dead_at is not None, r.error_code) for t, r in by_title.items()} == {
        "Printer on fire": (True, "teams_403"),
        "Invoice missing": (True, "teams_404"),
        "Desk broken": (False, "http_5xx"),
        "Mouse missing": (False, "http_4xx"),
    }
