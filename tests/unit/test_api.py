"""Unit tests for fraudwatch.api without a broker: the ingest endpoints' fast path (straight to the
handlers) answers exactly as the same request does through FastAPI's middleware and routes."""

from __future__ import annotations

import gc
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from fraudwatch.api import REPORTS_PATH, create_app
from fraudwatch.collector import FIRST_GENERATION_THRESHOLD, settled_garbage_collector
from fraudwatch.settings import Settings

TOKEN = "unit-test-token"
GOOD = {"description": "对方自称客服，让我转账", "region_code": "420106", "amount_lost": "12.50"}
SUBMITTER = {"authorization": f"Bearer {TOKEN}"}
BATCH = f"{REPORTS_PATH}/batch"


def body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


# Every answer that comes before a report would be produced (there is no broker here), and the 500
# of a batch that reaches the producer.
CASES: list[tuple[str, dict[str, str], bytes]] = [
    (REPORTS_PATH, {}, body(GOOD)),
    (REPORTS_PATH, {"authorization": "Bearer nope"}, body(GOOD)),
    (REPORTS_PATH, {"authorization": "Basic abc"}, body(GOOD)),
    (REPORTS_PATH, SUBMITTER, b"{"),
    (REPORTS_PATH, SUBMITTER, b"\xff\xfe"),
    (REPORTS_PATH, SUBMITTER, b"[]"),
    (REPORTS_PATH, SUBMITTER, body({**GOOD, "region_code": "000000", "extra": 1})),
    (REPORTS_PATH, SUBMITTER, body({**GOOD, "amount_lost": "1.234", "victim_phone": "12"})),
    (REPORTS_PATH, SUBMITTER, body({**GOOD, "description": "   "})),
    (REPORTS_PATH, {**SUBMITTER, "idempotency-key": "-bad"}, body(GOOD)),
    (REPORTS_PATH, {**SUBMITTER, "idempotency-key": "k1"}, body({**GOOD, "report_id": "k2"})),
    (REPORTS_PATH, SUBMITTER, body({**GOOD, "reported_at": "2099-01-01T00:00:00Z"})),
    (REPORTS_PATH, SUBMITTER, body({**GOOD, "reported_at": "2024-01-01T00:00Z", "occurred_at": "2025-01-01T00:00Z"})),
    (REPORTS_PATH, SUBMITTER, b"x" * 30_000),
    (BATCH, {}, body({"reports": [GOOD]})),
    (BATCH, SUBMITTER, b"{"),
    (BATCH, SUBMITTER, b'{"reports": []}'),
    (BATCH, SUBMITTER, body({"reports": [GOOD] * 4})),
    (BATCH, SUBMITTER, body({"reports": [{**GOOD, "region_code": "1"}, 5, {**GOOD, "amount_lost": -1}]})),
    (BATCH, SUBMITTER, body({"reports": [{**GOOD, "reported_at": "2099-01-01T00:00:00Z"}, {"x": 1}]})),
    (BATCH, SUBMITTER, body({"reports": [GOOD] * 400})),
]  # fmt: skip


@pytest.fixture
def app() -> FastAPI:
    return create_app(Settings(dev_token=TOKEN, max_request_bytes=20_000, max_batch_reports=3))


async def answers(app: FastAPI, *, through_fastapi: bool) -> list[tuple[int, list[tuple[str, str]], str]]:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if through_fastapi:  # what the ingest endpoints' own routes do with the request
            await FastAPI.__call__(app, scope, receive, send)
        else:
            await app(scope, receive, send)

    found = []
    # Unexpected errors (here: no producer without the lifespan) are answered 500 and raised after.
    transport = httpx.ASGITransport(app=asgi, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path, headers, content in CASES:
            answer = await client.post(path, headers=headers, content=content)
            found.append((answer.status_code, sorted(answer.headers.items()), answer.text))
    return found


async def test_the_fast_path_answers_as_fastapi_does(app: FastAPI) -> None:
    fast = await answers(app, through_fastapi=False)
    assert fast == await answers(app, through_fastapi=True)
    assert {status for status, _, _ in fast} == {400, 401, 413, 422, 500}


async def test_other_methods_and_paths_still_go_through_fastapi(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        assert (await client.get(REPORTS_PATH)).status_code == 405
        assert (await client.put(BATCH, headers=SUBMITTER)).status_code == 405
        assert (await client.get("/api/v1/whoami", headers=SUBMITTER)).json()["name"]
        assert REPORTS_PATH in (await client.get("/openapi.json")).json()["paths"]


def test_the_collector_is_settled_while_serving_and_as_before_afterwards() -> None:
    thresholds = gc.get_threshold()
    with settled_garbage_collector():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (FIRST_GENERATION_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
