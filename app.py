"""Composition root and command line: the only place that builds engines,
clients, channels and the scheduler, and hands them to the code that needs them.

`inhouse ...` and `python app.py ...` are the same program.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import secrets
import signal
import socket
import sys
import time as time_module
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from models.clock import Clock, SystemClock
from models.i18n import _, ngettext
from models.settings import Settings
from models.visible_text import neutralise

if TYPE_CHECKING:
    from rich.console import Console

    from bot.sealing import Sealer

EXAMPLE_CATALOG = Path(__file__).parent / "models" / "catalogs" / "example.yaml"
MIGRATIONS = Path(__file__).parent / "migrations"
# The migrations' head, so that starting on a current schema needs no alembic at all
# (importing it takes ~0.2 s and ~11 MB). Only a shortcut: any other revision found
# in the database is compared with the migrations themselves (ensure_schema), so a
# stale value costs time, never correctness. tests/unit/test_schema.py keeps it in step.
SCHEMA_HEAD = "0018"

log = logging.getLogger("inhouse")
cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Inhouse service desk")
catalog_cli = typer.Typer(no_args_is_help=True, help="Check and apply a team catalog")
outbox_cli = typer.Typer(help="Inspect and requeue undelivered notices")
secrets_cli = typer.Typer(no_args_is_help=True, help="Keys for the secrets kept in the database")
cli.add_typer(catalog_cli, name="catalog")
cli.add_typer(outbox_cli, name="outbox")
cli.add_typer(secrets_cli, name="secrets")


@functools.cache
def _console() -> Console:
    """The terminal output of the commands; rich is imported on first use, since
    `serve` prints nothing with it (start-up, issue 14)."""
    from rich.console import Console

    # Piped output (CI logs, `| less`) gets room for the report tables.
    return Console(width=None if sys.stdout.isatty() else 120)


# --- building blocks ----------------------------------------------------------------


def build_engine(url: str) -> AsyncEngine:
    # Both kinds hide statement parameters from their errors (hide_parameters): a
    # failed INSERT would otherwise log what people typed, or a token, with it.
    if url.startswith("sqlite"):
        # One connection per process: SQLite has one write lock, and every
        # transaction here takes it (below). Waiting for the pool is an asyncio
        # queue, first come first served; waiting for the lock itself would be
        # sqlite's busy handler, sleeping in steps of up to 100 ms in a thread.
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            hide_parameters=True,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets a `chat` terminal read while `serve` writes; FKs are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            # We begin transactions ourselves (below), not the driver.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # SQLite has no row locks: taking the write lock when a transaction
            # starts is what serialises two clicks on one request (PostgreSQL uses
            # SELECT ... FOR UPDATE for the same). Sent on the driver's connection:
            # every statement is a trip to aiosqlite's thread and back, waiting its
            # turn on a busy event loop (issue 14, bench/README.md), and this is one
            # trip where a SQLAlchemy cursor takes three (open, execute, close).
            # The pool's ROLLBACK on return stays unconditional: it is queued
            # behind whatever a cancelled caller left on its way to that thread (this
            # BEGIN), where a check of `in_transaction` from here would run before it.
            connection.connection.dbapi_connection.run_async(
                lambda driver: driver.execute("BEGIN IMMEDIATE")
            )

        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)


def build_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The desk's sessions: each commit of an outermost transaction also adds what
    it changed to the insight rollups (handlers.insight_rollup), once, whichever
    use case, channel or job wrote it, and keeps the people it read or enrolled
    (handlers.people_cache). On a Session class of this factory's own, so the hooks
    are on the desk's sessions and no other."""
    from sqlalchemy.orm import Session

    from handlers import insight_rollup, people_cache

    desk_session: type[Session] = type("DeskSession", (Session,), {})
    insight_rollup.keep_in_step(desk_session)
    people_cache.keep_on_commit(desk_session)
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=desk_session)


# The key of the PostgreSQL advisory lock replicas take turns on to migrate ("inho").
MIGRATION_LOCK = 0x696E686F


