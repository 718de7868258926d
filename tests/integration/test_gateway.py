"""The embedded ClickHouse gateway speaks enough of ClickHouse's HTTP protocol for real clients."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import clickhouse_connect
import httpx
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from fraudwatch.settings import Settings
from sinks.clickhouse import connect
from tests.integration.conftest import free_port, unique


@pytest.fixture
def table(ch: Client) -> str:
    name = f"default.{unique('gw')}"
    ch.command(
        f"CREATE TABLE {name} (id UInt32, s String, t DateTime64(3, 'Asia/Shanghai')) ENGINE = MergeTree ORDER BY id"
    )
    return name


@pytest.mark.parametrize("compress", [False, True, "zstd", "gzip"], ids=["plain", "lz4", "zstd", "gzip"])
def test_clickhouse_connect_inserts_and_reads_back(clickhouse_url: str, table: str, compress: bool | str) -> None:
    client = clickhouse_connect.get_client(dsn=clickhouse_url, compress=compress)
    moment = datetime(2026, 11, 28, 1, 2, 3, 456000, tzinfo=UTC)
    client.insert(table, [[i, f"值{i}'\t\\", moment] for i in range(5000)], column_names=["id", "s", "t"])
    assert client.query(f"SELECT count(), sum(id) FROM {table}").result_rows == [(5000, sum(range(5000)))]
    row = client.query(f"SELECT s, t FROM {table} WHERE id = 7").result_rows[0]
    assert row[0] == "值7'\t\\"
    assert row[1] == moment.astimezone(row[1].tzinfo) and str(row[1].tzinfo) == "Asia/Shanghai"


@pytest.mark.parametrize("compress", ["lz4", "zstd"])
def test_inserts_of_many_compressed_blocks_keep_every_row(clickhouse_url: str, table: str, compress: str) -> None:
    # clickhouse-connect sends each block of an insert as its own compressed frame.
    client = clickhouse_connect.get_client(dsn=clickhouse_url, compress=compress)
    moment = datetime(2026, 11, 28, tzinfo=UTC)
    client.insert(table, [[i, "x" * 50, moment] for i in range(50_000)], column_names=["id", "s", "t"])
    assert client.query(f"SELECT count(), uniqExact(id) FROM {table}").result_rows == [(50_000, 50_000)]


def test_bound_parameters_are_never_spliced_into_sql(ch: Client, table: str) -> None:
    ch.insert(table, [[1, "x'; DROP TABLE t; --", datetime.now(UTC)]], column_names=["id", "s", "t"])
    found = ch.query(f"SELECT id FROM {table} WHERE s = {{s:String}}", parameters={"s": "x'; DROP TABLE t; --"})
    assert found.result_rows == [(1,)]


def test_errors_come_back_as_clickhouse_errors(ch: Client) -> None:
    with pytest.raises(DatabaseError, match="Code: 60"):
        ch.query("SELECT * FROM default.no_such_table")
    with pytest.raises(DatabaseError, match="Syntax error"):
        ch.command("SELEC 1")


def test_plain_http_get_and_ping_work_like_a_server(clickhouse_url: str) -> None:
    assert httpx.get(f"{clickhouse_url}/ping").text == "Ok.\n"
    answer = httpx.get(clickhouse_url, params={"query": "SELECT 1 + {a:UInt8}", "param_a": "41"})
    assert answer.status_code == 200 and answer.text == "42\n"
    assert httpx.post(clickhouse_url, content=b"SELECT 'ok' FORMAT JSONEachRow").json() == {"'ok'": "ok"}


def test_settings_apply_to_one_request_only(ch: Client) -> None:
    limited = ch.query("SELECT getSetting('max_threads')", settings={"max_threads": 1}).result_rows[0][0]
    after = ch.query("SELECT getSetting('max_threads')").result_rows[0][0]
    assert int(limited) == 1 and int(after) != 1


def test_database_and_settings_follow_each_request_on_one_connection(clickhouse_url: str, ch: Client) -> None:
    # One keep-alive connection is one serving thread: what a request sets must not reach the next.
    database = unique("gw_db")
    ch.command(f"CREATE DATABASE {database}")
    query = "SELECT currentDatabase(), getSetting('max_threads'), getSetting('max_result_rows') FORMAT TSV"
    with httpx.Client(base_url=clickhouse_url) as http:

        def ask(**params: str) -> list[str]:
            answer = http.post("/", params=params, content=query.encode())
            assert answer.status_code == 200, answer.text
            return answer.text.split()

        default = ask()
        assert default[0] == "default" and default[1:] != ["1", "7"]
        assert ask(database=database, max_threads="1", max_result_rows="7") == [database, "1", "7"]
        assert ask(max_threads="1") == ["default", "1", default[2]]
        assert ask(max_threads="1", max_result_rows="7") == ["default", "1", "7"]
        assert ask() == default
        assert http.post("/", params={"database": database}, content=b"USE default").status_code == 200
        assert http.post("/", params={"max_threads": "bogus"}, content=query.encode()).status_code != 200
        assert ask(database=database) == [database, *default[1:]]
        assert ask() == default


def test_query_opens_the_data_directory_itself_when_no_platform_runs(tmp_path: Path) -> None:
    # chDB allows one engine per process, so this runs in a process of its own, as a user would.
    # A Float32 shows as clickhouse-client shows it, not as the double it widens to (0.7860000133514404).
    command = [sys.executable, "-m", "fraudwatch", "query", "SELECT 40 + 2 AS answer, toFloat32(0.786) AS confidence",
               "--format", "csv", "--data-dir", str(tmp_path), "--clickhouse-port", str(free_port())]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["answer,confidence", "42,0.786"]
    assert (tmp_path / "clickhouse").is_dir()


def test_large_bound_parameters_sent_as_a_form_are_understood(ch: Client, clickhouse_url: str) -> None:
    # clickhouse-connect moves the query and its parameters into a multipart form when they are large.
    contacts = [f"phone:{i:032x}" for i in range(5_000)]
    sql = "SELECT length({contacts:Array(String)}), has({contacts:Array(String)}, 'phone:' || repeat('0', 31) || '7')"
    result = ch.query(sql, parameters={"contacts": contacts})
    assert result.result_rows == [(5_000, 1)]
    # a browser-style urlencoded form too
    answer = httpx.post(clickhouse_url, data={"query": "SELECT {n:UInt8} + 1", "param_n": "41"})
    assert answer.status_code == 200 and answer.text.strip() == "42"
    # external data tables (form files) are refused with a clear error, not misread
    refused = httpx.post(clickhouse_url, data={"query": "SELECT 1"}, files={"ext": ("ext.tsv", b"1\n")})
    assert refused.status_code == 400 and "external data" in refused.text


def test_clients_of_the_embedded_gateway_do_not_compress_and_of_a_server_do(clickhouse_url: str) -> None:
    port = int(clickhouse_url.rsplit(":", 1)[1])
    embedded = connect(Settings(clickhouse_port=port))  # no URL: the gateway of `up`, on this machine
    server = connect(Settings(clickhouse_url=clickhouse_url))
    try:
        assert embedded.write_compression is None and embedded.query("SELECT 1").result_rows == [(1,)]
        assert server.write_compression == "lz4"
    finally:
        embedded.close()
        server.close()
