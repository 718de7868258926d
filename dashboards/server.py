"""The fraudwatch dashboards, served live by the running platform without a Grafana server.

`create_dashboard_app(settings)` returns an ASGI (Starlette) app that serves, under /dashboards:

* ``/dashboards/overview``, ``/leaks``, ``/health``: a page per dashboard, drawn in the browser with
  plotly.js (the copy bundled in the `plotly` Python package, served from here: no CDN, no internet);
* ``/dashboards/<slug>.json``: the dashboard's Grafana JSON model, the same one `dashboards.grafana`
  builds for Grafana (the page is laid out from it: titles, grid positions, units, variables);
* ``/dashboards/api/<slug>/<panel_id>?from=…&to=…&var-<name>=…``: one panel's data. The panel's SQL
  from that JSON is expanded by `dashboards.macros.expand`, as Grafana's ClickHouse plugin would
  expand it, and run against ClickHouse over HTTP with clickhouse-connect
  (``settings.clickhouse_endpoint``: a ClickHouse server, or the embedded gateway of `fraudwatch up`).

Nothing from the browser becomes SQL text unchecked. Times are parsed into datetimes (epoch
milliseconds or Grafana's ``now-6h``, ``now/d`` forms) and only the macro expander renders them;
the panel interval is computed here, as Grafana computes it; a variable value must be one of the
dashboard variable's own options (which are also plain identifiers), and then still goes through
the expander's escaping ``singlequote`` format. The page builds its DOM with ``textContent`` and
hands plotly entity-escaped strings, under a Content-Security-Policy without inline scripts.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import math
import re
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboards.grafana import Platform, build_dashboards
from dashboards.macros import MacroError, VariableValue, expand
from dashboards.names import DEFAULT_DASHBOARD_PORT
from fraudwatch.errors import FraudwatchError, StorageError
from fraudwatch.settings import Settings
from sinks.clickhouse import connect

__all__ = [
    "DEFAULT_DASHBOARD_PORT",
    "DashboardService",
    "PreparedQuery",
    "RequestError",
    "create_dashboard_app",
    "panel_interval_ms",
    "parse_time",
    "plotly_js_path",
]

log = logging.getLogger(__name__)

MAX_ROWS: Final = 10_000
DEFAULT_MAX_DATA_POINTS: Final = 1000
MAX_RANGE: Final = timedelta(days=400)
QUERY_TIMEOUT_S: Final = 30
STATIC_DIR: Final = Path(__file__).with_name("static")
ALL: Final = "$__all"

_RELATIVE_TIME: Final = re.compile(r"now(?:-(\d{1,6})([smhdw]))?(?:/([dw]))?")
_EPOCH_MS: Final = re.compile(r"\d{12,14}")
_VARIABLE_VALUE: Final = re.compile(r"[A-Za-z0-9_]{1,64}")
_DURATION: Final = re.compile(r"(\d{1,6})(ms|s|m|h|d)")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class RequestError(ValueError):
    """A request the dashboards cannot answer as asked; the message says which parameter is wrong."""


# --- time range and interval, as Grafana computes them -------------------------------------------


def parse_time(value: str, now: datetime, zone: ZoneInfo, *, end: bool = False) -> datetime:
    """A Grafana time-picker value: epoch milliseconds, or ``now``, ``now-6h``, ``now/d``, ``now-1d/d``.

    ``/d`` and ``/w`` round to the day or (Monday-based) week in `zone`: down for the start of a
    range, up to the end of that day or week when `end` is true, as Grafana does for "to".
    """
    if _EPOCH_MS.fullmatch(value):
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    match = _RELATIVE_TIME.fullmatch(value)
    if match is None:
        raise RequestError(f"time {value[:40]!r} is neither epoch milliseconds nor like now, now-6h, now/d")
    moment = now.astimezone(zone)
    if match[1]:
        moment -= timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    if match[3]:
        # Calendar arithmetic in the zone's wall time, then back to an instant.
        start = datetime(moment.year, moment.month, moment.day, tzinfo=zone)
        if match[3] == "w":
            start -= timedelta(days=start.weekday())
        if end:
            length = timedelta(days=7 if match[3] == "w" else 1)
            wall = start.replace(tzinfo=None) + length
            start = wall.replace(tzinfo=zone) - timedelta(milliseconds=1)
        moment = start
    return moment.astimezone(UTC)


def _round_interval(ms: float) -> int:
    """Grafana's kbn.roundInterval: snap a raw interval to a readable one."""
    steps = (
        (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000), (3_500, 2_000),
        (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000), (45_000, 30_000),
        (90_000, 60_000), (210_000, 120_000), (450_000, 300_000), (750_000, 600_000), (1_050_000, 900_000),
        (1_500_000, 1_200_000), (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000),
        (16_200_000, 10_800_000), (32_400_000, 21_600_000), (86_400_000, 43_200_000),
        (604_800_000, 86_400_000), (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
    )  # fmt: skip
    for limit, interval in steps:
        if ms < limit:
            return interval
    return 31_536_000_000


def _duration_ms(text: str) -> int:
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"unsupported panel interval {text!r}")
    return int(match[1]) * _DURATION_MS[match[2]]


