"""The fault scenarios of issue 13 ("Proof"): what is killed, cut or delayed, and when
(seconds after the stream of quick-files began).

Every scenario streams 10 quick-files a second at the desk (1 a second during the
10-minute outages), one in five to the team with the 20 s standard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from tests.faults.harness import Run, Scenario

OUTAGE_AT = 3.0
OUTAGE_SECONDS = 20.0
LONG_OUTAGE_SECONDS = 600.0
PG_DOWN_SECONDS = 10.0
SIGTERM_GRACE = 30.0  # what an orchestrator gives before SIGKILL (Kubernetes: 30 s)
SLOW_SLACK = 0.5  # seconds Slack takes to answer around a kill


async def kill_and_restart(run: Run, *, victim: int, down: float) -> None:
    """`kill -9` one replica mid-stream while a post of its is on the way to Slack,
    start it again `down` seconds later.

    Slack answers SLOW_SLACK late from just before the kill until the restart: on
    loopback the fake answers in a millisecond or two, a window a kill would
    almost never hit; real Slack takes a few hundred. The kill waits (at most 5 s)
    for a notice of the victim marked in flight."""
    await run.at(run.seconds * 0.45)
    replica = run.replicas[victim]
    run.fake.blackout("delay", 120, delay=SLOW_SLACK)
    await run.posting(replica)
    kill = await run.kill(replica)
    await asyncio.sleep(down)
    await run.restart(replica)
    kill.back_in = (datetime.now(UTC) - kill.at).total_seconds()
    run.fake.end_blackout()
    run.fault_over()


async def kill9(run: Run) -> None:
    await kill_and_restart(run, victim=0, down=1.0)


async def replica_kill(run: Run) -> None:
    await kill_and_restart(run, victim=1, down=5.0)


async def sigterm(run: Run) -> None:
    """Slack slows down (answers 1 s late) so work piles up; then SIGTERM, as a
    deploy does; the process gets 30 s to stop before SIGKILL; start it again."""
    await run.at(run.seconds * 0.3)
    run.fake.blackout("delay", run.seconds, delay=1.0)
    run.note("Slack answers 1 s late")
    await run.at(run.seconds * 0.5)
    replica = run.replicas[0]
    with run.db.tolerant():
        run.figures.pending_at_stop = run.db.unsettled()
    run.note(f"SIGTERM {replica.name} with {run.figures.pending_at_stop} queued")
    status, took = await replica.terminate(SIGTERM_GRACE)
    run.figures.stop_status, run.figures.stop_seconds = status, took
    run.note(
        f"{replica.name} exited {status} after {took:.1f}s"
        if status is not None
        else f"{replica.name} did not stop within {SIGTERM_GRACE:.0f}s: SIGKILL"
    )
    run.fake.end_blackout()
    await run.restart(replica)
    run.fault_over()


async def postgres_stop(run: Run) -> None:
    """PostgreSQL stopped as a crash stops it (immediate), 10 s, started again."""
    assert run.pg is not None
    await run.at(run.seconds * 0.3)
    await asyncio.to_thread(run.pg.halt)
    run.note("PostgreSQL stopped (immediate)")
    await asyncio.sleep(PG_DOWN_SECONDS)
    await asyncio.to_thread(run.pg.resume)
    run.note("PostgreSQL started again")
    run.fault_over()


def slack_outage(
    mode: str, seconds: float, retry_after: int = 5
) -> Callable[[Run], Awaitable[None]]:
    async def outage(run: Run) -> None:
        await run.at(OUTAGE_AT)
        run.fake.blackout(mode, seconds, retry_after=retry_after)
        run.note(f"Slack outage: {mode} for {seconds:.0f}s")
        await run.at(OUTAGE_AT + seconds)
        run.fake.end_blackout()
        run.note("Slack back")
        run.fault_over()

    return outage


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "kill9",
            "kill -9 of serve under 10 quick-files/s, restart 1 s later",
            ("sqlite", "postgresql"),
            kill9,
            seconds=40,
            quick_seconds=16,
        ),
        Scenario(
            "replicas",
            "three serve replicas on one PostgreSQL, one killed (-9), restarted 5 s later",
            ("postgresql",),
            replica_kill,
            seconds=40,
            quick_seconds=16,
            replicas=3,
        ),
        Scenario(
            "sigterm",
            "SIGTERM with work pending (Slack answering 1 s late), restart",
            ("sqlite", "postgresql"),
            sigterm,
            seconds=30,
            quick_seconds=20,
        ),
        Scenario(
            "pg-stop",
            "PostgreSQL stopped (immediate) for 10 s under a serve and a worker",
            ("postgresql",),
            postgres_stop,
            seconds=40,
            quick_seconds=25,
            workers=1,
        ),
        Scenario(
            "slack-503",
            "Slack answering 503 to everything for 20 s",
            ("sqlite", "postgresql"),
            slack_outage("503", OUTAGE_SECONDS),
            seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
            quick_seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
        ),
        Scenario(
            "slack-429",
            "Slack answering 429 (Retry-After: 5) to everything for 20 s",
            ("sqlite", "postgresql"),
            slack_outage("429", OUTAGE_SECONDS),
            seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
            quick_seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
        ),
        Scenario(
            "slack-cut",
            "every connection to Slack cut without an answer for 20 s",
            ("sqlite", "postgresql"),
            slack_outage("cut", OUTAGE_SECONDS),
            seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
            quick_seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
        ),
        Scenario(
            "slack-lost",
            "Slack acting on every call but its answers lost for 20 s",
            ("sqlite", "postgresql"),
            slack_outage("lost", OUTAGE_SECONDS),
            seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
            quick_seconds=OUTAGE_AT + OUTAGE_SECONDS + 3,
        ),
        Scenario(
            "slack-503-10m",
            "Slack answering 503 for 10 minutes (1 quick-file/s)",
            ("sqlite", "postgresql"),
            slack_outage("503", LONG_OUTAGE_SECONDS),
            seconds=OUTAGE_AT + LONG_OUTAGE_SECONDS + 3,
            quick_seconds=OUTAGE_AT + LONG_OUTAGE_SECONDS + 3,
            rate=1.0,
            settle_limit=420,
            bench_only=True,
        ),
        Scenario(
            "slack-429-10m",
            "Slack answering 429 (Retry-After: 5) for 10 minutes (1 quick-file/s)",
            ("sqlite", "postgresql"),
            slack_outage("429", LONG_OUTAGE_SECONDS),
            seconds=OUTAGE_AT + LONG_OUTAGE_SECONDS + 3,
            quick_seconds=OUTAGE_AT + LONG_OUTAGE_SECONDS + 3,
            rate=1.0,
            settle_limit=420,
            bench_only=True,
        ),
    )
}

# What the bench runs unless told otherwise (the cut and lost modes are opt-in:
# --scenario slack-cut / slack-lost).
DEFAULT = ("kill9", "replicas", "sigterm", "pg-stop", "slack-503", "slack-429")
LONG = tuple(name for name, scenario in SCENARIOS.items() if scenario.bench_only)
