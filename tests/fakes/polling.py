"""Polling for something a test is waiting on (the app works on after it answers)."""

from __future__ import annotations

import asyncio
import inspect
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


async def wait_or_explain(
    predicate: Callable[[], Any],
    timeout: float,  # noqa: ASYNC109
    what_happened: Callable[[], str],
) -> None:
    """Poll like `poll`; on timeout, an AssertionError naming the predicate's source
    and `what_happened()` (a fake's latest traffic), so a failing test says why."""
    if await poll(predicate, timeout):
        return
    try:
        source = inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        source = repr(predicate)
    raise AssertionError(f"condition not met within {timeout}s: {source}\n{what_happened()}")
