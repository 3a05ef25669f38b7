"""An installation store that keeps Slack's tokens sealed (encrypted) at rest.

It wraps another AsyncInstallationStore (slack_sdk's SQLAlchemy one): what is saved
is sealed first, what is found is opened before Bolt or the desk sees it. Only the
secrets change; ids, names and scopes stay readable for lookups and for an admin.

A workspace whose tokens no configured key opens (INHOUSE_SECRET_KEY changed
without `inhouse secrets rotate`) is logged once as an error and treated as not
installed: the desk keeps running and nothing secret reaches the log.
"""

from __future__ import annotations

import copy
import logging
from logging import Logger
from typing import Any, TypeVar

from slack_sdk.oauth.installation_store.async_installation_store import (
    AsyncInstallationStore,
)
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.sealing import KEY_VARIABLE, Sealer, UnreadableSecret, is_sealed
from bot.slack.install_tables import BOTS_TABLE, INSTALLATIONS_TABLE, SECRET_COLUMNS

log = logging.getLogger(__name__)

Stored = TypeVar("Stored", Installation, Bot)


class SealedInstallationStore(AsyncInstallationStore):
    def __init__(self, inner: AsyncInstallationStore, sealer: Sealer) -> None:
        self._inner = inner
        self._sealer = sealer
        self._warned_clear = False
        self._reported: set[tuple[str | None, str | None]] = set()

    @property
    def logger(self) -> Logger:
        return self._inner.logger

    async def async_save(self, installation: Installation) -> None:
        await self._inner.async_save(self._sealed(installation, INSTALLATIONS_TABLE))

    async def async_save_bot(self, bot: Bot) -> None:
        await self._inner.async_save_bot(self._sealed(bot, BOTS_TABLE))

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self._inner.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
        return self._opened(found, BOTS_TABLE)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        found = await self._inner.async_find_installation(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            is_enterprise_install=is_enterprise_install,
        )
        return self._opened(found, INSTALLATIONS_TABLE)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._inner.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        await self._inner.async_delete_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._inner.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    def _sealed(self, stored: Stored, table: str) -> Stored:
        # A copy: Bolt goes on using the installation it handed us, in the clear.
        sealed = copy.copy(stored)
        for name in SECRET_COLUMNS[table]:
            value = getattr(stored, name)
            if value is not None:
                setattr(sealed, name, self._sealer.seal(value))
        return sealed

    def _opened(self, found: Stored | None, table: str) -> Stored | None:
        if found is None:
            return None
        opened: dict[str, Any] = {}
        clear = False
        for name in SECRET_COLUMNS[table]:
            value = getattr(found, name)
            if value is None:
                continue
            try:
                opened[name] = self._sealer.open(value)
            except UnreadableSecret:
                self._unreadable(found)
                return None
            clear = clear or not is_sealed(value)
        if clear and not self._warned_clear:
            self._warned_clear = True
            log.warning(
                "slack: some stored Slack tokens are not encrypted yet (stored before "
                "%s was set); run `inhouse secrets rotate` to encrypt them",
                KEY_VARIABLE,
            )
        for name, value in opened.items():
            setattr(found, name, value)
        return found

    def _unreadable(self, found: Installation | Bot) -> None:
        workspace = (found.enterprise_id, found.team_id)
        if workspace in self._reported:
            return
        self._reported.add(workspace)
        log.error(
            "slack: the stored tokens of workspace %s cannot be decrypted with any key in "
            "%s (was the key changed without `inhouse secrets rotate`?); the workspace "
            "counts as not installed until the key it was encrypted with is added back",
            found.team_id or found.enterprise_id,
            KEY_VARIABLE,
        )
