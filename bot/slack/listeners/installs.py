"""A workspace removes the app (app_uninstalled) or revokes its bot token
(tokens_revoked): its installation leaves the store, nothing more is sent there,
and what was still waiting to be said there is dead-lettered with the reason
(handlers.workspaces). A workspace that installs the app again is served again.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.slack import payloads
from bot.slack.desk import SlackDesk
from bot.slack.workspaces import SlackWorkspaces
from handlers.workspaces import abandon_workspace

log = logging.getLogger(__name__)


def register(app: AsyncApp, desk: SlackDesk, workspaces: SlackWorkspaces) -> None:
    @app.event("app_uninstalled")
    async def uninstalled(body: dict[str, Any], context: AsyncBoltContext) -> None:
        removed = payloads.read(payloads.AppUninstalled, body)
        if app.installation_store is not None:
            # Bolt's own: every installation and bot of the workspace leaves the store.
            await app.default_app_uninstalled_event_listener()(context=context)
        await _stop_serving(desk, workspaces, removed.team_id)

    @app.event("tokens_revoked")
    async def revoked(body: dict[str, Any], context: AsyncBoltContext) -> None:
        tokens = payloads.read(payloads.TokensRevoked, body)
        if app.installation_store is not None:
            await app.default_tokens_revoked_event_listener()(event=body["event"], context=context)
        if tokens.event.tokens.bot:
            # Without its bot token the desk has nothing left to speak there with.
            await _stop_serving(desk, workspaces, tokens.team_id)


async def _stop_serving(desk: SlackDesk, workspaces: SlackWorkspaces, workspace: str) -> None:
    # Was this the only workspace? Then the recipients that name none were its too.
    # (In single-workspace mode there is only the one.)
    others = [team for team in await workspaces.installed() if team != workspace]
    workspaces.removed(workspace)
    async with desk.sessions.begin() as session:
        dead = await abandon_workspace(session, desk.clock.now(), workspace, only_one=not others)
    log.warning(
        "slack: the app was removed from workspace %s; %d waiting notices there are "
        "dead letters now (inhouse outbox)",
        workspace,
        dead,
    )