def panel_interval_ms(
    panel: Mapping[str, Any], time_from: datetime, time_to: datetime, max_data_points: int = DEFAULT_MAX_DATA_POINTS
) -> int:
    """The panel's $__interval: range / data points, rounded, never below the panel's own minimum."""
    points = int(panel.get("maxDataPoints") or max_data_points)
    raw = (time_to - time_from).total_seconds() * 1000 / max(points, 1)
    interval = _round_interval(raw)
    minimum = panel.get("interval")
    if isinstance(minimum, str) and minimum:
        interval = max(interval, _duration_ms(minimum))
    return interval


# --- the service behind the routes ---------------------------------------------------------------


@dataclass(frozen=True)
class PreparedQuery:
    """A panel query ready to run: the expanded SQL and the range and interval it was expanded for."""

    sql: str
    interval_ms: int
    time_from: datetime
    time_to: datetime


@dataclass(frozen=True)
class _Variable:
    name: str
    kind: str  # custom or constant
    values: frozenset[str]
    default: tuple[str, ...]
    include_all: bool
    multi: bool


def _variables(dashboard: Mapping[str, Any]) -> dict[str, _Variable]:
    found: dict[str, _Variable] = {}
    for raw in dashboard.get("templating", {}).get("list", []):
        kind = raw.get("type")
        name = str(raw.get("name"))
        if kind == "constant":
            found[name] = _Variable(name, kind, frozenset(), (str(raw.get("query", "")),), False, False)
        elif kind == "custom":
            values = frozenset(str(o["value"]) for o in raw.get("options", []) if o.get("value") != ALL)
            current = raw.get("current", {}).get("value", ALL)
            default = tuple(current) if isinstance(current, list) else (str(current),)
            found[name] = _Variable(name, kind, values, default, bool(raw.get("includeAll")), bool(raw.get("multi")))
        else:
            raise ValueError(f"dashboard {dashboard.get('uid')}: variable type {kind!r} is not supported here")
    return found


