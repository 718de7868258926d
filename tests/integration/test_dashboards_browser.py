"""The embedded dashboards (`dashboards.server`): HTTP checks, then a real headless Chromium.

The app runs under uvicorn in a thread, pointed at the session's embedded ClickHouse gateway as a
`FRAUDWATCH_CLICKHOUSE_URL` would point it at a server. Chromium (Debian's `chromium` package,
/usr/bin/chromium) is driven over the Chrome DevTools protocol with aiohttp's WebSocket client:
it opens the overview while a background thread streams reports in through `ReportSink`, waits
until every panel has drawn data (plotly traces in the SVG, table cells, stat values), saves a
screenshot, and waits for the page's own 10-second auto-refresh to show larger numbers. The leaks
page is opened with markup planted in the data, which must show as text and never run.

Screenshots go to the test's tmp directory (the path is printed); with
FRAUDWATCH_UPDATE_SCREENSHOTS=1 the overview is also copied to docs/img/overview.png.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import clickhouse_connect
import httpx
import pytest
import uvicorn
from clickhouse_connect.driver.client import Client
from starlette.applications import Starlette

from dashboards.grafana import Platform, build_dashboards
from dashboards.server import RequestError, create_dashboard_app, panel_interval_ms, parse_time
from fraudwatch.settings import Settings
from sinks.alerts import AlertStore
from streams.detectors import Detector, opened
from tests.integration.conftest import free_port, wait_until
from tests.integration.test_dashboard_sql import ReportFeed, load_alerts, load_leaks, load_pipeline

CHROMIUM = Path("/usr/bin/chromium")
ZONE = ZoneInfo("Asia/Shanghai")
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "img" / "overview.png"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: apt-get install -y chromium (CI installs it)"
)
XSS = "<img src=x onerror=\"document.body.dataset.pwned='1'\"><script>document.body.dataset.pwned='2'</script>"


# --- the app, served --------------------------------------------------------------------------------


def settings_for(clickhouse_url: str, database: str) -> Settings:
    return Settings(clickhouse_url=clickhouse_url, clickhouse_database=database)


@pytest.fixture
def client(clickhouse_url: str, database: str) -> Iterator[Client]:
    made = clickhouse_connect.get_client(dsn=clickhouse_url, database=database, autogenerate_session_id=False)
    yield made
    made.close()


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """`app` under uvicorn in a thread on a free port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="dashboards", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 15, "the dashboard app to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def served(clickhouse_url: str, database: str) -> Iterator[str]:
    """The dashboard app for the test's database, as `fraudwatch up` will run it."""
    with serve(create_dashboard_app(settings_for(clickhouse_url, database))) as url:
        yield url


class Streamer:
    """Reports arriving in the background, a few every half second, through their own sink."""

    def __init__(self, clickhouse_url: str, database: str) -> None:
        self._client = clickhouse_connect.get_client(
            dsn=clickhouse_url, database=database, autogenerate_session_id=False
        )
        self.feed = ReportFeed(self._client, database, epoch="stream", seed=500)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="report-stream", daemon=True)
        self.errors: list[BaseException] = []

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.feed.send(4)
            except BaseException as exc:  # surfaced by the test, not lost in the thread
                self.errors.append(exc)
                return

    def __enter__(self) -> Streamer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.close()


# --- HTTP, no browser ----------------------------------------------------------------------------------


def test_pages_model_and_assets(served: str) -> None:
    with httpx.Client(base_url=served) as http:
        page = http.get("/dashboards/overview")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<script src="/dashboards/static/plotly.min.js"' in page.text and "<script>" not in page.text
        assert http.get("/dashboards/overview.json").json() == build_dashboards(Platform())["overview"]
        plotly = http.get("/dashboards/static/plotly.min.js")
        assert plotly.status_code == 200 and plotly.text.lstrip().startswith("/**\n* plotly.js v")
        assert http.get("/dashboards/static/..%2F..%2Ffraudwatch%2Fsettings.py").status_code == 404
        assert http.get("/dashboards/nope").status_code == 404
        assert http.get("/dashboards/", follow_redirects=False).headers["location"] == "/dashboards/overview"


