"""Every trend analysis against an independent computation in Python, on the real embedded engine.

A known set of reports goes through `ReportSink` (redeliveries across restarts included, a fifth of
the reports late); each analysis then runs with several parameter sets and must give exactly what
the Python oracle below computes from the known set. The command line is checked end to end
(`CliRunner` against the session gateway) for output and for its errors.
"""

from __future__ import annotations

import json
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from fraudwatch.trends_cmd import trends
from sinks import trends as analyses
from sinks.migrate import migrate
from tests.integration.conftest import unique
from tests.integration.test_rollups import CATEGORIES, HEADLINE, ZONE, Spec, hashed, load

UNTIL = date(2026, 3, 15)  # a Sunday
FIRST_DAY = date(2026, 2, 9)
REGIONS = ("420106", "420102", "420502", "110105", "110108", "440305", "440106", "510107", "330106")
RISING = ("investment", "romance")  # more reports later in the period


def specs_for_trends(count: int = 420, seed: int = 3) -> list[Spec]:
    rng = random.Random(seed)
    days = (UNTIL - FIRST_DAY).days + 1
    specs = []
    for i in range(count):
        day = FIRST_DAY + timedelta(days=rng.randrange(days))
        if rng.random() < 0.35:  # the rising categories get extra reports in the last ten days
            category = rng.choice(RISING)
            day = UNTIL - timedelta(days=rng.randrange(10))
        else:
            category = rng.choice(CATEGORIES)
        reported = datetime(day.year, day.month, day.day, tzinfo=ZONE) + timedelta(seconds=rng.randrange(86_400))
        late = rng.random() < 0.2
        occurred = reported - (timedelta(days=rng.randint(2, 20)) if late else timedelta(minutes=rng.randrange(90)))
        citizen = ""
        if rng.random() < 0.6:
            citizen = category if rng.random() < 0.7 else rng.choice(CATEGORIES)
        specs.append(
            Spec(
                report_id=f"t{i:04d}",
                reported_at=reported,
                occurred_at=occurred,
                category=category,
                region_code=rng.choice(REGIONS),
                amount_lost_fen=rng.choice((0, 0, 10_000, 25_050, 99_999, 1_000_000, rng.randrange(1, 50_000_000))),
                channel=rng.choice(("app", "web", "hotline", "police")),
                citizen_category=citizen,
                victim_phone_hash=rng.choice(("", "", *(hashed("phone", k) for k in range(40)))),
                victim_id_hash=rng.choice(("", "", "", *(hashed("id", k) for k in range(12)))),
                victim_age_band=rng.choice(("", "under_18", "26_35", "over_60")),
                scammer_contacts=tuple(
                    rng.choice(("", *(f"wechat:s{k}" for k in range(12)))) for _ in range(rng.randint(0, 3))
                ),
            )
        )
    return specs


@pytest.fixture(scope="module")
def loaded(clickhouse_url: str) -> Iterator[tuple[Client, str, list[Spec]]]:
    """One database with the known set, shared by the tests that only read it."""
    client = clickhouse_connect.get_client(dsn=clickhouse_url)
    database = unique("fw_trends")
    migrate(client, database, "Asia/Shanghai")
    specs = specs_for_trends()
    load(client, database, specs, seed=17, partitions=3)
    yield client, database, specs
    client.command(f"DROP DATABASE IF EXISTS {database}")
    client.close()


@pytest.fixture
def writable(ch: Client, database: str) -> tuple[Client, str, list[Spec]]:
    """The known set in a database of its own, for a test that adds rows."""
    specs = specs_for_trends()
    load(ch, database, specs, seed=17, partitions=3)
    return ch, database, specs


# --- the oracle --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    since: date = UNTIL - timedelta(27)
    until: date = UNTIL
    region: str = ""
    category: str = ""
    basis: str = "reported"
    interval: str = "day"
    level: str = "province"
    top: int = 10
    days: int = 7
    min_reports: int = 3
    min_regions: int = 2
    population: dict[str, int] | None = None

    def request(self) -> analyses.Request:
        return analyses.Request(
            since=self.since.isoformat(),
            until=self.until.isoformat(),
            region=self.region or None,
            category=self.category or None,
            basis=self.basis,
            interval=self.interval,
            level=self.level,
            top=str(self.top),
            days=str(self.days),
            min_reports=str(self.min_reports),
            min_regions=str(self.min_regions),
            population=self.population,
        )


def day_of(spec: Spec, basis: str) -> date:
    return spec.moment(basis).date()


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def in_scope(spec: Spec, p: Params, *, category: bool = True) -> bool:
    return (not p.region or p.region in (spec.province_code, spec.city_code)) and (
        not category or not p.category or p.category in (spec.category, HEADLINE[spec.category])
    )


