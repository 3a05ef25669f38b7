"""Background work waits for a lull in the requests being answered, but not forever."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.traffic import Traffic


async def test_background_work_waits_until_no_request_is_being_answered() -> None:
    traffic = Traffic(patience=5.0)
    release = asyncio.Event()

    async def slow_answer(_request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(text="ok")

    answering = asyncio.create_task(
        traffic.middleware(make_mocked_request("POST", "/slack/events"), slow_answer)
    )
    await asyncio.sleep(0)
    waiting = asyncio.create_task(traffic.lull())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    release.set()
    await answering
    assert await asyncio.wait_for(waiting, 1.0) is True  # a lull, not impatience


async def test_under_sustained_traffic_background_work_goes_on_after_its_patience() -> None:
    traffic = Traffic(patience=0.1)
    never = asyncio.Event()

    async def endless(_request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    answering = asyncio.create_task(
        traffic.middleware(make_mocked_request("POST", "/slack/events"), endless)
    )
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await traffic.lull() is False
    assert 0.09 <= loop.time() - started < 1.0
    answering.cancel()
