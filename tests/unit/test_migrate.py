"""Unit tests for sinks.migrate: the pure parts (statement rendering, discovery, checksums), no ClickHouse."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

from sinks.migrate import Migration, available

SQL = """-- A header comment; with a semicolon that must not split anything
CREATE TABLE IF NOT EXISTS {db}.a
(
    t DateTime('{tz}')
);

   -- an indented comment
CREATE TABLE IF NOT EXISTS {db}.b (x UInt8) ENGINE = Memory;
"""


def test_statements_render_db_and_tz_and_split() -> None:
    statements = Migration(1, "demo", SQL).statements("fw_test", "Asia/Shanghai")
    assert statements == [
        "CREATE TABLE IF NOT EXISTS fw_test.a\n(\n    t DateTime('Asia/Shanghai')\n)",
        "CREATE TABLE IF NOT EXISTS fw_test.b (x UInt8) ENGINE = Memory",
    ]


def test_statements_strip_every_comment_line() -> None:
    statements = Migration(1, "demo", SQL).statements("db", "UTC")
    assert len(statements) == 2
    assert not any("--" in s or "comment" in s for s in statements)


def test_statements_render_every_occurrence() -> None:
    sql = "SELECT '{tz}', '{tz}' FROM {db}.x JOIN {db}.y USING (k)"
    assert Migration(2, "x", sql).statements("d1", "UTC") == ["SELECT 'UTC', 'UTC' FROM d1.x JOIN d1.y USING (k)"]


def test_statements_of_only_comments_and_blanks_are_empty() -> None:
    assert Migration(3, "empty", "-- nothing\n\n  ;\n;\n").statements("d", "UTC") == []


def test_statements_without_trailing_semicolon() -> None:
    assert Migration(4, "x", "SELECT 1;SELECT 2").statements("d", "UTC") == ["SELECT 1", "SELECT 2"]


def test_available_finds_the_first_migration() -> None:
    migrations = available()
    assert migrations
    first = migrations[0]
    assert (first.version, first.name) == (1, "reports_and_minute_stats")
    assert "CREATE TABLE IF NOT EXISTS {db}.reports" in first.sql


def test_available_is_sorted_by_unique_version() -> None:
    versions = [m.version for m in available()]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert versions[0] == 1


def test_available_reads_only_numbered_sql_files() -> None:
    names = {f"{m.version:04d}_{m.name}.sql" for m in available()}
    files = {e.name for e in resources.files("sinks.migrations").iterdir()}
    assert names == {n for n in files if re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", n)}
    assert "__init__.py" in files


def test_first_migration_renders_two_tables() -> None:
    statements = available()[0].statements("fw_test", "Asia/Shanghai")
    assert len(statements) == 2
    assert statements[0].startswith("CREATE TABLE IF NOT EXISTS fw_test.reports")
    assert statements[1].startswith("CREATE TABLE IF NOT EXISTS fw_test.report_stats_1m")
    for statement in statements:
        assert "{db}" not in statement
        assert "{tz}" not in statement
        assert "--" not in statement
        assert "'Asia/Shanghai'" in statement
        assert not statement.endswith(";")


def test_checksum_is_16_hex_of_the_sql() -> None:
    migration = Migration(1, "demo", SQL)
    assert migration.checksum == hashlib.sha256(SQL.encode()).hexdigest()[:16]
    assert re.fullmatch(r"[0-9a-f]{16}", migration.checksum)


def test_checksum_depends_on_sql_only() -> None:
    assert Migration(1, "a", SQL).checksum == Migration(9, "b", SQL).checksum
    assert Migration(1, "a", SQL).checksum != Migration(1, "a", SQL + "\n").checksum


def test_checksum_of_shipped_migration_is_stable() -> None:
    first, again = available()[0], available()[0]
    assert first.checksum == again.checksum
    text = resources.files("sinks.migrations").joinpath("0001_reports_and_minute_stats.sql").read_text("utf-8")
    assert first.checksum == hashlib.sha256(text.encode()).hexdigest()[:16]
