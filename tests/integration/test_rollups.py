"""Hourly and daily rollups against the fact table they are built from, on the real embedded engine.

Reports go through `ReportSink` with redeliveries (a restarted sink, the same positions again) and
late reports (occurred days before they were reported). The rollups must equal what a GROUP BY over
`reports` gives, for both time bases, at full dimension detail and when uniq states are merged
across rows; `reports` must hold the known set exactly once; and the stream's per-minute aggregates
must agree with the 'reported' basis.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from sinks.leaks import RECORD_COLUMNS
from sinks.migrate import Migration, available, migrate
from sinks.trends import SKETCH_MERGE, headline_sql
from sinks.writer import ReportSink
from streams.categorizer import Classification
from streams.envelope import SanitisedReport
from streams.facts import Fact, SourcePosition
from tests.integration.conftest import scalar, unique

ZONE = ZoneInfo("Asia/Shanghai")
TAXONOMY = json.loads(resources.files("streams").joinpath("taxonomy.json").read_text(encoding="utf-8"))
CATEGORIES = [c["code"] for c in TAXONOMY["categories"]]
HEADLINE = {c["code"]: c["headline"] for c in TAXONOMY["categories"]}


def hashed(kind: str, name: object) -> str:
    """A victim identifier shaped like the API's keyed hashes: the only kind the sink's leak join looks up."""
    return f"{kind}:{hashlib.md5(str(name).encode()).hexdigest()}"


# Victims in the test's leak batch: the sink's own join marks their reports leak-linked.
LEAKED = frozenset(
    {hashed("phone", k) for k in range(0, 30, 4)}
    | {hashed("id", k) for k in range(0, 10, 3)}
    | {hashed("phone", "late")}
)


@dataclass(frozen=True)
class Spec:
    """One report as the test means it: what the rollups must count."""

    report_id: str
    reported_at: datetime
    occurred_at: datetime
    category: str
    region_code: str
    amount_lost_fen: int
    channel: str = "app"
    citizen_category: str = ""
    victim_phone_hash: str = ""
    victim_id_hash: str = ""
    victim_age_band: str = ""
    scammer_contacts: tuple[str, ...] = ()

    @property
    def leak_linked(self) -> bool:
        return self.victim_phone_hash in LEAKED or self.victim_id_hash in LEAKED

    @property
    def province_code(self) -> str:
        return self.region_code[:2] + "0000"

    @property
    def city_code(self) -> str:
        return self.region_code[:4] + "00"

    @property
    def victim(self) -> str:
        return self.victim_id_hash or self.victim_phone_hash

    def moment(self, basis: str) -> datetime:
        return (self.reported_at if basis == "reported" else self.occurred_at).astimezone(ZONE)


def to_fact(position: SourcePosition, index: int, spec: Spec) -> Fact:
    report = SanitisedReport(
        report_id=spec.report_id,
        reported_at=spec.reported_at,
        occurred_at=spec.occurred_at,
        channel=spec.channel,
        region_code=spec.region_code,
        amount_lost_fen=spec.amount_lost_fen,
        description="测试",
        citizen_category=spec.citizen_category,
        victim_phone_hash=spec.victim_phone_hash,
        victim_id_hash=spec.victim_id_hash,
        victim_age_band=spec.victim_age_band,
        scammer_contacts=spec.scammer_contacts,
    )
    # The category is the test's choice, not the classifier's: the numbers must not move with its lexicon.
    return Fact(position, index, report, Classification(spec.category, 1.0, ()))


@dataclass
class Envelopes:
    """Specs packed into Kafka messages, 1..4 reports each, round-robin over partitions."""

    messages: list[list[Fact]] = field(default_factory=list)

    @classmethod
    def pack(cls, specs: Sequence[Spec], seed: int = 7, partitions: int = 2, epoch: str = "e1") -> Envelopes:
        rng = random.Random(seed)
        offsets = [0] * partitions
        packed = cls()
        i = 0
        while i < len(specs):
            size = rng.randint(1, 4)
            partition = len(packed.messages) % partitions
            position = SourcePosition("fraudwatch.reports.raw", epoch, partition, offsets[partition])
            offsets[partition] += 1
            packed.messages.append([to_fact(position, k, s) for k, s in enumerate(specs[i : i + size])])
            i += size
        return packed

    def facts(self, start: int, stop: int | None = None) -> list[Fact]:
        return [f for message in self.messages[start:stop] for f in message]


def new_sink(ch: Client, database: str) -> ReportSink:
    sink = ReportSink(ch, database, ZONE)
    sink.setup()
    return sink


def deliver(ch: Client, database: str, envelopes: Envelopes) -> None:
    """Every message at least once, many twice, across three lives of the worker."""
    n = len(envelopes.messages)
    first = new_sink(ch, database)
    first.add(envelopes.facts(0, n // 2))
    first.flush()
    # Crash before the commit: the restarted worker gets n/3.. again, then more.
    second = new_sink(ch, database)
    second.add(envelopes.facts(n // 3, 2 * n // 3))
    assert second.flush().skipped_as_duplicates > 0
    # Same life, a rebalance hands the same partitions back: part of what it just wrote comes again.
    second.forget()
    second.add(envelopes.facts(n // 2, n))
    assert second.flush().skipped_as_duplicates > 0
    # And once more after another restart, only the tail.
    third = new_sink(ch, database)
    third.add(envelopes.facts(n - 5, n))
    assert third.flush().facts_written == 0


REGIONS = ("420106", "420102", "420502", "110105", "110108", "440305", "440106", "510107")
CHANNELS = ("app", "web", "hotline", "police")
AGE_BANDS = ("", "18_25", "36_45", "over_60")
# Sunday evening to Wednesday night in Shanghai: crosses midnights and a Monday (week boundary).
START = datetime(2026, 3, 1, 21, 0, tzinfo=ZONE)


def random_specs(count: int, seed: int = 11) -> list[Spec]:
    rng = random.Random(seed)
    specs: list[Spec] = []
    for i in range(count):
        reported = START + timedelta(minutes=rng.randrange(0, 3 * 24 * 60), seconds=rng.randrange(60))
        late = rng.random() < 0.2
        occurred = reported - (timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 23)) if late else timedelta(0))
        occurred -= timedelta(minutes=rng.randrange(0, 40))
        specs.append(
            Spec(
                report_id=f"r{i:04d}",
                reported_at=reported,
                occurred_at=occurred,
                category=rng.choice(CATEGORIES),
                region_code=rng.choice(REGIONS),
                amount_lost_fen=rng.choice((0, 5000, 12345, 100000, rng.randrange(1, 10_000_000))),
                channel=rng.choice(CHANNELS),
                victim_phone_hash=rng.choice(("", *(hashed("phone", k) for k in range(30)))),
                victim_id_hash=rng.choice(("", "", "", *(hashed("id", k) for k in range(10)))),
                victim_age_band=rng.choice(AGE_BANDS),
                scammer_contacts=tuple(
                    rng.choice(("", *(f"phone:s{k}" for k in range(20)))) for _ in range(rng.randint(0, 3))
                ),
            )
        )
    # Fixed edge cases: just after midnight in Shanghai (still the previous day in UTC), and a report
    # that arrives a month after the fraud.
    specs.append(
        Spec(
            "edge-midnight",
            datetime(2026, 3, 2, 0, 30, tzinfo=ZONE),
            datetime(2026, 3, 1, 23, 50, tzinfo=ZONE),
            "investment",
            "420106",
            777,
            victim_id_hash=hashed("id", "edge"),
            scammer_contacts=("phone:s1", "phone:s1"),
        )
    )
    specs.append(
        Spec(
            "edge-late",
            datetime(2026, 3, 4, 23, 59, 59, tzinfo=ZONE),
            datetime(2026, 2, 1, 8, 15, tzinfo=ZONE),
            "loan",
            "510107",
            424242,
            victim_phone_hash=hashed("phone", "late"),
        )
    )
    return specs


DIMENSIONS = "category, headline, province_code, city_code, channel, victim_age_band, leak_linked"
# The distinct-count sketches (migration 0015) are exact up to 128 values per state, which every state
# in these tests holds at most: here they must equal the exact counts. Their error on large counts is
# checked in test_sketches_stay_within_their_error_bound.
MEASURES_FROM_ROLLUP = (
    "sum(reports), sum(loss_fen), sum(leak_reports), sum(leak_loss_fen), "
    f"{SKETCH_MERGE}(victims_sketch), {SKETCH_MERGE}(contacts_sketch)"
)
DISTINCT_FROM_FACTS = (
    "uniqExactIf(if(victim_id_hash != '', victim_id_hash, victim_phone_hash), "
    "victim_id_hash != '' OR victim_phone_hash != ''), "
    "uniqExactArray(arrayFilter(c -> c != '', scammer_contacts))"
)
MEASURES_FROM_FACTS = (
    "count(), sum(amount_lost_fen), countIf(leak_linked != 0), sumIf(amount_lost_fen, leak_linked != 0), "
    + DISTINCT_FROM_FACTS
)
FACTS_BY_BASIS = (
    "SELECT *, basis, moment, {headline} AS headline FROM {db}.reports "
    "ARRAY JOIN ['reported', 'occurred'] AS basis, [reported_at, occurred_at] AS moment"
)


def rows(ch: Client, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ch.query(sql).result_rows]


def facts_view(database: str) -> str:
    return FACTS_BY_BASIS.format(db=database, headline=headline_sql("category"))


def compare(ch: Client, database: str, table: str, bucket_rollup: str, bucket_facts: str, dims: str) -> int:
    """Rollup grouped by (basis, bucket, dims) == the same GROUP BY over reports; returns the row count."""
    from_rollup = rows(
        ch,
        f"SELECT basis, toString({bucket_rollup}) AS b, {dims}, {MEASURES_FROM_ROLLUP} "
        f"FROM {database}.{table} GROUP BY ALL ORDER BY ALL",
    )
    from_facts = rows(
        ch,
        f"SELECT basis, toString({bucket_facts}) AS b, {dims}, {MEASURES_FROM_FACTS} "
        f"FROM ({facts_view(database)}) GROUP BY ALL ORDER BY ALL",
    )
    assert from_rollup == from_facts
    return len(from_facts)


def load(ch: Client, database: str, specs: Sequence[Spec], **packing: Any) -> None:
    """The test's leak batch, then the specs delivered through the sink (its join marks the leaked)."""
    ch.insert(f"{database}.leak_records", [[i, "test-batch", 1, 1] for i in LEAKED], column_names=list(RECORD_COLUMNS))
    deliver(ch, database, Envelopes.pack(specs, **packing))


