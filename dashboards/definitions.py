"""What the fraudwatch dashboards show: panels, their SQL, their layout and the template variables.

Pure data, written once and rendered twice: `dashboards.grafana` turns it into Grafana dashboard
JSON (through grafana-foundation-sdk), and the embedded dashboards of `fraudwatch up`
(`dashboards.server`) read that same JSON and run the same SQL. Panel SQL is written for
Grafana's ClickHouse data source: time and interval macros (`$__timeFilter_ms`, `$__timeInterval`,
`$__interval_s`), `$__conditionalAll` around each variable filter so that "All" costs nothing,
and variables only in the `singlequote` format, which `dashboards.macros.expand` escapes.

Every time column is a DateTime64, so ranges use the millisecond macros (`$__timeFilter_ms`,
`$__toTime_ms`): the second-precision ones end a range at the whole second before "now", which
hides whatever arrived in the current second from a live dashboard.

Series that count things fill empty buckets with zeros (``ORDER BY time WITH FILL …``): a quiet
minute has no rows, and a line drawn across it would claim reports that never came.

Table names are unqualified: Grafana's data source connects with its `defaultDatabase` and the
embedded server with `FRAUDWATCH_CLICKHOUSE_DATABASE`, so the same SQL runs against any database.

Times: the fact columns carry the configured zone (Asia/Shanghai by default). "Today" is the day
in that zone, taken from the hidden constant variable `tz`, never from the ClickHouse server's zone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from fraudwatch.regions import PROVINCES
from fraudwatch.reports import Channel
from streams.categorizer import OTHER_TYPES, taxonomy

__all__ = [
    "DASHBOARDS",
    "AnnotationDef",
    "DashboardDef",
    "PanelDef",
    "PanelKind",
    "VariableDef",
    "dashboard",
]


class PanelKind(StrEnum):
    """Grafana panel plugin ids; the embedded renderer knows the same six."""

    TIMESERIES = "timeseries"
    STAT = "stat"
    TABLE = "table"
    PIE = "piechart"
    BAR = "barchart"
    BAR_GAUGE = "bargauge"


@dataclass(frozen=True)
class PanelDef:
    """One panel: what it shows, where it sits on the 24-column grid, and the columns its SQL returns."""

    id: int
    kind: PanelKind
    title: str
    description: str
    sql: str
    columns: tuple[str, ...]
    grid: tuple[int, int, int, int]  # x, y, w, h in Grafana grid units
    unit: str = "short"
    decimals: int | None = None
    min_interval: str | None = None  # the panel's minimum $__interval, e.g. "1m"
    stacked: bool = False
    column_units: tuple[tuple[str, str], ...] = ()  # per-column unit overrides (tables, multi-series)
    max_value: float | None = None
    thresholds: tuple[tuple[float | None, str], ...] = ()  # (from value, colour); None = the base step

    @property
    def time_series(self) -> bool:
        """Whether the query runs in the plugin's time-series format (first column `time`)."""
        return self.kind is PanelKind.TIMESERIES


@dataclass(frozen=True)
class VariableDef:
    """A custom (fixed-list) multi-value variable with "All"; options are (text, value) pairs.

    Fixed lists rather than query variables: the embedded server accepts exactly these values from
    a browser, and Grafana users pick from the same list.
    """

    name: str
    label: str
    options: tuple[tuple[str, str], ...]
    description: str = ""

    def __post_init__(self) -> None:
        for text, value in self.options:
            # Grafana's custom-variable syntax is "text : value" separated by commas.
            if "," in text or " : " in text or not _VALUE.fullmatch(value):
                raise ValueError(f"variable {self.name}: option {text!r} / {value!r} cannot be listed")


@dataclass(frozen=True)
class AnnotationDef:
    """An annotation layer: SQL returning time, timeEnd, title, text and tags, drawn on time-series panels."""

    name: str
    description: str
    sql: str
    color: str = "red"


