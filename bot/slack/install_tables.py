"""The tables slack_sdk's OAuth stores keep, declared once for the stores and Alembic.

Multi-workspace installs live in the desk's own database, so `inhouse migrate`
creates these with everything else and `alembic check` watches them for drift.
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, String

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
OAUTH_STATES_TABLE = "slack_oauth_states"

# The columns holding secrets (bot/slack/sealed_store.py seals them), by table. Their names
# are also the attribute names on slack_sdk's Installation and Bot.
SECRET_COLUMNS: dict[str, tuple[str, ...]] = {
    BOTS_TABLE: ("bot_token", "bot_refresh_token"),
    INSTALLATIONS_TABLE: (
        "bot_token",
        "bot_refresh_token",
        "user_token",
        "user_refresh_token",
        "incoming_webhook_url",
    ),
}
# A sealed value is about 1.4 times its secret plus 100 characters: slack_sdk's 200
# would not hold a rotating token (xoxe.…, ~160 characters) once sealed, and
# PostgreSQL refuses what does not fit. 1000 holds secrets of up to ~680 characters.
SEALED_WIDTH = 1000

slack_metadata = MetaData()
installations = AsyncSQLAlchemyInstallationStore.build_installations_table(
    slack_metadata, INSTALLATIONS_TABLE
)
bots = AsyncSQLAlchemyInstallationStore.build_bots_table(slack_metadata, BOTS_TABLE)
AsyncSQLAlchemyOAuthStateStore.build_oauth_states_table(slack_metadata, OAUTH_STATES_TABLE)
for _table in (installations, bots):
    for _name in SECRET_COLUMNS[_table.name]:
        _table.c[_name].type = String(SEALED_WIDTH)
