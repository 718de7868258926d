"""Named trend analyses over the ClickHouse rollups and facts: definitions, parameter parsing, running.

Each analysis is a name, a description and one SQL statement with ClickHouse query parameters
(``{since:Date}``), so user input travels as bound parameters and never becomes SQL text. The only
thing substituted into the text is ``{db}``, the configured database name, and it is checked to be
an identifier first. The same statements, rendered for the default database, are in docs/trends.md,
copyable into clickhouse-client (``--param_since=2026-01-01``) or Grafana.

Days and weeks are days in the zone the schema was migrated with (``FRAUDWATCH_TIMEZONE``): the
rollups store that zone's hours and dates, and ``toDate(reported_at)`` converts in the column's zone.
The caller supplies "today" in that zone, which makes this module pure apart from `run`.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from fraudwatch.regions import region_problem


class TrendError(ValueError):
    """A request that cannot run: the message names the analysis, option or value at fault."""


# Headline class of a category code, as in streams/taxonomy.json; the rollup migration stores the same.
HEADLINE_CODES: Final = ("part_time_job", "fake_shopping", "investment", "game_trading")
OTHER_HEADLINE: Final = "other_types"


# Distinct victims and scammer contacts in the rollups: the sketches victims_sketch and contacts_sketch
# (migration 0015), read with this aggregate only (its parameter is part of the state's type). Exact up
# to 128 values per state, then about 1.6% relative error (one standard deviation).
SKETCH_MERGE: Final = "uniqCombined64Merge(12)"


def headline_sql(column: str) -> str:
    """SQL for the headline class of the category code in `column`."""
    codes = ", ".join(f"'{c}'" for c in HEADLINE_CODES)
    return f"if({column} IN ({codes}), {column}, '{OTHER_HEADLINE}')"


def _region_filter(city: str = "city_code") -> str:
    """The region filter: everywhere, a province, or a city (the SQL expression `city`).

    The city test is guarded by "not a province code", so that for '' or a province it folds away
    once the parameters are bound: a query that does not mention the city can be answered from the
    rollup projections without it (migrations 0013 and 0014).
    """
    return (
        "({region:String} = '' OR province_code = {region:String}"
        f" OR (NOT endsWith({{region:String}}, '0000') AND {city} = {{region:String}}))"
    )


def _rollup_filter(indent: str) -> str:
    """Category and region filters on a rollup; an empty value means "all"."""
    return (
        f"{indent}AND ({{category:String}} = '' OR category = {{category:String}} OR headline = {{category:String}})\n"
        f"{indent}AND {_region_filter()}\n"
    )


_FACT_DAY = "toDate(if({basis:String} = 'occurred', occurred_at, reported_at))"


def _fact_filter(indent: str) -> str:
    """Days (by the chosen basis), category and region filters on `reports`."""
    return (
        f"{indent}{_FACT_DAY} BETWEEN {{since:Date}} AND {{until:Date}}\n"
        f"{indent}AND ({{category:String}} = '' OR category = {{category:String}}\n"
        f"{indent}     OR {headline_sql('category')} = {{category:String}})\n"
        f"{indent}AND {_region_filter()}\n"
    )


# The rollup queries aggregate plain sum()s of the rollup columns first: that is what the
# `by_region` projection of report_rollup_1d (migration 0006) answers from far fewer rows.

_CATEGORY_TREND = (
    """SELECT
    bucket AS period,
    category,
    sumIf(n, lag = 0) AS reports,
    sumIf(n, lag = 1) AS reports_week_before,
    if(reports_week_before = 0, NULL,
       round(100 * (reports - reports_week_before) / reports_week_before, 1)) AS reports_change_pct,
    round(sumIf(loss, lag = 0) / 100, 2) AS loss_yuan,
    round(sumIf(loss, lag = 1) / 100, 2) AS loss_week_before_yuan,
    if(sumIf(loss, lag = 1) = 0, NULL,
       round(100 * (sumIf(loss, lag = 0) - sumIf(loss, lag = 1)) / sumIf(loss, lag = 1), 1)) AS loss_change_pct
