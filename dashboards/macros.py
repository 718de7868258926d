"""Grafana ClickHouse data source SQL macros, expanded offline as a pure function.

The fraudwatch dashboards are written for Grafana's official ClickHouse data source
(grafana/clickhouse-datasource at 1d04063a, backend engine grafana/macropro v1.0.1). `expand()`
turns a panel's raw SQL into the SQL that the plugin would send to ClickHouse for a given time
range, panel interval and set of dashboard variable values, so that panel queries can be tested
and run without a Grafana server. The stages run in Grafana's own order:

1. `$__conditionalAll(expr, $var)`: the plugin's browser-side macro (`apply_conditional_all`).
2. Dashboard variables, as Grafana's template service substitutes them (see below).
3. The backend statement pre-pass: `$__columns`, `$__rateColumns`, `$__perSecondColumns`,
   `$__increaseColumns`, `$__lttb` (`expand_statement_macros`).
4. The backend expression macros, through macropro's scanner: comments blanked to spaces, one
   left-to-right scan, nested macros innermost first, unknown `$__name` tokens copied verbatim.
   `$__fromTime`, `$__toTime`, `$__fromTime_ms`, `$__toTime_ms`, `$__timeFilter`,
   `$__timeFilter_ms`, `$__dateFilter`, `$__dateTimeFilter`, `$__dt`, `$__timeFrom`, `$__timeTo`,
   `$__timeInterval`, `$__timeInterval_ms`, `$__interval`, `$__interval_ms`, `$__interval_s`,
   `$__timeGroup`, `$__table`, `$__column`.

Variables: `$name`, `${name}` and `${name:FORMAT}` with FORMAT one of `singlequote`, `sqlstring`
or `csv`; any other format raises `MacroError`. A variable value is a string (single value) or a
sequence of strings (multi-value). Without a format, a string goes in raw and a sequence becomes
`'a','b'` (the plugin's own default format). `csv` joins a sequence with commas, raw.
`singlequote` gives `'a','b'` with `\\'` escapes and `sqlstring` gives `'a','b'` with `''`.
Names not in `variables` are left as they are, as Grafana does; `[[name]]` and `${name.path}` are
not supported and stay verbatim. A variable whose value is "All" (`$__all`) can only be used
through `$__conditionalAll`, because the variable's option list is unknown here.

Where this deliberately differs from Grafana, in order to keep the quoted formats injection-proof:

* Backslashes are doubled in every quoted value (Grafana leaves them, so a value ending in `\\`
  escapes the closing quote in ClickHouse). Quotes are escaped in the default multi-value format
  too (Grafana leaves them bare).
* Quoted values are opaque to the later stages: macros inside them are not expanded, and their
  quotes cannot confuse macropro's argument splitter, which does not know backslash escapes.
  (In Grafana, `${v:singlequote}` with the value `$__dateFilter(x)` expands inside the literal,
  and the quotes that the expansion emits break the literal apart.)
* Grafana global variables that only the browser knows (`$__from`, `$__to`, `$__range`, ...)
  and `$__adHocFilters` raise `MacroError`, rather than reaching ClickHouse verbatim, unless
  `variables` supplies them (for example `{"__from": "1700000000000"}`).

Raw values (no format, or `csv`) are pasted in as they are, exactly as in Grafana: use them only
for values the dashboard controls, never for free-text input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

__all__ = ["MacroError", "VariableValue", "apply_conditional_all", "expand", "expand_statement_macros"]

VariableValue: TypeAlias = str | Sequence[str]


class MacroError(ValueError):
    """A macro or variable in the query cannot be expanded; the message names it."""


def expand(
    sql: str,
    time_from: datetime,
    time_to: datetime,
    interval_ms: int,
    variables: Mapping[str, VariableValue] | None = None,
    *,
    table: str | None = None,
    column: str | None = None,
) -> str:
    """Return `sql` as Grafana's ClickHouse data source would send it to ClickHouse.

    `time_from`/`time_to` must be timezone-aware; `$__dateFilter` formats dates in their own
    zone, as the plugin does with its Go time values (pass UTC to match a UTC Grafana server).
    `interval_ms` is the panel interval. `variables` maps dashboard variable names to their
    current values. `table`/`column` are the query's `$__table`/`$__column` context.
    Raises `MacroError` for anything the plugin would reject or that cannot be expanded here.
    """
    query = _query(time_from, time_to, interval_ms, table, column)
    values = _check_variables(variables)
    text = apply_conditional_all(sql, values)
    if _OPEN in text or _CLOSE in text:
        raise MacroError("the query contains U+E000/U+E001, which expand() reserves for quoted variable values")
    text, literals = _substitute_variables(text, values)
    query = replace(query, literals=literals)
    try:
        return query.restore(_interpolate(text, query))
    except MacroError as err:
        readable = query.restore(str(err))
        if readable == str(err):
            raise
        raise MacroError(readable) from None


def apply_conditional_all(sql: str, variables: Mapping[str, VariableValue]) -> str:
    """Apply the plugin's browser-side `$__conditionalAll(expr, $var)` to `sql`.

    The result is `1=1` when `$var` is set to All (`$__all`, `''`, an empty list or a list
    holding `$__all`), and `expr` verbatim otherwise, including for unknown variables.
    """
    if not sql:
        return sql
    # Grafana's loop reruns `lastIndexOf` after every replacement, and JavaScript replacement
    # patterns in `expr` (`$&`, `$'`, ...) can re-create the macro so that the browser never
    # stops. Without such patterns every pass shortens the text, so these bounds never trip.
    passes_left = len(sql) + 1
    longest = 16 * len(sql) + 65536
    index = sql.rfind(_CONDITIONAL_ALL)
    while index != -1:
        params = _frontend_macro_args(sql, index + len(_CONDITIONAL_ALL) - 1)
        if len(params) != 2:
            return sql
        phrase = params[0]
        found = _TEMPLATE_VAR_IN_ARG.search(params[1])
        if found is not None and found[0] in variables and _is_all(variables[found[0]]):
            phrase = "1=1"
        needle = f"{_CONDITIONAL_ALL}{params[0]},{params[1]})"
        at = sql.find(needle)
        before, after = sql[:at], sql[at + len(needle) :]
        sql = before + _js_replacement(phrase, needle, before, after) + after
        passes_left -= 1
        if passes_left < 0 or len(sql) > longest:
            raise MacroError(
                "$__conditionalAll never finishes: a JavaScript replacement pattern ($&, $`, $') in its first "
                "argument re-creates the macro, which would hang Grafana's frontend"
            )
        index = sql.rfind(_CONDITIONAL_ALL)
    return sql


def expand_statement_macros(sql: str, time_from: datetime, time_to: datetime, interval_ms: int) -> str:
    """Run only the backend statement pre-pass ($__columns, $__lttb, ...) on `sql`.

    The result still holds the `$__timeInterval`/`$__timeFilter` calls that the pre-pass emits;
    `expand()` expands them afterwards.
    """
    return _expand_statement_macros(sql, _query(time_from, time_to, interval_ms, None, None))


# --- query context -------------------------------------------------------------------------------

# Quoted variable values cross the backend stages as placeholders built from these private-use
# characters, so that no stage can expand macros inside a value or re-split it at its quotes.
_OPEN = "\ue000"
_CLOSE = "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}([0-9]+){_CLOSE}")


@dataclass(frozen=True)
class _Query:
    time_from: datetime
    time_to: datetime
    interval_ms: int
    table: str
    column: str
    literals: tuple[str, ...] = ()

    def restore(self, text: str) -> str:
        """Put the quoted variable values back in place of their placeholders."""
        if _OPEN not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self.literals[int(m[1])], text)


def _query(time_from: datetime, time_to: datetime, interval_ms: int, table: str | None, column: str | None) -> _Query:
    for name, value in (("time_from", time_from), ("time_to", time_to)):
        if not isinstance(value, datetime):
            raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
        # A naive datetime would be read in the machine's local zone, making the output depend on
        # where the code runs.
        if value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    if not isinstance(interval_ms, int) or isinstance(interval_ms, bool):
        raise TypeError(f"interval_ms must be an int, got {type(interval_ms).__name__}")
    if interval_ms < 0:
        raise ValueError(f"interval_ms must not be negative, got {interval_ms}")
    return _Query(time_from, time_to, interval_ms, table or "", column or "")


def _check_variables(variables: Mapping[str, VariableValue] | None) -> Mapping[str, VariableValue]:
    if variables is None:
        return {}
    for name, value in variables.items():
        if isinstance(value, str):
            continue
        if not isinstance(value, Sequence) or not all(isinstance(item, str) for item in value):
            raise TypeError(f"variable {name!r} must be a string or a sequence of strings, got {value!r}")
    return variables


# --- frontend: $__conditionalAll -----------------------------------------------------------------

_CONDITIONAL_ALL = "$__conditionalAll("
# The plugin's `(?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+`, unanchored; JavaScript's \w is ASCII.
_TEMPLATE_VAR_IN_ARG = re.compile(r"(?<=\$\{)\w+(?=\})|(?<=\$)\w+", re.ASCII)
_ALL = "$__all"


def _is_all(value: VariableValue) -> bool:
    # Grafana compares `value.toString()`, and an array's toString joins it with commas.
    joined = value if isinstance(value, str) else ",".join(value)
    return joined in ("", _ALL) or (not isinstance(value, str) and _ALL in value)


def _frontend_macro_args(query: str, open_paren: int) -> list[str]:
    """The plugin's getMacroArgs: split on depth-1 commas, quotes ignored, [] if unclosed."""
    args: list[str] = []
    depth = 0
    last = open_paren + 1
    for i in range(open_paren, len(query)):
        c = query[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c != ",":
            continue
        if c == "," and depth == 1:
            args.append(query[last:i])
            last = i + 1
        if depth == 0:
            args.append(query[last:i])
            return args
    return []


def _js_replacement(replacement: str, matched: str, before: str, after: str) -> str:
    """Expand `String.prototype.replace` patterns for a string (capture-less) pattern."""
    if "$" not in replacement:
        return replacement
    specials = {"$": "$", "&": matched, "`": before, "'": after}
    out: list[str] = []
    i = 0
    while i < len(replacement):
        if replacement[i] == "$" and i + 1 < len(replacement) and replacement[i + 1] in specials:
            out.append(specials[replacement[i + 1]])
            i += 2
        else:
            out.append(replacement[i])
            i += 1
    return "".join(out)


# --- frontend: template variables ----------------------------------------------------------------

_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::([^}]+))?\}", re.ASCII)
_FORMATS = ("csv", "singlequote", "sqlstring")


