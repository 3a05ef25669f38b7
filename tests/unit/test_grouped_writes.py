"""Group commit: what callers asked for meanwhile goes in one transaction, each caller
learns the fate of its own write, and a caller that gave up is not written later."""

from __future__ import annotations

import asyncio

import pytest

from handlers.grouped_writes import GroupedWrites


class Database:
    """Transactions that take a while; each remembers the items it wrote."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.transactions: list[list[str]] = []
        self.fail_on = fail_on
        self.open = asyncio.Event()

    async def write(self, items: list[str]) -> set[str]:
        await self.open.wait()
        if self.fail_on in items:
            raise ConnectionError("the database went away")
        self.transactions.append(items)
        return set(items)


async def test_writes_asked_for_during_a_transaction_share_the_next_one() -> None:
    database = Database()
    writes = GroupedWrites(database.write)
    callers = [asyncio.create_task(writes.submit(item)) for item in "abcde"]
    await asyncio.sleep(0.01)  # "a" leads a transaction; the others wait for it
    database.open.set()
    results = await asyncio.gather(*callers)
    assert database.transactions == [["a"], ["b", "c", "d", "e"]]
    assert all(item in result for item, result in zip("abcde", results, strict=True))


async def test_a_failed_transaction_fails_every_write_in_it_and_no_other() -> None:
    database = Database(fail_on="c")
    writes = GroupedWrites(database.write)
    callers = [asyncio.create_task(writes.submit(item)) for item in "abcd"]
    await asyncio.sleep(0.01)
    database.open.set()
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(results[0], set)  # "a" was committed alone, before
    assert all(isinstance(result, ConnectionError) for result in results[1:])
    assert database.transactions == [["a"]]
    # The next write goes on as usual.
    assert await writes.submit("e") == {"e"}


async def test_a_caller_that_gives_up_before_its_transaction_is_not_written() -> None:
    database = Database()
    writes = GroupedWrites(database.write)
    first = asyncio.create_task(writes.submit("a"))
    waiting = asyncio.create_task(writes.submit("b"))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    database.open.set()
    await first
    assert await writes.submit("c") == {"c"}
    assert database.transactions == [["a"], ["c"]]