def run_migrations(url: str) -> None:
    """Upgrade to head; safe to run any number of times, also from several processes
    at once: on PostgreSQL they take turns on an advisory lock, and whoever comes
    second finds the schema at head and has nothing to do."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if not url.startswith("postgresql"):
        command.upgrade(config, "head")  # SQLite: its one write lock serialises writers
        return

    async def locked() -> None:
        from sqlalchemy.pool import NullPool

        def upgrade(connection: Any) -> None:
            config.attributes["connection"] = connection  # env.py migrates on it
            command.upgrade(config, "head")

        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                # A session-level lock: it outlives the commit, so alembic's own
                # transactions run under it; closing the connection would release it too.
                lock = text("SELECT pg_advisory_lock(:key)")
                await connection.execute(lock, {"key": MIGRATION_LOCK})
                await connection.commit()
                await connection.run_sync(upgrade)
                unlock = text("SELECT pg_advisory_unlock(:key)")
                await connection.execute(unlock, {"key": MIGRATION_LOCK})
                await connection.commit()
        finally:
            await engine.dispose()

    asyncio.run(locked())


def ensure_schema(url: str) -> None:
    """What every command but `migrate` does before it uses the database: read the
    database's revision (one SELECT; no env.py, no upgrade) and compare it with the
    migrations' head; upgrade (run_migrations) only when it is behind. A database at
    a revision these migrations do not know was migrated by a newer Inhouse: the
    command stops with one line saying so (exit 2), it never downgrades."""
    current = asyncio.run(_database_revisions(url))
    if current == {SCHEMA_HEAD}:
        log.info("database schema: at %s, nothing to migrate", SCHEMA_HEAD)
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    heads = set(script.get_heads())
    if current == heads:
        log.info("database schema: at %s, nothing to migrate", ", ".join(sorted(heads)))
        return
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = sorted(current - known)
    if unknown:
        log.error(
            "%s",
            _(
                "The database is at schema revision {revision}, which this version of "
                "Inhouse does not know: a newer version has migrated it. Run that version "
                "(or newer); Inhouse never downgrades a database.",
                revision=", ".join(unknown),
            ),
        )
        raise typer.Exit(2)
    log.info(
        "database schema: at %s, upgrading to %s",
        ", ".join(sorted(current)) or "none (empty database)",
        ", ".join(sorted(heads)),
    )
    run_migrations(url)


async def _database_revisions(url: str) -> set[str]:
    """The revisions in the database's alembic_version table (none when it has none)."""
    from sqlalchemy import inspect
    from sqlalchemy.pool import NullPool

    def read(connection: Any) -> set[str]:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        rows = connection.execute(text("SELECT version_num FROM alembic_version"))
        return {str(row[0]) for row in rows}

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(read))
    finally:
        await engine.dispose()


def configure_logging(log_format: str) -> None:
    from bot.log_redaction import RedactingFormatter

    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_format == "json":
        from bot.logging_json import JsonFormatter

        formatter = JsonFormatter()
    handler.setFormatter(RedactingFormatter(formatter))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def _plain(renderable: Any) -> None:
    # People's text may contain [brackets]; never let rich read them as markup.
    _console().print(renderable, markup=False, highlight=False, soft_wrap=True)


def _terminal_language(lang: str | None) -> str | None:
    """--lang, else the terminal's locale (LC_ALL, LC_MESSAGES, LANG, as POSIX ranks
    them); None when they say nothing specific (unset, C, POSIX), and then the
    person reads their own language (the catalog's, or their chat profile's)."""
    if lang:
        return lang
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            tag = value.split(".")[0]
            return None if tag in ("C", "POSIX") else tag
    return None