def ch_round(x: float, digits: int) -> float:
    """ClickHouse's round(x, n) on Float64: x·10ⁿ rounded half to even, divided back (625.245 -> 625.24)."""
    return round(x * 10**digits) / 10**digits


def yuan(fen: float) -> float:
    return ch_round(fen / 100, 2)


def pct(part: float, whole: float, digits: int) -> float | None:
    return None if whole == 0 else ch_round(100 * part / whole, digits)


def change_pct(now: int, before: int) -> float | None:
    return None if before == 0 else ch_round(100 * (now - before) / before, 1)


def oracle_category_trend(specs: list[Spec], p: Params) -> list[tuple[Any, ...]]:
    week = p.interval == "week"
    first, last = (monday(p.since), monday(p.until)) if week else (p.since, p.until)
    n: dict[tuple[date, str], int] = defaultdict(int)
    loss: dict[tuple[date, str], int] = defaultdict(int)
    for s in specs:
        if in_scope(s, p):
            d = day_of(s, p.basis)
            bucket = monday(d) if week else d
            n[bucket, s.category] += 1
            loss[bucket, s.category] += s.amount_lost_fen
    out = []
    for bucket, category in sorted({k for k in n} | {(b + timedelta(7), c) for b, c in n}):
        if not first <= bucket <= last:
            continue
        prev = (bucket - timedelta(7), category)
        now_n, prev_n, now_l, prev_l = n[bucket, category], n[prev], loss[bucket, category], loss[prev]
        out.append(
            (
                bucket,
                category,
                now_n,
                prev_n,
                change_pct(now_n, prev_n),
                yuan(now_l),
                yuan(prev_l),
                change_pct(now_l, prev_l),
            )
        )
    return out


def oracle_top_regions(specs: list[Spec], p: Params) -> list[tuple[Any, ...]]:
    groups: dict[tuple[str, str], list[Spec]] = defaultdict(list)
    for s in specs:
        if in_scope(s, p) and p.since <= day_of(s, p.basis) <= p.until:
            groups[s.category, s.city_code if p.level == "city" else s.province_code].append(s)
    by_category: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for (category, region), members in groups.items():
        population = (p.population or {}).get(region, 0)
        if p.population and not population:
            continue
        reports = len(members)
        per_100k = ch_round(reports * 100000 / population, 3) if population else None
        ranking = per_100k if p.population else float(reports)
        row = (region, reports, yuan(sum(s.amount_lost_fen for s in members)))
        by_category[category].append((ranking, *row, population, per_100k))
    out = []
    for category in sorted(by_category):
        ranked = sorted(by_category[category], key=lambda r: (-r[0], -r[2], r[1]))
        out += [(category, rank, *r[1:]) for rank, r in enumerate(ranked[: p.top], start=1)]
    return out


def oracle_loss_per_victim(specs: list[Spec], p: Params) -> list[tuple[Any, ...]]:
    victims: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for s in specs:
        if in_scope(s, p) and p.since <= day_of(s, p.basis) <= p.until:
            victims[s.category, s.victim_age_band or "unknown"][s.victim or s.report_id].append(s.amount_lost_fen)
    out = []
    for (category, band), per_victim in sorted(victims.items()):
        totals = [sum(v) for v in per_victim.values()]
        out.append(
            (
                category,
                band,
                len(totals),
                sum(len(v) for v in per_victim.values()),
                yuan(sum(totals)),
                yuan(sum(totals) / len(totals)),
                yuan(statistics.median(totals)),
            )
        )
    return out


def oracle_leak_share(specs: list[Spec], p: Params) -> list[tuple[Any, ...]]:
    sums: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for s in specs:
        d = day_of(s, p.basis)
        if in_scope(s, p) and p.since <= d <= p.until:
            row = sums[monday(d) if p.interval == "week" else d]
            row[0] += 1
            row[1] += s.leak_linked
            row[2] += s.amount_lost_fen
            row[3] += s.amount_lost_fen if s.leak_linked else 0
    return [
        (period, n, leak_n, pct(leak_n, n, 2), yuan(loss), yuan(leak_loss), pct(leak_loss, loss, 2))
        for period, (n, leak_n, loss, leak_loss) in sorted(sums.items())
    ]