@dataclass(frozen=True)
class DashboardDef:
    slug: str  # overview, leaks, health: the last part of the uid and of the embedded URL
    title: str
    description: str
    time_from: str
    time_to: str
    panels: tuple[PanelDef, ...]
    variables: tuple[VariableDef, ...] = ()
    annotations: tuple[AnnotationDef, ...] = ()
    uses_timezone: bool = True  # whether the hidden `tz` constant is defined
    refresh: str = "10s"
    tags: tuple[str, ...] = field(default=("fraudwatch",))

    def panel(self, panel_id: int) -> PanelDef:
        for panel in self.panels:
            if panel.id == panel_id:
                return panel
        raise KeyError(f"dashboard {self.slug} has no panel {panel_id}")


_VALUE: Final = re.compile(r"[A-Za-z0-9_]{1,64}")

# --- vocabularies --------------------------------------------------------------------------------

_CATEGORIES: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (c["code"], c["name_zh"], c["headline"]) for c in taxonomy()["categories"]
)
_HEADLINES: Final[tuple[tuple[str, str], ...]] = tuple(
    (h["code"], h["name_zh"]) for h in taxonomy()["headline_classes"]
)


def _quoted(values: Sequence[str]) -> str:
    """SQL string literals, comma-separated. Only fixed vocabulary (taxonomy, province names) comes here."""
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def _sql_list(values: Sequence[str]) -> str:
    return f"[{_quoted(values)}]"


def _names(column: str, pairs: Sequence[tuple[str, str]]) -> str:
    """SQL mapping a code column to display names; unknown codes show as themselves."""
    codes = [code for code, _ in pairs]
    names = [name for _, name in pairs]
    return f"transform({column}, {_sql_list(codes)}, {_sql_list(names)}, {column})"


def _headline_counts(per: str) -> str:
    """One `countIf` column per headline class, scaled to reports per minute of the bucket.

    A category belongs to the headline its taxonomy entry names; every other code (including codes
    added later) counts as "other types", as in the rollups of migration 0003.
    """
    columns = []
    named = [code for code, _, headline in _CATEGORIES if headline != OTHER_TYPES]
    for headline, name in _HEADLINES:
        if headline == OTHER_TYPES:
            condition = f"category NOT IN ({_quoted(named)})"
        else:
            codes = [code for code, _, h in _CATEGORIES if h == headline]
            condition = f"category IN ({_quoted(codes)})"
        columns.append(f"    countIf({condition}) * {per} AS `{name}`")
    return ",\n".join(columns)


PROVINCE = VariableDef(
    "province",
    "Province",
    tuple((name, f"{prefix}0000") for prefix, name in PROVINCES.items()),
    "Province-level division of the victim's region code",
)
CATEGORY = VariableDef(
    "category",
    "Category",
    tuple((name, code) for code, name, _ in _CATEGORIES),
    "Fraud category decided by the classifier",
)
CHANNEL = VariableDef("channel", "Channel", tuple((c.value, c.value) for c in Channel), "How the report came in")

# Filters on the fact table, one per variable; "All" turns each into 1=1.
REPORT_FILTERS: Final = """
  AND $__conditionalAll(province_code IN (${province:singlequote}), $province)
  AND $__conditionalAll(category IN (${category:singlequote}), $category)
  AND $__conditionalAll(channel IN (${channel:singlequote}), $channel)"""

# Filters on report_leak_links: the category is on the link; province and channel are on the report.
LINK_FILTERS: Final = """
  AND $__conditionalAll(category IN (${category:singlequote}), $category)
  AND $__conditionalAll(report_id IN (SELECT report_id FROM reports WHERE $__timeFilter_ms(reported_at) AND province_code IN (${province:singlequote})), $province)
  AND $__conditionalAll(report_id IN (SELECT report_id FROM reports WHERE $__timeFilter_ms(reported_at) AND channel IN (${channel:singlequote})), $channel)"""  # noqa: E501

# "Today": from midnight, in the platform's zone, of the range's last day to the end of the range.
# With the default range (to = now) that is today so far; moving the time picker moves the day.
TODAY: Final = "reported_at >= toStartOfDay($__toTime, ${tz:singlequote}) AND reported_at <= $__toTime_ms"
YUAN: Final = "currency:¥"
VICTIM: Final = "if(victim_id_hash != '', victim_id_hash, victim_phone_hash)"

# --- Early warning (migration 0012; docs/alerts.md) ----------------------------------------------

# Alerts that were open at some moment of the time range.
_ALERTS_IN_RANGE: Final = "opened_at <= $__toTime_ms AND (state = 'open' OR resolved_at >= $__fromTime_ms)"

