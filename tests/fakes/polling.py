"""Polling for something a test is waiting on (the app works on after it answers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def poll(check: Callable[[], Any], timeout: float) -> bool:  # noqa: ASYNC109
    """True once `check()` (plain or async) is truthy; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
