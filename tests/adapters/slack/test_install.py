"""Multi-workspace install: the OAuth pages, with state kept in the desk's database."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import text

from app import build_runtime
from models.settings import Settings


async def test_install_page_starts_oauth_with_state_stored_in_our_database(
    tmp_path: Path, sqlite_template: Path, unused_tcp_port: int
) -> None:
    database = tmp_path / "inhouse.db"
    shutil.copy(sqlite_template, database)
    runtime = await build_runtime(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{database}",
            slack_signing_secret="secret",
            slack_client_id="111.222",
            slack_client_secret="client-secret",
            slack_api_url="http://127.0.0.1:9/api/",
            # OAuth mode keeps the workspaces' tokens encrypted with it (test_sealed_tokens).
            inhouse_secret_key=Fernet.generate_key().decode(),  # type: ignore[arg-type]
        )
    )
    runner = web.AppRunner(runtime.web)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"http://127.0.0.1:{unused_tcp_port}/slack/install", allow_redirects=False
            ) as response,
        ):
            page = await response.text()
            status = response.status
        assert status in (200, 302)
        assert "oauth/v2/authorize" in page or "oauth/v2/authorize" in str(
            response.headers.get("Location")
        )
        assert "client_id=111.222" in page + str(response.headers.get("Location"))
        async with runtime.engine.connect() as connection:
            states = (
                await connection.execute(text("SELECT count(*) FROM slack_oauth_states"))
            ).scalar()
        assert states == 1
        # Nothing is installed yet, so nothing can be delivered to Slack.
        assert not runtime.platform_on
    finally:
        await runner.cleanup()
        await runtime.close()
