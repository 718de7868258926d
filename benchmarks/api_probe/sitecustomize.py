"""Where a live API process spends its CPU, for `bench_api.py --probe`: garbage collection and the
steps of the ingest path, as thread CPU, written as JSON to $BENCH_API_PROBE every half second.

Python imports `sitecustomize` at start-up from PYTHONPATH, so the API under test runs unchanged:
the collector is timed through `gc.callbacks`, and once `fraudwatch.api` is imported the module
globals its handlers call per batch or report (`decode_batch`, `sanitise_for_wire`, ...) are
replaced by timing wrappers (the handlers look them up at each call). A collection that runs during
a step counts as the collector's, not the step's. A wrapper adds ~0.3 µs per call; the process's
own CPU time is written beside, to take shares of.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

# Module -> functions the ingest path calls through that module's globals; absent ones are skipped
# (an older revision may lack some).
STEPS = {
    "fraudwatch.api": (
        "decode_batch",
        "decode_report",
        "sanitise_for_wire",
        "sanitise_batch_for_wire",
        "fresh_report_ids",
        "_json",
    ),
    "fraudwatch.producer": ("encode_envelope", "partition_for"),
}
_spent: dict[str, list[float]] = {"gc": [0, 0.0]}
_gc_started = [0.0]


def _collector(phase: str, _: dict[str, Any]) -> None:
    if phase == "start":
        _gc_started[0] = time.thread_time()
    else:
        _spent["gc"][0] += 1
        _spent["gc"][1] += time.thread_time() - _gc_started[0]


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    record = _spent.setdefault(name, [0, 0.0])

    def timed(*args: Any, **kwargs: Any) -> Any:
        collecting = _spent["gc"][1]
        started = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            record[0] += 1
            record[1] += time.thread_time() - started - (_spent["gc"][1] - collecting)

    return timed


def _watch(path: str) -> None:
    wrapped = set()
    while True:
        time.sleep(0.5)
        for module_name, names in STEPS.items():
            module = sys.modules.get(module_name)
            if module is None or module_name in wrapped or getattr(module.__spec__, "_initializing", False):
                continue  # not imported, done, or still importing (names defined further down are missing)
            for name in names:
                if hasattr(module, name):
                    setattr(module, name, _timed(name, getattr(module, name)))
            wrapped.add(module_name)
        figures = {"process_cpu_s": time.process_time(), "steps": {k: list(v) for k, v in _spent.items()}}
        with open(f"{path}.tmp", "w") as out:
            json.dump(figures, out)
        os.replace(f"{path}.tmp", path)


if os.environ.get("BENCH_API_PROBE"):
    gc.callbacks.append(_collector)
    threading.Thread(target=_watch, args=(os.environ["BENCH_API_PROBE"],), daemon=True).start()
