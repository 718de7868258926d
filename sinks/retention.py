"""Retention: how long ClickHouse keeps facts and rollups, as table TTLs.

`apply_retention` sets (or removes) a TTL on each table with ``ALTER TABLE ... MODIFY TTL``. It is
idempotent: it reads the TTL each table has and alters only those that differ, because every
MODIFY TTL makes ClickHouse re-evaluate the TTL over every existing part (a mutation), which is
worth avoiding at each start-up.

Facts and rollups have separate retentions: the rollups are small next to the facts and keep
trends queryable after the facts are gone. Expiring facts never changes the rollups, which were
built when the facts were written. The per-minute stream aggregates follow the facts.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Final

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

# Table -> the expression of the moment its rows are about (Date or DateTime, as a TTL needs).
FACT_TABLES: Final = {"reports": "toDateTime(reported_at)", "report_stats_1m": "minute"}
ROLLUP_TABLES: Final = {"report_rollup_1h": "hour", "report_rollup_1d": "day"}
_TABLE_TTL = re.compile(r"\sTTL\s(.+?)(?:\sSETTINGS\s|$)", re.DOTALL)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class TtlChange:
    table: str
    before: str | None
    after: str | None


def ttl_expression(moment: str, days: int) -> str:
    """As ClickHouse writes it back in system.tables, so that comparing is comparing text."""
    return f"{moment} + toIntervalDay({days})"


def _check_days(name: str, days: int | None) -> None:
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise ValueError(f"{name} must be a whole number of days >= 1, or None to keep forever; got {days!r}")


def current_ttl(client: Client, database: str, table: str) -> str | None:
    """The table-level TTL expression of `table`, or None if it has none."""
    rows = client.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {table:String}",
        parameters={"db": database, "table": table},
    ).result_rows
    if not rows:
        raise LookupError(f"no table {database}.{table}: apply the migrations first")
    match = _TABLE_TTL.search(str(rows[0][0]))
    return match.group(1).strip() if match else None


def apply_retention(
    client: Client, database: str, *, facts_days: int | None, rollup_days: int | None
) -> list[TtlChange]:
    """Make the TTLs of facts (and the stream's minute aggregates) and of rollups what is asked.

    None keeps rows forever (removes the TTL). Returns the changes made, empty when all was in place.
    """
    _check_days("facts_days", facts_days)
    _check_days("rollup_days", rollup_days)
    if not _IDENTIFIER.fullmatch(database):
        raise ValueError(f"database name {database!r} is not a plain identifier")
    wanted = {table: (moment, facts_days) for table, moment in FACT_TABLES.items()}
    wanted |= {table: (moment, rollup_days) for table, moment in ROLLUP_TABLES.items()}
    changes: list[TtlChange] = []
    for table, (moment, days) in wanted.items():
        before = current_ttl(client, database, table)
        after = ttl_expression(moment, days) if days is not None else None
        if before == after:
            continue
        if after is None:
            client.command(f"ALTER TABLE {database}.{table} REMOVE TTL")
        else:
            client.command(f"ALTER TABLE {database}.{table} MODIFY TTL {after}")
        log.info("retention changed", extra={"table": table, "ttl_before": before, "ttl_after": after})
        changes.append(TtlChange(table, before, after))
    return changes
