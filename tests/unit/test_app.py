"""Unit tests for streams.app: the Faust app the worker runs."""

from __future__ import annotations

import gc
import importlib.util
import sys
from pathlib import Path

import pytest

from fraudwatch.settings import Settings
from streams.app import GC_CLOCK, build_app, prepare_process


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
        assert gc.get_threshold() == (50_000, 10, 10)
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
