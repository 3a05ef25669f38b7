"""Speaks to the running app exactly as Slack does: signed form and JSON posts.

Only what Slack would send: an event the manifest does not subscribe to is refused
here (Slack would never deliver it). Each driver speaks for one workspace
(`in_workspace` gives the same driver for another).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack_api import manifest_bot_events

TEAM = "T0TEAM"
APP = "A0INHOUSE"


@dataclass
class Answer:
    status: int
    text: str
    # A slash command's response_url, where a later answer may be posted.
    response_url: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


@dataclass
class SlackDriver:
    base_url: str  # http://127.0.0.1:PORT
    signing_secret: str
    trigger: Any  # () -> str, issues a fresh trigger id on the fake
    response_url: Any  # () -> str, issues a fresh response_url on the fake
    team: str = TEAM  # the workspace the payloads come from
    bot_user: str = "UBOT"  # the app's bot user in that workspace
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def in_workspace(self, team: str, bot_user: str) -> SlackDriver:
        """The same app, spoken to from another workspace."""
        return dataclasses.replace(self, team=team, bot_user=bot_user)

    async def post(
        self,
        body: str | bytes,
        content_type: str,
        *,
        timestamp: int | str | None = None,
        signed: bool = True,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """`body` as Slack would send it; `headers` are sent as given, after signing
        (so a test can replace the signature or the timestamp)."""
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        sent = {"Content-Type": content_type}
        if signed:
            verifier = SignatureVerifier(secret or self.signing_secret)
            sent["X-Slack-Request-Timestamp"] = stamp
            signature = verifier.generate_signature(timestamp=stamp, body=body)
            assert signature is not None
            sent["X-Slack-Signature"] = signature
        sent.update(headers or {})
        data = body.encode() if isinstance(body, str) else body
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.base_url}/slack/events", data=data, headers=sent) as response,
        ):
            return Answer(response.status, await response.text())

    def command_body(
        self, user: str, text: str, channel: str = "C0GENERAL", response_url: str = ""
    ) -> str:
        return urlencode(
            {
                "token": "legacy",
                "team_id": self.team,
                "team_domain": "acme",
                "channel_id": channel,
                "channel_name": "general",
                "user_id": user,
                "user_name": user.lower(),
                "command": "/request",
                "text": text,
                "api_app_id": APP,
                "is_enterprise_install": "false",
                "response_url": response_url or self.response_url(),
                "trigger_id": self.trigger(),
            }
        )

    async def command(self, user: str, text: str, channel: str = "C0GENERAL") -> Answer:
        url = self.response_url()
        answer = await self.post(
            self.command_body(user, text, channel, url), "application/x-www-form-urlencoded"
        )
        answer.response_url = url
        return answer

    async def interact(self, payload: dict[str, Any]) -> Answer:
        payload = {"api_app_id": APP, "token": "legacy", "team": {"id": self.team}, **payload}
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
        )

    async def press(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str,
        message_ts: str = "1.0",
    ) -> Answer:
        return await self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "team_id": self.team},
                "trigger_id": self.trigger(),
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
                "message": {"ts": message_ts, "type": "message"},
                "response_url": "https://hooks.slack.invalid/actions/1",
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "b",
                        "value": value,
                        "action_ts": str(time.time()),
                    }
                ],
            }
        )

    async def choose_in_view(
        self, user: str, view: dict[str, Any], action_id: str, value: str
    ) -> Answer:
        return await self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "team_id": self.team},
                "trigger_id": self.trigger(),
                "container": {"type": "view", "view_id": view["id"]},
                "view": view,
                "actions": [
                    {
                        "type": "static_select",
                        "action_id": action_id,
                        "block_id": action_id,
                        "selected_option": {
                            "value": value,
                            "text": {"type": "plain_text", "text": value},
                        },
                        "action_ts": str(time.time()),
                    }
                ],
            }
        )

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, str]) -> Answer:
        """Submit a modal the fake recorded, with these values per block id."""
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            value = values.get(block["block_id"])
            if element["type"] == "static_select":
                entry: dict[str, Any] = {
                    "type": "static_select",
                    "selected_option": {
                        "value": value,
                        "text": {"type": "plain_text", "text": value or ""},
                    }
                    if value
                    else None,
                }
            else:
                entry = {"type": element["type"], "value": value}
            state[block["block_id"]] = {element["action_id"]: entry}
        submitted = {**view, "state": {"values": state}}
        return await self.interact(
            {
                "type": "view_submission",
                "user": {"id": user, "team_id": self.team},
                "trigger_id": self.trigger(),
                "view": submitted,
            }
        )

    async def shortcut(self, user: str, channel: str, ts: str, text: str) -> Answer:
        return await self.interact(
            {
                "type": "message_action",
                "callback_id": "file_as_request",
                "trigger_id": self.trigger(),
                "user": {"id": user, "team_id": self.team},
                "channel": {"id": channel},
                "message": {"type": "message", "ts": ts, "text": text, "user": "U0OTHER"},
                "response_url": "https://hooks.slack.invalid/actions/2",
            }
        )

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> Answer:
        subscription = _subscription(event)
        if subscription not in manifest_bot_events():
            raise AssertionError(
                f"Slack would not send this: deploy/slack-manifest.yml does not subscribe "
                f"to {subscription}"
            )
        envelope = {
            "token": "legacy",
            "team_id": self.team,
            "api_app_id": APP,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "event": {"event_ts": str(time.time()), **event},
            "authorizations": [{"team_id": self.team, "user_id": self.bot_user, "is_bot": True}],
        }
        headers = (
            {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
            if retry
            else None
        )
        return await self.post(json.dumps(envelope), "application/json", headers=headers)


# The message event a subscription delivers, by the conversation it happened in.
_MESSAGE_EVENTS = {
    "channel": "message.channels",
    "group": "message.groups",
    "im": "message.im",
    "mpim": "message.mpim",
}


def _subscription(event: dict[str, Any]) -> str:
    """The bot event a manifest subscribes to for Slack to send this event."""
    kind = str(event.get("type"))
    if kind != "message":
        return kind
    return _MESSAGE_EVENTS.get(str(event.get("channel_type")), "message (without channel_type)")
