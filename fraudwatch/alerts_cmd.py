"""`fraudwatch alerts`: the early-warning alerts the worker raises, for the people on duty.

- `list` shows alerts newest first (filters: --state, --detector, --since);
- `show ID` prints one alert with all of its evidence;
- `ack ID --by NAME [--note TEXT]` records who took an alert in hand (the detector keeps running:
  acknowledging does not resolve);
- `blocklist` writes the hashed scammer contacts of repeat-contact alerts, one per line, for a
  telecom operator or bank that holds the same hashing key (the header names the key's fingerprint,
  so both sides can check they hash alike before matching).

Connects like `fraudwatch query`: the running platform's ClickHouse, a configured server, or the
embedded data directory when nothing runs. Registered on the main group by fraudwatch/cli.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from fraudwatch.cli import FORMAT_OPTION, _query_client, _run, connection_options, emit_rows, load_settings
from fraudwatch.errors import StorageError
from fraudwatch.pii import key_fingerprint
from fraudwatch.settings import Settings
from sinks.alerts import AlertFilter, AlertStore
from streams.detectors import AlertState, Detector


@contextmanager
def _store(settings: Settings) -> Iterator[AlertStore]:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        with _query_client(settings) as client:
            yield AlertStore(client, settings.clickhouse_database, settings.zone)
    except ClickHouseError as exc:
        raise StorageError(
            f"ClickHouse refused the alerts query ({exc}); is database {settings.clickhouse_database} migrated? "
            "run `fraudwatch db migrate`"
        ) from exc


def _since(value: datetime | None, settings: Settings) -> datetime | None:
    return value.replace(tzinfo=settings.zone) if value else None


_SINCE = click.option(
    "--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), help="Opened at or after (configured zone)"
)


@click.group()
def alerts() -> None:
    """Early-warning alerts: surges, repeat scammer contacts, leak batches under exploitation."""


@alerts.command("list")
@click.option("--state", type=click.Choice([s.value for s in AlertState]), help="open or resolved [default: both]")
@click.option("--detector", type=click.Choice([d.value for d in Detector]), help="[default: all]")
@_SINCE
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@FORMAT_OPTION
@connection_options
def list_(
    state: str | None, detector: str | None, since: datetime | None, limit: int, fmt: str, **connection: Any
) -> None:
    """Alerts, newest first."""
    settings = load_settings(**connection)

    def action() -> int:
        with _store(settings) as store:
            columns, rows = store.listing(AlertFilter(state, detector, _since(since, settings), limit))
        emit_rows(columns, rows, fmt)
        return 0

    _run(action)


@alerts.command("show")
@click.argument("alert_id", metavar="ID")
@connection_options
def show(alert_id: str, **connection: Any) -> None:
    """One alert with its evidence, as JSON."""
    settings = load_settings(**connection)

    def action() -> int:
        with _store(settings) as store:
            record = store.get(alert_id)
        if record is None:
            raise click.ClickException(f"no alert {alert_id!r}; `fraudwatch alerts list` shows the ids")
        click.echo(json.dumps(record, ensure_ascii=False, default=str, indent=1))
        return 0

    _run(action)


@alerts.command("ack")
@click.argument("alert_id", metavar="ID")
@click.option("--by", "acked_by", required=True, help="Who takes the alert in hand")
@click.option("--note", default="", help="What is being done about it")
@connection_options
def ack(alert_id: str, acked_by: str, note: str, **connection: Any) -> None:
    """Acknowledge an alert (it stays open until its series falls back)."""
    settings = load_settings(**connection)

    def action() -> int:
        with _store(settings) as store:
            if store.get(alert_id) is None:
                raise click.ClickException(f"no alert {alert_id!r}; `fraudwatch alerts list` shows the ids")
            store.ack(alert_id, acked_by, note)
        click.echo(f"acknowledged {alert_id} by {acked_by}")
        return 0

    _run(action)


@alerts.command("blocklist")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here [default: standard output]"
)
@_SINCE
@click.option("--include-resolved", is_flag=True, help="Also contacts whose alert has been resolved")
@connection_options
def blocklist(output: Path | None, since: datetime | None, include_resolved: bool, **connection: Any) -> None:
    """Hashed scammer contacts of repeat-contact alerts, one per line, for operators holding the same key."""
    settings = load_settings(**connection)

    def action() -> int:
        with _store(settings) as store:
            entries = store.blocklist(_since(since, settings), include_resolved)
        lines = [
            "# fraudwatch block-list: hashed scammer contacts (kind:HMAC-SHA256/128 of the normalised value)",
            f"# key fingerprint {key_fingerprint(settings.hash_key.get_secret_value().encode())}; "
            f"generated {datetime.now(settings.zone).isoformat(timespec='seconds')}; {len(entries)} entries",
            "# contact,first_alerted,victims,loss_fen",
            *[f"{contact},{opened.isoformat()},{victims},{loss}" for contact, opened, victims, loss in entries],
        ]
        text = "\n".join(lines) + "\n"
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"wrote {len(entries)} contacts to {output}", err=True)
        return 0

    _run(action)
