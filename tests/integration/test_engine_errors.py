"""A failed statement's error names the SQL but never its values: an exception that
reaches the log must not carry what a person typed, or a token."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app import build_engine

TYPED = "my password is hunter2, please reset"


async def test_errors_hide_the_statement_parameters(database_url: str) -> None:
    engine = build_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO no_such_table (body) VALUES (:body)"), {"body": TYPED}
                )
    finally:
        await engine.dispose()
    assert "no_such_table" in str(raised.value)
    assert TYPED not in str(raised.value)
