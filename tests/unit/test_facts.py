"""Unit tests for streams.facts: per-report fact rows and per-minute aggregate rows."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from streams.categorizer import categorize
from streams.envelope import SanitisedReport
from streams.facts import (
    FACT_COLUMNS,
    FACT_SCHEMA,
    STATS_COLUMNS,
    Fact,
    FactColumns,
    KeyAges,
    Message,
    SourcePosition,
    city_codes,
    city_of,
    fact_table,
    facts_of,
    first_copies,
    messages_of,
    minute_of,
    minute_stats,
    province_codes,
    province_of,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOPIC = "fraudwatch.reports.raw"


def make_report(**overrides: Any) -> SanitisedReport:
    base = SanitisedReport(
        report_id="r1",
        reported_at=datetime(2024, 5, 1, 10, 30, 15, tzinfo=SHANGHAI),
        occurred_at=datetime(2024, 5, 1, 9, 0, tzinfo=SHANGHAI),
        channel="app",
        region_code="420106",
        citizen_category="",
        amount_lost_fen=1000,
        victim_phone_hash="h",
        description="网上刷单兼职被骗",
    )
    return msgspec.structs.replace(base, **overrides)


def position(offset: int, partition: int = 0, epoch: str = "e1", topic: str = TOPIC) -> SourcePosition:
    return SourcePosition(topic=topic, epoch=epoch, partition=partition, offset=offset)


def as_dicts(rows: list[list[object]]) -> list[dict[str, Any]]:
    return [dict(zip(STATS_COLUMNS, row, strict=True)) for row in rows]


def sort_key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in row.values())


# --- province_of / SourcePosition -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "province"),
    [("420106", "420000"), ("110101", "110000"), ("650102", "650000"), ("420000", "420000")],
)
def test_province_of(region: str, province: str) -> None:
    assert province_of(region) == province


@given(st.lists(st.text(max_size=8)))
def test_province_and_city_codes_of_a_column_are_those_of_each_code(regions: list[str]) -> None:
    column = pa.array(regions, pa.string())
    assert province_codes(column).to_pylist() == [province_of(r) for r in regions]
    assert city_codes(column).to_pylist() == [city_of(r) for r in regions]


def test_stream_key_is_topic_epoch_partition() -> None:
    assert position(5, partition=3, epoch="e9").stream_key == (TOPIC, "e9", 3)


# --- facts_of ---------------------------------------------------------------------------------------


def test_facts_of_indexes_each_report_and_categorizes_it() -> None:
    reports = [
        make_report(report_id="a", description="网上刷单兼职被骗"),
        make_report(report_id="b", description="自称公安说我涉嫌洗钱"),
        make_report(report_id="c", description="说不清楚"),
    ]
    pos = position(42, partition=2)
    facts = facts_of(pos, reports)
    assert [f.index for f in facts] == [0, 1, 2]
    assert [f.report.report_id for f in facts] == ["a", "b", "c"]
    assert [f.category for f in facts] == ["part_time_job", "impersonate_officials", "other"]
    assert all(f.position == pos for f in facts)
    assert [f.category for f in facts] == [categorize(r.description) for r in reports]


def test_facts_of_no_reports() -> None:
    assert facts_of(position(0), []) == []


def test_facts_of_accepts_a_generator() -> None:
    facts = facts_of(position(0), (make_report(report_id=str(i)) for i in range(3)))
    assert [f.report.report_id for f in facts] == ["0", "1", "2"]


def test_fact_province_code() -> None:
    [fact] = facts_of(position(0), [make_report(region_code="310115")])
    assert fact.province_code == "310000"


_SKELETON_COLUMNS = {
    "report_id", "reported_at", "occurred_at", "channel", "region_code", "province_code", "category",
    "citizen_category", "amount_lost_fen", "victim_phone_hash", "description_redacted", "src_topic", "src_epoch",
    "src_partition", "src_offset", "src_index",
}  # fmt: skip


def test_fact_row_matches_columns_and_converts_times() -> None:
    report = make_report(
        report_id="r9",
        reported_at=datetime(2024, 5, 1, 2, 30, tzinfo=UTC),
        occurred_at=datetime(2024, 4, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))),
        citizen_category="investment",
        amount_lost_fen=1_200_050,
        victim_phone_hash="abc",
        description="被拉进群炒股",
    )
    [fact] = facts_of(position(17, partition=3, epoch="e2"), [report])
    row: dict[str, Any] = dict(zip(FACT_COLUMNS, fact.row(SHANGHAI), strict=True))
    assert row["city_code"] == "420100"
    assert row["category_confidence"] == fact.classification.confidence > 0
    assert "炒股" in row["category_evidence"]
    assert row["scammer_contacts"] == row["leak_batch_ids"] == [] and row["leak_linked"] == 0
    assert {k: v for k, v in row.items() if k in _SKELETON_COLUMNS} == {
        "report_id": "r9",
        "reported_at": datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI),
        "occurred_at": datetime(2024, 5, 1, 10, 0, tzinfo=SHANGHAI),
        "channel": "app",
        "region_code": "420106",
        "province_code": "420000",
        "category": "investment",
        "citizen_category": "investment",
        "amount_lost_fen": 1_200_050,
        "victim_phone_hash": "abc",
        "description_redacted": "被拉进群炒股",
        "src_topic": TOPIC,
        "src_epoch": "e2",
        "src_partition": 3,
        "src_offset": 17,
        "src_index": 0,
    }
    assert row["reported_at"].tzinfo is SHANGHAI
    assert row["reported_at"].hour == 10
    assert row["occurred_at"].hour == 10


def test_fact_table_holds_the_rows_column_by_column() -> None:
    reports = [
        make_report(
            report_id=f"r{i}",
            reported_at=datetime(2024, 5, 1, 2, 30, 15, 123_999, tzinfo=UTC) + timedelta(hours=i),
            occurred_at=datetime(2024, 4, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))),
            region_code=("420106", "110105", "440305")[i],
            scammer_contacts=("phone:s1", "qq:s2")[:i],
            description=("网上刷单兼职被骗", "被拉进群炒股", "冒充公安说我涉嫌洗钱")[i],
        )
        for i in range(3)
    ]
    facts = facts_of(position(17, partition=3, epoch="e2"), reports)
    leaks: list[list[str]] = [[], ["b2", "b1", "b2"], []]
    table = fact_table(facts, leaks)
    assert table.schema.names == list(FACT_COLUMNS) and table.schema == FACT_SCHEMA
    rows = [fact.row(SHANGHAI, ids) for fact, ids in zip(facts, leaks, strict=True)]
    stored = [[row[name] for name in FACT_COLUMNS] for row in table.to_pylist()]
    times = {FACT_COLUMNS.index("reported_at"), FACT_COLUMNS.index("occurred_at")}
    for row, got in zip(rows, stored, strict=True):
        for i, (want, value) in enumerate(zip(row, got, strict=True)):
            if i in times:  # the same instant, at DateTime64(3)'s millisecond precision
                assert isinstance(want, datetime)
                assert value == want.replace(microsecond=want.microsecond // 1000 * 1000)
            elif isinstance(value, float):  # Float32
                assert value == pytest.approx(want, rel=1e-6)
            else:
                assert value == want, FACT_COLUMNS[i]
    assert [r[FACT_COLUMNS.index("leak_batch_ids")] for r in stored] == [[], ["b1", "b2"], []]
    assert fact_table(facts).column("leak_linked").to_pylist() == [0, 0, 0]


def test_fact_is_frozen() -> None:
    fact = Fact(position(0), 0, make_report(), "other")
    with pytest.raises(FrozenInstanceError):
        fact.index = 1  # type: ignore[misc]


# --- minute_of --------------------------------------------------------------------------------------


def test_minute_of_truncates_in_shanghai_time() -> None:
    minute = minute_of(datetime(2024, 5, 1, 2, 30, 59, 999_999, tzinfo=UTC), SHANGHAI)
    assert minute == datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI)
    assert (minute.hour, minute.minute, minute.second, minute.microsecond) == (10, 30, 0, 0)
    assert minute.tzinfo is SHANGHAI


def test_minute_of_crosses_the_date_line_into_the_next_shanghai_day() -> None:
    minute = minute_of(datetime(2024, 12, 31, 16, 0, 1, tzinfo=UTC), SHANGHAI)
    assert (minute.year, minute.month, minute.day, minute.hour, minute.minute) == (2025, 1, 1, 0, 0)


def test_minute_of_from_another_offset() -> None:
    minute = minute_of(datetime(2024, 4, 30, 21, 45, 10, tzinfo=timezone(timedelta(hours=-5))), SHANGHAI)
    assert (minute.day, minute.hour, minute.minute, minute.second) == (1, 10, 45, 0)


def test_minute_of_in_utc() -> None:
    minute = minute_of(datetime(2024, 5, 1, 10, 30, 15, tzinfo=SHANGHAI), ZoneInfo("UTC"))
    assert (minute.hour, minute.minute, minute.second) == (2, 30, 0)
    assert minute.utcoffset() == timedelta(0)


# --- minute_stats -----------------------------------------------------------------------------------


def test_minute_stats_sums_one_group() -> None:
    facts = [
        *facts_of(position(10), [make_report(amount_lost_fen=1000), make_report(amount_lost_fen=250)]),
        *facts_of(position(11), [make_report(reported_at=datetime(2024, 5, 1, 10, 30, 59, tzinfo=SHANGHAI))]),
    ]
    assert as_dicts(minute_stats(facts, SHANGHAI)) == [
        {
            "minute": datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI),
            "category": "part_time_job",
            "province_code": "420000",
            "region_code": "420106",
            "src_topic": TOPIC,
            "src_epoch": "e1",
            "src_partition": 0,
            "reports": 3,
            "loss_fen": 2250,
            "src_offset_max": 11,
        }
    ]


def test_minute_stats_rows_have_the_stats_columns() -> None:
    rows = minute_stats(facts_of(position(0), [make_report()]), SHANGHAI)
    assert len(rows) == 1
    assert len(rows[0]) == len(STATS_COLUMNS)


def test_minute_stats_of_nothing() -> None:
    assert minute_stats([], SHANGHAI) == []


def test_minute_stats_two_minutes_give_two_rows() -> None:
    facts = facts_of(
        position(5),
        [
            make_report(reported_at=datetime(2024, 5, 1, 10, 30, 59, tzinfo=SHANGHAI), amount_lost_fen=1),
            make_report(reported_at=datetime(2024, 5, 1, 10, 31, 0, tzinfo=SHANGHAI), amount_lost_fen=2),
        ],
    )
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    assert [(r["minute"], r["reports"], r["loss_fen"], r["src_offset_max"]) for r in rows] == [
        (datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI), 1, 1, 5),
        (datetime(2024, 5, 1, 10, 31, tzinfo=SHANGHAI), 1, 2, 5),
    ]


def test_minute_stats_same_instant_in_different_zones_is_one_minute() -> None:
    facts = facts_of(
        position(1),
        [
            make_report(reported_at=datetime(2024, 5, 1, 10, 30, 5, tzinfo=SHANGHAI)),
            make_report(reported_at=datetime(2024, 5, 1, 2, 30, 40, tzinfo=UTC)),
        ],
    )
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    assert len(rows) == 1
    assert rows[0]["reports"] == 2
    assert rows[0]["minute"] == datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI)


def test_minute_stats_groups_use_report_time_not_occurrence_time() -> None:
    facts = facts_of(
        position(1),
        [
            make_report(occurred_at=datetime(2024, 4, 1, 0, 0, tzinfo=SHANGHAI)),
            make_report(occurred_at=datetime(2024, 3, 1, 0, 0, tzinfo=SHANGHAI)),
        ],
    )
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    assert len(rows) == 1
    assert rows[0]["minute"] == datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI)


def test_minute_stats_two_partitions_give_separate_rows_with_their_own_offsets() -> None:
    facts = [
        *facts_of(position(7, partition=0), [make_report(amount_lost_fen=100)]),
        *facts_of(position(3, partition=1), [make_report(amount_lost_fen=200), make_report(amount_lost_fen=1)]),
        *facts_of(position(9, partition=1), [make_report(amount_lost_fen=10)]),
    ]
    rows = sorted(as_dicts(minute_stats(facts, SHANGHAI)), key=lambda r: r["src_partition"])
    assert [(r["src_partition"], r["reports"], r["loss_fen"], r["src_offset_max"]) for r in rows] == [
        (0, 1, 100, 7),
        (1, 3, 211, 9),
    ]


def test_minute_stats_two_epochs_give_separate_rows() -> None:
    facts = [
        *facts_of(position(100, epoch="old"), [make_report()]),
        *facts_of(position(2, epoch="new"), [make_report()]),
    ]
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    assert sorted((r["src_epoch"], r["src_offset_max"]) for r in rows) == [("new", 2), ("old", 100)]


def test_minute_stats_two_topics_give_separate_rows() -> None:
    facts = [
        *facts_of(position(4, topic="a.reports.raw"), [make_report()]),
        *facts_of(position(8, topic="b.reports.raw"), [make_report()]),
    ]
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    assert sorted((r["src_topic"], r["src_offset_max"]) for r in rows) == [
        ("a.reports.raw", 4),
        ("b.reports.raw", 8),
    ]


def test_minute_stats_offset_max_is_the_partition_high_even_across_groups() -> None:
    # Offset 5 is in minute 10:30, offset 9 in minute 10:31: both rows of partition 0 reach offset 9.
    facts = [
        *facts_of(position(9), [make_report(reported_at=datetime(2024, 5, 1, 10, 31, tzinfo=SHANGHAI))]),
        *facts_of(position(5), [make_report(reported_at=datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI))]),
        *facts_of(position(6, partition=1), [make_report()]),
    ]
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    by_partition_minute = {(r["src_partition"], r["minute"]): r["src_offset_max"] for r in rows}
    assert by_partition_minute == {
        (0, datetime(2024, 5, 1, 10, 31, tzinfo=SHANGHAI)): 9,
        (0, datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI)): 9,
        (1, datetime(2024, 5, 1, 10, 30, tzinfo=SHANGHAI)): 6,
    }


def test_minute_stats_splits_by_category_region_and_province() -> None:
    facts = facts_of(
        position(3),
        [
            make_report(description="刷单", region_code="420106", amount_lost_fen=1),
            make_report(description="刷单", region_code="420106", amount_lost_fen=2),
            make_report(description="炒股", region_code="420106", amount_lost_fen=4),
            make_report(description="刷单", region_code="420102", amount_lost_fen=8),
            make_report(description="刷单", region_code="110101", amount_lost_fen=16),
        ],
    )
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    summary = sorted(
        (
            r["category"],
            r["province_code"],
            r["region_code"],
            r["reports"],
            r["loss_fen"],
            r["src_offset_max"],
        )
        for r in rows
    )
    assert summary == [
        ("investment", "420000", "420106", 1, 4, 3),
        ("part_time_job", "110000", "110101", 1, 16, 3),
        ("part_time_job", "420000", "420102", 1, 8, 3),
        ("part_time_job", "420000", "420106", 2, 3, 3),
    ]


def test_minute_stats_minute_is_in_the_given_zone() -> None:
    rows = as_dicts(minute_stats(facts_of(position(0), [make_report()]), ZoneInfo("UTC")))
    minute = rows[0]["minute"]
    assert isinstance(minute, datetime)
    assert (minute.hour, minute.minute, minute.utcoffset()) == (2, 30, timedelta(0))


def test_minute_stats_totals_match_the_input() -> None:
    reports = [
        make_report(
            amount_lost_fen=i * 37,
            reported_at=datetime(2024, 5, 1, 10, i % 3, tzinfo=SHANGHAI),
            description=["刷单", "炒股", "贷款"][(i // 2) % 3],
        )
        for i in range(30)
    ]
    facts = [fact for i in range(3) for fact in facts_of(position(i, partition=i), reports[i * 10 : i * 10 + 10])]
    rows = as_dicts(minute_stats(facts, SHANGHAI))
    assert sum(int(r["reports"]) for r in rows) == 30
    assert sum(int(r["loss_fen"]) for r in rows) == sum(i * 37 for i in range(30))
    assert len({sort_key(r) for r in rows}) == len(rows)


def keyed_message(report_id: str, offset: int, *others: str) -> Message:
    reports = [make_report(report_id=report_id, client_keyed=True)]
    reports += [make_report(report_id=other, client_keyed=other.startswith("k")) for other in others]
    return Message.of(SourcePosition(TOPIC, "e1", 0, offset), reports)


def test_first_copies_keeps_the_first_copy_and_its_redelivery_only() -> None:
    seen: dict[str, str] = {}
    first = keyed_message("k1", 10)
    assert first_copies(first, seen) == first
    assert seen == {"k1": "e1:0:10:0"}
    assert first_copies(first, seen) == first  # the same copy redelivered: the sink recognises it
    assert first_copies(keyed_message("k1", 11), seen).reports == ()  # a resend at another offset
    unkeyed = Message.of(SourcePosition(TOPIC, "e1", 0, 12), [make_report(report_id="k1")])
    assert first_copies(unkeyed, seen) is unkeyed  # only client-keyed reports are tracked


def test_first_copies_drops_only_the_resent_reports_of_a_message() -> None:
    seen = {"k1": "e1:0:3:0"}
    message = keyed_message("k1", 7, "u1", "k2", "u2")
    kept = first_copies(message, seen)
    assert kept.indexes == (1, 2, 3) and [r.report_id for r in kept.reports] == ["u1", "k2", "u2"]
    assert kept.position is message.position and seen == {"k1": "e1:0:3:0", "k2": "e1:0:7:2"}


def test_key_ages_forget_the_oldest_after_the_window_in_order() -> None:
    ages = KeyAges(keep_s=10)
    ages.saw(["a", "b"], now=0)
    ages.saw(["c", "a"], now=5)  # "a" keeps its first sighting
    assert len(ages) == 3
    assert ages.expired(now=9.9, limit=100) == []
    assert ages.expired(now=10, limit=100) == ["a", "b"]
    assert ages.expired(now=14, limit=100) == []
    assert ages.expired(now=15, limit=100) == ["c"]
    assert len(ages) == 0


def test_key_ages_forget_at_most_the_limit_per_call() -> None:
    ages = KeyAges(keep_s=1)
    ages.saw([f"k{i}" for i in range(5)], now=0)
    assert ages.expired(now=2, limit=2) == ["k0", "k1"]
    assert ages.expired(now=2, limit=10) == ["k2", "k3", "k4"]


def test_key_ages_count_restored_keys_from_when_they_are_handed_over() -> None:
    # Keys restored from a changelog have no known age: they must not be forgotten early.
    ages = KeyAges(keep_s=10)
    ages.saw(["new"], now=0)
    ages.saw(["new", "restored"], now=8)
    assert ages.expired(now=10, limit=10) == ["new"]
    assert ages.expired(now=17, limit=10) == []
    assert ages.expired(now=18, limit=10) == ["restored"]


# --- FactColumns against the per-fact code it replaced --------------------------------------------------------


def _reference_fact_table(facts: list[Fact], leak_batch_ids: list[list[str]]) -> pa.Table:
    """`fact_table` as it was, from one Fact per report: the oracle FactColumns.table must match."""
    sources = {
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
    values = zip(*map(attrgetter(*sources.values()), facts), strict=True) if facts else ((),) * len(sources)
    columns: dict[str, Any] = dict(zip(sources, values, strict=True))
    leaks = [sorted(set(ids)) if ids else [] for ids in leak_batch_ids] if leak_batch_ids else [[]] * len(facts)
    columns["province_code"] = [province_of(r) for r in columns["region_code"]]
    columns["city_code"] = [r[:4] + "00" for r in columns["region_code"]]
    columns["leak_linked"] = [1 if ids else 0 for ids in leaks]
    columns["leak_batch_ids"] = leaks
    millis = pa.timestamp("ms", tz="UTC")
    return pa.Table.from_arrays(
        [
            pa.array(columns[f.name], pa.timestamp("us", tz="UTC")).cast(millis, safe=False)
            if f.name in ("reported_at", "occurred_at")
            else pa.array(columns[f.name], f.type)
            for f in FACT_SCHEMA
        ],
        schema=FACT_SCHEMA,
    )


def _reference_minute_stats(facts: list[Fact], zone: ZoneInfo) -> list[list[object]]:
    """`minute_stats` as it was, one fact at a time: the oracle FactColumns.minute_stats must match."""
    counts: dict[tuple[int, str, str, str, str, int], list[int]] = {}
    high: dict[tuple[str, str, int], int] = {}
    for fact in facts:
        p, r = fact.position, fact.report
        group = (int(r.reported_at.timestamp() // 60), fact.classification.code, r.region_code, *p.stream_key)
        totals = counts.setdefault(group, [0, 0])
        totals[0] += 1
        totals[1] += r.amount_lost_fen
        high[p.stream_key] = max(high.get(p.stream_key, -1), p.offset)
    return [
        [datetime.fromtimestamp(minute * 60, zone), category, province_of(region), region, topic, epoch, partition,
         n, loss, high[topic, epoch, partition]]
        for (minute, category, region, topic, epoch, partition), (n, loss) in counts.items()
    ]  # fmt: skip


_ZONES = st.sampled_from(
    [UTC, SHANGHAI, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kathmandu"), timezone(timedelta(hours=-3, seconds=7))]
)
_MOMENTS = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    _ZONES,
)
_SOON = st.builds(
    lambda seconds, micro, zone: datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro).astimezone(zone),
    st.integers(1_700_000_000 - 600, 1_700_000_000 + 600),
    st.sampled_from([0, 1, 999, 999_999, 500_000]),
    _ZONES,
)
_TEXTS = st.sampled_from(
    ["刷单兼职", "冒充公安说我涉嫌洗钱", "炒股", "说不清楚", "", "贷款 征信 客服", "游戏 王者荣耀 卖号"]
)
_REPORTS = st.builds(
    SanitisedReport,
    report_id=st.text(max_size=5),
    reported_at=st.one_of(_SOON, _MOMENTS),
    occurred_at=st.one_of(_SOON, _MOMENTS),
    channel=st.sampled_from(["app", "web"]),
    region_code=st.sampled_from(["420106", "110101", "440305", "42010"]),
    amount_lost_fen=st.integers(0, 10**12),
    description=_TEXTS,
    citizen_category=st.sampled_from(["", "loan", "investment", "other"]),
    victim_phone_hash=st.sampled_from(["", "phone:ab"]),
    scammer_contacts=st.lists(st.sampled_from(["qq:1", "phone:2"]), max_size=2).map(tuple),
    mentioned_identifiers=st.lists(st.text(max_size=3), max_size=2).map(tuple),
)
_MESSAGES = st.lists(
    st.tuples(
        st.sampled_from([("a", "e1", 0), ("a", "e1", 1), ("a", "e2", 0), ("b", "e1", 0)]),
        st.integers(0, 30),
        st.lists(_REPORTS, max_size=6),
    ),
    max_size=8,
)


# No shrinking: the examples are large, and shrinking a failure outlasted the test timeout.
@settings(max_examples=150, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(_MESSAGES, st.data())
def test_fact_columns_match_the_per_fact_reference(drawn: list[Any], data: st.DataObject) -> None:
    messages = [Message.of(SourcePosition(t, e, p, offset), reports) for (t, e, p), offset, reports in drawn]
    facts = [f for m in messages for f in facts_of(m.position, m.reports)]
    leaks = [data.draw(st.lists(st.sampled_from(["b1", "b2"]), max_size=3)) for _ in facts]
    columns = FactColumns(messages)
    assert columns.table(leaks).equals(_reference_fact_table(facts, leaks))
    for zone in (SHANGHAI, UTC):
        assert columns.minute_stats(zone) == _reference_minute_stats(facts, zone)
    # Some rows only: a mask selects the same rows as the facts selected.
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(facts), max_size=len(facts))), bool)
    chosen = [f for f, keep in zip(facts, mask.tolist(), strict=True) if keep]
    chosen_leaks = [ids for ids, keep in zip(leaks, mask.tolist(), strict=True) if keep]
    assert columns.table(leaks, mask).equals(_reference_fact_table(chosen, chosen_leaks))
    assert columns.minute_stats(SHANGHAI, mask) == _reference_minute_stats(chosen, SHANGHAI)
    # Classified facts handed in (tests, tools) give the same columns.
    assert FactColumns(messages_of(facts)).table(leaks).equals(columns.table(leaks))


def test_messages_of_groups_runs_of_one_position() -> None:
    reports = [make_report(report_id=str(i)) for i in range(3)]
    facts = facts_of(position(1), reports) + facts_of(position(2), reports[:1]) + facts_of(position(1), reports[2:])
    messages = messages_of(facts)
    assert [(m.position.offset, m.indexes) for m in messages] == [(1, (0, 1, 2)), (2, (0,)), (1, (0,))]
    assert messages[0].classifications == tuple(f.classification for f in facts[:3])
    assert messages_of([]) == []


def test_merged_message_holds_the_reports_of_both_deliveries_in_envelope_order() -> None:
    whole = Message.of(position(4), [make_report(report_id=str(i)) for i in range(4)])
    odd, even = whole.only([1, 3]), whole.only([0, 2])
    assert odd.merged(even) == whole
    assert whole.merged(odd) is whole
    classified = messages_of(facts_of(position(4), whole.reports))[0]
    assert classified.only([3]).merged(classified.only([0, 1, 2])) == classified
