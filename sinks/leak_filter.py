"""The worker's filter of the leak index: identifiers that cannot be in it are not looked up.

Nearly every identifier a flush looks up is in no leak batch, and ClickHouse pays for each one it is
sent (~2.7 µs to build the `IN` set, on top of the query's fixed cost), so the worker keeps a
fingerprint of every identifier of `leak_records`: the last 32 bits of its hash, in a sorted array
(4 bytes an identifier: 104 MB for an index of 26 million). Only the identifiers whose fingerprint is
in it are sent. A fingerprint is a superset test: two identifiers may share one, never the reverse, so
what ClickHouse answers for the candidates is exactly what it would have answered for all of them.

Freshness: the filter is only used while it describes the table as it is. The table's version is its
UUID and the highest block number of its active parts (`system.parts`): in a (non-replicated)
MergeTree every insert takes a new, higher block number, while merges and deletions do not raise it,
and a filter that still holds deleted identifiers only lets a few more through. Before each lookup the
version is read (one small query); if it moved since the filter was built, the lookup sends everything,
as without a filter, and the filter is built again once the version has held still from one lookup to
the next, so a `fraudwatch leaks load` in progress (one insert per million identifiers) does not make
every flush rebuild it. A build reads the version before and after reading the fingerprints, and keeps
the result only if both are the same. So a report is linked against the index as it was at some moment
of its flush, exactly as a lookup of all identifiers would.

Only for a local MergeTree table: on a cluster (`Replicated*` or `Distributed`, docs/clickhouse-cluster.md)
block numbers do not order inserts across shards and replicas, and the worker looks everything up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Final

import numpy as np
from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

Version = tuple[str, int]

# Bits of a hashed identifier kept: its last 8 hex digits.
FINGERPRINT_HEX: Final = 8


# Lower-case hex digit -> its value; any other byte -> 16 (not a digit).
_NIBBLE: Final = np.full(256, 16, np.uint8)
_NIBBLE[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
_TAIL: Final = np.arange(-FINGERPRINT_HEX, 0)


def fingerprints(identifiers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(uint32 fingerprint, whether it has one) of each identifier, in order: the value of its last 8 characters
    if they are lower-case hex digits (as in every HASHED_IDENTIFIER), read for all identifiers at once."""
    if not identifiers:
        return np.empty(0, np.uint32), np.empty(0, bool)
    joined = np.frombuffer(("\n".join(identifiers) + "\n").encode(), np.uint8)
    ends = np.flatnonzero(joined == ord("\n"))
    if len(ends) != len(identifiers):  # an identifier holding a line break: none of the HASHED_IDENTIFIER shape
        return _fingerprints_one_by_one(identifiers)
    starts = np.concatenate(([0], ends[:-1] + 1))
    digits = _NIBBLE[joined[(ends[:, None] + _TAIL).clip(min=0)]]
    has = (ends - starts >= FINGERPRINT_HEX) & (digits < 16).all(axis=1)
    values = np.zeros(len(identifiers), np.uint32)
    for column in digits.T.astype(np.uint32):
        values = (values << 4) | column
    return values, has


