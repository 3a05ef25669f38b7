"""Socket Mode: the same payloads as POST /slack/events, over Slack's WebSocket.

The connection is authenticated (the app-level token), so there is no signature
to check; the envelope gets the same check as at the HTTP door (bot.slack.gate),
and the listeners read their payloads the same way (bot.slack.payloads).
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack.gate import UNREADABLE, routable

log = logging.getLogger(__name__)


class GuardedSocketModeHandler(AsyncSocketModeHandler):
    """An envelope Bolt cannot read is acknowledged, so Slack does not send it
    again, and logged, rather than failing inside Bolt unanswered. (slack_sdk's
    client already survives frames that are not envelopes at all.)"""

    # Bolt's own handler narrows the client type the same way.
    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        try:
            routable(req.payload)
            # Bolt builds its request from the payload first: what it cannot read
            # fails there, before anything is dispatched.
            await super().handle(client, req)
            return
        except UNREADABLE as error:
            # The type only: Bolt's messages may quote the payload.
            log.warning(
                "acknowledged a Socket Mode %s envelope Bolt could not read (%s)",
                req.type,
                type(error).__name__,
            )
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))


def socket_mode(app: AsyncApp, app_token: str) -> GuardedSocketModeHandler:
    return GuardedSocketModeHandler(app, app_token)