ALERTS_ANNOTATION = AnnotationDef(
    "Early-warning alerts",
    "Surges, repeat scammer contacts and leak batches under exploitation: from opening to resolution "
    "(to now while open).",
    f"""SELECT
    opened_at AS time,
    if(state = 'resolved', resolved_at, greatest(opened_at, now64(3))) AS timeEnd,
    title,
    concat(title, ' (', detector, ', score ', toString(round(score, 1)),
           if(acked, concat(', acknowledged by ', acked_by), ''), ')') AS text,
    concat('alert,', detector, ',', state) AS tags
FROM alerts_current
WHERE {_ALERTS_IN_RANGE}
ORDER BY time""",
)

# --- Overview ------------------------------------------------------------------------------------

OVERVIEW = DashboardDef(
    slug="overview",
    title="Overview",
    description="Fraud reports as they arrive: volume by headline category, losses, where and how they come in.",
    time_from="now-6h",
    time_to="now",
    variables=(PROVINCE, CATEGORY, CHANNEL),
    panels=(
        PanelDef(
            1,
            PanelKind.STAT,
            "Reports today",
            "Reports received today (the platform's day, Asia/Shanghai by default) up to the end of the range.",
            f"""SELECT count() AS reports
FROM reports
WHERE {TODAY}{REPORT_FILTERS}""",
            ("reports",),
            (0, 0, 6, 4),
            decimals=0,
        ),
        PanelDef(
            2,
            PanelKind.STAT,
            "Losses today",
            "Sum of the losses in the reports received today (the platform's day) up to the end of the range, in yuan.",
            f"""SELECT sum(amount_lost_fen) / 100 AS loss_yuan
FROM reports
WHERE {TODAY}{REPORT_FILTERS}""",
            ("loss_yuan",),
            (6, 0, 6, 4),
            unit=YUAN,
            decimals=0,
        ),
        PanelDef(
            3,
            PanelKind.STAT,
            "Average loss per victim today",
            "Today's losses divided by today's victims. A victim is a distinct ID-card hash, else phone hash; "
            "a report with neither counts as one victim of its own.",
            f"""WITH {VICTIM} AS victim
SELECT sum(amount_lost_fen) / 100 / nullIf(uniqExactIf(victim, victim != '') + countIf(victim = ''), 0)
    AS avg_loss_per_victim_yuan
FROM reports
WHERE {TODAY}{REPORT_FILTERS}""",
            ("avg_loss_per_victim_yuan",),
            (12, 0, 6, 4),
            unit=YUAN,
            decimals=0,
        ),
        PanelDef(
            4,
            PanelKind.STAT,
            "Leak-linked share",
            "Share of the reports in the time range whose victim appears in a seized leak batch: linked when "
            "the worker stored the report (leak_linked), or later, when a batch seized since was matched "
            "(report_leak_links).",
            f"""SELECT countIf(
        leak_linked != 0
        OR report_id IN (SELECT report_id FROM report_leak_links WHERE $__timeFilter_ms(reported_at))
    ) / nullIf(count(), 0) AS leak_linked_share
FROM reports
WHERE $__timeFilter_ms(reported_at){REPORT_FILTERS}""",
            ("leak_linked_share",),
            (18, 0, 6, 4),
            unit="percentunit",
            decimals=1,
        ),
        PanelDef(
            5,
            PanelKind.TIMESERIES,
            "Reports per minute by headline category",
            "Reports per minute, stacked by the five headline classes of the official statistics. "
            "Buckets wider than a minute show their average per minute.",
            f"""SELECT
    $__timeInterval(reported_at) AS time,
{_headline_counts("60 / $__interval_s")}
FROM reports
WHERE $__timeFilter_ms(reported_at){REPORT_FILTERS}
GROUP BY time
ORDER BY time WITH FILL FROM $__timeInterval($__fromTime) TO $__toTime STEP $__interval_s""",
            ("time", *(name for _, name in _HEADLINES)),
            (0, 4, 24, 9),
            unit="short",
            min_interval="1m",
            stacked=True,
        ),
        PanelDef(
            6,
            PanelKind.BAR,
            "Category breakdown",
            "Reports in the time range by detailed category.",
            f"""SELECT {_names("category", [(c, n) for c, n, _ in _CATEGORIES])} AS category_name, count() AS reports
FROM reports
WHERE $__timeFilter_ms(reported_at){REPORT_FILTERS}
GROUP BY category
ORDER BY reports DESC""",
            ("category_name", "reports"),
            (0, 13, 10, 9),
            decimals=0,
        ),
        PanelDef(
            7,
            PanelKind.TABLE,
            "Top provinces",
            "The ten provinces with the most reports in the time range.",
            f"""SELECT
    {_names("province_code", [(f"{p}0000", n) for p, n in PROVINCES.items()])} AS province,
    count() AS reports,
    sum(amount_lost_fen) / 100 AS loss_yuan
FROM reports
WHERE $__timeFilter_ms(reported_at){REPORT_FILTERS}
GROUP BY province_code
ORDER BY reports DESC, province_code
LIMIT 10""",
            ("province", "reports", "loss_yuan"),
            (10, 13, 8, 9),
            column_units=(("reports", "short"), ("loss_yuan", YUAN)),
        ),
        PanelDef(
            8,
            PanelKind.PIE,
            "Channels",
            "How the reports in the time range came in.",
            f"""SELECT channel, count() AS reports
FROM reports
WHERE $__timeFilter_ms(reported_at){REPORT_FILTERS}
GROUP BY channel
ORDER BY reports DESC""",
            ("channel", "reports"),
            (18, 13, 6, 9),
            decimals=0,
        ),
        PanelDef(
            9,
            PanelKind.TABLE,
            "Repeat scammer contacts",
            "Scammer phones, accounts and URLs (keyed hashes) named in two or more reports in the time range.",
            f"""SELECT
    contact,
    count() AS reports,
    uniqExact(province_code) AS provinces,
    sum(amount_lost_fen) / 100 AS loss_yuan,
    max(reported_at) AS last_seen
FROM reports
ARRAY JOIN scammer_contacts AS contact
WHERE $__timeFilter_ms(reported_at) AND contact != ''{REPORT_FILTERS}
GROUP BY contact
HAVING reports >= 2
ORDER BY reports DESC, loss_yuan DESC, contact
LIMIT 20""",
            ("contact", "reports", "provinces", "loss_yuan", "last_seen"),
            (0, 22, 24, 9),
            column_units=(("reports", "short"), ("provinces", "short"), ("loss_yuan", YUAN)),
        ),
        PanelDef(
            10,
            PanelKind.TABLE,
            "Early-warning alerts",
            "Alerts open at some moment of the time range, open ones first: surges of a category in a "
            "province, scammer contacts in reports of many victims, leak batches under exploitation. "
            "`fraudwatch alerts show ID` has the evidence; `fraudwatch alerts ack ID` takes one in hand.",
            f"""SELECT
    alert_id,
    opened_at,
    detector,
    state,
    round(score, 1) AS score,
    title,
    if(acked, acked_by, '') AS acknowledged_by
FROM alerts_current
WHERE {_ALERTS_IN_RANGE}
ORDER BY state = 'open' DESC, opened_at DESC
LIMIT 50""",
            ("alert_id", "opened_at", "detector", "state", "score", "title", "acknowledged_by"),
            (0, 31, 24, 8),
            column_units=(("score", "short"),),
        ),
    ),
    annotations=(ALERTS_ANNOTATION,),
)

