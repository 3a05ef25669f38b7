"""Waiting for work the app does after it has answered (Bolt runs listeners past the ack)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def eventually(check: Callable[[], Any]) -> None:
    """Poll `check` (plain or async) until it is truthy; fail after 5 seconds."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the app did not get there in time")
        await asyncio.sleep(0.02)
