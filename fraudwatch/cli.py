"""The `fraudwatch` command line: the one entry point that reads settings and passes them down."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from fraudwatch import logs
from fraudwatch.errors import FraudwatchError, StorageError
from fraudwatch.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Environment (FRAUDWATCH_*) first, then command-line options that were given."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid settings: {problems}") from exc


def _platform_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory [FRAUDWATCH_DATA_DIR]"),
        click.option("--host", help="Interface to listen on [FRAUDWATCH_HOST]"),
        click.option("--api-port", type=int, help="Producer API port, default 8080 [FRAUDWATCH_API_PORT]"),
        click.option("--broker-port", type=int, help="Embedded broker port, default 19092 [FRAUDWATCH_BROKER_PORT]"),
        click.option(
            "--clickhouse-port",
            type=int,
            help="Embedded ClickHouse HTTP port, default 18123 [FRAUDWATCH_CLICKHOUSE_PORT]",
        ),
        click.option(
            "--kafka-bootstrap",
            help="Use this Kafka instead of the embedded broker [FRAUDWATCH_KAFKA_BOOTSTRAP]",
        ),
        click.option(
            "--clickhouse-url",
            help="Use this ClickHouse server, e.g. http://host:8123 [FRAUDWATCH_CLICKHOUSE_URL]",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(action: Callable[[], int | None]) -> None:
    try:
        code = action()
    except FraudwatchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sys.exit(code or 0)


@click.group()
@click.version_option(package_name="fraudwatch")
def main() -> None:
    """fraudwatch: streaming anti-fraud report aggregation."""


@main.command()
@_platform_options
def up(**options: Any) -> None:
    """Run the whole platform in the foreground (embedded broker and ClickHouse by default)."""
    from fraudwatch.supervisor import Platform

    settings = load_settings(**options)
    logs.configure("up", settings.log_level)
    _run(lambda: asyncio.run(Platform(settings).run()))


@main.command(hidden=True)
def worker() -> None:
    """Run the Faust stream worker (started by `up`; run it yourself against external Kafka)."""
    from faust.worker import Worker

    from streams.app import build_app

    settings = load_settings()
    logs.configure("worker", settings.log_level)
    app = build_app(settings)
    Worker(app, loglevel=settings.log_level, override_logging=False, quiet=True).execute_from_commandline()


@main.command(hidden=True)
def api() -> None:
    """Run the producer HTTP API (started by `up`)."""
    import uvicorn

    from fraudwatch.api import create_app

    settings = load_settings()
    logs.configure("api", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.api_port, log_config=None, access_log=False)


@main.group()
def db() -> None:
    """ClickHouse schema."""


@db.command("migrate")
@click.option("--clickhouse-url", help="ClickHouse server URL [FRAUDWATCH_CLICKHOUSE_URL]")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded data directory [FRAUDWATCH_DATA_DIR]")
def db_migrate(**options: Any) -> None:
    """Apply pending schema migrations (also done by `up`)."""
    from sinks.migrate import migrate

    settings = load_settings(**options)
    logs.configure("migrate", settings.log_level)

    def action() -> int:
        with _query_client(settings) as client:
            applied = migrate(client, settings.clickhouse_database, settings.timezone)
        click.echo(f"applied {len(applied)} migration(s)" if applied else "schema is current")
        return 0

    _run(action)


class _query_client:
    """The running platform's ClickHouse, or the embedded data directory opened here when nothing runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __enter__(self) -> Any:
        from sinks.clickhouse import connect, connect_direct

        try:
            self.client = connect(self.settings)
        except StorageError:
            if not self.settings.embedded_clickhouse:
                raise
            self.client = connect_direct(self.settings)
        return self.client

    def __exit__(self, *_: object) -> None:
        self.client.close()


def display_width(text: str) -> int:
    """Terminal columns: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in columns], *[["" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(display_width(r[i]) for r in cells) for i in range(len(columns))]
    lines = [
        " | ".join(v + " " * (w - display_width(v)) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(rows)} row{'s' if len(rows) != 1 else ''})"


@main.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--clickhouse-url", help="ClickHouse server URL [FRAUDWATCH_CLICKHOUSE_URL]")
@click.option("--clickhouse-port", type=int, help="Port of a running `up` [FRAUDWATCH_CLICKHOUSE_PORT]")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded data directory [FRAUDWATCH_DATA_DIR]")
def query(sql: str, fmt: str, **options: Any) -> None:
    """Run SQL against ClickHouse and print the result (works while `up` runs, and without it)."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    settings = load_settings(**options)
    logs.configure("query", "WARNING")

    def action() -> int:
        with _query_client(settings) as client:
            try:
                result = client.query(sql)
            except ClickHouseError as exc:
                raise StorageError(str(exc)) from exc
        if fmt == "json":
            rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
            click.echo(json.dumps(rows, ensure_ascii=False, default=str, indent=1))
        elif fmt == "csv":
            writer = csv.writer(sys.stdout)
            writer.writerow(result.column_names)
            writer.writerows(result.result_rows)
        else:
            click.echo(render_table(result.column_names, result.result_rows))
        return 0

    _run(action)
