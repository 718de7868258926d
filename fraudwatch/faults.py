"""The fault suite: run a real platform, stream reports through it while killing its parts, throw bad
requests at it, and prove that nothing accepted was lost or counted twice and nothing personal leaked.

`fraudwatch faults` runs the long variant; the test suite runs a short one. Both print one table.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx

from fraudwatch.settings import Settings
from fraudwatch.testing import AUTH, RunningPlatform, clickhouse_texts, raw_identifiers_in, topic_values


@dataclass
class Summary:
    faults_injected: int = 0
    reports_sent: int = 0
    reports_accepted: int = 0
    reports_in_clickhouse: int = 0
    duplicates: int = 0
    lost: int = 0
    rollup_mismatch: int = 0
    bad_requests: int = 0
    server_errors: int = 0
    raw_identifiers_found: int = 0

    @property
    def passed(self) -> bool:
        return (
            self.lost == self.duplicates == self.rollup_mismatch == self.server_errors == 0
            and self.raw_identifiers_found == 0
            and self.reports_in_clickhouse == self.reports_accepted
        )

    def table(self) -> str:
        rows = [
            ("faults injected", self.faults_injected, ""),
            ("reports sent", self.reports_sent, ""),
            ("reports accepted (2xx)", self.reports_accepted, ""),
            ("reports in ClickHouse", self.reports_in_clickhouse, "= accepted"),
            ("duplicates", self.duplicates, "0"),
            ("lost", self.lost, "0"),
            ("rollup rows not matching facts", self.rollup_mismatch, "0"),
            ("bad requests tried", self.bad_requests, ""),
            ("5xx seen", self.server_errors, "0"),
            ("raw identifiers or keys in topics/tables/logs", self.raw_identifiers_found, "0"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"{'measure'.ljust(width)} | value      | expected", "-" * (width + 25)]
        lines += [f"{name.ljust(width)} | {value!s:<10} | {expected}" for name, value, expected in rows]
        lines.append(f"verdict: {'PASS' if self.passed else 'FAIL'}")
        return "\n".join(lines)


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def _report(i: int, phone: str) -> dict[str, Any]:
    return {
        "description": f"第{i}号：对方冒充客服，电话{phone[:3]}-{phone[3:7]}-{phone[7:]}，让我转账退款",
        "region_code": ("420106", "110105", "440305", "510107")[i % 4],
        "amount_lost": f"{100 + i % 900}.50",
        "victim": {"phone": phone},
    }


def send_load(
    platform: RunningPlatform,
    count: int,
    seed: int,
    accepted: list[str],
    phones: list[str],
    faults_done: threading.Event,
) -> int:
    """Sends at least `count` reports in small batches, and keeps sending until the faults are done;
    records accepted ids. Returns how many were sent."""
    rng = random.Random(seed)
    sent = 0
    with httpx.Client(base_url=platform.api, headers=AUTH, timeout=15) as client:
        while sent < count or not faults_done.is_set():
            size = rng.randint(1, 40) if sent >= count else min(count - sent, rng.randint(1, 40))
            batch = []
            for i in range(sent, sent + size):
                phone = _phone(rng)
                phones.append(phone)
                batch.append(_report(i, phone))
            try:
                answer = client.post("/api/v1/reports/batch", json={"reports": batch})
            except httpx.HTTPError:
                time.sleep(0.5)  # the API is being restarted; a real client retries the same way
                continue
            sent += size
            if answer.status_code == 200:
                accepted.extend(r["report_id"] for r in answer.json()["results"] if r["status"] == "accepted")
    return sent


def bad_requests(platform: RunningPlatform, count: int, seed: int) -> tuple[int, int]:
    """(requests tried, 5xx answers) for generated hostile requests."""
    rng = random.Random(seed)
    makers: list[Callable[[], tuple[str, bytes, dict[str, str]]]] = [
        lambda: ("/api/v1/reports", bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))), {}),
        lambda: ("/api/v1/reports", b"[" * rng.randint(1, 100_000), {"content-type": "application/json"}),
        lambda: (
            "/api/v1/reports",
            b'{"description": "\x00\xff", "region_code": 1}',
            {"content-type": "application/json"},
        ),
        lambda: ("/api/v1/reports/batch", b'{"reports": [1, "x", null, {}]}', {"content-type": "application/json"}),
        lambda: ("/api/v1/reports", b'{"amount_lost": 1e999, "region_code": "420106", "description": "x"}', {}),
        lambda: ("/api/v1/reports", b'{"description": "' + b"A" * 6000 + b'"}', {"content-type": "application/json"}),
        lambda: ("/api/v1/%00/../reports", b"{}", {}),
    ]
    errors = 0
    with httpx.Client(base_url=platform.api, headers=AUTH, timeout=15) as client:
        for _ in range(count):
            path, body, headers = rng.choice(makers)()
            try:
                answer = client.post(path, content=body, headers=headers)
            except httpx.HTTPError:
                errors += 1
                continue
            errors += answer.status_code >= 500
    return count, errors


def run(data_dir: Path, *, reports: int, cycles: int, bad: int, seed: int, echo: Callable[[str], None]) -> Summary:
    summary = Summary()
    platform = RunningPlatform(data_dir).start(timeout_s=90)
    rng = random.Random(seed)
    accepted: list[str] = []
    phones: list[str] = []
    try:
        echo(f"platform up on API {platform.api}; streaming {reports} reports with {cycles} worker kills")
        loader = threading.Thread(
            target=lambda: setattr(
                summary, "reports_sent", send_load(platform, reports, seed, accepted, phones, faults_done)
            )
        )
        faults_done = threading.Event()
        loader.start()
        for cycle in range(cycles):
            worker = _wait_for_child(platform, "worker")
            time.sleep(rng.uniform(0.5, 2.5))  # kill it at a random point of its work
            if worker is not None and _child(platform, "worker") == worker:
                os.kill(worker, signal.SIGKILL)
                summary.faults_injected += 1
                echo(f"  fault {cycle + 1}/{cycles}: SIGKILL worker pid {worker}")
            if cycle == cycles // 2 and (api := _child(platform, "api")) is not None:
                os.kill(api, signal.SIGKILL)
                summary.faults_injected += 1
                echo(f"  fault: SIGKILL API pid {api}")
        faults_done.set()
        loader.join()
        summary.reports_accepted = len(accepted)
        echo(f"sent {summary.reports_sent}, accepted {summary.reports_accepted}; waiting for ClickHouse")
        stored_of_accepted = _stored_counter(platform, accepted)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if stored_of_accepted()[1] >= len(accepted):
                break
            time.sleep(1)
        time.sleep(3)  # a redelivery that would double-count has landed by now
        count, distinct = stored_of_accepted()
        summary.reports_in_clickhouse, summary.duplicates = int(distinct), int(count) - int(distinct)
        summary.lost = len(accepted) - int(distinct)
        facts, stats = platform.query(
            "SELECT (SELECT count() FROM fraudwatch.reports), (SELECT sum(reports) FROM fraudwatch.report_stats_1m)"
        )[0]
        summary.rollup_mismatch = abs(int(facts) - int(stats or 0))
        echo(f"throwing {bad} bad requests")
        summary.bad_requests, summary.server_errors = bad_requests(platform, bad, seed)
        echo("scanning every topic and String column for raw identifiers")
        texts = asyncio.run(topic_values(f"127.0.0.1:{platform.broker_port}")) + clickhouse_texts(
            platform.query, "fraudwatch"
        )
        texts.append(platform.output())  # the logs of `up` and of every process it started
        secrets = [*phones, Settings().hash_key.get_secret_value()]
        summary.raw_identifiers_found = raw_identifiers_in(texts, secrets)
    finally:
        platform.stop()
    return summary


def _stored_counter(platform: RunningPlatform, accepted: list[str]) -> Callable[[], tuple[int, int]]:
    """(rows, distinct report ids) in ClickHouse among the accepted ids, however many there are."""
    client = clickhouse_connect.get_client(dsn=platform.clickhouse)
    client.command("CREATE TABLE IF NOT EXISTS default.fault_suite_accepted (report_id String) ENGINE = Memory")
    client.command("TRUNCATE TABLE default.fault_suite_accepted")
    client.insert("default.fault_suite_accepted", [[i] for i in accepted], column_names=["report_id"])

    def count() -> tuple[int, int]:
        rows, distinct = client.query(
            "SELECT count(), uniqExact(report_id) FROM fraudwatch.reports "
            "WHERE report_id IN (SELECT report_id FROM default.fault_suite_accepted)"
        ).result_rows[0]
        return int(rows), int(distinct)

    return count


def _wait_for_child(platform: RunningPlatform, name: str, timeout_s: float = 60) -> int | None:
    """The child once `up` has it running again (restarts back off after repeated crashes)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (pid := _child(platform, name)) is not None:
            return pid
        time.sleep(0.2)
    return None


def _child(platform: RunningPlatform, name: str) -> int | None:
    try:
        return platform.child_pid(name)
    except LookupError:
        return None