def settings() -> Settings:
    """The settings from the environment; a bad value ends the command with one
    line per problem naming the variable (exit 2), not a traceback."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            name = "_".join(str(part) for part in problem["loc"]).upper()
            cause = (problem.get("ctx") or {}).get("error")
            _plain(
                _(
                    "The setting {name} is not valid: {problem}",
                    name=name,
                    problem=str(cause) if cause else problem["msg"],
                )
            )
        raise typer.Exit(2) from None


def secret_sealer(config: Settings) -> Sealer | None:
    """What seals the secrets kept in the database; None without a key.

    SecretKeyError (its message says what to set) when Slack OAuth mode has no key,
    or a key is not a Fernet key.
    """
    from bot.sealing import Sealer, SecretKeyError, missing_key_message

    keys = config.inhouse_secret_key.get_secret_value() if config.inhouse_secret_key else ""
    if keys.strip():
        return Sealer.from_keys(keys)
    if config.slack_client_id and config.slack_client_secret:
        raise SecretKeyError(missing_key_message())
    return None


def _startable(config: Settings) -> None:
    """A process that could not serve refuses to start, with one line saying why."""
    from bot.sealing import SecretKeyError

    try:
        secret_sealer(config)
    except SecretKeyError as error:
        log.error("%s", error)
        raise typer.Exit(2) from None


# --- commands -----------------------------------------------------------------------


@cli.command()
def migrate() -> None:
    """Create or upgrade the database schema (safe to run twice)."""
    url = settings().database_url
    # Upgrades what is behind; like every command, refuses a schema that is ahead.
    ensure_schema(url)
    _console().print(_("Database is up to date."))


@cli.command()
def serve(
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Run without the background jobs")
    ] = False,
    teams_local: Annotated[
        bool,
        typer.Option(
            "--teams-local",
            help="Teams without credentials, unauthenticated, for this machine only "
            "(the Agents Playground); same as INHOUSE_TEAMS_LOCAL=1",
        ),
    ] = False,
) -> None:
    """Run the web server (Slack, Teams, /healthz) and, unless told not to, the jobs."""
    config = settings()
    if teams_local:
        config = config.model_copy(update={"inhouse_teams_local": True})
    configure_logging(config.log_format)
    _startable(config)
    ensure_schema(config.database_url)
    asyncio.run(_serve(config, with_scheduler=not no_scheduler, with_web=True))


@cli.command()
def worker() -> None:
    """Run only the background jobs (for extra replicas)."""
    config = settings()
    configure_logging(config.log_format)
    _startable(config)
    ensure_schema(config.database_url)
    asyncio.run(_serve(config, with_scheduler=True, with_web=False))


@dataclass
class Runtime:
    """Everything a serving process is made of, built once from the settings."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    web: Any  # aiohttp.web.Application
    channels: list[Any]  # handlers.delivery.Channel
    owner: str
    traffic: Any  # bot.traffic.Traffic: what the web app is answering right now
    metrics: Any = None  # bot.metrics.DeskMetrics
    socket_mode: Any = None  # slack_bolt AsyncSocketModeHandler, when SLACK_APP_TOKEN is set
    slack_workspaces: Any = None  # bot.slack.workspaces.SlackWorkspaces, when Slack is on
    # A platform delivers (so a recipient none reaches is a dead letter, not a wait).
    platform_on: bool = False
    retry_horizon: timedelta = timedelta(hours=24)
    max_attempts: int | None = None  # deprecated OUTBOX_MAX_ATTEMPTS
    # The backoff between retries of a failing notice: from `retry_base`, doubling,
    # at most `retry_cap` apart (handlers.delivery.RetryPolicy). Not settings: tests
    # shorten them to watch outages end within seconds.
    retry_base: timedelta = timedelta(seconds=2)
    retry_cap: timedelta = timedelta(minutes=5)
    organisation_zone: str = "UTC"
    nudge: Callable[[], None] | None = None  # scheduler.jobs.Jobs.nudge_dispatch, once running

    async def dispatch(self) -> Any:
        """One run of this process's dispatch loop (scheduler.jobs runs exactly one
        loop per process, under this process's own lease owner)."""
        from handlers.delivery import RetryPolicy, dispatch_due

        report = await dispatch_due(
            self.sessions,
            self.clock,
            self.channels,
            owner=self.owner,
            # With a platform on, a person it cannot reach is a dead letter with the
            # reason, not a notice that waits forever.
            dead_letter_unreachable=await self.delivering(),
            policy=RetryPolicy(
                horizon=self.retry_horizon,
                base=self.retry_base,
                cap=self.retry_cap,
                max_attempts=self.max_attempts,
            ),
            pace=self.traffic.lull,
        )
        self.metrics.dispatched(report)
        return report

    async def delivering(self) -> bool:
        """Whether a platform delivers now: one was on at start, or a Slack workspace
        has installed the app since."""
        if self.platform_on:
            return True
        return self.slack_workspaces is not None and bool(await self.slack_workspaces.installed())

    def wake_dispatch(self) -> None:
        """Ask the dispatch loop to run now (after queuing notices outside a sweep);
        nothing happens without a scheduler in this process."""
        if self.nudge is not None:
            self.nudge()

    async def sweep(self) -> Any:
        from handlers.sweep import sweep_due

        started = time_module.perf_counter()
        report = await sweep_due(
            self.sessions, self.clock, organisation_zone=self.organisation_zone
        )
        self.metrics.swept(report, time_module.perf_counter() - started)
        return report

    async def digests(self) -> int:
        from handlers.digest import queue_digests

        async with self.sessions.begin() as session:
            return await queue_digests(session, self.clock.now(), self.organisation_zone)

    async def next_due(self) -> datetime | None:
        from handlers.sweep import next_due

        return await next_due(self.sessions)

    async def close(self) -> None:
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        if self.slack_workspaces is not None:
            await self.slack_workspaces.close()
        await self.engine.dispose()


