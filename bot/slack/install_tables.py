"""The tables slack_sdk's OAuth stores keep, declared once for the stores and Alembic.

Multi-workspace installs live in the desk's own database, so `inhouse migrate`
creates these with everything else and `alembic check` watches them for drift.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import MetaData

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
OAUTH_STATES_TABLE = "slack_oauth_states"

slack_metadata = MetaData()
AsyncSQLAlchemyInstallationStore.build_installations_table(slack_metadata, INSTALLATIONS_TABLE)
AsyncSQLAlchemyInstallationStore.build_bots_table(slack_metadata, BOTS_TABLE)
AsyncSQLAlchemyOAuthStateStore.build_oauth_states_table(slack_metadata, OAUTH_STATES_TABLE)