def test_panel_data_endpoint_validates_everything_from_the_browser(served: str, client: Client, database: str) -> None:
    ReportFeed(client, database).send(40, span=timedelta(minutes=30))
    with httpx.Client(base_url=served) as http:
        ok = http.get("/dashboards/api/overview/6", params={"from": "now-1h", "to": "now", "var-channel": "app"})
        assert ok.status_code == 200, ok.text
        body = ok.json()
        assert [c["name"] for c in body["columns"]] == ["category_name", "reports"]
        assert body["rows"] and body["time_zone"] == "Asia/Shanghai" and ok.headers["cache-control"] == "no-store"
        series = http.get("/dashboards/api/overview/5").json()
        assert series["interval_ms"] == 60_000 and series["rows"][0][0] < series["rows"][-1][0]
        bad = {
            "unknown variable": {"var-nope": "1"},
            "value outside the options": {"var-province": "999999"},
            "quote": {"var-province": "110000') OR 1=1 --"},
            "constant from the browser": {"var-tz": "UTC"},
            "bad time": {"from": "yesterday"},
            "inverted range": {"from": "now", "to": "now-1h"},
            "too long a range": {"from": "now-3000d"},
            "max data points": {"maxDataPoints": "1000000"},
        }
        for what, params in bad.items():
            answer = http.get("/dashboards/api/overview/6", params=params)
            assert answer.status_code == 400, (what, answer.text)
            assert "error" in answer.json()
        assert http.get("/dashboards/api/overview/99").status_code == 404
        assert http.get("/dashboards/api/nope/1").status_code == 404
        load_alerts(client, database)
        layer = http.get("/dashboards/api/overview/annotations/0", params={"from": "now-3h"})
        assert layer.status_code == 200 and [c["name"] for c in layer.json()["columns"]] == [
            "time", "timeEnd", "title", "text", "tags"
        ]  # fmt: skip
        assert len(layer.json()["rows"]) == 2
        assert http.get("/dashboards/api/overview/annotations/1").status_code == 404
        assert http.get("/dashboards/api/health/annotations/0").status_code == 404  # health has no layer
        assert http.get("/dashboards/api/overview/annotations/0", params={"from": "yesterday"}).status_code == 400


def test_unreachable_clickhouse_is_a_502_with_the_endpoint(database: str) -> None:
    settings = settings_for(f"http://127.0.0.1:{free_port()}", database)
    with serve(create_dashboard_app(settings)) as url, httpx.Client(base_url=url) as http:
        answer = http.get("/dashboards/api/health/1")
        assert answer.status_code == 502
        assert "127.0.0.1" in answer.json()["error"]


def test_time_parsing_and_interval_follow_grafana() -> None:
    now = datetime(2026, 11, 28, 17, 30, 0, tzinfo=UTC)  # 01:30 on the 29th in Shanghai
    assert parse_time("now-6h", now, ZONE) == now - timedelta(hours=6)
    assert parse_time("1795824000000", now, ZONE) == datetime.fromtimestamp(1795824000, UTC)
    assert parse_time("now/d", now, ZONE) == datetime(2026, 11, 29, tzinfo=ZONE)
    assert parse_time("now/d", now, ZONE, end=True) == datetime(2026, 11, 29, 23, 59, 59, 999000, tzinfo=ZONE)
    assert parse_time("now-1d/d", now, ZONE) == datetime(2026, 11, 28, tzinfo=ZONE)
    assert parse_time("now/w", now, ZONE) == datetime(2026, 11, 23, tzinfo=ZONE)  # a Monday
    for bad in ("now-1y", "now+1h", "1e12", "now-6h; DROP TABLE reports", ""):
        with pytest.raises(RequestError):
            parse_time(bad, now, ZONE)
    six_hours = (now - timedelta(hours=6), now)
    assert panel_interval_ms({"interval": "1m"}, *six_hours) == 60_000  # 21.6 s rounds to 20 s, below the minimum
    assert panel_interval_ms({}, *six_hours) == 20_000
    assert panel_interval_ms({"interval": "1m"}, now - timedelta(days=7), now) == 600_000


