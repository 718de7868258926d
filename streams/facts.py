"""From sanitised reports to ClickHouse rows: per-report facts and per-minute aggregates, and which
copies of a client-keyed report to keep (`first_copies`, `KeyAges`).

Pure functions (no faust, no ClickHouse); the agent glues them to the stream and the sink. The worker
hands the sink one `Message` per Kafka message (its reports, unclassified); the sink turns everything a
flush holds into `FactColumns`: classified in one call (`classify_columns`, whose per-call cost is paid
once per flush instead of once per message) and written as one Arrow table built column by column, with
the minute aggregates grouped by Arrow. No object is made per report on the way. `Fact` is one report as
one object (`Fact.row` its row), for tests and tools; `fact_table` and `minute_stats` take facts too.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import Final
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.categorizer import Classification, Classified, classify_columns, classify_many
from streams.envelope import SanitisedReport


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a message sits in Kafka, within one life (epoch) of the broker."""

    topic: str
    epoch: str
    partition: int
    offset: int
    # Made once per message: the sink looks it up several times for every message.
    stream_key: tuple[str, str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream_key", (self.topic, self.epoch, self.partition))


_STRING = pa.string()
_STRINGS = pa.list_(_STRING)
_NO_STRINGS = pa.array([], _STRING)
_MICROS = pa.timestamp("us", tz="UTC")
MILLIS: Final = pa.timestamp("ms", tz="UTC")  # a DateTime64(3) column, as Arrow
# The columns of `reports` the worker writes, in order, with the Arrow types that ClickHouse reads into them.
FACT_SCHEMA: Final = pa.schema(
    [
        ("report_id", _STRING), ("reported_at", MILLIS), ("occurred_at", MILLIS), ("channel", _STRING),
        ("submitter", _STRING), ("region_code", _STRING), ("province_code", _STRING), ("city_code", _STRING),
        ("category", _STRING), ("category_confidence", pa.float32()), ("category_evidence", _STRINGS),
        ("citizen_category", _STRING), ("contact_method", _STRING), ("payment_channel", _STRING),
        ("amount_lost_fen", pa.uint64()), ("victim_phone_hash", _STRING), ("victim_id_hash", _STRING),
        ("victim_age_band", _STRING), ("victim_gender", _STRING), ("scammer_contacts", _STRINGS),
        ("scammer_domains", _STRINGS), ("mentioned_identifiers", _STRINGS), ("leak_linked", pa.uint8()),
        ("leak_batch_ids", _STRINGS), ("description_redacted", _STRING), ("src_topic", _STRING),
        ("src_epoch", _STRING), ("src_partition", pa.uint16()), ("src_offset", pa.uint64()), ("src_index", pa.uint32()),
    ]
)  # fmt: skip
FACT_COLUMNS: Final = tuple(FACT_SCHEMA.names)

STATS_COLUMNS = (
    "minute", "category", "province_code", "region_code", "src_topic", "src_epoch", "src_partition",
    "reports", "loss_fen", "src_offset_max",
)  # fmt: skip


def victim_identifiers(report: SanitisedReport) -> list[str]:
    """The victim's hashed identifiers, the ones a leak join links the report by."""
    return [h for h in (report.victim_phone_hash, report.victim_id_hash) if h]


@dataclass(frozen=True, slots=True)
class Fact:
    """One report, where it sits and its classification, as one object (tests and tools; see the module
    docstring for what the worker uses)."""

    position: SourcePosition
    index: int
    report: SanitisedReport
    classification: Classification

    @property
    def category(self) -> str:
        return self.classification.code

    @property
    def province_code(self) -> str:
        return province_of(self.report.region_code)

    @property
    def source_key(self) -> str:
        """Where this report sits in Kafka; a second copy of a report sits elsewhere."""
        return source_key(self.position, self.index)

    @property
    def victim_identifiers(self) -> list[str]:
        return victim_identifiers(self.report)

    def row(self, zone: ZoneInfo, leak_batch_ids: Sequence[str] = ()) -> list[object]:
        """The fact row; `leak_batch_ids` are the leak batches holding the victim when it was processed
        (the sink's leak join), which also makes the report leak-linked."""
        r, p, c = self.report, self.position, self.classification
        leaks = sorted(set(leak_batch_ids))
        return [
            r.report_id, r.reported_at.astimezone(zone), r.occurred_at.astimezone(zone), r.channel, r.submitter,
            r.region_code, self.province_code, city_of(r.region_code), c.code, c.confidence, list(c.evidence),
            r.citizen_category, r.contact_method, r.payment_channel, r.amount_lost_fen, r.victim_phone_hash,
            r.victim_id_hash, r.victim_age_band, r.victim_gender, list(r.scammer_contacts), list(r.scammer_domains),
            list(r.mentioned_identifiers), int(bool(leaks)), leaks, r.description, p.topic, p.epoch, p.partition,
            p.offset, self.index,
        ]  # fmt: skip


def source_key(position: SourcePosition, index: int) -> str:
    """Where a report sits in Kafka: its message's position and its index in the envelope."""
    return f"{position.epoch}:{position.partition}:{position.offset}:{index}"


def province_of(region_code: str) -> str:
    """The province-level division of a 6-digit administrative code (e.g. 420106 -> 420000)."""
    return region_code[:2] + "0000"


def city_of(region_code: str) -> str:
    """The prefecture-level division (e.g. 420106 -> 420100)."""
    return region_code[:4] + "00"


def province_codes(region_codes: pa.Array) -> pa.Array:
    """`province_of` of each code of a string column, in Arrow: no Python call per row."""
    return pc.binary_join_element_wise(pc.utf8_slice_codeunits(region_codes, 0, 2), "0000", "")


def city_codes(region_codes: pa.Array) -> pa.Array:
    """`city_of` of each code of a string column, in Arrow."""
    return pc.binary_join_element_wise(pc.utf8_slice_codeunits(region_codes, 0, 4), "00", "")


def facts_of(position: SourcePosition, reports: Iterable[SanitisedReport]) -> list[Fact]:
    """The facts of one message's reports, classified together (`classify_many`)."""
    reports = tuple(reports)
    classifications = classify_many([r.description for r in reports], [r.citizen_category or None for r in reports])
    return [Fact(position, i, r, c) for i, (r, c) in enumerate(zip(reports, classifications, strict=True))]


@dataclass(frozen=True, slots=True)
class Message:
    """Reports of one Kafka message on their way to the sink: `reports[k]` is the envelope's report number
    `indexes[k]`. Unclassified (`classifications` None) as the worker makes them: the sink classifies a
    whole flush at once. `messages_of` makes classified ones from facts."""

    position: SourcePosition
    reports: tuple[SanitisedReport, ...]
    indexes: tuple[int, ...]
    classifications: tuple[Classification, ...] | None = None

    @classmethod
    def of(cls, position: SourcePosition, reports: Sequence[SanitisedReport]) -> Message:
        """All reports of an envelope."""
        return cls(position, tuple(reports), tuple(range(len(reports))))

    def only(self, keep: Sequence[int]) -> Message:
        """The reports at these places of `reports` (not envelope indexes), in this order."""
        c = self.classifications
        return Message(
            self.position,
            tuple(self.reports[k] for k in keep),
            tuple(self.indexes[k] for k in keep),
            None if c is None else tuple(c[k] for k in keep),
        )

    def merged(self, other: Message) -> Message:
        """This message with the reports of another delivery of it that this one lacks."""
        mine = set(self.indexes)
        if mine.issuperset(other.indexes):
            return self
        both = [(i, r, self) for i, r in zip(self.indexes, self.reports, strict=True)]
        both += [(i, r, other) for i, r in zip(other.indexes, other.reports, strict=True) if i not in mine]
        both.sort(key=lambda entry: entry[0])
        classified = self.classifications is not None and other.classifications is not None
        return Message(
            self.position,
            tuple(r for _, r, _ in both),
            tuple(i for i, _, _ in both),
            tuple(m.classifications[m.indexes.index(i)] for i, _, m in both) if classified else None,  # type: ignore[index]
        )


def messages_of(facts: Iterable[Fact]) -> list[Message]:
    """Facts as messages (classified): each run of facts of one position becomes one message."""
    messages: list[Message] = []
    run: list[Fact] = []
    for fact in chain(facts, [None]):
        if run and (fact is None or fact.position != run[0].position):
            messages.append(
                Message(
                    run[0].position,
                    tuple(f.report for f in run),
                    tuple(f.index for f in run),
                    tuple(f.classification for f in run),
                )
            )
            run = []
        if fact is not None:
            run.append(fact)
    return messages


def first_copies(message: Message, seen: MutableMapping[str, str]) -> Message:
    """The message without second copies of client-keyed reports (a resend that reached Kafka twice).

    `seen` maps a client-keyed report_id to where its first copy sits; a redelivery of that same
    first copy is kept (the sink recognises it), a copy sitting anywhere else is not.
    """
    if not any(r.client_keyed for r in message.reports):
        return message
    keep = []
    for k, (report, index) in enumerate(zip(message.reports, message.indexes, strict=True)):
        if report.client_keyed:
            here = source_key(message.position, index)
            first = seen.get(report.report_id)
            if first is None:
                seen[report.report_id] = here
            elif first != here:
                continue
        keep.append(k)
    return message if len(keep) == len(message.reports) else message.only(keep)


def _instants(moments: Sequence[object]) -> pa.Array:
    # ClickHouse keeps a DateTime64 as ticks since the epoch; the column's zone only formats them, so no
    # per-row astimezone is needed. Arrow converts aware datetimes natively.
    return pa.array(moments, _MICROS)


def millis(micros: pa.Array) -> pa.Array:
    """Instants of `_instants` as the millisecond ticks of a DateTime64(3) column."""
    # The cast drops the sub-millisecond part (towards zero, which differs from flooring only before 1970).
    return micros.cast(MILLIS, safe=False)


# Where each column of FACT_COLUMNS comes from in a SanitisedReport; the others are made in `FactColumns.table`.
_REPORT_SOURCES: Final = {
    "report_id": "report_id", "reported_at": "reported_at", "occurred_at": "occurred_at", "channel": "channel",
    "submitter": "submitter", "region_code": "region_code", "citizen_category": "citizen_category",
    "contact_method": "contact_method", "payment_channel": "payment_channel", "amount_lost_fen": "amount_lost_fen",
    "victim_phone_hash": "victim_phone_hash", "victim_id_hash": "victim_id_hash",
    "victim_age_band": "victim_age_band", "victim_gender": "victim_gender", "scammer_contacts": "scammer_contacts",
    "scammer_domains": "scammer_domains", "mentioned_identifiers": "mentioned_identifiers",
    "description_redacted": "description",
}  # fmt: skip
# All of them in one C-level call per report; zip(*...) then turns the per-report tuples into columns.
_REPORT_VALUES: Final = attrgetter(*_REPORT_SOURCES.values())
# Floats convert to integers exactly, and numpy divides them as Python does, only below 2**53.
_EXACT_MICROS: Final = 2**53


class FactColumns:
    """The reports of several messages as columns, classified together: what one flush writes.

    Row k is the k-th report of the messages in order. `table` gives the `reports` rows, `minute_stats`
    the `report_stats_1m` rows, of all rows or of those a boolean mask selects.
    """

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = messages
        self.reports = [r for m in messages for r in m.reports]
        self.sizes = [len(m.reports) for m in messages]
        if all(m.classifications is None for m in messages):
            self.classified = classify_columns(
                [r.description for r in self.reports], [r.citizen_category or None for r in self.reports]
            )
        else:  # tests and tools hand in classified facts
            self.classified = Classified.of(
                [
                    c
                    for m in messages
                    for c in m.classifications
                    or classify_many(
                        [r.description for r in m.reports], [r.citizen_category or None for r in m.reports]
                    )
                ]
            )
        values = zip(*map(_REPORT_VALUES, self.reports), strict=True) if self.reports else ((),) * len(_REPORT_SOURCES)
        self._values: dict[str, Sequence[object]] = dict(zip(_REPORT_SOURCES, values, strict=True))
        self.reported = _instants(self._values["reported_at"])

    def __len__(self) -> int:
        return len(self.reports)

    @property
    def categories(self) -> list[str]:
        return self.classified.codes

    def _per_message(self, values: Sequence[object], dtype: object) -> np.ndarray:
        return np.repeat(np.array(values, dtype=dtype), self.sizes)  # type: ignore[call-overload]

    def table(self, leak_batch_ids: Sequence[Sequence[str]] = (), rows: np.ndarray | None = None) -> pa.Table:
        """The rows (all, or where the mask `rows` is true) as one Arrow table of FACT_COLUMNS (FACT_SCHEMA):
        the same values as `Fact.row`. `leak_batch_ids`, if given, has one entry per row: the leak batches
        holding its victim (see `Fact.row`)."""
        n = len(self.reports)
        columns = {name: pa.array(values, FACT_SCHEMA.field(name).type) for name, values in self._values.items()
                   if name not in ("reported_at", "occurred_at")}  # fmt: skip
        columns["reported_at"] = millis(self.reported)
        columns["occurred_at"] = millis(_instants(self._values["occurred_at"]))
        columns["province_code"] = province_codes(columns["region_code"])
        columns["city_code"] = city_codes(columns["region_code"])
        c = self.classified
        columns["category"] = pa.array(c.codes, _STRING)
        columns["category_confidence"] = pa.array(c.confidences, pa.float32())
        columns["category_evidence"] = pa.ListArray.from_arrays(
            pa.array(c.evidence_offsets.astype(np.int32)), pa.array(c.evidence, _STRING)
        )
        columns.update(leak_columns(leak_batch_ids, n))
        positions = [m.position for m in self.messages]
        columns["src_topic"] = pa.array(self._per_message([p.topic for p in positions], object), _STRING)
        columns["src_epoch"] = pa.array(self._per_message([p.epoch for p in positions], object), _STRING)
        columns["src_partition"] = pa.array(self._per_message([p.partition for p in positions], np.uint16))
        columns["src_offset"] = pa.array(self._per_message([p.offset for p in positions], np.uint64))
        columns["src_index"] = pa.array(list(chain.from_iterable(m.indexes for m in self.messages)), pa.uint32())
        table = pa.Table.from_arrays([columns[name] for name in FACT_COLUMNS], schema=FACT_SCHEMA)
        return table if rows is None else table.filter(pa.array(rows))

    def minute_stats(self, zone: ZoneInfo, rows: np.ndarray | None = None) -> list[list[object]]:
        """Per-minute aggregate rows (by report time) of the rows (all, or where the mask `rows` is true),
        one per group and source partition, in order of each group's first row.

        Each row carries the highest offset of its partition among those rows, so the sink can tell how
        far the aggregates already reach after a restart.
        """
        # Grouped by minute since the epoch, which is the zone's minute (`minute_of`) wherever the zone's offset
        # is whole minutes, as every offset in use since 1972 is. The minute is `reported_at.timestamp() // 60`,
        # computed from the ticks as Python computes it where floats hold them exactly.
        micros = self.reported.cast(pa.int64()).to_numpy()
        minutes = np.floor_divide(micros / 1e6, 60).astype(np.int64)
        for k in np.flatnonzero(np.abs(micros) >= _EXACT_MICROS).tolist():
            minutes[k] = int(self.reports[k].reported_at.timestamp() // 60)
        streams: dict[tuple[str, str, int], int] = {}
        stream_ids = self._per_message(
            [streams.setdefault(m.position.stream_key, len(streams)) for m in self.messages], np.int64
        )
        groups = pa.table(
            {
                "minute": minutes,
                "category": pa.array(self.classified.codes, _STRING),
                "region": pa.array(self._values["region_code"], _STRING),
                "stream": stream_ids,
                "loss": pa.array(self._values["amount_lost_fen"], pa.uint64()),
                "row": np.arange(len(self.reports)),
            }
        )
        if rows is not None:
            groups = groups.filter(pa.array(rows))
        high: dict[tuple[str, str, int], int] = {}
        selected = np.ones(len(self.reports), bool) if rows is None else rows
        for message, start, stop in zip(self.messages, *_bounds(self.sizes), strict=True):
            key = message.position.stream_key
            if selected[start:stop].any() and message.position.offset > high.get(key, -1):
                high[key] = message.position.offset
        keys = list(streams)
        # Arrow's group order is its own: the groups in order of their first row, as before.
        totals = (
            groups.group_by(["minute", "category", "region", "stream"], use_threads=False)
            .aggregate([("loss", "count"), ("loss", "sum"), ("row", "min")])
            .sort_by("row_min")
        )
        columns = [totals.column(name).to_pylist() for name in ("minute", "category", "region", "stream")]
        # A flush spans a few minutes and holds many groups: each minute's datetime made once.
        moments = {minute: datetime.fromtimestamp(minute * 60, zone) for minute in set(columns[0])}
        return [
            [moments[minute], category, province_of(region), region, *keys[stream], n, loss, high[keys[stream]]]
            for minute, category, region, stream, n, loss in zip(*columns, totals.column("loss_count").to_pylist(),
                                                                  totals.column("loss_sum").to_pylist(), strict=True)
        ]  # fmt: skip


def leak_columns(leak_batch_ids: Sequence[Sequence[str]], n: int) -> dict[str, pa.Array]:
    """`leak_linked` and `leak_batch_ids` of n rows, from each row's leak batches (none for all if empty)."""
    if any(leak_batch_ids):
        leaks = [sorted(set(ids)) if ids else [] for ids in leak_batch_ids]
        return {
            "leak_linked": pa.array([1 if ids else 0 for ids in leaks], pa.uint8()),
            "leak_batch_ids": pa.array(leaks, _STRINGS),
        }
    # Nothing linked, as in most flushes: the same columns without a list per row.
    return {
        "leak_linked": pa.array(np.zeros(n, np.uint8)),
        "leak_batch_ids": pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), _NO_STRINGS),
    }


