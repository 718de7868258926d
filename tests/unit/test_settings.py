"""Unit tests for fraudwatch.settings: environment reading, validation, derived values and to_env()."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError

from fraudwatch.settings import ENV_PREFIX, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No FRAUDWATCH_* variable from the developer's shell may leak into these tests."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def custom_settings() -> Settings:
    return Settings(
        data_dir=Path("/srv/fraudwatch"),
        host="0.0.0.0",
        api_port=9080,
        broker_port=29092,
        clickhouse_port=28123,
        kafka_bootstrap="kafka-1:9092,kafka-2:9092",
        clickhouse_url="http://ch.internal:8123",
        clickhouse_user="fw",
        clickhouse_password=SecretStr("p@ss word;$x"),
        clickhouse_database="fw_prod",
        topic_prefix="fw",
        raw_partitions=12,
        broker_epoch="epoch-2024.05_01",
        worker_id="w-7",
        rebalance_timeout_s=12.5,
        flush_interval_s=0.25,
        flush_max_rows=1000,
        timezone="Europe/Berlin",
        hash_key=SecretStr("production-hmac-key"),
        log_level="DEBUG",
    )


# --- reading ----------------------------------------------------------------------------------------


def test_defaults() -> None:
    s = Settings()
    assert s.data_dir == Path(".data")
    assert (s.host, s.api_port, s.broker_port, s.clickhouse_port) == ("127.0.0.1", 8080, 19092, 18123)
    assert s.kafka_bootstrap is None
    assert s.clickhouse_url is None
    assert s.timezone == "Asia/Shanghai"
    assert s.broker_epoch == "static"
    assert s.hash_key.get_secret_value() == "fraudwatch-development-key-change-me"
    assert s.clickhouse_password.get_secret_value() == ""


def test_reads_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(
        monkeypatch,
        {
            "FRAUDWATCH_DATA_DIR": "/var/lib/fw",
            "FRAUDWATCH_API_PORT": "9000",
            "FRAUDWATCH_TOPIC_PREFIX": "fwtest",
            "FRAUDWATCH_RAW_PARTITIONS": "8",
            "FRAUDWATCH_FLUSH_INTERVAL_S": "1.5",
            "FRAUDWATCH_TIMEZONE": "UTC",
            "FRAUDWATCH_HASH_KEY": "from-env-key",
            "FRAUDWATCH_CLICKHOUSE_PASSWORD": "secret-pw",
            "FRAUDWATCH_KAFKA_BOOTSTRAP": "kafka:9092",
        },
    )
    s = Settings()
    assert s.data_dir == Path("/var/lib/fw")
    assert s.api_port == 9000
    assert s.topic_prefix == "fwtest"
    assert s.raw_partitions == 8
    assert s.flush_interval_s == 1.5
    assert s.timezone == "UTC"
    assert s.hash_key.get_secret_value() == "from-env-key"
    assert s.clickhouse_password.get_secret_value() == "secret-pw"
    assert s.kafka_bootstrap == "kafka:9092"


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("fraudwatch_api_port", "9100")
    assert Settings().api_port == 9100


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PORT", "1234")
    monkeypatch.setenv("TIMEZONE", "UTC")
    s = Settings()
    assert s.api_port == 8080
    assert s.timezone == "Asia/Shanghai"


def test_keyword_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDWATCH_API_PORT", "9000")
    assert Settings(api_port=9200).api_port == 9200


def test_secrets_are_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDWATCH_HASH_KEY", "very-secret-key")
    assert "very-secret-key" not in repr(Settings())


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Asia/Nowhere", "", "../etc/passwd", "/etc/passwd"])
def test_unknown_timezone_is_rejected(zone: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(timezone=zone)
    [error] = caught.value.errors()
    assert error["loc"] == ("timezone",)
    assert "unknown IANA time zone" in error["msg"]


def test_unknown_timezone_from_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDWATCH_TIMEZONE", "Asia/Beijing")
    with pytest.raises(ValidationError, match="unknown IANA time zone 'Asia/Beijing'"):
        Settings()


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_known_timezones_are_accepted(zone: str) -> None:
    s = Settings(timezone=zone)
    assert s.zone == ZoneInfo(zone)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_port", 0),
        ("api_port", 65536),
        ("broker_port", -1),
        ("raw_partitions", 0),
        ("raw_partitions", 257),
        ("broker_epoch", "has space"),
        ("broker_epoch", ""),
        ("broker_epoch", "x" * 65),
        ("rebalance_timeout_s", 1),
        ("flush_interval_s", 0),
        ("flush_max_rows", 0),
        ("leak_lookup_chunk", 0),
    ],
)
def test_out_of_range_values_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_non_numeric_port_from_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDWATCH_API_PORT", "eighty")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert caught.value.errors()[0]["loc"] == ("api_port",)


# --- derived values ---------------------------------------------------------------------------------


def test_raw_topic_uses_the_prefix() -> None:
    assert Settings().raw_topic == "fraudwatch.reports.raw"
    assert Settings(topic_prefix="fwtest").raw_topic == "fwtest.reports.raw"


def test_embedded_endpoints_when_nothing_external_is_set() -> None:
    s = Settings(host="10.0.0.5", broker_port=29092, clickhouse_port=28123)
    assert s.embedded_broker is True
    assert s.embedded_clickhouse is True
    assert s.bootstrap_servers == "10.0.0.5:29092"
    assert s.clickhouse_endpoint == "http://10.0.0.5:28123"


def test_default_endpoints() -> None:
    s = Settings()
    assert s.bootstrap_servers == "127.0.0.1:19092"
    assert s.clickhouse_endpoint == "http://127.0.0.1:18123"


def test_external_kafka_replaces_the_embedded_broker() -> None:
    s = Settings(kafka_bootstrap="kafka-1:9092,kafka-2:9092", broker_port=29092)
    assert s.embedded_broker is False
    assert s.bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert s.embedded_clickhouse is True


def test_external_clickhouse_replaces_the_gateway() -> None:
    s = Settings(clickhouse_url="http://ch.internal:8123", clickhouse_port=28123)
    assert s.embedded_clickhouse is False
    assert s.clickhouse_endpoint == "http://ch.internal:8123"
    assert s.embedded_broker is True


def test_external_endpoints_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDWATCH_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("FRAUDWATCH_CLICKHOUSE_URL", "http://ch:8123")
    s = Settings()
    assert (s.bootstrap_servers, s.clickhouse_endpoint) == ("kafka:9092", "http://ch:8123")
    assert (s.embedded_broker, s.embedded_clickhouse) == (False, False)


def test_chdb_path_and_zone() -> None:
    s = Settings(data_dir=Path("/srv/fw"), timezone="UTC")
    assert s.chdb_path == Path("/srv/fw/clickhouse")
    assert s.zone == ZoneInfo("UTC")


def test_empty_external_endpoints_are_consistent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDWATCH_KAFKA_BOOTSTRAP", "")
    monkeypatch.setenv("FRAUDWATCH_CLICKHOUSE_URL", "")
    s = Settings()
    assert s.embedded_broker is (s.bootstrap_servers == "127.0.0.1:19092")
    assert s.embedded_clickhouse is (s.clickhouse_endpoint == "http://127.0.0.1:18123")


# --- to_env -----------------------------------------------------------------------------------------


def test_to_env_names_and_values() -> None:
    env = custom_settings().to_env()
    assert all(name.startswith(ENV_PREFIX) and name == name.upper() for name in env)
    assert all(isinstance(value, str) for value in env.values())
    assert env["FRAUDWATCH_API_PORT"] == "9080"
    assert env["FRAUDWATCH_DATA_DIR"] == "/srv/fraudwatch"
    assert env["FRAUDWATCH_HASH_KEY"] == "production-hmac-key"
    assert env["FRAUDWATCH_CLICKHOUSE_PASSWORD"] == "p@ss word;$x"
    assert env["FRAUDWATCH_KAFKA_BOOTSTRAP"] == "kafka-1:9092,kafka-2:9092"
    assert env["FRAUDWATCH_TIMEZONE"] == "Europe/Berlin"
    assert len(env) == sum(value is not None for value in custom_settings().model_dump().values())


def test_to_env_leaves_out_unset_optionals() -> None:
    env = Settings().to_env()
    assert "FRAUDWATCH_KAFKA_BOOTSTRAP" not in env
    assert "FRAUDWATCH_CLICKHOUSE_URL" not in env
    assert "None" not in env.values()
    assert len(env) == sum(value is not None for value in Settings().model_dump().values())


@pytest.mark.parametrize("factory", [Settings, custom_settings], ids=["defaults", "custom"])
def test_to_env_round_trips(monkeypatch: pytest.MonkeyPatch, factory: Callable[[], Settings]) -> None:
    original = factory()
    set_env(monkeypatch, original.to_env())
    rebuilt = Settings()
    assert rebuilt == original
    assert rebuilt.hash_key.get_secret_value() == original.hash_key.get_secret_value()
    assert rebuilt.clickhouse_password.get_secret_value() == original.clickhouse_password.get_secret_value()
    assert rebuilt.to_env() == original.to_env()


def test_round_trip_changes_are_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards the round-trip test itself: a differing secret must make the settings unequal.
    original = custom_settings()
    env = original.to_env() | {"FRAUDWATCH_HASH_KEY": "another-key"}
    set_env(monkeypatch, env)
    assert Settings() != original


def test_child_environment_replaces_fraudwatch_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDWATCH_STALE_SETTING", "old")
    monkeypatch.setenv("FRAUDWATCH_API_PORT", "1111")
    monkeypatch.setenv("UNRELATED_VARIABLE", "kept")
    s = Settings(api_port=2222)
    child = s.child_environment()
    assert child["UNRELATED_VARIABLE"] == "kept"
    assert "FRAUDWATCH_STALE_SETTING" not in child
    assert child["FRAUDWATCH_API_PORT"] == "2222"
    assert {k: v for k, v in child.items() if k.startswith(ENV_PREFIX)} == s.to_env()


def test_a_webhook_needs_an_http_url_and_a_secret() -> None:
    with pytest.raises(ValidationError, match="http"):
        Settings(alert_webhook_url="ftp://on-call.example/hook")
    with pytest.raises(ValidationError, match="FRAUDWATCH_ALERT_WEBHOOK_SECRET"):
        Settings(alert_webhook_url="https://on-call.example/hook", alert_webhook_secret="")
    assert Settings(alert_webhook_url="").alert_webhook_url is None  # blank means none, as compose passes it
    assert Settings(alert_webhook_url="https://on-call.example/hook", alert_webhook_secret="s").alert_webhook_url
