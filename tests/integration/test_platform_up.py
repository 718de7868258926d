"""End to end through `fraudwatch up`: API -> embedded Kafka -> Faust worker -> embedded ClickHouse."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from tests.integration.conftest import AUTH, RunningPlatform, alive, children_of, wait_until

TOTALS = (
    "SELECT (SELECT count() FROM fraudwatch.reports), (SELECT uniqExact(report_id) FROM fraudwatch.reports), "
    "(SELECT sum(reports) FROM fraudwatch.report_stats_1m), (SELECT sum(amount_lost_fen) FROM fraudwatch.reports), "
    "(SELECT sum(loss_fen) FROM fraudwatch.report_stats_1m)"
)


def totals(platform: RunningPlatform) -> tuple[int, int, int, int, int]:
    row = platform.query(TOTALS)[0]
    return tuple(int(v or 0) for v in row)  # type: ignore[return-value]


def expected_loss_fen(first: int, count: int) -> int:
    return sum((100 + i) * 100 + 50 for i in range(first, first + count))


@pytest.fixture
def platform(platform_factory: Callable[[], RunningPlatform]) -> RunningPlatform:
    return platform_factory().start()


def test_thousand_reports_land_in_clickhouse_within_ten_seconds(platform: RunningPlatform) -> None:
    ids = platform.post_reports(1000)
    posted = time.monotonic()
    wait_until(lambda: totals(platform)[0] >= 1000, 10, "1000 reports in ClickHouse")
    landed_in = time.monotonic() - posted
    wait_until(lambda: totals(platform)[2] >= 1000, 5, "per-minute stats to cover 1000 reports")
    facts, distinct, stat_reports, loss, stat_loss = totals(platform)
    assert (facts, distinct, stat_reports) == (1000, 1000, 1000)
    assert loss == stat_loss == expected_loss_fen(0, 1000)
    stored_ids = {row[0] for row in platform.query("SELECT report_id FROM fraudwatch.reports")}
    assert stored_ids == set(ids)
    print(f"1000 reports visible in ClickHouse {landed_in:.2f}s after the last 202")


def test_query_command_works_while_up_runs(platform: RunningPlatform) -> None:
    platform.post_reports(3)
    wait_until(lambda: totals(platform)[0] == 3, 10, "3 reports")
    result = subprocess.run(
        [sys.executable, "-m", "fraudwatch", "query", "SELECT count() AS n FROM fraudwatch.reports"],
        env=platform.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].strip() == "n"
    assert result.stdout.splitlines()[2].strip() == "3"
    bad = subprocess.run(
        [sys.executable, "-m", "fraudwatch", "query", "SELEC nonsense"],
        env=platform.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "Syntax error" in bad.stderr


def test_api_rejects_bad_input_naming_the_field_and_writes_nothing(platform: RunningPlatform) -> None:
    with httpx.Client(base_url=platform.api, timeout=10, headers=AUTH) as client:
        malformed = client.post(
            "/api/v1/reports", content=b'{"description": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert malformed.json()["error"] == "malformed JSON"
        invalid = client.post("/api/v1/reports", json={"description": "刷单", "region_code": "99", "amount_lost": -5})
        assert invalid.status_code == 422
        fields = {d["field"] for d in invalid.json()["detail"]}
        assert fields == {"region_code", "amount_lost"}
        assert client.post("/api/v1/nope", json={}).status_code == 404
        assert "Traceback" not in invalid.text
        ok = client.post("/api/v1/reports", json={"description": "刷单返利", "region_code": "420106", "amount_lost": 1})
        assert ok.status_code == 202
    wait_until(lambda: totals(platform)[0] == 1, 10, "the one valid report")
    time.sleep(1.0)  # a bad request that slipped through would land in the same flush window
    assert totals(platform)[0] == 1


def _live_child(platform: RunningPlatform, name: str) -> int | None:
    try:
        return platform.child_pid(name)
    except LookupError:  # between a crash and its restart
        return None


def test_worker_killed_with_sigkill_is_restarted_and_nothing_counts_twice(platform: RunningPlatform) -> None:
    first_worker = platform.child_pid("worker")
    platform.post_reports(400)
    platform.child_pid("worker")  # still alive
    import os

    os.kill(first_worker, signal.SIGKILL)
    platform.post_reports(400, start=400)
    wait_until(lambda: _live_child(platform, "worker") not in (None, first_worker), 30, "a new worker process")
    second_worker = platform.child_pid("worker")
    os.kill(second_worker, signal.SIGKILL)
    platform.post_reports(200, start=800)
    wait_until(lambda: totals(platform)[0] >= 1000 and totals(platform)[2] >= 1000, 60, "1000 reports after restarts")
    time.sleep(2.0)  # let any redelivery that would double-count land
    facts, distinct, stat_reports, loss, stat_loss = totals(platform)
    assert (facts, distinct, stat_reports) == (1000, 1000, 1000)
    assert loss == stat_loss == expected_loss_fen(0, 1000)
    assert "child exited; restarting" in platform.output()


def test_stop_and_restart_keeps_data_and_counts_nothing_twice(
    platform_factory: Callable[[], RunningPlatform],
) -> None:
    platform = platform_factory().start()
    platform.post_reports(300)
    assert platform.stop(signal.SIGTERM) == 0
    assert "drained" in platform.output() or "draining: 0" in platform.output()
    restarted = RunningPlatform(data_dir=platform.data_dir).start()
    try:
        assert totals(restarted)[:3] == (300, 300, 300)
        restarted.post_reports(200, start=300)
        wait_until(lambda: totals(restarted)[0] >= 500 and totals(restarted)[2] >= 500, 20, "500 reports")
        time.sleep(1.5)
        facts, distinct, stat_reports, loss, stat_loss = totals(restarted)
        assert (facts, distinct, stat_reports) == (500, 500, 500)
        assert loss == stat_loss == expected_loss_fen(0, 500)
    finally:
        restarted.stop()


def test_sigterm_and_sigkill_of_up_leave_no_process_behind(
    platform_factory: Callable[[], RunningPlatform],
) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        platform = platform_factory().start()
        assert platform.process is not None
        tree = children_of(platform.process.pid)
        assert len(tree) == 4, f"expected broker, worker, API and dashboards under up, found {tree}"
        platform.stop(sig)
        wait_until(lambda tree=tree: not any(alive(pid) for pid in tree), 15, f"children gone after {sig.name}")


def test_status_reports_every_component(platform: RunningPlatform) -> None:
    platform.post_reports(5)
    wait_until(lambda: totals(platform)[0] == 5, 10, "5 reports")
    wait_until(lambda: any((platform.data_dir / "run").glob("fraudwatch-worker.*.health.json")), 10, "worker health")
    result = subprocess.run(
        [sys.executable, "-m", "fraudwatch", "status", "--format", "json"],
        env=platform.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["component"]: c for c in json.loads(result.stdout)}
    assert set(checks) == {"producer API", "Kafka", "ClickHouse", "alerts", "worker"}
    assert all(c["ok"] for c in checks.values())
    assert "5 reports" in checks["ClickHouse"]["detail"]
    assert checks["alerts"]["detail"].startswith("open: none")
