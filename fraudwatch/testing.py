"""Test doubles and harness shipped with the code: a whole `fraudwatch up` on free ports, a report
maker, and scanners that look for raw identifiers in every topic and table.

Used by the integration tests and by `fraudwatch faults`; nothing here is a fake: it drives the real
processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from fraudwatch.broker import die_with_parent, end_offsets

DEV_TOKEN = "fw_integration-test-token"
AUTH = {"Authorization": f"Bearer {DEV_TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def report_json(i: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": f"有人冒充淘宝客服说要退款，我扫码后被骗，第{i}号",
        "region_code": ("420106", "110105", "440305", "510107")[i % 4],
        "amount_lost": f"{100 + i}.50",
        "channel": "app",
    }
    body.update(overrides)
    return body


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it runs nothing and holds no port.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


@dataclass
class RunningPlatform:
    """A `fraudwatch up` process tree started by a test, on ports and a data directory of its own."""

    data_dir: Path
    api_port: int = field(default_factory=free_port)
    broker_port: int = field(default_factory=free_port)
    clickhouse_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    process: subprocess.Popen[str] | None = None
    log_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
        env.update(
            FRAUDWATCH_DATA_DIR=str(self.data_dir),
            FRAUDWATCH_API_PORT=str(self.api_port),
            FRAUDWATCH_BROKER_PORT=str(self.broker_port),
            FRAUDWATCH_CLICKHOUSE_PORT=str(self.clickhouse_port),
            FRAUDWATCH_DASHBOARD_PORT=str(self.dashboard_port),
            FRAUDWATCH_DEV_TOKEN=DEV_TOKEN,
        )
        env.update(self.extra_env)
        return env

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def clickhouse(self) -> str:
        return f"http://127.0.0.1:{self.clickhouse_port}"

    def start(self, timeout_s: float = 60) -> RunningPlatform:
        self.log_path = self.data_dir / f"up-{int(time.time() * 1000)}.log"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fraudwatch", "up"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=die_with_parent,  # a crashed test run leaves no platform behind
        )
        wait_until(self._ready, timeout_s, "fraudwatch up to announce itself")
        return self

    def _ready(self) -> bool:
        assert self.process is not None and self.log_path is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"fraudwatch up exited early:\n{self.log_path.read_text()[-3000:]}")
        return "fraudwatch is up" in self.log_path.read_text()

    def output(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def child_pid(self, name: str) -> int:
        assert self.process is not None
        for pid in children_of(self.process.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:  # it exited between the listing and the look
                continue
            if name.encode() in cmdline and alive(pid):
                return pid
        raise LookupError(f"no live {name} child of fraudwatch up")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 90) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout_s)

    def query(self, sql: str) -> Any:
        client = clickhouse_connect.get_client(dsn=self.clickhouse)
        try:
            return client.query(sql).result_rows
        finally:
            client.close()

    def post_reports(self, count: int, start: int = 0) -> list[str]:
        ids: list[str] = []
        with httpx.Client(base_url=self.api, timeout=10, headers=AUTH) as client:
            for i in range(start, start + count):
                response = client.post("/api/v1/reports", json=report_json(i))
                if response.status_code != 202:
                    raise RuntimeError(f"report {i} refused: {response.status_code} {response.text}")
                ids.append(response.json()["report_id"])
        return ids


async def topic_values(bootstrap: str) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        topics = await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        ends = await end_offsets(consumer, tps)
        await consumer.seek_to_beginning(*tps)
        values: list[str] = []
        while True:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                return values
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                values += [(r.key or b"").decode(errors="replace") + (r.value or b"").decode(errors="replace")
                           for r in records]  # fmt: skip
    finally:
        await consumer.stop()


def clickhouse_texts(query: Callable[[str], list[Any]], database: str) -> list[str]:
    columns = query(
        f"SELECT table, name FROM system.columns WHERE database = '{database}' "
        "AND type LIKE '%String%' AND type NOT LIKE 'AggregateFunction%'"
    )
    texts: list[str] = []
    for table, column in columns:
        texts += [str(value) for (value,) in query(f"SELECT DISTINCT `{column}` FROM {database}.`{table}`")]
    return texts


def raw_identifiers_in(texts: Iterable[str], identifiers: Iterable[str]) -> int:
    wanted = set(identifiers)
    return sum(1 for text in texts for identifier in wanted if identifier in text)


class WebhookReceiver:
    """A real HTTP server on a free port that takes alert webhook posts, as an on-call tool would.

    It answers with the statuses queued in `answers` first (e.g. [503, 503] to make the sender retry),
    then 200, and keeps every post with its headers, in order.
    """

    def __init__(self, answers: Iterable[int] = ()) -> None:
        self.answers = list(answers)
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    if status < 300:
                        receiver.posts.append((dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
