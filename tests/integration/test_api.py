"""The producer API against the real broker and ClickHouse: contract, errors, auth, idempotency, PII."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet

from fraudwatch.api import create_app
from fraudwatch.auth import token_digest
from fraudwatch.broker import ensure_topics, start_embedded_broker, wait_for_broker
from fraudwatch.settings import Settings
from fraudwatch.testing import clickhouse_texts, raw_identifiers_in, topic_values
from tests.integration.conftest import (
    AUTH,
    RunningPlatform,
    alive,
    children_of,
    free_port,
    report_json,
    unique,
    wait_until,
)

SUBMITTER = "fw_submitter-only-token"
ANALYST = "fw_analyst-only-token"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    data = tmp_path_factory.mktemp("api-platform")
    tokens = data / "tokens.json"
    tokens.write_text(
        json.dumps(
            [
                {
                    "name": "wuhan-hotline",
                    "roles": ["submitter"],
                    "channel": "hotline",
                    "sha256": token_digest(SUBMITTER),
                },
                {"name": "analysts", "roles": ["analyst"], "sha256": token_digest(ANALYST)},
            ]
        )
    )
    running = RunningPlatform(data_dir=data / "platform", extra_env={"FRAUDWATCH_TOKENS_FILE": str(tokens)})
    running.start()
    yield running
    running.stop()


def count(platform: RunningPlatform, where: str = "1") -> int:
    return int(platform.query(f"SELECT count() FROM fraudwatch.reports WHERE {where}")[0][0])


def client(platform: RunningPlatform, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=platform.api, timeout=15, headers=headers)


def test_every_endpoint_checks_token_and_role(platform: RunningPlatform) -> None:
    calls: list[tuple[str, str, Any, str]] = [
        ("POST", "/api/v1/reports", report_json(1), "submitter"),
        ("POST", "/api/v1/reports/batch", {"reports": [report_json(2)]}, "submitter"),
        ("GET", "/api/v1/reports/00000000-0000-0000-0000-000000000000", None, "analyst"),
    ]
    for method, path, body, role in calls:
        with client(platform) as anonymous:
            assert anonymous.request(method, path, json=body).status_code == 401
        with client(platform, "fw_not-a-token") as stranger:
            assert stranger.request(method, path, json=body).status_code == 401
        wrong, right = (ANALYST, SUBMITTER) if role == "submitter" else (SUBMITTER, ANALYST)
        with client(platform, wrong) as other_role:
            forbidden = other_role.request(method, path, json=body)
            assert forbidden.status_code == 403 and role in forbidden.json()["error"]
        with client(platform, right) as allowed:
            assert allowed.request(method, path, json=body).status_code in (200, 202, 404)


def test_submitter_token_names_the_source(platform: RunningPlatform) -> None:
    with client(platform, SUBMITTER) as hotline:
        report_id = hotline.post("/api/v1/reports", json=report_json(5, channel=None)).json()["report_id"]
    wait_until(lambda: count(platform, f"report_id = '{report_id}'") == 1, 15, "the report")
    row = platform.query(f"SELECT submitter, channel FROM fraudwatch.reports WHERE report_id = '{report_id}'")
    assert row == [("wuhan-hotline", "hotline")]
    with client(platform, ANALYST) as analyst:
        status = analyst.get(f"/api/v1/reports/{report_id}").json()
    assert status["report_id"] == report_id and status["channel"] == "hotline"


def test_error_classes(platform: RunningPlatform) -> None:
    with client(platform, SUBMITTER) as api:
        bad_json = api.post(
            "/api/v1/reports", content=b'{"description": "x",', headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400
        invalid = api.post(
            "/api/v1/reports",
            json={
                "description": "",
                "region_code": "42010",
                "amount_lost": "1.234",
                "channel": "fax",
                "victim": {"phone": "12", "id_number": "123"},
                "unknown_field": 1,
            },
        )
        assert invalid.status_code == 422
        fields = {d["field"] for d in invalid.json()["detail"]}
        assert fields >= {"description", "region_code", "amount_lost", "channel", "victim.phone", "victim.id_number",
                          "unknown_field"}  # fmt: skip
        huge = api.post(
            "/api/v1/reports", content=b"x" * (9 * 1024 * 1024), headers={"content-type": "application/json"}
        )
        assert huge.status_code == 413
        assert api.get("/api/v1/nothing-here").status_code == 404
        future = api.post("/api/v1/reports", json=report_json(1, reported_at="2099-01-01T00:00:00+08:00"))
        assert future.status_code == 422 and "future" in future.text
        for response in (bad_json, invalid, huge, future):
            assert "Traceback" not in response.text and 'File "' not in response.text


def test_resending_a_keyed_report_answers_the_same_and_stores_one(platform: RunningPlatform) -> None:
    key = unique("client-key")
    with client(platform, SUBMITTER) as api:
        first = api.post("/api/v1/reports", json=report_json(7, report_id=key))
        again = api.post("/api/v1/reports", json=report_json(7, report_id=key))
        header_key = unique("header-key")
        by_header = [
            api.post("/api/v1/reports", json=report_json(8), headers={"Idempotency-Key": header_key}) for _ in "ab"
        ]
    assert first.status_code == again.status_code == 202
    assert first.json()["report_id"] == again.json()["report_id"]
    assert by_header[0].json()["report_id"] == by_header[1].json()["report_id"]
    ids = (first.json()["report_id"], by_header[0].json()["report_id"])
    wait_until(lambda: count(platform, f"report_id IN {ids}") == 2, 15, "both keyed reports")


def test_a_keyed_copy_that_reaches_kafka_twice_is_stored_once(platform: RunningPlatform) -> None:
    # The API's memory of keys is lost when it restarts: the worker's changelogged index still drops the copy.
    key = unique("restart-key")
    with client(platform, SUBMITTER) as api:
        first = api.post("/api/v1/reports", json=report_json(9, report_id=key)).json()["report_id"]
    api_pid = platform.child_pid("api")
    import os

    os.kill(api_pid, signal.SIGKILL)
    wait_until(lambda: _api_up(platform), 30, "the restarted API")
    with client(platform, SUBMITTER) as api:
        second = api.post("/api/v1/reports", json=report_json(9, report_id=key)).json()["report_id"]
        marker = api.post("/api/v1/reports", json=report_json(10)).json()["report_id"]
    assert first == second
    wait_until(lambda: count(platform, f"report_id = '{marker}'") == 1, 20, "a later report")
    assert count(platform, f"report_id = '{first}'") == 1


def _api_up(platform: RunningPlatform) -> bool:
    try:
        return httpx.get(f"{platform.api}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_batch_accepts_the_valid_items_and_names_what_is_wrong_with_the_rest(platform: RunningPlatform) -> None:
    items = [report_json(100 + i, description=f"批量提交 {unique('b')}") for i in range(10)]
    items[2]["region_code"] = "000000"
    items[5]["amount_lost"] = -1
    items[8] = {"description": "no region"}
    with client(platform, SUBMITTER) as api:
        answer = api.post("/api/v1/reports/batch", json={"reports": items})
        too_many = api.post("/api/v1/reports/batch", json={"reports": [report_json(1)] * 1001})
    assert answer.status_code == 200 and too_many.status_code == 413
    body = answer.json()
    assert (body["accepted"], body["rejected"], body["failed"]) == (7, 3, 0)
    statuses = {r["index"]: r for r in body["results"]}
    assert {i for i, r in statuses.items() if r["status"] == "rejected"} == {2, 5, 8}
    assert statuses[2]["errors"][0]["field"] == "region_code"
    assert statuses[5]["errors"][0]["field"] == "amount_lost"
    assert {e["field"] for e in statuses[8]["errors"]} == {"region_code", "amount_lost"}
    accepted = tuple(r["report_id"] for r in body["results"] if r["status"] == "accepted")
    wait_until(lambda: count(platform, f"report_id IN {accepted}") == 7, 15, "the 7 accepted reports")


def test_no_raw_identifier_reaches_any_topic_or_table(platform: RunningPlatform) -> None:
    phone, id_number, card, qq = "13912345678", "42010619900307123X", "6222021234567890123", "987654321"
    with client(platform, SUBMITTER) as api:
        body = report_json(
            11,
            description=(
                f"骗子打我电话 139-1234-5678，让我把身份证 {id_number} 和卡号 6222 0212 3456 7890 123 发过去，QQ {qq}"
            ),
            victim={"phone": "+86 139 1234 5678", "id_number": id_number.lower(), "age_band": "over_60"},
            scammer={
                "phones": ["17088889999"],
                "qq": [qq],
                "bank_accounts": [card],
                "urls": ["http://fake-shop.example.cn/pay"],
            },
        )
        report_id = api.post("/api/v1/reports", json=body).json()["report_id"]
    wait_until(lambda: count(platform, f"report_id = '{report_id}'") == 1, 15, "the report")
    secrets = [phone, id_number, id_number.lower(), card, "17088889999", "6222 0212", qq]
    texts = asyncio.run(topic_values(f"127.0.0.1:{platform.broker_port}")) + clickhouse_texts(
        platform.query, "fraudwatch"
    )
    assert len(texts) > 20, "expected messages and stored values to scan"
    assert raw_identifiers_in(texts, secrets) == 0
    stored = platform.query(
        f"SELECT victim_phone_hash, victim_id_hash, length(scammer_contacts), scammer_domains, description_redacted "
        f"FROM fraudwatch.reports WHERE report_id = '{report_id}'"
    )[0]
    assert stored[0].startswith("phone:") and stored[1].startswith("id_card:") and stored[2] == 4
    assert stored[3] == ["fake-shop.example.cn"]
    assert "[PHONE]" in stored[4] and "[ID_CARD]" in stored[4] and "[BANK_CARD]" in stored[4]


async def test_broker_down_answers_503_quickly_never_202(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, broker_port=free_port(), dev_token="fw_t", topic_prefix=unique("t"))
    broker = start_embedded_broker(settings, tmp_path / "broker.log")
    try:
        await wait_for_broker(settings.bootstrap_servers)
        await ensure_topics(settings)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://api", headers={"Authorization": "Bearer fw_t"}
            ) as api:
                assert (await api.post("/api/v1/reports", json=report_json(1))).status_code == 202
                broker.send_signal(signal.SIGKILL)
                broker.wait()
                started = asyncio.get_running_loop().time()
                answer = await api.post("/api/v1/reports", json=report_json(2))
                took = asyncio.get_running_loop().time() - started
        assert answer.status_code == 503
        assert answer.headers["Retry-After"].isdigit()
        assert took < 30, f"a 503 should come within the send timeout, took {took:.1f}s"
    finally:
        if broker.poll() is None:
            broker.kill()


def test_fuzzing_from_the_openapi_document_finds_no_server_error(platform: RunningPlatform) -> None:
    # Property-based requests generated from the served OpenAPI document, each with a valid token so
    # they get past authentication into validation and Kafka.
    schema = schemathesis.openapi.from_url(f"{platform.api}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/reports", "/api/v1/reports/batch"}
    tried: list[int] = []
    http = httpx.Client(base_url=platform.api, timeout=15)
    for operation in operations:

        @settings(max_examples=350, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def no_server_error(case: Any) -> None:
            # Sent with httpx: schemathesis' own transport does not work with this urllib3.
            response = http.request(
                case.method,
                case.formatted_path,
                json=None if isinstance(case.body, NotSet) else case.body,
                params=case.query or None,
                headers={**{k: str(v) for k, v in (case.headers or {}).items()}, **AUTH},
            )
            tried.append(response.status_code)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                assert "Traceback" not in response.text

        no_server_error()
    http.close()
    print(f"fuzzed {len(tried)} requests: {sorted(set(tried))}")
    assert len(tried) >= 300


def test_hostile_payloads_get_clear_4xx_or_are_stored_as_plain_text(platform: RunningPlatform) -> None:
    nested = b'{"description": ' + b"[" * 50_000 + b"]" * 50_000 + b', "region_code": "420106", "amount_lost": 1}'
    sql = "'); DROP TABLE fraudwatch.reports; -- \" OR 1=1 /*"
    script = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    with client(platform, SUBMITTER) as api:
        json_headers = {"content-type": "application/json"}
        assert api.post("/api/v1/reports", content=nested, headers=json_headers).status_code == 400
        assert (
            api.post("/api/v1/reports", content=b'{"description": "\xff\xfe"}', headers=json_headers).status_code == 400
        )
        huge = api.post("/api/v1/reports", json=report_json(1, description="骗" * 5001))
        assert huge.status_code == 422 and huge.json()["detail"][0]["field"] == "description"
        stored_ids = []
        for text in (sql, script, "NUL\u0000inside", "emoji 🤡 and \u202e right-to-left"):
            answer = api.post("/api/v1/reports", json=report_json(2, description=text))
            assert answer.status_code == 202, answer.text
            stored_ids.append(answer.json()["report_id"])
        weird_key = api.post("/api/v1/reports", json=report_json(3, report_id="x'; DROP TABLE reports; --"))
        assert weird_key.status_code == 422
    wait_until(lambda: count(platform, f"report_id IN {tuple(stored_ids)}") == 4, 15, "the hostile-text reports")
    texts = {
        row[0]
        for row in platform.query(
            f"SELECT description_redacted FROM fraudwatch.reports WHERE report_id IN {tuple(stored_ids)}"
        )
    }
    assert sql in texts and script in texts and "NUL\u0000inside" in texts
    assert count(platform) > 0  # the table is still there


def test_submit_command_counts_broken_lines_and_exits_non_zero(platform: RunningPlatform, tmp_path: Path) -> None:
    lines = [
        json.dumps(report_json(1), ensure_ascii=False),
        "{not json",
        json.dumps(report_json(2, region_code="99"), ensure_ascii=False),
        "",
        json.dumps(report_json(3), ensure_ascii=False),
    ]
    path = tmp_path / "reports.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe broken encoding\n")
    result = subprocess.run(
        [sys.executable, "-m", "fraudwatch", "submit", "--file", str(path), "--api-url", platform.api,
         "--token", SUBMITTER],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "accepted 2, not accepted 3 (of 5 lines)" in result.stdout
    assert (
        "line 2:" in result.stderr and "line 3: rejected: region_code" in result.stderr and "line 6:" in result.stderr
    )


def test_several_api_processes_share_one_port_and_die_with_their_parent(broker: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        kafka_bootstrap=broker,
        api_port=free_port(),
        api_workers=2,
        dev_token="fw_t",
        topic_prefix=unique("workers"),
    )
    asyncio.run(ensure_topics(settings))
    api = subprocess.Popen(
        [sys.executable, "-m", "fraudwatch", "api"],
        env=settings.child_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{settings.api_port}"
    try:
        wait_until(lambda: _answers(f"{base}/health"), 60, "the API processes")
        serving = children_of(api.pid)
        assert len(serving) >= 2
        headers = {"Authorization": "Bearer fw_t"}
        # New connections each time, so that both processes take some.
        answers = [httpx.post(f"{base}/api/v1/reports", json=report_json(i), headers=headers) for i in range(30)]
        assert [a.status_code for a in answers] == [202] * 30
        batch = httpx.post(f"{base}/api/v1/reports/batch", json={"reports": [report_json(i) for i in range(40)]},
                           headers=headers, timeout=15).json()  # fmt: skip
        assert batch["accepted"] == 40
        held = "\n".join(asyncio.run(topic_values(broker)))
        accepted = [a.json()["report_id"] for a in answers] + [r["report_id"] for r in batch["results"]]
        assert all(report_id in held for report_id in accepted)
    finally:
        api.send_signal(signal.SIGKILL)
        api.wait()
    wait_until(lambda: not any(alive(pid) for pid in serving), 15, "the API processes to die with their parent")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