def test_reports_hold_the_known_set_exactly_once(ch: Client, database: str) -> None:
    specs = random_specs(300)
    load(ch, database, specs)
    assert int(scalar(ch, f"SELECT count() FROM {database}.reports")) == len(specs)
    stored = rows(ch, f"SELECT report_id, amount_lost_fen, leak_linked FROM {database}.reports ORDER BY report_id")
    assert stored == sorted((s.report_id, s.amount_lost_fen, int(s.leak_linked)) for s in specs)


def test_hourly_and_daily_rollups_equal_the_facts_for_both_bases(ch: Client, database: str) -> None:
    load(ch, database, random_specs(300))
    hourly = compare(ch, database, "report_rollup_1h", "hour", "toStartOfHour(moment)", DIMENSIONS)
    daily = compare(ch, database, "report_rollup_1d", "day", "toDate(moment)", DIMENSIONS)
    assert hourly > daily > 20  # the comparison is not vacuous
    # Merged across every dimension: the uniq states must union, not add up.
    for table, bucket in (("report_rollup_1h", "hour"), ("report_rollup_1d", "day")):
        compare(ch, database, table, f"toDate({bucket})", "toDate(moment)", "category")
        compare(ch, database, table, f"toMonday(toDate({bucket}))", "toMonday(toDate(moment))", "headline")
        compare(ch, database, table, "toStartOfMonth(toDate(" + bucket + "))", "toStartOfMonth(toDate(moment))", "1")


