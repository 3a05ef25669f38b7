"""Socket Mode: the same payloads as POST /slack/events, over Slack's WebSocket.

The desk opens the connection (apps.connections.open with the app-level token),
so it needs no inbound port and no public address. The connection is
authenticated by that token, so there is no signature to check; the envelope gets
the same check as at the HTTP door (bot.slack.gate), and the listeners read their
payloads the same way (bot.slack.payloads).

Reconnecting is slack_sdk's: on Slack's `disconnect` message it opens a new
connection at once; a connection that ends or stops answering pings is replaced
by its monitor, which looks every `PING_SECONDS`. Slack sends an envelope that
was not acknowledged again; the desk acts on it once (the inbox and the inbound
keys recognise it).
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack.gate import UNREADABLE, routable
from bot.traffic import Traffic

log = logging.getLogger(__name__)

# How often slack_sdk pings Slack and checks the connection (Bolt's default is 10 s):
# a connection that ends is replaced within about this long, one that stops
# answering pings within four of them.
PING_SECONDS = 5.0


class GuardedSocketModeHandler(AsyncSocketModeHandler):
    """An envelope Bolt cannot read is acknowledged, so Slack does not send it
    again, and logged, rather than failing inside Bolt unanswered. (slack_sdk's
    client already survives frames that are not envelopes at all.) While an
    envelope is being answered, background work waits (bot.traffic), as it does
    for a request over HTTP."""

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        traffic: Traffic,
        *,
        ping_interval: float = PING_SECONDS,
    ) -> None:
        super().__init__(app, app_token, ping_interval=ping_interval)
        self._traffic = traffic

    # Bolt's own handler narrows the client type the same way.
    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        with self._traffic.answering():
            await self._answer(client, req)

    async def _answer(self, client: SocketModeClient, req: SocketModeRequest) -> None:
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


def socket_mode(app: AsyncApp, app_token: str, traffic: Traffic) -> GuardedSocketModeHandler:
    return GuardedSocketModeHandler(app, app_token, traffic)
