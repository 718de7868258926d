"""From sanitised reports to ClickHouse rows: per-report facts and per-minute aggregates, and which
copies of a client-keyed report to keep (`first_copies`, `KeyAges`).

Pure functions (no faust, no ClickHouse); the agent glues them to the stream and the sink. The sink
writes facts as one Arrow table per flush (`fact_table`), built column by column straight from the
facts, because per-row lists and clickhouse-connect's row-to-column serialisation cost the worker
more than classifying the report did; `Fact.row` is the same data as one row, for tests and tools.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Final, cast
from zoneinfo import ZoneInfo

import pyarrow as pa

from streams.categorizer import Classification, classify_many
from streams.envelope import SanitisedReport


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a message sits in Kafka, within one life (epoch) of the broker."""

    topic: str
    epoch: str
    partition: int
    offset: int
    # Made once per message: the sink looks it up several times for every fact of the message.
    stream_key: tuple[str, str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream_key", (self.topic, self.epoch, self.partition))


_STRING = pa.string()
_STRINGS = pa.list_(_STRING)
_MICROS = pa.timestamp("us", tz="UTC")
_MILLIS = pa.timestamp("ms", tz="UTC")
# The columns of `reports` the worker writes, in order, with the Arrow types that ClickHouse reads into them.
FACT_SCHEMA: Final = pa.schema(
    [
        ("report_id", _STRING), ("reported_at", _MILLIS), ("occurred_at", _MILLIS), ("channel", _STRING),
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


@dataclass(frozen=True, slots=True)
class Fact:
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
        p = self.position
        return f"{p.epoch}:{p.partition}:{p.offset}:{self.index}"

    @property
    def victim_identifiers(self) -> list[str]:
        """The victim's hashed identifiers, the ones a leak join links the report by."""
        return [h for h in (self.report.victim_phone_hash, self.report.victim_id_hash) if h]

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


def _instants(moments: Sequence[object]) -> pa.Array:
    # ClickHouse keeps a DateTime64 as ticks since the epoch; the column's zone only formats them, so no
    # per-row astimezone is needed. Arrow converts aware datetimes natively; the cast drops the sub-
    # millisecond part (towards zero, which differs from flooring only before 1970).
    return pa.array(moments, _MICROS).cast(_MILLIS, safe=False)


# Where each column of FACT_COLUMNS comes from in a Fact; the others are derived in `fact_table`.
_FACT_SOURCES: Final = {
    "report_id": "report.report_id", "reported_at": "report.reported_at", "occurred_at": "report.occurred_at",
    "channel": "report.channel", "submitter": "report.submitter", "region_code": "report.region_code",
    "category": "classification.code", "category_confidence": "classification.confidence",
    "category_evidence": "classification.evidence", "citizen_category": "report.citizen_category",
    "contact_method": "report.contact_method", "payment_channel": "report.payment_channel",
    "amount_lost_fen": "report.amount_lost_fen", "victim_phone_hash": "report.victim_phone_hash",
    "victim_id_hash": "report.victim_id_hash", "victim_age_band": "report.victim_age_band",
    "victim_gender": "report.victim_gender", "scammer_contacts": "report.scammer_contacts",
    "scammer_domains": "report.scammer_domains", "mentioned_identifiers": "report.mentioned_identifiers",
    "description_redacted": "report.description", "src_topic": "position.topic", "src_epoch": "position.epoch",
    "src_partition": "position.partition", "src_offset": "position.offset", "src_index": "index",
}  # fmt: skip
# All of them in one C-level call per fact; zip(*...) then turns the per-fact tuples into columns.
_FACT_VALUES: Final = attrgetter(*_FACT_SOURCES.values())
_TIMES: Final = frozenset({"reported_at", "occurred_at"})


def fact_table(facts: Sequence[Fact], leak_batch_ids: Sequence[Sequence[str]] = ()) -> pa.Table:
    """The facts as one Arrow table of FACT_COLUMNS (FACT_SCHEMA): the same values as `Fact.row`, column-wise.

    `leak_batch_ids`, if given, holds one entry per fact: the leak batches holding its victim (see `Fact.row`).
    """
    values = zip(*map(_FACT_VALUES, facts), strict=True) if facts else ((),) * len(_FACT_SOURCES)
    columns: dict[str, Sequence[object]] = dict(zip(_FACT_SOURCES, values, strict=True))
    regions = cast(Sequence[str], columns["region_code"])
    leaks = [sorted(set(ids)) if ids else [] for ids in leak_batch_ids] if leak_batch_ids else [[]] * len(facts)
    columns["province_code"] = list(map(province_of, regions))
    columns["city_code"] = list(map(city_of, regions))
    columns["leak_linked"] = [1 if ids else 0 for ids in leaks]
    columns["leak_batch_ids"] = leaks
    return pa.Table.from_arrays(
        [_instants(columns[f.name]) if f.name in _TIMES else pa.array(columns[f.name], f.type) for f in FACT_SCHEMA],
        schema=FACT_SCHEMA,
    )


def province_of(region_code: str) -> str:
    """The province-level division of a 6-digit administrative code (e.g. 420106 -> 420000)."""
    return region_code[:2] + "0000"


def city_of(region_code: str) -> str:
    """The prefecture-level division (e.g. 420106 -> 420100)."""
    return region_code[:4] + "00"


def facts_of(position: SourcePosition, reports: Iterable[SanitisedReport]) -> list[Fact]:
    """The facts of one message's reports, classified together (`classify_many`)."""
    reports = tuple(reports)
    classifications = classify_many([r.description for r in reports], [r.citizen_category or None for r in reports])
    return [Fact(position, i, r, c) for i, (r, c) in enumerate(zip(reports, classifications, strict=True))]


def first_copies(facts: Iterable[Fact], seen: MutableMapping[str, str]) -> list[Fact]:
    """Drop second copies of client-keyed reports (a resend that reached Kafka twice).

    `seen` maps a client-keyed report_id to where its first copy sits; a redelivery of that same
    first copy is kept (the sink recognises it), a copy sitting anywhere else is not.
    """
    kept = []
    for fact in facts:
        if fact.report.client_keyed:
            first = seen.get(fact.report.report_id)
            if first is None:
                seen[fact.report.report_id] = fact.source_key
            elif first != fact.source_key:
                continue
        kept.append(fact)
    return kept


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
    """Per-minute aggregate rows (by report time), one per group and source partition.

    Each row carries the highest offset of its partition among the given facts, so the sink can
    tell how far the aggregates already reach after a restart.
    """
    # Grouped by minute since the epoch, which is the zone's minute (`minute_of`) wherever the zone's offset
    # is whole minutes, as every offset in use since 1972 is; the per-fact astimezone was most of the cost.
    # The province follows from the region, so it is derived per group.
    counts: dict[tuple[int, str, str, str, str, int], list[int]] = {}
    high: dict[tuple[str, str, int], int] = {}
    for fact in facts:
        p, r = fact.position, fact.report
        group = (int(r.reported_at.timestamp() // 60), fact.classification.code, r.region_code, *p.stream_key)
        totals = counts.get(group)
        if totals is None:
            counts[group] = [1, r.amount_lost_fen]
        else:
            totals[0] += 1
            totals[1] += r.amount_lost_fen
        if p.offset > high.get(p.stream_key, -1):
            high[p.stream_key] = p.offset
    return [
        [datetime.fromtimestamp(minute * 60, zone), category, province_of(region), region, topic, epoch, partition,
         n, loss, high[topic, epoch, partition]]
        for (minute, category, region, topic, epoch, partition), (n, loss) in counts.items()
    ]  # fmt: skip