def test_rollups_match_an_independent_count_in_python(ch: Client, database: str) -> None:
    specs = random_specs(300)
    load(ch, database, specs)
    expected: dict[tuple[str, str], list[Any]] = {}
    for basis in ("reported", "occurred"):
        groups: dict[date, list[Spec]] = defaultdict(list)
        for s in specs:
            groups[s.moment(basis).date()].append(s)
        for day, members in groups.items():
            expected[(basis, day.isoformat())] = [
                len(members),
                sum(s.amount_lost_fen for s in members),
                sum(1 for s in members if s.leak_linked),
                sum(s.amount_lost_fen for s in members if s.leak_linked),
                len({s.victim for s in members if s.victim}),
                len({c for s in members for c in s.scammer_contacts if c}),
            ]
    got = {
        (r[0], r[1]): list(r[2:])
        for r in rows(
            ch,
            f"SELECT basis, toString(day), {MEASURES_FROM_ROLLUP} FROM {database}.report_rollup_1d GROUP BY ALL",
        )
    }
    assert got == expected
    # The late and midnight cases land where the zone says.
    assert got[("occurred", "2026-02-01")][:2] == [1, 424242]
    assert got[("reported", "2026-03-02")][0] == sum(1 for s in specs if s.reported_at.date() == date(2026, 3, 2))


