"""`fraudwatch up`: start the whole platform in the foreground and keep it running.

This process owns the embedded ClickHouse (chDB allows one process per data directory) and serves
it over ClickHouse's HTTP protocol; it starts the embedded broker, the Faust worker and the
producer API as child processes, restarts a child that dies, and on Ctrl-C / SIGTERM stops the
API first, lets the worker drain what the broker holds into ClickHouse, then stops the rest.
Children are tied to this process with PR_SET_PDEATHSIG, so even a SIGKILL of `up` leaves none
behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

from fraudwatch.auth import new_token
from fraudwatch.broker import (
    consumer_lag,
    die_with_parent,
    ensure_topics,
    start_embedded_broker,
    wait_for_broker,
)
from fraudwatch.errors import BrokerError, FraudwatchError, StorageError
from fraudwatch.metrics import record
from fraudwatch.settings import Settings
from sinks.clickhouse import connect, prepare_schema
from sinks.gateway import ClickHouseGateway

log = logging.getLogger(__name__)

RESTART_BACKOFF_MAX_S = 10.0
DRAIN_TIMEOUT_S = 60.0
STOP_GRACE_S = 15.0
METRICS_INTERVAL_S = 5.0


def new_epoch() -> str:
    return f"e{uuid.uuid4().hex[:12]}"


@dataclass
class Child:
    """A supervised child process: `fraudwatch worker` or `fraudwatch api`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            # A session of its own: Ctrl-C in the terminal reaches `up` alone, which then stops
            # children in order instead of all at once.
            *self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        self.started_at = time.monotonic()
        log.info("started", extra={"child": self.name, "pid": self.process.pid})

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace_s)
        except TimeoutError:
            log.warning("did not stop in time; killing", extra={"child": self.name, "pid": self.process.pid})
            self.process.kill()
            await self.process.wait()


