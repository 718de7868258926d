"""docker-compose.yml is valid Compose, and every setting it passes is one the platform reads."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudwatch.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).parents[2]
COMPOSE_ONLY = {"FRAUDWATCH_IMAGE", "FRAUDWATCH_GRAFANA_CLICKHOUSE_PASSWORD"}  # read by compose / Grafana


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


def known(name: str) -> bool:
    return name.removeprefix(ENV_PREFIX).lower() in Settings.model_fields


def test_every_platform_setting_in_compose_is_read_by_the_platform() -> None:
    services = compose()["services"]
    passed: set[str] = set()
    for name in ("api", "worker", "init"):
        passed |= {k for k in services[name]["environment"] if k.startswith(ENV_PREFIX)}
    assert passed >= {"FRAUDWATCH_KAFKA_BOOTSTRAP", "FRAUDWATCH_CLICKHOUSE_URL", "FRAUDWATCH_HASH_KEY"}
    unknown = sorted(k for k in passed - COMPOSE_ONLY if not known(k))
    assert not unknown, f"compose passes settings the platform does not read: {unknown}"


def test_env_example_names_only_real_settings_and_every_required_secret() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    unknown = sorted(n for n in names if n.startswith(ENV_PREFIX) and n not in COMPOSE_ONLY and not known(n))
    assert not unknown, f".env.example names settings the platform does not read: {unknown}"
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
    assert required <= names, f"required by compose but missing from .env.example: {sorted(required - names)}"


def test_no_secret_values_in_the_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if re.search(r"(PASSWORD|HASH_KEY|TOKEN)\w*:", line):
            assert "${" in line, f"secret given inline: {line.strip()}"


def test_services_start_in_order_and_check_their_health() -> None:
    services = compose()["services"]
    for name in ("kafka", "clickhouse", "grafana", "api"):
        assert "healthcheck" in services[name], name
    assert services["init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"


def test_dockerfile_runs_as_non_root_in_a_slim_multi_stage_image() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("FROM ") >= 2 and "slim" in text
    assert re.search(r"^USER (?!root)", text, re.MULTILINE)


def test_compose_config_validates() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing: .ci/run installs Debian's docker-compose to validate the file")
        pytest.skip("Debian's docker-compose is not installed here (CI installs it)")
    for profile in ([], ["--profile", "kafka-cluster"]):
        result = subprocess.run(
            [binary, "--env-file", str(ROOT / ".env.example"), *profile, "config", "-q"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