def oracle_repeat_contacts(specs: list[Spec], p: Params) -> list[tuple[Any, ...]]:
    seen: dict[str, list[Spec]] = defaultdict(list)
    for s in specs:
        if in_scope(s, p) and p.since <= day_of(s, p.basis) <= p.until:
            for contact in {c for c in s.scammer_contacts if c}:
                seen[contact].append(s)
    out = []
    for contact, members in seen.items():
        regions = len({s.region_code for s in members})
        if len(members) >= p.min_reports and regions >= p.min_regions:
            days = [day_of(s, p.basis) for s in members]
            out.append(
                (
                    contact,
                    len(members),
                    regions,
                    len({s.province_code for s in members}),
                    ",".join(sorted({s.category for s in members})),
                    yuan(sum(s.amount_lost_fen for s in members)),
                    min(days),
                    max(days),
                )
            )
    return sorted(out, key=lambda r: (-r[1], -r[2], r[0]))[: p.top]


def oracle_category_disagreement(specs: list[Spec], p: Params) -> list[tuple[Any, ...]]:
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    totals: dict[str, int] = defaultdict(int)
    for s in specs:
        if s.citizen_category and in_scope(s, p, category=False) and p.since <= day_of(s, p.basis) <= p.until:
            pairs[s.citizen_category, s.category] += 1
            totals[s.citizen_category] += 1
    out = [
        (citizen, classifier, n, totals[citizen], ch_round(100 * n / totals[citizen], 2))
        for (citizen, classifier), n in pairs.items()
        if citizen != classifier
        and (not p.category or p.category in (citizen, classifier, HEADLINE[citizen], HEADLINE[classifier]))
    ]
    return sorted(out, key=lambda r: (-r[2], r[0], r[1]))


def oracle_rising_categories(specs: list[Spec], p: Params) -> list[tuple[Any, ...]]:
    recent: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for s in specs:
        d = day_of(s, p.basis)
        age = (p.until - d).days
        if in_scope(s, p) and 0 <= age < 2 * p.days:
            row = recent[s.category]
            slot = 0 if age < p.days else 1
            row[slot] += 1
            row[2 + slot] += s.amount_lost_fen
    out = [
        (category, now, before, now - before, change_pct(now, before), yuan(loss_now), yuan(loss_before))
        for category, (now, before, loss_now, loss_before) in recent.items()
    ]
    return sorted(out, key=lambda r: (-r[3], r[4] is None, -(r[4] or 0), r[0]))


ORACLES: dict[str, Callable[[list[Spec], Params], list[tuple[Any, ...]]]] = {
    "category_trend": oracle_category_trend,
    "top_regions": oracle_top_regions,
    "loss_per_victim": oracle_loss_per_victim,
    "leak_share": oracle_leak_share,
    "repeat_contacts": oracle_repeat_contacts,
    "category_disagreement": oracle_category_disagreement,
    "rising_categories": oracle_rising_categories,
    "stream_drift": lambda specs, p: [],
}

CASES: dict[str, list[Params]] = {
    "category_trend": [
        Params(),
        Params(basis="occurred"),
        Params(interval="week", since=date(2026, 2, 25)),
        Params(interval="week", basis="occurred", category="other_types"),
        Params(category="investment", region="420000", since=date(2026, 3, 1)),
    ],
    "top_regions": [
        Params(),
        Params(top=2, basis="occurred"),
        Params(level="city", region="420000", top=3),
        Params(region="440000", basis="occurred"),
        Params(population={"420000": 57_750_000, "110000": 21_840_000, "440000": 127_060_000, "510000": 83_680_000}),
        Params(level="city", population={"420100": 13_730_000, "110100": 21_840_000, "440300": 17_790_000}),
    ],
    "loss_per_victim": [
        Params(),
        Params(basis="occurred", since=FIRST_DAY - timedelta(30)),
        Params(category="other_types", region="110100"),
    ],
    "leak_share": [
        Params(),
        Params(interval="week", basis="occurred", since=FIRST_DAY - timedelta(30)),
        Params(category="romance", region="440000"),
    ],
    "repeat_contacts": [
        Params(),
        Params(min_reports=8, min_regions=5, top=3),
        Params(basis="occurred", region="420000", min_regions=1, min_reports=2),
        Params(category="investment", min_reports=1, min_regions=1, top=50),
    ],
    "category_disagreement": [
        Params(),
        Params(basis="occurred", region="110000"),
        Params(category="other_types"),
        Params(category="loan", since=date(2026, 3, 1)),
    ],
    "rising_categories": [
        Params(),
        Params(days=14, basis="occurred"),
        Params(days=3, category="other_types", region="420000"),
        Params(until=date(2026, 3, 5)),
    ],
    "stream_drift": [Params(), Params(region="420100", category="investment"), Params(region="110000")],
}


def applicable(params: Params, chosen: analyses.Analysis) -> analyses.Request:
    full = params.request()
    given = {name: getattr(full, name) for name in chosen.options}
    return analyses.Request(**given)


