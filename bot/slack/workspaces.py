"""Which bot token speaks to which Slack workspace.

With SLACK_BOT_TOKEN (one workspace) every call uses that token. In OAuth mode each
workspace has its own installation in the installation store (sealed, see
bot/slack/sealed_store.py), read at each use: a workspace installed while the desk
runs is served at once, a token the store was given since (a reinstall, a rotation)
is the one used, and a workspace that removed the app has no client at all.
Clients are kept per workspace and made anew when its token changes.

Who is in which workspace: Slack says so on every payload (the Bolt context's
team_id, kept in `current_workspace` while a listener runs, so the person acting is
stored with it), and the catalog may name a team channel's (`slack_workspace`).
Where nothing names one, the only installed workspace is meant.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

import aiohttp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store.async_installation_store import (
    AsyncInstallationStore,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.sealing import KEY_VARIABLE
from bot.slack import install_tables
from bot.slack.retries import delivery_retry_handlers, retry_handlers
from handlers.workspaces import uninstalled_reason

log = logging.getLogger(__name__)

# The workspace of the Slack payload being handled (None outside one, or when the
# payload names none). A context variable because Bolt's context is not handed on
# to the desk's helpers that every listener shares; asyncio copies it into the
# tasks Bolt runs listeners in.
current_workspace: ContextVar[str | None] = ContextVar("slack_workspace", default=None)


# slack_sdk's own timeout for a call, kept for the calls on the shared connections.
CALL_TIMEOUT_SECONDS = 30


def web_client(
    token: str | None,
    api_url: str,
    *,
    delivering: bool = False,
    session: aiohttp.ClientSession | None = None,
) -> AsyncWebClient:
    """Every Web API call goes to `api_url`, with slack_sdk's own retries for
    connection errors, 429 (honouring Retry-After) and 5xx; a client `delivering`
    the outbox retries only what never left (bot.slack.retries). Without a
    `session` each call opens (and closes) a connection of its own."""
    return AsyncWebClient(
        token=token,
        base_url=api_url,
        timeout=CALL_TIMEOUT_SECONDS,
        session=session,
        retry_handlers=delivery_retry_handlers() if delivering else retry_handlers(),
    )


class NoteWorkspace(AsyncMiddleware):
    """Bolt middleware: the payload's workspace, for its listeners. Bolt runs them
    after the middleware chain returns, so the value is set, not reset: every
    payload is dispatched in a task of its own (one per HTTP request or Socket Mode
    envelope), and each sets it afresh before anything else reads it. A class, not
    a function: Bolt calls it as it is, where a function's arguments would be
    looked up by name on every payload (a twentieth of the acknowledgement's CPU)."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        current_workspace.set(req.context.team_id)
        return await next()


@dataclass
class SlackWorkspaces:
    api_url: str
    # Single-workspace mode: the one bot token.
    token: str | None = None
    # OAuth mode: the installations, and where slack_sdk's store keeps them.
    store: AsyncInstallationStore | None = None
    engine: AsyncEngine | None = None
    client_id: str | None = None
    # By workspace and whether the client delivers the outbox (bot.slack.retries).
    _clients: dict[tuple[str | None, bool], tuple[str, AsyncWebClient]] = field(
        default_factory=dict
    )
    # Workspaces that removed the app while this process ran (for the reason given).
    _gone: set[str] = field(default_factory=set)
    # The outbox's connections to Slack, kept alive between messages: a burst of
    # cards costs one TCP and TLS handshake, not one per message (`delivery_http`).
    _delivery_http: aiohttp.ClientSession | None = None

    @property
    def oauth(self) -> bool:
        return self.store is not None

    async def installed(self) -> list[str]:
        """The workspaces the app is installed in whose token can be read (OAuth mode;
        in single-workspace mode the token's workspace is not named: [])."""
        return [team for team in await self._stored() if await self._token(team)]

    async def _stored(self) -> list[str]:
        """The workspaces with a bot in the store, readable or not."""
        if self.store is None or self.engine is None:
            return []
        bots = install_tables.bots
        async with self.engine.connect() as connection:
            teams = await connection.scalars(
                select(bots.c.team_id)
                .where(
                    bots.c.client_id == self.client_id,
                    bots.c.enterprise_id.is_(None),
                    bots.c.team_id.is_not(None),
                    bots.c.bot_token.is_not(None),
                )
                .distinct()
                .order_by(bots.c.team_id)
            )
            return [str(team) for team in teams]

    async def client(
        self, workspace: str | None, *, delivering: bool = False
    ) -> AsyncWebClient | None:
        """The client speaking with this workspace's bot token; None when the app is
        not installed there (or the token cannot be read). In OAuth mode None means
        the only installed workspace. `delivering`: for the outbox, whose retries
        are its own (bot.slack.retries)."""
        if self.store is None:
            if self.token is None or self._gone:
                return None
            return self._client_with(None, self.token, delivering)
        if workspace is None:
            installed = await self.installed()
            if len(installed) != 1:
                return None
            workspace = installed[0]
        token = await self._token(workspace)
        if token is None:
            return None
        self._gone.discard(workspace)  # installed again
        return self._client_with(workspace, token, delivering)

    async def any_client(self, workspace: str | None) -> AsyncWebClient:
        """This workspace's client, or one without a token (a call with it fails,
        and says so) when the app is not installed there."""
        return await self.client(workspace) or web_client(None, self.api_url)

    def removed(self, workspace: str | None) -> None:
        """The workspace uninstalled the app or revoked its bot token."""
        if workspace:
            self._gone.add(workspace)
        for delivering in (False, True):
            self._clients.pop((workspace, delivering), None)
        if self.store is None:
            self._clients.clear()

    async def why_not(self, workspace: str | None) -> str:
        """Why `client(workspace)` gave nothing, for the dead letter."""
        if workspace in self._gone or (self.store is None and self._gone):
            return uninstalled_reason(workspace or next(iter(self._gone)))
        if self.store is None:
            return "no Slack bot token is set"
        if workspace is None:
            return "the app is not installed in any Slack workspace yet (open /slack/install)"
        if workspace in await self._stored():
            return (
                f"the stored tokens of Slack workspace {workspace} cannot be decrypted with "
                f"any key in {KEY_VARIABLE}"
            )
        return f"the app is not installed in Slack workspace {workspace} (open /slack/install)"

    async def _token(self, workspace: str) -> str | None:
        assert self.store is not None
        bot = await self.store.async_find_bot(enterprise_id=None, team_id=workspace)
        return str(bot.bot_token) if bot is not None and bot.bot_token else None

    def delivery_http(self) -> aiohttp.ClientSession:
        """The connection pool the outbox's calls share (Web API and response_urls),
        opened at the first delivery: a session binds to the running event loop."""
        if self._delivery_http is None or self._delivery_http.closed:
            self._delivery_http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS)
            )
        return self._delivery_http

    async def close(self) -> None:
        """Close the outbox's connections (at shutdown)."""
        if self._delivery_http is not None:
            await self._delivery_http.close()

    def _client_with(self, workspace: str | None, token: str, delivering: bool) -> AsyncWebClient:
        key = (workspace, delivering)
        kept = self._clients.get(key)
        session = self.delivery_http() if delivering else None
        if kept is None or kept[0] != token or kept[1].session is not session:
            client = web_client(token, self.api_url, delivering=delivering, session=session)
            kept = self._clients[key] = (token, client)
        return kept[1]
