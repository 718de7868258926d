"""`fraudwatch status`: one look at every part of a running platform, with what to do when one is not ok."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from fraudwatch.broker import consumer_lag
from fraudwatch.settings import Settings
from sinks.clickhouse import connect
from streams.health import read_health

STALE_AFTER_S = 30.0


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


def _worker(settings: Settings) -> Check:
    path = settings.data_dir / "run" / f"{settings.worker_id}.health.json"
    state = read_health(path)
    if state is None:
        return Check("worker", False, f"no health file at {path}: the worker has not flushed yet, or runs elsewhere")
    written = datetime.fromisoformat(str(state.get("written_at")))
    age = (datetime.now(UTC) - written).total_seconds()
    detail = (
        f"pid {state.get('pid')}, {state.get('status')}, reports seen {state.get('reports_seen', 0)}, "
        f"dead letters {state.get('invalid_messages', 0)}, updated {age:.0f}s ago"
    )
    if state.get("status") == "degraded":
        detail += f"; failing for {state.get('consecutive_failures')} attempt(s): {state.get('last_error')}"
    # A quiet worker writes nothing; staleness alone is not a fault unless it was failing.
    return Check("worker", state.get("status") != "degraded", detail)


async def collect(settings: Settings) -> list[Check]:
    api, kafka = await asyncio.gather(_api(settings), _kafka(settings))
    clickhouse = await asyncio.to_thread(_clickhouse, settings)
    return [api, kafka, clickhouse, _worker(settings)]