# --- Chromium over the DevTools protocol ----------------------------------------------------------------


class Browser:
    """One headless Chromium process and one page, driven over CDP (flat sessions on the browser socket)."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.process: subprocess.Popen[bytes] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self.session = ""
        self.problems: list[str] = []  # console errors, exceptions, CSP violations

    async def start(self, width: int = 1600, height: int = 1450) -> Browser:
        self.process = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--mute-audio",
                "--hide-scrollbars",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers share this process group, ended together below
        )
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (active.exists() and len(active.read_text().split()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("Chromium did not open its DevTools port")
            await asyncio.sleep(0.1)
        port, path = active.read_text().split()[:2]
        self._http = aiohttp.ClientSession()
        self._socket = await self._http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return self

    async def _read(self) -> None:
        assert self._socket is not None
        async for message in self._socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif data.get("method") == "Runtime.exceptionThrown":
                self.problems.append(json.dumps(data["params"]["exceptionDetails"])[:500])
            elif data.get("method") == "Log.entryAdded" and data["params"]["entry"]["level"] == "error":
                entry = data["params"]["entry"]
                self.problems.append(f"{entry['text'][:500]} {entry.get('url', '')}".strip())
            elif data.get("method") == "Runtime.consoleAPICalled" and data["params"]["type"] == "error":
                self.problems.append(json.dumps(data["params"]["args"])[:500])

    async def send(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False) -> dict[str, Any]:
        assert self._socket is not None
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if not browser:
            message["sessionId"] = self.session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        await self._socket.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, 30)
        if "error" in answer:
            raise AssertionError(f"CDP {method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"page script failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        last: Any = None
        while time.monotonic() < deadline:
            last = await self.evaluate(expression)
            if last and last.get("done"):
                return last
            await asyncio.sleep(0.25)
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last state: {json.dumps(last)[:3000]}")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    async def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self.send("Browser.close", browser=True)
            await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._http is not None:
            await self._http.close()
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    started = Browser(tmp_path / "chromium-profile")
    try:
        yield await started.start()
    finally:
        await started.close()


# What every panel shows, read from the DOM: plotly traces drawn in the SVG, table cells, stat text.
PANEL_STATE = """(() => {
  if (!document.body || !document.body.dataset.slug) return { done: false, loading: document.URL };
  const panels = [...document.querySelectorAll('section.panel')].map((p) => ({
    id: Number(p.dataset.panelId), type: p.dataset.panelType, title: p.querySelector('h2').textContent,
    state: p.dataset.state, rows: Number(p.dataset.rows || 0), updates: Number(p.dataset.updates || 0),
    svgTraces: p.querySelectorAll('.main-svg .trace').length, cells: p.querySelectorAll('td').length,
    stat: (p.querySelector('.stat-value') || {}).textContent || null, value: p.dataset.value ?? null,
  }));
  const drawn = (p) => p.state === 'ok' && (p.type === 'stat' ? !!p.stat && p.stat !== '–'
    : p.type === 'table' ? p.cells > 0 : p.svgTraces > 0);
  return { panels, refreshes: Number(document.body.dataset.refreshes || 0),
           pwned: document.body.dataset.pwned || null,
           done: panels.length > 0 && panels.every(drawn) };
})()"""


@needs_chromium
async def test_overview_draws_every_panel_and_refreshes_on_its_own(
    served: str, client: Client, clickhouse_url: str, database: str, browser: Browser, tmp_path: Path
) -> None:
    feed = ReportFeed(client, database)
    feed.send(500, span=timedelta(hours=4))
    feed.send_today(40)
    load_leaks(client, database, feed.facts)
    load_alerts(client, database)
    with Streamer(clickhouse_url, database) as streamer:
        await browser.open(f"{served}/dashboards/overview")
        first = await browser.wait_for(PANEL_STATE, 60, "every overview panel to draw data")
        board = build_dashboards()["overview"]
        assert sorted(p["id"] for p in first["panels"]) == sorted(p["id"] for p in board["panels"])
        by_id = {p["id"]: p for p in first["panels"]}
        assert by_id[5]["svgTraces"] == 5, "one plotly trace per headline class"
        # The alert layer: the two alerts open in the last 6 hours, as spans on the time series.
        assert await browser.evaluate("document.body.dataset.marks") == "2"
        spans = await browser.evaluate("document.querySelectorAll('section.panel-timeseries .shapelayer path').length")
        assert spans == 2
        assert by_id[10]["rows"] == 2 and by_id[10]["cells"] == 2 * 7
        shot = await browser.screenshot(tmp_path / "overview.png")
        print(f"\noverview screenshot: {shot}")
        if os.environ.get("FRAUDWATCH_UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_SCREENSHOT)

        # No reload: the page's 10 s auto-refresh must bring the reports streamed in meanwhile.
        reports_today = int(by_id[1]["value"])
        later = await browser.wait_for(
            PANEL_STATE.replace(
                "done: panels.length > 0 && panels.every(drawn)",
                "done: panels.every(drawn) && document.body.dataset.refreshes > "
                f"{first['refreshes']} && Number(panels.find((p) => p.id === 1).value) > {reports_today}",
            ),
            40,
            "the auto-refresh to show more reports today",
        )
        assert all(p["updates"] > by_id[p["id"]]["updates"] for p in later["panels"]), "every panel was redrawn"
        later_series = {p["id"]: p for p in later["panels"]}[5]
        assert later_series["svgTraces"] == 5
        assert not streamer.errors
    assert browser.problems == [], browser.problems


@needs_chromium
async def test_markup_in_the_data_is_shown_as_text(
    served: str, client: Client, database: str, browser: Browser, tmp_path: Path
) -> None:
    feed = ReportFeed(client, database)
    feed.send(200, span=timedelta(hours=6))
    load_leaks(client, database, feed.facts)
    load_pipeline(client, database, feed)
    now = datetime.now(ZONE)
    client.insert(
        f"{database}.leak_batches",
        [[XSS, XSS, "</td><td>" + XSS, now - timedelta(hours=1), 1, 3]],
        column_names=["batch_id", "source_type", "industry", "seized_at", "records", "severity"],
    )
    client.insert(
        f"{database}.report_leak_links",
        [[f.report.report_id, XSS, f.category, 100_000_000, f.report.reported_at] for f in feed.facts[:60]],
        column_names=["report_id", "batch_id", "category", "amount_lost_fen", "reported_at"],
    )
    AlertStore(client, database, ZONE).save(
        [opened(Detector.LEAK_EXPLOITATION, XSS, XSS, 9.0, now - timedelta(hours=2), {"batch_id": XSS})]
    )
    await browser.open(f"{served}/dashboards/leaks")
    state = await browser.wait_for(PANEL_STATE, 60, "every leaks panel to draw data")
    assert await browser.evaluate("document.body.dataset.marks") == "1"
    assert state["pwned"] is None
    text = await browser.evaluate("[...document.querySelectorAll('td')].map((td) => td.textContent).join('\\n')")
    assert XSS in text  # the top batch, as literal text in the table
    labels = await browser.evaluate("[...document.querySelectorAll('.main-svg text')].map((t) => t.textContent)")
    assert any("<script>" in label or "<img" in label for label in labels), "plotly labels show the markup as text"
    assert await browser.evaluate("document.querySelectorAll('main script, main img, .main-svg script').length") == 0
    await browser.screenshot(tmp_path / "leaks.png")
    assert browser.problems == [], browser.problems
