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


def health_path(data_dir: Path, worker_id: str, pid: int) -> Path:
    """One file per worker process: several workers of one group may share a data directory."""
    return data_dir / "run" / f"{worker_id}.{pid}.health.json"


def live_health(data_dir: Path, worker_id: str) -> list[dict[str, Any]]:
    """The health of every worker of this group on this machine whose process is still alive."""
    found = []
    for path in sorted((data_dir / "run").glob(f"{worker_id}.*.health.json")):
        state = read_health(path)
        if state is None:
            continue
        try:
            os.kill(int(state["pid"]), 0)
        except (ProcessLookupError, KeyError, ValueError):
            path.unlink(missing_ok=True)  # a worker that is gone leaves no live health behind
            continue
        except PermissionError:
            pass
        found.append(state)
    return found


def read_health(path: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