def _backslash_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _doubled_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")


def _substitute_variables(text: str, variables: Mapping[str, VariableValue]) -> tuple[str, tuple[str, ...]]:
    """Substitute variables; quoted values become placeholders, returned alongside."""
    literals: list[str] = []

    def quoted(values: Sequence[str], escape: Callable[[str], str]) -> str:
        parts = []
        for value in values:
            parts.append(f"{_OPEN}{len(literals)}{_CLOSE}")
            literals.append(f"'{escape(value)}'")
        return ",".join(parts)

    def substitute(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        fmt = match[3]
        if name not in variables:
            return match[0]
        value = variables[name]
        values = [_unreserved(name, v) for v in ([value] if isinstance(value, str) else value)]
        if _ALL in values:
            raise MacroError(
                f"variable ${name} is set to All ($__all), whose values expand() does not know; "
                f"wrap the condition in $__conditionalAll(..., ${name}) or pass the selected values"
            )
        if fmt is None:
            return values[0] if isinstance(value, str) else quoted(values, _backslash_quoted)
        if fmt == "singlequote":
            return quoted(values, _backslash_quoted)
        if fmt == "sqlstring":
            return quoted(values, _doubled_quoted)
        if fmt == "csv":
            return ",".join(values)
        raise MacroError(f"unsupported variable format {fmt!r} in {match[0]}; supported: {', '.join(_FORMATS)}")

    return _VARIABLE.sub(substitute, text), tuple(literals)


def _unreserved(name: str, value: str) -> str:
    if _OPEN in value or _CLOSE in value:
        raise MacroError(f"variable ${name} contains U+E000/U+E001, which expand() reserves")
    return value


# --- backend: shared scanning helpers ------------------------------------------------------------

_PREFIX = "$__"
# Go's strings.TrimSpace (unicode.IsSpace); str.strip() also trims U+001C..U+001F.
_GO_SPACE = " \t\n\v\f\r\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def _trim(s: str) -> str:
    return s.strip(_GO_SPACE)


def _is_name_char(c: str) -> bool:
    return c == "_" or "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9"


def _scan_literal(s: str, pos: int) -> int:
    """End of the quoted region opening at `pos`; a doubled quote continues it."""
    quote = s[pos]
    j = pos + 1
    while j < len(s):
        if s[j] == quote:
            if j + 1 < len(s) and s[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _scan_literal_backslash(s: str, pos: int) -> int:
    """As `_scan_literal`, but a backslash also escapes the next character (ClickHouse)."""
    quote = s[pos]
    j = pos + 1
    while j < len(s):
        if s[j] == "\\" and j + 1 < len(s):
            j += 2
        elif s[j] == quote:
            if j + 1 < len(s) and s[j + 1] == quote:
                j += 2
                continue
            return j + 1
        else:
            j += 1
    return j


def _dollar_quote_end(s: str, pos: int) -> int:
    """End of a `$tag$...$tag$` region opening at `pos`, or -1."""
    j = pos + 1
    while j < len(s) and s[j] != "$":
        if not _is_name_char(s[j]):
            return -1
        j += 1
    if j >= len(s):
        return -1
    tag = s[pos : j + 1]
    close = s.find(tag, j + 1)
    return -1 if close < 0 else close + len(tag)


def _utf8_len(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


def _strip_comments(query: str) -> str:
    """Blank `--` and `/* */` comments to spaces, skipping quoted and dollar-quoted regions.

    Go blanks one space per byte, so multi-byte characters in a comment become several spaces.
    """
    out: list[str] = []
    i = 0
    n = len(query)
    while i < n:
        c = query[i]
        comment_end = -1
        if c in "'\"":
            j = _scan_literal_backslash(query, i)
        elif c == "`":
            j = _scan_literal(query, i)
        elif c == "$":
            j = max(_dollar_quote_end(query, i), i + 1)
        elif c == "-" and query.startswith("-", i + 1):
            comment_end = i
            while comment_end < n and query[comment_end] not in "\r\n":
                comment_end += 1
        elif c == "/" and query.startswith("*", i + 1):
            close = query.find("*/", i + 2)
            comment_end = n if close < 0 else close + 2
        else:
            j = i + 1
        if comment_end >= 0:
            out.append(" " * _utf8_len(query[i:comment_end]))
            i = comment_end
        else:
            out.append(query[i:j])
            i = j
    return "".join(out)


# --- backend: time and interval formatting -------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000
_INT64_MAX = (1 << 63) - 1


def _unix_seconds(t: datetime) -> int:
    delta = t - _EPOCH
    return delta.days * 86400 + delta.seconds


def _unix_millis(t: datetime) -> int:
    return _unix_seconds(t) * 1000 + (t - _EPOCH).microseconds // 1000


def _to_date_time(t: datetime) -> str:
    return f"toDateTime({_unix_seconds(t)})"


def _to_date_time64(t: datetime) -> str:
    return f"fromUnixTimestamp64Milli({_unix_millis(t)})"


def _to_date(t: datetime) -> str:
    # strftime("%Y") does not zero-pad years before 1000 on every platform; Go does.
    return f"toDate('{t.year:04d}-{t.month:02d}-{t.day:02d}')"


def _go_seconds(ns: int) -> float:
    """Go's Duration.Seconds(): whole seconds plus the remainder, each converted separately."""
    whole = abs(ns) // _NS_PER_S * (1 if ns >= 0 else -1)
    return float(whole) + float(ns - whole * _NS_PER_S) / 1e9


def _go_sub(t: datetime, u: datetime) -> int:
    """Go's Time.Sub in nanoseconds, which saturates at the int64 range."""
    delta: timedelta = t - u
    ns = ((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1000
    return max(-_INT64_MAX - 1, min(_INT64_MAX, ns))


def _interval_seconds(q: _Query) -> int:
    return int(max(_go_seconds(q.interval_ms * 1_000_000), 1.0))


def _format_interval(interval_ms: int) -> str:
    ms = abs(interval_ms)
    if ms == 0:
        return "0s"
    for unit_ms, suffix in ((3_600_000, "h"), (60_000, "m"), (1000, "s")):
        if ms % unit_ms == 0:
            return f"{ms // unit_ms}{suffix}"
    return f"{ms}ms"


_DURATION_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 1_000_000,
    "s": _NS_PER_S,
    "m": 60 * _NS_PER_S,
    "h": 3600 * _NS_PER_S,
}
_UINT_LIMIT = 1 << 63


class _DurationError(Exception):
    pass


def _go_time_quote(s: str) -> str:
    """The time package's quote(): ASCII kept, everything else as \\x escapes of its UTF-8 bytes."""
    out = ['"']
    for c in s:
        if " " <= c < "\x80":
            out.append("\\" + c if c in '"\\' else c)
        else:
            out.extend(f"\\x{b:02x}" for b in c.encode("utf-8", "surrogatepass"))
    out.append('"')
    return "".join(out)


def _go_quote(s: str) -> str:
    """strconv.Quote, as used by Go's %q verb."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = ['"']
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c in named:
            out.append(named[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


def _leading_digits(s: str) -> int:
    i = 0
    while i < len(s) and "0" <= s[i] <= "9":
        i += 1
    return i


def _parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds, with its error messages and overflow checks."""
    invalid = _DurationError("time: invalid duration " + _go_time_quote(text))
    s = text
    negative = False
    if s and s[0] in "+-":
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        digits = _leading_digits(s)
        whole = 0
        for c in s[:digits]:
            if whole > _UINT_LIMIT // 10:
                raise invalid
            whole = whole * 10 + int(c)
            if whole > _UINT_LIMIT:
                raise invalid
        seen_whole = digits > 0
        s = s[digits:]
        fraction, scale, seen_fraction = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            digits = _leading_digits(s)
            seen_fraction = digits > 0
            for c in s[:digits]:
                # Past int64 precision Go stops accumulating digits instead of failing.
                if fraction > (_UINT_LIMIT - 1) // 10 or fraction * 10 + int(c) > _UINT_LIMIT:
                    break
                fraction = fraction * 10 + int(c)
                scale *= 10
            s = s[digits:]
        if not seen_whole and not seen_fraction:
            raise invalid
        end = 0
        while end < len(s) and not (s[end] == "." or "0" <= s[end] <= "9"):
            end += 1
        if end == 0:
            raise _DurationError("time: missing unit in duration " + _go_time_quote(text))
        unit_name, s = s[:end], s[end:]
        unit = _DURATION_UNITS.get(unit_name)
        if unit is None:
            raise _DurationError(f"time: unknown unit {_go_time_quote(unit_name)} in duration {_go_time_quote(text)}")
        if whole > _UINT_LIMIT // unit:
            raise invalid
        whole *= unit
        if fraction > 0:
            # Go uses float64 here, which is what keeps fractions of an hour nanosecond-exact.
            whole += int(float(fraction) * (float(unit) / scale))
            if whole > _UINT_LIMIT:
                raise invalid
        total += whole
        if total > _UINT_LIMIT:
            raise invalid
    if negative:
        return -total
    if total > _INT64_MAX:
        raise invalid
    return total


def _round_seconds(ns: int) -> int:
    """math.Round(d.Seconds()): half away from zero."""
    magnitude = (abs(ns) + _NS_PER_S // 2) // _NS_PER_S
    return magnitude if ns >= 0 else -magnitude


# --- backend: expression macros (macropro) -------------------------------------------------------

_Handler = Callable[[_Query, list[str]], str]
_MAX_NESTING = 128


def _arity(name: str, expected: int, args: list[str]) -> None:
    if len(args) != expected:
        raise MacroError(
            f"unexpected number of arguments: $__{name} expected {expected} argument(s), received {len(args)}"
        )


def _time_filter(q: _Query, args: list[str]) -> str:
    _arity("timeFilter", 1, args)
    c = args[0]
    return f"{c} >= {_to_date_time(q.time_from)} AND {c} <= {_to_date_time(q.time_to)}"


def _time_filter_ms(q: _Query, args: list[str]) -> str:
    _arity("timeFilter_ms", 1, args)
    c = args[0]
    return f"{c} >= {_to_date_time64(q.time_from)} AND {c} <= {_to_date_time64(q.time_to)}"


def _date_filter(q: _Query, args: list[str]) -> str:
    _arity("dateFilter", 1, args)
    c = args[0]
    return f"{c} >= {_to_date(q.time_from)} AND {c} <= {_to_date(q.time_to)}"


def _date_time_filter(q: _Query, args: list[str]) -> str:
    # One handler serves both $__dateTimeFilter and $__dt, so its message names the long form.
    _arity("dateTimeFilter", 2, args)
    d, t = args
    dates = f"({d} >= {_to_date(q.time_from)} AND {d} <= {_to_date(q.time_to)})"
    times = f"({t} >= {_to_date_time(q.time_from)} AND {t} <= {_to_date_time(q.time_to)})"
    return f"{dates} AND {times}"


def _time_from(q: _Query, args: list[str]) -> str:
    _arity("timeFrom", 1, args)
    return f"{args[0]} >= {_to_date_time(q.time_from)}"


def _time_to(q: _Query, args: list[str]) -> str:
    _arity("timeTo", 1, args)
    return f"{args[0]} <= {_to_date_time(q.time_to)}"


def _time_interval(q: _Query, args: list[str]) -> str:
    _arity("timeInterval", 1, args)
    return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {_interval_seconds(q)} second)"


def _time_interval_ms(q: _Query, args: list[str]) -> str:
    _arity("timeInterval_ms", 1, args)
    return f"toStartOfInterval(toDateTime64({args[0]}, 3), INTERVAL {max(q.interval_ms, 1)} millisecond)"


def _time_group(q: _Query, args: list[str]) -> str:
    _arity("timeGroup", 2, args)
    column = _trim(args[0])
    interval = _trim(args[1]).strip("'\"")
    try:
        seconds = _round_seconds(_parse_go_duration(interval))
    except _DurationError as err:
        raise MacroError(f"$__timeGroup: invalid interval {_go_quote(interval)}: {err}") from None
    if seconds <= 0:
        raise MacroError(f"$__timeGroup: interval must be positive, got {_go_quote(interval)}")
    return f"toStartOfInterval(toDateTime({column}), INTERVAL {seconds} second)"


def _table(q: _Query, _args: list[str]) -> str:
    if not q.table:
        raise MacroError("$__table: no table name in query context")
    return q.table


def _column(q: _Query, _args: list[str]) -> str:
    if not q.column:
        raise MacroError("$__column: no column name in query context")
    return q.column


_HANDLERS: dict[str, _Handler] = {
    "fromTime": lambda q, _: _to_date_time(q.time_from),
    "toTime": lambda q, _: _to_date_time(q.time_to),
    "fromTime_ms": lambda q, _: _to_date_time64(q.time_from),
    "toTime_ms": lambda q, _: _to_date_time64(q.time_to),
    "timeFilter": _time_filter,
    "timeFilter_ms": _time_filter_ms,
    "dateFilter": _date_filter,
    "dateTimeFilter": _date_time_filter,
    "dt": _date_time_filter,
    "timeFrom": _time_from,
    "timeTo": _time_to,
    "timeInterval": _time_interval,
    "timeInterval_ms": _time_interval_ms,
    "interval_s": lambda q, _: str(_interval_seconds(q)),
    "interval": lambda q, _: _format_interval(q.interval_ms),
    "interval_ms": lambda q, _: str(q.interval_ms),
    "timeGroup": _time_group,
    "table": _table,
    "column": _column,
}

# Names that Grafana's browser side resolves. Reaching the backend unresolved, they would be sent
# to ClickHouse verbatim and fail there with a confusing syntax error.
_FRONTEND_ONLY = {
    "adHocFilters": "ad hoc filters are applied by Grafana's frontend, which expand() does not model",
    **{
        name: f'it is a Grafana global variable; pass its value in variables as "__{name}"'
        for name in (
            "from",
            "to",
            "range",
            "range_s",
            "range_ms",
            "rate_interval",
            "rate_interval_ms",
            "timezone",
            "dashboard",
            "org",
            "user",
        )
    },
}


def _find_closing_paren(s: str, open_paren: int) -> int:
    depth = 0
    i = open_paren
    while i < len(s):
        c = s[i]
        if c in "'\"":
            i = _scan_literal(s, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _parse_args(raw: str) -> list[str]:
    raw = _trim(raw)
    if not raw:
        return []
    args: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(raw):
        c = raw[i]
        if c in "'\"":
            i = _scan_literal(raw, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                raise MacroError(f"unexpected ')' at position {i}")
            depth -= 1
        elif c == "," and depth == 0:
            args.append(_trim(raw[start:i]))
            start = i + 1
        i += 1
    if depth != 0:
        raise MacroError("unbalanced parentheses in arguments")
    args.append(_trim(raw[start:]))
    return args


def _expand_macros(work: str, q: _Query, depth: int) -> str:
    """macropro's single forward scan over comment-stripped text."""
    if depth > _MAX_NESTING:
        raise MacroError(f"macro nesting exceeds {_MAX_NESTING} levels")
    out: list[str] = []
    i = 0
    n = len(work)
    while i < n:
        at = work.find(_PREFIX, i)
        if at < 0:
            out.append(work[i:])
            break
        out.append(work[i:at])
        name_start = name_end = at + len(_PREFIX)
        while name_end < n and _is_name_char(work[name_end]):
            name_end += 1
        name = work[name_start:name_end]
        if name in _FRONTEND_ONLY:
            raise MacroError(f"$__{name} is not supported by expand(): {_FRONTEND_ONLY[name]}")
        handler = _HANDLERS.get(name)
        if handler is None:
            # Unknown macro (or a bare prefix): keep it and keep scanning inside its arguments.
            out.append(work[at:name_end])
            i = name_end
            continue
        raw = ""
        after = name_end
        if after < n and work[after] == "(":
            close = _find_closing_paren(work, after)
            # Unbalanced parentheses make it a call without arguments, and the "(" stays as text.
            if close >= 0:
                raw = work[after + 1 : close]
                after = close + 1
        try:
            args = _parse_args(raw)
        except MacroError as err:
            raise MacroError(f"macro $__{name}: {err}") from None
        for position, arg in enumerate(args):
            if _PREFIX in arg:
                try:
                    args[position] = _expand_macros(arg, q, depth + 1)
                except MacroError as err:
                    raise MacroError(f"macro $__{name} argument {position + 1}: {err}") from None
        # Handlers see the real quoted values: $__timeGroup strips the quotes off its interval.
        args = [q.restore(arg) for arg in args]
        try:
            out.append(handler(q, args))
        except MacroError as err:
            raise MacroError(f"macro $__{name}({', '.join(args)}): {err}") from None
        i = after
    return "".join(out)


def _interpolate(sql: str, q: _Query) -> str:
    """The plugin's macros.Interpolate: statement pre-pass, then macropro."""
    text = _expand_statement_macros(sql, q)
    if _PREFIX not in text:
        return text
    work = _strip_comments(text)
    if _PREFIX not in work:
        return work
    return _expand_macros(work, q, 0)


# --- backend: statement macros (pkg/macros/statement.go) -----------------------------------------

_STATEMENT_TIME_DELTA = "t - lagInFrame(t, 1, t) OVER w"
_BARE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAIL_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("WHERE", ("WHERE",)),
    ("GROUP BY", ("GROUP", "BY")),
    ("HAVING", ("HAVING",)),
    ("ORDER BY", ("ORDER", "BY")),
    ("LIMIT", ("LIMIT",)),
    ("SETTINGS", ("SETTINGS",)),
)


@dataclass(frozen=True)
class _StatementMatch:
    name: str
    start: int
    args_start: int
    args_end: int


@dataclass
class _Tail:
    source: str = ""
    where: str = ""
    group_by: str = ""
    having: str = ""
    order_by: str = ""
    limit: str = ""
    settings: str = ""


def _bad_statement_args(name: str, received: int) -> MacroError:
    return MacroError(f"unexpected number of arguments: $__{name} expected 3 argument(s), received {received}")


def _expand_statement_macros(raw: str, q: _Query) -> str:
    if _PREFIX not in raw:
        return raw
    work = _strip_comments(raw)
    match = _find_statement_macro(work)
    if match is None:
        return raw
    if match.args_start < 0:
        raise _bad_statement_args(match.name, 0)
    try:
        args = _split_statement_args(work[match.args_start : match.args_end])
    except MacroError as err:
        raise MacroError(f"$__{match.name}: {err}") from None
    if len(args) != 3:
        raise _bad_statement_args(match.name, len(args))
    expanded = _STATEMENT_BUILDERS[match.name](q, args, work[match.args_end + 1 :])
    # The text before the macro keeps its comments. Go slices the original by the byte offset found
    # in the stripped copy, and comments were blanked byte for byte.
    prefix_bytes = _utf8_len(work[: match.start])
    prefix = raw.encode("utf-8", "surrogatepass")[:prefix_bytes].decode("utf-8", "surrogatepass")
    return prefix + expanded


def _scan_quoted(s: str, pos: int) -> int:
    return _scan_literal_backslash(s, pos)


def _find_statement_macro(work: str) -> _StatementMatch | None:
    found: _StatementMatch | None = None
    depth = 0
    i = 0
    while i < len(work):
        c = work[i]
        if c in "'\"`":
            i = _scan_quoted(work, i)
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            depth = max(depth - 1, 0)
            i += 1
        elif c == "$" and work.startswith(_PREFIX, i):
            name_start = name_end = i + len(_PREFIX)
            while name_end < len(work) and _is_name_char(work[name_end]):
                name_end += 1
            name = work[name_start:name_end]
            if name not in _STATEMENT_BUILDERS:
                i = name_end
                continue
            if depth > 0:
                raise MacroError(f"$__{name} must be at the top level of the query, not inside a subquery")
            if found is not None:
                raise MacroError(f"only one statement macro is allowed per query, found $__{found.name} and $__{name}")
            if name_end >= len(work) or work[name_end] != "(":
                found = _StatementMatch(name, i, -1, -1)
                i = name_end
                continue
            close = _match_paren(work, name_end)
            if close < 0:
                raise MacroError(f"$__{name}: unbalanced parentheses")
            found = _StatementMatch(name, i, name_end + 1, close)
            i = close + 1
        else:
            i += 1
    return found


def _match_paren(s: str, open_paren: int) -> int:
    depth = 0
    i = open_paren
    while i < len(s):
        c = s[i]
        if c in "'\"`":
            i = _scan_quoted(s, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _split_statement_args(raw: str) -> list[str]:
    raw = _trim(raw)
    if not raw:
        return []
    args: list[str] = []
    depth = 0
    start = 0
    i = 0
    while i < len(raw):
        c = raw[i]
        if c in "'\"`":
            i = _scan_quoted(raw, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                raise MacroError(f"unexpected ')' at position {i} in arguments")
            depth -= 1
        elif c == "," and depth == 0:
            args.append(_trim(raw[start:i]))
            start = i + 1
        i += 1
    args.append(_trim(raw[start:]))
    return args


def _match_words(s: str, pos: int, words: Sequence[str]) -> int:
    """Offset just past the keyword sequence at `pos`, or -1."""
    i = pos
    for index, word in enumerate(words):
        if index > 0:
            j = i
            while j < len(s) and s[j] in " \t\r\n":
                j += 1
            if j == i:
                return -1
            i = j
        chunk = s[i : i + len(word)]
        # Go compares len(word) bytes, so a non-ASCII character there can never match.
        if len(chunk) < len(word) or not chunk.isascii() or chunk.upper() != word:
            return -1
        i += len(word)
        if i < len(s) and _is_name_char(s[i]):
            return -1
    return i


def _top_level_words(s: str) -> list[int]:
    """Offsets at depth 0, outside quotes, where an identifier-like word may start."""
    offsets: list[int] = []
    depth = 0
    i = 0
    while i < len(s):
        c = s[i]
        if c in "'\"`":
            i = _scan_quoted(s, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and (i == 0 or not _is_name_char(s[i - 1])):
            offsets.append(i)
        i += 1
    return offsets


def _parse_tail(macro: str, tail: str) -> _Tail:
    tail = _trim(tail)
    tail = _trim(tail.removesuffix(";"))
    if _match_words(tail, 0, ("FROM",)) < 0:
        raise MacroError(f"{macro} must be followed by a FROM clause")
    starts = [-1] * len(_TAIL_KEYWORDS)
    ends = [-1] * len(_TAIL_KEYWORDS)
    skip_to = 0
    for i in _top_level_words(tail):
        # A matched keyword is consumed whole, so a word inside it ("BY") is not a new start.
        if i < skip_to:
            continue
        for k, (_, words) in enumerate(_TAIL_KEYWORDS):
            end = _match_words(tail, i, words)
            if end >= 0:
                if starts[k] == -1:
                    starts[k], ends[k] = i, end
                    skip_to = end
                break
    last, last_k = -1, -1
    for k, start in enumerate(starts):
        if start == -1:
            continue
        if start < last:
            raise MacroError(f"{macro}: {_TAIL_KEYWORDS[k][0]} must appear before {_TAIL_KEYWORDS[last_k][0]}")
        last, last_k = start, k

    def segment_end(k: int) -> int:
        return next((s for s in starts[k + 1 :] if s != -1), len(tail))

    present = [s for s in starts if s != -1]
    parsed = _Tail(source=_trim(tail[: min(present, default=len(tail))]))
    for k, start in enumerate(starts):
        if start == -1:
            continue
        segment = _trim(tail[start : segment_end(k)])
        keyword = _TAIL_KEYWORDS[k][0]
        if keyword == "WHERE":
            parsed.where = _trim(tail[ends[k] : segment_end(k)])
        elif keyword == "GROUP BY":
            parsed.group_by = segment
        elif keyword == "HAVING":
            parsed.having = segment
        elif keyword == "ORDER BY":
            parsed.order_by = segment
        elif keyword == "LIMIT":
            parsed.limit = segment
        else:
            parsed.settings = segment
    return parsed


def _split_alias(arg: str) -> tuple[str, str]:
    """Split a trailing top-level `AS alias`; the last top-level AS wins."""
    arg = _trim(arg)
    last_start = last_end = -1
    skip_to = 0
    for i in _top_level_words(arg):
        if i < skip_to:
            continue
        end = _match_words(arg, i, ("AS",))
        if end >= 0:
            last_start, last_end, skip_to = i, end, end
    if last_start <= 0:
        return arg, ""
    return _trim(arg[:last_start]), _trim(arg[last_end:])


def _where(time_expr: str, tail: _Tail) -> str:
    where = f"WHERE $__timeFilter({time_expr})"
    return f"{where} AND ({tail.where})" if tail.where else where


def _columns_family(
    macro: str, args: list[str], tail_text: str, windowed: bool, value_column: Callable[[str, str], str]
) -> str:
    time_column = args[0]
    key_expr, key_alias = _split_alias(args[1])
    key_alias = key_alias or "metric"
    value_expr, value_alias = _split_alias(args[2])
    value_alias = value_alias or "value"
    tail = _parse_tail(macro, tail_text)
    if tail.group_by:
        raise MacroError(f"{macro} generates its own GROUP BY, remove the GROUP BY clause from the query")
    parts = [
        f"SELECT $__timeInterval({time_column}) AS t, toString({key_expr}) AS {key_alias}, "
        + value_column(value_expr, value_alias),
        tail.source,
        _where(time_column, tail),
        f"GROUP BY t, {key_alias}",
    ]
    if tail.having:
        parts.append(tail.having)
    if windowed:
        parts.append(f"WINDOW w AS (PARTITION BY {key_alias} ORDER BY t ASC ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)")
    parts.append(tail.order_by or f"ORDER BY t, {key_alias}")
    parts.extend(clause for clause in (tail.limit, tail.settings) if clause)
    return " ".join(parts)


def _counter_change(expr: str) -> str:
    return f"max({expr}) - lagInFrame(max({expr}), 1, max({expr})) OVER w"


def _build_columns(_q: _Query, args: list[str], tail: str) -> str:
    return _columns_family("$__columns", args, tail, False, lambda expr, alias: f"{expr} AS {alias}")


def _build_rate_columns(_q: _Query, args: list[str], tail: str) -> str:
    dt = _STATEMENT_TIME_DELTA
    return _columns_family(
        "$__rateColumns", args, tail, True, lambda expr, alias: f"if(({dt}) = 0, nan, {expr} / ({dt})) AS {alias}"
    )


def _build_per_second_columns(_q: _Query, args: list[str], tail: str) -> str:
    dt = _STATEMENT_TIME_DELTA

    def value(expr: str, alias: str) -> str:
        delta = f"({_counter_change(expr)})"
        return f"if(({dt}) = 0 OR {delta} < 0, nan, {delta} / ({dt})) AS {alias}"

    return _columns_family("$__perSecondColumns", args, tail, True, value)


def _build_increase_columns(_q: _Query, args: list[str], tail: str) -> str:
    dt = _STATEMENT_TIME_DELTA

    def value(expr: str, alias: str) -> str:
        change = _counter_change(expr)
        return f"if(({dt}) = 0 OR ({change}) < 0, nan, toFloat64({change})) AS {alias}"

    return _columns_family("$__increaseColumns", args, tail, True, value)


def _lttb_buckets(arg: str, q: _Query) -> str:
    # Go's EqualFold: no non-ASCII character folds to a letter of "auto".
    if arg.isascii() and arg.lower() == "auto":
        interval = max(_go_seconds(q.interval_ms * 1_000_000), 1.0)
        return str(max(int(_go_seconds(_go_sub(q.time_to, q.time_from)) / interval), 1))
    if not re.fullmatch(r"[0-9]+", arg) or not arg.strip("0"):
        raise MacroError(f"$__lttb buckets must be a positive integer or 'auto', got {_go_quote(q.restore(arg))}")
    return arg


def _lttb_alias(expr: str, alias: str, fallback: str) -> str:
    if alias:
        return alias
    return expr if _BARE_IDENTIFIER.fullmatch(expr) else fallback


def _build_lttb(q: _Query, args: list[str], tail_text: str) -> str:
    buckets = _lttb_buckets(args[0], q)
    x_expr, x_alias = _split_alias(args[1])
    x_alias = _lttb_alias(x_expr, x_alias, "x")
    y_expr, y_alias = _split_alias(args[2])
    y_alias = _lttb_alias(y_expr, y_alias, "y")
    tail = _parse_tail("$__lttb", tail_text)
    where = _where(x_expr, tail)
    if tail.group_by:
        # lttb is itself an aggregate, so a GROUP BY is pre-aggregated in a subquery; its rows are
        # sorted by x because lttb buckets by input order.
        aggregated = [
            f"SELECT {_lttb_column(x_expr, x_alias)}, {_lttb_column(y_expr, y_alias)}",
            tail.source,
            where,
            tail.group_by,
        ]
        order_by = tail.order_by or f"ORDER BY {x_alias}"
        aggregated.extend(clause for clause in (tail.having, order_by, tail.limit, tail.settings) if clause)
        return (
            f"SELECT point.1 AS {x_alias}, point.2 AS {y_alias} FROM (SELECT arrayJoin(lttb({buckets})"
            f"({x_alias}, {y_alias})) AS point FROM ({' '.join(aggregated)})) ORDER BY {x_alias}"
        )
    inner = [f"SELECT arrayJoin(lttb({buckets})({args[1]}, {args[2]})) AS point", tail.source, where]
    inner.extend(clause for clause in (tail.having, tail.order_by, tail.limit, tail.settings) if clause)
    return f"SELECT point.1 AS {x_alias}, point.2 AS {y_alias} FROM ({' '.join(inner)}) ORDER BY {x_alias}"


def _lttb_column(expr: str, alias: str) -> str:
    return expr if expr == alias else f"{expr} AS {alias}"


_STATEMENT_BUILDERS: dict[str, Callable[[_Query, list[str], str], str]] = {
    "columns": _build_columns,
    "rateColumns": _build_rate_columns,
    "perSecondColumns": _build_per_second_columns,
    "increaseColumns": _build_increase_columns,
    "lttb": _build_lttb,
}
