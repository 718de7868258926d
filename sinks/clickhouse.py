"""Connecting to ClickHouse: a server URL, the gateway of a running `fraudwatch up`, or chDB directly."""

from __future__ import annotations

import logging
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from fraudwatch.errors import StorageError
from fraudwatch.settings import Settings

log = logging.getLogger(__name__)


def connect(settings: Settings, **options: Any) -> Client:
    """A clickhouse-connect client for the configured endpoint (server URL or the embedded gateway)."""
    # No server session by default: one client may then serve queries from several threads at once.
    options.setdefault("autogenerate_session_id", False)
    # The embedded gateway is on this machine: compressing for it only costs both sides CPU (~1 µs a report
    # on each side of the worker's inserts).
    options.setdefault("compress", not settings.embedded_clickhouse)
    try:
        return clickhouse_connect.get_client(
            dsn=settings.clickhouse_endpoint,
            username=settings.clickhouse_user,
            password=settings.clickhouse_password.get_secret_value(),
            **options,
        )
    except OperationalError as exc:
        where = (
            "is `fraudwatch up` running with these settings?"
            if settings.embedded_clickhouse
            else "check FRAUDWATCH_CLICKHOUSE_URL and that the server is up"
        )
        raise StorageError(f"cannot reach ClickHouse at {settings.clickhouse_endpoint}: {where}") from exc
    except ClickHouseError as exc:
        raise StorageError(f"ClickHouse at {settings.clickhouse_endpoint} refused the connection: {exc}") from exc


def connect_direct(settings: Settings) -> Client:
    """Open the embedded data directory in this process (only when no `up` holds it)."""
    settings.chdb_path.mkdir(parents=True, exist_ok=True)
    try:
        return clickhouse_connect.get_client(dsn=f"chdb://{settings.chdb_path.resolve()}")
    except ClickHouseError as exc:
        raise StorageError(f"cannot open the embedded ClickHouse at {settings.chdb_path}: {exc}") from exc


def prepare_schema(client: Client, settings: Settings) -> list[int]:
    """Apply pending migrations and the configured retention; returns the migrations applied now."""
    from sinks.migrate import migrate
    from sinks.retention import apply_retention

    applied = migrate(client, settings.clickhouse_database, settings.timezone)
    apply_retention(
        client,
        settings.clickhouse_database,
        facts_days=settings.retention_days,
        rollup_days=settings.rollup_retention_days,
    )
    return [m.version for m in applied]
