"""Re-sealing every stored Slack secret under the first key (`inhouse secrets rotate`).

After a new key is put in front of INHOUSE_SECRET_KEY, this re-encrypts what older
keys sealed, and seals what was stored in the clear before sealing existed, so the
old key can then be dropped. Values no configured key opens are left as they are
and counted: the admin adds the key they were sealed with and runs it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.sealing import Sealer, UnreadableSecret, is_sealed
from bot.slack.install_tables import SECRET_COLUMNS, bots, installations


@dataclass
class Resealed:
    resealed: int = 0  # values now sealed under the first key
    were_clear: int = 0  # of those, values that had been stored in the clear
    unreadable: int = 0  # values no configured key opens, left as they were


async def reseal_all(engine: AsyncEngine, sealer: Sealer) -> Resealed:
    """One transaction: a row saved meanwhile waits (it is sealed already anyway)."""
    report = Resealed()
    async with engine.begin() as connection:
        for table in (bots, installations):
            names = SECRET_COLUMNS[table.name]
            rows = await connection.execute(
                select(table.c.id, *(table.c[name] for name in names)).with_for_update()
            )
            for row in rows.mappings().all():
                changes: dict[str, str] = {}
                for name in names:
                    value = row[name]
                    if value is None:
                        continue
                    try:
                        changes[name] = sealer.reseal(value)
                    except UnreadableSecret:
                        report.unreadable += 1
                        continue
                    report.were_clear += not is_sealed(value)
                if changes:
                    await connection.execute(
                        update(table).where(table.c.id == row["id"]).values(changes)
                    )
                    report.resealed += len(changes)
    return report
