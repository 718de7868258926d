"""Every panel of every dashboard, with its SQL expanded as Grafana's ClickHouse plugin would expand it,
against the real embedded engine holding generated data.

Reports take the platform's own path: `fraudwatch.simulate` request bodies, validated and
`sanitise`d as the API does, turned into facts by `streams.facts.facts_of` and written by
`sinks.writer.ReportSink`. The tables nothing writes yet (leak batches and links, pipeline metrics)
get plain INSERTs shaped as migrations 0010 and 0011 document; dead letters go through the sink.

Each panel must return rows with exactly the columns its definition names; the totals of the
breakdown and time-series panels must match the loaded reports, with and without filters.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from dashboards.definitions import DASHBOARDS, PanelKind, dashboard
from dashboards.grafana import build_dashboards
from dashboards.macros import VariableValue, expand
from dashboards.server import panel_interval_ms, parse_time
from fraudwatch.reports import ReportIn, sanitise
from fraudwatch.simulate import generate_reports
from sinks.alerts import AlertStore
from sinks.writer import ReportSink
from streams.deadletter import dead_letter
from streams.detectors import Alert, Detector, opened, resolved
from streams.facts import Fact, SourcePosition, facts_of

ZONE = ZoneInfo("Asia/Shanghai")
HASH_KEY = b"fraudwatch-dashboard-tests"
TOPIC = "fraudwatch.reports.raw"
# The vocabularies of migration 0010 (fraudwatch.leaks.SourceType / Industry).
SOURCE_TYPES = ("website_vulnerability", "trojan_phishing_fake_base_station", "insider", "hacker")
INDUSTRIES = ("bank", "education", "telecom", "express_delivery", "ecommerce")


@dataclass
class ReportFeed:
    """Simulated reports written the way the worker writes them, one sink, ever-growing offsets."""

    client: Client
    database: str
    epoch: str = "dashboards"
    seed: int = 11
    next_offset: int = 0
    facts: list[Fact] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sink = ReportSink(self.client, self.database, ZONE)
        self.sink.setup()

    def send(self, count: int, *, span: timedelta = timedelta(0), start: datetime | None = None) -> list[Fact]:
        """`count` reports reported over `span` up to now (or from `start`), written and flushed."""
        now = datetime.now(ZONE)
        simulated = generate_reports(count, seed=self.seed, start=start, span=span)
        self.seed += 1
        reports = [
            sanitise(ReportIn.model_validate(r.body), key=HASH_KEY, zone=ZONE, now=now, submitter="simulator")
            for r in simulated
        ]
        written: list[Fact] = []
        for start_at in range(0, len(reports), 5):
            chunk = reports[start_at : start_at + 5]
            position = SourcePosition(TOPIC, self.epoch, self.next_offset % 3, self.next_offset)
            self.next_offset += 1
            written += facts_of(position, chunk)
        self.sink.add(written)
        self.sink.flush()
        self.facts += written
        return written

    def send_today(self, count: int) -> list[Fact]:
        """Reports from the last few minutes, but never before midnight in Shanghai: "today" has data."""
        now = datetime.now(ZONE)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        start = max(now - timedelta(minutes=4), midnight + timedelta(seconds=1))
        return self.send(count, start=start, span=max(now - start - timedelta(seconds=1), timedelta(0)))


def load_leaks(client: Client, database: str, facts: Sequence[Fact], seed: int = 5) -> None:
    """Eight catalogued batches (and one uncatalogued), a third of the reports linked to one or two."""
    rng = random.Random(seed)
    now = datetime.now(ZONE)
    batches = [
        [
            f"LB-2026-{i:03d}",
            SOURCE_TYPES[i % len(SOURCE_TYPES)],
            INDUSTRIES[i % len(INDUSTRIES)],
            now - timedelta(days=rng.randint(0, 5), hours=rng.randint(0, 23)),
            rng.randint(10_000, 5_000_000),
            1 + i % 3,
        ]
        for i in range(8)
    ]
    client.insert(
        f"{database}.leak_batches",
        batches,
        column_names=["batch_id", "source_type", "industry", "seized_at", "records", "severity"],
    )
    ids = [b[0] for b in batches] + ["LB-UNCATALOGUED"]
    links = []
    for fact in facts:
        if rng.random() < 0.35:
            for batch in rng.sample(ids, rng.choice((1, 1, 2))):
                r = fact.report
                links.append([r.report_id, batch, fact.category, r.amount_lost_fen, r.reported_at.astimezone(ZONE)])
    client.insert(
        f"{database}.report_leak_links",
        links,
        column_names=["report_id", "batch_id", "category", "amount_lost_fen", "reported_at"],
    )


def load_alerts(client: Client, database: str) -> list[Alert]:
    """An open surge, a contact alert resolved half an hour ago (acknowledged), one resolved days ago."""
    now = datetime.now(ZONE)
    surge = opened(
        Detector.SURGE, "investment|440000", "Surge of investment in 广东", 9.5, now - timedelta(hours=1), {}
    )
    contact = opened(Detector.REPEAT_CONTACT, "phone:ab", "Scammer phone contact", 5, now - timedelta(hours=2), {})
    old = opened(Detector.LEAK_EXPLOITATION, "LB-2026-001", "Leak batch", 8.0, now - timedelta(days=3), {})
    alerts = [surge, contact, old, resolved(contact, now - timedelta(minutes=30), 1, {}),
              resolved(old, now - timedelta(days=2), 0.5, {})]  # fmt: skip
    store = AlertStore(client, database, ZONE)
    store.save(alerts)
    store.ack(contact.alert_id, "duty-officer", "blocked with the operator")
    return alerts


def load_pipeline(client: Client, database: str, feed: ReportFeed, seed: int = 9) -> None:
    """Half an hour of lag and rejection samples, and a few dead letters through the sink."""
    rng = random.Random(seed)
    now = datetime.now(ZONE)
    samples: list[list[Any]] = []
    for second in range(0, 1800, 5):
        ts = now - timedelta(seconds=second)
        samples.append([ts, "consumer_lag", float(rng.randint(0, 400))])
        if second % 10 == 0:
            samples.append([ts, "reports_rejected", float(rng.choice((0, 0, 1, 2)))])
    client.insert(f"{database}.pipeline_metrics", samples, column_names=["ts", "metric", "value"])
    for offset in range(4):
        position = SourcePosition(TOPIC, feed.epoch, 7, offset)
        feed.sink.add_dead_letter(dead_letter(position, b'{"not": "an envelope"}', "InvalidEnvelopeError: x", HASH_KEY))
    feed.sink.flush()


@pytest.fixture
def loaded(clickhouse_url: str, database: str) -> Iterator[tuple[Client, str, ReportFeed]]:
    """The test's database with reports, leaks and pipeline samples; the client's default database is it."""
    client = clickhouse_connect.get_client(dsn=clickhouse_url, database=database, autogenerate_session_id=False)
    feed = ReportFeed(client, database)
    feed.send(600, span=timedelta(hours=3))
    feed.send_today(60)
    load_leaks(client, database, feed.facts)
    load_pipeline(client, database, feed)
    load_alerts(client, database)
    yield client, database, feed
    client.close()


def run_panel(
    client: Client,
    board: dict[str, Any],
    panel: dict[str, Any],
    variables: dict[str, VariableValue] | None = None,
    now: datetime | None = None,
) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """Expand the panel's rawSql for the dashboard's default range and run it; (columns, rows, interval).

    `client` must have the test's database as its default: panel SQL names tables unqualified.
    """
    now = now or datetime.now(UTC)
    time_from = parse_time(board["time"]["from"], now, ZONE)
    time_to = parse_time(board["time"]["to"], now, ZONE, end=True)
    interval = panel_interval_ms(panel, time_from, time_to)
    chosen: dict[str, VariableValue] = {}
    for variable in board.get("templating", {}).get("list", []):
        if variable["type"] == "constant":
            chosen[variable["name"]] = variable["query"]
        else:
            chosen[variable["name"]] = ["$__all"]
    chosen.update(variables or {})
    (target,) = panel["targets"]
    sql = expand(target["rawSql"], time_from, time_to, interval, chosen)
    assert "$" not in sql.replace("$__all", ""), f"unexpanded macro or variable left in:\n{sql}"
    # Unqualified table names, as in Grafana: they resolve in the client's default database.
    result = client.query(sql)
    return list(result.column_names), [tuple(row) for row in result.result_rows], interval


def all_panels() -> list[tuple[str, int]]:
    return [(d.slug, p.id) for d in DASHBOARDS for p in d.panels]


@pytest.mark.parametrize("slug", [d.slug for d in DASHBOARDS])
def test_every_panel_returns_rows_with_its_columns(loaded: tuple[Client, str, ReportFeed], slug: str) -> None:
    client, _, _ = loaded
    board = build_dashboards()[slug]
    definition = dashboard(slug)
    assert sorted(p["id"] for p in board["panels"]) == sorted(p.id for p in definition.panels)
    for panel in board["panels"]:
        spec = definition.panel(panel["id"])
        columns, rows, _ = run_panel(client, board, panel)
        assert columns == list(spec.columns), f"{slug} panel {spec.id} ({spec.title})"
        assert rows, f"{slug} panel {spec.id} ({spec.title}) returned no rows"
        if spec.kind is PanelKind.STAT:
            assert len(rows) == 1 and rows[0][0] is not None, f"{slug} panel {spec.id} ({spec.title}): {rows}"
        if spec.kind is PanelKind.TIMESERIES:
            assert all(isinstance(row[0], datetime) for row in rows)
            assert [row[0] for row in rows] == sorted(row[0] for row in rows)
        if spec.kind in (PanelKind.BAR, PanelKind.PIE, PanelKind.BAR_GAUGE):
            assert all(isinstance(row[0], str) and row[0] for row in rows)
            assert all(isinstance(value, int | float) for row in rows for value in row[1:])


def test_a_report_written_in_the_current_second_is_on_the_live_dashboards(clickhouse_url: str, database: str) -> None:
    # Second-precision range macros end "now" at the whole second before it: a report ClickHouse took
    # 700 ms into the current second was missing from every panel, until the next second began.
    client = clickhouse_connect.get_client(dsn=clickhouse_url, database=database, autogenerate_session_id=False)
    (fact,) = ReportFeed(client, database).send(1)
    arrived = datetime.now(UTC).replace(microsecond=700_000) + timedelta(seconds=5)
    client.command(
        "INSERT INTO reports SELECT * REPLACE ('late-in-its-second' AS report_id, {arrived:DateTime64(3)} AS "
        "ingested_at, {arrived:DateTime64(3)} AS reported_at) FROM reports",
        parameters={"arrived": arrived},
    )
    board = build_dashboards()["health"]
    (rate,) = [p for p in board["panels"] if p["title"] == "Ingest rate, last minute"]
    _, rows, _ = run_panel(client, board, rate, now=arrived + timedelta(milliseconds=100))
    assert rows[0][0] * 60 == pytest.approx(2), f"{fact.report.report_id} and the report 100 ms old: {rows}"
    client.close()


def _totals_by_headline(rows: Sequence[tuple[Any, ...]], interval_ms: int) -> float:
    # The time series shows reports per minute of each bucket; back to a count of reports.
    return float(sum(sum(row[1:]) * interval_ms / 60_000 for row in rows))


def test_overview_counts_match_the_loaded_reports(loaded: tuple[Client, str, ReportFeed]) -> None:
    client, _, feed = loaded
    board = build_dashboards()["overview"]
    panels = {p["id"]: p for p in board["panels"]}
    total = len(feed.facts)

    _, breakdown, _ = run_panel(client, board, panels[6])
    assert sum(n for _, n in breakdown) == total
    _, series, interval = run_panel(client, board, panels[5])
    assert _totals_by_headline(series, interval) == pytest.approx(total)
    _, channels, _ = run_panel(client, board, panels[8])
    assert dict(channels) == Counter(f.report.channel for f in feed.facts)

    # One value per variable: each filter narrows exactly as a WHERE on the facts would.
    province = Counter(f.province_code for f in feed.facts).most_common(1)[0][0]
    channel = Counter(f.report.channel for f in feed.facts).most_common(1)[0][0]
    categories = [c for c, _ in Counter(f.category for f in feed.facts).most_common(2)]
    chosen: dict[str, VariableValue] = {"province": [province], "channel": [channel], "category": categories}
    expected = [
        f
        for f in feed.facts
        if f.province_code == province and f.report.channel == channel and f.category in categories
    ]
    assert expected, "the generated data should have reports matching the most common values"
    _, breakdown, _ = run_panel(client, board, panels[6], chosen)
    assert sum(n for _, n in breakdown) == len(expected)
    assert len(breakdown) <= len(categories)
    _, series, interval = run_panel(client, board, panels[5], chosen)
    assert _totals_by_headline(series, interval) == pytest.approx(len(expected))
    _, provinces, _ = run_panel(client, board, panels[7], chosen)
    assert len(provinces) == 1 and provinces[0][1] == len(expected)

    today = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    todays = [f for f in feed.facts if f.report.reported_at >= today]
    _, stat, _ = run_panel(client, board, panels[1])
    assert stat == [(len(todays),)]
    _, stat, _ = run_panel(client, board, panels[2])
    assert float(stat[0][0]) == pytest.approx(sum(f.report.amount_lost_fen for f in todays) / 100)


def test_leaks_count_each_report_once(loaded: tuple[Client, str, ReportFeed]) -> None:
    client, database, _ = loaded
    board = build_dashboards()["leaks"]
    panels = {p["id"]: p for p in board["panels"]}
    distinct = client.query(
        f"SELECT uniqExact(report_id), sum(a) / 100 FROM (SELECT report_id, any(amount_lost_fen) AS a "
        f"FROM {database}.report_leak_links GROUP BY report_id)"
    ).result_rows[0]
    _, linked, _ = run_panel(client, board, panels[1])
    _, losses, _ = run_panel(client, board, panels[2])
    assert linked[0][0] == distinct[0]
    assert float(losses[0][0]) == pytest.approx(float(distinct[1]))
    _, top, _ = run_panel(client, board, panels[5])
    by_batch = {row[0]: row for row in top}
    assert by_batch["LB-UNCATALOGUED"][1:4] == ("unknown", "unknown", "not catalogued")
    assert {row[3] for row in top if row[0] != "LB-UNCATALOGUED"} <= {"below serious", "serious", "especially serious"}
    _, severities, _ = run_panel(client, board, panels[6])
    assert dict(severities)["LB-UNCATALOGUED"] == 0 and set(dict(severities).values()) <= {0, 1, 2, 3}


def test_alerts_panel_and_annotations_show_the_alerts_open_in_the_range(loaded: tuple[Client, str, ReportFeed]) -> None:
    client, _, _ = loaded
    boards = build_dashboards()
    board = boards["overview"]
    panel = next(p for p in board["panels"] if p["title"] == "Early-warning alerts")
    columns, rows, _ = run_panel(client, board, panel)
    listed = [dict(zip(columns, row, strict=True)) for row in rows]
    # open first; the alert resolved two days ago lies outside the six hours shown
    assert [(r["detector"], r["state"], r["acknowledged_by"]) for r in listed] == [
        ("surge", "open", ""), ("repeat_contact", "resolved", "duty-officer")
    ]  # fmt: skip
    in_range = {
        "overview": ["alert,repeat_contact,resolved", "alert,surge,open"],  # the last 6 hours
        "leaks": ["alert,leak_exploitation,resolved", "alert,repeat_contact,resolved", "alert,surge,open"],  # 7 days
    }
    for slug, tags in in_range.items():
        (layer,) = boards[slug]["annotations"]["list"]
        columns, rows, _ = run_panel(client, boards[slug], {"targets": [layer["target"]]})
        assert columns == ["time", "timeEnd", "title", "text", "tags"]
        marks = [dict(zip(columns, row, strict=True)) for row in rows]
        assert [m["tags"] for m in marks] == tags
        assert all(m["timeEnd"] >= m["time"] for m in marks)
        assert "acknowledged by duty-officer" in next(m["text"] for m in marks if "repeat_contact" in m["tags"])
