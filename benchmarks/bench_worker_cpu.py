"""CPU of the worker's per-report steps, in this process, without ClickHouse: a load-independent measure.

Not a test. Decodes envelopes made as `fraudwatch bench` makes them (its workload, cached in a file so that
two trees measure the same bytes) and runs what the worker runs for them: `decode_envelope`, `first_copies`,
the sink's `prepare` (`FactColumns`, the leak join), its `_build` (`table`, `minute_stats`), the leak columns
and links of the matched reports, and the Arrow IPC serialisation clickhouse-connect does for `insert_arrow`.
The leak index answers from a dict holding what ClickHouse would answer for the bench's index (the query
and its decoding are the part left out). Each step is timed in CPU seconds of this thread, best of --repeats,
and printed per report; a digest of everything produced tells whether two trees made the same rows.

    python benchmarks/bench_worker_cpu.py --workload /tmp/workload.bin   # makes it on first use
    valgrind --tool=callgrind python benchmarks/bench_worker_cpu.py --workload /tmp/workload.bin --repeats 1
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pickle
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pyarrow as pa
from clickhouse_connect.driver.query import arrow_buffer

from fraudwatch.collector import settle_garbage_collector
from fraudwatch.settings import Settings
from sinks.leaks import LeakIndex, link_table, match_reports
from streams.envelope import decode_envelope
from streams.facts import FactColumns, Message, SourcePosition, first_copies, with_leak_batch_ids

try:
    from sinks.writer import insert_arrow as _insert_arrow
except ImportError:  # a tree from before it
    _insert_arrow = None  # type: ignore[assignment]

TOPIC = "reports.raw"
_T = TypeVar("_T")


class _AnsweringIndex(LeakIndex):
    """The leak index as ClickHouse answers it, from a dict: identifier -> [(batch_id, info_mask)]."""

    def __init__(self, hits: dict[str, list[tuple[str, int]]]) -> None:
        self._hits = hits

    def lookup(self, identifiers: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        return {i: self._hits[i] for i in set(identifiers) if i in self._hits}


def workload(path: Path, reports: int) -> tuple[list[bytes], dict[str, list[tuple[str, int]]]]:
    """The bench's envelopes and what its leak index holds, made once and kept in `path`."""
    if path.exists():
        kept: tuple[list[bytes], dict[str, list[tuple[str, int]]]] = pickle.loads(path.read_bytes())  # noqa: S301
        return kept  # (a file this script wrote)
    # Imported only here: it imports chDB, whose allocator the worker does not have.
    from fraudwatch.benchmark import (
        LEAK_INDEX_INFO_MASK,
        UNRELATED_LEAK_BATCH,
        BenchConfig,
        leak_index_identifiers,
        prepare_workload,
    )

    config = BenchConfig(reports=reports)
    made = prepare_workload(config, Settings(), lambda message: print(message, flush=True))
    hits: dict[str, list[tuple[str, int]]] = {}
    for batch, identifiers in leak_index_identifiers(made, config).items():
        if batch != UNRELATED_LEAK_BATCH:
            for identifier in identifiers:
                hits.setdefault(identifier, []).append((batch, LEAK_INDEX_INFO_MASK))
    path.write_bytes(pickle.dumps((made.envelopes, hits)))
    return made.envelopes, hits


class _Capture:
    """A client that keeps what an insert would send."""

    write_compression = None

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def raw_insert(self, table: str, columns: Sequence[str], body: Any, *args: Any, **kwargs: Any) -> None:
        self.bodies.append(body)

    def insert_arrow(self, table: str, rows: pa.Table, *args: Any, **kwargs: Any) -> None:
        self.bodies.append(arrow_buffer(rows)[1])


def ipc_bodies(tables: Sequence[pa.Table]) -> list[Any]:
    """What the sink sends for these tables: through `sinks.writer.insert_arrow` where the tree has it, else
    through clickhouse-connect's `insert_arrow`."""
    client = _Capture()
    for table in tables:
        if _insert_arrow is None:
            client.insert_arrow("t", table)
        else:
            _insert_arrow(client, "t", table)  # type: ignore[arg-type]
    return client.bodies