def test_headline_classes_follow_the_taxonomy(ch: Client, database: str) -> None:
    mapped = rows(ch, f"SELECT c, {headline_sql('c')} FROM (SELECT arrayJoin({CATEGORIES!r}) AS c) ORDER BY c")
    assert dict(mapped) == HEADLINE
    # The migration stores the same expression.
    rollups = next(m for m in available() if m.name == "rollups")
    assert rollups.sql.count(headline_sql("category")) == 2


def test_stream_minute_aggregates_agree_with_the_reported_basis(ch: Client, database: str) -> None:
    load(ch, database, random_specs(300))
    stream = rows(
        ch,
        f"SELECT toString(toStartOfHour(minute)), category, province_code, sum(reports), sum(loss_fen) "
        f"FROM {database}.report_stats_1m GROUP BY ALL ORDER BY ALL",
    )
    rollup = rows(
        ch,
        f"SELECT toString(hour), category, province_code, sum(reports), sum(loss_fen) "
        f"FROM {database}.report_rollup_1h WHERE basis = 'reported' GROUP BY ALL ORDER BY ALL",
    )
    assert stream == rollup
    assert len(stream) > 20


def install_all_but(ch: Client, database: str, later: Sequence[Migration]) -> None:
    """An installation from before `later`, with today's other tables: every migration but those."""
    ch.command(
        f"CREATE TABLE {database}.schema_migrations (version UInt32, name String, checksum String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version"
    )
    for old in [m for m in available() if m not in later]:
        apply(ch, database, old)


def apply(ch: Client, database: str, migration: Migration, *, record: bool = True) -> None:
    """Run one migration's statements and (unless `record` is false) record it as applied, as `migrate` does."""
    for statement in migration.statements(database, "Asia/Shanghai"):
        ch.command(statement)
    if record:
        ch.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )


def test_migration_backfills_facts_written_before_it(ch: Client) -> None:
    """An installation with data upgrades: the rollups cover old and new facts, each once."""
    database = unique("fw_backfill")
    ch.command(f"CREATE DATABASE {database}")
    try:
        rollup_migrations = [m for m in available() if "report_rollup" in m.sql]
        install_all_but(ch, database, rollup_migrations)
        specs = random_specs(200, seed=5)
        envelopes = Envelopes.pack(specs)
        half = len(envelopes.messages) // 2
        before = new_sink(ch, database)
        before.add(envelopes.facts(0, half))
        before.flush()
        # The rollups migration twice, as when it is re-run after a failure further on: its backfill is
        # guarded, so the second run adds nothing. Then the later ones.
        rollups, *rest = rollup_migrations
        apply(ch, database, rollups, record=False)
        apply(ch, database, rollups)
        assert migrate(ch, database, "Asia/Shanghai") == rest
        after = new_sink(ch, database)
        after.add(envelopes.facts(half - 3))  # a redelivery straddling the upgrade
        after.flush()
        assert int(scalar(ch, f"SELECT count() FROM {database}.reports")) == len(specs)
        compare(ch, database, "report_rollup_1h", "hour", "toStartOfHour(moment)", DIMENSIONS)
        compare(ch, database, "report_rollup_1d", "day", "toDate(moment)", DIMENSIONS)
        assert int(scalar(ch, f"SELECT sum(reports) FROM {database}.report_rollup_1d")) == 2 * len(specs)
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {database}")


def used_projections(ch: Client, sql: str, preferred: str) -> list[str]:
    """The projections ClickHouse reads for `sql` when asked to prefer `preferred` (on little data
    all of them are one granule and its own pick is a tie)."""
    plan = "\n".join(
        str(r[0])
        for r in ch.query(
            f"EXPLAIN projections = 1 {sql}", settings={"preferred_optimize_projection_name": preferred}
        ).result_rows
    )
    return re.findall(r"ReadFromMergeTree \((\w+)\)", plan)


