"""The early-warning detectors' cost, for the performance suite (`fraudwatch bench`).

The detectors do not run per report: every `alert_interval_s` the group leader runs one detection
cycle of a few queries over the windows. Their cost per report is therefore the cycle's time spread
over the reports a cycle covers: the reports held in the widest window (what the queries read), and
the reports that arrive between two cycles at a given ingest rate (what the platform pays per report).
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from fraudwatch.settings import Settings
from sinks.alerts import AlertStore
from streams.alerting import AlertEngine, thresholds_of


def measure_detectors(
    client: Client, settings: Settings, now: datetime, ingest_rate: float | None, rounds: int = 5
) -> dict[str, Any]:
    """Time `rounds` detection cycles at `now` over what the database holds (the first one loads state)."""
    store = AlertStore(client, settings.clickhouse_database, settings.zone)
    engine = AlertEngine(store, thresholds_of(settings), None, None)
    engine.load()
    seconds, changes = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        changes += len(engine.detect(now))
        seconds.append(time.perf_counter() - started)
    widest = max(settings.alert_contact_window_days * 86_400, settings.alert_leak_window_hours * 3_600)
    in_window = int(
        client.query(
            f"SELECT count() FROM {settings.clickhouse_database}.reports WHERE reported_at "
            "> fromUnixTimestamp64Milli({lo:Int64}) AND reported_at <= fromUnixTimestamp64Milli({hi:Int64})",
            parameters={"lo": int((now.timestamp() - widest) * 1000), "hi": int(now.timestamp() * 1000)},
        ).result_rows[0][0]
    )
    cycle = statistics.median(seconds)
    per_cycle_reports = ingest_rate * settings.alert_interval_s if ingest_rate else None
    return {
        "rounds": rounds,
        "cycle_ms_p50": round(cycle * 1000, 1),
        "cycle_ms_max": round(max(seconds) * 1000, 1),
        "reports_in_window": in_window,
        "us_per_report_in_window": round(cycle * 1e6 / in_window, 3) if in_window else None,
        "interval_s": settings.alert_interval_s,
        "ingest_rate": ingest_rate,
        "us_per_ingested_report": round(cycle * 1e6 / per_cycle_reports, 3) if per_cycle_reports else None,
        "alerts_changed": changes,
    }