FROM
(
    SELECT
        if({interval:String} = 'week', toMonday(day), day) AS own_bucket,
        category,
        sum(reports) AS n,
        sum(loss_fen) AS loss
    FROM {db}.report_rollup_1d
    WHERE basis = {basis:String}
    AND day BETWEEN if({interval:String} = 'week', toMonday({since:Date}), {since:Date}) - 7
                AND if({interval:String} = 'week', toMonday({until:Date}) + 6, {until:Date})
"""
    + _rollup_filter("    ")
    + """    GROUP BY own_bucket, category
)
-- Each period counts for itself (lag 0) and, as "the week before", for the period 7 days later.
ARRAY JOIN [0, 1] AS lag
WHERE (own_bucket + 7 * lag AS bucket)
      BETWEEN if({interval:String} = 'week', toMonday({since:Date}), {since:Date})
          AND if({interval:String} = 'week', toMonday({until:Date}), {until:Date})
GROUP BY bucket, category
HAVING reports > 0 OR reports_week_before > 0
ORDER BY period, category"""
)


def _regions_of_level(level: str, column: str) -> str:
    """Reports and loss per category and region of one level; reads nothing unless --level is `level`."""
    return (
        f"""        SELECT category, {column} AS region_code, sum(reports) AS n, sum(loss_fen) AS loss
        FROM {{db}}.report_rollup_1d
        WHERE {{level:String}} = '{level}'
        AND basis = {{basis:String}}
        AND day BETWEEN {{since:Date}} AND {{until:Date}}
"""
        + _rollup_filter("        ")
        + f"""        GROUP BY category, {column}
"""
    )


_TOP_REGIONS = (
    """SELECT
    category,
    row_number() OVER (PARTITION BY category ORDER BY ranking DESC, reports DESC, region_code) AS rank,
    region_code,
    reports,
    loss_yuan,
    population,
    reports_per_100k
FROM
(
    SELECT
        category,
        region_code,
        sum(n) AS reports,
        round(sum(loss) / 100, 2) AS loss_yuan,
        -- Population comes from the caller as two parallel arrays (codes, residents); empty = none given.
        transform(region_code, {pop_codes:Array(String)}, {pop_counts:Array(UInt64)}, toUInt64(0)) AS population,
        if(population = 0, NULL, round(reports * 100000 / population, 3)) AS reports_per_100k,
        if(empty({pop_codes:Array(String)}), toFloat64(reports), ifNull(reports_per_100k, -1)) AS ranking
    FROM
    (
        -- One branch per level: the other one's WHERE is false once the parameters are bound, so it
        -- reads nothing, and the province branch does not mention city_code (see _region_filter).
"""
    + _regions_of_level("province", "province_code")
    + "        UNION ALL\n"
    + _regions_of_level("city", "city_code")
    + """    )
    GROUP BY category, region_code
)
WHERE empty({pop_codes:Array(String)}) OR population > 0
ORDER BY category, rank
LIMIT {top:UInt32} BY category"""
)

# The (category, age band) pair as a number: cityHash64 of a LowCardinality column is computed once
# per distinct value, not per row, and 3 is odd, so the sum tells apart pairs that differ in either
# string. A collision among the few dozen pairs that occur is ~1e-16 likely.
_VICTIM_GROUP = "cityHash64(category) + 3 * cityHash64(victim_age_band)"

_LOSS_PER_VICTIM = (
    """SELECT
    group_category AS category,
    if(group_band = '', 'unknown', group_band) AS age_band,
    victims,
    reports,
    loss_yuan,
    avg_loss_per_victim_yuan,
    median_loss_per_victim_yuan
