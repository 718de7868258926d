"""From sanitised reports to ClickHouse rows: per-report facts and per-minute aggregates.

Pure functions (no faust, no ClickHouse); the agent glues them to the stream and the sink.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from streams.categorizer import Classification, classify
from streams.envelope import SanitisedReport


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a message sits in Kafka, within one life (epoch) of the broker."""

    topic: str
    epoch: str
    partition: int
    offset: int

    @property
    def stream_key(self) -> tuple[str, str, int]:
        return (self.topic, self.epoch, self.partition)


FACT_COLUMNS = (
    "report_id", "reported_at", "occurred_at", "channel", "submitter", "region_code", "province_code",
    "city_code", "category", "category_confidence", "category_evidence", "citizen_category", "contact_method",
    "payment_channel", "amount_lost_fen", "victim_phone_hash", "victim_id_hash", "victim_age_band",
    "victim_gender", "scammer_contacts", "scammer_domains", "mentioned_identifiers", "leak_linked",
    "leak_batch_ids", "description_redacted", "src_topic", "src_epoch", "src_partition", "src_offset", "src_index",
)  # fmt: skip

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


def province_of(region_code: str) -> str:
    """The province-level division of a 6-digit administrative code (e.g. 420106 -> 420000)."""
    return region_code[:2] + "0000"


def city_of(region_code: str) -> str:
    """The prefecture-level division (e.g. 420106 -> 420100)."""
    return region_code[:4] + "00"


def facts_of(position: SourcePosition, reports: Iterable[SanitisedReport]) -> list[Fact]:
    return [
        Fact(position, i, r, classify(r.description, r.citizen_category or None, r.channel, r.amount_lost_fen))
        for i, r in enumerate(reports)
    ]


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


def minute_of(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(second=0, microsecond=0)


def minute_stats(facts: Iterable[Fact], zone: ZoneInfo) -> list[list[object]]:
    """Per-minute aggregate rows (by report time), one per group and source partition.

    Each row carries the highest offset of its partition among the given facts, so the sink can
    tell how far the aggregates already reach after a restart.
    """
    counts: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0])
    high: dict[tuple[str, str, int], int] = {}
    for fact in facts:
        key = fact.position.stream_key
        high[key] = max(high.get(key, -1), fact.position.offset)
        group = (minute_of(fact.report.reported_at, zone), fact.category, fact.province_code,
                 fact.report.region_code, *key)  # fmt: skip
        totals = counts[group]
        totals[0] += 1
        totals[1] += fact.report.amount_lost_fen
    return [[*group, n, loss, high[group[4], group[5], group[6]]] for group, (n, loss) in counts.items()]  # type: ignore[index]
