"""The one aiohttp server: health and metrics now; Slack and Teams mount here later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.traffic import Traffic


def build_web_app(
    check_database: Callable[[], Awaitable[None]], traffic: Traffic
) -> web.Application:
    app = web.Application(middlewares=[traffic.middleware])

    async def healthz(_: web.Request) -> web.Response:
        try:
            await check_database()
        except Exception as error:  # the probe reports any failure, it never raises
            return web.json_response(
                {"status": "unhealthy", "database": str(error)[:200]}, status=503
            )
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)
    return app
