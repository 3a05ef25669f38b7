"""Building the Teams side: the Bot Framework adapter, the bot, POST /api/messages.

/api/messages is served in one of two modes, and only when one was chosen:

* authenticated (MICROSOFT_APP_ID and its secret): every activity carries a Bot
  Framework token, checked by botbuilder (signature, issuer, audience = our app id,
  expiry, and its `serviceurl` claim equal to the activity's `serviceUrl`); 401 if not;
* local (INHOUSE_TEAMS_LOCAL=1 or `serve --teams-local`, for the Agents Playground):
  no token exists, so only this machine may call (403 otherwise, before the body is
  read), and only to be answered on this machine (a loopback `serviceUrl`).

Either way an activity the bot cannot read is a 400 before anything is stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web
from botbuilder.core import TurnContext, serializer_helper
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import AuthenticateRequestResult, AuthenticationConstants
from msrest.serialization import Model

from bot.teams.bot import DeskBot
from bot.teams.gate import is_loopback_address, is_loopback_url, shape_problem
from models.i18n import _, reader

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"


@dataclass(frozen=True)
class TeamsConfig:
    """The attribute names are the ones botbuilder's configuration readers expect.

    An empty APP_ID means no JWT validation and no token for outgoing calls, which
    is only ever served as local mode (see `mount`). With an APP_ID, every request
    must carry a valid Bot Framework token, or it gets 401.
    """

    APP_ID: str = ""
    APP_PASSWORD: str = ""
    APP_TYPE: str = "SingleTenant"
    APP_TENANTID: str = ""
    # Where the channel's signing keys are published (MICROSOFT_OPENID_METADATA_URL);
    # None is Microsoft's public cloud, with botbuilder's built-in settings.
    OPENID_METADATA_URL: str | None = None

    # Setting any one of botbuilder's TO_* attributes switches it to its
    # "parameterized" authentication, which then needs all of them: with our own
    # metadata URL the rest stay the public cloud's values.
    @property
    def TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL(self) -> str | None:
        return self.OPENID_METADATA_URL

    @property
    def TO_BOT_FROM_CHANNEL_TOKEN_ISSUER(self) -> str | None:
        return self._public(AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER)

    @property
    def TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL(self) -> str | None:
        return self._public(AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL)

    @property
    def TO_CHANNEL_FROM_BOT_OAUTH_SCOPE(self) -> str | None:
        return self._public(AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE)

    @property
    def TO_CHANNEL_FROM_BOT_LOGIN_URL(self) -> str | None:
        return self._public(AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX)

    @property
    def OAUTH_URL(self) -> str | None:
        return self._public(AuthenticationConstants.OAUTH_URL)

    @property
    def CALLER_ID(self) -> str | None:
        return self._public(CallerIdConstants.public_azure_channel)

    def _public(self, value: str) -> str | None:
        return value if self.OPENID_METADATA_URL else None

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
        with reader(turn.activity.locale):
            sorry = _("Sorry, something went wrong on our side. Please try again.")
        await turn.send_activity(sorry)

    adapter.on_turn_error = on_error
    return adapter


def mount(
    web_app: web.Application, adapter: CloudAdapter, bot: DeskBot, config: TeamsConfig
) -> None:
    """Serve /api/messages: authenticated with an APP_ID, else local mode."""
    local = not config.APP_ID

    async def messages(request: web.Request) -> web.StreamResponse:
        if local and not is_loopback_address(request.remote):
            # Decided on the TCP peer alone: a proxy's X-Forwarded-For is a claim
            # anyone can write. Nothing of the request is read.
            log.warning("Teams local mode: refused a request from %s", request.remote)
            return web.Response(status=403, text="Teams local mode answers this machine only")
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.Response(status=415)
        try:
            payload = await request.json()
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deep
            return web.Response(status=400, text="not an activity: the body is not JSON")
        problem = shape_problem(payload)
        if problem is not None:
            log.info("Teams activity refused: %s", problem)
            return web.Response(status=400, text=f"not an activity the bot can read: {problem}")
        if local and not is_loopback_url(payload["serviceUrl"]):
            # Replies, roster lookups and stored conversation references all go to
            # serviceUrl; unauthenticated, it may only name this machine.
            log.warning("Teams local mode: refused serviceUrl %r", payload["serviceUrl"])
            return web.Response(status=403, text="local mode answers on this machine only")
        try:
            activity = Activity().deserialize(payload)
        except ValueError as error:
            return web.Response(status=400, text=f"not an activity: {error}"[:500])
        authenticated = await _authenticate(adapter, activity, request, local)
        if authenticated is None:
            return web.Response(status=401)
        try:
            invoke = await adapter.process_activity(authenticated, activity, bot.on_turn)
        except Exception:
            # on_turn_error already told the person; this is its own answer failing,
            # i.e. the connector at serviceUrl could not be reached.
            log.exception("Teams: could not answer at %s", activity.service_url)
            return web.Response(status=502, text="could not answer at the activity's serviceUrl")
        if invoke is None:
            return web.Response(status=201)
        # CloudAdapter.process serialises invoke bodies twice (botbuilder 4.17), which
        # fails for card actions; answering here sends the body once, as Teams expects.
        body = invoke.body
        if isinstance(body, Model):
            body = serializer_helper(body)
        return web.json_response(body, status=invoke.status)

    web_app.router.add_post(MESSAGES_PATH, messages)


async def _authenticate(
    adapter: CloudAdapter, activity: Activity, request: web.Request, local: bool
) -> AuthenticateRequestResult | None:
    """botbuilder's verdict on the request's token, or None for "401".

    Kept apart from running the turn, so a failing turn is never mistaken for a bad
    token. In local mode any Authorization header is ignored: there are no keys to
    check it against, and checking would fetch Microsoft's from the internet.
    """
    header = "" if local else request.headers.get("Authorization", "")
    try:
        result: AuthenticateRequestResult = (
            await adapter.bot_framework_authentication.authenticate_request(activity, header)
        )
    except Exception as error:
        # PermissionError for a refused token; a token that cannot even be checked
        # (malformed, unknown key, keys unreachable) is no way in either.
        log.warning("Teams request refused: %s", error or type(error).__name__)
        return None
    return result