def with_leak_batch_ids(table: pa.Table, leak_batch_ids: Sequence[Sequence[str]]) -> pa.Table:
    """A `FactColumns.table` with the leak columns of its rows replaced (one entry per row of the table)."""
    for name, column in leak_columns(leak_batch_ids, table.num_rows).items():
        index = FACT_SCHEMA.get_field_index(name)
        table = table.set_column(index, FACT_SCHEMA.field(index), column)
    return table


def _bounds(sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    stops = np.cumsum(sizes).tolist()
    return [stop - size for stop, size in zip(stops, sizes, strict=True)], stops


def fact_table(facts: Sequence[Fact], leak_batch_ids: Sequence[Sequence[str]] = ()) -> pa.Table:
    """The facts as one Arrow table of FACT_COLUMNS (see `FactColumns.table`)."""
    return FactColumns(messages_of(facts)).table(leak_batch_ids)


class KeyAges:
    """When this process first saw each client-keyed report_id, oldest first, so the worker can forget
    where a first copy sits once no resend can still come (`expired`).

    Keys restored from elsewhere (a changelog replayed at start or after a rebalance) are to be given
    to `saw` as seen now: their true age is unknown, and keeping a key too long only costs memory,
    while dropping it too early would let a resend through.
    """

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self._first_seen: dict[str, float] = {}  # insertion order is age order: times never decrease

    def __len__(self) -> int:
        return len(self._first_seen)

    def saw(self, report_ids: Iterable[str], now: float) -> None:
        first_seen = self._first_seen
        for report_id in report_ids:
            first_seen.setdefault(report_id, now)

    def expired(self, now: float, limit: int) -> list[str]:
        """Up to `limit` of the oldest keys first seen at least `keep_s` ago; they are forgotten here."""
        first_seen = self._first_seen
        gone: list[str] = []
        for report_id, seen_at in first_seen.items():
            if now - seen_at < self.keep_s or len(gone) >= limit:
                break
            gone.append(report_id)
        for report_id in gone:
            del first_seen[report_id]
        return gone


def minute_of(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(second=0, microsecond=0)


def minute_stats(facts: Iterable[Fact], zone: ZoneInfo) -> list[list[object]]:
    """Per-minute aggregate rows of facts (see `FactColumns.minute_stats`)."""
    return FactColumns(messages_of(facts)).minute_stats(zone)
