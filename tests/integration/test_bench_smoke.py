"""`fraudwatch bench --quick` end to end: the JSON has every section, each with positive numbers.

A smoke test, not a measurement: nothing about speed is asserted, since the figures depend on the
machine and on whatever else runs on it. The suite runs in a subprocess because it opens an embedded
ClickHouse of its own, and chDB allows one data directory per process (this session may hold one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def positive(section: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = section[key]
        assert isinstance(value, int | float) and value > 0, f"{key} = {value!r}"


@pytest.mark.timeout(600)
def test_quick_bench_reports_every_section(tmp_path: Path) -> None:
    output = tmp_path / "out" / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-m", "fraudwatch.bench_cmd", "--quick", "--reports", "1000", "--rate-duration", "1",
         "--output", str(output)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=570, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    results = json.loads(output.read_text())

    positive(results["baseline"], "messages", "reports", "messages_per_s", "reports_per_s")
    positive(results["preload"], "messages_per_s", "reports_per_s")

    pipeline = results["pipeline"]
    positive(pipeline, "reports", "startup_s", "seconds", "reports_per_s", "ratio_to_baseline")
    assert pipeline["stored"] == pipeline["reports"] == 1000

    detectors = results["detectors"]
    positive(detectors, "rounds", "cycle_ms_p50", "reports_in_window", "us_per_report_in_window")
    assert detectors["cycle_ms_p50"] <= detectors["cycle_ms_max"] and detectors["reports_in_window"] == 1000
    assert "early-warning cycle" in done.stdout

    steps = results["latency"]["steps"]
    assert [s["offered_per_s"] for s in steps] == [50, 200, 500]
    for step in steps:
        positive(step, "accepted", "achieved_per_s", "matched_in_clickhouse", "p50_s", "p95_s", "p99_s")
        assert step["p50_s"] <= step["p95_s"] <= step["p99_s"]

    ingest = results["ingest"]
    positive(ingest["single"], "requests", "requests_per_s", "reports_per_s", "ratio_to_broker")
    positive(ingest["batch"], "requests", "reports_per_s", "ratio_to_broker")
    positive(ingest["broker_single"], "messages_per_s", "reports_per_s")
    positive(ingest["broker_batch"], "messages_per_s", "reports_per_s")

    memory = results["memory"]
    assert {"broker", "worker", "api", "bench (incl. ClickHouse)"} <= set(memory)
    positive(memory, *memory)

    assert {t["status"] for t in results["targets"]} <= {"PASS", "MISS", "n/a"}
    assert "target: status" in done.stdout and "results written to" in done.stdout
