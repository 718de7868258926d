"""From sanitised reports to ClickHouse rows: per-report facts and per-minute aggregates.

Pure functions (no faust, no ClickHouse); the agent glues them to the stream and the sink.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from streams.categorizer import categorize
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
    "report_id", "reported_at", "occurred_at", "channel", "region_code", "province_code", "category",
    "citizen_category", "amount_lost_fen", "victim_phone_hash", "description_redacted",
    "src_topic", "src_epoch", "src_partition", "src_offset", "src_index",
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
    category: str

    @property
    def province_code(self) -> str:
        return province_of(self.report.region_code)

    def row(self, zone: ZoneInfo) -> list[object]:
        r, p = self.report, self.position
        return [
            r.report_id, r.reported_at.astimezone(zone), r.occurred_at.astimezone(zone), r.channel,
            r.region_code, self.province_code, self.category, r.citizen_category, r.amount_lost_fen,
            r.victim_phone_hash, r.description, p.topic, p.epoch, p.partition, p.offset, self.index,
        ]  # fmt: skip


def province_of(region_code: str) -> str:
    """The province-level division of a 6-digit administrative code (e.g. 420106 -> 420000)."""
    return region_code[:2] + "0000"


def facts_of(position: SourcePosition, reports: Iterable[SanitisedReport]) -> list[Fact]:
    return [Fact(position, i, r, categorize(r.description)) for i, r in enumerate(reports)]


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
