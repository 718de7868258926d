"""Benchmark of the leak index at scale: load rate, join lookups, and the worker's memory and restart time.

Not a test. Runs the platform's pieces as in production, each in its own process: the embedded
ClickHouse behind its HTTP gateway (what `fraudwatch up` serves), `fraudwatch leaks load` as a
command, the embedded broker and a Faust worker. Steps:

1. generates a leak CSV of --records records (vectorised with numpy and Arrow, written in blocks):
   name, phone, ID-card number, address for half, bank card for a tenth, location for 2%, and one
   malformed phone in 10,000 rows;
2. loads it with `fraudwatch leaks load` and prints the load rate (target: 26 million records in
   under 10 minutes on 2 cores);
3. looks up batches of --lookup-batch hashed identifiers (half of them in the index) through the
   gateway with `sinks.leaks.LeakIndex`, the worker's lookup, and prints lookups per second;
4. starts a worker against the loaded database and against an empty one and prints, for each, the
   time from process start to the first report written and the worker's resident memory, then the
   same after a SIGKILL and restart. The index lives in ClickHouse, so these should not depend on its
   size: they are the worker's baseline;
5. with the gateway stopped, opens the data directory in this process and repeats the lookups with
   bound parameters (what a ClickHouse server, or a gateway taking form-encoded parameters, gets).

    python benchmarks/bench_leaks.py                     # 26,000,000 records
    python benchmarks/bench_leaks.py --records 1000000   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import clickhouse_connect
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from clickhouse_connect.driver.client import Client
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fraudwatch.broker import ensure_topics, start_embedded_broker, wait_for_broker
from fraudwatch.leaks import KeyedHasher
from fraudwatch.pii import IdentifierKind
from fraudwatch.settings import Settings
from sinks.leaks import LeakIndex
from sinks.migrate import migrate
from streams.envelope import SanitisedReport, encode_envelope

DATABASE = "fraudwatch"
EMPTY_DATABASE = "fraudwatch_noleaks"
KEY = "benchmark-hash-key"
ZONE = ZoneInfo("Asia/Shanghai")
TARGET_S = 600.0
NAMES = [
    f"{s}{g}" for s in "王李张刘陈杨黄赵吴周" for g in ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇")
]
ADDRESSES = [
    f"{c}市{d}区{n}号" for c in ("北京", "上海", "武汉", "成都", "深圳") for d in ("东", "西", "南") for n in range(7)
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def phones(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
    return 13_000_000_000 + rng.integers(0, 7_000_000_000, n)


def generate(path: Path, records: int, seed: int, block: int = 1_000_000) -> float:
    """A leak CSV written block by block; returns the seconds it took."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    names = pa.array(NAMES)
    addresses = pa.array(ADDRESSES)
    check = pa.array(list("0123456789X"))
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    writer: pacsv.CSVWriter | None = None
    for start in range(0, records, block):
        n = min(block, records - start)
        phone = pc.cast(pa.array(phones(rng, n)), pa.string())
        bad = rng.random(n) < 0.0001
        phone = pc.if_else(pa.array(bad), pa.scalar("12x4"), phone)  # malformed, as real dumps have
        body = (
            rng.integers(110000, 660000, n) * 10**11
            + rng.integers(19500101, 20051231, n) * 1000
            + rng.integers(0, 1000, n)
        )
        id_card = pc.binary_join_element_wise(
            pc.cast(pa.array(body), pa.string()), pc.take(check, pa.array(rng.integers(0, 11, n))), ""
        )
        empty = pa.scalar("")
        table = pa.table(
            {
                "姓名": pc.take(names, pa.array(rng.integers(0, len(NAMES), n))),
                "手机号": phone,
                "身份证": id_card,
                "地址": pc.if_else(
                    pa.array(rng.random(n) < 0.5),
                    pc.take(addresses, pa.array(rng.integers(0, len(ADDRESSES), n))),
                    empty,
                ),
                "银行卡": pc.if_else(
                    pa.array(rng.random(n) < 0.1),
                    pc.cast(pa.array(6_222_000_000_000_000 + rng.integers(0, 10**12, n)), pa.string()),
                    empty,
                ),
                "位置": pc.if_else(pa.array(rng.random(n) < 0.02), pa.scalar("30.5N 114.3E"), empty),
            }
        )
        if writer is None:
            writer = pacsv.CSVWriter(str(path), table.schema, write_options=options)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return time.perf_counter() - started