def lease_owner() -> str:
    """This process's dispatch loop's name on its outbox leases: host and pid, and
    a random part, since a restarted container often has the same host and pid."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


async def build_runtime(config: Settings, clock: Clock | None = None) -> Runtime:
    from bot.metrics import DeskMetrics
    from bot.metrics import mount as mount_metrics
    from bot.traffic import Traffic
    from bot.web import build_web_app

    sealer = secret_sealer(config)  # before anything is built: it may refuse
    engine = build_engine(config.database_url)
    sessions = build_sessions(engine)
    clock = clock or SystemClock()

    async def check_database() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    traffic = Traffic()
    runtime = Runtime(
        engine=engine,
        sessions=sessions,
        clock=clock,
        web=build_web_app(check_database, traffic),
        channels=[],
        owner=lease_owner(),
        traffic=traffic,
        metrics=DeskMetrics(),
        retry_horizon=config.outbox_retry_horizon,
        max_attempts=config.outbox_max_attempts,
        organisation_zone=config.inhouse_timezone,
    )
    if config.outbox_max_attempts is not None:
        log.warning(
            "OUTBOX_MAX_ATTEMPTS is deprecated: use OUTBOX_RETRY_HORIZON (how long "
            "outages are retried, default 24h); until it is removed, a notice is also "
            "dead-lettered after %s attempts",
            config.outbox_max_attempts,
        )
    mount_metrics(runtime.web, runtime.metrics, sessions, clock.now)
    slack_listening = await _add_slack(config, runtime, sealer)
    _add_teams(config, runtime)
    # Slack listening but not yet delivering (OAuth before the first install, or a
    # key that cannot decrypt the install): notices wait in the outbox for Slack.
    if not runtime.platform_on and not slack_listening:
        from bot.console.channel import ConsoleChannel

        log.info("channel console: on (notices are written to this log)")
        runtime.channels.append(
            ConsoleChannel(
                write=lambda line: log.info("notice %s", line.strip()),
                default_timezone=config.inhouse_timezone,
            )
        )
    return runtime


async def _add_slack(config: Settings, runtime: Runtime, sealer: Sealer | None) -> bool:
    """Whether Slack is on (listening, and delivering once it has a bot token).

    Slack reaches the desk over Socket Mode (SLACK_APP_TOKEN), over HTTP (signed
    with SLACK_SIGNING_SECRET), or both; either is enough.
    """
    if not (config.slack_app_token or config.slack_signing_secret) or not (
        config.slack_bot_token or (config.slack_client_id and config.slack_client_secret)
    ):
        log.info(
            "channel slack: off (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN for Socket Mode, "
            "or SLACK_SIGNING_SECRET for HTTP; several workspaces: SLACK_CLIENT_ID and "
            "SLACK_CLIENT_SECRET instead of SLACK_BOT_TOKEN)"
        )
        return False
    from bot.inbox_writer import InboxWriter
    from bot.slack.app import SlackConfig, build_slack_app, mount
    from bot.slack.channel import SlackChannel
    from bot.slack.desk import SlackDesk
    from handlers.people import remember_slack_id

    slack = SlackConfig(
        signing_secret=config.slack_signing_secret,
        api_url=config.slack_api_url,
        bot_token=config.slack_bot_token,
        client_id=config.slack_client_id,
        client_secret=config.slack_client_secret,
        app_token=config.slack_app_token,
    )
    desk = SlackDesk(
        runtime.sessions, runtime.clock, InboxWriter(runtime.engine), config.inhouse_timezone
    )
    bolt, pump, workspaces = build_slack_app(
        slack, desk, runtime.engine, runtime.traffic, sealer, runtime.wake_dispatch
    )
    mount(runtime.web, bolt, pump, slack.signing_secret)

    async def remember(person_id: int, slack_user_id: str, workspace: str | None) -> None:
        async with runtime.sessions.begin() as session:
            await remember_slack_id(session, person_id, slack_user_id, workspace)

    # Each notice goes out with its workspace's token, read from the installations at
    # each delivery: a workspace installed later is served without a restart.
    runtime.channels.append(
        SlackChannel(workspaces, runtime.clock, remember, config.inhouse_timezone)
    )
    runtime.slack_workspaces = workspaces
    installed = await workspaces.installed()
    if not slack.oauth:
        runtime.platform_on = True
        log.info("channel slack: on (single workspace)")
    elif installed:
        runtime.platform_on = True
        log.info("channel slack: on (OAuth; installed in %s)", ", ".join(installed))
    else:
        log.info(
            "channel slack: listening; notices wait in the outbox until the app is "
            "installed (open /slack/install)"
        )
    if config.slack_app_token:
        from bot.slack.socket_mode import socket_mode

        runtime.socket_mode = socket_mode(bolt, config.slack_app_token, runtime.traffic)
        log.info("slack: Socket Mode on (SLACK_APP_TOKEN set; `serve` holds the connection)")
    if not config.slack_signing_secret:
        log.info("slack: POST /slack/events off (no SLACK_SIGNING_SECRET to verify it with)")
    return True


def _add_teams(config: Settings, runtime: Runtime) -> None:
    """Teams listens at /api/messages only when told how to trust it: with
    MICROSOFT_APP_ID every activity's Bot Framework token is checked; with
    INHOUSE_TEAMS_LOCAL (`serve --teams-local`) it is the unauthenticated local mode
    the Agents Playground uses, for this machine only. Otherwise it is off (404)."""
    app_id = config.microsoft_app_id or ""
    if not app_id and not config.inhouse_teams_local:
        log.info(
            "channel teams: off (set MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD and "
            "MICROSOFT_APP_TENANT_ID, or INHOUSE_TEAMS_LOCAL=1 / serve --teams-local "
            "for the Agents Playground on this machine)"
        )
        return
    from bot.teams.app import TeamsConfig, build_adapter, mount
    from bot.teams.bot import DeskBot
    from bot.teams.channel import TeamsChannel
    from bot.teams.desk import TeamsDesk
    from handlers.people import team_members

    teams = TeamsConfig(
        APP_ID=app_id,
        APP_PASSWORD=config.microsoft_app_password or "",
        # Local mode has no identity at all; botbuilder calls that "MultiTenant".
        APP_TYPE=config.microsoft_app_type if app_id else "MultiTenant",
        APP_TENANTID=config.microsoft_app_tenant_id or "",
        OPENID_METADATA_URL=config.microsoft_openid_metadata_url or None,
    )
    missing = teams.missing()
    if missing:
        log.error("channel teams: off (%s)", missing)
        return
    adapter = build_adapter(teams)
    desk = TeamsDesk(runtime.sessions, runtime.clock, config.inhouse_timezone)
    mount(runtime.web, adapter, DeskBot(desk, runtime.wake_dispatch), teams)

    async def members(team_id: int) -> list[tuple[str, str]]:
        async with runtime.sessions() as session:
            people = await team_members(session, team_id)
        return [(p.email, p.display_name) for p in people if p.email]

    runtime.channels.append(
        TeamsChannel(
            adapter,
            teams.APP_ID,
            runtime.sessions,
            runtime.clock,
            members,
            config.inhouse_timezone,
        )
    )
    if teams.APP_ID:
        runtime.platform_on = True
        log.info("channel teams: on (app %s, %s, tokens checked)", teams.APP_ID, teams.APP_TYPE)
        if config.inhouse_teams_local:
            log.warning(
                "channel teams: INHOUSE_TEAMS_LOCAL / --teams-local ignored: "
                "MICROSOFT_APP_ID is set, so every activity needs a Bot Framework token"
            )
    else:
        log.warning(
            "channel teams: on in LOCAL MODE (INHOUSE_TEAMS_LOCAL / --teams-local): "
            "/api/messages is UNAUTHENTICATED and answers only this machine (loopback "
            "callers, loopback serviceUrl), for the Microsoft 365 Agents Playground"
        )


def freeze_startup_heap() -> None:
    """Leave what start-up built (modules, the app, the catalog copy) out of every
    later garbage collection. A full collection walks every tracked object, and a
    serving process holds ~150,000 of them: measured 87-103 ms each, every request
    in flight stalled meanwhile (the slowest 1 % of acknowledgements, issue 14).
    Frozen, it walks only what was made since. What start-up built mostly lives as
    long as the process; what of it is dropped later is still freed by reference
    counting, unless it sits in a reference cycle."""
    gc.collect()
    gc.freeze()


async def _serve(config: Settings, *, with_scheduler: bool, with_web: bool) -> None:
    from aiohttp import web

    from scheduler.jobs import Jobs

    runtime = await build_runtime(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    runner = None
    if with_web:
        runner = web.AppRunner(runtime.web)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", config.port).start()
        log.info("listening on http://0.0.0.0:%s (GET /healthz)", config.port)
    connecting = None
    if runtime.socket_mode is not None and with_web:
        # The serving process holds the connection (workers have no command pump).
        # In the background: while Slack cannot be reached slack_sdk keeps trying,
        # and everything else serves meanwhile.
        connecting = asyncio.create_task(
            runtime.socket_mode.connect_async(), name="slack-socket-mode"
        )
    jobs = None
    if with_scheduler:
        jobs = Jobs(
            runtime.dispatch,
            dispatch_interval_seconds=2.0,
            sweep=runtime.sweep,
            next_due=runtime.next_due,
            sweep_interval_seconds=config.sweep_interval_seconds,
            digest=runtime.digests,
        )
        jobs.start()
        runtime.nudge = jobs.nudge_dispatch
        log.info(
            "scheduler on: one outbox dispatch loop (owner %s) every 2s and when nudged, "
            "SLA sweep every %ss and at each due time",
            runtime.owner,
            config.sweep_interval_seconds,
        )
    else:
        log.info("scheduler off (--no-scheduler)")
    freeze_startup_heap()
    await stop.wait()
    log.info("shutting down")
    if jobs is not None:
        await jobs.stop()
    if connecting is not None:
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
    if runner is not None:
        await runner.cleanup()
    await runtime.close()


@catalog_cli.command("check")
def catalog_check(file: Path) -> None:
    """Validate a catalog; print every problem with its place in the file."""
    from models.catalog import CatalogError, load_catalog

    try:
        loaded = load_catalog(file)
    except CatalogError as error:
        _print_catalog_error(error)
        raise typer.Exit(1) from None
    _console().print(
        _(
            "{file} is valid: {teams} teams, {people} people, {calendars} calendars.",
            file=str(file),
            teams=len(loaded.teams),
            people=len(loaded.people),
            calendars=len(loaded.calendars),
        )
    )


def _print_catalog_error(error: Any) -> None:
    from rich.markup import escape

    for issue in error.issues:
        # Catalog values may hold [brackets]: escape them so rich shows, not parses, them.
        _console().print(
            f"[red]{escape(error.file)}: {escape(issue.path)}[/red]: {escape(issue.message)}",
            highlight=False,
        )
    _plain(
        ngettext(
            "{n} problem found; nothing was written.",
            "{n} problems found; nothing was written.",
            error.total,
        )
    )


@catalog_cli.command("apply")
def catalog_apply(file: Path) -> None:
    """Validate and apply a catalog in one transaction (idempotent)."""
    from models.catalog import CatalogError, load_catalog

    try:
        loaded = load_catalog(file)
    except CatalogError as error:
        _print_catalog_error(error)
        raise typer.Exit(1) from None
    url = settings().database_url
    ensure_schema(url)
    report = asyncio.run(_apply(url, loaded))
    if not report.changed:
        _console().print(
            _("Nothing to change: the database already matches {file}.", file=str(file))
        )
        return
    for kind, names in report.changes.items():
        _plain(f"{kind}: {', '.join(names)}")


async def _apply(url: str, loaded: Any) -> Any:
    from handlers.catalog_apply import apply_catalog

    engine = build_engine(url)
    try:
        async with build_sessions(engine).begin() as session:
            return await apply_catalog(session, loaded)
    finally:
        await engine.dispose()


@cli.command()
def chat(
    as_: Annotated[str, typer.Option("--as", help="Your email address")],
    lang: Annotated[str | None, typer.Option("--lang", help="Language, e.g. en")] = None,
) -> None:
    """Use the desk from the terminal as the person with this email."""

    from bot.console.repl import chat as run_chat
    from handlers.people import Identity

    config = settings()
    ensure_schema(config.database_url)
    language = _terminal_language(lang)
    identity = Identity(email=as_.strip().lower(), display_name=as_.split("@")[0])

    async def go() -> None:
        engine = build_engine(config.database_url)
        try:
            await run_chat(
                build_sessions(engine),
                SystemClock(),
                identity,
                default_timezone=config.inhouse_timezone,
                language=language,
            )
        finally:
            await engine.dispose()

    asyncio.run(go())


@cli.command()
def demo(
    database: Annotated[Path, typer.Option("--db", help="SQLite file to (re)create")] = Path(
        "inhouse-demo.db"
    ),
    lang: Annotated[str | None, typer.Option("--lang", help="Language: en, de, it")] = None,
) -> None:
    """Play a scripted story on a fresh SQLite file with the example catalog."""
    from bot.console.demo import play
    from models.catalog import load_catalog

    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{database}"
    run_migrations(url)
    loaded = load_catalog(EXAMPLE_CATALOG)

    async def go() -> None:
        engine = build_engine(url)
        try:
            await play(
                build_sessions(engine),
                loaded,
                write=_plain,
                language=_terminal_language(lang) or "en",
                database=database,
            )
        finally:
            await engine.dispose()

    asyncio.run(go())


@cli.command("teams-package")
def teams_package(
    out: Annotated[Path, typer.Option(help="Zip file (or folder) to write")] = Path(
        "inhouse-teams.zip"
    ),
    app_id: Annotated[
        str | None, typer.Option(help="Bot app id (default: MICROSOFT_APP_ID)")
    ] = None,
    domain: Annotated[
        str | None, typer.Option(help="Public host of `inhouse serve`, for validDomains")
    ] = None,
) -> None:
    """Write the Teams app package (manifest + icons) with the app id filled in."""
    from bot.teams.package import write_package

    chosen = app_id or settings().microsoft_app_id
    if not chosen:
        _plain(_("Give the bot's app id: --app-id or MICROSOFT_APP_ID."))
        raise typer.Exit(2)
    try:
        written = write_package(chosen, out, endpoint_domain=domain)
    except ValueError as error:
        _plain(str(error))
        raise typer.Exit(1) from None
    _plain(_("Wrote {path}: upload it in Teams under Apps → Manage your apps.", path=str(written)))


class ReportFormat(StrEnum):
    text = "text"
    csv = "csv"
    html = "html"
    png = "png"


@cli.command()
def report(
    team: Annotated[str | None, typer.Option(help="Only this team (key or alias)")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date, exclusive")] = None,
    format: Annotated[
        ReportFormat, typer.Option(help="text, csv, html (self-contained) or png")
    ] = ReportFormat.text,
    out: Annotated[
        Path | None, typer.Option(help="Write to this file (html/png default: report.*)")
    ] = None,
) -> None:
    """Where service breaks down: each team, each department → team pair, recognition."""
    from bot.reports.views import as_csv, as_html, as_png, as_text
    from handlers.errors import DeskError
    from handlers.insight import insight

    config = settings()
    ensure_schema(config.database_url)
    now = datetime.now(UTC)
    end = _day(until) if until else now
    start = _day(since) if since else end - timedelta(days=30)

    async def go() -> Any:
        engine = build_engine(config.database_url)
        try:
            async with build_sessions(engine)() as session:
                return await insight(session, since=start, until=end, now=now, team=team)
        finally:
            await engine.dispose()

    try:
        figures = asyncio.run(go())
    except DeskError as error:
        _plain(error.render(neutralise))
        raise typer.Exit(1) from None
    if format is ReportFormat.csv:
        as_csv(figures, sys.stdout)
    elif format is ReportFormat.text:
        _console().print(as_text(figures))
    else:
        target = out or Path(f"report.{format.value}")
        if format is ReportFormat.html:
            target.write_text(as_html(figures), encoding="utf-8")
        else:
            target.write_bytes(as_png(figures))
        _plain(_("Wrote {path}.", path=str(target)))


def _day(value: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
    except ValueError:
        _console().print(_("'{value}' is not a date like 2026-11-23.", value=value))
        raise typer.Exit(2) from None


@outbox_cli.command("list")
def outbox_list(
    dead: Annotated[bool, typer.Option("--dead", help="Only the dead letters")] = False,
) -> None:
    """Notices not yet delivered: dead letters with their reason, pending ones with
    their next try and whether an attempt is in flight."""
    from handlers.outbox_admin import undelivered

    config = settings()
    ensure_schema(config.database_url)
    now = datetime.now(UTC)

    async def go() -> list[Any]:
        engine = build_engine(config.database_url)
        try:
            async with build_sessions(engine)() as session:
                return await undelivered(session, now, dead_only=dead)
        finally:
            await engine.dispose()

    rows = asyncio.run(go())
    if not rows:
        _console().print(
            _("There are no dead letters.")
            if dead
            else _("The outbox is empty: every notice was delivered.")
        )
        return
    # One block per notice, never a table: a reason or a platform's message must
    # not be cut to fit a column.
    for row in rows:
        state = _state_label(row.state)
        if row.maybe_sent and row.state.value != "dead":
            state = _("{state}, may have been sent", state=state)
        parts = [state, ngettext("{n} attempt", "{n} attempts", row.attempts)]
        if row.state.value != "dead":
            when = row.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            parts.append(_("next try {time}", time=when))
        to = neutralise(row.to)
        _plain(f"#{row.id} {row.kind} {row.request_key or '-'} → {to} · {' · '.join(parts)}")
        if row.error_code or row.last_error:
            # Platform text: printed plainly, never read as markup.
            _plain(f"    {row.error_code or '?'}: {neutralise(row.last_error or '')}")
    counts = Counter(row.state for row in rows)
    _plain(" · ".join(f"{_state_label(state)}: {n}" for state, n in sorted(counts.items())))


def _state_label(state: Any) -> str:
    labels = {
        "dead": _("dead letter"),
        "in_flight": _("in flight"),
        "interrupted": _("interrupted in flight"),
        "retrying": _("retrying"),
        "queued": _("queued"),
    }
    return labels[str(state.value)]


@outbox_cli.command("retry")
def outbox_retry(message_id: int) -> None:
    """Requeue one notice (a dead letter, or a pending one now), with a fresh retry horizon."""
    from handlers.outbox_admin import requeue

    config = settings()
    ensure_schema(config.database_url)

    async def go() -> bool:
        engine = build_engine(config.database_url)
        try:
            async with build_sessions(engine).begin() as session:
                return await requeue(session, message_id, datetime.now(UTC))
        finally:
            await engine.dispose()

    if not asyncio.run(go()):
        _console().print(_("There is no undelivered notice {id}.", id=message_id))
        raise typer.Exit(1)
    _console().print(_("Notice {id} is queued again.", id=message_id))


@cli.command()
def recount() -> None:
    """Recount the figures reports read from the requests themselves (after rows were
    changed by hand in SQL, or restored from a backup): the figures are otherwise kept
    up to date as requests change, and never need this."""
    from sqlalchemy import func, select

    from handlers.insight_rollup import rebuild
    from models.requests import Request

    config = settings()
    ensure_schema(config.database_url)

    async def go() -> int:
        engine = build_engine(config.database_url)
        try:
            # One transaction: reports read the old figures or the new, never a mix
            # (on PostgreSQL `rebuild` locks the figures until the commit).
            async with engine.begin() as connection:
                await connection.run_sync(rebuild)
                return int(await connection.scalar(select(func.count()).select_from(Request)) or 0)
        finally:
            await engine.dispose()

    counted = asyncio.run(go())
    _console().print(
        ngettext(
            "Report figures recounted from {n} request.",
            "Report figures recounted from {n} requests.",
            counted,
        )
    )


@secrets_cli.command("new-key")
def secrets_new_key() -> None:
    """Print a fresh key for INHOUSE_SECRET_KEY (put it first to rotate, then run rotate)."""
    from bot.sealing import new_key

    typer.echo(new_key())


@secrets_cli.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored Slack token with the first key of INHOUSE_SECRET_KEY."""
    from bot.sealing import SecretKeyError, missing_key_message
    from bot.slack.reseal import reseal_all

    config = settings()
    try:
        sealer = secret_sealer(config)
        if sealer is None:
            raise SecretKeyError(missing_key_message())
    except SecretKeyError as error:
        _plain(str(error))
        raise typer.Exit(2) from None
    ensure_schema(config.database_url)

    async def go() -> Any:
        engine = build_engine(config.database_url)
        try:
            return await reseal_all(engine, sealer)
        finally:
            await engine.dispose()

    done = asyncio.run(go())
    _plain(
        ngettext(
            "{n} stored secret is now encrypted with the first key; {clear} had been "
            "stored unencrypted.",
            "{n} stored secrets are now encrypted with the first key; {clear} had been "
            "stored unencrypted.",
            done.resealed,
            clear=done.were_clear,
        )
    )
    if done.unreadable:
        _plain(
            ngettext(
                "{n} stored secret cannot be decrypted with any key in INHOUSE_SECRET_KEY "
                "and was left as it is: add the key it was encrypted with, then run this "
                "again.",
                "{n} stored secrets cannot be decrypted with any key in INHOUSE_SECRET_KEY "
                "and were left as they are: add the key they were encrypted with, then run "
                "this again.",
                done.unreadable,
            )
        )
        raise typer.Exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
