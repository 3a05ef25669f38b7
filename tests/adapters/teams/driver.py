"""Activities as Teams sends them, posted to the running app's /api/messages."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tests.fakes.bot_connector import ChannelDelivery

TENANT = "tenant-1"
BOT = {"id": "28:inhouse-bot", "name": "Inhouse"}
TEAM_ID = "19:team-ops@thread.tacv2"
IT_CHANNEL = "19:itdesk@thread.tacv2"


@dataclass
class Answer:
    status: int
    body: str
    delivered: bool = True  # False: Teams kept the message from the bot (status 0)


@dataclass
class TeamsDriver:
    base_url: str  # the app, http://127.0.0.1:PORT
    service_url: str  # the fake connector
    # The channel's token for an activity (authenticated mode); None sends none.
    sign: Callable[[dict[str, Any]], str] | None = None
    # Which channel messages Teams hands to the bot: as the shipped manifest grants.
    delivery: ChannelDelivery = field(default_factory=ChannelDelivery.shipped)
    undelivered: list[dict[str, Any]] = field(default_factory=list)
    # Awaited after each activity is answered: the world's dispatch loop settling,
    # so what the bot queued for the person (its answer) has gone out, as in `serve`.
    settle: Callable[[], Awaitable[None]] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def activity(self, kind: str, user: str, **fields: Any) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        return {
            "type": kind,
            "id": f"17000000{next(self._ids):05d}",
            "timestamp": now,
            "localTimestamp": now,
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": f"29:{user}", "name": user.title(), "aadObjectId": f"aad-{user}"},
            "recipient": BOT,
            "locale": "en-US",
            "localTimezone": "Europe/Berlin",
            "conversation": {
                "conversationType": "personal",
                "tenantId": TENANT,
                "id": f"a:1{user}",
            },
            "channelData": {"tenant": {"id": TENANT}},
            **fields,
        }

    def channel(self, root: str | None = None) -> dict[str, Any]:
        conversation = IT_CHANNEL + (f";messageid={root}" if root else "")
        return {
            "conversation": {
                "conversationType": "channel",
                "isGroup": True,
                "tenantId": TENANT,
                "id": conversation,
            },
            "channelData": {
                "tenant": {"id": TENANT},
                "teamsChannelId": IT_CHANNEL,
                "teamsTeamId": TEAM_ID,
                "channel": {"id": IT_CHANNEL},
                "team": {"id": TEAM_ID},
            },
        }

    async def post(self, activity: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        if headers is None and self.sign is not None:
            headers = {"Authorization": f"Bearer {self.sign(activity)}"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.base_url}/api/messages", json=activity, headers=headers or {}
            ) as response,
        ):
            answer = Answer(response.status, await response.text())
        if self.settle is not None:
            await self.settle()
        return answer

    async def post_raw(self, body: bytes, content_type: str = "application/json") -> Answer:
        """Any bytes at all, as a client that is not Teams might send them."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.base_url}/api/messages", data=body, headers={"Content-Type": content_type}
            ) as response,
        ):
            return Answer(response.status, await response.text())

    async def say(self, user: str, text: str) -> Answer:
        """A personal-chat message to the bot."""
        return await self.post(self.activity("message", user, text=text, textFormat="plain"))

    async def say_in_channel(
        self, user: str, text: str, root: str | None = None, *, mention: bool | None = None
    ) -> Answer:
        """A person writes in the IT channel: a new post, or a reply in the chain of
        the message `root`. As people write them, a new post @mentions the bot and a
        reply does not, unless `mention` says otherwise. Teams delivers it only as
        `delivery` allows; a message it keeps from the bot reaches nothing and is
        kept in `undelivered`."""
        if mention is None:
            mention = root is None
        tag = f"<at>{BOT['name']}</at>"
        activity = self.activity(
            "message",
            user,
            text=f"{tag} {text}" if mention else text,
            entities=[{"type": "mention", "text": tag, "mentioned": BOT}] if mention else [],
            **self.channel(root),
        )
        return await self.as_teams_delivers(activity)

    async def as_teams_delivers(self, activity: dict[str, Any]) -> Answer:
        """Post `activity` if Teams would hand it to the bot; otherwise nothing is sent."""
        if not self.delivery.delivers(activity):
            self.undelivered.append(activity)
            return Answer(0, "not delivered: Teams keeps it from the bot", delivered=False)
        return await self.post(activity)

    async def submit(
        self, user: str, data: dict[str, Any], reply_to: str, in_channel: bool = False
    ) -> Answer:
        """Action.Submit on a card: a message whose `value` is the card's data and inputs."""
        extra = self.channel() if in_channel else {}
        return await self.post(
            self.activity("message", user, value=data, replyToId=reply_to, **extra)
        )

    async def execute(self, user: str, verb: str, data: dict[str, Any], reply_to: str) -> Answer:
        """Action.Execute: an adaptiveCard/action invoke."""
        return await self.post(
            self.activity(
                "invoke",
                user,
                name="adaptiveCard/action",
                replyToId=reply_to,
                value={
                    "action": {"type": "Action.Execute", "verb": verb, "data": data},
                    "trigger": "manual",
                },
            )
        )

    async def react(self, user: str, reaction: str, reply_to: str) -> Answer:
        return await self.post(
            self.activity(
                "messageReaction", user, replyToId=reply_to, reactionsAdded=[{"type": reaction}]
            )
        )

    async def install_personal(self, user: str) -> Answer:
        return await self.post(self.activity("installationUpdate", user, action="add"))

    async def install_in_team(self, user: str) -> Answer:
        """The bot added to the team: Teams says so in the team's General channel."""
        activity = self.activity("conversationUpdate", user, membersAdded=[BOT], **self.channel())
        activity["conversation"]["id"] = TEAM_ID
        activity["channelData"] = {
            "tenant": {"id": TENANT},
            "eventType": "teamMemberAdded",
            "team": {"id": TEAM_ID, "name": "Operations"},
        }
        return await self.post(activity)
