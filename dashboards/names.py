"""Names and defaults shared by the dashboard builders, the embedded server and the CLI.

Kept free of imports so that `fraudwatch --help` does not load the Grafana SDK or the web stack.
"""

from __future__ import annotations

from typing import Final

PLUGIN_ID: Final = "grafana-clickhouse-datasource"
"""Grafana's official ClickHouse data source plugin."""
DEFAULT_PLATFORM: Final = "fraudwatch"
"""Platform name: the Grafana folder uid and the prefix of every uid."""
DEFAULT_TIMEZONE: Final = "Asia/Shanghai"
PASSWORD_ENV: Final = "FRAUDWATCH_GRAFANA_CLICKHOUSE_PASSWORD"  # noqa: S105 (the variable's name, not a secret)
"""Environment variable holding the password of Grafana's read-only ClickHouse user."""
GRAFANA_USER: Final = "fraudwatch_grafana"
"""The read-only ClickHouse user Grafana connects as (created as in docs/dashboards.md)."""
DEFAULT_DASHBOARDS_PATH: Final = "/var/lib/grafana/dashboards/fraudwatch"
"""Where a provisioned Grafana finds the dashboard JSON files."""
DEFAULT_DASHBOARD_PORT: Final = 3000
"""Port of the embedded dashboards (FRAUDWATCH_DASHBOARD_PORT)."""