# Query shapes that only one projection answers: (table, projection, SELECT ... FROM {db}.table ...).
PROJECTION_QUERIES = (
    (
        "report_rollup_1d",
        "by_region",
        f"SELECT basis, toString(day), category, headline, province_code, city_code, {MEASURES_FROM_ROLLUP} "
        "FROM {db}.report_rollup_1d GROUP BY ALL ORDER BY ALL",
    ),
    (
        "report_rollup_1d",
        "by_province",
        f"SELECT basis, toString(day), category, headline, province_code, {MEASURES_FROM_ROLLUP} "
        "FROM {db}.report_rollup_1d GROUP BY ALL ORDER BY ALL",
    ),
    (
        "report_rollup_1d",
        "by_month",
        f"SELECT basis, toString(toStartOfMonth(day)), category, headline, province_code, {MEASURES_FROM_ROLLUP} "
        "FROM {db}.report_rollup_1d GROUP BY ALL ORDER BY ALL",
    ),
    (
        "report_stats_1m",
        "by_day_province",
        "SELECT toString(toDate(minute)), category, province_code, sum(reports), sum(loss_fen) "
        "FROM {db}.report_stats_1m GROUP BY ALL ORDER BY ALL",
    ),
    (
        "report_stats_1m",
        "by_day_city",
        "SELECT toString(toDate(minute)), category, province_code, concat(substring(region_code, 1, 4), '00'), "
        "sum(reports), sum(loss_fen) FROM {db}.report_stats_1m GROUP BY ALL ORDER BY ALL",
    ),
)


@pytest.mark.parametrize(
    ("table", "projection", "query"), PROJECTION_QUERIES, ids=[p for _, p, _ in PROJECTION_QUERIES]
)
def test_projections_answer_like_the_table(ch: Client, database: str, table: str, projection: str, query: str) -> None:
    """Each projection (what the trend and dashboard queries read) holds the table's numbers, also after merges."""
    load(ch, database, random_specs(300))
    sql = query.format(db=database)
    expected = rows(ch, sql + " SETTINGS optimize_use_projections = 0")
    assert used_projections(ch, sql, projection) == [projection]
    forced = (
        f" SETTINGS force_optimize_projection_name = '{projection}',"
        f" preferred_optimize_projection_name = '{projection}'"
    )
    assert rows(ch, sql + forced) == expected
    ch.command(f"OPTIMIZE TABLE {database}.{table} FINAL")  # merges rebuild the projections
    assert rows(ch, sql + forced) == expected
    assert len(expected) > 10


def test_projection_migrations_build_the_projections_of_existing_parts(ch: Client) -> None:
    """Migrations 0013 to 0016 on a database with data: every old part gets the new projections, and the
    sketches of 0015 cover the facts written before it, also when 0015 runs twice."""
    database = unique("fw_projections")
    ch.command(f"CREATE DATABASE {database}")
    try:
        later = [m for m in available() if m.version in (13, 14, 15, 16)]
        install_all_but(ch, database, later)
        load(ch, database, random_specs(200, seed=9))
        sketches = next(m for m in later if m.version == 15)
        # 0015 as when it is run again after a failure further on (its states are sets: nobody counts twice).
        for migration in later:
            if migration is sketches:
                apply(ch, database, migration, record=False)
        assert migrate(ch, database, "Asia/Shanghai") == later
        wait_for_mutations(ch, database)
        compare(ch, database, "report_rollup_1h", "hour", "toStartOfHour(moment)", DIMENSIONS)
        compare(ch, database, "report_rollup_1d", "day", "toDate(moment)", DIMENSIONS)
        for table, projection, query in PROJECTION_QUERIES:
            sql = query.format(db=database)
            expected = rows(ch, sql + " SETTINGS optimize_use_projections = 0")
            parts_without = scalar(
                ch,
                f"SELECT count() FROM system.parts WHERE database = '{database}' AND table = '{table}' AND active "
                f"AND NOT has(projections, '{projection}')",
            )
            assert parts_without == 0, (table, projection)
            assert used_projections(ch, sql, projection) == [projection]
            assert rows(ch, sql + f" SETTINGS preferred_optimize_projection_name = '{projection}'") == expected
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {database}")


