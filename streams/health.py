"""The worker's health, as a small JSON file that `fraudwatch status` and operators can read.

Written after every flush attempt (atomically, by rename), so a worker stuck retrying a ClickHouse
write shows as degraded with the error and how much is waiting, and a dead worker shows a stale
timestamp.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sinks.writer import FlushResult


class WorkerHealth:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, Any] = {"status": "starting", "pid": os.getpid(), "consecutive_failures": 0}
        self._last_write = 0.0

    def flushed(self, result: FlushResult, reports_seen: int, invalid_messages: int) -> None:
        self.state.update(
            status="ok",
            last_flush_at=_now(),
            last_flush_ms=round(result.seconds * 1000, 1),
            consecutive_failures=0,
            last_error=None,
            pending=0,
            reports_seen=reports_seen,
            invalid_messages=invalid_messages,
        )
        self._write(throttle_s=1.0)

    def failed(self, error: str, pending: int) -> None:
        self.state.update(
            status="degraded",
            last_error=error[:500],
            last_error_at=_now(),
            pending=pending,
            consecutive_failures=int(self.state["consecutive_failures"]) + 1,
        )
        self._write(throttle_s=0.0)

    def _write(self, throttle_s: float) -> None:
        now = time.monotonic()
        if now - self._last_write < throttle_s:
            return
        self._last_write = now
        self.state["written_at"] = _now()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.state), encoding="utf-8")
        partial.replace(self.path)


def read_health(path: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
