"""Batching ClickHouse writer with an explicit flush, idempotent under redelivery, with the leak join.

Processing is at-least-once: after a crash, Kafka redelivers everything after the last committed
offset, some of which ClickHouse may already hold. Every fact row records its source position
(topic, broker epoch, partition, offset, index in envelope) and every aggregate row the highest
offset it covers, so before writing a partition it has not seen since start-up, the sink asks
ClickHouse what it already holds and leaves that out: facts by exact position, aggregates by
offset watermark. The caller commits offsets only after `flush` returned, which bounds the
window that can be redelivered.

The leak join happens here too: the facts a flush inserts are looked up in the leak index
(sinks.leaks) in one go, their rows carry the batches holding their victim (leak_linked,
leak_batch_ids), and their victim and scammer links are written in the same flush, for exactly
the facts inserted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext

from sinks.leaks import LINK_COLUMNS, SCAMMER_LINKS, VICTIM_LINKS, LeakIndex, link_rows, match_facts
from streams.deadletter import DEAD_LETTER_COLUMNS, DeadLetter
from streams.facts import STATS_COLUMNS, Fact, fact_table, minute_stats

log = logging.getLogger(__name__)

StreamKey = tuple[str, str, int]


@dataclass
class _StoredMark:
    """What ClickHouse already holds for one source partition, at or after `floor`."""

    floor: int
    facts: set[tuple[int, int]] = field(default_factory=set)
    facts_high: int = -1
    stats_high: int = -1


@dataclass(frozen=True)
class FlushResult:
    facts_written: int
    stats_rows_written: int
    skipped_as_duplicates: int
    seconds: float
    dead_letters_written: int = 0
    leak_linked: int = 0  # facts written whose victim is in a leak batch


class ReportSink:
    """`add` buffers facts; `flush` writes them (leak links, facts, then per-minute aggregates) exactly once."""

    def __init__(self, client: Client, database: str, zone: ZoneInfo) -> None:
        self._client = client
        self._database = database
        self._zone = zone
        self._buffer: list[Fact] = []
        self._dead_letters: list[DeadLetter] = []
        self._buffer_lock = threading.Lock()  # `add` may run while a flush writes in another thread
        self._marks: dict[StreamKey, _StoredMark] = {}
        self._leaks = LeakIndex(client, database)
        self._contexts: dict[str, InsertContext] = {}

    def setup(self) -> None:
        """Fail early, with a clear message, if the schema is missing."""
        for table in ("reports", "report_stats_1m", "dead_letters", VICTIM_LINKS, SCAMMER_LINKS):
            self._client.query(f"SELECT 1 FROM {self._database}.{table} LIMIT 0")
        self._leaks.check()

    @property
    def pending(self) -> int:
        return len(self._buffer) + len(self._dead_letters)

    def add(self, facts: Sequence[Fact]) -> None:
        with self._buffer_lock:
            self._buffer.extend(facts)

    def add_dead_letter(self, letter: DeadLetter) -> None:
        with self._buffer_lock:
            self._dead_letters.append(letter)

    def forget(self, keys: Callable[[StreamKey], bool] | None = None) -> None:
        """Drop cached knowledge (after a failure or a rebalance): it is re-read before the next write."""
        for key in [k for k in self._marks if keys is None or keys(k)]:
            del self._marks[key]

    def flush(self) -> FlushResult:
        """Write everything buffered. On error the buffer is kept and cached marks are dropped,
        so calling flush again is safe whatever part of the write had landed. Flushes must not
        overlap each other; `add` may be called meanwhile."""
        started = time.perf_counter()
        with self._buffer_lock:
            batch, self._buffer = self._buffer, []
            letters, self._dead_letters = self._dead_letters, []
        # A message delivered twice before one flush (a rebalance back and forth) counts once.
        batch = list({(f.position.stream_key, f.position.offset, f.index): f for f in batch}.values())
        if not batch and not letters:
            return FlushResult(0, 0, 0, 0.0)
        try:
            dead_letters_written = len(letters)
            if letters:  # ReplacingMergeTree keyed by position: a redelivered poison message collapses
                self._insert("dead_letters", [d.row() for d in letters], DEAD_LETTER_COLUMNS)
                letters = []
            self._load_marks(batch)
            new_facts = [f for f in batch if not self._stored(f)]
            fresh_for_stats = [f for f in batch if f.position.offset > self._marks[f.position.stream_key].stats_high]
            linked = 0
            if new_facts:
                # The leak join, against the index as it is now. Links go in before their facts: a
                # crash in between leaves the facts unwritten, so the retry looks them up and links
                # them again, which the links' ReplacingMergeTree key (batch_id, report_id) absorbs.
                # The other order could write facts whose links no retry would ever write.
                matches = match_facts(self._leaks, new_facts)
                for table, links in (
                    (VICTIM_LINKS, [r for f, m in zip(new_facts, matches, strict=True) if m.victim
                                    for r in link_rows(f, m.victim, self._zone, "stream")]),
                    (SCAMMER_LINKS, [r for f, m in zip(new_facts, matches, strict=True) if m.scammer
                                     for r in link_rows(f, m.scammer, self._zone, "stream")]),
                ):  # fmt: skip
                    if links:
                        self._insert(table, links, LINK_COLUMNS)
                linked = sum(1 for m in matches if m.victim)
                # Arrow, column by column: serialised natively, and no DESCRIBE (the schema travels along).
                leak_batch_ids = [m.victim_batch_ids if m.victim else () for m in matches]
                self._client.insert_arrow(f"{self._database}.reports", fact_table(new_facts, leak_batch_ids))
            stats = minute_stats(fresh_for_stats, self._zone)
            if stats:
                self._insert("report_stats_1m", stats, STATS_COLUMNS)
        except Exception:
            with self._buffer_lock:
                self._buffer = batch + self._buffer
                self._dead_letters = letters + self._dead_letters
            self.forget()
            self._contexts.clear()  # a failed insert may leave its context half used
            raise
        self._advance_marks(batch)
        seconds = time.perf_counter() - started
        return FlushResult(
            len(new_facts), len(stats), len(batch) - len(new_facts), seconds, dead_letters_written, linked
        )

    def _insert(self, table: str, rows: list[list[object]], columns: Sequence[str]) -> None:
        """Insert rows into one of the database's tables, with its column types fetched once per sink:
        without a context clickhouse-connect runs a DESCRIBE before every insert."""
        context = self._contexts.get(table)
        if context is None:
            context = self._client.create_insert_context(f"{self._database}.{table}", column_names=list(columns))
            self._contexts[table] = context
        self._client.insert(data=rows, context=context)

    def _stored(self, fact: Fact) -> bool:
        mark = self._marks[fact.position.stream_key]
        return fact.position.offset <= mark.facts_high or (fact.position.offset, fact.index) in mark.facts

    def _advance_marks(self, batch: Sequence[Fact]) -> None:
        # The facts of one message share its position object: each position once, not each fact.
        for position in {id(f.position): f.position for f in batch}.values():
            mark = self._marks[position.stream_key]
            mark.facts_high = max(mark.facts_high, position.offset)
            mark.stats_high = max(mark.stats_high, position.offset)
        for mark in self._marks.values():
            # Everything up to facts_high is now known complete; the exact set only matters above it.
            mark.facts = {pos for pos in mark.facts if pos[0] > mark.facts_high}

    def _load_marks(self, batch: Sequence[Fact]) -> None:
        floors: dict[StreamKey, int] = {}
        for fact in batch:
            key = fact.position.stream_key
            if key not in self._marks:
                floors[key] = min(floors.get(key, fact.position.offset), fact.position.offset)
        for key, floor in floors.items():
            self._marks[key] = self._read_mark(key, floor)

    def _read_mark(self, key: StreamKey, floor: int) -> _StoredMark:
        topic, epoch, partition = key
        where = "src_topic = {topic:String} AND src_epoch = {epoch:String} AND src_partition = {partition:UInt16}"
        params = {"topic": topic, "epoch": epoch, "partition": partition, "floor": floor}
        stored = self._client.query(
            f"SELECT src_offset, src_index FROM {self._database}.reports "
            f"WHERE {where} AND src_offset >= {{floor:UInt64}}",
            parameters=params,
        ).result_rows
        stats_high = self._client.query(
            f"SELECT max(src_offset_max), count() FROM {self._database}.report_stats_1m WHERE {where}",
            parameters=params,
        ).result_rows[0]
        mark = _StoredMark(
            floor=floor,
            facts={(int(o), int(i)) for o, i in stored},
            facts_high=floor - 1,
            stats_high=int(stats_high[0]) if stats_high[1] else -1,
        )
        if mark.facts or mark.stats_high >= floor:
            log.info(
                "resuming a partition ClickHouse already holds part of",
                extra={
                    "topic": topic, "epoch": epoch, "partition": partition, "from_offset": floor,
                    "facts_already_stored": len(mark.facts), "stats_watermark": mark.stats_high,
                },
            )  # fmt: skip
        return mark
