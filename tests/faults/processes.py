"""Real `inhouse serve` / `inhouse worker` processes, started, killed and restarted
the way an operator (or an orchestrator) does: SIGKILL, SIGTERM, start again.

Each start is a new process with the same settings and port, its own log file
(`serve-a.1.log`, `serve-a.2.log`, ...). Everything listens on 127.0.0.1 only
(the app binds 0.0.0.0; the suite's traffic and its fakes stay on loopback).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.e2e.cli import Inhouse
from tests.faults.desk import SIGNING_SECRET
from tests.ports import free_port

STARTUP_SECONDS = 90.0


@dataclass
class Replica:
    """One `inhouse serve` (or `worker`) replica, across its restarts."""

    name: str
    machine: Inhouse
    slack_api_url: str
    slack_token: str
    kind: str = "serve"
    port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)
    _ready_now: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def ready(self) -> bool:
        """Started and answering (what a load balancer's health check sees), until
        it is killed or told to stop."""
        return self._ready_now and self.alive

    def env(self) -> dict[str, str]:
        return self.machine.env(
            PORT=str(self.port),
            SLACK_BOT_TOKEN=self.slack_token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=self.slack_api_url,
            INHOUSE_TIMEZONE="UTC",
        )

    async def start(self) -> None:
        self.starts += 1
        log = self.machine.workdir / f"{self.name}.{self.starts}.log"
        self.logs.append(log)
        with log.open("wb") as sink:
            self.process = await asyncio.create_subprocess_exec(
                *self.machine.command(self.kind),
                cwd=self.machine.workdir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        await self._ready()
        self._ready_now = True

    async def _ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if not self.alive:
                    raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
                if self.kind == "worker":
                    if "scheduler on" in self.logs[-1].read_text(errors="replace"):
                        return
                else:
                    try:
                        async with http.get(
                            f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(total=2)
                        ) as answer:
                            if answer.status == 200:
                                return
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {STARTUP_SECONDS}s:\n{self.log_tail()}")

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as an OOM kill or a power cut."""
        assert self.process is not None
        self._ready_now = False
        os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    async def terminate(self, grace: float) -> tuple[int | None, float]:
        """SIGTERM, then SIGKILL after `grace` seconds (an orchestrator's stop):
        the exit status (None if it had to be killed) and the seconds it took."""
        assert self.process is not None
        started = time.monotonic()
        self._ready_now = False
        self.process.terminate()
        try:
            status = await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            await self.kill()
            return None, time.monotonic() - started
        return status, time.monotonic() - started

    async def stop_quietly(self) -> None:
        """At the end of a run, whatever state it is in."""
        if self.alive:
            assert self.process is not None
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                await self.kill()

    def log_text(self) -> str:
        return "\n".join(
            f"--- {log.name} ---\n{log.read_text(errors='replace')}"
            for log in self.logs
            if log.exists()
        )

    def log_tail(self, lines: int = 40) -> str:
        if not self.logs or not self.logs[-1].exists():
            return "(no log)"
        return "\n".join(self.logs[-1].read_text(errors="replace").splitlines()[-lines:])


def apply_catalog(machine: Inhouse, catalog: str) -> None:
    """`inhouse catalog apply` on the fresh database (which migrates it too)."""
    path = machine.workdir / "faults.yaml"
    path.write_text(catalog)
    machine.ok("catalog", "apply", str(path))
