"""Building the Bolt app: credentials, the workspaces' tokens, listeners, routes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.sealing import Sealer, SecretKeyError, missing_key_message
from bot.slack import install_tables
from bot.slack.command_pump import QUIET_BATCH, SQLITE_BATCH_AFTER_SECONDS, CommandPump
from bot.slack.desk import SlackDesk
from bot.slack.gate import admit, answer_failures
from bot.slack.listeners import actions, commands, events, installs, shortcuts, submissions
from bot.slack.sealed_store import SealedInstallationStore
from bot.slack.workspaces import NoteWorkspace, SlackWorkspaces, web_client
from bot.traffic import Traffic

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# Bolt's name for the app in its logs. Given, because without one Bolt takes the
# caller's file name from inspect.stack(), which reads the source of every frame on
# the stack: a tenth of a second or more of `serve`'s start-up (issue 14). Not
# "inhouse": Bolt sets the level of the logger it names after the app to the root's
# at that moment, and "inhouse" is the desk's own logger (app.py), whose INFO lines
# ("channel teams: off ...") went missing wherever the root was at WARNING then.
BOLT_NAME = "slack_bolt.inhouse"
# What each workspace grants at install; deploy/slack-manifest.yml asks for the same
# (tests/adapters/slack/test_scopes.py holds them together, and the fake Slack grants
# exactly these, refusing any method whose scope is missing).
BOT_SCOPES = [
    "commands",
    "chat:write",
    "im:write",
    "im:history",
    "mpim:history",
    "channels:history",
    "groups:history",
    "reactions:read",
    "users:read",
    "users:read.email",
    "files:write",
]


@dataclass(frozen=True)
class SlackConfig:
    # None in Socket Mode alone: nothing arrives over HTTP, so nothing is verified.
    signing_secret: str | None
    api_url: str
    bot_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    app_token: str | None = None

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)


def build_slack_app(
    config: SlackConfig,
    desk: SlackDesk,
    engine: AsyncEngine,
    traffic: Traffic,
    sealer: Sealer | None = None,
    wake_dispatch: Callable[[], None] = lambda: None,
) -> tuple[AsyncApp, CommandPump, SlackWorkspaces]:
    """The Bolt app with every listener, the pump its quick-files go to (it waits for
    a lull in `traffic` before each command, and calls `wake_dispatch` once their
    answers are queued), and which token speaks to which workspace. In OAuth mode
    the workspaces' tokens are kept sealed with `sealer`, which is then required."""
    client = web_client(config.bot_token, config.api_url)
    workspaces = SlackWorkspaces(config.api_url, token=config.bot_token)
    if config.oauth:
        assert config.client_id and config.client_secret
        if sealer is None:
            raise SecretKeyError(missing_key_message())
        store = SealedInstallationStore(
            AsyncSQLAlchemyInstallationStore(
                client_id=config.client_id,
                engine=engine,
                installations_table_name=install_tables.INSTALLATIONS_TABLE,
                bots_table_name=install_tables.BOTS_TABLE,
            ),
            sealer,
        )
        workspaces = SlackWorkspaces(
            config.api_url, store=store, engine=engine, client_id=config.client_id
        )
        app = AsyncApp(
            name=BOLT_NAME,
            signing_secret=config.signing_secret or "",
            client=client,
            oauth_settings=AsyncOAuthSettings(
                client_id=config.client_id,
                client_secret=config.client_secret,
                scopes=BOT_SCOPES,
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
                installation_store=store,
                state_store=AsyncSQLAlchemyOAuthStateStore(
                    expiration_seconds=600,
                    engine=engine,
                    table_name=install_tables.OAUTH_STATES_TABLE,
                ),
            ),
        )
    else:
        app = AsyncApp(
            name=BOLT_NAME,
            token=config.bot_token,
            signing_secret=config.signing_secret or "",
            client=client,
        )
    # Who acts is stored with their workspace (bot.slack.workspaces.current_workspace).
    app.use(NoteWorkspace())

    async def client_for(workspace: str | None) -> AsyncWebClient:
        return await workspaces.any_client(workspace)

    def quiet_batch() -> int:
        # One connection on SQLite: a batch of filings would hold it from the next
        # acknowledgement, so batches only once the requests have stopped for a while.
        if engine.dialect.name != "sqlite":
            return QUIET_BATCH
        return QUIET_BATCH if traffic.quiet_for() >= SQLITE_BATCH_AFTER_SECONDS else 1

    pump = CommandPump(desk, client_for, traffic.lull, wake_dispatch, quiet_batch)
    commands.register(app, desk, pump, wake_dispatch)
    shortcuts.register(app, desk)
    # Their answers are queued in the outbox; the dispatch loop is nudged to send them.
    actions.register(app, desk, wake_dispatch)
    submissions.register(app, desk, wake_dispatch)
    events.register(app, desk, wake_dispatch)
    installs.register(app, desk, workspaces)
    answer_failures(app, desk)
    return app, pump, workspaces


def mount(
    web_app: web.Application, slack_app: AsyncApp, pump: CommandPump, signing_secret: str | None
) -> None:
    """POST /slack/events for everything Slack sends, when there is a signing secret
    to verify it with; the OAuth pages when on; the command pump runs while the web
    app serves."""
    web_app.cleanup_ctx.append(pump.lifespan)
    # Without a signing secret (Socket Mode alone) nothing could tell Slack's posts
    # from anybody's: POST /slack/events is not served at all (404).
    if signing_secret:
        _mount_events(web_app, slack_app, SignatureVerifier(signing_secret))
    flow = slack_app.oauth_flow
    if flow is None:
        return

    async def install(request: web.Request) -> web.Response:
        return await to_aiohttp_response(
            await flow.handle_installation(await to_bolt_request(request))
        )

    async def redirect(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    web_app.router.add_get(INSTALL_PATH, install)
    web_app.router.add_get(REDIRECT_PATH, redirect)


def _mount_events(
    web_app: web.Application, slack_app: AsyncApp, verifier: SignatureVerifier
) -> None:
    async def slack_events(request: web.Request) -> web.Response:
        # Verified on the raw bytes before anything is parsed (bot.slack.gate).
        admitted = await admit(request, verifier)
        if isinstance(admitted, web.Response):
            return admitted
        return await to_aiohttp_response(await slack_app.async_dispatch(admitted))

    web_app.router.add_post(EVENTS_PATH, slack_events)