class Platform:
    def __init__(self, settings: Settings) -> None:
        if settings.embedded_broker:
            # An embedded broker starts empty and reuses offsets: a fresh epoch tells its messages apart.
            settings = settings.model_copy(update={"broker_epoch": new_epoch()})
        # A token that `up` makes itself is shown once, so the README flow works; one given is never echoed.
        self.generated_token = settings.dev_token is None and settings.tokens_file is None
        if self.generated_token:
            settings = settings.model_copy(update={"dev_token": SecretStr(new_token())})
        self.settings = settings
        self.gateway: ClickHouseGateway | None = None
        self.broker: subprocess.Popen[bytes] | None = None
        env = settings.child_environment()
        self.worker = Child("worker", [sys.executable, "-m", "fraudwatch", "worker"], env)
        self.api = Child("api", [sys.executable, "-m", "fraudwatch", "api"], env)
        self.dashboards = Child("dashboards", [sys.executable, "-m", "fraudwatch", "dashboards", "serve"], env)
        self._stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self._start()
            self._announce()
            await self._supervise()
        finally:
            await self._stop()
        return 0

    async def _start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if s.embedded_clickhouse:
            try:
                self.gateway = ClickHouseGateway(s.chdb_path, s.host, s.clickhouse_port, s.timezone).start()
            except OSError as exc:
                raise StorageError(
                    f"cannot serve the embedded ClickHouse on {s.host}:{s.clickhouse_port} ({exc.strerror}); "
                    "choose another --clickhouse-port"
                ) from exc
            except RuntimeError as exc:
                raise StorageError(
                    f"cannot open {s.chdb_path}: {exc}. Is another `fraudwatch up` using this --data-dir?"
                ) from exc
        applied = await asyncio.to_thread(lambda: prepare_schema(connect(s), s))
        log.info("schema current", extra={"applied_now": applied})
        await self._start_broker()
        await self.worker.start()
        await self.api.start()
        await self.dashboards.start()
        await self._wait_for_api()

    async def _start_broker(self) -> None:
        s = self.settings
        if s.embedded_broker:
            self.broker = start_embedded_broker(s, s.data_dir / "logs" / "broker.log")
        await wait_for_broker(s.bootstrap_servers)
        partitions = await ensure_topics(s)
        log.info("topics ready", extra={"topics": partitions, "epoch": s.broker_epoch})

    async def _wait_for_api(self, timeout_s: float = 30.0) -> None:
        url = f"http://{self.settings.host}:{self.settings.api_port}/health"
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.api.process and self.api.process.returncode is not None:
                    raise FraudwatchError(
                        f"the producer API exited at start-up (code {self.api.process.returncode}); "
                        f"is port {self.settings.api_port} free? Choose another with --api-port"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise FraudwatchError(f"the producer API did not become ready at {url} within {timeout_s:.0f}s")

    def _announce(self) -> None:
        s = self.settings
        kafka = (
            f"{s.bootstrap_servers}  (embedded Tansu broker, memory only, pid {self.broker.pid})"
            if self.broker
            else f"{s.bootstrap_servers}  (external Kafka)"
        )
        clickhouse = (
            f"{s.clickhouse_endpoint}  (embedded chDB, data in {s.chdb_path.resolve()})"
            if self.gateway
            else f"{s.clickhouse_endpoint}  (external server)"
        )
        lines = [
            "fraudwatch is up",
            f"  producer API  http://{s.host}:{s.api_port}/api/v1/reports   (OpenAPI: /docs)"
            + (f"; {s.api_workers} processes" if s.api_workers > 1 else ""),
            f"  Kafka         {kafka}",
            f"  ClickHouse    {clickhouse}",
            f"  dashboards    http://{s.host}:{s.dashboard_port}/dashboards/overview   (also /leaks, /health)",
            f"  worker        Faust app {s.worker_id!r}, pid {self.worker.pid}; topic {s.raw_topic}",
            f'  query         fraudwatch query "SELECT count() FROM {s.clickhouse_database}.reports"',
        ]
        if s.dev_token is not None and self.generated_token:
            lines.append(
                f"  dev token     {s.dev_token.get_secret_value()}   "
                "(send it as Authorization: Bearer …; fix it with FRAUDWATCH_DEV_TOKEN)"
            )
        lines += [
            "Ctrl-C stops: the API first, then the worker drains the broker into ClickHouse.",
        ]
        print("\n".join(lines), flush=True)

    async def _sample_lag(self) -> None:
        """Consumer lag for the health dashboard; a failed sample is only logged."""
        s = self.settings
        try:
            lag = await asyncio.wait_for(consumer_lag(s, s.worker_id, s.raw_topic), 4)
            await asyncio.to_thread(lambda: record(connect(s), s.clickhouse_database, s.zone, {"consumer_lag": lag}))
        except Exception as exc:
            log.warning("could not sample consumer lag", extra={"error": repr(exc)})

    async def _supervise(self) -> None:
        next_sample = time.monotonic()
        sampling: asyncio.Task[None] | None = None
        while not self._stopping.is_set():
            # Sampled aside, so that a slow or dead broker never delays noticing a dead child.
            if time.monotonic() >= next_sample and (sampling is None or sampling.done()):
                next_sample = time.monotonic() + METRICS_INTERVAL_S
                sampling = asyncio.get_running_loop().create_task(self._sample_lag())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.5)
            if self._stopping.is_set():
                break
            if self.broker is not None and self.broker.poll() is not None:
                await self._recover_broker()
            for child in (self.worker, self.api, self.dashboards):
                if child.process is not None and child.process.returncode is not None:
                    await self._restart(child)

    async def _restart(self, child: Child) -> None:
        code = child.process.returncode if child.process else None
        lived = time.monotonic() - child.started_at
        child.restarts = 0 if lived > 60 else child.restarts + 1
        delay = min(RESTART_BACKOFF_MAX_S, 0.5 * 2 ** max(0, child.restarts - 1)) if child.restarts else 0.0
        log.error(
            "child exited; restarting",
            extra={"child": child.name, "exit_code": code, "restart_in_s": delay, "restarts": child.restarts},
        )
        await asyncio.sleep(delay)
        await child.start()

    async def _recover_broker(self) -> None:
        """The embedded broker died and took what it held with it: say so, restart it empty."""
        assert self.broker is not None
        log.error(
            "embedded broker died; what it held and the worker had not yet written is lost "
            "(memory-only broker; production uses replicated Apache Kafka)",
            extra={"exit_code": self.broker.returncode},
        )
        await self.api.stop()
        await self.worker.stop()
        self.settings = self.settings.model_copy(update={"broker_epoch": new_epoch()})
        env = self.settings.child_environment()
        self.worker.env = self.api.env = self.dashboards.env = env
        await self._start_broker()
        await self.worker.start()
        await self.api.start()

    async def _drain(self) -> None:
        s = self.settings
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        lag, shown = -1, None
        while time.monotonic() < deadline:
            if self.worker.process is None or self.worker.process.returncode is not None:
                await self._restart(self.worker)
            try:
                lag = await consumer_lag(s, s.worker_id, s.raw_topic)
            except Exception as exc:
                log.warning("cannot read consumer lag", extra={"error": str(exc)})
                lag = -1
            if lag == 0:
                log.info("drained: ClickHouse holds everything the broker held")
                return
            if lag != shown:
                print(f"draining: {lag if lag >= 0 else '?'} messages left", flush=True)
                shown = lag
            await asyncio.sleep(0.5)
        log.error("drain timed out; undrained messages are lost with the broker", extra={"lag": lag})

    async def _stop(self) -> None:
        print("stopping: API", flush=True)
        await self.api.stop()
        await self.dashboards.stop()
        if self.broker is not None and self.broker.poll() is None:
            with contextlib.suppress(FraudwatchError, BrokerError):
                await self._drain()
        print("stopping: worker", flush=True)
        await self.worker.stop()
        if self.broker is not None:
            print("stopping: broker", flush=True)
            self.broker.terminate()
            try:
                await asyncio.to_thread(self.broker.wait, STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.broker.kill()
        if self.gateway is not None:
            self.gateway.stop()
        print("stopped", flush=True)
