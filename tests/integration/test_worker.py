"""The Faust worker process against the real broker and ClickHouse, including SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from clickhouse_connect.driver.client import Client

from fraudwatch.broker import die_with_parent
from fraudwatch.settings import Settings
from streams.envelope import SanitisedReport, encode_envelope
from tests.integration.conftest import scalar, wait_until, worker_settings

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def settings(
    broker: str, clickhouse_url: str, database: str, tmp_path: Path, settings_overrides: dict[str, object]
) -> Settings:
    return worker_settings(broker, clickhouse_url, database, tmp_path, **settings_overrides)


class Worker:
    def __init__(self, settings: Settings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fraudwatch", "worker"], env=self.settings.child_environment(),
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
            )  # fmt: skip

    def stop(self, grace_s: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    handle = Worker(settings, tmp_path / "worker.log")
    handle.start()
    yield handle
    handle.stop()


def reports(first: int, count: int) -> list[SanitisedReport]:
    now = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
    return [
        SanitisedReport(
            report_id=f"r{i}", reported_at=now + timedelta(seconds=i), occurred_at=now - timedelta(days=1),
            channel="hotline", region_code="440305", citizen_category="", amount_lost_fen=100 * i,
            victim_phone_hash="", description="网络游戏装备交易被骗",
        )
        for i in range(first, first + count)
    ]  # fmt: skip


async def produce(settings: Settings, envelopes: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i, payload in enumerate(envelopes):
            await producer.send(settings.raw_topic, payload, key=f"k{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()


def envelopes(settings: Settings, first: int, count: int, per_envelope: int) -> list[bytes]:
    batch = reports(first, count)
    return [encode_envelope(settings.broker_epoch, batch[i : i + per_envelope]) for i in range(0, count, per_envelope)]


async def read_all(settings: Settings, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        return [record.value for records in batches.values() for record in records if record.value]
    finally:
        await consumer.stop()


def totals(ch: Client, database: str) -> tuple[int, int, int]:
    return (
        int(scalar(ch, f"SELECT count() FROM {database}.reports")),
        int(scalar(ch, f"SELECT uniqExact(report_id) FROM {database}.reports")),
        int(scalar(ch, f"SELECT sum(reports) FROM {database}.report_stats_1m")),
    )


def test_envelopes_become_facts_and_bad_messages_do_not_block(
    settings: Settings, worker: Worker, ch: Client, database: str
) -> None:
    payloads = envelopes(settings, 0, 500, per_envelope=50)
    payloads.insert(3, b"\xff not an envelope")
    asyncio.run(produce(settings, payloads))
    wait_until(lambda: totals(ch, database)[0] >= 500, 30, "500 facts")
    time.sleep(1)
    assert totals(ch, database) == (500, 500, 500)
    assert scalar(ch, f"SELECT sum(amount_lost_fen) FROM {database}.reports") == 100 * sum(range(500))
    categories = ch.query(f"SELECT DISTINCT category FROM {database}.reports").result_rows
    assert categories == [("game_trading",)]
    assert "not a report envelope" in (worker.log.read_text())
    letters = ch.query(f"SELECT src_offset, error, payload_bytes, payload_preview FROM {database}.dead_letters FINAL")
    assert len(letters.result_rows) == 1
    assert "not JSON" in letters.result_rows[0][1] and letters.result_rows[0][2] == len(b"\xff not an envelope")
    parked = asyncio.run(read_all(settings, settings.dead_letter_topic))
    assert len(parked) == 1 and json.loads(parked[0])["payload_sha256"]


def test_sigkill_mid_stream_then_restart_stores_everything_once(
    settings: Settings, worker: Worker, ch: Client, database: str
) -> None:
    total = 0
    for round_ in range(3):
        asyncio.run(produce(settings, envelopes(settings, total, 600, per_envelope=20)))
        total += 600
        time.sleep(0.3 + 0.4 * round_)
        worker.kill()
        worker.start()
    wait_until(lambda: totals(ch, database)[0] >= total and totals(ch, database)[2] >= total, 60, f"{total} facts")
    time.sleep(2)
    assert totals(ch, database) == (total, total, total)
    assert scalar(ch, f"SELECT sum(loss_fen) FROM {database}.report_stats_1m") == 100 * sum(range(total))


@pytest.mark.parametrize("settings_overrides", [{"client_key_memory_s": 2}])
def test_resends_of_client_keyed_reports_are_dropped_until_the_worker_forgets_them(
    settings: Settings, worker: Worker, ch: Client, database: str
) -> None:
    keyed, *fillers = reports(0, 4)
    keyed = msgspec.structs.replace(keyed, client_keyed=True)

    def send(*batch: SanitisedReport) -> None:
        # One key for every message: one partition, so the worker sees them in this order.
        asyncio.run(produce(settings, [encode_envelope(settings.broker_epoch, list(batch))]))

    def copies(report_id: str) -> int:
        return int(scalar(ch, f"SELECT count() FROM {database}.reports WHERE report_id = '{report_id}'"))

    send(keyed)
    send(keyed, fillers[0])  # a resend that got past the API, at another offset
    wait_until(lambda: copies(fillers[0].report_id) == 1, 30, "the message with the resend")
    assert copies(keyed.report_id) == 1

    time.sleep(3)  # past client_key_memory_s: the next message lets the worker forget the key
    send(fillers[1])
    wait_until(lambda: copies(fillers[1].report_id) == 1, 30, "the message after the memory ran out")
    send(keyed, fillers[2])
    wait_until(lambda: copies(fillers[2].report_id) == 1, 30, "the late resend")
    # Forgotten, so this late copy is stored again: the index does not keep keys forever.
    assert copies(keyed.report_id) == 2
    assert '"level": "error"' not in worker.log.read_text()
