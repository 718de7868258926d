"""ClickHouse CPU per inserted report, by schema variant: what each view, projection, column and index costs.

Not a test. Opens one chDB data directory in this process and, for each variant, creates a fresh
database, inserts the same reports into `reports` in worker-sized blocks (Arrow with plain string
columns, as `streams.facts.fact_table` builds them) plus the stream's per-minute rows into
`report_stats_1m`, then waits for the background merges. It reports the process CPU
(`time.process_time`, chDB's threads included) per report: of the inserts (merges stopped; every
block goes to each variant's database in turn, so the machine's load hits them alike), then of the
merges they cause (each database merging alone, until its parts stay put).

    python benchmarks/bench_insert_cost.py                        # breakdown of the current schema
    python benchmarks/bench_insert_cost.py --variants old,new --rounds 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import clickhouse_connect
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_clickhouse import block, make_pools

from sinks.migrate import Migration, available
from streams.facts import FACT_SCHEMA, STATS_COLUMNS

ZONE = "Asia/Shanghai"
# The benchmark year's density: ten million reports over 365 days.
REPORTS_PER_DAY = 10_000_000 / 365
ROLLUP_1D_PROJECTIONS = ("by_region", "by_province", "by_month")


@dataclass(frozen=True)
class Variant:
    """A schema: the migrations up to `upto`, then `strip` statements taking parts away; facts go to `target`."""

    name: str
    upto: int
    strip: tuple[str, ...] = ()
    target: str = "reports"
    stats: bool = True
    settings: tuple[tuple[str, object], ...] = ()


def _drop_1d_projections() -> tuple[str, ...]:
    return tuple(f"ALTER TABLE {{db}}.report_rollup_1d DROP PROJECTION IF EXISTS {p}" for p in ROLLUP_1D_PROJECTIONS)


_NO_1D = (*_drop_1d_projections(), "DROP VIEW {db}.report_rollup_1d_mv")
_NO_VIEWS = (*_NO_1D, "DROP VIEW {db}.report_rollup_1h_mv")
_NO_KEYS = (*_NO_VIEWS, "ALTER TABLE {db}.reports DROP COLUMN victim_key, DROP COLUMN contact_keys")
_BARE = (*_NO_KEYS, "ALTER TABLE {db}.reports DROP INDEX occurred_at_idx, DROP INDEX src_offset_idx")
_STATS_NO_PROJECTIONS = (
    "ALTER TABLE {db}.report_stats_1m DROP PROJECTION by_day_province",
    "ALTER TABLE {db}.report_stats_1m DROP PROJECTION by_day_city",
)


_DIMENSIONS = "basis, hour, category, headline, province_code, city_code, channel, victim_age_band, leak_linked"
# Migration 0015's views as they would be with a GROUP BY (as 0003's were): what not grouping saves.
_GROUPED_VIEWS = (
    "ALTER TABLE {db}.report_rollup_1d_mv MODIFY QUERY SELECT basis, toDate(hour) AS day, category, headline, "
    "province_code, city_code, channel, victim_age_band, leak_linked, sum(reports) AS reports, "
    "sum(loss_fen) AS loss_fen, sum(leak_reports) AS leak_reports, sum(leak_loss_fen) AS leak_loss_fen, "
    "uniqCombined64MergeState(12)(victims_sketch) AS victims_sketch, "
    "uniqCombined64MergeState(12)(contacts_sketch) AS contacts_sketch FROM {db}.report_rollup_1h "
    "GROUP BY basis, day, category, headline, province_code, city_code, channel, victim_age_band, leak_linked",
    "ALTER TABLE {db}.report_rollup_1h_mv MODIFY QUERY SELECT basis, toStartOfHour(moment) AS hour, category, "
    "if(category IN ('part_time_job', 'fake_shopping', 'investment', 'game_trading'), category, 'other_types') "
    "AS headline, province_code, city_code, channel, victim_age_band, leak_linked, count() AS reports, "
    "sum(amount_lost_fen) AS loss_fen, countIf(leak_linked != 0) AS leak_reports, "
    "sumIf(amount_lost_fen, leak_linked != 0) AS leak_loss_fen, "
    "uniqCombined64IfState(12)(victim_key, victim_id_hash != '' OR victim_phone_hash != '') AS victims_sketch, "
    "uniqCombined64ArrayState(12)(contact_keys) AS contacts_sketch FROM {db}.reports "
    "ARRAY JOIN ['reported', 'occurred'] AS basis, [reported_at, occurred_at] AS moment "
    f"GROUP BY {_DIMENSIONS}",
)


# The insert settings of the sink's fact inserts (sinks/writer.py).
_SINK = (("optimize_on_insert", 0),)


def variants(latest: int) -> dict[str, Variant]:
    """The breakdown of migrations 0001-0014 (each variant takes one more part away) and old vs new."""
    old = 14
    return {
        "old": Variant("old: migrations 0001-0014, default insert settings", old),
        "new": Variant(f"new: migrations 0001-{latest:04d}, optimize_on_insert = 0", latest, settings=_SINK),
        "new_default_settings": Variant("new, default insert settings", latest),
        "new_grouped": Variant("new, views with GROUP BY", latest, _GROUPED_VIEWS, settings=_SINK),
        "old_no_optimize": Variant("old, optimize_on_insert = 0", old, settings=_SINK),
        "new_no_1d_projections": Variant(
            "new without the 1d projections", latest, _drop_1d_projections(), settings=_SINK
        ),
        "new_no_1d": Variant("new without the 1d view", latest, _NO_1D, settings=_SINK),
        "no_1d_projections": Variant("old without the 1d projections", old, _drop_1d_projections()),
        "no_1d": Variant("old without the 1d view", old, _NO_1D),
        "no_views": Variant("old without the rollup views", old, _NO_VIEWS),
        "no_keys": Variant("... and without victim_key/contact_keys", old, _NO_KEYS),
        "bare": Variant("... and without the minmax indexes", old, _BARE),
        "null": Variant("facts into a Null table (parsing only)", old, _BARE, target="reports_null"),
        "facts_only": Variant("old, facts only (no report_stats_1m)", old, stats=False),
        "stats_no_projections": Variant("old, report_stats_1m without projections", old, _STATS_NO_PROJECTIONS),
    }


def as_worker_sends(table: pa.Table) -> pa.Table:
    """The bench's block with the worker's Arrow schema: plain strings, every FACT_SCHEMA column, no ingested_at."""
    columns = []
    for field in FACT_SCHEMA:
        if field.name in table.column_names:
            column = table.column(field.name)
            columns.append(column.cast(field.type) if column.type != field.type else column)
        else:
            columns.append(
                pa.nulls(table.num_rows, field.type).fill_null(
                    pa.scalar([] if pa.types.is_list(field.type) else "", field.type)
                )
            )
    return pa.Table.from_arrays(columns, schema=FACT_SCHEMA)


def minute_rows(table: pa.Table) -> pa.Table:
    """What the stream writes to report_stats_1m for these reports: per minute, category, district and partition."""
    minutes = pc.floor_temporal(table.column("reported_at"), unit="minute")
    keyed = pa.table(
        {
            "minute": minutes,
            "category": table.column("category"),
            "province_code": table.column("province_code"),
            "region_code": table.column("region_code"),
            "src_topic": table.column("src_topic"),
            "src_epoch": table.column("src_epoch"),
            "src_partition": table.column("src_partition"),
            "amount_lost_fen": table.column("amount_lost_fen"),
            "src_offset": table.column("src_offset"),
        }
    )
    grouped = keyed.group_by(list(STATS_COLUMNS[:7])).aggregate(
        [("amount_lost_fen", "count"), ("amount_lost_fen", "sum"), ("src_offset", "max")]
    )
    return pa.table(
        {
            **{name: grouped.column(name) for name in STATS_COLUMNS[:7]},
            "reports": grouped.column("amount_lost_fen_count").cast(pa.uint64()),
            "loss_fen": grouped.column("amount_lost_fen_sum").cast(pa.uint64()),
            "src_offset_max": grouped.column("src_offset_max").cast(pa.uint64()),
        }
    )


def apply(client: Client, database: str, migrations: Sequence[Migration]) -> None:
    for migration in migrations:
        for statement in migration.statements(database, ZONE):
            client.command(statement)


def settle(client: Client, database: str) -> None:
    """Until no merge or mutation runs and the number of parts has stayed the same for a second."""
    last, stable = -1, 0
    while stable < 4:
        time.sleep(0.25)
        merges, parts = client.query(
            "SELECT (SELECT count() FROM system.merges WHERE database = {db:String}) "
            "+ (SELECT count() FROM system.mutations WHERE database = {db:String} AND NOT is_done), "
            "(SELECT count() FROM system.parts WHERE database = {db:String} AND active)",
            parameters={"db": database},
        ).result_rows[0]
        stable = stable + 1 if merges == 0 and parts == last else 0
        last = parts


def merges(client: Client, database: str, verb: str) -> None:
    """SYSTEM STOP/START MERGES on every MergeTree table of the database (the statement takes tables)."""
    for (table,) in client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'",
        parameters={"db": database},
    ).result_rows:
        client.command(f"SYSTEM {verb} MERGES {database}.{table}")


def create(client: Client, variant: Variant, database: str, first: datetime) -> None:
    """The variant's schema in a new database, merges stopped (they are measured on their own)."""
    client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    client.command(f"CREATE DATABASE {database}")
    apply(client, database, [m for m in available() if m.version <= variant.upto])
    for statement in variant.strip:
        client.command(statement.format(db=database))
    if variant.target != "reports":
        client.command(f"CREATE TABLE {database}.{variant.target} AS {database}.reports ENGINE = Null")
    # The views take facts ingested from the cutover on (migration 0003); this one stands for an
    # installation that was there before these reports.
    client.command(
        f"INSERT INTO {database}.rollup_cutover (step, cutover_at) VALUES "
        f"('cutover', toDateTime64('{first.astimezone(UTC):%Y-%m-%d %H:%M:%S}', 3, 'UTC') - INTERVAL 30 DAY)"
    )
    settle(client, database)
    merges(client, database, "STOP")