def _jsonable(value: Any, zone: ZoneInfo) -> Any:
    """A result cell as JSON: times as wall-clock text in the platform's zone (what plotly draws)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v, zone) for v in value]
    return str(value)


class DashboardService:
    """Runs dashboard panels: request parsing, macro expansion, ClickHouse, result shaping."""

    def __init__(
        self,
        settings: Settings,
        dashboards: Mapping[str, Mapping[str, Any]] | None = None,
        client_factory: Callable[[], Client] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.zone = settings.zone
        self.dashboards = dict(dashboards or build_dashboards(Platform(timezone=settings.timezone)))
        self._variables = {slug: _variables(board) for slug, board in self.dashboards.items()}
        self._client_factory = client_factory or self._connect
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._clock = clock

    def _connect(self) -> Client:
        # No session: panels query concurrently, and a ClickHouse session admits one query at a time.
        return connect(
            self.settings,
            database=self.settings.clickhouse_database,
            autogenerate_session_id=False,
            send_receive_timeout=QUERY_TIMEOUT_S,
        )

    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def dashboard(self, slug: str) -> Mapping[str, Any]:
        try:
            return self.dashboards[slug]
        except KeyError:
            raise LookupError(f"no dashboard {slug!r}") from None

    def panel(self, slug: str, panel_id: int) -> Mapping[str, Any]:
        for panel in self.dashboard(slug).get("panels", []):
            if panel.get("id") == panel_id:
                return dict(panel)
        raise LookupError(f"dashboard {slug!r} has no panel {panel_id}")

    def annotation(self, slug: str, index: int) -> Mapping[str, Any]:
        """Annotation layer `index` of the dashboard, shaped like a panel with one target."""
        layers = self.dashboard(slug).get("annotations", {}).get("list", [])
        if not 0 <= index < len(layers) or "target" not in layers[index]:
            raise LookupError(f"dashboard {slug!r} has no annotation layer {index}")
        return {"id": f"annotation {index}", "targets": [layers[index]["target"]]}

    def time_range(self, slug: str, params: Mapping[str, Sequence[str]]) -> tuple[datetime, datetime]:
        board = self.dashboard(slug)
        now = self._clock()
        zone = self.zone
        raw_from = _single(params, "from") or str(board["time"]["from"])
        raw_to = _single(params, "to") or str(board["time"]["to"])
        time_from = parse_time(raw_from, now, zone)
        time_to = parse_time(raw_to, now, zone, end=True)
        if time_to <= time_from:
            raise RequestError("the time range ends before it starts")
        if time_to - time_from > MAX_RANGE:
            raise RequestError(f"the time range is longer than {MAX_RANGE.days} days")
        if not datetime(2000, 1, 1, tzinfo=UTC) <= time_from <= datetime(2100, 1, 1, tzinfo=UTC):
            raise RequestError("the time range is out of bounds")
        return time_from, time_to

    def variables(self, slug: str, params: Mapping[str, Sequence[str]]) -> dict[str, VariableValue]:
        """The dashboard's variables from `var-<name>` parameters, each value checked against its options."""
        known = self._variables[slug]
        for key in params:
            if key.startswith("var-") and key[4:] not in known:
                raise RequestError(f"dashboard {slug!r} has no variable {key[4:64]!r}")
            if key.startswith("var-") and known[key[4:]].kind == "constant":
                raise RequestError(f"variable {key[4:]!r} is set by the server, not by the request")
        chosen: dict[str, VariableValue] = {}
        for name, variable in known.items():
            if variable.kind == "constant":
                chosen[name] = variable.default[0]  # the server's own value; never from the browser
                continue
            values = list(params.get(f"var-{name}", ())) or list(variable.default)
            for value in values:
                if value == ALL and variable.include_all:
                    continue
                if not _VARIABLE_VALUE.fullmatch(value) or value not in variable.values:
                    raise RequestError(f"{value[:40]!r} is not a value of variable {name!r}")
            if len(values) > 1 and not variable.multi:
                raise RequestError(f"variable {name!r} takes one value")
            chosen[name] = [ALL] if ALL in values else values
        return chosen

    def prepare(self, slug: str, panel_id: int, params: Mapping[str, Sequence[str]]) -> PreparedQuery:
        """The panel's SQL as Grafana's ClickHouse plugin would send it for these request parameters."""
        return self._prepare(slug, self.panel(slug, panel_id), params)

    def _prepare(self, slug: str, panel: Mapping[str, Any], params: Mapping[str, Sequence[str]]) -> PreparedQuery:
        panel_id = panel.get("id")
        time_from, time_to = self.time_range(slug, params)
        points = _single(params, "maxDataPoints")
        max_points = DEFAULT_MAX_DATA_POINTS
        if points is not None:
            if not points.isdigit() or not 10 <= int(points) <= 5000:
                raise RequestError("maxDataPoints must be a number from 10 to 5000")
            max_points = int(points)
        interval = panel_interval_ms(panel, time_from, time_to, max_points)
        targets = panel.get("targets") or []
        if len(targets) != 1 or not targets[0].get("rawSql"):
            raise LookupError(f"panel {panel_id} of {slug!r} has no SQL query")
        try:
            sql = expand(str(targets[0]["rawSql"]), time_from, time_to, interval, self.variables(slug, params))
        except MacroError as exc:
            raise RequestError(f"panel {panel_id}: {exc}") from exc
        return PreparedQuery(sql, interval, time_from, time_to)

    def run(self, slug: str, panel_id: int, params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """One panel's result, JSON-ready: columns (name, ClickHouse type) and rows."""
        return self._run(slug, self.panel(slug, panel_id), params)

    def run_annotation(self, slug: str, index: int, params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """One annotation layer's marks (time, timeEnd, title, text, tags), shaped like a panel's result."""
        return self._run(slug, self.annotation(slug, index), params)

    def _run(self, slug: str, panel: Mapping[str, Any], params: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        panel_id = panel.get("id")
        query = self._prepare(slug, panel, params)
        try:
            result = self.client().query(query.sql)
        except ClickHouseError as exc:
            raise StorageError(f"panel {panel_id} of {slug!r}: ClickHouse refused the query: {exc}") from exc
        except FraudwatchError:
            raise
        except Exception as exc:  # connection failures surface as driver-specific errors
            with self._lock:
                self._client = None  # reconnect next time
            raise StorageError(f"cannot reach ClickHouse at {self.settings.clickhouse_endpoint}: {exc}") from exc
        rows = result.result_rows
        return {
            "columns": [
                {"name": name, "type": column_type.name}
                for name, column_type in zip(result.column_names, result.column_types, strict=True)
            ],
            "rows": [[_jsonable(v, self.zone) for v in row] for row in rows[:MAX_ROWS]],
            "truncated": len(rows) > MAX_ROWS,
            "interval_ms": query.interval_ms,
            "from": int(query.time_from.timestamp() * 1000),
            "to": int(query.time_to.timestamp() * 1000),
            # The range as wall-clock text in the platform's zone, like the time cells: the x axis.
            "range": [_jsonable(query.time_from, self.zone), _jsonable(query.time_to, self.zone)],
            "time_zone": self.settings.timezone,
        }


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name) or ()
    if len(values) > 1:
        raise RequestError(f"parameter {name!r} given more than once")
    return values[0] if values else None


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the `plotly` Python package."""
    try:
        path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    except ModuleNotFoundError as exc:
        raise FraudwatchError("the embedded dashboards need the `plotly` package: pip install plotly") from exc
    if not path.is_file():
        raise FraudwatchError(f"the plotly package has no bundled plotly.min.js at {path}")
    return path


# --- HTTP ----------------------------------------------------------------------------------------

_CSP: Final = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    # plotly.js adds its own <style> element and inline styles; styles cannot run code.
    "style-src 'self' 'unsafe-inline'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class _SecurityHeaders:
    """Headers on every response: no inline script, no sniffing, no framing, no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", _CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboards/static/dashboard.css">
<script src="/dashboards/static/plotly.min.js" defer></script>
<script src="/dashboards/static/dashboard.js" defer></script>
</head>
<body data-slug="{slug}">
<header id="bar">
  <nav id="nav">{nav}</nav>
  <h1 id="title">{title}</h1>
  <form id="controls" autocomplete="off"></form>
  <span id="status" role="status"></span>
</header>
<p id="description">{description}</p>
<main id="grid"></main>
</body>
</html>
"""


def _page(slug: str, dashboards: Mapping[str, Mapping[str, Any]]) -> str:
    board = dashboards[slug]
    nav = " ".join(
        f'<a href="/dashboards/{html.escape(s)}"{" aria-current=page" if s == slug else ""}>'
        f"{html.escape(str(b.get('title', s)).removeprefix('fraudwatch · '))}</a>"
        for s, b in dashboards.items()
    )
    return _PAGE.format(
        title=html.escape(str(board.get("title", slug))),
        slug=html.escape(slug),
        nav=nav,
        description=html.escape(str(board.get("description", ""))),
    )


def _query_params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def create_dashboard_app(settings: Settings, *, client_factory: Callable[[], Client] | None = None) -> Starlette:
    """The embedded dashboards as an ASGI app (serve it with uvicorn on the dashboard port).

    `client_factory` replaces the default clickhouse-connect client (tests, other drivers).
    """
    service = DashboardService(settings, client_factory=client_factory)
    plotly_js = plotly_js_path()
    static = {
        "dashboard.js": (STATIC_DIR / "dashboard.js", "text/javascript; charset=utf-8"),
        "dashboard.css": (STATIC_DIR / "dashboard.css", "text/css; charset=utf-8"),
        "plotly.min.js": (plotly_js, "text/javascript; charset=utf-8"),
    }

    async def index(request: Request) -> Response:
        first = next(iter(service.dashboards))
        return RedirectResponse(f"/dashboards/{first}", status_code=307)

    async def page(request: Request) -> Response:
        slug = request.path_params["slug"]
        if slug not in service.dashboards:
            return HTMLResponse("<!doctype html><title>Not found</title><p>No such dashboard.</p>", status_code=404)
        return HTMLResponse(_page(slug, service.dashboards), headers={"cache-control": "no-store"})

    async def model(request: Request) -> Response:
        slug = request.path_params["slug"]
        if slug not in service.dashboards:
            return JSONResponse({"error": f"no dashboard {slug[:40]!r}"}, status_code=404)
        return JSONResponse(service.dashboards[slug], headers={"cache-control": "no-store"})

    async def asset(request: Request) -> Response:
        entry = static.get(request.path_params["name"])
        if entry is None:
            return Response("not found", status_code=404, media_type="text/plain")
        path, media_type = entry
        return FileResponse(path, media_type=media_type, headers={"cache-control": "public, max-age=3600"})

    async def data(request: Request) -> Response:
        slug = request.path_params["slug"]
        headers = {"cache-control": "no-store"}
        try:
            if "index" in request.path_params:
                index = int(request.path_params["index"])
                body = await run_in_threadpool(service.run_annotation, slug, index, _query_params(request))
            else:
                panel_id = int(request.path_params["panel_id"])
                body = await run_in_threadpool(service.run, slug, panel_id, _query_params(request))
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404, headers=headers)
        except RequestError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=headers)
        except FraudwatchError as exc:
            log.warning("dashboard panel failed", extra={"dashboard": slug, "error": str(exc)})
            return JSONResponse({"error": str(exc)}, status_code=502, headers=headers)
        return Response(
            json.dumps(body, ensure_ascii=False, allow_nan=False), media_type="application/json", headers=headers
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/dashboards", index),
            Route("/dashboards/", index),
            Route("/dashboards/static/{name}", asset),
            Route("/dashboards/api/{slug}/{panel_id:int}", data),
            Route("/dashboards/api/{slug}/annotations/{index:int}", data),
            Route("/dashboards/{slug}.json", model),
            Route("/dashboards/{slug}", page),
        ],
        middleware=[Middleware(_SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.service = service
    return app
