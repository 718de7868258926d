"""Pipeline metrics for the health dashboard: samples written to ClickHouse's `pipeline_metrics`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client


def record(client: Client, database: str, zone: ZoneInfo, samples: dict[str, float]) -> None:
    """One row per metric, stamped now; gauges are values, counters are counts since the last sample."""
    now = datetime.now(zone)
    client.insert(
        f"{database}.pipeline_metrics",
        [[now, metric, float(value)] for metric, value in samples.items()],
        column_names=["ts", "metric", "value"],
    )
