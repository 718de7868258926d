"""Unit tests for streams.app: the Faust app the worker runs."""

from __future__ import annotations

import pytest

from fraudwatch.settings import Settings
from streams.app import build_app


@pytest.mark.parametrize("seconds", [0.05, 0.1, 2.0])
async def test_worker_consumer_fetches_wait_as_configured(seconds: float) -> None:
    # Faust's own driver fixes the wait at 1.5 s; the worker's consumer must use the setting instead.
    app = build_app(Settings(fetch_max_wait_s=seconds))
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == round(seconds * 1000)
    finally:
        await consumer.stop()
