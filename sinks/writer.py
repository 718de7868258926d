"""Batching ClickHouse writer with an explicit flush, idempotent under redelivery, with the leak join.

Processing is at-least-once: after a crash, Kafka redelivers everything after the last committed
offset, some of which ClickHouse may already hold. Every fact row records its source position
(topic, broker epoch, partition, offset, index in envelope) and every aggregate row the highest
offset it covers, so before writing a partition it has not seen since start-up, the sink asks
ClickHouse what it already holds and leaves that out: facts by exact position, aggregates by
offset watermark. The caller commits offsets only after `flush` (or `write`) returned, which bounds
the window that can be redelivered. `flush` is `prepare` (what does not depend on what ClickHouse holds:
merging double deliveries, classification, the columns) then `write`; the worker prepares the next batch
while the previous one is being written.

The leak join happens here too: the facts a flush inserts are looked up in the leak index
(sinks.leaks) in one go, their rows carry the batches holding their victim (leak_linked,
leak_batch_ids), and their victim and scammer links are written in the same flush, for exactly
the facts inserted. With a client of its own for it (the worker's case), the lookup runs in `prepare`,
so it overlaps the previous batch's write rather than delaying this one's insert.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.insert import InsertContext

from sinks.leaks import BOUND_CHUNK, SCAMMER_LINKS, VICTIM_LINKS, LeakIndex, LeakMatch, link_table, match_reports
from streams.deadletter import DEAD_LETTER_COLUMNS, DeadLetter
from streams.facts import STATS_COLUMNS, Fact, FactColumns, Message, messages_of, with_leak_batch_ids

log = logging.getLogger(__name__)

StreamKey = tuple[str, str, int]
_T = TypeVar("_T")

_VICTIM = attrgetter("victim")
_SCAMMER = attrgetter("scammer")


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


@dataclass
class PreparedBatch:
    """What one flush writes, classified and in columns, not yet checked against what ClickHouse holds."""

    messages: list[Message]
    columns: FactColumns
    letters: list[DeadLetter]
    prepare_seconds: float
    # The leak join of every report, done while preparing when the sink has a client of its own for it.
    matches: list[LeakMatch] | None = None


def load_lazy_imports() -> None:
    """Import now what the first flush would: clickhouse-connect and pyarrow import pandas, where installed,
    on their first insert or conversion (~1 s of CPU), which belongs to start-up, not to the first flush."""
    with contextlib.suppress(ImportError):
        importlib.import_module("pandas")
    FactColumns([]).table()


class ReportSink:
    """`add_message` (or `add`) buffers reports; `flush` writes them (leak links, facts, then per-minute
    aggregates) exactly once."""

    def __init__(
        self,
        client: Client,
        database: str,
        zone: ZoneInfo,
        *,
        leak_lookup_chunk: int = BOUND_CHUNK,
        leak_filter_max_identifiers: int = 0,
        lookup_client: Client | None = None,
    ) -> None:
        """`lookup_client`: a second client (no server session, or one of its own), for the leak join to run
        while the batch is prepared, that is while the previous batch is being written, instead of in the
        write, between that batch's turn and its insert."""
        self._client = client
        self._database = database
        self._zone = zone
        self._buffer: list[Message] = []
        self._buffered_reports = 0
        self._dead_letters: list[DeadLetter] = []
        self._buffer_lock = threading.Lock()  # `add` may run while a flush writes in another thread
        self._marks: dict[StreamKey, _StoredMark] = {}
        self._leaks = LeakIndex(
            lookup_client or client,
            database,
            bound_chunk=leak_lookup_chunk,
            filter_max_identifiers=leak_filter_max_identifiers,
        )
        self._join_early = lookup_client is not None
        self._contexts: dict[str, InsertContext] = {}
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink-build")  # see `write`

    def setup(self) -> None:
        """Fail early, with a clear message, if the schema is missing."""
        for table in ("reports", "report_stats_1m", "dead_letters", VICTIM_LINKS, SCAMMER_LINKS):
            self._client.query(f"SELECT 1 FROM {self._database}.{table} LIMIT 0")
        self._leaks.check()

    @property
    def pending(self) -> int:
        return self._buffered_reports + len(self._dead_letters)

    def add_message(self, message: Message) -> None:
        with self._buffer_lock:
            self._buffer.append(message)
            self._buffered_reports += len(message.reports)

    def add(self, facts: Sequence[Fact]) -> None:
        """Facts (classified already) instead of messages: for tests and tools."""
        for message in messages_of(facts):
            self.add_message(message)

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
        batch = self.prepare()
        try:
            return self.write(batch)
        except Exception:
            with self._buffer_lock:
                self._buffer = list(batch.messages) + self._buffer
                self._buffered_reports += len(batch.columns)
                self._dead_letters = batch.letters + self._dead_letters
            raise

    def prepare(self) -> PreparedBatch:
        """Take everything buffered and do the work that does not depend on what ClickHouse holds: merge
        double deliveries, classify, gather the columns (and the leak join, given a `lookup_client`). May run
        while another batch is being written, which is what keeps the worker busy while ClickHouse takes the
        previous batch."""
        started = time.perf_counter()
        with self._buffer_lock:
            messages, self._buffer = self._buffer, []
            self._buffered_reports = 0
            letters, self._dead_letters = self._dead_letters, []
        messages = _distinct(messages)
        rows = FactColumns(messages)
        # All of the batch's reports are joined, a few of which the write may then find already stored.
        matches = match_reports(self._leaks, rows.reports) if self._join_early and rows.reports else None
        return PreparedBatch(messages, rows, letters, time.perf_counter() - started, matches)

    def write(self, batch: PreparedBatch) -> FlushResult:
        """Write a prepared batch: what ClickHouse lacks of it is decided now, from the marks, so batches
        prepared before an earlier one was written never write anything twice. Writes must not overlap
        each other, and go in the order their batches were prepared. On error cached marks are dropped
        and the batch can be written again."""
        started = time.perf_counter()
        if not batch.messages and not batch.letters:
            return FlushResult(0, 0, 0, 0.0)
        rows = batch.columns
        try:
            dead_letters_written = len(batch.letters)
            if batch.letters:  # ReplacingMergeTree keyed by position: a redelivered poison message collapses
                self._insert("dead_letters", [d.row() for d in batch.letters], DEAD_LETTER_COLUMNS)
                batch.letters = []
            self._load_marks(batch.messages)
            is_new, is_fresh = self._unwritten(batch.messages)
            everything_new = bool(is_new.all())
            keep = None if everything_new else is_new.tolist()
            new_reports = _kept(rows.reports, keep)
            # What is inserted is built in another thread while the leak join below waits for ClickHouse; the
            # client stays in this thread (a client with a session takes one request at a time).
            built = self._builder.submit(self._build, rows, is_new if new_reports else None, is_fresh)
            linked = 0
            if new_reports:
                # The leak join, against the index as it is now. Links go in before their facts: a
                # crash in between leaves the facts unwritten, so the retry looks them up and links
                # them again, which the links' ReplacingMergeTree key (batch_id, report_id) absorbs.
                # The other order could write facts whose links no retry would ever write.
                matches = (
                    match_reports(self._leaks, new_reports) if batch.matches is None else _kept(batch.matches, keep)
                )
                if any(m.victim or m.scammer for m in matches):
                    categories = _kept(rows.categories, keep)
                    reported = rows.reported if everything_new else rows.reported.filter(pa.array(is_new))
                    for links_table, side in ((VICTIM_LINKS, _VICTIM), (SCAMMER_LINKS, _SCAMMER)):
                        links = link_table(new_reports, categories, reported, list(map(side, matches)), "stream")
                        if links is not None:
                            insert_arrow(self._client, f"{self._database}.{links_table}", links)
                linked = sum(1 for m in matches if m.victim)
            table, stats = built.result()
            if table is not None:
                if linked:
                    table = with_leak_batch_ids(table, [m.victim_batch_ids if m.victim else () for m in matches])
                # optimize_on_insert = 0: the rollup views write a row per report and basis, which the
                # rollups' merges combine anyway; combining them again in every insert cost ~20% of
                # ClickHouse's CPU per report (migration 0015). Every rollup query aggregates.
                insert_arrow(self._client, f"{self._database}.reports", table, {"optimize_on_insert": 0})
            if stats:
                self._insert("report_stats_1m", stats, STATS_COLUMNS)
        except Exception:
            self.forget()
            self._contexts.clear()  # a failed insert may leave its context half used
            raise
        self._advance_marks(batch.messages)
        seconds = batch.prepare_seconds + time.perf_counter() - started
        return FlushResult(
            len(new_reports), len(stats), len(rows) - len(new_reports), seconds, dead_letters_written, linked
        )

    def _unwritten(self, batch: Sequence[Message]) -> tuple[np.ndarray, np.ndarray]:
        """For each report of the batch, whether ClickHouse lacks its fact, and whether it lacks its
        aggregate (decided per message: aggregates are stored up to an offset)."""
        new: list[bool] = []
        fresh: list[bool] = []
        for message in batch:
            offset = message.position.offset
            mark = self._marks[message.position.stream_key]
            count = len(message.indexes)
            if offset <= mark.facts_high:
                new += [False] * count
            elif mark.facts:
                new += [(offset, i) not in mark.facts for i in message.indexes]
            else:
                new += [True] * count
            fresh += [offset > mark.stats_high] * count
        return np.array(new, bool), np.array(fresh, bool)

    def _build(
        self, rows: FactColumns, new: np.ndarray | None, fresh: np.ndarray
    ) -> tuple[pa.Table | None, list[list[object]]]:
        """The `reports` rows (those `new` selects, without their leak columns; None when `new` is None) as
        Arrow, column by column (serialised natively, and no DESCRIBE: the schema travels along), and the
        per-minute aggregates of the rows `fresh` selects."""
        table = None if new is None else rows.table((), None if new.all() else new)
        stats = rows.minute_stats(self._zone, None if fresh.all() else fresh) if fresh.any() else []
        return table, stats

    def _insert(self, table: str, rows: list[list[object]], columns: Sequence[str]) -> None:
        """Insert rows into one of the database's tables, with its column types fetched once per sink:
        without a context clickhouse-connect runs a DESCRIBE before every insert."""
        context = self._contexts.get(table)
        if context is None:
            context = self._client.create_insert_context(f"{self._database}.{table}", column_names=list(columns))
            self._contexts[table] = context
        self._client.insert(data=rows, context=context)

    def _advance_marks(self, batch: Sequence[Message]) -> None:
        for message in batch:
            position = message.position
            mark = self._marks[position.stream_key]
            mark.facts_high = max(mark.facts_high, position.offset)
            mark.stats_high = max(mark.stats_high, position.offset)
        for mark in self._marks.values():
            # Everything up to facts_high is now known complete; the exact set only matters above it.
            mark.facts = {pos for pos in mark.facts if pos[0] > mark.facts_high}

    def _load_marks(self, batch: Sequence[Message]) -> None:
        floors: dict[StreamKey, int] = {}
        for message in batch:
            key, offset = message.position.stream_key, message.position.offset
            if key not in self._marks:
                floors[key] = min(floors.get(key, offset), offset)
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


