"""The one typed settings object of the platform.

Read once at each process's entry point (environment variables prefixed ``FRAUDWATCH_``,
overridden by CLI options) and passed down explicitly. ``fraudwatch up`` hands its resolved
settings to the processes it starts through :meth:`Settings.to_env`.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "FRAUDWATCH_"
DEFAULT_API_PORT = 8080
DEFAULT_BROKER_PORT = 19092
DEFAULT_CLICKHOUSE_PORT = 18123


class Settings(BaseSettings):
    """Everything configurable, with defaults that run the embedded platform on one machine."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(default=Path(".data"), description="Embedded ClickHouse data and worker state")
    host: str = Field(default="127.0.0.1", description="Interface the embedded services listen on")
    api_port: int = Field(default=DEFAULT_API_PORT, ge=1, le=65535)
    broker_port: int = Field(default=DEFAULT_BROKER_PORT, ge=1, le=65535)
    dashboard_port: int = Field(default=3000, ge=1, le=65535, description="Embedded live dashboards")
    clickhouse_port: int = Field(
        default=DEFAULT_CLICKHOUSE_PORT, ge=1, le=65535, description="Port of the embedded ClickHouse gateway"
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="Apache Kafka bootstrap servers; unset = start the embedded broker"
    )
    clickhouse_url: str | None = Field(
        default=None, description="ClickHouse server URL (http://host:8123); unset = embedded chDB"
    )
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr = SecretStr("")
    clickhouse_database: str = "fraudwatch"

    topic_prefix: str = "fraudwatch"
    raw_partitions: int = Field(default=4, ge=1, le=256)
    topic_replication: int = Field(default=1, ge=1, le=7, description="Replication factor of created topics")
    topic_min_insync_replicas: int = Field(default=1, ge=1, le=7)
    broker_epoch: str = Field(
        default="static",
        description="Identity of the broker's current life; the embedded broker gets a fresh one per start",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
    )
    worker_id: str = "fraudwatch-worker"
    rebalance_timeout_s: float = Field(default=6.0, ge=3, le=300)
    flush_interval_s: float = Field(default=0.25, gt=0, le=10)
    flush_max_rows: int = Field(default=50_000, ge=1)
    fetch_max_wait_s: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="Longest the worker's Kafka fetch waits for data (Faust's own is a fixed 1.5 s)",
    )

    leak_lookup_chunk: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Identifiers per leak-lookup query; unset = 8,000 on the embedded ClickHouse, 2,000 on a server "
        "(its http_max_field_value_size, 128 KiB by default, bounds a query's parameters: raise both together)",
    )
    leak_filter_max_identifiers: int = Field(
        default=50_000_000,
        ge=0,
        description="Largest leak index the worker keeps a filter of (4 bytes an identifier), so that identifiers "
        "in no batch are not sent to ClickHouse; 0 = no filter, every identifier is looked up",
    )

    retention_days: int | None = Field(default=None, ge=1, description="TTL of reports and minute stats; unset = keep")
    rollup_retention_days: int | None = Field(default=None, ge=1, description="TTL of hourly/daily rollups")
    # Thresholds of the 2017 judicial interpretation on personal-information crimes: law, not code.
    leak_serious_class_a: int = Field(default=50, ge=1, description="Class A records (location, credit, ...)")
    leak_serious_class_b: int = Field(default=500, ge=1, description="Class B records (accommodation, health, ...)")
    leak_serious_class_c: int = Field(default=5000, ge=1, description="Class C records (other personal data)")
    leak_especially_serious_factor: int = Field(default=10, ge=1)
    timezone: str = "Asia/Shanghai"
    hash_key: SecretStr = Field(
        default=SecretStr("fraudwatch-development-key-change-me"),
        description="HMAC key for personal identifiers; production must set its own",
    )
    log_level: str = "INFO"

    dev_token: SecretStr | None = Field(
        default=None, description="A token with every role, for development and scripts; `up` makes one if unset"
    )
    tokens_file: Path | None = Field(
        default=None, description="JSON list of API tokens: name, roles, channel, sha256 of the token"
    )
    idempotency_window_s: int = Field(default=86_400, ge=60, description="How long a client report_id is remembered")
    client_key_memory_s: int = Field(
        default=172_800,
        ge=1,
        description="How long the worker remembers where a client-keyed report's first copy sits, to drop "
        "resends that got past the API; keep it above idempotency_window_s (by the worker's worst lag)",
    )
    max_batch_reports: int = Field(default=1000, ge=1, le=10_000)
    max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="Larger request bodies get 413")
    envelope_linger_ms: float = Field(
        default=2.0, ge=0, le=1000, description="How long the API gathers reports into one Kafka message"
    )
    envelope_max_reports: int = Field(default=500, ge=1, le=10_000)
    api_workers: int = Field(
        default=1, ge=1, le=64, description="Producer API processes sharing the port; one process is one core"
    )

    alerts_enabled: bool = Field(default=True, description="Run the early-warning detectors in the worker")
    alert_interval_s: float = Field(default=30.0, gt=0, le=3600, description="How often the detectors run")
    alert_baseline_days: int = Field(
        default=7, ge=1, le=90, description="Earlier days whose same window of the day make a series' baseline"
    )
    alert_open_score: float = Field(
        default=6.0, gt=0, description="-log10 of the chance of a count at least this high: open an alert at or above"
    )
    alert_resolve_score: float = Field(default=2.0, ge=0, description="Resolve an open surge or leak alert below")
    alert_surge_window_minutes: int = Field(default=60, ge=1, le=720)
    alert_surge_min_reports: int = Field(default=8, ge=1, description="No surge alert on fewer reports than this")
    alert_contact_window_days: int = Field(default=7, ge=1, le=90)
    alert_contact_min_victims: int = Field(default=5, ge=2, description="Distinct victims that make a contact an alert")
    alert_contact_min_regions: int = Field(default=3, ge=2, description="... or distinct districts")
    alert_leak_window_hours: int = Field(default=24, ge=1, le=168)
    alert_leak_min_reports: int = Field(default=5, ge=1, description="No leak alert on fewer linked reports")
    alert_webhook_url: str | None = Field(default=None, description="POST signed alert events here; unset = no webhook")
    alert_webhook_secret: SecretStr = Field(
        default=SecretStr("fraudwatch-development-webhook-secret"), description="HMAC key of webhook signatures"
    )
    alert_webhook_timeout_s: float = Field(default=5.0, gt=0, le=120)
    alert_webhook_attempts: int = Field(default=3, ge=1, le=20, description="Tries per cycle before waiting longer")

    @field_validator(
        "kafka_bootstrap", "clickhouse_url", "dev_token", "tokens_file", "alert_webhook_url", mode="before"
    )
    @classmethod
    def _blank_means_embedded(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("alert_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> Settings:
        if self.alert_webhook_url and not self.alert_webhook_secret.get_secret_value():
            raise ValueError("FRAUDWATCH_ALERT_WEBHOOK_SECRET must be set when FRAUDWATCH_ALERT_WEBHOOK_URL is")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def raw_topic(self) -> str:
        return f"{self.topic_prefix}.reports.raw"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic_prefix}.reports.deadletter"

    @property
    def alerts_topic(self) -> str:
        return f"{self.topic_prefix}.alerts"

    @property
    def embedded_broker(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse_url is None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.host}:{self.broker_port}"

    @property
    def clickhouse_endpoint(self) -> str:
        """Where every process talks to ClickHouse: a server, or the embedded gateway of `up`."""
        return self.clickhouse_url or f"http://{self.host}:{self.clickhouse_port}"

    @property
    def chdb_path(self) -> Path:
        return self.data_dir / "clickhouse"

    @property
    def worker_state_dir(self) -> Path:
        """Faust's own files (table state, version marker) for this worker, kept with the rest of the data."""
        return self.data_dir / "workers" / self.worker_id

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def to_env(self) -> dict[str, str]:
        """The environment that makes a child process build exactly these settings."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env

    def child_environment(self) -> dict[str, str]:
        """The parent's environment, with any FRAUDWATCH_ variable replaced by these settings."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
        return inherited | self.to_env()
