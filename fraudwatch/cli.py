"""The `fraudwatch` command line: the one entry point that reads settings and passes them down."""

from __future__ import annotations

import asyncio
import csv
import importlib
import json
import struct
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

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
        click.option(
            "--api-workers", type=int, help="Producer API processes (one core each), default 1 [FRAUDWATCH_API_WORKERS]"
        ),
        click.option("--broker-port", type=int, help="Embedded broker port, default 19092 [FRAUDWATCH_BROKER_PORT]"),
        click.option(
            "--dashboard-port", type=int, help="Live dashboards port, default 3000 [FRAUDWATCH_DASHBOARD_PORT]"
        ),
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


class _Commands(click.Group):
    """Commands kept in their own modules are imported only when used (fast start, no import cycles)."""

    lazy: ClassVar[dict[str, str]] = {
        "classify": "fraudwatch.classify_cmd:classify",
        "dashboards": "fraudwatch.dashboards_cmd:dashboards",
        "trends": "fraudwatch.trends_cmd:trends",
        "bench": "fraudwatch.bench_cmd:bench",
        "leaks": "fraudwatch.leaks_cmd:leaks",
        "alerts": "fraudwatch.alerts_cmd:alerts",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, attribute = self.lazy[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands)
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

    from streams.app import build_app, prepare_process

    settings = load_settings()
    logs.configure("worker", settings.log_level)
    prepare_process()
    app = build_app(settings)
    Worker(app, loglevel=settings.log_level, override_logging=False, quiet=True).execute_from_commandline()


@main.command(hidden=True)
def api() -> None:
    """Run the producer HTTP API (started by `up`)."""
    import uvicorn

    from fraudwatch.api import create_app

    settings = load_settings()
    logs.configure("api", settings.log_level)
    where: dict[str, Any] = {"host": settings.host, "port": settings.api_port, "log_config": None, "access_log": False}
    if settings.api_workers == 1:
        uvicorn.run(create_app(settings), **where)
        return
    # Several processes accept on the one socket this process binds; each builds its own app (and
    # Kafka producer) from the same environment, and uvicorn restarts one that dies.
    uvicorn.run("fraudwatch.api:app_of_worker_process", factory=True, workers=settings.api_workers, **where)


def _read_json_lines(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """(line number, object) for each good line; a message for each bad one."""
    good: list[tuple[int, dict[str, Any]]] = []
    bad: list[str] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw.decode("utf-8"))
                if not isinstance(item, dict):
                    raise ValueError("not a JSON object")
                good.append((number, item))
            except (UnicodeDecodeError, ValueError) as exc:
                bad.append(f"line {number}: {exc}")
    return good, bad


@main.command()
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--api-url", default=None, help="Producer API base URL [default: the local `up`]")
@click.option(
    "--token", envvar="FRAUDWATCH_TOKEN", help="Submitter token [FRAUDWATCH_TOKEN, else FRAUDWATCH_DEV_TOKEN]"
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
def submit(path: Path, api_url: str | None, token: str | None, batch_size: int) -> None:
    """Submit reports from a JSON-lines file; exits non-zero if any was not accepted."""
    from fraudwatch.client import FraudwatchClient

    url, token = _api_target(load_settings(), api_url, token)

    def action() -> int:
        items, unreadable = _read_json_lines(path)
        rejected = list(unreadable)
        accepted = 0
        with (
            FraudwatchClient(url, token) as client,
            click.progressbar(length=len(items), label="submitting", file=sys.stderr) as bar,
        ):
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                answer = client.submit_batch([item for _, item in chunk])
                for result in answer["results"]:
                    if result["status"] == "accepted":
                        accepted += 1
                    else:
                        problems = "; ".join(f"{e['field']}: {e['problem']}" for e in result.get("errors") or [])
                        rejected.append(f"line {chunk[result['index']][0]}: {result['status']}: {problems}")
                bar.update(len(chunk))
        for line in rejected:
            click.echo(line, err=True)
        click.echo(f"accepted {accepted}, not accepted {len(rejected)} (of {len(items) + len(unreadable)} lines)")
        return 1 if rejected else 0

    _run(action)


def _api_target(settings: Settings, api_url: str | None, token: str | None) -> tuple[str, str]:
    token = token or (settings.dev_token.get_secret_value() if settings.dev_token else None)
    if not token:
        raise click.UsageError("no token: pass --token or set FRAUDWATCH_TOKEN (`up` prints a development token)")
    return api_url or f"http://{settings.host}:{settings.api_port}", token


@main.command()
@click.option("--rate", type=click.FloatRange(min=0.1), default=100, show_default=True, help="Reports per second")
@click.option("--duration", type=click.FloatRange(min=0.1), default=60, show_default=True, help="Seconds")
@click.option("--seed", type=int, default=None, help="Make the generated reports reproducible")
@click.option("--api-url", default=None, help="Producer API base URL [default: the local `up`]")
@click.option(
    "--token", envvar="FRAUDWATCH_TOKEN", help="Submitter token [FRAUDWATCH_TOKEN, else FRAUDWATCH_DEV_TOKEN]"
)
def simulate(rate: float, duration: float, seed: int | None, api_url: str | None, token: str | None) -> None:
    """Send realistic synthetic reports at a steady rate (demos, load tests)."""
    import random
    import time

    from fraudwatch.client import FraudwatchClient
    from fraudwatch.simulate import generate_reports

    url, token = _api_target(load_settings(), api_url, token)
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    tick = 0.5 if rate * 0.5 >= 1 else 1 / rate

    def action() -> int:
        sent = accepted = 0
        total = int(rate * duration)
        started = time.monotonic()
        with (
            FraudwatchClient(url, token) as client,
            click.progressbar(length=total, label="simulating", file=sys.stderr) as bar,
        ):
            while sent < total:
                due = min(total, int((time.monotonic() - started) * rate) + 1)
                if due > sent:
                    batch = generate_reports(due - sent, seed=seed + sent)
                    answer = client.submit_batch([r.body for r in batch])
                    accepted += int(answer["accepted"])
                    bar.update(due - sent)
                    sent = due
                time.sleep(tick)
        elapsed = time.monotonic() - started
        click.echo(f"sent {sent} reports in {elapsed:.1f}s ({sent / elapsed:.0f}/s), accepted {accepted}")
        return 0 if accepted == sent else 1

    _run(action)


@main.command()
@_platform_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def status(fmt: str, **options: Any) -> None:
    """Check each part of a running platform; exits non-zero when one is not ok."""
    from fraudwatch.status import collect

    settings = load_settings(**options)
    logs.configure("status", "CRITICAL")

    def action() -> int:
        checks = asyncio.run(collect(settings))
        if fmt == "json":
            click.echo(json.dumps([c.__dict__ for c in checks], ensure_ascii=False, indent=1))
        else:
            rows = [(c.component, "ok" if c.ok else "NOT OK", c.detail) for c in checks]
            click.echo(render_table(["component", "state", "detail"], rows))
        return 0 if all(c.ok for c in checks) else 1

    _run(action)


@main.command()
@click.option("--reports", type=click.IntRange(min=10), default=20_000, show_default=True)
@click.option("--cycles", type=click.IntRange(min=0), default=10, show_default=True, help="Worker kills")
@click.option("--bad-requests", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--work-dir", type=click.Path(path_type=Path), default=None, help="Default: a new temporary directory")
def faults(reports: int, cycles: int, bad_requests: int, seed: int, work_dir: Path | None) -> None:
    """Run the long fault suite on a platform of its own and print its summary table."""
    import tempfile

    from fraudwatch import faults as suite

    logs.configure("faults", "WARNING")

    def action() -> int:
        where = work_dir or Path(tempfile.mkdtemp(prefix="fraudwatch-faults-"))
        summary = suite.run(where, reports=reports, cycles=cycles, bad=bad_requests, seed=seed, echo=click.echo)
        click.echo(summary.table())
        return 0 if summary.passed else 1

    _run(action)


@main.command()
def schema() -> None:
    """Print the JSON Schema of a report (committed as schemas/report-v1.schema.json)."""
    from fraudwatch.reports import json_schema

    click.echo(json.dumps(json_schema(), ensure_ascii=False, indent=2))


@main.command()
@_platform_options
def init(**options: Any) -> None:
    """Create the topics and apply the schema migrations (the one-shot job of a production stack)."""
    from fraudwatch.broker import ensure_topics, wait_for_broker
    from sinks.clickhouse import connect, prepare_schema

    settings = load_settings(**options)
    logs.configure("init", settings.log_level)

    def action() -> int:
        asyncio.run(wait_for_broker(settings.bootstrap_servers, timeout_s=120))
        topics = asyncio.run(ensure_topics(settings))
        applied = prepare_schema(connect(settings), settings)
        click.echo(f"topics: {topics}; migrations applied now: {applied or 'none'}")
        return 0

    _run(action)


@main.group()
def db() -> None:
    """ClickHouse schema."""


@db.command("migrate")
@click.option("--clickhouse-url", help="ClickHouse server URL [FRAUDWATCH_CLICKHOUSE_URL]")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded data directory [FRAUDWATCH_DATA_DIR]")
def db_migrate(**options: Any) -> None:
    """Apply pending schema migrations (also done by `up`)."""
    from sinks.clickhouse import prepare_schema

    settings = load_settings(**options)
    logs.configure("migrate", settings.log_level)

    def action() -> int:
        with _query_client(settings) as client:
            applied = prepare_schema(client, settings)
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


FORMAT_OPTION = click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say which ClickHouse a reading command talks to."""
    for option in reversed(
        [
            click.option("--clickhouse-url", help="ClickHouse server URL [FRAUDWATCH_CLICKHOUSE_URL]"),
            click.option("--clickhouse-port", type=int, help="Port of a running `up` [FRAUDWATCH_CLICKHOUSE_PORT]"),
            click.option(
                "--data-dir", type=click.Path(path_type=Path), help="Embedded data directory [FRAUDWATCH_DATA_DIR]"
            ),
        ]
    ):
        command = option(command)
    return command


def emit_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Print a result as a table, CSV or JSON records."""
    if fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        click.echo(json.dumps(records, ensure_ascii=False, default=str, indent=1))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif columns:
        click.echo(render_table(columns, rows))
    else:  # an empty result may come back without column names
        click.echo("(0 rows)")


def as_shown(type_names: Sequence[str], rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """Rows with each Float32 value as the shortest decimal that is that Float32 (0.786, as clickhouse-client
    shows it), not the double it widens to (0.7860000133514404)."""
    single = [i for i, name in enumerate(type_names) if name in ("Float32", "Nullable(Float32)")]
    if not single:
        return rows
    shown = [list(row) for row in rows]
    for row in shown:
        for i in single:
            if row[i] is not None:
                row[i] = shortest_float32(row[i])
    return shown


def shortest_float32(value: float) -> float:
    """The double with the fewest significant digits that rounds to the same Float32 as `value`."""
    single = struct.pack("<f", value)
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        candidate = float(f"{value:.{digits}g}")
        try:
            if struct.pack("<f", candidate) == single:
                return candidate
        except OverflowError:  # rounded past the largest float32 (values near 3.4e38)
            continue
    return value


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
@FORMAT_OPTION
@connection_options
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
        emit_rows(result.column_names, as_shown([t.name for t in result.column_types], result.result_rows), fmt)
        return 0

    _run(action)
