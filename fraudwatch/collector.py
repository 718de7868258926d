"""Garbage-collector settings for the long-running services (the API and the worker).

Both make tens of thousands of short-lived container objects per batch and keep a batch alive until
it is answered or flushed. At the default first-generation threshold (700 allocations) the collector
ran dozens of times per batch and went over the batches in flight again and again, and over
everything start-up made in each full collection: ~11 µs of CPU per report in the worker, 15% of the
API's CPU during batch ingest (BENCHMARKS.md). What start-up made lives as long as the process, so it
is frozen out of every later collection.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# 50,000 took the worker's collections from ~11 to ~3 µs of CPU per report; 200,000 took ~8 µs more off the
# worker's CPU per report in alternating pipeline runs (fraudwatch bench), at the same peak memory.
FIRST_GENERATION_THRESHOLD = 200_000


def settle_garbage_collector() -> tuple[int, int, int]:
    """Freeze what exists now and collect less often; returns the thresholds it replaced."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(FIRST_GENERATION_THRESHOLD, 10, 10)
    return thresholds


@contextmanager
def settled_garbage_collector() -> Iterator[None]:
    """The collector settled while the block runs, and as before afterwards (for a process that goes on)."""
    thresholds = settle_garbage_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
