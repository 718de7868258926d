"""Benchmark of the ClickHouse side at scale: bulk insert of synthetic reports, then query latencies.

Not a test. Opens its own chDB data directory in this process (`chdb:///tmp/...`), applies the
migrations, generates --rows reports directly as rows (vectorised with numpy and Arrow, inserted in
large blocks, so the materialized rollups are maintained exactly as in production), then times every
trend analysis of sinks.trends and a set of dashboard-style queries over repeated runs and prints
p50/p95 latencies. The target is every trend query under 200 ms p95 at 10 million reports.

    python benchmarks/bench_clickhouse.py                 # 10,000,000 reports over a year
    python benchmarks/bench_clickhouse.py --rows 500000   # a quick look
    python benchmarks/bench_clickhouse.py --path /tmp/ch10m --only loss_per_victim --only repeat_contacts
                                                          # keep the data; re-time some queries on it
"""

from __future__ import annotations

import argparse
import binascii
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import clickhouse_connect
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dashboards.grafana import build_dashboards
from dashboards.macros import VariableValue, expand
from dashboards.server import panel_interval_ms, parse_time
from fraudwatch.regions import PROVINCES
from sinks import trends
from sinks.migrate import migrate

DATABASE = "fraudwatch"
TARGET_MS = 200.0

CATEGORIES = (
    "part_time_job", "fake_shopping", "investment", "game_trading", "fake_customer_service", "loan",
    "credit_repair", "impersonate_officials", "impersonate_acquaintance", "romance", "ticket_refund", "other",
)  # fmt: skip
CATEGORY_WEIGHTS = (0.22, 0.1, 0.14, 0.04, 0.12, 0.08, 0.05, 0.06, 0.05, 0.05, 0.03, 0.06)
CHANNELS = ("app", "web", "hotline", "sms", "wechat", "police", "other")
CHANNEL_WEIGHTS = (0.45, 0.15, 0.15, 0.03, 0.12, 0.08, 0.02)
AGE_BANDS = ("", "under_18", "18_25", "26_35", "36_45", "46_60", "over_60")
AGE_WEIGHTS = (0.2, 0.05, 0.2, 0.22, 0.15, 0.1, 0.08)
DESCRIPTIONS = tuple(
    f"{opening}，对方让我{step}，前后共转账{n}次，后来发现被骗，对方联系方式已拉黑。"
    for n, (opening, step) in enumerate(
        [
            ("网上看到刷单兼职广告", "先垫付做任务"),
            ("有人冒充快递客服说包裹丢失", "开启屏幕共享理赔"),
            ("在交友软件认识一个网友", "在投资平台充值"),
            ("接到自称公安的电话说我涉嫌洗钱", "把钱转到安全账户"),
            ("在二手平台买游戏账号", "私下交易付款"),
            ("收到短信说机票航班取消", "点击链接办理退票"),
            ("网贷平台说我信用不足", "先交保证金解冻"),
        ],
        start=1,
    )
)


@dataclass
class Pools:
    """Identifiers drawn with repetition, as keyed hashes look: kind:32 hex digits."""

    phones: pa.Array
    ids: pa.Array
    contacts: pa.Array
    regions: tuple[str, ...]
    region_weights: np.ndarray[Any, Any]
    cities: tuple[str, ...]
    city_of: np.ndarray[Any, Any]
    provinces: tuple[str, ...]
    province_of: np.ndarray[Any, Any]


def hex_pool(rng: np.random.Generator, kind: str, size: int) -> pa.Array:
    raw = binascii.hexlify(rng.bytes(16 * size))
    digits = pa.array(np.frombuffer(raw, dtype="S32")).cast(pa.string())
    return pc.binary_join_element_wise(pa.scalar(kind + ":"), digits, pa.scalar(""))


