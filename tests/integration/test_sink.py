"""The batching ClickHouse sink against the real embedded engine: redelivery never double-counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from sinks.writer import ReportSink
from streams.envelope import SanitisedReport
from streams.facts import FACT_COLUMNS, Fact, SourcePosition, facts_of
from tests.integration.conftest import scalar

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 28, 9, 30, 15, tzinfo=SHANGHAI)


def envelope_facts(offset: int, reports: int, partition: int = 0, epoch: str = "e1") -> list[Fact]:
    position = SourcePosition("raw", epoch, partition, offset)
    return facts_of(
        position,
        [
            SanitisedReport(
                report_id=f"{epoch}-{partition}-{offset}-{i}",
                reported_at=T0 + timedelta(seconds=offset),
                occurred_at=T0 - timedelta(hours=3),
                channel="app",
                region_code="420106",
                citizen_category="",
                amount_lost_fen=1000 + i,
                victim_phone_hash="",
                description="刷单返利",
            )
            for i in range(reports)
        ],
    )


def stream(first: int, last: int, partition: int = 0, epoch: str = "e1") -> list[Fact]:
    return [f for offset in range(first, last + 1) for f in envelope_facts(offset, 3, partition, epoch)]


def counts(ch: Client, db: str) -> tuple[int, int, int]:
    return (
        int(scalar(ch, f"SELECT count() FROM {db}.reports")),
        int(scalar(ch, f"SELECT uniqExact(report_id) FROM {db}.reports")),
        int(scalar(ch, f"SELECT sum(reports) FROM {db}.report_stats_1m")),
    )


def new_sink(ch: Client, database: str) -> ReportSink:
    sink = ReportSink(ch, database, SHANGHAI)
    sink.setup()
    return sink


def test_flush_writes_facts_and_minute_aggregates(ch: Client, database: str) -> None:
    sink = new_sink(ch, database)
    sink.add(stream(0, 99))
    result = sink.flush()
    assert result.facts_written == 300
    assert counts(ch, database) == (300, 300, 300)
    minutes = ch.query(
        f"SELECT toString(minute), sum(reports) FROM {database}.report_stats_1m GROUP BY minute ORDER BY minute"
    ).result_rows
    # Offset n is reported n seconds after 09:30:15 Shanghai time: offsets 0..44 fall in 09:30, 45..99 in 09:31.
    assert minutes == [("2026-11-28 09:30:00", 45 * 3), ("2026-11-28 09:31:00", 55 * 3)]
    assert sink.flush().facts_written == 0  # nothing pending, nothing written


def test_redelivery_after_restart_is_left_out(ch: Client, database: str) -> None:
    first = new_sink(ch, database)
    first.add(stream(0, 49))
    first.flush()
    # A crash before the offsets were committed: Kafka redelivers 20..49 and then new messages.
    restarted = new_sink(ch, database)
    restarted.add(stream(20, 79))
    result = restarted.flush()
    assert result.skipped_as_duplicates == 90
    assert result.facts_written == 90
    assert counts(ch, database) == (240, 240, 240)
    loss = scalar(ch, f"SELECT sum(amount_lost_fen) FROM {database}.reports")
    assert loss == scalar(ch, f"SELECT sum(loss_fen) FROM {database}.report_stats_1m") == 80 * (1000 + 1001 + 1002)


def test_crash_between_facts_and_aggregates_heals_both(ch: Client, database: str) -> None:
    # Simulate a crash after the fact insert landed and before the aggregate insert did.
    batch = stream(0, 29)
    ch.insert(f"{database}.reports", [f.row(SHANGHAI) for f in batch], column_names=list(FACT_COLUMNS))
    restarted = new_sink(ch, database)
    restarted.add(stream(0, 39))
    restarted.flush()
    assert counts(ch, database) == (120, 120, 120)


def test_partial_envelope_write_is_completed_exactly(ch: Client, database: str) -> None:
    # A multi-part insert interrupted half-way: only some rows of offset 5 are stored.
    batch = stream(0, 5)
    landed = [f for f in batch if f.position.offset < 5] + [f for f in batch if f.position.offset == 5][:1]
    ch.insert(f"{database}.reports", [f.row(SHANGHAI) for f in landed], column_names=list(FACT_COLUMNS))
    sink = new_sink(ch, database)
    sink.add(stream(0, 9))
    sink.flush()
    assert scalar(ch, f"SELECT count() FROM {database}.reports") == 30


def test_epochs_and_partitions_are_tracked_separately(ch: Client, database: str) -> None:
    sink = new_sink(ch, database)
    sink.add(stream(0, 9, partition=0, epoch="e1") + stream(0, 9, partition=1, epoch="e1"))
    sink.flush()
    # The embedded broker restarted empty: offsets start again at 0 under a new epoch.
    restarted = new_sink(ch, database)
    restarted.add(stream(0, 9, partition=0, epoch="e2"))
    result = restarted.flush()
    assert result.facts_written == 30 and result.skipped_as_duplicates == 0
    assert counts(ch, database) == (90, 90, 90)


def test_failed_flush_keeps_the_batch_and_retry_is_exact(ch: Client, database: str) -> None:
    sink = new_sink(ch, database)
    sink.add(stream(0, 9))
    ch.command(f"RENAME TABLE {database}.report_stats_1m TO {database}.report_stats_1m_away")
    with pytest.raises(Exception, match="report_stats_1m"):
        sink.flush()  # facts landed, aggregates did not
    assert sink.pending == 30
    ch.command(f"RENAME TABLE {database}.report_stats_1m_away TO {database}.report_stats_1m")
    sink.add(stream(10, 14))
    sink.flush()
    assert sink.pending == 0
    assert counts(ch, database) == (45, 45, 45)


def test_the_same_message_twice_in_one_flush_counts_once(ch: Client, database: str) -> None:
    sink = new_sink(ch, database)
    sink.add(stream(0, 2))
    sink.add(stream(0, 2))
    sink.flush()
    assert counts(ch, database) == (9, 9, 9)


def test_a_batch_prepared_before_the_previous_write_writes_only_what_that_write_left(ch: Client, database: str) -> None:
    # The worker prepares the next batch while ClickHouse takes the previous one; a rebalance back and
    # forth can put the same messages into both.
    sink = new_sink(ch, database)
    sink.add(stream(0, 9))
    first = sink.prepare()
    sink.add(stream(5, 14))
    second = sink.prepare()
    assert sink.write(first).facts_written == 30
    result = sink.write(second)
    assert (result.facts_written, result.skipped_as_duplicates) == (15, 15)
    assert counts(ch, database) == (45, 45, 45)


def test_a_prepared_batch_whose_write_failed_is_written_again_exactly(ch: Client, database: str) -> None:
    sink = new_sink(ch, database)
    sink.add(stream(0, 0))
    sink.flush()  # the partition's marks are known: the next write asks ClickHouse nothing first
    sink.add(stream(1, 9))
    batch = sink.prepare()
    ch.command(f"RENAME TABLE {database}.report_stats_1m TO {database}.report_stats_1m_away")
    with pytest.raises(Exception, match="report_stats_1m"):
        sink.write(batch)  # facts landed, aggregates did not
    assert scalar(ch, f"SELECT count() FROM {database}.reports") == 30
    ch.command(f"RENAME TABLE {database}.report_stats_1m_away TO {database}.report_stats_1m")
    result = sink.write(batch)
    assert (result.facts_written, result.skipped_as_duplicates, result.stats_rows_written) == (0, 27, 1)
    assert counts(ch, database) == (30, 30, 30)
