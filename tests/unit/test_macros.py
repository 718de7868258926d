"""Unit tests for dashboards.macros: the plugin's own test vectors, and edge cases for each macro.

The vectors were transcribed from grafana/clickhouse-datasource's Go and TypeScript tests. The
repo keeps a copy in tests/unit/data so that CI does not need shared/ next to the clone.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dashboards.macros import MacroError, VariableValue, apply_conditional_all, expand, expand_statement_macros

VECTORS_PATH = Path(__file__).parent / "data" / "grafana_clickhouse_macro_vectors.json"
SHARED_VECTORS_PATH = Path(__file__).parents[2] / ".." / "shared" / "grafana-clickhouse-macros" / "vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))["vectors"]

FROM = datetime(2014, 11, 12, 11, 45, 26, 371000, tzinfo=UTC)
TO = datetime(2015, 11, 12, 11, 45, 26, 371000, tzinfo=UTC)
FS, TS = 1415792726, 1447328726
FMS, TMS = 1415792726371, 1447328726371


def run(sql: str, interval_ms: int = 20000, variables: dict[str, VariableValue] | None = None, **kw: str) -> str:
    return expand(sql, FROM, TO, interval_ms, variables, **kw)


def instant(text: str | None) -> datetime:
    # Frontend vectors carry no time range; any instant will do.
    return datetime.fromisoformat(text) if text else FROM


def vector_params(*levels: str) -> list[Any]:
    return [pytest.param(v, id=f"{i:03d}-{v['name']}") for i, v in enumerate(VECTORS) if v["level"] in levels]


def check_error(err: MacroError, vector: dict[str, Any]) -> None:
    assert vector["error_contains"] in str(err) if vector.get("error_contains") else str(err)


def test_repo_copy_of_vectors_matches_shared_copy() -> None:
    if not SHARED_VECTORS_PATH.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert json.loads(SHARED_VECTORS_PATH.read_text(encoding="utf-8")) == json.loads(
        VECTORS_PATH.read_text(encoding="utf-8")
    )


def test_vectors_cover_every_level() -> None:
    levels = {v["level"] for v in VECTORS}
    assert levels == {
        "helper",
        "handler",
        "interpolate",
        "statement_prepass",
        "frontend_conditionalAll",
        "frontend_adHocFilters",
    }
    assert len(VECTORS) == 98


# --- the plugin's vectors ------------------------------------------------------------------------


@pytest.mark.parametrize("vector", vector_params("helper", "handler", "interpolate"))
def test_backend_vector(vector: dict[str, Any]) -> None:
    def call() -> str:
        return expand(
            vector["macro_sql"],
            instant(vector["from"]),
            instant(vector["to"]),
            vector["interval_ms"],
            table=vector.get("table"),
            column=vector.get("column"),
        )

    if vector["error"]:
        with pytest.raises(MacroError) as raised:
            call()
        check_error(raised.value, vector)
    else:
        assert call() == vector["expected"]


@pytest.mark.parametrize("vector", vector_params("statement_prepass"))
def test_statement_prepass_vector(vector: dict[str, Any]) -> None:
    args = (instant(vector["from"]), instant(vector["to"]), vector["interval_ms"])
    if vector["error"]:
        with pytest.raises(MacroError) as raised:
            expand_statement_macros(vector["macro_sql"], *args)
        check_error(raised.value, vector)
        with pytest.raises(MacroError):
            expand(vector["macro_sql"], *args)
    else:
        assert expand_statement_macros(vector["macro_sql"], *args) == vector["expected"]
        # The full pipeline is the pre-pass followed by the expression macros.
        assert expand(vector["macro_sql"], *args) == expand(vector["expected"], *args)


@pytest.mark.parametrize("vector", vector_params("frontend_conditionalAll"))
def test_conditional_all_vector(vector: dict[str, Any]) -> None:
    variables = {v["name"]: v["current_value"] for v in vector["template_vars"]}
    assert apply_conditional_all(vector["macro_sql"], variables) == vector["expected"]
    # expand() then substitutes the variables left in the expression; these values are strings,
    # which the plugin's default format inserts raw.
    substituted = re.sub(r"\$(\w+)", lambda m: variables.get(m[1], m[0]), vector["expected"])
    assert run(vector["macro_sql"], variables=variables) == substituted


@pytest.mark.parametrize("vector", vector_params("frontend_adHocFilters"))
def test_ad_hoc_filters_vector_is_rejected_as_unsupported(vector: dict[str, Any]) -> None:
    # expand() takes no ad hoc filters, so it refuses the macro rather than dropping the filters.
    with pytest.raises(MacroError, match=r"\$__adHocFilters is not supported"):
        run(vector["macro_sql"])


# --- time macros ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__fromTime", f"toDateTime({FS})"),
        ("$__toTime", f"toDateTime({TS})"),
        ("$__fromTime_ms", f"fromUnixTimestamp64Milli({FMS})"),
        ("$__toTime_ms", f"fromUnixTimestamp64Milli({TMS})"),
        ("$__timeFilter(ts)", f"ts >= toDateTime({FS}) AND ts <= toDateTime({TS})"),
        ("$__timeFilter_ms(ts)", f"ts >= fromUnixTimestamp64Milli({FMS}) AND ts <= fromUnixTimestamp64Milli({TMS})"),
        ("$__dateFilter(d)", "d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')"),
        ("$__timeFrom(ts)", f"ts >= toDateTime({FS})"),
        ("$__timeTo(ts)", f"ts <= toDateTime({TS})"),
        (
            "$__dt(d, t)",
            "(d >= toDate('2014-11-12') AND d <= toDate('2015-11-12')) AND "
            f"(t >= toDateTime({FS}) AND t <= toDateTime({TS}))",
        ),
    ],
)
def test_time_macros(sql: str, expected: str) -> None:
    assert run(sql) == expected


def test_zero_argument_macros_drop_their_argument_list() -> None:
    assert run("$__fromTime() $__toTime(a, b) $__interval_s(x)") == f"toDateTime({FS}) toDateTime({TS}) 20"


def test_arguments_of_zero_argument_macros_are_still_expanded_and_can_fail() -> None:
    with pytest.raises(MacroError, match=r"^macro \$__fromTime argument 1: macro \$__timeFilter\(\)"):
        run("$__fromTime($__timeFilter())")


def test_unbalanced_parenthesis_makes_a_call_without_arguments() -> None:
    assert run("$__fromTime(") == f"toDateTime({FS})("
    with pytest.raises(MacroError, match="expected 1 argument"):
        run("$__timeFilter(ts")


def test_longest_macro_name_wins() -> None:
    assert run("$__timeFilter_ms(ts)").startswith("ts >= fromUnixTimestamp64Milli(")
    assert run("$__interval_ms,$__interval_s,$__interval") == "20000,20,20s"


def test_timezone_of_the_range_sets_the_date_but_not_the_instant() -> None:
    beijing = timezone(timedelta(hours=8))
    start = datetime(2024, 1, 1, 1, 0, tzinfo=beijing)  # 2023-12-31T17:00Z
    end = datetime(2024, 1, 2, 1, 0, tzinfo=beijing)
    assert expand("$__fromTime", start, end, 0) == "toDateTime(1704042000)"
    assert expand("$__fromTime", start.astimezone(UTC), end, 0) == "toDateTime(1704042000)"
    # Go formats the date in the time value's own zone.
    assert expand("$__dateFilter(d)", start, end, 0) == "d >= toDate('2024-01-01') AND d <= toDate('2024-01-02')"
    assert (
        expand("$__dateFilter(d)", start.astimezone(UTC), end.astimezone(UTC), 0)
        == "d >= toDate('2023-12-31') AND d <= toDate('2024-01-01')"
    )


def test_instants_before_the_epoch_round_down() -> None:
    start = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    assert expand("$__fromTime $__fromTime_ms", start, start, 0) == "toDateTime(-1) fromUnixTimestamp64Milli(-500)"
    zero = datetime(1, 1, 1, tzinfo=UTC)
    assert expand("$__dateFilter(d) $__fromTime", zero, zero, 0) == (
        "d >= toDate('0001-01-01') AND d <= toDate('0001-01-01') toDateTime(-62135596800)"
    )


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="time_from must be timezone-aware"):
        expand("$__fromTime", datetime(2024, 1, 1), TO, 0)
    with pytest.raises(ValueError, match="time_to must be timezone-aware"):
        expand("$__fromTime", FROM, datetime(2024, 1, 1), 0)


def test_bad_interval_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        run("$__interval", interval_ms=-1)
    with pytest.raises(TypeError, match="interval_ms must be an int"):
        expand("$__interval", FROM, TO, 1.5)  # type: ignore[arg-type]


# --- intervals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval_ms", "compact", "seconds", "bucket_s", "bucket_ms"),
    [
        (0, "0s", "1", "1", "1"),
        (1, "1ms", "1", "1", "1"),
        (500, "500ms", "1", "1", "500"),
        (1500, "1500ms", "1", "1", "1500"),
        (20000, "20s", "20", "20", "20000"),
        (60000, "1m", "60", "60", "60000"),
        (90000, "90s", "90", "90", "90000"),
        (5_400_000, "90m", "5400", "5400", "5400000"),
        (7_200_000, "2h", "7200", "7200", "7200000"),
        (86_400_000, "24h", "86400", "86400", "86400000"),
    ],
)
def test_interval_formatting(interval_ms: int, compact: str, seconds: str, bucket_s: str, bucket_ms: str) -> None:
    assert run("$__interval", interval_ms) == compact
    assert run("$__interval_ms", interval_ms) == str(interval_ms)
    assert run("$__interval_s", interval_ms) == seconds
    assert run("$__timeInterval(ts)", interval_ms) == f"toStartOfInterval(toDateTime(ts), INTERVAL {bucket_s} second)"
    assert run("$__timeInterval_ms(ts)", interval_ms) == (
        f"toStartOfInterval(toDateTime64(ts, 3), INTERVAL {bucket_ms} millisecond)"
    )


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [
        ("5m", 300),
        ("'5m'", 300),
        ('"1h"', 3600),
        ("1h30m", 5400),
        ("1.5s", 2),
        ("500ms", 1),
        ("2.5s", 3),
        ("90s", 90),
        ("3600000ms", 3600),
        ("+10s", 10),
        (".5h", 1800),
    ],
)
def test_time_group_parses_go_durations_and_rounds_half_away_from_zero(interval: str, seconds: int) -> None:
    assert run(f"$__timeGroup(ts, {interval})") == f"toStartOfInterval(toDateTime(ts), INTERVAL {seconds} second)"


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        ("1d", 'invalid interval "1d": time: unknown unit "d" in duration "1d"'),
        ("5", 'invalid interval "5": time: missing unit in duration "5"'),
        ("", 'invalid interval "": time: invalid duration ""'),
        ("m", 'invalid interval "m": time: invalid duration "m"'),
        (".s", 'invalid interval ".s": time: invalid duration ".s"'),
        ("99999999999h", 'invalid interval "99999999999h": time: invalid duration "99999999999h"'),
        ("0", 'interval must be positive, got "0"'),
        ("499ms", 'interval must be positive, got "499ms"'),
        ("-5m", 'interval must be positive, got "-5m"'),
    ],
)
def test_time_group_rejects_bad_intervals(interval: str, message: str) -> None:
    with pytest.raises(MacroError) as raised:
        run(f"$__timeGroup(ts, {interval})")
    assert str(raised.value) == f"macro $__timeGroup(ts, {interval}): $__timeGroup: {message}"


# --- argument counts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("$__timeFilter(a, b)", "macro $__timeFilter(a, b): $__timeFilter expected 1 argument(s), received 2"),
        ("$__timeFilter", "macro $__timeFilter(): $__timeFilter expected 1 argument(s), received 0"),
        ("$__timeFilter( )", "macro $__timeFilter(): $__timeFilter expected 1 argument(s), received 0"),
        ("$__timeFilter(,)", "macro $__timeFilter(, ): $__timeFilter expected 1 argument(s), received 2"),
        ("$__timeFilter_ms(a, b)", "macro $__timeFilter_ms(a, b): $__timeFilter_ms expected 1 argument(s), received 2"),
        ("$__dateFilter", "macro $__dateFilter(): $__dateFilter expected 1 argument(s), received 0"),
        ("$__dateTimeFilter(d)", "macro $__dateTimeFilter(d): $__dateTimeFilter expected 2 argument(s), received 1"),
        ("$__dt(d, t, x)", "macro $__dt(d, t, x): $__dateTimeFilter expected 2 argument(s), received 3"),
        ("$__timeFrom", "macro $__timeFrom(): $__timeFrom expected 1 argument(s), received 0"),
        ("$__timeTo(a, b)", "macro $__timeTo(a, b): $__timeTo expected 1 argument(s), received 2"),
        ("$__timeInterval(a, b)", "macro $__timeInterval(a, b): $__timeInterval expected 1 argument(s), received 2"),
        ("$__timeInterval_ms", "macro $__timeInterval_ms(): $__timeInterval_ms expected 1 argument(s), received 0"),
        ("$__timeGroup(ts, 5m, 0)", "macro $__timeGroup(ts, 5m, 0): $__timeGroup expected 2 argument(s), received 3"),
    ],
)
def test_wrong_argument_count_error_text(sql: str, message: str) -> None:
    with pytest.raises(MacroError) as raised:
        run(sql)
    assert str(raised.value) == message.replace(": $__", ": unexpected number of arguments: $__", 1)


def test_error_fails_the_whole_query() -> None:
    with pytest.raises(MacroError, match=r"\$__timeFilter"):
        run("SELECT $__fromTime, $__timeFilter() FROM t")


def test_commas_and_parentheses_inside_arguments() -> None:
    assert run("$__timeFilter(coalesce(a, b))") == (
        f"coalesce(a, b) >= toDateTime({FS}) AND coalesce(a, b) <= toDateTime({TS})"
    )
    assert run("$__timeFilter(if(x = ',', a, b))").startswith("if(x = ',', a, b) >= ")
    assert run("$__timeFilter(f(')'))").startswith("f(')') >= ")


# --- nesting, comments, strings, unknown macros --------------------------------------------------


def test_nested_macros_expand_innermost_first() -> None:
    assert run("$__timeFilter($__timeInterval($__fromTime))") == (
        f"toStartOfInterval(toDateTime(toDateTime({FS})), INTERVAL 20 second) >= toDateTime({FS}) AND "
        f"toStartOfInterval(toDateTime(toDateTime({FS})), INTERVAL 20 second) <= toDateTime({TS})"
    )


def test_argument_count_is_fixed_before_nested_expansion() -> None:
    assert run("$__timeInterval($__table)", table="a, b") == "toStartOfInterval(toDateTime(a, b), INTERVAL 20 second)"


def test_handler_output_is_not_rescanned() -> None:
    out = run("$__timeFilter(${v:singlequote})", variables={"v": "$__toTime"})
    assert out == f"'$__toTime' >= toDateTime({FS}) AND '$__toTime' <= toDateTime({TS})"


def test_nesting_deeper_than_128_levels_is_an_error() -> None:
    deep = "$__timeInterval(" * 130 + "ts" + ")" * 130
    with pytest.raises(MacroError, match="macro nesting exceeds 128 levels"):
        run(deep)
    assert run("$__timeInterval(" * 5 + "ts" + ")" * 5).count("toStartOfInterval") == 5


def test_comments_are_blanked_to_spaces() -> None:
    assert run("SELECT $__fromTime -- $__toTime\nFROM t") == f"SELECT toDateTime({FS}) {' ' * 12}\nFROM t"
    assert run("SELECT /* $__toTime */ $__fromTime") == f"SELECT {' ' * 15} toDateTime({FS})"
    assert run("SELECT $__fromTime /* never closed $__toTime") == f"SELECT toDateTime({FS}) {' ' * 25}"
    assert run("SELECT $__fromTime -- a\rb") == f"SELECT toDateTime({FS}) {' ' * 4}\rb"


def test_comment_blanking_counts_utf8_bytes_like_go() -> None:
    comment = "-- 诈骗 $__fromTime"
    assert run(f"SELECT 1 {comment}") == "SELECT 1 " + " " * len(comment.encode())


def test_comment_blanking_applies_even_when_only_a_comment_holds_a_macro() -> None:
    assert run("SELECT 1 -- $__fromTime") == "SELECT 1 " + " " * 14


def test_query_without_macros_is_returned_unchanged() -> None:
    sql = "SELECT 1 -- note\n/* block */ FROM t WHERE x = '--'"
    assert run(sql) == sql


def test_comment_markers_inside_quoted_regions_are_kept() -> None:
    sql = "SELECT 'a--b', \"c/*d\", `e--f`, $x$g--h$x$, 'i\\'--j', 'k''--l' WHERE $__fromTime"
    assert run(sql) == sql.replace("$__fromTime", f"toDateTime({FS})")


def test_macros_inside_string_literals_are_expanded() -> None:
    assert run("SELECT '$__fromTime' AS f") == f"SELECT 'toDateTime({FS})' AS f"


def test_unknown_macros_are_kept_and_their_arguments_scanned() -> None:
    assert run("$__unknown(x, $__toTime) $__ $__unixEpochFilter(ts)") == (
        f"$__unknown(x, toDateTime({TS})) $__ $__unixEpochFilter(ts)"
    )


def test_table_and_column_come_from_the_query_context() -> None:
    assert run("SELECT $__column FROM $__table", table="db.events", column="amount") == ("SELECT amount FROM db.events")
    with pytest.raises(MacroError, match=r"^macro \$__table\(\): \$__table: no table name in query context$"):
        run("SELECT 1 FROM $__table", column="amount")
    with pytest.raises(MacroError, match=r"\$__column: no column name in query context"):
        run("SELECT $__column", table="t", column="")


@pytest.mark.parametrize("name", ["from", "to", "range", "range_s", "range_ms", "rate_interval", "timezone", "user"])
def test_grafana_global_variables_must_be_supplied(name: str) -> None:
    with pytest.raises(MacroError, match=rf"^\$__{name} is not supported by expand\(\)"):
        run(f"SELECT $__{name}")
    assert run(f"SELECT $__{name}", variables={f"__{name}": "42"}) == "SELECT 42"


def test_frontend_only_macro_in_a_comment_is_ignored() -> None:
    comment = "-- $__adHocFilters('t')"
    assert run(f"SELECT 1 {comment}") == "SELECT 1 " + " " * len(comment)


# --- statement macros ----------------------------------------------------------------------------


def test_statement_macro_keeps_leading_comment_and_expands_fully() -> None:
    out = run("/* 图 */ $__columns(ts, svc, count()) FROM t")
    assert out == " " * len("/* 图 */".encode()) + (
        " SELECT toStartOfInterval(toDateTime(ts), INTERVAL 20 second) AS t, toString(svc) AS metric, "
        f"count() AS value FROM t WHERE ts >= toDateTime({FS}) AND ts <= toDateTime({TS}) GROUP BY t, metric "
        "ORDER BY t, metric"
    )


def test_statement_macro_with_a_commented_tail() -> None:
    assert expand_statement_macros("$__columns(ts, svc, c) FROM t -- WHERE x\n", FROM, TO, 0) == (
        "SELECT $__timeInterval(ts) AS t, toString(svc) AS metric, c AS value FROM t "
        "WHERE $__timeFilter(ts) GROUP BY t, metric ORDER BY t, metric"
    )


def test_lttb_auto_buckets_use_at_least_one_second_intervals() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    out = expand_statement_macros("$__lttb(AUTO, ts, v) FROM t", start, start + timedelta(hours=1), 500)
    assert "lttb(3600)(ts, v)" in out
    out = expand_statement_macros("$__lttb(auto, ts, v) FROM t", start, start, 500)
    assert "lttb(1)(ts, v)" in out


@pytest.mark.parametrize("buckets", ["0", "000", "-5", "1.5", "1e3", "'10'"])
def test_lttb_rejects_bad_bucket_counts(buckets: str) -> None:
    with pytest.raises(MacroError, match=r"\$__lttb buckets must be a positive integer or 'auto'"):
        expand_statement_macros(f"$__lttb({buckets}, ts, v) FROM t", FROM, TO, 0)


# --- $__conditionalAll ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "$__all", ["$__all"], [], [""], ["a", "$__all"]])
def test_conditional_all_with_all_selected(value: VariableValue) -> None:
    assert run("WHERE $__conditionalAll(svc IN (${svc:singlequote}), $svc)", variables={"svc": value}) == "WHERE 1=1"


def test_conditional_all_with_one_value() -> None:
    assert run("WHERE $__conditionalAll(svc = ${svc:singlequote}, $svc)", variables={"svc": "pay"}) == (
        "WHERE svc = 'pay'"
    )


def test_conditional_all_with_several_values() -> None:
    variables: dict[str, VariableValue] = {"svc": ["pay", "it's"]}
    assert run("WHERE $__conditionalAll(svc IN ($svc), ${svc})", variables=variables) == (
        "WHERE svc IN ('pay','it\\'s')"
    )


def test_conditional_all_keeps_expression_verbatim() -> None:
    assert apply_conditional_all("$__conditionalAll( f(a, b) = 1 ,$v)", {"v": "x"}) == " f(a, b) = 1 "


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("$__conditionalAll(x, ${v})", "1=1"),
        ("$__conditionalAll(x, $v)", "1=1"),
        ("$__conditionalAll(x, 'y' || $v)", "1=1"),
        ("$__conditionalAll(x, ${v:csv})", "x"),  # the plugin's variable regex misses ${v:fmt}
        ("$__conditionalAll(x, $unknown)", "x"),
        ("$__conditionalAll(x, no variable)", "x"),
        ("$__conditionalAll(x, $v) AND $__conditionalAll(y, $v)", "1=1 AND 1=1"),
        (
            "$__conditionalAll(x, $v) AND $__conditionalAll(a, b, $v)",
            "$__conditionalAll(x, $v) AND $__conditionalAll(a, b, $v)",
        ),
        ("$__conditionalAll(x, $v", "$__conditionalAll(x, $v"),
        ("$__conditionalAll(x)", "$__conditionalAll(x)"),
        ("$__conditionAll(x, $v)", "$__conditionAll(x, $v)"),
    ],
)
def test_conditional_all_argument_handling(sql: str, expected: str) -> None:
    assert apply_conditional_all(sql, {"v": "$__all"}) == expected


def test_unresolved_conditional_all_reaches_the_backend_verbatim() -> None:
    assert run("WHERE $__conditionalAll(x)") == "WHERE $__conditionalAll(x)"


def test_conditional_all_uses_javascript_replacement_patterns() -> None:
    assert apply_conditional_all("$__conditionalAll(x = '$$', $v)", {"v": "a"}) == "x = '$'"
    assert apply_conditional_all("A $__conditionalAll($`|$', $v) B", {"v": "a"}) == "A A | B B"
    assert apply_conditional_all("$__conditionalAll($1 $< $x, $v)", {"v": "a"}) == "$1 $< $x"


def test_conditional_all_that_would_never_finish_is_an_error() -> None:
    with pytest.raises(MacroError, match=r"\$__conditionalAll never finishes"):
        apply_conditional_all("$__conditionalAll($&, $v)", {"v": "a"})


# --- template variables --------------------------------------------------------------------------


def test_variable_forms_and_default_format() -> None:
    variables: dict[str, VariableValue] = {"v": "1", "v2": "2", "m": ["a", "b"]}
    assert run("$v ${v} $v2 ${v2} $m ${m} $vv ${other}", variables=variables) == "1 1 2 2 'a','b' 'a','b' $vv ${other}"


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("singlequote", "a", "'a'"),
        ("singlequote", ["a", "b"], "'a','b'"),
        ("singlequote", [], ""),
        ("singlequote", "it's", "'it\\'s'"),
        ("sqlstring", "it's", "'it''s'"),
        ("sqlstring", ["a", "b'c"], "'a','b''c'"),
        ("csv", "a,b", "a,b"),
        ("csv", ["a", "b"], "a,b"),
    ],
)
def test_variable_formats(fmt: str, value: VariableValue, expected: str) -> None:
    assert run(f"x = ${{v:{fmt}}}", variables={"v": value}) == f"x = {expected}"


def test_unknown_format_is_an_error_for_known_variables_only() -> None:
    with pytest.raises(MacroError, match=r"unsupported variable format 'pipe' in \$\{v:pipe\}"):
        run("${v:pipe}", variables={"v": "a"})
    assert run("${w:pipe}", variables={"v": "a"}) == "${w:pipe}"


def test_variable_set_to_all_outside_conditional_all_is_an_error() -> None:
    with pytest.raises(MacroError, match=r"variable \$svc is set to All"):
        run("WHERE svc IN ($svc)", variables={"svc": ["$__all"]})


def test_variable_values_must_be_strings() -> None:
    with pytest.raises(TypeError, match="variable 'n'"):
        run("$n", variables={"n": 5})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="variable 'n'"):
        run("$n", variables={"n": ["a", 1]})  # type: ignore[list-item]


def test_reserved_placeholder_characters_are_rejected() -> None:
    with pytest.raises(MacroError, match="U\\+E000"):
        run("SELECT '\ue000'")
    with pytest.raises(MacroError, match="U\\+E000"):
        run("$v", variables={"v": "\ue0000\ue001"})


def test_variables_are_substituted_before_backend_macros() -> None:
    assert run("$__timeFilter($col)", variables={"col": "ts"}) == f"ts >= toDateTime({FS}) AND ts <= toDateTime({TS})"
    assert run("$__timeGroup(ts, $step)", variables={"step": "1m"}).endswith("INTERVAL 60 second)")
    assert run("$__timeGroup(ts, ${step:singlequote})", variables={"step": "1m"}).endswith("INTERVAL 60 second)")
    # A raw value is SQL, macros included, exactly as in Grafana.
    assert run("SELECT $expr", variables={"expr": "$__fromTime"}) == f"SELECT toDateTime({FS})"


# --- quoting against injection -------------------------------------------------------------------

NASTY = [
    "plain",
    "it's",
    "' OR 1=1 --",
    "\\",
    "a\\",
    "\\'",
    "''",
    "\\\\'; DROP TABLE reports; --",
    "$__fromTime",
    "$__dateFilter(x)",
    "$__timeFilter(')",
    "-- comment",
    "/* open",
    "line\nbreak -- tail",
    "$doc$x$doc$",
    "`tick`",
    '"dq"',
    "诈骗",
    "${v}",
    "$v",
]


def read_literal(sql: str, pos: int) -> tuple[str, int]:
    """Decode the ClickHouse string literal opening at `pos`; return its value and its end."""
    assert sql[pos] == "'", sql
    chars: list[str] = []
    i = pos + 1
    while True:
        c = sql[i]
        if c == "\\":
            assert sql[i + 1] in "\\'", f"unexpected escape in {sql!r}"
            chars.append(sql[i + 1])
            i += 2
        elif c == "'" and sql.startswith("''", i):
            chars.append("'")
            i += 2
        elif c == "'":
            return "".join(chars), i + 1
        else:
            chars.append(c)
            i += 1


@pytest.mark.parametrize("fmt", ["singlequote", "sqlstring"])
@pytest.mark.parametrize("value", NASTY)
def test_quoted_value_is_exactly_one_literal(fmt: str, value: str) -> None:
    out = run(f"SELECT ${{v:{fmt}}} AS x", variables={"v": value})
    decoded, end = read_literal(out, len("SELECT "))
    assert (decoded, out[end:]) == (value, " AS x")


@pytest.mark.parametrize("fmt", ["singlequote", "sqlstring", ""])
def test_quoted_list_is_one_literal_per_value(fmt: str) -> None:
    reference = "${v}" if not fmt else f"${{v:{fmt}}}"
    out = run(f"x IN ({reference})", variables={"v": NASTY})
    values = []
    pos = len("x IN (")
    while True:
        value, pos = read_literal(out, pos)
        values.append(value)
        if out[pos] == ")":
            break
        assert out[pos] == ","
        pos += 1
    assert values == NASTY
    assert out[pos:] == ")"


@pytest.mark.parametrize("value", NASTY)
def test_quoted_value_inside_a_macro_argument_stays_one_literal(value: str) -> None:
    out = run("$__timeFilter(${v:singlequote}) AND y = ')'", variables={"v": value})
    literal, end = read_literal(out, 0)
    assert literal == value
    assert out[end:] == f" >= toDateTime({FS}) AND {out[:end]} <= toDateTime({TS}) AND y = ')'"


def test_backslashes_are_doubled_unlike_grafana() -> None:
    # Grafana leaves backslashes alone, so its `'x\'` would leave the literal open in ClickHouse.
    assert run("${a:singlequote} ${b:sqlstring}", variables={"a": "x\\", "b": "y\\"}) == "'x\\\\' 'y\\\\'"
