"""Process configuration from the environment (and `.env`); see DESIGN.md, Interfaces."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    # A notice that fails this many times is dead-lettered (`inhouse outbox list`).
    outbox_max_attempts: int = Field(default=8, ge=1, le=100)
    inhouse_timezone: str = "UTC"
    log_format: Literal["text", "json"] = "text"