def wait_for_mutations(ch: Client, database: str) -> None:
    """MATERIALIZE PROJECTION runs in the background; a test waits for it (a bounded number of polls)."""
    for _ in range(600):
        if not scalar(ch, f"SELECT count() FROM system.mutations WHERE database = '{database}' AND NOT is_done"):
            return
        time.sleep(0.1)
    raise AssertionError(f"mutations in {database} still running after a minute")


def test_sketch_migration_keeps_the_uniq_states_of_days_retention_removed(ch: Client) -> None:
    """Rollup days whose facts are gone cannot get sketches: 0015 keeps their `uniq` states, as they were,
    in report_rollup_1d_uniq_before_0015 (every day up to the first stored fact's), and counts the
    facts still stored."""
    database = unique("fw_sketch_upgrade")
    ch.command(f"CREATE DATABASE {database}")
    try:
        later = [m for m in available() if m.version >= 15]
        install_all_but(ch, database, later)
        load(ch, database, random_specs(300, seed=21))
        first_kept = scalar(ch, f"SELECT toDate(quantileExact(0.3)(reported_at)) FROM {database}.reports")
        old_states = (
            "SELECT basis, toString(day), category, city_code, uniqMerge(victims_uniq), uniqMerge(contacts_uniq) "
            "FROM {db}.{table} WHERE day <= '{day}' GROUP BY ALL ORDER BY ALL"
        )
        expected = rows(ch, old_states.format(db=database, table="report_rollup_1d", day=first_kept))
        ch.command(
            f"ALTER TABLE {database}.reports DELETE WHERE toDate(reported_at) < '{first_kept}'",
            settings={"mutations_sync": 2},
        )
        assert migrate(ch, database, "Asia/Shanghai") == later
        assert first_kept == scalar(ch, f"SELECT toDate(min(reported_at)) FROM {database}.reports")
        kept = rows(ch, old_states.format(db=database, table="report_rollup_1d_uniq_before_0015", day=first_kept))
        assert kept == expected
        assert len(kept) > 10
        # From the first whole day stored on, the sketches equal the facts.
        after = f"basis = 'reported' AND day > '{first_kept}'"
        from_rollup = rows(
            ch,
            f"SELECT toString(day), category, {SKETCH_MERGE}(victims_sketch), {SKETCH_MERGE}(contacts_sketch) "
            f"FROM {database}.report_rollup_1d WHERE {after} GROUP BY ALL ORDER BY ALL",
        )
        from_facts = rows(
            ch,
            f"SELECT toString(toDate(moment)) AS day, category, {DISTINCT_FROM_FACTS} "
            f"FROM ({facts_view(database)}) WHERE {after} GROUP BY ALL ORDER BY ALL",
        )
        assert from_rollup == from_facts
        assert from_rollup
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {database}")


def test_sketches_stay_within_their_error_bound(ch: Client, database: str) -> None:
    """Past 128 values a sketch estimates: 20,000 victims and 5,000 contacts in one day, through the views,
    must come out within 5% (about three standard deviations of uniqCombined64(12))."""
    ch.command(
        f"INSERT INTO {database}.reports (report_id, reported_at, occurred_at, channel, region_code, "
        "province_code, city_code, category, amount_lost_fen, victim_phone_hash, scammer_contacts) "
        "SELECT concat('bulk-', toString(number)), toDateTime64('2026-03-02 10:00:00', 3) + number % 3600, "
        "toDateTime64('2026-03-02 09:00:00', 3), 'app', '420106', '420000', '420100', 'loan', 100, "
        "concat('phone:', hex(MD5(toString(number % 20000)))), [concat('phone:s', toString(number % 5000))] "
        "FROM numbers(30000)"
    )
    victims, contacts = (
        int(v)
        for v in ch.query(
            f"SELECT {SKETCH_MERGE}(victims_sketch), {SKETCH_MERGE}(contacts_sketch) "
            f"FROM {database}.report_rollup_1d WHERE basis = 'reported'"
        ).result_rows[0]
    )
    assert abs(victims - 20_000) <= 0.05 * 20_000
    assert abs(contacts - 5_000) <= 0.05 * 5_000