# --- Leaks ---------------------------------------------------------------------------------------

# Batch attributes for the links: a subquery, so that unqualified names in the filters resolve to
# the link table. Links to a batch not (yet) catalogued show "unknown" and severity 0.
# Severity levels as migration 0010 stores them (fraudwatch.leaks.Severity, after article 5 of the
# 2017 judicial interpretation on personal information crimes).
_SEVERITY: Final = ((0, "not catalogued"), (1, "below serious"), (2, "serious"), (3, "especially serious"))
_SEVERITY_COLOURS: Final = ((None, "#8e8e9a"), (1, "#73bf69"), (2, "#ff9830"), (3, "#f2495c"))
_BATCHES: Final = (
    "LEFT JOIN (SELECT batch_id, source_type, industry, severity, records FROM leak_batches FINAL) AS b "
    "ON b.batch_id = l.batch_id"
)

LEAKS = DashboardDef(
    slug="leaks",
    title="Leaks",
    description="Seized personal-data leak batches and the fraud reports whose victims appear in them.",
    time_from="now-7d",
    time_to="now",
    variables=(PROVINCE, CATEGORY, CHANNEL),
    uses_timezone=False,
    annotations=(ALERTS_ANNOTATION,),
    panels=(
        PanelDef(
            1,
            PanelKind.STAT,
            "Leak-linked reports",
            "Distinct reports in the time range linked to at least one leak batch.",
            f"""SELECT uniqExact(report_id) AS linked_reports
FROM report_leak_links FINAL
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}""",
            ("linked_reports",),
            (0, 0, 6, 4),
            decimals=0,
        ),
        PanelDef(
            2,
            PanelKind.STAT,
            "Losses in leak-linked reports",
            "Losses of the linked reports, each report counted once however many batches it is linked to.",
            f"""SELECT sum(amount) / 100 AS loss_yuan
FROM
(
    SELECT report_id, any(amount_lost_fen) AS amount
    FROM report_leak_links FINAL
    WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}
    GROUP BY report_id
)""",
            ("loss_yuan",),
            (6, 0, 6, 4),
            unit=YUAN,
            decimals=0,
        ),
        PanelDef(
            3,
            PanelKind.STAT,
            "Batches with linked reports",
            "Leak batches that at least one report in the time range is linked to.",
            f"""SELECT uniqExact(batch_id) AS batches
FROM report_leak_links FINAL
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}""",
            ("batches",),
            (12, 0, 6, 4),
            decimals=0,
        ),
        PanelDef(
            4,
            PanelKind.STAT,
            "Batches seized",
            "Leak batches seized in the time range (not affected by the filters).",
            """SELECT count() AS batches_seized
FROM leak_batches FINAL
WHERE $__timeFilter_ms(seized_at)""",
            ("batches_seized",),
            (18, 0, 6, 4),
            decimals=0,
        ),
        PanelDef(
            5,
            PanelKind.TABLE,
            "Top leak batches by linked reports",
            "Batches with the most linked reports in the time range, with their losses and catalogue entry. "
            "Severity as graded under the 2017 judicial interpretation: below serious, serious (情节严重), "
            "especially serious (情节特别严重).",
            f"""SELECT
    l.batch_id AS batch_id,
    if(any(b.source_type) = '', 'unknown', any(b.source_type)) AS source_type,
    if(any(b.industry) = '', 'unknown', any(b.industry)) AS industry,
    transform(any(b.severity), [{", ".join(str(n) for n, _ in _SEVERITY)}],
        {_sql_list([label for _, label in _SEVERITY])}, 'unknown') AS severity,
    any(b.records) AS records,
    uniqExact(l.report_id) AS linked_reports,
    sum(l.amount_lost_fen) / 100 AS loss_yuan
FROM report_leak_links AS l FINAL
{_BATCHES}
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}
GROUP BY l.batch_id
ORDER BY linked_reports DESC, loss_yuan DESC, batch_id
LIMIT 15""",
            ("batch_id", "source_type", "industry", "severity", "records", "linked_reports", "loss_yuan"),
            (0, 4, 16, 10),
            column_units=(("records", "short"), ("linked_reports", "short"), ("loss_yuan", YUAN)),
        ),
        PanelDef(
            6,
            PanelKind.BAR_GAUGE,
            "Severity per batch",
            "Severity of the ten batches with the most linked reports: 1 below serious, 2 serious (情节严重), "
            "3 especially serious (情节特别严重), 0 not catalogued.",
            f"""SELECT l.batch_id AS batch_id, any(b.severity) AS severity
FROM report_leak_links AS l FINAL
{_BATCHES}
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}
GROUP BY l.batch_id
ORDER BY uniqExact(l.report_id) DESC, batch_id
LIMIT 10""",
            ("batch_id", "severity"),
            (16, 4, 8, 10),
            unit="none",
            decimals=0,
            max_value=3,
            thresholds=_SEVERITY_COLOURS,
        ),
        PanelDef(
            7,
            PanelKind.BAR,
            "Top leak batches by losses",
            "Losses of the linked reports in the time range, by batch (top ten).",
            f"""SELECT batch_id, sum(amount_lost_fen) / 100 AS loss_yuan
FROM report_leak_links FINAL
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}
GROUP BY batch_id
ORDER BY loss_yuan DESC, batch_id
LIMIT 10""",
            ("batch_id", "loss_yuan"),
            (0, 14, 10, 9),
            unit=YUAN,
            decimals=0,
        ),
        PanelDef(
            8,
            PanelKind.PIE,
            "Source types",
            "Linked reports in the time range by how the batch was obtained.",
            f"""SELECT
    if(b.source_type = '', 'unknown', b.source_type) AS source_type,
    uniqExact(l.report_id) AS linked_reports
FROM report_leak_links AS l FINAL
{_BATCHES}
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}
GROUP BY source_type
ORDER BY linked_reports DESC""",
            ("source_type", "linked_reports"),
            (10, 14, 6, 9),
            decimals=0,
        ),
        PanelDef(
            9,
            PanelKind.BAR,
            "Industries",
            "Linked reports in the time range by the industry whose customer data leaked.",
            f"""SELECT if(b.industry = '', 'unknown', b.industry) AS industry, uniqExact(l.report_id) AS linked_reports
FROM report_leak_links AS l FINAL
{_BATCHES}
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}
GROUP BY industry
ORDER BY linked_reports DESC""",
            ("industry", "linked_reports"),
            (16, 14, 8, 9),
            decimals=0,
        ),
        PanelDef(
            10,
            PanelKind.TIMESERIES,
            "Leak-linked reports over time",
            "Distinct linked reports per bucket (at least an hour), by report time.",
            f"""SELECT $__timeInterval(reported_at) AS time, uniqExact(report_id) AS linked_reports
FROM report_leak_links FINAL
WHERE $__timeFilter_ms(reported_at){LINK_FILTERS}
GROUP BY time
ORDER BY time WITH FILL FROM $__timeInterval($__fromTime) TO $__toTime STEP $__interval_s""",
            ("time", "linked_reports"),
            (0, 23, 24, 8),
            min_interval="1h",
            decimals=0,
        ),
    ),
)

