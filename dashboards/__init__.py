"""Dashboards as code: Grafana ClickHouse macro expansion, dashboard definitions, provisioning."""
