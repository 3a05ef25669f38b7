"""Process configuration from the environment (and `.env`); see DESIGN.md, Interfaces."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.i18n import _

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./inhouse.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    inhouse_catalog: str = "./catalog.yaml"
    port: int = Field(default=3978, ge=1, le=65535)
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    # Fernet keys, comma-separated, newest first: the first encrypts the secrets kept
    # in the database (Slack OAuth tokens), every one decrypts. Required in OAuth mode.
    inhouse_secret_key: SecretStr | None = None
    microsoft_app_id: str | None = None
    microsoft_app_password: str | None = None
    microsoft_app_tenant_id: str | None = None
    microsoft_app_type: str = "SingleTenant"
    # Where the Bot Framework's signing keys are published (OpenID metadata); None is
    # Microsoft's public cloud. For private or sovereign clouds, and for tests.
    microsoft_openid_metadata_url: str | None = None
    # Teams without credentials: unauthenticated and for this machine only (the
    # Microsoft 365 Agents Playground). Off by default: without credentials and
    # without this, /api/messages is not served at all.
    inhouse_teams_local: bool = False
    sweep_interval_seconds: float = Field(default=15, gt=0)
    # How long transient delivery failures (outages, 5xx, 429) are retried before a
    # notice is dead-lettered: a duration like `24h`, `90m`, `2d` (clock time), or
    # a number of seconds.
    outbox_retry_horizon: timedelta = timedelta(hours=24)
    # Deprecated (OUTBOX_RETRY_HORIZON replaces it): when set, a notice is also
    # dead-lettered after this many attempts.
    outbox_max_attempts: int | None = Field(default=None, ge=1, le=10_000)
    inhouse_timezone: str = "UTC"
    log_format: Literal["text", "json"] = "text"

    @field_validator("outbox_retry_horizon", mode="before")
    @classmethod
    def _horizon(cls, value: object) -> timedelta:
        return retry_horizon(value)


def retry_horizon(value: object) -> timedelta:
    """`24h`, `90m`, `2d`, `3600s` (clock time) or a number of seconds; 1m to 30d."""
    if isinstance(value, timedelta):
        span = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        span = timedelta(seconds=value)
    elif isinstance(value, str) and _SECONDS.fullmatch(value.strip()):
        span = timedelta(seconds=float(value.strip()))
    elif isinstance(value, str) and (match := _SPAN.fullmatch(value.strip().lower())):
        span = timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2)])
    else:
        raise ValueError(
            _("expected a duration like 24h, 90m or 2d, or seconds, got {got}", got=repr(value))
        )
    if not timedelta(minutes=1) <= span <= timedelta(days=30):
        raise ValueError(_("expected between 1m and 30d, got {got}", got=repr(value)))
    return span


_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
_SPAN = re.compile(r"([0-9]+)\s*([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