def _fingerprints_one_by_one(identifiers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    tails = [i[-FINGERPRINT_HEX:] for i in identifiers]
    has = np.array([len(t) == FINGERPRINT_HEX and all(c in "0123456789abcdef" for c in t) for t in tails], bool)
    values = np.array([int(t, 16) if ok else 0 for t, ok in zip(tails, has.tolist(), strict=True)], np.uint32)
    return values, has


def candidates(identifiers: Sequence[str], known: np.ndarray) -> list[str]:
    """The identifiers whose fingerprint is in `known` (sorted, unique uint32), and those without one (which
    the lookup leaves out anyway, as not of the HASHED_IDENTIFIER shape)."""
    if not identifiers:
        return []
    wanted, has = fingerprints(identifiers)
    found = ~has
    if len(known):
        # Looked up in ascending order: the binary searches then walk `known` in order, ~3x faster.
        order = np.argsort(wanted)
        at = np.searchsorted(known, wanted[order]).clip(max=len(known) - 1)
        found[order] |= known[at] == wanted[order]
    return [identifiers[i] for i in np.flatnonzero(found).tolist()]


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    # Not np.unique: here it took ~0.7 s for a million values, sorting them ~10 ms.
    ordered = np.sort(values)
    if len(ordered) > 1:
        ordered = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    return ordered


class LeakFilter:
    """Fingerprints of `leak_records` for one database, rebuilt when the table changes (module docstring)."""

    def __init__(self, client: Client, database: str, *, max_identifiers: int) -> None:
        self._client = client
        self._database = database
        self._max_identifiers = max_identifiers
        self._known: np.ndarray | None = None
        self._built_at: Version | None = None  # what `_known` describes
        self._tried: Version | None = None  # the version of the last build, kept or not
        self._last_seen: Version | None = None
        self._usable: bool | None = None  # None: not yet checked (the table's engine)

    @property
    def identifiers(self) -> int:
        """Fingerprints held (0 when there is no usable filter)."""
        return 0 if self._known is None else len(self._known)

    def narrow(self, identifiers: Sequence[str]) -> list[str] | None:
        """The identifiers that may be in the index, or None when the filter cannot tell (all must be sent)."""
        known = self.refresh()
        return None if known is None else candidates(identifiers, known)

    def refresh(self) -> np.ndarray | None:
        """Build the filter again if the table changed and holds still; the fingerprints if they describe
        the table as it is now, else None. (The worker calls it once at start-up, so that the first build
        of a large index is not paid by its first flush.)"""
        if not self._check_engine():
            return None
        version = self._version()
        previous, self._last_seen = self._last_seen, version
        if version != self._tried and (self._tried is None or version == previous):
            self._build(version)
        return self._known if version == self._built_at else None

    def _check_engine(self) -> bool:
        if self._usable is None:
            rows = self._client.query(
                "SELECT engine FROM system.tables WHERE database = {db:String} AND name = 'leak_records'",
                parameters={"db": self._database},
            ).result_rows
            engine = str(rows[0][0]) if rows else ""
            self._usable = engine.endswith("MergeTree") and not engine.startswith("Replicated")
            if not self._usable:
                log.info(
                    "leak index filter off: every identifier is looked up",
                    extra={"database": self._database, "engine": engine or "missing"},
                )
        return self._usable

    def _version(self) -> Version:
        uuid, block, _ = self._state()
        return uuid, block

    def _state(self) -> tuple[str, int, int]:
        """(table UUID, highest block number, rows) of leak_records' active parts."""
        row = self._client.query(
            "SELECT (SELECT toString(uuid) FROM system.tables WHERE database = {db:String} AND name = 'leak_records'),"
            " max(max_block_number), sum(rows) FROM system.parts"
            " WHERE database = {db:String} AND table = 'leak_records' AND active",
            parameters={"db": self._database},
        ).result_rows[0]
        return str(row[0]), int(row[1]), int(row[2])

    def _build(self, version: Version) -> None:
        started = time.perf_counter()
        self._known, self._built_at, self._tried = None, None, version
        uuid, block, rows = self._state()
        if (uuid, block) != version:
            return  # moving again: try once it holds still
        if rows > self._max_identifiers:
            log.warning(
                "leak index larger than the worker's filter may hold: every identifier is looked up",
                extra={"database": self._database, "rows": rows, "max_identifiers": self._max_identifiers},
            )
            return
        column = self._client.query_arrow(
            f"SELECT reinterpretAsUInt32(reverse(unhex(right(identifier, {FINGERPRINT_HEX})))) AS fingerprint "
            f"FROM {self._database}.leak_records"
        ).column("fingerprint")
        known = _sorted_unique(column.to_numpy())
        if self._version() != version:
            return
        self._known, self._built_at = known.astype(np.uint32, copy=False), version
        log.info(
            "leak index filter built",
            extra={
                "database": self._database, "identifiers": len(known), "block": block,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )  # fmt: skip
