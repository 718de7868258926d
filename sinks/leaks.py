"""The leak index in ClickHouse: loading it, looking identifiers up in it, linking reports to batches.

The index is the table `leak_records` (identifier hash, batch), not worker state: it survives worker
restarts and rebalances by construction, costs the worker no recovery time and little memory (a
4-byte fingerprint per identifier, sinks.leak_filter, so that identifiers in no batch are not sent), and
`fraudwatch leaks load` can fill it while the worker runs. The worker's sink calls `match_reports` once
per flush, which looks every identifier of the flush up in one query per `LeakIndex.chunk`
identifiers, and writes the links of exactly the reports it inserts (`link_table`). `rescore` links
reports that were processed before a batch was loaded.

Identifiers are "kind:keyed-hash" strings throughout; no function here sees a raw identifier.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import chain
from operator import attrgetter
from types import MappingProxyType, TracebackType
from typing import Any, Final, NamedTuple

import numpy as np
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from fraudwatch.leaks import (
    INFO_BIT,
    INFO_TYPES,
    ClassCounts,
    InfoClass,
    KeyedHasher,
    LeakRecord,
    Problem,
    Severity,
    Thresholds,
    class_mask,
    record_class,
    severity,
)
from sinks.leak_filter import LeakFilter
from streams.envelope import SanitisedReport
from streams.facts import MILLIS, millis, victim_identifiers

log = logging.getLogger(__name__)

RECORD_COLUMNS: Final = ("identifier", "batch_id", "info_mask", "class_mask")
LINK_COLUMNS: Final = (
    "report_id", "batch_id", "category", "amount_lost_fen", "reported_at", "identifiers", "info_mask", "linked_by",
)  # fmt: skip
LINK_SCHEMA: Final = pa.schema(
    zip(
        LINK_COLUMNS,
        [pa.string(), pa.string(), pa.string(), pa.uint64(), MILLIS, pa.list_(pa.string()),
         pa.uint32(), pa.string()],
        strict=True,
    )
)  # fmt: skip
VICTIM_LINKS: Final = "report_leak_links"
SCAMMER_LINKS: Final = "scammer_leak_links"
LEAK_TABLES: Final = ("leak_records", "leak_loads", "leak_batches", VICTIM_LINKS, SCAMMER_LINKS)

# What the loader writes and the API produces: only such strings can be in the index, so anything
# else a message carries is left out of the lookup instead of being sent to ClickHouse.
HASHED_IDENTIFIER: Final = re.compile(r"[a-z_]{1,16}:[0-9a-f]{32}")
BATCH_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")

# ClickHouse takes bound parameters of up to 128 KiB (http_max_field_value_size); a hashed identifier
# is at most 50 characters with the comma after it.
BOUND_CHUNK: Final = 2000
# The embedded gateway has no such limit. Each query costs a fixed ~10-20 ms of CPU (HTTP, form,
# analysis) whatever its size, which at 2,000 identifiers was over half of a flush's lookup: 68,000
# identifiers took 0.80 s of CPU in 2,000-identifier queries and 0.36-0.42 s in 8,000-identifier ones.
EMBEDDED_BOUND_CHUNK: Final = 8000
# Inlined identifiers (see LeakIndex) must keep the statement under max_query_size (256 KiB).
INLINE_CHUNK: Final = 4000


def lookup_chunk(configured: int | None, embedded: bool) -> int:
    """Identifiers per lookup query: as configured, else as large as the endpoint takes by default."""
    if configured is not None:
        return configured
    return EMBEDDED_BOUND_CHUNK if embedded else BOUND_CHUNK


# Named tuples rather than frozen dataclasses: one of each per linked report, and a frozen dataclass's
# __init__ (an object.__setattr__ per field) cost several times as much.
class BatchMatch(NamedTuple):
    """A report's identifiers found in one batch, and what the batch's records of them expose."""

    identifiers: tuple[str, ...]
    info_mask: int


_NO_BATCHES: Final[Mapping[str, BatchMatch]] = MappingProxyType({})


class LeakMatch(NamedTuple):
    """What one report's identifiers matched, by batch: the victim's, and separately the scammer's."""

    victim: Mapping[str, BatchMatch] = _NO_BATCHES
    scammer: Mapping[str, BatchMatch] = _NO_BATCHES

    @property
    def victim_batch_ids(self) -> list[str]:
        return sorted(self.victim)


