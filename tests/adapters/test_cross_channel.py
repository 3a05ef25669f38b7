"""One desk, two platforms: a request filed in Slack reaches a team that works in Teams."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from handlers.catalog_apply import apply_catalog
from models.catalog import parse_catalog
from models.outbox import OutboxMessage
from models.settings import Settings
from tests.adapters.slack.driver import SlackDriver
from tests.adapters.teams.conftest import start_app
from tests.adapters.teams.driver import IT_CHANNEL, TeamsDriver
from tests.adapters.waiting import eventually
from tests.fakes.bot_connector import FakeConnector
from tests.fakes.slack_api import FakeSlack

CATALOG = f"""
calendars:
  always: 24x7
people:
  - {{email: sam@example.com, name: Sam Sales, department: Sales, slack: U0SAM}}
  - {{email: alice@example.com, name: Alice IT, department: Operations, teams: "29:alice"}}
teams:
  - key: it
    name: IT Service Desk
    teams_channel: "{IT_CHANNEL}"
    members: [alice@example.com]
    calendar: always
    standards:
      normal: {{first_response: 4h, resolution: 3d}}
"""


async def test_filed_in_slack_delivered_to_the_team_in_teams_and_back(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> None:
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    async with FakeSlack() as slack, FakeConnector() as connector:
        slack.add_user("U0SAM", email="sam@example.com", real_name="Sam Sales", name="sam")
        slack.add_channel("DU0SAM", members=["U0SAM", slack.bot_user_id])
        connector.add_member("aad-alice", id="29:alice", name="Alice", email="alice@example.com")
        runtime, runner = await start_app(
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=f"sqlite+aiosqlite:///{database}",
                slack_bot_token=slack.token,
                slack_signing_secret="secret",
                slack_api_url=slack.url,
                inhouse_teams_local=True,  # Teams through the fake connector, on loopback
            ),
            unused_tcp_port,
        )
        try:
            async with runtime.sessions.begin() as session:
                await apply_catalog(session, parse_catalog(CATALOG, "cross.yaml"))
            base = f"http://127.0.0.1:{unused_tcp_port}"
            teams = TeamsDriver(base, connector.url)
            await teams.install_in_team("alice")

            sent = await SlackDriver(
                base, "secret", slack.new_trigger_id, slack.new_response_url
            ).command("U0SAM", "it Laptop won't boot")
            assert sent.response_url is not None
            answered = slack.responses[sent.response_url]

            async def delivered() -> list[dict[str, object]]:
                # The pump files it and queues its answer with the card; the
                # dispatcher delivers both, the answer in Slack, the card in Teams.
                await runtime.dispatch()
                return answered

            await eventually(delivered)
            assert "Filed IT-1" in str(answered[0]["text"])
            card = [s for s in connector.sent if s.conversation_id.startswith(IT_CHANNEL)][-1]
            assert "Laptop won" in str(card.activity["attachments"])
            assert "Sam Sales" in str(card.activity["attachments"])

            # Alice answers in the card's chain in Teams; Sam reads it in Slack.
            await teams.say_in_channel("alice", "On my way", root=card.activity_id)
            await runtime.dispatch()
            dms = slack.messages.get("DU0SAM", [])
            assert dms and "On my way" in str(dms[-1].blocks)

            # Alice's command in Teams is answered in Teams: Slack, which comes first
            # among the channels, does not take an answer that names a Teams chat.
            await teams.say_in_channel("alice", "claim IT-1")
            await runtime.dispatch()
            async with runtime.sessions() as session:
                answered = list(
                    await session.scalars(
                        select(OutboxMessage.channel)
                        .order_by(OutboxMessage.id)
                        .where(
                            OutboxMessage.kind == "command_answer",
                            OutboxMessage.delivered_at.is_not(None),
                        )
                    )
                )
            assert answered == ["slack", "teams"]  # Sam's quick-file, Alice's claim
            assert any(
                "You hold IT-1" in str(s.activity) for s in connector.sent_to(IT_CHANNEL, "reply")
            )
        finally:
            await runner.cleanup()
            await runtime.close()