# --- Pipeline health -----------------------------------------------------------------------------

_LATENCY_S: Final = "(toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(reported_at)) / 1000"

HEALTH = DashboardDef(
    slug="health",
    title="Pipeline health",
    description="Is the pipeline keeping up: ingest rate, consumer lag, rejections, submission-to-ClickHouse delay.",
    time_from="now-1h",
    time_to="now",
    uses_timezone=False,
    panels=(
        PanelDef(
            1,
            PanelKind.STAT,
            "Reports ingested",
            "Reports written to ClickHouse in the time range.",
            """SELECT count() AS reports
FROM reports
WHERE $__timeFilter_ms(ingested_at)""",
            ("reports",),
            (0, 0, 4, 4),
            decimals=0,
        ),
        PanelDef(
            2,
            PanelKind.STAT,
            "Consumer lag",
            "Latest sample of the worker's lag (messages not yet committed, all partitions). "
            "No data: the worker has not reported lag in the time range.",
            """SELECT value AS lag
FROM pipeline_metrics
WHERE metric = 'consumer_lag' AND $__timeFilter_ms(ts)
ORDER BY ts DESC
LIMIT 1""",
            ("lag",),
            (4, 0, 4, 4),
            decimals=0,
        ),
        PanelDef(
            3,
            PanelKind.STAT,
            "Rejected reports",
            "Reports rejected by the API or the worker in the time range (pipeline_metrics, reports_rejected).",
            """SELECT sum(value) AS rejected
FROM pipeline_metrics
WHERE metric = 'reports_rejected' AND $__timeFilter_ms(ts)""",
            ("rejected",),
            (8, 0, 4, 4),
            decimals=0,
        ),
        PanelDef(
            4,
            PanelKind.STAT,
            "Dead letters",
            "Raw-topic messages the worker could not process in the time range (dead_letters).",
            """SELECT count() AS dead_letters
FROM dead_letters FINAL
WHERE $__timeFilter_ms(failed_at)""",
            ("dead_letters",),
            (12, 0, 4, 4),
            decimals=0,
        ),
        PanelDef(
            5,
            PanelKind.STAT,
            "Submission → ClickHouse, p95",
            "95th percentile of ingested_at - reported_at for reports ingested in the time range. "
            "reported_at is the submitter's own time when it sends one, so back-dated reports raise it.",
            f"""SELECT quantile(0.95)({_LATENCY_S}) AS p95_s
FROM reports
WHERE $__timeFilter_ms(ingested_at)""",
            ("p95_s",),
            (16, 0, 4, 4),
            unit="s",
            decimals=2,
        ),
        PanelDef(
            6,
            PanelKind.STAT,
            "Ingest rate, last minute",
            "Reports written to ClickHouse per second in the last minute of the time range.",
            """SELECT count() / 60 AS reports_per_s
FROM reports
WHERE ingested_at > $__toTime_ms - INTERVAL 60 SECOND AND ingested_at <= $__toTime_ms""",
            ("reports_per_s",),
            (20, 0, 4, 4),
            unit="suffix:/s",
            decimals=1,
        ),
        PanelDef(
            7,
            PanelKind.TIMESERIES,
            "Ingest rate",
            "Reports written to ClickHouse per second, by ingestion time.",
            """SELECT $__timeInterval(ingested_at) AS time, count() / $__interval_s AS reports_per_s
FROM reports
WHERE $__timeFilter_ms(ingested_at)
GROUP BY time
ORDER BY time WITH FILL FROM $__timeInterval($__fromTime) TO $__toTime STEP $__interval_s""",
            ("time", "reports_per_s"),
            (0, 4, 12, 8),
            unit="suffix:/s",
            min_interval="10s",
        ),
        PanelDef(
            8,
            PanelKind.TIMESERIES,
            "Consumer lag",
            "Highest lag sample in each bucket (messages not yet committed by the worker).",
            """SELECT $__timeInterval(ts) AS time, max(value) AS lag
FROM pipeline_metrics
WHERE metric = 'consumer_lag' AND $__timeFilter_ms(ts)
GROUP BY time
ORDER BY time""",
            ("time", "lag"),
            (12, 4, 12, 8),
            min_interval="10s",
            decimals=0,
        ),
        PanelDef(
            9,
            PanelKind.TIMESERIES,
            "Time from submission to ClickHouse",
            "ingested_at - reported_at of the reports ingested in each bucket: median, 95th percentile, maximum.",
            f"""SELECT
    $__timeInterval(ingested_at) AS time,
    quantile(0.5)({_LATENCY_S}) AS p50_s,
    quantile(0.95)({_LATENCY_S}) AS p95_s,
    max({_LATENCY_S}) AS max_s
FROM reports
WHERE $__timeFilter_ms(ingested_at)
GROUP BY time
ORDER BY time""",
            ("time", "p50_s", "p95_s", "max_s"),
            (0, 12, 12, 8),
            unit="s",
            min_interval="10s",
        ),
        PanelDef(
            10,
            PanelKind.TIMESERIES,
            "Rejected reports and dead letters per minute",
            "Reports rejected (pipeline_metrics) and messages dead-lettered by the worker, per minute.",
            """SELECT time, sum(rejected) AS rejected_per_min, sum(dead) AS dead_letters_per_min
FROM
(
    SELECT $__timeInterval(ts) AS time, sum(value) * 60 / $__interval_s AS rejected, toFloat64(0) AS dead
    FROM pipeline_metrics
    WHERE metric = 'reports_rejected' AND $__timeFilter_ms(ts)
    GROUP BY time
    UNION ALL
    SELECT $__timeInterval(failed_at) AS time, toFloat64(0) AS rejected, count() * 60 / $__interval_s AS dead
    FROM dead_letters FINAL
    WHERE $__timeFilter_ms(failed_at)
    GROUP BY time
)
GROUP BY time
ORDER BY time WITH FILL FROM $__timeInterval($__fromTime) TO $__toTime STEP $__interval_s""",
            ("time", "rejected_per_min", "dead_letters_per_min"),
            (12, 12, 12, 8),
            min_interval="1m",
        ),
    ),
)

DASHBOARDS: Final[tuple[DashboardDef, ...]] = (OVERVIEW, LEAKS, HEALTH)


def dashboard(slug: str) -> DashboardDef:
    for definition in DASHBOARDS:
        if definition.slug == slug:
            return definition
    raise KeyError(f"no dashboard {slug!r}; known: {', '.join(d.slug for d in DASHBOARDS)}")