FROM
(
    SELECT
        victim_group,
        count() AS victims,
        sum(victim_reports) AS reports,
        round(sum(victim_loss) / 100, 2) AS loss_yuan,
        round(avg(victim_loss) / 100, 2) AS avg_loss_per_victim_yuan,
        round(quantileExactInclusive(0.5)(victim_loss) / 100, 2) AS median_loss_per_victim_yuan
    FROM
    (
        -- One row per victim and category and age band. victim_key (migration 0007) hashes the ID-card
        -- hash, else the phone hash, else the report itself. Both levels group on numbers only: at
        -- four weeks of ten million reports a year there are about 750,000 victims, and carrying the
        -- category and band strings for each of them cost more than grouping them.
        SELECT
            """
    + _VICTIM_GROUP
    + """ AS victim_group,
            count() AS victim_reports,
            sum(amount_lost_fen) AS victim_loss
        FROM {db}.reports
        WHERE
"""
    + _fact_filter("            ")
    + """        GROUP BY victim_group, victim_key
    )
    GROUP BY victim_group
) AS per_group
-- The names of the few dozen groups, from a pass that keeps one row per group.
INNER JOIN
(
    SELECT
        """
    + _VICTIM_GROUP
    + """ AS victim_group,
        any(category) AS group_category,
        any(victim_age_band) AS group_band
    FROM {db}.reports
    WHERE
"""
    + _fact_filter("        ")
    + """    GROUP BY victim_group
) AS group_names USING victim_group
ORDER BY category, age_band"""
)

_LEAK_SHARE = (
    """SELECT
    period,
    n AS reports,
    leak_n AS leak_linked_reports,
    if(n = 0, NULL, round(100 * leak_n / n, 2)) AS leak_report_share_pct,
    round(loss / 100, 2) AS loss_yuan,
    round(leak_loss / 100, 2) AS leak_linked_loss_yuan,
    if(loss = 0, NULL, round(100 * leak_loss / loss, 2)) AS leak_loss_share_pct
FROM
(
    SELECT
        if({interval:String} = 'week', toMonday(day), day) AS period,
        sum(reports) AS n,
        sum(leak_reports) AS leak_n,
        sum(loss_fen) AS loss,
        sum(leak_loss_fen) AS leak_loss
    FROM {db}.report_rollup_1d
    WHERE basis = {basis:String}
    AND day BETWEEN {since:Date} AND {until:Date}
"""
    + _rollup_filter("    ")
    + """    GROUP BY period
)
ORDER BY period"""
)

_REPEAT_CONTACTS = (
    """WITH
(
    -- First pass: the leading contacts, from counts alone (WITH TIES keeps every contact with as many
    -- reports as the last one, so the final order and limit are exact). Region codes are 6-digit
    -- numbers: counting them as UInt32 is exact and cheaper than hashing the strings, and
    -- uniqUpTo(n) >= n tells "at least n districts" exactly while keeping at most n of them per
    -- contact (uniqExact kept them all). Beside each contact, the time of one report naming it.
    SELECT (groupArray(contact_key), groupArray(seen_at))
    FROM
    (
        SELECT contact_key, any(reported_at) AS seen_at
        FROM {db}.reports
        ARRAY JOIN contact_keys AS contact_key
        WHERE
"""
    + _fact_filter("            ")
    + """        GROUP BY contact_key
        HAVING count() >= {min_reports:UInt32}
            AND uniqUpTo({min_regions:UInt32})(toUInt32OrZero(region_code)) >= {min_regions:UInt32}
        ORDER BY count() DESC
        LIMIT {top:UInt32} WITH TIES
    )
) AS leading_found,
leading_found.1 AS leading
SELECT contact, reports, regions, provinces, categories, loss_yuan, first_seen, last_seen
FROM
(
    -- Second pass, details for the leading contacts only: PREWHERE keeps the few reports naming one
    -- of them. contact_keys (migration 0007) are the 64-bit hashes of a report's distinct non-empty
    -- contacts, so a contact named twice in one report counts once.
    SELECT
        contact_key,
        count() AS reports,
        uniqExact(region_code) AS regions,
        uniqExact(province_code) AS provinces,
        arrayStringConcat(arraySort(groupUniqArray(category)), ',') AS categories,
        round(sum(amount_lost_fen) / 100, 2) AS loss_yuan,
        min("""
    + _FACT_DAY
    + """) AS first_seen,
        max("""
    + _FACT_DAY
    + """) AS last_seen
    FROM {db}.reports
    ARRAY JOIN contact_keys AS contact_key
    PREWHERE hasAny(contact_keys, leading)
    WHERE
"""
    + _fact_filter("        ")
    + """        AND has(leading, contact_key)
    GROUP BY contact_key
) AS leading_stats
-- The contacts themselves, unpacked from one report each: those found at the times noted in the first
-- pass (reported_at is in the sort key, so this reads a few granules, not every report naming them).
-- The two arrays are side by side, contact_keys holding the hashes of the other one's strings.
INNER JOIN
(
    SELECT contact_key, any(named_contact) AS contact
    FROM {db}.reports
    ARRAY JOIN
        contact_keys AS contact_key,
        arrayDistinct(arrayFilter(c -> c != '', scammer_contacts)) AS named_contact
    WHERE has(leading_found.2, reported_at) AND has(leading, contact_key)
    GROUP BY contact_key
) AS leading_names USING contact_key
ORDER BY reports DESC, regions DESC, contact
LIMIT {top:UInt32}"""
)

_CATEGORY_DISAGREEMENT = (
    """SELECT
    citizen_category,
    classifier_category,
    reports,
    citizen_category_reports,
    round(100 * reports / citizen_category_reports, 2) AS share_of_citizen_category_pct
