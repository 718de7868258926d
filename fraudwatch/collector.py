"""Garbage-collector settings for the long-running services (the API and the worker).

Both make tens of thousands of short-lived container objects per batch and keep a batch alive until
it is answered or flushed. At the default first-generation threshold (700 allocations) the collector
ran dozens of times per batch and went over the batches in flight again and again, and over
everything start-up made in each full collection: ~11 µs of CPU per report in the worker, 15% of the
API's CPU during batch ingest (BENCHMARKS.md). What start-up made lives as long as the process, so it
is frozen out of every later collection.

The worker also has glibc's allocator keep what a flush frees for the next one (`keep_freed_memory`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
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


# glibc's mallopt parameters, and what the worker sets them to (see `keep_freed_memory`).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest
TRIM_THRESHOLD = 512 * 2**20


def keep_freed_memory() -> bool:
    """Have glibc's allocator keep memory the process frees, for the next batch, instead of giving it back to
    the system at once; True if it is glibc's and took the settings.

    Every flush of the worker allocates and frees tens of MB (columns, lookups, buffers): by default large
    blocks are mapped and unmapped one by one until glibc's threshold has adapted, and the top of the heap is
    trimmed whenever twice that threshold is free there, so the next flush page-faults the same memory in
    again. The worker spent ~15-20% of its CPU in the kernel; its flush path made 0.6 page faults per report
    in-process, 0.2 with these settings. Peak memory is unchanged: the process only holds on to it.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        mallopt = ctypes.CDLL(libc_name).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
