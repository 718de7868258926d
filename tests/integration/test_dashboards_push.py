"""`fraudwatch dashboards push` and `export`, against a stand-in for Grafana's HTTP API.

No real Grafana can run in this test environment (it is neither installed nor downloadable here),
so a small local HTTP server plays its part: it implements the endpoints the push uses (health,
folders, data sources by uid, POST /api/dashboards/db) with Grafana's status codes and answer
shapes, checks the bearer token, keeps what was saved, and records every request exactly. The
push goes through the real grafana-client and niquests stack over real HTTP.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dashboards.grafana import PLUGIN_ID, build_dashboards, dashboard_json
from fraudwatch.dashboards_cmd import dashboards
from tests.integration.conftest import free_port

TOKEN = "glsa_fraudwatch_test_token"
REPO_DASHBOARDS = Path(__file__).parents[2] / "dashboards"


@dataclass
class FakeGrafana:
    """State of the stand-in Grafana, and the requests it received: (method, path, JSON body or None)."""

    token: str = TOKEN
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.calls if method != "GET"]

    def handle(self, method: str, path: str, authorization: str | None, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.calls.append((method, path, body))
            if (method, path) == ("GET", "/api/health"):
                return 200, {"commit": "abc", "database": "ok", "version": "12.3.1"}
            if authorization != f"Bearer {self.token}":
                return 401, {"message": "Unauthorized"}
            return self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "folders"]:
            if method == "POST" and len(parts) == 2:
                if body["uid"] in self.folders:
                    return 409, {"message": "a folder with the same uid already exists"}
                self.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "version": 1}
                return 200, self.folders[body["uid"]]
            folder = self.folders.get(parts[2]) if len(parts) == 3 else None
            if folder is None:
                return 404, {"message": "folder not found", "status": "not-found"}
            if method == "GET":
                return 200, folder
            if method == "PUT":
                folder.update(title=body["title"], version=folder["version"] + 1)
                return 200, folder
        if parts[:2] == ["api", "datasources"]:
            if method == "POST" and len(parts) == 2:
                if body["uid"] in self.datasources or any(d["name"] == body["name"] for d in self.datasources.values()):
                    return 409, {"message": "data source with the same name already exists"}
                self.datasources[body["uid"]] = dict(body, id=len(self.datasources) + 1)
                return 200, {"datasource": self.datasources[body["uid"]], "message": "Datasource added"}
            if len(parts) == 4 and parts[2] == "uid":
                existing = self.datasources.get(parts[3])
                if existing is None:
                    return 404, {"message": "Data source not found"}
                if method == "GET":
                    return 200, {k: v for k, v in existing.items() if k != "secureJsonData"}
                if method == "PUT":
                    self.datasources[parts[3]] = dict(body, id=existing["id"])
                    return 200, {"datasource": self.datasources[parts[3]], "message": "Datasource updated"}
        if (method, path) == ("POST", "/api/dashboards/db"):
            board = body["dashboard"]
            if body.get("folderUid") not in self.folders:
                return 400, {"message": "folder not found"}
            previous = self.dashboards.get(board["uid"])
            if previous is not None and not body.get("overwrite"):
                return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
            version = previous["version"] + 1 if previous else 1
            self.dashboards[board["uid"]] = {"dashboard": board, "folderUid": body["folderUid"], "version": version}
            return 200, {
                "id": list(self.dashboards).index(board["uid"]) + 1,
                "uid": board["uid"],
                "url": f"/d/{board['uid']}/x",
                "status": "success",
                "version": version,
            }
        return 404, {"message": "Not found"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        status, answer = self.server.grafana.handle(self.command, self.path, self.headers.get("Authorization"), body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, grafana: FakeGrafana) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.grafana = grafana


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    state = FakeGrafana()
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def push(url: str, *extra: str, token: str = TOKEN, password: str | None = "s3cret") -> Result:
    env = {"FRAUDWATCH_GRAFANA_CLICKHOUSE_PASSWORD": password} if password else {}
    args = ["push", "--grafana-url", url, "--token", token, "--timeout", "5", *extra]
    return CliRunner().invoke(dashboards, args, env=env, catch_exceptions=False)


def test_first_push_creates_folder_datasource_and_dashboards(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    result = push(url, "--clickhouse-url", "http://clickhouse.internal:8123")
    assert result.exit_code == 0, result.output
    assert [(m, p) for m, p, _ in state.calls] == [
        ("GET", "/api/health"),
        ("GET", "/api/folders/fraudwatch"),
        ("POST", "/api/folders"),
        ("GET", "/api/datasources/uid/fraudwatch-clickhouse"),
        ("POST", "/api/datasources"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
    ]
    assert state.folders == {"fraudwatch": {"uid": "fraudwatch", "title": "fraudwatch", "version": 1}}
    (datasource,) = state.datasources.values()
    assert datasource["uid"] == "fraudwatch-clickhouse" and datasource["type"] == PLUGIN_ID
    assert datasource["jsonData"] == {
        "host": "clickhouse.internal", "port": 8123, "protocol": "http", "secure": False,
        "username": "fraudwatch_grafana", "defaultDatabase": "fraudwatch",
    }  # fmt: skip
    assert datasource["secureJsonData"] == {"password": "s3cret"}
    expected = build_dashboards()
    assert set(state.dashboards) == {board["uid"] for board in expected.values()}
    for slug, board in expected.items():
        saved = state.dashboards[board["uid"]]
        assert saved["folderUid"] == "fraudwatch" and saved["version"] == 1
        assert saved["dashboard"] == board | {"id": None}, slug
    dashboard_posts = [body for method, path, body in state.calls if path == "/api/dashboards/db"]
    assert all(body["overwrite"] is True for body in dashboard_posts)
    assert "folder 'fraudwatch' (uid fraudwatch): created" in result.output
    assert "data source 'fraudwatch ClickHouse' (uid fraudwatch-clickhouse" in result.output


def test_second_push_updates_in_place(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    assert push(url).exit_code == 0
    state.calls.clear()
    result = push(url, password=None)
    assert result.exit_code == 0, result.output
    assert state.writes() == [
        ("PUT", "/api/datasources/uid/fraudwatch-clickhouse"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
        ("POST", "/api/dashboards/db"),
    ]
    assert len(state.folders) == 1 and len(state.datasources) == 1 and len(state.dashboards) == 3
    assert {saved["version"] for saved in state.dashboards.values()} == {2}
    # Without a password the update leaves the secure fields out, so Grafana keeps the stored one.
    put_body = next(body for method, path, body in state.calls if method == "PUT")
    assert "secureJsonData" not in put_body
    assert "folder 'fraudwatch' (uid fraudwatch): exists" in result.output
    assert "): updated" in result.output and "saved, version 2" in result.output


def test_each_platform_gets_its_own_folder(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    assert push(url).exit_code == 0
    assert push(url, "--platform", "city-b").exit_code == 0
    assert set(state.folders) == {"fraudwatch", "city-b"}
    assert state.folders["city-b"]["title"] == "fraudwatch (city-b)"
    assert set(state.datasources) == {"fraudwatch-clickhouse", "city-b-clickhouse"}
    assert len(state.dashboards) == 6
    for saved in state.dashboards.values():
        board = saved["dashboard"]
        assert saved["folderUid"] == board["uid"].rsplit("-", 1)[0]
        uids = {p["datasource"]["uid"] for p in board["panels"]}
        assert uids == {f"{saved['folderUid']}-clickhouse"}


def test_wrong_token_is_reported_as_such_and_changes_nothing(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    result = push(url, token="glsa_wrong")
    assert result.exit_code == 1
    assert "401 Unauthorized" in result.output and "--token" in result.output
    assert state.writes() == []


def test_unreachable_grafana_is_reported_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = push(url)
    assert result.exit_code == 1
    assert f"cannot reach Grafana at {url}" in result.output


def test_bad_arguments_are_usage_errors(grafana: tuple[FakeGrafana, str]) -> None:
    state, url = grafana
    result = push("grafana:3000")
    assert result.exit_code == 1 and "--grafana-url must be an http(s) URL" in result.output
    result = push(url, "--platform", "Not A Name")
    assert result.exit_code == 1 and "platform name" in result.output
    assert state.calls == []


def test_export_writes_the_provisioning_tree(tmp_path: Path) -> None:
    result = CliRunner().invoke(dashboards, ["export", str(tmp_path)], env={}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "json/health.json", "json/leaks.json", "json/overview.json",
        "provisioning/dashboards/fraudwatch.yaml", "provisioning/datasources/clickhouse.yaml",
    ]  # fmt: skip
    # With default settings the export is exactly what the repository commits.
    for path in written:
        assert (tmp_path / path).read_text(encoding="utf-8") == (REPO_DASHBOARDS / path).read_text(encoding="utf-8")
    assert (tmp_path / "json" / "overview.json").read_text(encoding="utf-8") == dashboard_json(
        build_dashboards()["overview"]
    )
    other = tmp_path / "other"
    result = CliRunner().invoke(
        dashboards,
        ["export", str(other), "--platform", "city-b", "--clickhouse-url", "https://ch.example:8443"],
        env={},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    datasource = (other / "provisioning" / "datasources" / "clickhouse.yaml").read_text(encoding="utf-8")
    assert 'uid: "city-b-clickhouse"' in datasource and 'host: "ch.example"' in datasource
    assert "secure: true" in datasource and "port: 8443" in datasource
