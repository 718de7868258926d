"""Retention TTLs on the real embedded engine: applied once, changed only when asked, and facts that
expire leave the rollups built from them in place."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from clickhouse_connect.driver.client import Client

from sinks.retention import apply_retention, current_ttl
from tests.integration.conftest import scalar
from tests.integration.test_rollups import ZONE, Envelopes, Spec, new_sink

TABLES = ("reports", "report_stats_1m", "report_rollup_1h", "report_rollup_1d")


def ttls(ch: Client, database: str) -> dict[str, str | None]:
    return {table: current_ttl(ch, database, table) for table in TABLES}


def test_ttls_are_applied_once_and_changed_only_where_asked(ch: Client, database: str) -> None:
    assert ttls(ch, database) == dict.fromkeys(TABLES)
    changes = apply_retention(ch, database, facts_days=90, rollup_days=1095)
    assert [c.table for c in changes] == list(TABLES)
    assert ttls(ch, database) == {
        "reports": "toDateTime(reported_at) + toIntervalDay(90)",
        "report_stats_1m": "minute + toIntervalDay(90)",
        "report_rollup_1h": "hour + toIntervalDay(1095)",
        "report_rollup_1d": "day + toIntervalDay(1095)",
    }
    assert apply_retention(ch, database, facts_days=90, rollup_days=1095) == []  # idempotent
    changes = apply_retention(ch, database, facts_days=30, rollup_days=1095)
    assert [(c.table, c.after) for c in changes] == [
        ("reports", "toDateTime(reported_at) + toIntervalDay(30)"),
        ("report_stats_1m", "minute + toIntervalDay(30)"),
    ]
    changes = apply_retention(ch, database, facts_days=30, rollup_days=None)
    assert [(c.table, c.after) for c in changes] == [("report_rollup_1h", None), ("report_rollup_1d", None)]
    assert apply_retention(ch, database, facts_days=30, rollup_days=None) == []
    assert ttls(ch, database)["report_rollup_1d"] is None


def test_expired_facts_go_and_their_rollups_stay(ch: Client, database: str) -> None:
    now = datetime.now(ZONE).replace(microsecond=0)
    specs = [
        Spec(f"age-{days}", now - timedelta(days=days), now - timedelta(days=days), "loan", "420106", 100 * days)
        for days in (1, 2, 50, 51, 52)
    ]
    sink = new_sink(ch, database)
    sink.add(Envelopes.pack(specs).facts(0))
    sink.flush()
    apply_retention(ch, database, facts_days=30, rollup_days=365)
    ch.command(f"OPTIMIZE TABLE {database}.reports FINAL")  # TTL deletes on merge; force one now
    assert sorted(r[0] for r in ch.query(f"SELECT report_id FROM {database}.reports").result_rows) == [
        "age-1",
        "age-2",
    ]
    assert int(scalar(ch, f"SELECT sum(reports) FROM {database}.report_rollup_1d WHERE basis = 'reported'")) == 5


@pytest.mark.parametrize("days", [0, -1, 2.5, True])
def test_bad_days_are_refused(ch: Client, database: str, days: object) -> None:
    with pytest.raises(ValueError, match="whole number of days"):
        apply_retention(ch, database, facts_days=days, rollup_days=None)  # type: ignore[arg-type]
