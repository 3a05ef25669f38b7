"""The two sides of `bench.slack_ack`: the server subprocess under test, seen from
the load generator, and the load itself (signed `/request` slash commands)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bench.slack_ack_server import SECRET, SOURCE_CHANNEL, USERS, channel_stats
from tests.adapters.slack.driver import SlackDriver

ROOT = Path(__file__).resolve().parents[1]
SLACK_DEADLINE = 3.0  # Slack shows the user an error when the ack takes longer
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
UNLOADED = 50  # sequential requests measured before the load


# --- the server under test -----------------------------------------------------------


@dataclass
class Server:
    kind: str  # "ours" or "bare"
    label: str
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    port: int = 0
    started_in: float = 0.0
    final: dict[str, Any] = field(default_factory=dict)
    fake: Any = None  # the FakeSlack its Web API calls go to, in this process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        log = self.workdir / "server.log"
        if not log.exists():
            return "(no log)"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    async def start(
        self,
        slack_api_url: str,
        dispatch_interval: float,
        lock_timing: bool = False,
        database_url: str | None = None,
    ) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with (self.workdir / "server.log").open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.slack_ack_server",
                self.kind,
                "--workdir",
                str(self.workdir),
                "--slack-api-url",
                slack_api_url,
                "--dispatch-interval",
                str(dispatch_interval),
                *(["--lock-timing"] if lock_timing and self.kind == "ours" else []),
                *(["--database-url", database_url] if database_url and self.kind == "ours" else []),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), STARTUP_TIMEOUT)
        except TimeoutError:
            line = b""
        if not line:
            await self.kill()
            raise RuntimeError(f"{self.label} server did not start:\n{self.log_tail()}")
        self.port = int(json.loads(line)["port"])
        self.started_in = time.perf_counter() - started

    async def stats(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get(f"{self.url}/bench/stats") as response:
            response.raise_for_status()
            return {**await response.json(), **channel_stats(self.fake)}

    def cpu_seconds(self) -> float:
        """utime + stime of the server process, all its threads included."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        """SIGTERM, wait for a clean exit, read the figures it wrote."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                await self.kill()
                raise RuntimeError(
                    f"{self.label} server did not stop in time:\n{self.log_tail()}"
                ) from None
        if self.process.returncode != 0:
            raise RuntimeError(
                f"{self.label} server exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        stats = self.workdir / "stats.json"
        self.final = json.loads(stats.read_text()) if stats.exists() else {}
        self.final.update(channel_stats(self.fake))

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


# --- load -----------------------------------------------------------------------------


@dataclass
class Outcome:
    latency: float  # seconds
    ok: bool  # HTTP 200 (and, for ours, the acknowledgement says "Filing your request…")
    status: int  # 0: transport error
    number: int = 0  # which command: its response_url ends in /response/<number>
    since: float = 0.0  # loop.time() its latency counts from
    # Ours, filled in from its response_url once the load stopped: the key it filed.
    key: str | None = None
    confirmed_in: float | None = None  # seconds from `since` to that answer


@dataclass
class Phase:
    name: str
    outcomes: list[Outcome]
    elapsed: float  # first scheduled send to last response
    server_cpu: float  # seconds
    loadgen_cpu: float  # seconds
    listeners_after: int = 0  # Bolt listeners still at work when the last response came
    outbox_after: int | None = None  # ours: notices still pending when the load stopped
    commands_after: int | None = None  # ours: quick-files accepted, not yet filed
    settled_in: float | None = None  # seconds until the server was quiet again
    settle_limit: float = 0.0  # how long it was given
    left_over: dict[str, Any] = field(default_factory=dict)  # its figures when it moved on
    begin_seconds: list[float] | None = None  # ours with --lock-timing: each BEGIN's wait

    @property
    def statuses(self) -> str:
        """The failures by HTTP status (0: transport error), e.g. "404×12"."""
        failed = Counter(o.status for o in self.outcomes if not o.ok)
        return ", ".join(f"{status}×{n}" for status, n in sorted(failed.items())) or "-"

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def ok(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def non_200(self) -> int:
        return sum(1 for o in self.outcomes if o.status not in (0, 200))

    @property
    def transport_errors(self) -> int:
        return sum(1 for o in self.outcomes if o.status == 0)

    @property
    def not_filed(self) -> int:
        return sum(1 for o in self.outcomes if o.status == 200 and not o.ok)

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def over_deadline(self) -> int:
        return sum(1 for o in self.outcomes if o.latency > SLACK_DEADLINE)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of all latencies, in milliseconds."""
        return nearest_rank_ms([o.latency for o in self.outcomes], p)

    @property
    def max_ms(self) -> float:
        return max((o.latency for o in self.outcomes), default=float("nan")) * 1000

    def confirmed_percentile(self, p: float) -> float:
        """Ours: nearest-rank percentile, in ms, of the time until the answer with the
        key reached the response_url (acknowledged commands that got one)."""
        confirmed = [o.confirmed_in for o in self.outcomes if o.confirmed_in is not None]
        return nearest_rank_ms(confirmed, p)


def nearest_rank_ms(seconds: list[float], p: float) -> float:
    ordered = sorted(seconds)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


class ResponseUrls:
    """Slack's side of the response_url: every command's answer after the
    acknowledgement is posted here, in the load generator (as at Slack, not on the
    server under test), and kept with the time it arrived."""

    def __init__(self) -> None:
        self.answers: dict[int, list[tuple[float, str]]] = {}
        self._runner: aiohttp.web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        from aiohttp import web

        async def answer(request: web.Request) -> web.Response:
            body = await request.json()
            number = int(request.match_info["number"])
            arrived = asyncio.get_running_loop().time()
            self.answers.setdefault(number, []).append((arrived, str(body.get("text", ""))))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/response/{number}", answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/response"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def filing_texts() -> set[str]:
    """Ours' acknowledgement of a quick-file in every language the desk ships."""
    from models.i18n import _, reader, shipped_languages

    texts = set()
    for language in shipped_languages():
        with reader(language, "UTC"):
            texts.add("⏳ " + _("Filing your request…"))
    return texts


def filed_patterns() -> list[re.Pattern[str]]:
    """`Filed IT-n: ` at the start of the answer, in every language the desk ships
    (the catalog's requesters read English, German or Italian), built from the
    product's own message so a translation change cannot break the check."""
    from models.i18n import _, reader, shipped_languages

    patterns = []
    for language in sorted(shipped_languages()):
        with reader(language, "UTC"):
            text = _("Filed {key}: {title}.", key="\x00", title="\x01")
        before, _sep, rest = text.partition("\x00")
        between = rest.partition("\x01")[0]
        patterns.append(re.compile(re.escape(before) + r"(IT-\d+)" + re.escape(between)))
    return patterns


class Load:
    """Signed `/request it <text>` slash commands, exactly as Slack posts them."""

    def __init__(
        self,
        server: Server,
        http: aiohttp.ClientSession,
        run_id: str,
        responses: ResponseUrls,
    ) -> None:
        self.server = server
        self.responses = responses
        self.http = http
        self.run_id = run_id
        self.users = itertools.cycle(USERS)
        self.numbers = itertools.count(1)
        self.verifier = SignatureVerifier(SECRET)
        self.triggers = itertools.count(1)
        self.shape = SlackDriver(server.url, SECRET, self._trigger, None)
        self.expect_filed = server.kind == "ours"
        self.filing = filing_texts()
        self.filed = filed_patterns()

    def _trigger(self) -> str:
        n = next(self.triggers)
        return f"{n}.{1_700_000_000_000 + n}.bench{n:08x}"

    def _signed(self) -> tuple[int, bytes, dict[str, str]]:
        n = next(self.numbers)
        text = f"it Bench {self.run_id} #{n}: printer on floor {n % 7} jams"
        body = self.shape.command_body(
            next(self.users), text, SOURCE_CHANNEL, f"{self.responses.url}/{n}"
        )
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=stamp, body=body),
        }
        return n, body.encode(), headers

    async def one(self, since: float) -> Outcome:
        """One command; latency from `since` (a loop.time()) to the full response."""
        loop = asyncio.get_running_loop()
        n, body, headers = self._signed()
        try:
            async with self.http.post(
                f"{self.server.url}/slack/events", data=body, headers=headers
            ) as response:
                answer = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            return Outcome(loop.time() - since, False, 0, n, since)
        latency = loop.time() - since
        if status != 200:
            return Outcome(latency, False, status, n, since)
        if not self.expect_filed:
            return Outcome(latency, True, status, n, since)
        try:
            text = str(json.loads(answer)["text"])
        except (ValueError, KeyError, TypeError):
            return Outcome(latency, False, status, n, since)
        return Outcome(latency, text in self.filing, status, n, since)

    def confirm(self, outcomes: list[Outcome]) -> None:
        """Ours: match each acknowledged command with the answer at its response_url."""
        for outcome in outcomes:
            answers = self.responses.answers.get(outcome.number, [])
            if not outcome.ok or len(answers) != 1:
                continue
            arrived, text = answers[0]
            for pattern in self.filed:
                found = pattern.match(text)
                if found:
                    outcome.key = found.group(1)
                    outcome.confirmed_in = arrived - outcome.since

    async def sequential(self, count: int) -> tuple[list[Outcome], float]:
        """One connection, one request at a time: the latency without any queue."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        outcomes = [await self.one(loop.time()) for _ in range(count)]
        return outcomes, loop.time() - start

    async def paced(self, rate: float, seconds: float) -> tuple[list[Outcome], float]:
        """Open loop: request i is due at start + i/rate, whatever came back so far."""
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        tasks: list[asyncio.Task[Outcome]] = []
        for i in range(round(rate * seconds)):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.one(due)))
        outcomes = list(await asyncio.gather(*tasks))
        return outcomes, loop.time() - start

    async def saturated(self, connections: int, seconds: float) -> tuple[list[Outcome], float]:
        """Closed loop: each connection sends its next request when the last returns."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        end = start + seconds
        outcomes: list[Outcome] = []

        async def connection() -> None:
            while loop.time() < end:
                outcomes.append(await self.one(loop.time()))

        await asyncio.gather(*(connection() for _ in range(connections)))
        return outcomes, loop.time() - start


@dataclass
class Measured:
    """One server's run: its phases, and every outcome for the correctness checks."""

    server: Server
    unloaded: Phase
    paced: Phase
    saturated: Phase
    warmup: list[Outcome]
    # What reached each command's response_url: {number: [(loop.time(), text)]}.
    answers: dict[int, list[tuple[float, str]]] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.warmup + self.unloaded.outcomes + self.paced.outcomes + self.saturated.outcomes
