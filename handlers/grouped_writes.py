"""Writes asked for side by side, committed together (group commit).

The dispatcher delivers up to eight conversations at once, and each records every
attempt twice: in flight before the post, the outcome after it. One transaction per
record made them queue for the database (SQLite has one connection): most of a
notice's time was spent waiting for a commit. Here one transaction runs at a time and
takes every write asked for by then, so eight conversations share a commit.

A caller returns once its own write is committed (or has failed with the others of
its transaction), exactly as if it had committed it alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupedWrites(Generic[Item, Result]):
    """`write` commits a group of items in one transaction; every caller whose item
    was in the group gets its result (or its error)."""

    def __init__(self, write: Callable[[list[Item]], Awaitable[Result]]) -> None:
        self._write = write
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._one_at_a_time = asyncio.Lock()

    async def submit(self, item: Item) -> Result:
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        entry = (item, done)
        self._waiting.append(entry)
        try:
            async with self._one_at_a_time:
                if not done.done():  # not yet written in a group another caller led
                    await self._lead(done)
        except asyncio.CancelledError:
            if entry in self._waiting:
                # Cancelled before any transaction took the item: it is not written.
                self._waiting.remove(entry)
            else:
                # Taken by a transaction still under way: its outcome is nobody's now.
                done.add_done_callback(_settled)
            raise
        return done.result()

    async def _lead(self, own: asyncio.Future[Result]) -> None:
        group, self._waiting = self._waiting, []
        try:
            result = await self._write([item for item, _done in group])
        except BaseException as error:
            for _item, done in group:
                if done is own or done.done():
                    continue  # the leader gets its error raised
                if isinstance(error, Exception):
                    done.set_exception(error)
                else:  # the leader was cancelled: so is what it was writing
                    done.cancel()
            raise
        for _item, done in group:
            done.set_result(result)


def _settled(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()  # retrieved, so asyncio does not report it as forgotten