def insert_arrow(client: Client, table: str, rows: pa.Table, settings: dict[str, Any] | None = None) -> None:
    """`client.insert_arrow`, with the Arrow file written into a buffer of its exact size. clickhouse-connect
    writes it into a growing buffer, which cost the worker ~2-5 µs per report of a 30-40 MB flush (moved
    each time it grew, in memory the allocator had just given back) against ~0.2-1.5 µs this way: a first
    pass only counts the bytes. A compressing client (a ClickHouse server elsewhere) keeps
    clickhouse-connect's way: counting its bytes would compress everything twice."""
    if client.write_compression in ("zstd", "lz4"):
        client.insert_arrow(table, rows, settings=settings)
        return
    counted = pa.MockOutputStream()
    with pa.ipc.new_file(counted, rows.schema) as writer:
        writer.write_table(rows)
    body = pa.allocate_buffer(counted.size())
    with pa.ipc.new_file(pa.FixedSizeBufferWriter(body), rows.schema) as writer:
        writer.write_table(rows)
    client.raw_insert(table, rows.schema.names, body, settings, "Arrow")


def _kept(values: Sequence[_T], keep: list[bool] | None) -> Sequence[_T]:
    """The values `keep` marks (all of them for None)."""
    return values if keep is None else [v for v, kept in zip(values, keep, strict=True) if kept]


def _distinct(batch: Sequence[Message]) -> list[Message]:
    """A message delivered twice before one flush (a rebalance back and forth) counts once, with every
    report either delivery carried."""
    seen: dict[tuple[StreamKey, int], int] = {}
    distinct: list[Message] = []
    for message in batch:
        key = (message.position.stream_key, message.position.offset)
        place = seen.setdefault(key, len(distinct))
        if place == len(distinct):
            distinct.append(message)
        else:
            distinct[place] = distinct[place].merged(message)
    return distinct
