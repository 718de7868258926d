"""Faults: the broker dying under `up`, a stop during load, and ClickHouse refusing writes."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from clickhouse_connect.driver.client import Client

from fraudwatch.broker import consumer_lag, ensure_topics
from fraudwatch.settings import Settings
from tests.integration.conftest import AUTH, RunningPlatform, report_json, scalar, wait_until
from tests.integration.test_worker import Worker, envelopes, produce, totals


def stored(platform: RunningPlatform, ids: list[str]) -> int:
    if not ids:
        return 0
    count = 0
    for start in range(0, len(ids), 2000):  # bounded IN lists: ClickHouse limits the query's size
        chunk = tuple(ids[start : start + 2000])
        rows, distinct = platform.query(
            f"SELECT count(), uniqExact(report_id) FROM fraudwatch.reports WHERE report_id IN {chunk}"
        )[0]
        assert rows == distinct, "a report was stored twice"
        count += int(rows)
    return count


def test_broker_death_is_reported_and_the_platform_recovers(platform_factory: Callable[[], RunningPlatform]) -> None:
    platform = platform_factory().start()
    before = platform.post_reports(50)
    wait_until(lambda: stored(platform, before) == 50, 15, "reports before the crash")
    broker_pid = platform.child_pid("broker")
    os.kill(broker_pid, signal.SIGKILL)
    wait_until(lambda: "embedded broker died" in platform.output(), 15, "the supervisor to notice")
    wait_until(lambda: _accepts(platform), 60, "the API to accept reports again")
    after = platform.post_reports(50, start=50)
    wait_until(lambda: stored(platform, after) == 50, 30, "reports after the recovery")
    assert stored(platform, before) == 50
    assert platform.child_pid("broker") != broker_pid


def _accepts(platform: RunningPlatform) -> bool:
    try:
        answer = httpx.post(f"{platform.api}/api/v1/reports", json=report_json(0), headers=AUTH, timeout=3)
    except httpx.HTTPError:
        return False
    return answer.status_code == 202


def test_stop_during_load_loses_nothing_that_got_a_202(platform_factory: Callable[[], RunningPlatform]) -> None:
    platform = platform_factory().start()
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=platform.api, headers=AUTH, timeout=10) as client:
            i = 0
            while not stop.is_set():
                try:
                    if i % 5 == 0:
                        answer = client.post(
                            "/api/v1/reports/batch", json={"reports": [report_json(i + k) for k in range(20)]}
                        )
                        if answer.status_code == 200:
                            acknowledged.extend(r["report_id"] for r in answer.json()["results"] if r["report_id"])
                    else:
                        answer = client.post("/api/v1/reports", json=report_json(i))
                        if answer.status_code == 202:
                            acknowledged.append(answer.json()["report_id"])
                except httpx.HTTPError:
                    return  # the API has stopped accepting: the point of the test
                i += 1

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    assert platform.stop(signal.SIGTERM) == 0
    stop.set()
    for thread in threads:
        thread.join(30)
    assert len(acknowledged) > 100, "the load should have been accepted for a while"
    restarted = RunningPlatform(data_dir=platform.data_dir).start()
    try:
        assert stored(restarted, acknowledged) == len(acknowledged)
    finally:
        restarted.stop()


def test_clickhouse_refusing_writes_holds_offsets_and_drains_after(
    broker: str, clickhouse_url: str, database: str, ch: Client, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, kafka_bootstrap=broker, clickhouse_url=clickhouse_url, clickhouse_database=database,
        topic_prefix=f"faults{database[-8:]}", worker_id=f"w{database[-8:]}", broker_epoch="e1", raw_partitions=2,
    )  # fmt: skip
    asyncio.run(ensure_topics(settings))
    worker = Worker(settings, tmp_path / "worker.log")
    worker.start()
    try:
        asyncio.run(produce(settings, envelopes(settings, 0, 200, per_envelope=10)))
        wait_until(lambda: totals(ch, database)[0] == 200, 30, "the first 200")
        ch.command(f"RENAME TABLE {database}.reports TO {database}.reports_offline")
        asyncio.run(produce(settings, envelopes(settings, 200, 300, per_envelope=10)))
        wait_until(lambda: "ClickHouse write failed; retrying" in worker.log.read_text(), 30, "the retry to be logged")
        time.sleep(4)  # longer than Faust's commit interval: nothing may be committed meanwhile
        assert asyncio.run(consumer_lag(settings, settings.worker_id, settings.raw_topic)) >= 30
        ch.command(f"RENAME TABLE {database}.reports_offline TO {database}.reports")
        wait_until(lambda: totals(ch, database)[0] >= 500, 60, "the backlog to drain")
        time.sleep(2)
        assert totals(ch, database) == (500, 500, 500)
        assert scalar(ch, f"SELECT sum(amount_lost_fen) FROM {database}.reports") == 100 * sum(range(500))
        wait_until(
            lambda: asyncio.run(consumer_lag(settings, settings.worker_id, settings.raw_topic)) == 0, 15, "commit"
        )
    finally:
        worker.stop()
