"""Several workers in one consumer group share the partitions, survive one of them stopping, and
produce exactly the totals one worker produces.

The embedded ClickHouse allows one process per data directory, so every worker writes through the
ClickHouse HTTP endpoint of the process that owns it (here the test's gateway; in `up` the
supervisor), exactly as they would write to a ClickHouse server.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from fraudwatch.broker import consumer_lag, ensure_topics
from fraudwatch.settings import Settings
from streams.envelope import encode_envelope
from streams.health import live_health
from tests.integration.conftest import scalar, unique, wait_until
from tests.integration.test_alerts import PHONE, contact_reports
from tests.integration.test_worker import Worker, envelopes, produce, read_all, totals


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_split_partitions_survive_a_stop_and_match_one_worker(
    workers: int, broker: str, clickhouse_url: str, database: str, ch: Client, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, kafka_bootstrap=broker, clickhouse_url=clickhouse_url, clickhouse_database=database,
        topic_prefix=unique("scale"), worker_id=unique("group"), broker_epoch="e1", raw_partitions=6,
        alert_interval_s=0.5,
    )  # fmt: skip
    asyncio.run(ensure_topics(settings))
    scammed = contact_reports(0, 5)
    pool = [Worker(settings, tmp_path / f"worker{i}.log") for i in range(workers)]
    for worker in pool:
        worker.start()
    try:

        def busy_workers() -> int:
            states = live_health(settings.data_dir, settings.worker_id)
            return sum(int(state.get("reports_seen", 0)) > 0 for state in states)

        asyncio.run(produce(settings, envelopes(settings, 0, 3000, per_envelope=25)))
        # One scammer phone in the reports of five victims: one alert for the whole group, not one per worker.
        asyncio.run(produce(settings, [encode_envelope(settings.broker_epoch, scammed)]))
        wait_until(lambda: totals(ch, database)[0] >= 3000, 60, "the first 3000")
        for batch in range(1, 20):  # the group settles its assignment while the stream flows
            if busy_workers() >= 2:
                break
            asyncio.run(produce(settings, envelopes(settings, 3000 * batch, 3000, per_envelope=25)))
            time.sleep(1)
        assert busy_workers() >= 2, "the partitions were never split between workers"
        produced = 3000 * batch
        pool[0].stop(grace_s=60)  # a graceful stop: its partitions move to the others
        asyncio.run(produce(settings, envelopes(settings, produced, 3000, per_envelope=25)))
        total = produced + 3000 + len(scammed)
        wait_until(lambda: totals(ch, database)[0] >= total and totals(ch, database)[2] >= total, 90, f"{total} facts")
        time.sleep(2)
        assert totals(ch, database) == (total, total, total)
        loss = 100 * sum(range(produced + 3000)) + sum(r.amount_lost_fen for r in scammed)
        assert scalar(ch, f"SELECT sum(loss_fen) FROM {database}.report_stats_1m") == loss
        writers = ch.query(f"SELECT uniqExact(src_partition) FROM {database}.reports").result_rows[0][0]
        assert writers == 6
        alerts = ch.query(f"SELECT detector, series, state FROM {database}.alerts FINAL").result_rows
        assert alerts == [("repeat_contact", PHONE, "open")]
        events = asyncio.run(read_all(settings, settings.alerts_topic))
        assert len(events) == 1, events
        wait_until(
            lambda: asyncio.run(consumer_lag(settings, settings.worker_id, settings.raw_topic)) == 0, 30, "commit"
        )
    finally:
        for worker in pool:
            worker.stop()
