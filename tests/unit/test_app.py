"""Unit tests for streams.app: the Faust app the worker runs."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from fraudwatch.collector import FIRST_GENERATION_THRESHOLD
from fraudwatch.settings import Settings
from sinks.writer import FlushResult, PreparedBatch
from streams.app import GC_CLOCK, IngestPipeline, build_app, prepare_process
from streams.facts import FactColumns


@pytest.mark.parametrize("seconds", [0.05, 0.1, 2.0])
async def test_worker_consumer_fetches_wait_as_configured(seconds: float) -> None:
    # Faust's own driver fixes the wait at 1.5 s; the worker's consumer must use the setting instead.
    app = build_app(Settings(fetch_max_wait_s=seconds))
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == round(seconds * 1000)
    finally:
        await consumer.stop()


def test_worker_keeps_its_faust_files_in_the_data_dir(tmp_path: Path) -> None:
    # Faust's default is "<app id>-data" in the working directory, which litters wherever it starts.
    settings = Settings(data_dir=tmp_path, worker_id="worker-a")
    app = build_app(settings)
    assert Path(app.conf.datadir) == tmp_path / "workers" / "worker-a"
    assert Path(app.conf.tabledir).is_relative_to(tmp_path)


def test_prepare_process_freezes_start_up_and_collects_less_often() -> None:
    thresholds = gc.get_threshold()
    try:
        prepare_process()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (FIRST_GENERATION_THRESHOLD, 10, 10)
        assert "pandas" in sys.modules or importlib.util.find_spec("pandas") is None
        # The flush log's GC time: collections are clocked from now on, once however often this runs.
        prepare_process()
        assert gc.callbacks.count(GC_CLOCK) == 1
        before = GC_CLOCK.seconds
        gc.collect()
        assert GC_CLOCK.seconds > before
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        while GC_CLOCK in gc.callbacks:
            gc.callbacks.remove(GC_CLOCK)


class _GatedSink:
    """A sink whose writes each wait for the test to let them through: a double for the write ordering only
    (the real sink is tested against the embedded engine in tests/integration/test_sink.py)."""

    def __init__(self) -> None:
        self.pending = 0
        self.gates: list[threading.Event] = []
        self.written: list[int] = []

    def add(self, reports: int) -> None:
        self.pending += reports

    def prepare(self) -> PreparedBatch:
        self.pending = 0
        self.gates.append(threading.Event())
        return PreparedBatch([], FactColumns([]), [], 0.0)

    def write(self, batch: PreparedBatch) -> FlushResult:
        number = len(self.written)
        assert self.gates[number].wait(timeout=30)
        self.written.append(number)
        return FlushResult(1, 0, 0, 0.0)


class _Event:
    def ack(self) -> None:
        pass


async def _settles(awaitable: Any) -> bool:
    """Whether it completes soon (a write it must not wait for is held back all along)."""
    try:
        await asyncio.wait_for(asyncio.shield(awaitable), timeout=0.5)
    except TimeoutError:
        return False
    return True


async def test_a_full_buffer_waits_for_the_writes_before_its_own_not_for_its_own(tmp_path: Path) -> None:
    sink = _GatedSink()
    settings = Settings(data_dir=tmp_path, flush_max_rows=10)
    pipeline = IngestPipeline(sink, settings, {})  # type: ignore[arg-type]
    sink.add(10)
    assert pipeline.must_flush
    assert await _settles(pipeline.flush_full_buffer())  # its own write is held back, and it returned
    assert sink.written == []
    sink.add(10)
    second = asyncio.ensure_future(pipeline.flush_full_buffer())
    assert not await _settles(second)  # the first write is still held back
    sink.gates[0].set()
    assert await _settles(second)
    assert sink.written == [0]  # the second write is still held back
    sink.gates[1].set()
    for _ in range(300):
        if sink.written == [0, 1]:
            break
        await asyncio.sleep(0.01)
    assert sink.written == [0, 1]
