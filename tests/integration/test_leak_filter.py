"""The worker's filter of the leak index against the real embedded ClickHouse: the same answers as
looking every identifier up, as the index grows, shrinks, is replaced, or outgrows the filter."""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

from sinks.leak_filter import LeakFilter
from sinks.leaks import RECORD_COLUMNS, LeakIndex

MISSES = [f"phone:{i:032x}" for i in range(5_000, 9_000)]


def ids(prefix: str, count: int, start: int = 0) -> list[str]:
    return [f"{prefix}:{i:032x}" for i in range(start, start + count)]


def insert(ch: Client, database: str, batch: str, identifiers: Sequence[str]) -> None:
    body = "".join(f"{i}\t{batch}\t1\t4\n" for i in identifiers).encode()
    ch.raw_insert(f"{database}.leak_records", list(RECORD_COLUMNS), body, fmt="TabSeparated")


def filtered(ch: Client, database: str, max_identifiers: int = 1_000_000) -> LeakIndex:
    return LeakIndex(ch, database, filter_max_identifiers=max_identifiers)


def test_filtered_lookups_answer_as_full_ones_while_the_index_changes(ch: Client, database: str) -> None:
    insert(ch, database, "A", ids("phone", 1_000))
    # Same last 8 hex digits as indexed identifiers, other hashes: the filter lets them through, ClickHouse says no.
    near_misses = [f"id_card:{'f' * 24}{i[-8:]}" for i in ids("phone", 50)]
    asked = ids("phone", 300, start=900) + MISSES + near_misses
    index, full = filtered(ch, database), LeakIndex(ch, database)
    assert index.lookup(asked) == full.lookup(asked)
    assert len(index.lookup(asked)) == 100
    flt = LeakFilter(ch, database, max_identifiers=1_000_000)
    assert sorted(flt.narrow(asked) or []) == sorted(ids("phone", 100, start=900) + near_misses)
    assert flt.identifiers == 1_000

    # A load adds a batch: the first lookup after it looks everything up, later ones rebuild the filter.
    insert(ch, database, "B", ids("phone", 200, start=1_000))
    for _ in range(3):
        answer = index.lookup(asked)
        assert answer == full.lookup(asked)
        assert len(answer) == 300
        assert all(hits == [("A" if int(i[-8:], 16) < 1_000 else "B", 1)] for i, hits in answer.items())
    assert flt.narrow(asked) is None  # the version moved since it was built: it cannot tell
    assert sorted(flt.narrow(asked) or []) == sorted(ids("phone", 300, start=900) + near_misses)
    assert flt.identifiers == 1_200

    # A batch deleted: the filter still holds its identifiers until rebuilt, ClickHouse no longer answers them.
    ch.command(f"DELETE FROM {database}.leak_records WHERE batch_id = 'B'")
    for _ in range(2):
        assert index.lookup(asked) == full.lookup(asked)
        assert len(index.lookup(asked)) == 100

    # The table replaced by an empty one, then filled again with block numbers counting from the start.
    ch.command(f"DROP TABLE {database}.leak_records SYNC")
    ch.command(
        f"CREATE TABLE {database}.leak_records (identifier String, batch_id LowCardinality(String), "
        "info_mask SimpleAggregateFunction(groupBitOr, UInt32), class_mask SimpleAggregateFunction(groupBitOr, UInt8)) "
        "ENGINE = AggregatingMergeTree ORDER BY (identifier, batch_id)"
    )
    for _ in range(2):
        assert index.lookup(asked) == {}
    insert(ch, database, "C", MISSES[:10])
    for _ in range(3):
        assert set(index.lookup(asked)) == set(MISSES[:10]) == set(full.lookup(asked))


def test_an_index_larger_than_the_filter_is_looked_up_whole(ch: Client, database: str) -> None:
    insert(ch, database, "A", ids("qq", 500))
    asked = ids("qq", 100, start=450) + MISSES
    small = LeakFilter(ch, database, max_identifiers=499)
    assert small.narrow(asked) is None and small.narrow(asked) is None
    assert small.identifiers == 0
    assert filtered(ch, database, max_identifiers=499).lookup(asked) == LeakIndex(ch, database).lookup(asked)
    assert len(LeakIndex(ch, database).lookup(asked)) == 50


def test_no_filter_for_a_table_that_is_not_a_local_merge_tree(ch: Client, database: str) -> None:
    # What a cluster's Distributed table would be to the worker: no parts to date the index by.
    ch.command(f"DROP TABLE {database}.leak_records SYNC")
    ch.command(
        f"CREATE TABLE {database}.leak_records (identifier String, batch_id String, info_mask UInt32, "
        "class_mask UInt8) ENGINE = Memory"
    )
    insert(ch, database, "A", ids("phone", 10))
    flt = LeakFilter(ch, database, max_identifiers=1_000)
    assert flt.narrow(ids("phone", 20)) is None
    assert set(filtered(ch, database).lookup(ids("phone", 20))) == set(ids("phone", 10))
