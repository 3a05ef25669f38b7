"""Building the Teams side: the Bot Framework adapter, the bot, POST /api/messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from botbuilder.core import TurnContext, serializer_helper
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity
from msrest.serialization import Model

from bot.teams.bot import DeskBot

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"


@dataclass(frozen=True)
class TeamsConfig:
    """The attribute names are the ones botbuilder's configuration readers expect.

    An empty APP_ID is local mode (the Microsoft 365 Agents Playground): no JWT
    validation and no token for outgoing calls. With an APP_ID, every request
    must carry a valid Bot Framework token, or it gets 401.
    """

    APP_ID: str = ""
    APP_PASSWORD: str = ""
    APP_TYPE: str = "SingleTenant"
    APP_TENANTID: str = ""

    def missing(self) -> str | None:
        """What the chosen app type still needs, said the way an admin sets it."""
        if not self.APP_ID or self.APP_TYPE.lower() == "multitenant":
            return (
                None
                if not self.APP_ID or self.APP_PASSWORD
                else ("MICROSOFT_APP_PASSWORD is required with MICROSOFT_APP_ID")
            )
        if self.APP_TYPE.lower() == "singletenant":
            if not self.APP_PASSWORD:
                return "MICROSOFT_APP_PASSWORD is required with MICROSOFT_APP_ID"
            if not self.APP_TENANTID:
                return "MICROSOFT_APP_TENANT_ID is required for a SingleTenant app"
        if self.APP_TYPE.lower() == "userassignedmsi" and not self.APP_TENANTID:
            return "MICROSOFT_APP_TENANT_ID is required for a UserAssignedMSI app"
        return None


def build_adapter(config: TeamsConfig) -> CloudAdapter:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))

    async def on_error(turn: TurnContext, error: Exception) -> None:
        # The person gets a clear line instead of silence; the log gets the details.
        log.exception("Teams turn failed", exc_info=error)
        await turn.send_activity("Sorry, something went wrong on our side. Please try again.")

    adapter.on_turn_error = on_error
    return adapter


def mount(
    web_app: web.Application, adapter: CloudAdapter, bot: DeskBot, config: TeamsConfig
) -> None:
    async def messages(request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.Response(status=415)
        try:
            activity = Activity().deserialize(await request.json())
        except ValueError:
            return web.Response(status=400, text="not an activity")
        if not activity.type:
            return web.Response(status=400, text="not an activity")
        try:
            invoke = await adapter.process_activity(
                request.headers.get("Authorization", ""), activity, bot.on_turn
            )
        except PermissionError:
            return web.Response(status=401)
        except Exception:
            if not config.APP_ID:
                raise
            # With authentication on, a token that cannot even be checked (malformed,
            # or its signing keys unreachable) is no way in either.
            log.warning("Teams request refused: its token could not be verified")
            return web.Response(status=401)
        if invoke is None:
            return web.Response(status=201)
        # CloudAdapter.process serialises invoke bodies twice (botbuilder 4.17), which
        # fails for card actions; answering here sends the body once, as Teams expects.
        body = invoke.body
        if isinstance(body, Model):
            body = serializer_helper(body)
        return web.json_response(body, status=invoke.status)

    web_app.router.add_post(MESSAGES_PATH, messages)
