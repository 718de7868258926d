"""`fraudwatch status`: one look at every part of a running platform, with what to do when one is not ok."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from fraudwatch.broker import consumer_lag
from fraudwatch.settings import Settings
from sinks.alerts import AlertStore
from sinks.clickhouse import connect
from streams.health import live_health


@dataclass(frozen=True)
class Check:
    component: str
    ok: bool
    detail: str


async def _api(settings: Settings) -> Check:
    url = f"http://{settings.host}:{settings.api_port}/health"
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            answer = await client.get(url)
        return Check("producer API", answer.status_code == 200, f"{url} answered {answer.status_code}")
    except httpx.HTTPError as exc:
        return Check("producer API", False, f"{url} unreachable ({type(exc).__name__}); is `fraudwatch up` running?")


async def _kafka(settings: Settings) -> Check:
    try:
        lag = await asyncio.wait_for(consumer_lag(settings, settings.worker_id, settings.raw_topic), 10)
    except Exception as exc:
        return Check("Kafka", False, f"{settings.bootstrap_servers}: {exc!r}")
    return Check("Kafka", True, f"{settings.bootstrap_servers}; {lag} message(s) not yet in ClickHouse (lag)")


def _clickhouse(settings: Settings) -> Check:
    try:
        client = connect(settings)
        db = settings.clickhouse_database
        reports, dead = client.query(
            f"SELECT (SELECT count() FROM {db}.reports), (SELECT count() FROM {db}.dead_letters FINAL)"
        ).result_rows[0]
        client.close()
    except Exception as exc:
        return Check("ClickHouse", False, f"{settings.clickhouse_endpoint}: {exc}")
    return Check("ClickHouse", True, f"{settings.clickhouse_endpoint}; {reports} reports, {dead} dead letter(s)")


def _alerts(settings: Settings) -> Check:
    try:
        client = connect(settings)
        open_alerts, undelivered = AlertStore(client, settings.clickhouse_database, settings.zone).summary()
        client.close()
    except Exception as exc:
        return Check("alerts", False, f"cannot read the alerts table: {exc}")
    shown = ", ".join(f"{n} {detector}" for detector, n in open_alerts.items()) or "none"
    detail = f"open: {shown}; `fraudwatch alerts list` shows them"
    if not settings.alerts_enabled:
        detail = "detectors are off (FRAUDWATCH_ALERTS_ENABLED=false); " + detail
    if undelivered:
        where = settings.alert_webhook_url or "the alerts topic"
        detail += f"; {undelivered} alert event(s) not yet delivered to {where}: see the worker log"
    return Check("alerts", undelivered == 0, detail)


def _worker(settings: Settings) -> Check:
    states = live_health(settings.data_dir, settings.worker_id)
    if not states:
        return Check("worker", False, "no live worker has reported yet (it writes its health after its first flush)")
    parts, healthy = [], True
    for state in states:
        written = datetime.fromisoformat(str(state.get("written_at")))
        age = (datetime.now(UTC) - written).total_seconds()
        part = (
            f"pid {state.get('pid')}: {state.get('status')}, reports seen {state.get('reports_seen', 0)}, "
            f"dead letters {state.get('invalid_messages', 0)}, updated {age:.0f}s ago"
        )
        if state.get("status") == "degraded":
            healthy = False
            part += f"; failing for {state.get('consecutive_failures')} attempt(s): {state.get('last_error')}"
        parts.append(part)
    return Check("worker", healthy, "; ".join(parts))


async def collect(settings: Settings) -> list[Check]:
    api, kafka = await asyncio.gather(_api(settings), _kafka(settings))
    clickhouse, alerts = await asyncio.gather(
        asyncio.to_thread(_clickhouse, settings), asyncio.to_thread(_alerts, settings)
    )
    return [api, kafka, clickhouse, alerts, _worker(settings)]
