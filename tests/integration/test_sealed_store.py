"""Slack's tokens at rest: sealed in the database, opened for Bolt, on SQLite and PostgreSQL.

Every secret field slack_sdk keeps goes through the wrapping store; these tests read
the raw rows as an admin (or a thief with a backup) would, and use tokens as long as
Slack's rotating ones, which the widened columns must hold once sealed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app import build_engine
from bot.sealing import Sealer, is_sealed
from bot.slack import install_tables
from bot.slack.reseal import reseal_all
from bot.slack.sealed_store import SealedInstallationStore

CLIENT_ID = "111.222"
# As long as Slack's rotating tokens; sealed they are ~330 characters.
BOT_TOKEN = "xoxe.xoxb-1-" + "MS0yLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIzLTEyMzQ1Njc4" * 3
BOT_REFRESH = "xoxe-1-" + "My0xLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIzLTEyMzQ1Njc4" * 3
USER_TOKEN = "xoxp-1234567890123-1234567890123-1234567890123-0123456789abcdef0123456789abcdef"
USER_REFRESH = "xoxe-1-" + "VXNlclJlZnJlc2hUb2tlbkZvclRoZUluc3RhbGxlcg" * 3
WEBHOOK = "https://hooks.slack.com/services/T0TEAM000/B0HOOK000/abcdefghijklmnopqrstuvwx"
SECRETS = (BOT_TOKEN, BOT_REFRESH, USER_TOKEN, USER_REFRESH, WEBHOOK)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = build_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def plain_store(engine: AsyncEngine) -> AsyncSQLAlchemyInstallationStore:
    """slack_sdk's store as the desk used it before sealing: the tokens in the clear."""
    return AsyncSQLAlchemyInstallationStore(
        client_id=CLIENT_ID,
        engine=engine,
        installations_table_name=install_tables.INSTALLATIONS_TABLE,
        bots_table_name=install_tables.BOTS_TABLE,
    )


def sealed_store(engine: AsyncEngine, keys: str) -> SealedInstallationStore:
    return SealedInstallationStore(plain_store(engine), Sealer.from_keys(keys))


def installation() -> Installation:
    return Installation(
        app_id="A0APP",
        team_id="T0TEAM",
        team_name="Acme",
        bot_token=BOT_TOKEN,
        bot_id="B0BOT",
        bot_user_id="UBOT",
        bot_scopes="commands,chat:write",
        bot_refresh_token=BOT_REFRESH,
        bot_token_expires_in=43200,
        user_id="U0SAM",
        user_token=USER_TOKEN,
        user_scopes="search:read",
        user_refresh_token=USER_REFRESH,
        user_token_expires_in=43200,
        incoming_webhook_url=WEBHOOK,
        incoming_webhook_channel="#general",
        incoming_webhook_channel_id="C0GENERAL",
        installed_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC).timestamp(),
    )


async def raw_values(engine: AsyncEngine) -> list[str]:
    """Every non-empty value in every row of both tables, as text."""
    values = []
    async with engine.connect() as connection:
        for table in (install_tables.BOTS_TABLE, install_tables.INSTALLATIONS_TABLE):
            for row in await connection.execute(text(f"SELECT * FROM {table}")):
                values.extend(str(value) for value in row if value is not None)
    return values


async def test_every_secret_is_sealed_in_the_rows_and_opened_for_bolt(engine: AsyncEngine) -> None:
    key = Fernet.generate_key().decode()
    store = sealed_store(engine, key)
    given = installation()
    await store.async_save(given)

    stored = await raw_values(engine)
    for secret in SECRETS:
        assert not [value for value in stored if secret in value], "a secret is in the clear"
    # What is not secret stays readable for lookups and for an admin.
    assert "T0TEAM" in stored and "commands,chat:write" in stored
    # Bolt was handed back its installation untouched.
    assert given.bot_token == BOT_TOKEN

    found = await store.async_find_installation(enterprise_id=None, team_id="T0TEAM")
    assert found is not None
    opened = (
        found.bot_token,
        found.bot_refresh_token,
        found.user_token,
        found.user_refresh_token,
        found.incoming_webhook_url,
    )
    assert opened == SECRETS
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0TEAM")
    assert bot is not None
    assert (bot.bot_token, bot.bot_refresh_token) == (BOT_TOKEN, BOT_REFRESH)


async def test_a_key_that_cannot_decrypt_means_not_installed_with_one_clear_error(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await sealed_store(engine, Fernet.generate_key().decode()).async_save(installation())
    other = sealed_store(engine, Fernet.generate_key().decode())

    with caplog.at_level(logging.INFO):
        for _ in range(3):
            assert await other.async_find_bot(enterprise_id=None, team_id="T0TEAM") is None
            assert await other.async_find_installation(enterprise_id=None, team_id="T0TEAM") is None

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text  # once, not on every event from the workspace
    assert "T0TEAM" in errors[0].getMessage()
    assert "INHOUSE_SECRET_KEY" in errors[0].getMessage()
    assert "inhouse secrets rotate" in errors[0].getMessage()
    for secret in SECRETS:
        assert secret not in caplog.text


async def test_rotation_reseals_under_the_first_key_and_leaves_what_it_cannot_read(
    engine: AsyncEngine,
) -> None:
    old, new, stranger = (Fernet.generate_key().decode() for _ in range(3))
    await sealed_store(engine, old).async_save(installation())
    # A second workspace, sealed under a key nobody configured any more.
    other = installation()
    other.team_id = "T0OTHER"
    await sealed_store(engine, stranger).async_save(other)

    done = await reseal_all(engine, Sealer.from_keys(f"{new},{old}"))
    # Five secrets in the installation row, two in the bot row: for each workspace.
    assert (done.resealed, done.were_clear, done.unreadable) == (7, 0, 7)

    only_new = sealed_store(engine, new)
    found = await only_new.async_find_installation(enterprise_id=None, team_id="T0TEAM")
    assert found is not None and found.user_token == USER_TOKEN
    assert (
        await sealed_store(engine, old).async_find_bot(enterprise_id=None, team_id="T0TEAM") is None
    )
    # The unreadable workspace was left as it was: its own key still opens it.
    kept = await sealed_store(engine, stranger).async_find_bot(
        enterprise_id=None, team_id="T0OTHER"
    )
    assert kept is not None and kept.bot_token == BOT_TOKEN


async def test_a_row_stored_in_the_clear_reads_until_rotation_seals_it(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    await plain_store(engine).async_save(installation())  # as before sealing existed
    key = Fernet.generate_key().decode()
    store = sealed_store(engine, key)

    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            bot = await store.async_find_bot(enterprise_id=None, team_id="T0TEAM")
            assert bot is not None and bot.bot_token == BOT_TOKEN
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "inhouse secrets rotate" in warnings[0], warnings
    assert BOT_TOKEN not in caplog.text

    done = await reseal_all(engine, Sealer.from_keys(key))
    assert (done.resealed, done.were_clear, done.unreadable) == (7, 7, 0)
    stored = await raw_values(engine)
    for secret in SECRETS:
        assert not [value for value in stored if secret in value]
    async with engine.connect() as connection:
        sealed = (await connection.execute(text("SELECT bot_token FROM slack_bots"))).scalar()
    assert sealed is not None and is_sealed(sealed)
    found = await store.async_find_installation(enterprise_id=None, team_id="T0TEAM")
    assert found is not None and found.incoming_webhook_url == WEBHOOK