FROM
(
    SELECT
        citizen_category,
        category AS classifier_category,
        count() AS reports,
        sum(reports) OVER (PARTITION BY citizen_category) AS citizen_category_reports
    FROM {db}.reports
    WHERE citizen_category != ''
    AND """
    + _FACT_DAY
    + """ BETWEEN {since:Date} AND {until:Date}
    AND """
    + _region_filter()
    + """
    GROUP BY citizen_category, classifier_category
)
WHERE classifier_category != citizen_category
-- The category filter matches either side, after the totals per citizen category are known.
AND ({category:String} = ''
     OR citizen_category = {category:String} OR """
    + headline_sql("citizen_category")
    + """ = {category:String}
     OR classifier_category = {category:String} OR """
    + headline_sql("classifier_category")
    + """ = {category:String})
ORDER BY reports DESC, citizen_category, classifier_category"""
)

_RISING_CATEGORIES = (
    """SELECT
    category,
    recent AS reports_recent,
    before AS reports_before,
    toInt64(recent) - toInt64(before) AS reports_change,
    if(before = 0, NULL, round(100 * (recent - before) / before, 1)) AS reports_change_pct,
    round(loss_recent / 100, 2) AS loss_recent_yuan,
    round(loss_before / 100, 2) AS loss_before_yuan
FROM
(
    -- The last `days` days up to and including `until`, against the `days` days before them.
    SELECT
        category,
        sumIf(n, day > {until:Date} - {days:UInt32}) AS recent,
        sumIf(n, day <= {until:Date} - {days:UInt32}) AS before,
        sumIf(loss, day > {until:Date} - {days:UInt32}) AS loss_recent,
        sumIf(loss, day <= {until:Date} - {days:UInt32}) AS loss_before
    FROM
    (
        SELECT day, category, sum(reports) AS n, sum(loss_fen) AS loss
        FROM {db}.report_rollup_1d
        WHERE basis = {basis:String}
        AND day BETWEEN {until:Date} - 2 * {days:UInt32} + 1 AND {until:Date}
"""
    + _rollup_filter("        ")
    + """        GROUP BY day, category
    )
    GROUP BY category
)
ORDER BY reports_change DESC, reports_change_pct DESC, category"""
)

_STREAM_CITY = "concat(substring(region_code, 1, 4), '00')"

_STREAM_DRIFT = (
    """SELECT
    day,
    category,
    province_code,
    sumIf(n, side = 'stream') AS stream_reports,
    sumIf(n, side = 'facts') AS fact_reports,
    sumIf(loss, side = 'stream') AS stream_loss_fen,
    sumIf(loss, side = 'facts') AS fact_loss_fen