def normalise(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(v for v in row) for row in rows]


def test_every_analysis_has_cases_and_an_oracle() -> None:
    assert set(CASES) == set(ORACLES) == set(analyses.ANALYSES)


@pytest.mark.parametrize("name", list(analyses.ANALYSES))
def test_analysis_numbers_equal_the_oracle(loaded: tuple[Client, str, list[Spec]], name: str) -> None:
    ch, database, specs = loaded
    chosen = analyses.analysis(name)
    non_empty = 0
    for params in CASES[name]:
        bound = analyses.bind(chosen, applicable(params, chosen), today=UNTIL)
        got = analyses.run(ch, database, chosen, bound)
        expected = ORACLES[name](specs, params)
        assert normalise(got.rows) == expected, (name, params)
        non_empty += bool(expected)
    if name != "stream_drift":
        assert non_empty == len(CASES[name]), "every case should have rows to compare"


COARSE = ("by_province", "by_day_province")  # per day without the city (migrations 0013, 0014)


@pytest.mark.parametrize(
    ("name", "params", "coarse"),
    [
        # Everywhere or one province: the per-day projections without the city answer.
        ("category_trend", Params(), True),
        ("category_trend", Params(region="420000", interval="week"), True),
        ("top_regions", Params(region="420000"), True),
        ("leak_share", Params(category="other_types"), True),
        ("rising_categories", Params(region="110000"), True),
        ("stream_drift", Params(), True),
        # A city, or ranking cities: only the projections that keep the city (0006, 0014) can.
        ("category_trend", Params(region="420100"), False),
        ("top_regions", Params(level="city"), False),
        ("stream_drift", Params(region="420100"), False),
    ],
)
def test_rollup_analyses_can_read_the_coarse_projections(
    loaded: tuple[Client, str, list[Spec]], name: str, params: Params, coarse: bool
) -> None:
    """On this little data every projection is one granule, so ClickHouse's own pick is a tie: ask for each."""
    ch, database, _ = loaded
    chosen = analyses.analysis(name)
    bound = analyses.bind(chosen, applicable(params, chosen), today=UNTIL)
    for projection in COARSE:
        if projection == "by_day_province" and name != "stream_drift":
            continue
        plan = "\n".join(
            str(r[0])
            for r in ch.query(
                f"EXPLAIN projections = 1 {chosen.sql(database)}",
                parameters=bound,
                settings={"preferred_optimize_projection_name": projection},
            ).result_rows
        )
        assert (f"ReadFromMergeTree ({projection})" in plan) == coarse, plan


def test_stream_drift_shows_a_disagreeing_day(writable: tuple[Client, str, list[Spec]]) -> None:
    ch, database, _ = writable
    # A stream row no fact backs (as a double-counting bug would write), just after midnight in Shanghai.
    ch.command(
        f"INSERT INTO {database}.report_stats_1m VALUES "
        "('2026-03-10 00:31:00', 'loan', '420000', '420106', 'bogus', 'e0', 0, 2, 500, 1)"
    )
    chosen = analyses.analysis("stream_drift")
    got = analyses.run(ch, database, chosen, analyses.bind(chosen, analyses.Request(until="2026-03-15"), UNTIL))
    assert len(got.rows) == 1
    day, category, province, stream_reports, fact_reports, stream_loss, fact_loss = got.rows[0]
    assert (day, category, province) == (date(2026, 3, 10), "loan", "420000")
    assert stream_reports - fact_reports == 2 and stream_loss - fact_loss == 500


def test_defaults_are_four_weeks_to_today_reported_daily() -> None:
    bound = analyses.bind(analyses.analysis("category_trend"), analyses.Request(), today=date(2026, 3, 15))
    assert bound == {
        "interval": "day",
        "basis": "reported",
        "since": "2026-02-16",
        "until": "2026-03-15",
        "category": "",
        "region": "",
    }
    rising = analyses.bind(analyses.analysis("rising_categories"), analyses.Request(), today=date(2026, 3, 15))
    assert rising["days"] == 7 and "since" not in rising


def test_every_documented_statement_is_the_one_that_runs() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "trends.md").read_text(encoding="utf-8")
    for chosen in analyses.ANALYSES.values():
        assert f"```sql\n{chosen.sql('fraudwatch')}\n```" in doc, chosen.name
        for parameter in chosen.parameters:
            assert f"`{parameter}`" in doc


# --- the command line --------------------------------------------------------------------------------------