@dataclass
class Cost:
    insert_us: float
    merge_us: float


def run_round(
    client: Client, chosen: Sequence[Variant], blocks: Sequence[tuple[pa.Table, pa.Table]], round_number: int
) -> list[Cost]:
    """Every variant in a database of its own; each block goes to all of them in turn (the order reversed
    every other block), then each database merges alone, so every CPU second is its variant's."""
    first = blocks[0][0].column("reported_at")[0].as_py()
    databases = [f"fw_cost_{round_number}_{i}" for i in range(len(chosen))]
    for variant, database in zip(chosen, databases, strict=True):
        create(client, variant, database, first)
    inserting = [0.0] * len(chosen)
    order = list(range(len(chosen)))
    for facts, stats in blocks:
        for i in order:
            started = time.process_time()
            client.insert_arrow(f"{databases[i]}.{chosen[i].target}", facts, settings=dict(chosen[i].settings))
            if chosen[i].stats:
                client.insert_arrow(f"{databases[i]}.report_stats_1m", stats)
            inserting[i] += time.process_time() - started
        order.reverse()
    reports = sum(facts.num_rows for facts, _ in blocks)
    costs = []
    for i, database in enumerate(databases):
        started = time.process_time()
        merges(client, database, "START")
        settle(client, database)
        costs.append(Cost(inserting[i] / reports * 1e6, (time.process_time() - started) / reports * 1e6))
        client.command(f"DROP DATABASE {database} SYNC")
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=150_000, help="reports per variant and round")
    parser.add_argument("--block", type=int, default=5_000, help="reports per insert (a worker flush)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--variants", default="old,no_1d_projections,no_1d,no_views,no_keys,bare,null,facts_only,stats_no_projections"
    )
    parser.add_argument("--seed", type=int, default=20261129)
    arguments = parser.parse_args()
    latest = available()[-1].version
    known = variants(latest)
    chosen = [known[name] for name in arguments.variants.split(",")]
    rng = np.random.default_rng(arguments.seed)
    pools = make_pools(rng, arguments.rows)
    end_ms = int(datetime(2026, 11, 28, tzinfo=UTC).timestamp() * 1000)
    span_ms = int(arguments.rows / REPORTS_PER_DAY * 86_400_000)
    blocks = []
    for start in range(0, arguments.rows, arguments.block):
        n = min(arguments.block, arguments.rows - start)
        t0 = end_ms - span_ms + span_ms * start // arguments.rows
        facts = as_worker_sends(block(rng, pools, start, n, t0, t0 + span_ms * n // arguments.rows))
        blocks.append((facts, minute_rows(facts)))
    stats_rows = sum(s.num_rows for _, s in blocks)
    print(f"{arguments.rows:,} reports in blocks of {arguments.block:,}; {stats_rows:,} per-minute rows")
    path = Path(tempfile.mkdtemp(prefix="fw-insert-cost-"))
    client = clickhouse_connect.get_client(dsn=f"chdb://{path.resolve()}")
    results: dict[str, list[Cost]] = {v.name: [] for v in chosen}
    try:
        for round_number in range(arguments.rounds):
            for variant, cost in zip(chosen, run_round(client, chosen, blocks, round_number), strict=True):
                results[variant.name].append(cost)
                print(
                    f"  round {round_number + 1} {variant.name:<55} insert {cost.insert_us:6.1f} µs"
                    f"  merges {cost.merge_us:6.1f} µs",
                    flush=True,
                )
    finally:
        shutil.rmtree(path, ignore_errors=True)
    print(
        "\n| variant | insert µs/report (min / median) | merges µs/report (median) | total (median) |"
        "\n|---|---:|---:|---:|"
    )
    for name, costs in results.items():
        inserts = [c.insert_us for c in costs]
        merges = [c.merge_us for c in costs]
        totals = [c.insert_us + c.merge_us for c in costs]
        print(
            f"| {name} | {min(inserts):.1f} / {statistics.median(inserts):.1f} | {statistics.median(merges):.1f} "
            f"| {statistics.median(totals):.1f} |"
        )


if __name__ == "__main__":
    main()
