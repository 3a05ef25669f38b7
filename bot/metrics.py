"""GET /metrics: the desk's health in Prometheus form.

Gauges about stored state (requests, standards, the outbox) are read from the
database when scraped, so every replica reports the same truth; counters and
histograms (escalations, deliveries, sweeps) count what this process did.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from handlers.delivery import DispatchReport
from handlers.stats import desk_figures
from handlers.sweep import SweepReport


class DeskMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Gauge(
            "inhouse_requests", "Requests by team and status", ["team", "status"], registry=r
        )
        self.standards = Gauge(
            "inhouse_standard_outcomes",
            "Requests whose clock has ended, by team, clock and met/breached",
            ["team", "clock", "outcome"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "inhouse_outbox_pending", "Notices not yet delivered", registry=r
        )
        self.outbox_dead = Gauge("inhouse_outbox_dead", "Dead-lettered notices", registry=r)
        self.outbox_dead_by_reason = Gauge(
            "inhouse_outbox_dead_letters",
            "Dead-lettered notices by reason (a platform error code such as "
            "channel_not_found, http_5xx, no_route; the rarest folded into other)",
            ["reason"],
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "inhouse_outbox_oldest_pending_seconds",
            "How long the oldest notice still to be delivered has been due",
            registry=r,
        )
        self.outbox_in_flight = Gauge(
            "inhouse_outbox_in_flight",
            "Notices handed to a platform whose outcome is not yet recorded",
            registry=r,
        )
        self.commands_pending = Gauge(
            "inhouse_commands_pending",
            "Quick-files acknowledged and not yet filed (the inbox)",
            registry=r,
        )
        self.escalations = Counter(
            "inhouse_escalations", "Ladder steps fired, by level", ["level"], registry=r
        )
        self.warnings = Counter("inhouse_warnings", "Warnings before a lapse", registry=r)
        self.delivery_latency = Histogram(
            "inhouse_delivery_latency_seconds",
            "From queued to delivered, by channel",
            ["channel"],
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
        )
        self.delivery_failures = Counter(
            "inhouse_delivery_failures",
            "Failed delivery attempts, by channel",
            ["channel"],
            registry=r,
        )
        self.sweep_duration = Histogram(
            "inhouse_sweep_duration_seconds", "Time one SLA sweep took", registry=r
        )

    def dispatched(self, report: DispatchReport) -> None:
        for channel, seconds in report.latencies:
            self.delivery_latency.labels(channel).observe(seconds)
        for channel in report.failures:
            self.delivery_failures.labels(channel).inc()

    def swept(self, report: SweepReport, seconds: float) -> None:
        self.sweep_duration.observe(seconds)
        self.warnings.inc(report.warnings)
        for level, count in report.escalations.items():
            self.escalations.labels(str(level)).inc(count)

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        async with sessions() as session:
            figures = await desk_figures(session, now)
        self.requests.clear()
        for (team, status), count in figures.requests.items():
            self.requests.labels(team, status).set(count)
        self.standards.clear()
        for (team, clock, outcome), count in figures.standards.items():
            self.standards.labels(team, clock, outcome).set(count)
        self.outbox_pending.set(figures.outbox_pending)
        self.outbox_dead.set(figures.outbox_dead)
        self.outbox_dead_by_reason.clear()
        for reason, count in figures.outbox_dead_by_reason.items():
            self.outbox_dead_by_reason.labels(reason).set(count)
        self.outbox_oldest.set(figures.oldest_pending_age_seconds)
        self.outbox_in_flight.set(figures.outbox_in_flight)
        self.commands_pending.set(figures.commands_pending)


def mount(
    app: web.Application,
    metrics: DeskMetrics,
    sessions: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime],
) -> None:
    async def scrape(_: web.Request) -> web.Response:
        await metrics.refresh(sessions, now())
        return web.Response(
            body=generate_latest(metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )

    app.router.add_get("/metrics", scrape)
