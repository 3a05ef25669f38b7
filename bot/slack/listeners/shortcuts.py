"""The message shortcut "File as request": any message becomes a prefilled form."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import forms, payloads
from bot.slack.desk import SlackDesk

FILE_SHORTCUT = "file_as_request"


def register(app: AsyncApp, desk: SlackDesk) -> None:
    @app.shortcut(FILE_SHORTCUT)
    async def file_as_request(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        shortcut = payloads.read(payloads.MessageShortcut, body)
        await ack()
        permalink = None
        try:
            link = await client.chat_getPermalink(
                channel=shortcut.channel.id, message_ts=shortcut.message.ts
            )
            permalink = str(link.get("permalink") or "") or None
        except SlackApiError:
            pass  # a form without the link is still a form
        await forms.open_file_form(
            desk,
            client,
            shortcut.user.id,
            shortcut.trigger_id,
            text=shortcut.message.text,
            permalink=permalink,
        )
