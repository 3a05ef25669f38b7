"""Waiting for work the app does after it has answered (Bolt runs listeners past the ack)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.polling import poll


async def eventually(check: Callable[[], Any], within: float = 5.0) -> None:
    """Poll `check` (plain or async) until it is truthy; fail after `within` seconds."""
    if not await poll(check, within):
        raise AssertionError("the app did not get there in time")