def serve(path: str, port: int) -> None:
    """The gateway process (what `fraudwatch up` runs): owns the chDB engine until terminated."""
    from sinks.gateway import ClickHouseGateway

    gateway = ClickHouseGateway(Path(path), "127.0.0.1", port, "UTC").start()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    while not stop:
        time.sleep(0.2)
    gateway.stop()


def start_gateway(path: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(path), str(port)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gateway did not come up")


def load_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_CLICKHOUSE_URL=url, FRAUDWATCH_CLICKHOUSE_DATABASE=DATABASE, FRAUDWATCH_HASH_KEY=KEY)
    return env


def sample_identifiers(client: Client, wanted: int) -> list[str]:
    rows = client.query(
        f"SELECT identifier FROM {DATABASE}.leak_records WHERE cityHash64(identifier) % 97 = 13 LIMIT {wanted}"
    ).result_rows
    return [str(r[0]) for r in rows]


def lookups(index: LeakIndex, known: list[str], batch: int, runs: int, seed: int) -> tuple[float, float, float]:
    """(identifiers per second, p50 ms, p95 ms) for batches half known, half unknown."""
    rng = np.random.default_rng(seed)
    hasher = KeyedHasher(b"not-the-key")
    times = []
    for run in range(runs):
        hits = [known[int(i)] for i in rng.integers(0, len(known), batch // 2)]
        misses = [hasher.hash(IdentifierKind.PHONE, f"1{run:04d}{i:06d}") for i in range(batch - len(hits))]
        started = time.perf_counter()
        found = index.lookup(hits + misses)
        times.append(time.perf_counter() - started)
        assert len(found) == len(set(hits)), (len(found), len(set(hits)))
    times.sort()
    return batch * runs / sum(times), statistics.median(times) * 1000, times[int(0.95 * (len(times) - 1))] * 1000


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def report(i: int) -> SanitisedReport:
    now = datetime.now(ZONE)
    return SanitisedReport(
        report_id=f"bench-{i}-{time.time_ns()}", reported_at=now, occurred_at=now - timedelta(hours=1), channel="app",
        region_code="420106", amount_lost_fen=1000, description="网络游戏装备交易被骗",
        victim_phone_hash=KeyedHasher(KEY.encode()).hash(IdentifierKind.PHONE, f"139{i:08d}"),
    )  # fmt: skip


async def produce(settings: Settings, payload: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.raw_topic, payload, key=b"k")
    finally:
        await producer.stop()


def worker_run(
    settings: Settings, client: Client, log: Path, index: int
) -> tuple[float, float, subprocess.Popen[bytes]]:
    """Start a worker with one report waiting; (seconds until it is in ClickHouse, RSS MB then, process)."""
    marker = report(index)
    asyncio.run(produce(settings, encode_envelope(settings.broker_epoch, [marker])))
    started = time.perf_counter()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fraudwatch", "worker"], env=settings.child_environment(), stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    query = f"SELECT count() FROM {settings.clickhouse_database}.reports WHERE report_id = {{r:String}}"
    while client.query(query, parameters={"r": marker.report_id}).result_rows[0][0] == 0:
        if process.poll() is not None or time.perf_counter() - started > 180:
            raise RuntimeError(f"worker did not write the report; see {log}")
        time.sleep(0.05)
    ready = time.perf_counter() - started
    time.sleep(2)  # settled, after its first flushes
    return ready, rss_mb(process.pid), process


def worker_figures(url: str, work: Path) -> list[tuple[str, float, float]]:
    broker_settings = Settings(data_dir=work, broker_port=free_port())
    broker = start_embedded_broker(broker_settings, work / "broker.log")
    try:
        asyncio.run(wait_for_broker(broker_settings.bootstrap_servers))
        client = clickhouse_connect.get_client(dsn=url)
        results = []
        for database, label in ((DATABASE, "loaded index"), (EMPTY_DATABASE, "empty index")):
            settings = Settings(
                data_dir=work, kafka_bootstrap=broker_settings.bootstrap_servers, clickhouse_url=url,
                clickhouse_database=database, topic_prefix=f"bench{database}", worker_id=f"bench-{database}",
                broker_epoch="e1", raw_partitions=4, hash_key=SecretStr(KEY),
            )  # fmt: skip
            asyncio.run(ensure_topics(settings))
            ready, rss, process = worker_run(settings, client, work / f"worker-{database}.log", 1)
            results.append((f"{label}: first start", ready, rss))
            process.kill()
            process.wait(10)
            ready, rss, process = worker_run(settings, client, work / f"worker-{database}.log", 2)
            results.append((f"{label}: after SIGKILL", ready, rss))
            process.terminate()
            process.wait(30)
        return results
    finally:
        broker.terminate()
        broker.wait(10)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=26_000_000)
    parser.add_argument("--lookup-batch", type=int, default=5000)
    parser.add_argument("--lookup-runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="Keep files here instead of a temporary directory")
    parser.add_argument("--skip-worker", action="store_true", help="Skip the worker memory/restart figures")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the broker's start-up connection retries are expected
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-leaks-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}; work dir {work}")

    leak_csv = work / "leak.csv"
    seconds = generate(leak_csv, args.records, args.seed)
    print(f"generated {args.records:,} records ({leak_csv.stat().st_size / 1e9:.2f} GB) in {seconds:.0f} s")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = start_gateway(work / "chdb", port)
    try:
        client = clickhouse_connect.get_client(dsn=url)
        migrate(client, DATABASE, "Asia/Shanghai")
        migrate(client, EMPTY_DATABASE, "Asia/Shanghai")
        command = [sys.executable, "-c", "from fraudwatch.leaks_cmd import leaks; leaks()", "load", str(leak_csv),
                   "--batch-id", "BENCH-1", "--source", "hacker", "--industry", "express_delivery",
                   "--errors-file", str(work / "skipped.txt")]  # fmt: skip
        gateway_cpu = cpu_seconds(gateway.pid)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        loaded = subprocess.run(command, env=load_env(url), capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        loader_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        gateway_cpu = cpu_seconds(gateway.pid) - gateway_cpu
        print(loaded.stdout.strip())
        if loaded.returncode not in (0, 1):
            raise SystemExit(f"load failed:\n{loaded.stderr[-3000:]}")
        full = 26_000_000 * seconds / args.records
        verdict = "under" if full < TARGET_S else "OVER"
        print(
            f"LOAD: {args.records:,} records in {seconds:.0f} s = {args.records / seconds:,.0f} records/s; "
            f"26,000,000 at this rate: {full / 60:.1f} min ({verdict} the {TARGET_S / 60:.0f}-minute target; "
            f"load average now {os.getloadavg()[0]:.1f})"
        )
        # On a shared machine the wall time says little alone: the CPU each side used is what it costs.
        print(f"  CPU: loader {loader_cpu:.0f} s, ClickHouse (gateway process) {gateway_cpu:.0f} s so far")
        index_rows = client.query(f"SELECT count() FROM {DATABASE}.leak_records").result_rows[0][0]
        disk = client.query(
            "SELECT formatReadableSize(sum(bytes_on_disk)) FROM system.parts "
            f"WHERE database = '{DATABASE}' AND table = 'leak_records' AND active"
        ).result_rows[0][0]
        print(f"index: {index_rows:,} rows (before background merges finish), {disk} on disk")

        known = sample_identifiers(client, 50_000)
        index = LeakIndex(client, DATABASE)
        rate, p50, p95 = lookups(index, known, args.lookup_batch, args.lookup_runs, args.seed)
        mode = "bound parameters" if index.bound_parameters else "identifiers inlined (gateway has no form params)"
        print(f"LOOKUP via the gateway, {mode}: {rate:,.0f} identifiers/s; "
              f"{args.lookup_batch:,} per batch p50 {p50:.0f} ms, p95 {p95:.0f} ms")  # fmt: skip

        if not args.skip_worker:
            for label, ready, rss in worker_figures(url, work):
                print(f"WORKER ({label}): report written {ready:.1f} s after process start; RSS {rss:.0f} MB")
        client.close()
    finally:
        gateway.terminate()
        gateway.wait(60)

    direct = clickhouse_connect.get_client(dsn=f"chdb://{(work / 'chdb').resolve()}")
    index = LeakIndex(direct, DATABASE)
    rate, p50, p95 = lookups(index, known, args.lookup_batch, args.lookup_runs, args.seed)
    print(f"LOOKUP in-process chDB, bound parameters={index.bound_parameters}: {rate:,.0f} identifiers/s; "
          f"{args.lookup_batch:,} per batch p50 {p50:.0f} ms, p95 {p95:.0f} ms")  # fmt: skip
    direct.close()
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
