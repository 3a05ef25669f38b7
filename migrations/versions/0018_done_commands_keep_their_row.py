"""pending_commands.done_at and .repeat: a carried-out command keeps its row

Taking a command was a DELETE of its row and an INSERT of an inbound key
"command:<platform>:<delivery key>" to recognise a repeat; now it is one UPDATE
that marks the row done (handlers.inbox). The command keys of the last day move
onto done rows; older ones would be forgotten by now (handlers.inbox.DONE_KEPT).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 19:30:00
"""
from datetime import UTC, datetime, timedelta
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: Union[str, Sequence[str], None] = '0017'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None



def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('pending_commands') as batch:
        batch.add_column(sa.Column('done_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column('repeat', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        'ix_pending_commands_waiting',
        'pending_commands',
        ['platform', 'id'],
        unique=False,
        sqlite_where=sa.text('done_at IS NULL'),
        postgresql_where=sa.text('done_at IS NULL'),
    )
    keys = sa.table('inbound_keys', sa.column('key', sa.String), sa.column('seen_at', sa.DateTime(timezone=True)))
    commands = sa.table(
        'pending_commands',
        sa.column('platform', sa.String),
        sa.column('delivery_key', sa.String),
        sa.column('workspace', sa.String),
        sa.column('user_id', sa.String),
        sa.column('text', sa.Text),
        sa.column('reply_address', sa.String),
        sa.column('received_at', sa.DateTime(timezone=True)),
        sa.column('attempts', sa.Integer),
        sa.column('done_at', sa.DateTime(timezone=True)),
        sa.column('repeat', sa.Boolean),
    )
    connection = op.get_bind()
    kept_since = datetime.now(UTC) - timedelta(days=1)
    if connection.dialect.name == 'sqlite':
        # As the application stores times there (models.base.UTCDateTime): naive UTC.
        kept_since = kept_since.replace(tzinfo=None)
    done = connection.execute(
        sa.select(keys.c.key, keys.c.seen_at).where(
            keys.c.key.like('command:%'), keys.c.seen_at >= kept_since
        )
    ).all()
    waiting = set(connection.execute(sa.select(commands.c.delivery_key)).scalars())
    for key, seen_at in done:
        platform, _, delivery_key = key.removeprefix('command:').partition(':')
        if delivery_key in waiting:
            # Delivered again after it was done, and not answered yet: a repeat.
            connection.execute(
                commands.update()
                .where(commands.c.delivery_key == delivery_key)
                .values(repeat=True)
            )
            continue
        connection.execute(
            commands.insert().values(
                platform=platform,
                delivery_key=delivery_key,
                workspace=None,
                user_id='',
                text='',
                reply_address='',
                received_at=seen_at,
                attempts=0,
                done_at=seen_at,
                repeat=False,
            )
        )
    connection.execute(keys.delete().where(keys.c.key.like('command:%')))


def downgrade() -> None:
    """Downgrade schema. Done commands and waiting repeats become inbound keys again
    (so the old schema still answers a repeat, not files it), then the done rows go:
    the old schema would take them for waiting ones."""
    keys = sa.table('inbound_keys', sa.column('key', sa.String), sa.column('seen_at', sa.DateTime(timezone=True)))
    commands = sa.table(
        'pending_commands',
        sa.column('platform', sa.String),
        sa.column('delivery_key', sa.String),
        sa.column('received_at', sa.DateTime(timezone=True)),
        sa.column('done_at', sa.DateTime(timezone=True)),
        sa.column('repeat', sa.Boolean),
    )
    connection = op.get_bind()
    known = connection.execute(
        sa.select(
            commands.c.platform, commands.c.delivery_key, commands.c.received_at, commands.c.done_at
        ).where(sa.or_(commands.c.done_at.is_not(None), commands.c.repeat.is_(True)))
    ).all()
    if known:
        connection.execute(
            keys.insert(),
            [
                {'key': f'command:{platform}:{key}'[:200], 'seen_at': done_at or received_at}
                for platform, key, received_at, done_at in known
            ],
        )
    connection.execute(commands.delete().where(commands.c.done_at.is_not(None)))
    op.drop_index('ix_pending_commands_waiting', table_name='pending_commands')
    with op.batch_alter_table('pending_commands') as batch:
        batch.drop_column('repeat')
        batch.drop_column('done_at')