def invoke(clickhouse_url: str, database: str, *args: str) -> Any:
    env = {"FRAUDWATCH_CLICKHOUSE_URL": clickhouse_url, "FRAUDWATCH_CLICKHOUSE_DATABASE": database}
    return CliRunner().invoke(trends, list(args), env=env, catch_exceptions=False)


def test_cli_json_equals_the_oracle(loaded: tuple[Client, str, list[Spec]], clickhouse_url: str) -> None:
    _, database, specs = loaded
    result = invoke(
        clickhouse_url, database, "category_trend", "--since", "2026-02-23", "--until", "2026-03-15",
        "--interval", "week", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = oracle_category_trend(specs, Params(since=date(2026, 2, 23), interval="week"))
    columns = [
        "period", "category", "reports", "reports_week_before", "reports_change_pct", "loss_yuan",
        "loss_week_before_yuan", "loss_change_pct",
    ]  # fmt: skip
    assert json.loads(result.output) == [dict(zip(columns, (str(r[0]), *r[1:]), strict=True)) for r in expected]


def test_cli_table_csv_and_population(
    loaded: tuple[Client, str, list[Spec]], clickhouse_url: str, tmp_path: Path
) -> None:
    _, database, specs = loaded
    table = invoke(clickhouse_url, database, "rising_categories", "--until", "2026-03-15")
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[0].split(" | ")[0].strip() == "category"
    assert f"({len(oracle_rising_categories(specs, Params()))} rows)" in table.output
    population = tmp_path / "population.csv"
    population.write_text('region_code,population\n420000,57750000\n110000,"21,840,000"\n', encoding="utf-8")
    csv_out = invoke(
        clickhouse_url, database, "top_regions", "--until", "2026-03-15", "--population", str(population),
        "--format", "csv",
    )  # fmt: skip
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.strip().splitlines()
    expected = oracle_top_regions(specs, Params(population={"420000": 57_750_000, "110000": 21_840_000}))
    assert lines[0] == "category,rank,region_code,reports,loss_yuan,population,reports_per_100k"
    assert len(lines) == 1 + len(expected)
    assert lines[1].split(",")[:4] == [expected[0][0], "1", expected[0][2], str(expected[0][3])]


def test_cli_lists_the_analyses() -> None:
    result = CliRunner().invoke(trends, [])
    assert result.exit_code == 0
    for name in analyses.ANALYSES:
        assert name in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["top_region"], "unknown analysis 'top_region'; did you mean 'top_regions'?"),
        (["no_such_thing"], "unknown analysis 'no_such_thing'"),
        (["leak_share", "--since", "2026-02-30"], "bad --since '2026-02-30': not a date"),
        (["leak_share", "--until", "yesterday"], "bad --until 'yesterday': not a date"),
        (["leak_share", "--until", "20260301"], "bad --until '20260301': not a date (expected YYYY-MM-DD)"),
        (["leak_share", "--since", "2026-03-10", "--until", "2026-03-01"], "bad --since '2026-03-10': after --until"),
        (["leak_share", "--region", "420106"], "bad --region '420106': a district"),
        (["leak_share", "--region", "99"], "bad --region '99'"),
        (["leak_share", "--category", "phishing"], "bad --category 'phishing'"),
        (["leak_share", "--basis", "arrived"], "bad --basis 'arrived'"),
        (["leak_share", "--top", "5"], "--top does not apply to leak_share"),
        (["rising_categories", "--days", "0"], "bad --days '0': must be between 1 and 366"),
        (["repeat_contacts", "--min-reports", "many"], "bad --min-reports 'many': not a whole number"),
        (["repeat_contacts", "--min-regions", "101"], "bad --min-regions '101': must be between 1 and 100"),
        (
            ["top_regions", "--level", "city", "--population", "{pop}"],
            "population file has codes of another level than --level city: 420000",
        ),
    ],
)
def test_cli_errors_name_the_bad_value(
    clickhouse_url: str, database: str, tmp_path: Path, args: list[str], message: str
) -> None:
    population = tmp_path / "pop.csv"
    population.write_text("region_code,population\n420000,100\n", encoding="utf-8")
    result = invoke(clickhouse_url, database, *[a.replace("{pop}", str(population)) for a in args])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("code,residents\n420000,1\n", "needs a header with region_code and population"),
        ("region_code,population\n420000,lots\n", "line 2: population 'lots' is not a whole number"),
        ("region_code,population\n420000,5\n4200,5\n", "line 3: region_code '4200'"),
        ("region_code,population\n420000,5\n420000,6\n", "line 3: region_code '420000' appears twice"),
        ("region_code,population\n", "has no rows"),
    ],
)
def test_population_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "pop.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(analyses.TrendError, match=message):
        analyses.load_population(path)