def make_pools(rng: np.random.Generator, rows: int) -> Pools:
    regions = tuple(f"{p}{c:02d}{d:02d}" for p in PROVINCES for c in range(1, 11) for d in range(1, 9))
    cities = tuple(dict.fromkeys(r[:4] + "00" for r in regions))
    provinces = tuple(dict.fromkeys(r[:2] + "0000" for r in regions))
    province_weight = rng.dirichlet(np.ones(len(PROVINCES)) * 2)
    weights = np.repeat(province_weight / 80, 80)
    return Pools(
        phones=hex_pool(rng, "phone", max(1000, int(rows * 0.7))),
        ids=hex_pool(rng, "id_card", max(1000, int(rows * 0.4))),
        contacts=hex_pool(rng, "phone", max(100, rows // 20)),
        regions=regions,
        region_weights=weights / weights.sum(),
        cities=cities,
        city_of=np.array([cities.index(r[:4] + "00") for r in regions], dtype=np.int32),
        provinces=provinces,
        province_of=np.array([provinces.index(r[:2] + "0000") for r in regions], dtype=np.int32),
    )


def codes(rng: np.random.Generator, weights: tuple[float, ...], n: int) -> np.ndarray[Any, Any]:
    return rng.choice(len(weights), size=n, p=np.asarray(weights) / sum(weights)).astype(np.int32)


def dictionary(values: tuple[str, ...], index: np.ndarray[Any, Any]) -> pa.Array:
    # Dictionary-encoded: ClickHouse reads it straight into LowCardinality, and the block stays small.
    return pa.DictionaryArray.from_arrays(pa.array(index), pa.array(values))


def pick(rng: np.random.Generator, values: tuple[str, ...], weights: tuple[float, ...], n: int) -> pa.Array:
    return dictionary(values, codes(rng, weights, n))


def maybe(rng: np.random.Generator, pool: pa.Array, share: float, n: int, skew: float = 1.0) -> pa.Array:
    """`share` of rows get an identifier from `pool` (skew > 1 favours the first ones), the rest ''."""
    index = (len(pool) * rng.random(n) ** skew).astype(np.int64)
    values = pool.take(pa.array(index))
    return pc.if_else(pa.array(rng.random(n) < share), values, pa.scalar(""))


def block(rng: np.random.Generator, pools: Pools, start: int, n: int, t0_ms: int, t1_ms: int) -> pa.Table:
    """Reports start..start+n, reported between t0 and t1 in time order (as a stream delivers them)."""
    zone = "Asia/Shanghai"
    reported = np.sort(rng.integers(t0_ms, t1_ms, n))
    late = rng.random(n) < 0.15
    delay_ms = np.where(late, rng.exponential(5 * 86_400_000, n), rng.exponential(2 * 3_600_000, n)).astype(np.int64)
    category_codes = codes(rng, CATEGORY_WEIGHTS, n)
    region_index = rng.choice(len(pools.regions), size=n, p=pools.region_weights).astype(np.int32)
    # Citizens choose a category for half the reports, mostly the one the classifier finds.
    chosen = rng.random(n)
    citizen_codes = np.where(
        chosen < 0.35, category_codes, np.where(chosen < 0.5, codes(rng, CATEGORY_WEIGHTS, n), len(CATEGORIES))
    ).astype(np.int32)
    contact_counts = rng.choice(4, size=n, p=(0.35, 0.4, 0.18, 0.07))
    flat_index = (len(pools.contacts) * rng.random(int(contact_counts.sum())) ** 3).astype(np.int64)
    contacts = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(contact_counts)]).astype(np.int32)),
        pools.contacts.take(pa.array(flat_index)),
    )
    empty_lists = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], pa.string()))
    ids = pc.binary_join_element_wise(
        pa.scalar("bench-"), pc.cast(pa.array(np.arange(start, start + n)), pa.string()), ""
    )
    stamp = pa.timestamp("ms", tz=zone)
    return pa.table(
        {
            "report_id": ids,
            "reported_at": pa.array(reported, stamp),
            "occurred_at": pa.array(reported - delay_ms, stamp),
            # As the pipeline writes them: a second or so after the report, not all at load time (the
            # Pipeline health panels select by ingested_at).
            "ingested_at": pa.array(reported + rng.exponential(1_000, n).astype(np.int64), stamp),
            "channel": pick(rng, CHANNELS, CHANNEL_WEIGHTS, n),
            "submitter": dictionary(("citizen-app",), np.zeros(n, dtype=np.int32)),
            "region_code": dictionary(pools.regions, region_index),
            "province_code": dictionary(pools.provinces, pools.province_of[region_index]),
            "city_code": dictionary(pools.cities, pools.city_of[region_index]),
            "category": dictionary(CATEGORIES, category_codes),
            "category_confidence": pa.array(rng.random(n).astype(np.float32)),
            "category_evidence": empty_lists,
            "citizen_category": dictionary((*CATEGORIES, ""), citizen_codes),
            "amount_lost_fen": pa.array(
                np.where(rng.random(n) < 0.1, 0, rng.lognormal(10.5, 1.6, n)).astype(np.uint64)
            ),
            "victim_phone_hash": maybe(rng, pools.phones, 0.85, n),
            "victim_id_hash": maybe(rng, pools.ids, 0.35, n),
            "victim_age_band": pick(rng, AGE_BANDS, AGE_WEIGHTS, n),
            "scammer_contacts": contacts,
            "leak_linked": pa.array((rng.random(n) < 0.12).astype(np.uint8)),
            "description_redacted": pick(rng, DESCRIPTIONS, tuple(1.0 for _ in DESCRIPTIONS), n),
            "src_topic": dictionary(("fraudwatch.reports.raw",), np.zeros(n, dtype=np.int32)),
            "src_epoch": dictionary(("bench",), np.zeros(n, dtype=np.int32)),
            "src_partition": pa.array((np.arange(start, start + n) % 4).astype(np.uint16)),
            "src_offset": pa.array((np.arange(start, start + n) // 4).astype(np.uint64)),
            "src_index": pa.array(np.zeros(n, dtype=np.uint32)),
        }
    )


def load(client: Client, rows: int, block_rows: int, days: int, end: datetime, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pools = make_pools(rng, rows)
    t_end = int(end.timestamp() * 1000)
    t_start = t_end - days * 86_400_000
    # The rollup views take facts ingested from their cutover on (migration 0003), which migrate() just
    # set to now. This empty database stands for one installed before its year of reports, so an
    # earlier cutover is the truth here; the view reads the earliest.
    client.command(
        f"INSERT INTO {DATABASE}.rollup_cutover (step, cutover_at) "
        f"VALUES ('cutover', fromUnixTimestamp64Milli({t_start - 86_400_000}))"
    )
    span = t_end - t_start
    generating = inserting = 0.0
    done = 0
    while done < rows:
        n = min(block_rows, rows - done)
        started = time.perf_counter()
        table = block(rng, pools, done, n, t_start + span * done // rows, t_start + span * (done + n) // rows)
        generated = time.perf_counter()
        client.insert_arrow(f"{DATABASE}.reports", table)
        inserting += time.perf_counter() - generated
        generating += generated - started
        done += n
        print(f"  {done:>11,} rows  insert {done / inserting:>9,.0f} rows/s", file=sys.stderr, flush=True)
    print(f"generated {rows:,} reports in {generating:.1f} s")
    print(
        f"inserted  {rows:,} reports in {inserting:.1f} s = {rows / inserting:,.0f} rows/s "
        "(into `reports`, maintaining the hourly and daily rollups)"
    )
    started = time.perf_counter()
    # What the stream would have written: per-minute aggregates, one row per source partition.
    client.command(
        f"INSERT INTO {DATABASE}.report_stats_1m SELECT toStartOfMinute(reported_at), category, province_code, "
        "region_code, src_topic, src_epoch, src_partition, count(), sum(amount_lost_fen), max(src_offset) "
        f"FROM {DATABASE}.reports GROUP BY ALL"
    )
    print(f"report_stats_1m filled from the facts in {time.perf_counter() - started:.1f} s")


def sizes(client: Client) -> None:
    for name, count, parts, size in client.query(
        "SELECT table, sum(rows), count(), formatReadableSize(sum(bytes_on_disk)) FROM system.parts "
        "WHERE active AND database = {db:String} GROUP BY table ORDER BY table",
        parameters={"db": DATABASE},
    ).result_rows:
        print(f"  {name:<18} {count:>12,} rows  {parts:>4} parts  {size:>10}")


def cpu_seconds() -> float:
    """CPU time of this process, chDB's threads included: unlike wall time, other jobs on the machine
    hardly change it."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, round(share * len(sorted_values)) - 1))]


@dataclass
class Timing:
    name: str
    p50: float
    p95: float
    cpu_p50: float
    rows: int


def timed(name: str, action: Callable[[], int], runs: int) -> Timing:
    action()  # warm-up: first run pays for opening files and caches
    wall: list[float] = []
    cpu: list[float] = []
    result_rows = 0
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), cpu_seconds()
        result_rows = action()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((cpu_seconds() - started_cpu) * 1000)
    wall.sort()
    cpu.sort()
    return Timing(name, statistics.median(wall), percentile(wall, 0.95), statistics.median(cpu), result_rows)


def settle(client: Client, limit_s: float = 900) -> None:
    """Wait for background merges and mutations (projection and column builds) to finish, as they
    would have on a server that has been running: otherwise the first queries compete with them."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        busy = client.query(
            "SELECT (SELECT count() FROM system.merges) + (SELECT count() FROM system.mutations WHERE NOT is_done)"
        ).result_rows[0][0]
        if not busy:
            break
        time.sleep(2)
    print(f"background merges settled after {time.perf_counter() - started:.0f} s")


def dashboard_queries(end: datetime) -> dict[str, tuple[str, dict[str, Any]]]:
    now = end
    today = end.date()
    db = DATABASE
    return {
        "reports per minute, last 6 h (stream)": (
            f"SELECT minute, sum(reports) FROM {db}.report_stats_1m "
            "WHERE minute >= {t:DateTime('Asia/Shanghai')} - INTERVAL 6 HOUR GROUP BY minute ORDER BY minute",
            {"t": now},
        ),
        "reports by category, last 24 h (stream)": (
            f"SELECT category, sum(reports), sum(loss_fen) FROM {db}.report_stats_1m "
            "WHERE minute >= {t:DateTime('Asia/Shanghai')} - INTERVAL 24 HOUR GROUP BY category ORDER BY 2 DESC",
            {"t": now},
        ),
        "province map, today (stream)": (
            f"SELECT province_code, sum(reports), sum(loss_fen) FROM {db}.report_stats_1m "
            "WHERE toDate(minute) = {d:Date} GROUP BY province_code",
            {"d": today},
        ),
        "hourly by headline class, 7 days": (
            f"SELECT hour, headline, sum(reports) FROM {db}.report_rollup_1h "
            "WHERE basis = 'reported' AND hour >= {t:DateTime('Asia/Shanghai')} - INTERVAL 7 DAY "
            "GROUP BY hour, headline ORDER BY hour",
            {"t": now},
        ),
        "daily distinct victims and contacts, 30 days": (
            f"SELECT day, sum(reports), {trends.SKETCH_MERGE}(victims_sketch), "
            f"{trends.SKETCH_MERGE}(contacts_sketch) FROM {db}.report_rollup_1d "
            "WHERE basis = 'reported' AND day > {d:Date} - 30 GROUP BY day ORDER BY day",
            {"d": today},
        ),
        "reported vs occurred per day, 90 days": (
            f"SELECT day, sumIf(reports, basis = 'reported'), sumIf(reports, basis = 'occurred') "
            f"FROM {db}.report_rollup_1d WHERE day > {{d:Date}} - 90 GROUP BY day ORDER BY day",
            {"d": today},
        ),
        "monthly by category, whole year": (
            f"SELECT toStartOfMonth(day) AS month, category, sum(reports), sum(loss_fen) FROM {db}.report_rollup_1d "
            "WHERE basis = 'reported' GROUP BY month, category ORDER BY month, category",
            {},
        ),
        "distinct victims per province, whole year": (
            f"SELECT province_code, {trends.SKETCH_MERGE}(victims_sketch) FROM {db}.report_rollup_1d "
            "WHERE basis = 'reported' GROUP BY province_code",
            {},
        ),
        "latest 50 reports in a province (facts)": (
            f"SELECT report_id, reported_at, category, region_code, amount_lost_fen FROM {db}.reports "
            "WHERE province_code = '420000' AND reported_at >= {t:DateTime('Asia/Shanghai')} - INTERVAL 1 DAY "
            "ORDER BY reported_at DESC LIMIT 50",
            {"t": now},
        ),
        "reports and loss today (facts)": (
            f"SELECT count(), sum(amount_lost_fen) FROM {db}.reports WHERE toDate(reported_at) = {{d:Date}}",
            {"d": today},
        ),
    }


def panel_queries(end: datetime, zone: ZoneInfo) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every panel of every dashboard (dashboards/definitions.py), expanded as Grafana would for its
    default range ending at `end` with every variable on "All"; the Overview also over 7 days."""
    queries: dict[str, tuple[str, dict[str, Any]]] = {}
    for slug, board in build_dashboards().items():
        variables: dict[str, VariableValue] = {
            v["name"]: v["query"] if v["type"] == "constant" else ["$__all"]
            for v in board.get("templating", {}).get("list", [])
        }
        ranges = [board["time"]["from"]] + (["now-7d"] if slug == "overview" else [])
        for since in ranges:
            time_from = parse_time(since, end, zone)
            time_to = parse_time(board["time"]["to"], end, zone, end=True)
            for panel in board["panels"]:
                interval = panel_interval_ms(panel, time_from, time_to)
                (target,) = panel["targets"]
                sql = expand(target["rawSql"], time_from, time_to, interval, variables)
                queries[f"{slug} {panel['id']}: {panel['title']} ({since})"] = (sql, {})
    return queries


def trend_cases(until: date, first: date) -> dict[str, tuple[trends.Analysis, trends.Request]]:
    cases: dict[str, tuple[trends.Analysis, trends.Request]] = {}
    for name, chosen in trends.ANALYSES.items():
        cases[f"{name} (4 weeks)"] = (chosen, trends.Request(until=until.isoformat()))
    year = trends.Request(since=first.isoformat(), until=until.isoformat())
    for name in ("category_trend", "top_regions", "leak_share", "loss_per_victim", "repeat_contacts"):
        cases[f"{name} (whole year)"] = (trends.ANALYSES[name], year)
    cases["category_trend (weekly, occurred)"] = (
        trends.ANALYSES["category_trend"],
        trends.Request(until=until.isoformat(), interval="week", basis="occurred"),
    )
    cases["top_regions (city, one province)"] = (
        trends.ANALYSES["top_regions"],
        trends.Request(until=until.isoformat(), level="city", region="440000"),
    )
    cases["rising_categories (30 days)"] = (
        trends.ANALYSES["rising_categories"],
        trends.Request(until=until.isoformat(), days="30"),
    )
    return cases


def chosen_query(only: list[str], item: tuple[str, object]) -> bool:
    """Whether the query named item[0] is to be timed: all of them, or those matching --only."""
    return not only or any(part in item[0] for part in only)


def report(title: str, results: list[Timing], target: float | None) -> None:
    if not results:
        return
    print(f"\n{title}")
    width = max(len(r.name) for r in results)
    print(f"  {'query':<{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'cpu p50':>8}  {'rows':>6}")
    for r in results:
        flag = "" if target is None else ("  ok" if r.p95 < target else "  OVER TARGET")
        print(f"  {r.name:<{width}}  {r.p50:>8.1f}  {r.p95:>8.1f}  {r.cpu_p50:>8.1f}  {r.rows:>6}{flag}")


def run_trend(client: Client, chosen: trends.Analysis, parameters: dict[str, Any]) -> int:
    return len(trends.run(client, DATABASE, chosen, parameters).rows)


def run_sql(client: Client, sql: str, parameters: dict[str, Any]) -> int:
    return len(client.query(sql, parameters=parameters).result_rows)


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--block", type=int, default=1_000_000, help="rows per insert")
    parser.add_argument("--days", type=int, default=365, help="reports are spread over this many days")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query (after one warm-up)")
    parser.add_argument("--seed", type=int, default=20261128)
    parser.add_argument("--path", type=Path, help="chDB data directory [default: a temporary one, removed]")
    parser.add_argument("--timezone", default="Asia/Shanghai")
    parser.add_argument(
        "--only", action="append", default=[], help="time only queries whose name contains this (repeatable)"
    )
    args = parser.parse_args()
    wanted = partial(chosen_query, args.only)

    zone = ZoneInfo(args.timezone)
    path = args.path or Path(tempfile.mkdtemp(prefix="fraudwatch-bench-"))
    client = clickhouse_connect.get_client(dsn=f"chdb://{path.resolve()}")
    try:
        print(f"chDB {client.server_version} at {path}; {args.rows:,} reports over {args.days} days")
        migrate(client, DATABASE, args.timezone)
        end = datetime.now(zone).replace(minute=0, second=0, microsecond=0)
        if not client.query(f"SELECT count() FROM {DATABASE}.reports").result_rows[0][0]:
            load(client, args.rows, args.block, args.days, end, args.seed)
        sizes(client)
        until = end.date()
        first = until - timedelta(days=args.days)

        settle(client)
        print(f"timing with {load_average()} (wall times include waiting for the CPU; cpu p50 does not)")
        results = []
        for label, (chosen, request) in filter(wanted, trend_cases(until, first).items()):
            parameters = trends.bind(chosen, request, today=until)
            results.append(timed(label, partial(run_trend, client, chosen, parameters), args.runs))
        report(f"trend analyses ({args.runs} runs each, target p95 < {TARGET_MS:.0f} ms)", results, TARGET_MS)

        results = []
        for label, (sql, parameters) in filter(wanted, dashboard_queries(end).items()):
            results.append(timed(label, partial(run_sql, client, sql, parameters), args.runs))
        report(f"dashboard-style queries ({args.runs} runs each, target p95 < {TARGET_MS:.0f} ms)", results, TARGET_MS)

        # Panel SQL names its tables unqualified, as Grafana's data source with a default database.
        panels = clickhouse_connect.get_client(dsn=f"chdb://{path.resolve()}", database=DATABASE)
        results = []
        for label, (sql, parameters) in filter(wanted, panel_queries(end, zone).items()):
            results.append(timed(label, partial(run_sql, panels, sql, parameters), args.runs))
        report(f"dashboard panels, dashboards/definitions.py ({args.runs} runs each)", results, TARGET_MS)
        print(f"\ndone with {load_average()}")
    finally:
        client.close()
        if args.path is None:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