class _Steps:
    """Each step's CPU seconds per flush, summed: the best of `repeats` runs and the first run."""

    def __init__(self, repeats: int) -> None:
        self.repeats = repeats
        self.best: dict[str, float] = {}
        self.first: dict[str, float] = {}

    def __call__(self, name: str, action: Callable[[], _T]) -> _T:
        best = math.inf
        for repeat in range(self.repeats):
            started = time.thread_time()
            value = action()
            took = time.thread_time() - started
            best = min(best, took)
            if repeat == 0:
                self.first[name] = self.first.get(name, 0.0) + took
        self.best[name] = self.best.get(name, 0.0) + best
        return value


def flush_steps(raws: Sequence[bytes], first_offset: int, index: LeakIndex, zone: ZoneInfo, step: _Steps) -> list[Any]:
    """One flush's steps, timed; what they made, to compare trees by."""
    decoded = step("decode_envelope", lambda: [decode_envelope(raw) for raw in raws])

    def messages() -> list[Message]:
        seen: dict[str, str] = {}
        return [
            first_copies(Message.of(SourcePosition(TOPIC, e.epoch, k % 4, first_offset + k), e.reports), seen)
            for k, e in enumerate(decoded)
        ]

    batch = step("Message.of + first_copies", messages)
    rows = step("FactColumns (classify, columns)", lambda: FactColumns(batch))
    matches = step("match_reports (without the query)", lambda: match_reports(index, rows.reports))
    table = step("FactColumns.table", rows.table)
    stats = step("FactColumns.minute_stats", lambda: rows.minute_stats(zone))

    def links() -> list[pa.Table]:
        made = [
            link_table(rows.reports, rows.categories, rows.reported, [getattr(m, side) for m in matches], "stream")
            for side in ("victim", "scammer")
        ]
        ids = [m.victim_batch_ids if m.victim else () for m in matches]
        return [t for t in made if t is not None] + [with_leak_batch_ids(table, ids)]

    tables = step("links + leak columns", links)
    return [*step("Arrow IPC of the inserts", lambda: ipc_bodies(tables)), repr(stats).encode()]


def run(envelopes: Sequence[bytes], hits: dict[str, list[tuple[str, int]]], flush: int, repeats: int) -> None:
    zone = Settings().zone
    index = _AnsweringIndex(hits)
    step = _Steps(repeats)
    digest = hashlib.sha256()
    for start in range(0, len(envelopes), flush):
        for made in flush_steps(envelopes[start : start + flush], start, index, zone, step):
            digest.update(hashlib.sha256(memoryview(made)).digest())
    total = sum(len(decode_envelope(raw).reports) for raw in envelopes)
    print(f"{total:,} reports in flushes of {flush} envelopes; CPU µs per report, best of {repeats} and first:")
    for name, seconds in step.best.items():
        print(f"  {name:<40} {seconds / total * 1e6:8.2f} {step.first[name] / total * 1e6:8.2f}")
    print(f"  {'total':<40} {sum(step.best.values()) / total * 1e6:8.2f} {sum(step.first.values()) / total * 1e6:8.2f}")
    print(f"digest of the rows, links and aggregates: {digest.hexdigest()[:16]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", type=Path, required=True, help="made there on first use, else read")
    parser.add_argument("--reports", type=int, default=120_000, help="reports of a new workload")
    parser.add_argument("--flush", type=int, default=320, help="envelopes per flush (~40,000 reports)")
    parser.add_argument("--envelopes", type=int, default=0, help="use only the first N envelopes (0: all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    envelopes, hits = workload(args.workload, args.reports)
    settle_garbage_collector()  # as the worker does at start-up
    run(envelopes[: args.envelopes or None], hits, args.flush, args.repeats)


if __name__ == "__main__":
    main()