NO_MATCH: Final = LeakMatch()


class LeakIndex:
    """Looks hashed identifiers up in `leak_records`.

    The identifiers travel comma-separated as the bound parameter `{ids:String}`, which ClickHouse splits
    (cheaper for it to parse than an `Array(String)` of them). Beyond 4 KiB of parameters
    clickhouse-connect sends them form-encoded, which ClickHouse servers, the chDB backend and the
    embedded gateway (sinks/gateway.py) take. An endpoint that does not is found out by `check`, and
    the identifiers are then inlined into the statement instead, which is safe because only strings
    of the HASHED_IDENTIFIER shape (hex digits and a kind name) are ever looked up.

    With `filter_max_identifiers`, only the identifiers that the worker's filter of the index
    (sinks.leak_filter) lets through are sent, with the same answer.
    """

    def __init__(
        self,
        client: Client,
        database: str,
        *,
        bound_parameters: bool | None = None,
        bound_chunk: int = BOUND_CHUNK,
        filter_max_identifiers: int = 0,
    ) -> None:
        self._client = client
        self._database = database
        self._bound = bound_parameters  # None: probe the endpoint on first use
        self._bound_chunk = bound_chunk
        self._filter = (
            LeakFilter(client, database, max_identifiers=filter_max_identifiers) if filter_max_identifiers else None
        )

    @property
    def bound_parameters(self) -> bool:
        if self._bound is None:
            self._bound = self._probe()
            if not self._bound:
                log.warning(
                    "ClickHouse endpoint does not take form-encoded query parameters; leak lookups inline "
                    "the (hex) identifiers instead",
                    extra={"database": self._database},
                )
        return self._bound

    @property
    def chunk(self) -> int:
        return self._bound_chunk if self.bound_parameters else INLINE_CHUNK

    def check(self) -> None:
        """Fail early if the index table is missing, settle how identifiers are sent, build the filter."""
        self._client.query(f"SELECT 1 FROM {self._database}.leak_records LIMIT 0")
        _ = self.bound_parameters
        if self._filter is not None:
            self._filter.refresh()

    def _probe(self) -> bool:
        sample = [f"probe:{i:032x}" for i in range(128)]  # more than 4 KiB once encoded
        try:
            result = self._client.query("SELECT length({ids:Array(String)})", parameters={"ids": sample})
        except OperationalError:
            raise  # unreachable is not an answer; the caller retries
        except ClickHouseError:
            return False
        return bool(result.result_rows and int(result.result_rows[0][0]) == len(sample))

    def lookup(self, identifiers: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        """identifier -> [(batch_id, info_mask)] for the identifiers that are in some batch."""
        # Each distinct identifier checked once; in no particular order (sorting them cost as much as the check).
        # The filter first: it is a test of each identifier alone, so the shape check after it keeps the same
        # ones, and checks far fewer.
        distinct = list(set(identifiers))
        narrowed = self._filter.narrow(distinct) if distinct and self._filter is not None else None
        wanted = _hashed(distinct if narrowed is None else narrowed)
        found: dict[str, list[tuple[str, int]]] = {}
        if not wanted:
            return found
        # GROUP BY: rows of one (identifier, batch) may sit in parts not merged yet.
        select = (
            # batch_id as a plain String: a LowCardinality column arrives as an Arrow dictionary, whose values
            # pyarrow converts to Python ~50x slower (~1.8 µs each).
            f"SELECT identifier, toString(batch_id), groupBitOr(info_mask) FROM {self._database}.leak_records "
            "WHERE identifier IN {} GROUP BY identifier, batch_id"
        )
        chunk = self.chunk
        for start in range(0, len(wanted), chunk):
            # Only HASHED_IDENTIFIER strings get here: they hold no comma, and quoted as they are, they are
            # valid literals.
            part = wanted[start : start + chunk]
            if self.bound_parameters:
                # One String split in ClickHouse rather than an Array(String) literal: ClickHouse parses an
                # array parameter element by element: 1.3-1.9x the CPU of the whole lookup (2,000 identifiers).
                ids = _Preformatted(",".join(part))
                query, parameters = select.format("splitByChar(',', {ids:String})"), {"ids": ids}
            else:
                query, parameters = select.format("('" + "','".join(part) + "')"), {}
            # As Arrow: with a batch's victims in the index there is a row per hit, which clickhouse-connect's
            # own format decodes value by value in Python (~2.5 µs a row against ~1 µs).
            result = self._client.query_arrow(query, parameters=parameters)
            columns = [result.column(k).to_pylist() for k in range(3)]
            for identifier, batch_id, mask in zip(*columns, strict=True):
                found.setdefault(identifier, []).append((batch_id, mask))
        return found


# All of a lookup's identifiers checked in one pass, joined by a character no identifier may hold.
_HASHED_LINES: Final = re.compile(rf"(?:{HASHED_IDENTIFIER.pattern}\n)*{HASHED_IDENTIFIER.pattern}")


def _hashed(identifiers: Collection[str]) -> list[str]:
    """The identifiers of the HASHED_IDENTIFIER shape: one regex pass over all of them where all are (the
    worker's case; a call per identifier cost ~2 µs per report), else one check each."""
    joined = "\n".join(identifiers)
    if joined.count("\n") == len(identifiers) - 1 and _HASHED_LINES.fullmatch(joined):
        return list(identifiers)
    return [i for i in identifiers if HASHED_IDENTIFIER.fullmatch(i)]


class _Preformatted:
    """A bound parameter's value already written as a ClickHouse literal.

    clickhouse-connect sends any value of a type it does not know as `str(value)`. The lookup's
    identifiers need no escaping (see `lookup`), and its per-character escaping of a list of strings
    in Python cost the worker ~20 µs per report, more than classifying it.
    """

    __slots__ = ("_literal",)

    def __init__(self, literal: str) -> None:
        self._literal = literal

    def __str__(self) -> str:
        return self._literal


def _matches(identifiers: Sequence[str], hits: Mapping[str, list[tuple[str, int]]]) -> dict[str, BatchMatch]:
    """The batches holding any of the identifiers: which of them (each once, in order) and their masks OR-ed."""
    by_batch: dict[str, BatchMatch] = {}
    for identifier in identifiers:
        for batch_id, mask in hits.get(identifier, ()):
            known = by_batch.get(batch_id)
            if known is None:
                by_batch[batch_id] = BatchMatch((identifier,), mask)
            elif identifier not in known.identifiers:
                by_batch[batch_id] = BatchMatch((*known.identifiers, identifier), known.info_mask | mask)
    return by_batch


def match_reports(index: LeakIndex, reports: Sequence[SanitisedReport]) -> list[LeakMatch]:
    """One LeakMatch per report (NO_MATCH for most), from a single lookup of all their identifiers."""
    # Field by field with C-level maps, not report by report: most reports of a flush match nothing, and
    # only the ones that do are looked at one by one.
    phones = list(map(_PHONE, reports))
    ids = list(map(_ID, reports))
    contacts = list(map(_CONTACTS, reports))
    flat = list(chain.from_iterable(contacts))
    wanted = set(phones)
    wanted.update(ids)
    wanted.update(flat)
    wanted.discard("")  # a victim identifier left empty is no identifier (`victim_identifiers`)
    hits = index.lookup(wanted) if wanted else {}
    if not hits:
        return [NO_MATCH] * len(reports)
    found = hits.__contains__
    victim = np.fromiter(map(found, phones), bool, len(reports)) | np.fromiter(map(found, ids), bool, len(reports))
    counts = np.fromiter(map(len, contacts), np.int64, len(reports))
    scammer = np.zeros(len(reports), bool)
    scammer[np.repeat(np.arange(len(reports)), counts)[np.fromiter(map(found, flat), bool, len(flat))]] = True
    matches = [NO_MATCH] * len(reports)
    # Each side looked at only where it matched: most linked reports are linked by their victim alone.
    for k, by_victim, by_scammer in zip(*(a.tolist() for a in _where_any(victim, scammer)), strict=True):
        r = reports[k]
        matches[k] = LeakMatch(
            _matches(victim_identifiers(r), hits) if by_victim else _NO_BATCHES,
            _matches(r.scammer_contacts, hits) if by_scammer else _NO_BATCHES,
        )
    return matches


def _where_any(*masks: np.ndarray) -> tuple[np.ndarray, ...]:
    """The places where any of the masks is true, and each mask there."""
    where = np.flatnonzero(np.logical_or.reduce(masks))
    return (where, *(mask[where] for mask in masks))


_PHONE: Final = attrgetter("victim_phone_hash")
_ID: Final = attrgetter("victim_id_hash")
_CONTACTS: Final = attrgetter("scammer_contacts")


def link_table(
    reports: Sequence[SanitisedReport],
    categories: Sequence[str],
    reported: pa.Array,
    batches: Sequence[Mapping[str, BatchMatch]],
    linked_by: str,
) -> pa.Table | None:
    """report_leak_links or scammer_leak_links rows (LINK_SCHEMA), one per (report, batch) of `batches`; the
    sequences are aligned, one entry per report (`reported`: its `reported_at`, as `FactColumns.reported`).
    None when no report matched. Columns rather than rows: clickhouse-connect serialises rows value by value
    in Python, which cost the worker more than finding the links."""
    at: list[int] = []
    batch_ids: list[str] = []
    identifiers: list[list[str]] = []
    masks: list[int] = []
    for k, found in enumerate(batches):
        if found:
            for batch_id, match in sorted(found.items()):
                at.append(k)
                batch_ids.append(batch_id)
                identifiers.append(sorted(match.identifiers))
                masks.append(match.info_mask)
    if not at:
        return None
    linked = [reports[k] for k in at]
    columns = [
        [r.report_id for r in linked],
        batch_ids,
        [categories[k] for k in at],
        [r.amount_lost_fen for r in linked],
        millis(reported.take(pa.array(at, pa.int64()))),
        identifiers,
        masks,
        [linked_by] * len(at),
    ]
    return pa.Table.from_arrays(
        [pa.array(c, f.type) if isinstance(c, list) else c for c, f in zip(columns, LINK_SCHEMA, strict=True)],
        schema=LINK_SCHEMA,
    )


# --- loading --------------------------------------------------------------------------------------


@dataclass
class LoadCounts:
    """What a load wrote, for leak_loads and the summary."""

    rows: int = 0
    records: int = 0
    identifiers: int = 0
    problems: int = 0
    masks: Counter[int] = field(default_factory=Counter)  # records per info mask

    @property
    def classes(self) -> ClassCounts:
        by_class: Counter[InfoClass] = Counter()
        for mask, n in self.masks.items():
            by_class[record_class(mask)] += n
        return ClassCounts(by_class[InfoClass.A], by_class[InfoClass.B], by_class[InfoClass.C])

    @property
    def info_type_records(self) -> dict[str, int]:
        return {t.value: n for t in INFO_TYPES if (n := sum(c for m, c in self.masks.items() if m & INFO_BIT[t]))}


class _BlockInserter:
    """Inserts TSV blocks from a background thread, so ClickHouse ingests one block while the next
    is parsed and hashed; at most one block waits, which bounds memory."""

    def __init__(self, client: Client, table: str) -> None:
        self._client = client
        self._table = table
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="leak-insert", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._client.raw_insert(self._table, list(RECORD_COLUMNS), block, fmt="TabSeparated")
                except BaseException as exc:  # handed to the loading thread, which raises it
                    self._error = exc

    def put(self, block: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(block)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> _BlockInserter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:  # already failing: stop the thread, keep the original error
            self._queue.put(None)
            self._thread.join()


def record_suffix(batch_id: str, info_mask: int) -> str:
    """What follows the identifier in a TSV line of leak_records (RECORD_COLUMNS)."""
    return f"\t{batch_id}\t{info_mask}\t{class_mask(info_mask)}\n"


def write_records(
    client: Client,
    database: str,
    batch_id: str,
    items: Iterable[LeakRecord | Problem],
    hasher: KeyedHasher,
    on_problem: Callable[[Problem], None],
    block_rows: int = 1_000_000,
) -> LoadCounts:
    """Hash every record's identifiers and insert them into leak_records in large blocks.

    Rows are (identifier, batch, info mask, class mask); AggregatingMergeTree ORs the masks of
    repeated (identifier, batch) pairs, so writing a record twice changes nothing.
    """
    if not BATCH_ID.fullmatch(batch_id):
        raise ValueError(f"invalid batch id {batch_id!r}")
    counts = LoadCounts()
    suffixes: dict[int, str] = {}  # info mask -> the rest of the TSV line; a batch has few distinct masks
    block: list[str] = []
    append = block.append
    hash_ = hasher.hash
    masks = counts.masks
    with _BlockInserter(client, f"{database}.leak_records") as inserter:
        for item in items:
            if type(item) is LeakRecord:
                mask = item.info_mask
                masks[mask] += 1
                suffix = suffixes.get(mask)
                if suffix is None:
                    suffix = suffixes[mask] = record_suffix(batch_id, mask)
                for kind, value in item.identifiers:
                    append(hash_(kind, value))
                    append(suffix)
                if len(block) >= 2 * block_rows:
                    counts.identifiers += len(block) // 2
                    inserter.put("".join(block).encode())
                    block.clear()
            elif isinstance(item, Problem):
                counts.problems += 1
                on_problem(item)
        if block:
            counts.identifiers += len(block) // 2
            inserter.put("".join(block).encode())
    counts.records = sum(masks.values())
    counts.rows = counts.records + counts.problems
    return counts


@dataclass(frozen=True)
class Batch:
    """A leak_batches row."""

    batch_id: str
    source_type: str
    industry: str
    seized_at: datetime
    records: int = 0
    severity: Severity = Severity.NONE
    severity_thresholds: str = ""
    classes: ClassCounts = field(default_factory=ClassCounts)
    info_type_records: Mapping[str, int] = field(default_factory=dict)
    identifiers: int = 0
    files: int = 0
    malformed_rows: int = 0

    def row(self) -> list[object]:
        return [
            self.batch_id, self.source_type, self.industry, self.seized_at, self.records, int(self.severity),
            self.severity.label, self.severity_thresholds, self.classes.a, self.classes.b, self.classes.c,
            dict(self.info_type_records), self.identifiers, self.files, self.malformed_rows,
        ]  # fmt: skip


BATCH_COLUMNS: Final = (
    "batch_id", "source_type", "industry", "seized_at", "records", "severity", "severity_label",
    "severity_thresholds", "records_class_a", "records_class_b", "records_class_c", "info_type_records",
    "identifiers", "files", "malformed_rows",
)  # fmt: skip
LOAD_COLUMNS: Final = (
    "batch_id", "file_sha256", "file_name", "file_bytes", "format", "rows", "records", "malformed_rows",
    "identifiers", "records_class_a", "records_class_b", "records_class_c", "info_type_records",
)  # fmt: skip


def missing_tables(client: Client, database: str) -> list[str]:
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": database}
    ).result_rows
    present = {str(r[0]) for r in rows}
    return [t for t in LEAK_TABLES if t not in present]


def read_batch(client: Client, database: str, batch_id: str) -> Batch | None:
    rows = client.query(
        f"SELECT {', '.join(BATCH_COLUMNS)} FROM {database}.leak_batches FINAL WHERE batch_id = {{b:String}}",
        parameters={"b": batch_id},
    ).result_rows
    return _batch(rows[0]) if rows else None


def read_batches(client: Client, database: str) -> list[Batch]:
    rows = client.query(
        f"SELECT {', '.join(BATCH_COLUMNS)} FROM {database}.leak_batches FINAL ORDER BY batch_id"
    ).result_rows
    return [_batch(r) for r in rows]


def _batch(row: Sequence[Any]) -> Batch:
    (batch_id, source_type, industry, seized_at, records, level, _, thresholds, a, b, c, info, ids, files, bad) = row
    return Batch(
        str(batch_id), str(source_type), str(industry), seized_at, int(records), Severity(int(level)),
        str(thresholds), ClassCounts(int(a), int(b), int(c)), {str(k): int(v) for k, v in dict(info).items()},
        int(ids), int(files), int(bad),
    )  # fmt: skip


def find_load(client: Client, database: str, batch_id: str, sha256: str) -> dict[str, Any] | None:
    result = client.query(
        f"SELECT {', '.join(LOAD_COLUMNS)}, loaded_at FROM {database}.leak_loads FINAL "
        "WHERE batch_id = {b:String} AND file_sha256 = {f:String}",
        parameters={"b": batch_id, "f": sha256},
    )
    return dict(zip(result.column_names, result.result_rows[0], strict=True)) if result.result_rows else None


def record_load(
    client: Client, database: str, batch_id: str, sha256: str, name: str, size: int, fmt: str, counts: LoadCounts
) -> None:
    classes = counts.classes
    client.insert(
        f"{database}.leak_loads",
        [[batch_id, sha256, name, size, fmt, counts.rows, counts.records, counts.problems, counts.identifiers,
          classes.a, classes.b, classes.c, counts.info_type_records]],
        column_names=list(LOAD_COLUMNS),
    )  # fmt: skip


def refresh_batch(
    client: Client,
    database: str,
    batch_id: str,
    source_type: str,
    industry: str,
    seized_at: datetime,
    thresholds: Thresholds,
) -> Batch:
    """Rewrite the batch's row from all its loads, graded with `thresholds`."""
    rows = client.query(
        "SELECT count(), sum(records), sum(malformed_rows), sum(identifiers), sum(records_class_a), "
        "sum(records_class_b), sum(records_class_c), sumMap(info_type_records) "
        f"FROM {database}.leak_loads FINAL WHERE batch_id = {{b:String}}",
        parameters={"b": batch_id},
    ).result_rows
    files, records, bad, ids, a, b, c, info = rows[0]
    classes = ClassCounts(int(a), int(b), int(c))
    batch = Batch(
        batch_id, source_type, industry, seized_at, int(records), severity(classes, thresholds), thresholds.describe(),
        classes, {str(k): int(v) for k, v in dict(info).items()}, int(ids), int(files), int(bad),
    )  # fmt: skip
    write_batch(client, database, batch)
    return batch


def write_batch(client: Client, database: str, batch: Batch) -> None:
    client.insert(f"{database}.leak_batches", [batch.row()], column_names=list(BATCH_COLUMNS))


def regrade(client: Client, database: str, thresholds: Thresholds) -> list[tuple[str, Severity, Severity]]:
    """Grade every batch again (after the thresholds changed); returns (batch, was, now) for changes."""
    changed = []
    for batch in read_batches(client, database):
        level = severity(batch.classes, thresholds)
        if level is not batch.severity or batch.severity_thresholds != thresholds.describe():
            write_batch(client, database, replace(batch, severity=level, severity_thresholds=thresholds.describe()))
            if level is not batch.severity:
                changed.append((batch.batch_id, batch.severity, level))
    return changed


# --- rescoring ------------------------------------------------------------------------------------

_VICTIM_IDS: Final = "arrayFilter(x -> x != '', [victim_phone_hash, victim_id_hash])"
_SCAMMER_IDS: Final = "arrayFilter(x -> x != '', scammer_contacts)"


def _relink_query(database: str, table: str, identifiers: str, batch_filter: str) -> str:
    since = "reported_at >= toDateTime64({since:String}, 3, {tz:String})"
    return f"""
SELECT r.report_id, m.batch_id, any(r.category), any(r.amount_lost_fen), any(r.reported_at),
       arraySort(groupUniqArray(r.identifier)), groupBitOr(m.info_mask)
FROM
(
    SELECT report_id, category, amount_lost_fen, reported_at, arrayJoin({identifiers}) AS identifier
    FROM {database}.reports
    WHERE {since}
) AS r
INNER JOIN
(
    SELECT identifier, batch_id, groupBitOr(info_mask) AS info_mask
    FROM {database}.leak_records
    WHERE identifier IN (SELECT arrayJoin({identifiers}) FROM {database}.reports WHERE {since}){batch_filter}
    GROUP BY identifier, batch_id
) AS m ON m.identifier = r.identifier
WHERE (m.batch_id, r.report_id) NOT IN (SELECT batch_id, report_id FROM {database}.{table})
GROUP BY r.report_id, m.batch_id
ORDER BY m.batch_id, r.report_id"""


@dataclass(frozen=True)
class RescoreResult:
    victim_links: int
    scammer_links: int
    reports: int  # distinct reports newly linked through their victim


def rescore(
    client: Client, database: str, *, since: date, timezone: str, batch_id: str | None = None, chunk: int = 100_000
) -> RescoreResult:
    """Link reports made since `since` to every batch (or one) holding their identifiers, adding only
    links that do not exist yet; a second run finds nothing new."""
    params = {"since": since.isoformat(), "tz": timezone}
    batch_filter = ""
    if batch_id is not None:
        batch_filter = " AND batch_id = {batch:String}"
        params["batch"] = batch_id
    written = {}
    victim_reports = 0
    for table, identifiers in ((VICTIM_LINKS, _VICTIM_IDS), (SCAMMER_LINKS, _SCAMMER_IDS)):
        rows = client.query(_relink_query(database, table, identifiers, batch_filter), parameters=params).result_rows
        links = [[*row, "rescore"] for row in rows]
        for start in range(0, len(links), chunk):
            client.insert(f"{database}.{table}", links[start : start + chunk], column_names=list(LINK_COLUMNS))
        written[table] = len(links)
        if table == VICTIM_LINKS:
            victim_reports = len({row[0] for row in rows})
    return RescoreResult(written[VICTIM_LINKS], written[SCAMMER_LINKS], victim_reports)


# --- reading for the CLI --------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _table(client: Client, sql: str, parameters: Mapping[str, Any] | None = None) -> Table:
    result = client.query(sql, parameters=dict(parameters or {}))
    return Table(tuple(result.column_names), [tuple(r) for r in result.result_rows])


def list_batches(client: Client, database: str) -> Table:
    """Every batch with its record counts, severity and what is linked to it, newest seizure first."""
    return _table(
        client,
        f"""SELECT b.batch_id AS batch_id, b.source_type AS source_type, b.industry AS industry,
       toDate(b.seized_at) AS seized, b.records AS records, b.records_class_a AS class_a,
       b.records_class_b AS class_b, b.records_class_c AS class_c, b.severity_label AS severity,
       b.files AS files, i.linked_reports AS linked_reports, round(i.linked_loss_fen / 100, 2) AS linked_loss_yuan,
       i.scammer_linked_reports AS scammer_linked_reports
FROM (SELECT * FROM {database}.leak_batches FINAL) AS b
LEFT JOIN {database}.leak_batch_impact AS i ON i.batch_id = b.batch_id
ORDER BY b.seized_at DESC, b.batch_id""",
    )


def batch_impact(client: Client, database: str, batch_id: str) -> dict[str, Any]:
    result = client.query(
        f"SELECT * FROM {database}.leak_batch_impact WHERE batch_id = {{b:String}}", parameters={"b": batch_id}
    )
    return dict(zip(result.column_names, result.result_rows[0], strict=True)) if result.result_rows else {}


def batch_loads(client: Client, database: str, batch_id: str) -> Table:
    return _table(
        client,
        f"""SELECT file_name, substring(file_sha256, 1, 12) AS sha256, file_bytes AS bytes, format, rows, records,
       malformed_rows AS malformed, identifiers, loaded_at
FROM {database}.leak_loads FINAL WHERE batch_id = {{b:String}} ORDER BY loaded_at""",
        {"b": batch_id},
    )


def batch_categories(client: Client, database: str, batch_id: str) -> Table:
    """Reports linked to the batch through their victim, by category (each report once)."""
    return _table(
        client,
        f"""SELECT category, uniqExact(report_id) AS linked_reports, round(sum(amount_lost_fen) / 100, 2) AS loss_yuan
FROM {database}.report_leak_links FINAL WHERE batch_id = {{b:String}}
GROUP BY category ORDER BY linked_reports DESC, category""",
        {"b": batch_id},
    )