FROM
(
    -- Both sides aggregate per day first: that is what the per-day projections of report_stats_1m
    -- (migration 0014) and of report_rollup_1d (0006, 0013) answer from. The days are compared as
    -- text on purpose: against a Date, ClickHouse rewrites toDate(minute) into a range of `minute`,
    -- which the projections do not have.
    SELECT 'stream' AS side, toDate(minute) AS day, category, province_code, sum(reports) AS n, sum(loss_fen) AS loss
    FROM {db}.report_stats_1m
    WHERE toDate(minute) BETWEEN toString({since:Date}) AND toString({until:Date})
    AND ({category:String} = '' OR category = {category:String}
         OR """
    + headline_sql("category")
    + """ = {category:String})
    AND """
    + _region_filter(_STREAM_CITY)
    + """
    GROUP BY day, category, province_code
    UNION ALL
    SELECT 'facts' AS side, day, category, province_code, sum(reports) AS n, sum(loss_fen) AS loss
    FROM {db}.report_rollup_1d
    WHERE basis = 'reported'
    AND day BETWEEN {since:Date} AND {until:Date}
"""
    + _rollup_filter("    ")
    + """    GROUP BY day, category, province_code
)
GROUP BY day, category, province_code
-- A day, category and province missing on one side reads as 0 there, so it shows up too.
HAVING stream_reports != fact_reports OR stream_loss_fen != fact_loss_fen
ORDER BY day, category, province_code"""
)


@dataclass(frozen=True)
class Analysis:
    name: str
    title: str
    description: str
    template: str

    def sql(self, database: str = "fraudwatch") -> str:
        """The statement for `database`, with its query parameters left for ClickHouse to bind."""
        if not _IDENTIFIER.fullmatch(database):
            raise TrendError(f"database name {database!r} is not a plain identifier")
        return self.template.replace("{db}", database)

    @property
    def parameters(self) -> dict[str, str]:
        """Query parameter name -> ClickHouse type, in order of first use."""
        found: dict[str, str] = {}
        for name, type_ in _PARAMETER.findall(self.template):
            found.setdefault(name, type_)
        return found

    @property
    def options(self) -> tuple[str, ...]:
        """The command-line options that apply (see `Request`)."""
        used = self.parameters
        return tuple(o for o in _OPTION_PARAMETERS if all(p in used for p in _OPTION_PARAMETERS[o]))


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PARAMETER = re.compile(r"\{([a-z_]+):([A-Za-z0-9(), ]+)\}")

ANALYSES: Final[Mapping[str, Analysis]] = {
    a.name: a
    for a in (
        Analysis(
            "category_trend",
            "Reports and losses per category per day or week, with week-over-week change",
            "Per category and period: reports and loss, the same for the period one week earlier, and the "
            "change in percent (empty when the week before had none). With --interval day a day is compared "
            "with the same weekday of the week before; with --interval week, periods are Monday-to-Sunday "
            "weeks overlapping the range, named by their Monday, and the last one may still be running.",
            _CATEGORY_TREND,
        ),
        Analysis(
            "top_regions",
            "Top provinces or cities per category; per-capita ranking with --population",
            "Per category, the --top regions (--level province or city) by reports, with their loss. With "
            "--population FILE (CSV: region_code,population, codes of the chosen level) they are ranked by "
            "reports per 100,000 residents instead, and regions missing from the file are left out. Distinct "
            f"victims per region are in report_rollup_1d ({SKETCH_MERGE}(victims_sketch), approximate: "
            "docs/trends.md); they are not shown here.",
            _TOP_REGIONS,
        ),
        Analysis(
            "loss_per_victim",
            "Average and median loss per victim by category and age band",
            "A victim is the ID-card hash, else the phone hash, else (no identifier) the report itself; their "
            "losses within a category are added up, then averaged and the median taken (halfway between the "
            "two middle values for an even count). Reports without a loss count, with 0.",
            _LOSS_PER_VICTIM,
        ),
        Analysis(
            "leak_share",
            "Share of reports and losses linked to a known data leak, per day or week",
            "Per period: reports and loss, those linked to a known leak batch, and their share in percent.",
            _LEAK_SHARE,
        ),
        Analysis(
            "repeat_contacts",
            "Scammer contacts (hashed) seen in many reports and regions",
            "Hashed scammer contacts (phone, WeChat, QQ, account, URL) named in at least --min-reports reports "
            "from at least --min-regions districts, with provinces, categories, loss and the first and last "
            "day seen; the --top most reported.",
            _REPEAT_CONTACTS,
        ),
        Analysis(
            "category_disagreement",
            "Where the citizen's own category and the classifier's differ",
            "Among reports whose submitter chose a category: each (citizen, classifier) pair that disagrees, "
            "its count, and its share of everything filed under that citizen category. --category matches "
            "either side.",
            _CATEGORY_DISAGREEMENT,
        ),
        Analysis(
            "rising_categories",
            "Categories growing most: the last --days days against the --days before",
            "Per category, reports and loss in the last --days days up to --until against the --days days "
            "before those, ordered by the increase in reports. --since does not apply.",
            _RISING_CATEGORIES,
        ),
        Analysis(
            "stream_drift",
            "Days where the stream's per-minute aggregates disagree with the fact rollups (empty = consistent)",
            "report_stats_1m (written by the stream, by report time) against report_rollup_1d (built from the "
            "facts, basis 'reported'), per day, category and province. Both are exactly-once, so any row here "
            "is a defect worth a look; compare report_rollup_1h by hour to narrow it down.",
            _STREAM_DRIFT,
        ),
    )
}

# Command-line option -> the query parameters it feeds.
_OPTION_PARAMETERS: Final[Mapping[str, tuple[str, ...]]] = {
    "since": ("since",),
    "until": ("until",),
    "region": ("region",),
    "category": ("category",),
    "basis": ("basis",),
    "interval": ("interval",),
    "level": ("level",),
    "top": ("top",),
    "days": ("days",),
    "min_reports": ("min_reports",),
    "min_regions": ("min_regions",),
    "population": ("pop_codes", "pop_counts"),
}

DEFAULT_DAYS_BACK: Final = 27  # --since defaults to four whole weeks ending --until
BASES: Final = ("reported", "occurred")
INTERVALS: Final = ("day", "week")
LEVELS: Final = ("province", "city")
_INT_OPTIONS: Final[Mapping[str, tuple[int, int, int]]] = {  # default, smallest, largest
    "top": (10, 1, 10_000),
    "days": (7, 1, 366),
    "min_reports": (3, 1, 1_000_000),
    "min_regions": (2, 1, 100),  # the most uniqUpTo counts up to (repeat_contacts)
}


@dataclass(frozen=True)
class Request:
    """What the user asked for, as given (strings); None = not given, use the default."""

    since: str | None = None
    until: str | None = None
    region: str | None = None
    category: str | None = None
    basis: str | None = None
    interval: str | None = None
    level: str | None = None
    top: str | None = None
    days: str | None = None
    min_reports: str | None = None
    min_regions: str | None = None
    population: Mapping[str, int] | None = None


def analysis(name: str) -> Analysis:
    try:
        return ANALYSES[name]
    except KeyError:
        close = difflib.get_close_matches(name, ANALYSES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TrendError(f"unknown analysis {name!r}{hint} (known: {', '.join(ANALYSES)})") from None


def category_codes() -> tuple[str, ...]:
    """Category and headline class codes of streams/taxonomy.json, the values --category accepts."""
    taxonomy = json.loads(resources.files("streams").joinpath("taxonomy.json").read_text(encoding="utf-8"))
    return tuple(c["code"] for c in taxonomy["categories"]) + tuple(
        h["code"] for h in taxonomy["headline_classes"] if h["code"] not in HEADLINE_CODES
    )


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_date(name: str, value: str) -> date:
    try:
        if not _DATE.fullmatch(value):  # fromisoformat alone also takes 20260301 and week dates
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise TrendError(f"bad {_option(name)} {value!r}: not a date (expected YYYY-MM-DD)") from None


def _choice(name: str, value: str | None, allowed: Sequence[str]) -> str:
    if value is None:
        return allowed[0]
    if value not in allowed:
        raise TrendError(f"bad {_option(name)} {value!r}: expected one of {', '.join(allowed)}")
    return value


def _integer(name: str, value: str | None) -> int:
    default, low, high = _INT_OPTIONS[name]
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise TrendError(f"bad {_option(name)} {value!r}: not a whole number") from None
    if not low <= number <= high:
        raise TrendError(f"bad {_option(name)} {value!r}: must be between {low} and {high}")
    return number


def _region(value: str | None) -> str:
    if not value:
        return ""
    problem = region_problem(value)
    if problem:
        raise TrendError(f"bad --region {value!r}: {problem}")
    if not value.endswith("00"):
        raise TrendError(
            f"bad --region {value!r}: a district; the rollups go down to cities, "
            f"use {value[:4]}00 (city) or {value[:2]}0000 (province)"
        )
    return value


def _category(value: str | None) -> str:
    if not value:
        return ""
    known = category_codes()
    if value not in known:
        raise TrendError(f"bad --category {value!r}: not a category or headline class code (known: {', '.join(known)})")
    return value


def bind(chosen: Analysis, request: Request, today: date) -> dict[str, Any]:
    """Check `request` against `chosen`; returns exactly the query parameters its SQL uses.

    `today` is today's date in the configured zone: --until defaults to it.
    """
    given = {f.name for f in fields(request) if getattr(request, f.name) is not None}
    stray = sorted(given - set(chosen.options))
    if stray:
        raise TrendError(
            f"{', '.join(_option(s) for s in stray)} does not apply to {chosen.name} "
            f"(it takes {', '.join(_option(o) for o in chosen.options)})"
        )
    until = _parse_date("until", request.until) if request.until is not None else today
    since = _parse_date("since", request.since) if request.since is not None else until - timedelta(DEFAULT_DAYS_BACK)
    if since > until:
        raise TrendError(f"bad --since {since.isoformat()!r}: after --until {until.isoformat()!r}")
    population = request.population or {}
    values: dict[str, Any] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "region": _region(request.region),
        "category": _category(request.category),
        "basis": _choice("basis", request.basis, BASES),
        "interval": _choice("interval", request.interval, INTERVALS),
        "level": _choice("level", request.level, LEVELS),
        "pop_codes": list(population),
        "pop_counts": list(population.values()),
        **{name: _integer(name, getattr(request, name)) for name in _INT_OPTIONS},
    }
    level = values["level"]
    misplaced = [code for code in population if (code.endswith("0000") != (level == "province"))]
    if misplaced:
        raise TrendError(
            f"population file has codes of another level than --level {level}: {', '.join(sorted(misplaced)[:5])}"
        )
    return {name: values[name] for name in chosen.parameters}


def load_population(path: Path) -> dict[str, int]:
    """Residents per region from a CSV with the columns region_code and population (header required)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrendError(f"cannot read population file {str(path)!r}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or not {"region_code", "population"} <= {f.strip() for f in reader.fieldnames}:
        raise TrendError(f"population file {str(path)!r} needs a header with region_code and population")
    counts: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        code, residents = row["region_code"], row["population"]
        problem = region_problem(code)
        if problem:
            raise TrendError(f"population file line {line}: region_code {code!r} {problem}")
        try:
            number = int(residents.replace(",", "").replace("_", ""))
        except ValueError:
            raise TrendError(f"population file line {line}: population {residents!r} is not a whole number") from None
        if number <= 0:
            raise TrendError(f"population file line {line}: population {residents!r} must be positive")
        if code in counts:
            raise TrendError(f"population file line {line}: region_code {code!r} appears twice")
        counts[code] = number
    if not counts:
        raise TrendError(f"population file {str(path)!r} has no rows")
    return counts


@dataclass(frozen=True)
class Result:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def run(client: Client, database: str, chosen: Analysis, parameters: Mapping[str, Any]) -> Result:
    """Run one analysis with parameters from `bind`."""
    result = client.query(chosen.sql(database), parameters=dict(parameters))
    return Result(tuple(result.column_names), [tuple(row) for row in result.result_rows])
