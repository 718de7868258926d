"""Producer HTTP API: authenticates the caller, validates reports, protects their personal data,
and writes them to Kafka.

A 202 is sent only after the broker acknowledged the write (acks=all); if the broker cannot be
reached in time the answer is 503 with Retry-After, never a 202 for something Kafka does not hold.
Reports carrying a client key (report_id or Idempotency-Key) map to a fixed report_id; a resend
within the retention window answers with the original result, and the worker drops any copy that
reaches Kafka anyway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from clickhouse_connect.driver.exceptions import ClickHouseError
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fraudwatch import logs
from fraudwatch.auth import Principal, Role, TokenRegistry
from fraudwatch.broker import die_with_parent
from fraudwatch.collector import settled_garbage_collector
from fraudwatch.errors import StorageError
from fraudwatch.metrics import record
from fraudwatch.producer import EnvelopeProducer
from fraudwatch.reports import (
    ClientKey,
    ReportFields,
    ReportIn,
    decode_batch,
    decode_report,
    fresh_report_ids,
    sanitise_batch_for_wire,
    sanitise_for_wire,
)
from fraudwatch.settings import Settings
from sinks.clickhouse import connect
from streams.envelope import WireReport

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0
RETRY_AFTER_S = 5
METRICS_INTERVAL_S = 5.0
REPORTS_PATH = "/api/v1/reports"


class Accepted(BaseModel):
    report_id: str
    status: str = "accepted"


class BatchIn(BaseModel):
    reports: list[dict[str, Any]] = Field(min_length=1, description="Each item is a report (see ReportIn)")


class _ValidBatch(BaseModel):
    """A batch whose every item is valid: the common case, checked in one pass over the raw body."""

    reports: list[ReportIn] = Field(min_length=1)


_CLIENT_KEY = TypeAdapter(ClientKey)


def _valid_client_key(value: str | None) -> bool:
    if value is None:
        return True
    try:
        _CLIENT_KEY.validate_python(value)
    except ValidationError:
        return False
    return True


class ItemResult(BaseModel):
    index: int
    status: str = Field(description="accepted | rejected | failed (not stored: retry it)")
    report_id: str | None = None
    errors: list[dict[str, str]] | None = None


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    failed: int
    results: list[ItemResult]


class Unavailable(Exception):
    """The broker did not acknowledge in time."""


def field_errors(errors: list[Any]) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body") or "body", "problem": str(err["msg"])}
        for err in errors
    ]


class IdempotencyCache:
    """Recently seen client keys and the report_id they were given, for the retention window."""

    def __init__(self, window_s: float, max_entries: int = 1_000_000) -> None:
        self._window_s = window_s
        self._max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen(self, report_id: str) -> bool:
        stamp = self._seen.get(report_id)
        return stamp is not None and time.monotonic() - stamp < self._window_s

    def remember(self, report_id: str) -> None:
        self._seen[report_id] = time.monotonic()
        self._seen.move_to_end(report_id)
        while len(self._seen) > self._max_entries:
            self._seen.popitem(last=False)


class BodyLimit:
    """413 for bodies over the limit, counted as they arrive (Content-Length can be absent or lie)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        response = JSONResponse({"error": f"request body over {self.max_bytes} bytes"}, status_code=413)
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(Exception):
    pass


def _principal(tokens: TokenRegistry, authorization: str | None) -> Principal:
    principal = tokens.authenticate(authorization)
    if principal is None:
        raise HTTPException(401, "missing or unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
    return principal


def _require(principal: Principal, role: Role) -> Principal:
    if role not in principal.roles:
        raise HTTPException(403, f"this token may not do that (needs the {role.value} role)")
    return principal


async def _authenticated(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return _principal(request.app.state.tokens, authorization)


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of a header, as Starlette's `request.headers.get` gives it (ASGI names are lower case)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Api(FastAPI):
    """FastAPI, except that the ingest endpoints' POSTs go straight to their handlers.

    Per request, FastAPI's middleware stack, routing, `Request` and endpoint wrapping cost about as
    much CPU as the endpoint's own work (py-spy: ~13% of a single-report request against ~15%); the
    ingest handlers need none of it (they read the token, the body and the headers themselves).
    Their routes stay registered, serving the OpenAPI document and any request that reaches the
    router.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.ingest: dict[str, ASGIApp] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.ingest.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _having(role: Role) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(_authenticated)]) -> Principal:
        return _require(principal, role)

    return check


def _documented_body(model: type[BaseModel], **headers: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for an endpoint that reads its JSON body and headers itself (the model joins the
    document's components in `create_app`'s `openapi`)."""
    schemas = {"authorization": {"type": "string"}} | {name.replace("_", "-"): s for name, s in headers.items()}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        },
        "parameters": [{"name": n, "in": "header", "required": False, "schema": s} for n, s in schemas.items()],
    }


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


Analyst = Annotated[Principal, Depends(_having(Role.ANALYST))]
Anyone = Annotated[Principal, Depends(_authenticated)]


def app_of_worker_process() -> FastAPI:
    """The app in one of `api_workers` processes started by uvicorn: settings from the environment
    `fraudwatch api` itself was started with (there are no options), and gone with its parent."""
    die_with_parent()
    settings = Settings()
    logs.configure("api", settings.log_level)
    return create_app(settings)


def create_app(settings: Settings) -> FastAPI:
    tokens = TokenRegistry.from_settings(
        settings.dev_token.get_secret_value() if settings.dev_token else None, settings.tokens_file
    )
    if tokens.empty:
        log.warning("no API tokens configured: every request will be refused (set FRAUDWATCH_DEV_TOKEN)")
    key = settings.hash_key.get_secret_value().encode()
    cache = IdempotencyCache(settings.idempotency_window_s)
    state: dict[str, EnvelopeProducer] = {}
    clickhouse: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all",
            linger_ms=1,
            request_timeout_ms=int(SEND_TIMEOUT_S * 1000),
            max_request_size=4 * 1024 * 1024,
        )
        await producer.start()
        partitions = await producer.partitions_for(settings.raw_topic)
        state["envelopes"] = EnvelopeProducer(
            producer,
            settings.raw_topic,
            settings.broker_epoch,
            len(partitions),
            linger_s=settings.envelope_linger_ms / 1000,
            max_reports=settings.envelope_max_reports,
            timeout_s=SEND_TIMEOUT_S,
        )
        reporter = asyncio.get_running_loop().create_task(report_rejections())
        try:
            with settled_garbage_collector():
                yield
        finally:
            reporter.cancel()
            await state["envelopes"].close()
            await producer.stop()

    app = _Api(
        title="fraudwatch producer API",
        version="1",
        lifespan=lifespan,
        description="Submit fraud reports. Personal identifiers are keyed-hashed on arrival and never stored.",
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.state.tokens = tokens

    rejected = {"count": 0}

    async def report_rejections() -> None:
        # Counts since the previous sample, for the health dashboard; ClickHouse being away costs nothing.
        while True:
            await asyncio.sleep(METRICS_INTERVAL_S)
            count, rejected["count"] = rejected["count"], 0
            try:
                await asyncio.to_thread(
                    record,
                    clickhouse_client(),
                    settings.clickhouse_database,
                    settings.zone,
                    {"reports_rejected": count},
                )
            except Exception as exc:
                rejected["count"] += count
                log.debug("could not record rejections", extra={"error": repr(exc)})

    def clickhouse_client() -> Any:
        if "client" not in clickhouse:
            clickhouse["client"] = connect(settings)
        return clickhouse["client"]

    def answer_to(exc: Exception) -> JSONResponse:
        """The error answer, for FastAPI's exception handlers and the ingest handlers alike."""
        if isinstance(exc, RequestValidationError):
            rejected["count"] += 1
            # FastAPI hands over the raw bytes when the body could not be parsed as JSON at all.
            unparsed = isinstance(exc.body, bytes | str)
            if unparsed or any(err["type"] == "json_invalid" for err in exc.errors()):
                return JSONResponse({"error": "malformed JSON", "detail": field_errors(list(exc.errors()))}, 400)
            return JSONResponse({"error": "invalid report", "detail": field_errors(list(exc.errors()))}, 422)
        if isinstance(exc, HTTPException):
            return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)
        if isinstance(exc, Unavailable):
            log.warning("broker did not acknowledge", extra={"error": str(exc)})
            return JSONResponse(
                {"error": "the report could not be stored right now; retry later"},
                503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        log.exception("unexpected error")
        return JSONResponse({"error": "internal error"}, 500)

    async def handled(_: Request, exc: Exception) -> JSONResponse:
        return answer_to(exc)

    for caught in (RequestValidationError, HTTPException, Unavailable, Exception):
        app.add_exception_handler(caught, handled)

    def submitter(authorization: str | None) -> Principal:
        return _require(_principal(tokens, authorization), Role.SUBMITTER)

    zone = settings.zone

    async def deliver(reports: list[WireReport]) -> list[BaseException | None]:
        if not any(report["client_keyed"] for report in reports):  # most batches: no key to look up or keep
            return await state["envelopes"].send(reports)
        fresh = [r for r in reports if not (r["client_keyed"] and cache.seen(r["report_id"]))]
        outcomes = dict(zip((id(r) for r in fresh), await state["envelopes"].send(fresh), strict=True))
        for report in fresh:
            if report["client_keyed"] and outcomes[id(report)] is None:
                cache.remember(report["report_id"])
        return [outcomes.get(id(r)) for r in reports]

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    def validated(body: bytes, model: type[BaseModel], header: tuple[str, str | None] | None = None) -> Any:
        """The body as `model`, or the 400/422 that names the fields (and the header) at fault."""
        errors: list[Any] = []
        if header is not None and header[1] is not None:
            try:
                _CLIENT_KEY.validate_python(header[1])
            except ValidationError as exc:
                errors += [{**e, "loc": ("header", header[0], *e["loc"])} for e in exc.errors(include_url=False)]
        try:
            parsed = model.model_validate_json(body)
        except ValidationError as exc:
            errors += exc.errors(include_url=False)
        if errors:
            raise RequestValidationError(errors)
        return parsed

    @app.post(
        REPORTS_PATH,
        status_code=202,
        response_model=Accepted,
        responses={400: {}, 422: {}, 503: {}, 413: {}, 401: {}, 403: {}},
        openapi_extra=_documented_body(ReportIn, idempotency_key=_CLIENT_KEY.json_schema()),
    )
    async def submit_report(request: Request) -> Response:
        who = submitter(request.headers.get("authorization"))
        return await accept_report(who, request.headers.get("idempotency-key"), await request.body())

    async def accept_report(who: Principal, idempotency_key: str | None, body: bytes) -> Response:
        report: ReportFields | None = decode_report(body)
        if report is None or not _valid_client_key(idempotency_key):
            report = validated(body, ReportIn, ("idempotency-key", idempotency_key))
        if idempotency_key and report.report_id and idempotency_key != report.report_id:
            raise HTTPException(422, "Idempotency-Key and report_id disagree")
        try:
            sanitised = sanitise_for_wire(
                report,
                key=key,
                zone=zone,
                now=datetime.now(zone),
                submitter=who.name,
                default_channel=who.channel,
                client_key=idempotency_key,
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        (outcome,) = await deliver([sanitised])
        if isinstance(outcome, KafkaError | TimeoutError):
            raise Unavailable(repr(outcome))
        if outcome is not None:
            raise outcome
        return _json({"report_id": sanitised["report_id"], "status": "accepted"}, 202)

    def batch_items(body: bytes) -> list[ReportFields | list[dict[str, str]]]:
        """Each item of a batch body: the report, or what is wrong with it by field."""
        plain = decode_batch(body)
        if plain is not None:
            check_batch_size(len(plain))
            return list(plain)
        try:
            reports = _ValidBatch.model_validate_json(body).reports
        except ValidationError:
            # Some item is invalid (or the body is): item by item, to answer each one.
            loose: BatchIn = validated(body, BatchIn)
            check_batch_size(len(loose.reports))
            items: list[ReportFields | list[dict[str, str]]] = []
            for item in loose.reports:
                try:
                    items.append(ReportIn.model_validate(item))
                except ValidationError as exc:
                    items.append(field_errors(exc.errors()))
            return items
        check_batch_size(len(reports))
        return list(reports)

    def check_batch_size(count: int) -> None:
        if count > settings.max_batch_reports:
            raise HTTPException(413, f"at most {settings.max_batch_reports} reports per batch")

    @app.post(
        f"{REPORTS_PATH}/batch",
        response_model=BatchResult,
        responses={400: {}, 422: {}, 503: {}, 413: {}, 401: {}, 403: {}},
        openapi_extra=_documented_body(BatchIn),
    )
    async def submit_batch(request: Request) -> Response:
        return await accept_batch(submitter(request.headers.get("authorization")), await request.body())

    async def accept_batch(who: Principal, body: bytes) -> Response:
        items = batch_items(body)
        results: list[dict[str, Any]] = [{}] * len(items)
        valid: list[int] = []
        reports: list[ReportFields] = []
        for index, item in enumerate(items):
            if isinstance(item, list):
                results[index] = {"index": index, "status": "rejected", "report_id": None, "errors": item}
            else:
                valid.append(index)
                reports.append(item)
        sanitised = sanitise_batch_for_wire(
            reports,
            fresh_report_ids(len(reports)),
            key=key,
            zone=zone,
            now=datetime.now(zone),
            submitter=who.name,
            default_channel=who.channel,
        )
        ready: list[tuple[int, WireReport]] = []
        for index, report in zip(valid, sanitised, strict=True):
            if isinstance(report, ValueError):
                errors = [{"field": "", "problem": str(report)}]
                results[index] = {"index": index, "status": "rejected", "report_id": None, "errors": errors}
            else:
                ready.append((index, report))
        outcomes = await deliver([r for _, r in ready])
        counts = {"accepted": 0, "rejected": len(items) - len(ready), "failed": 0}
        for (index, report), outcome in zip(ready, outcomes, strict=True):
            if outcome is None:
                results[index] = {
                    "index": index,
                    "status": "accepted",
                    "report_id": report["report_id"],
                    "errors": None,
                }
            else:
                counts["failed"] += 1
                not_stored = [{"field": "", "problem": "not stored"}]
                results[index] = {"index": index, "status": "failed", "report_id": None, "errors": not_stored}
        counts["accepted"] = len(ready) - counts["failed"]
        if ready and counts["accepted"] == 0 and counts["failed"]:
            return _json({**counts, "results": results}, 503, {"Retry-After": str(RETRY_AFTER_S)})
        return _json({**counts, "results": results}, 200)

    async def serve_ingest(scope: Scope, receive: Receive, send: Send) -> None:
        """The ingest endpoints without FastAPI: the same token check, handlers and error answers."""
        try:
            who = submitter(_header(scope, b"authorization"))
            body = await _body(receive)
            if body is None:
                return
            if scope["path"] == REPORTS_PATH:
                response = await accept_report(who, _header(scope, b"idempotency-key"), body)
            else:
                response = await accept_batch(who, body)
        except _TooLarge:
            raise  # BodyLimit answers
        except Exception as exc:
            await answer_to(exc)(scope, receive, send)
            if not isinstance(exc, RequestValidationError | HTTPException | Unavailable):
                raise  # after the 500, as Starlette's ServerErrorMiddleware does: the server logs it too
            return
        await response(scope, receive, send)

    fast = BodyLimit(serve_ingest, max_bytes=settings.max_request_bytes)
    app.ingest = {REPORTS_PATH: fast, f"{REPORTS_PATH}/batch": fast}

    @app.get("/api/v1/whoami")
    async def whoami(principal: Anyone) -> dict[str, Any]:
        return {"name": principal.name, "roles": sorted(principal.roles), "channel": principal.channel}

    def read_report(report_id: str) -> list[tuple[Any, ...]]:
        result = clickhouse_client().query(
            f"SELECT report_id, category, category_confidence, channel, region_code, reported_at, ingested_at "
            f"FROM {settings.clickhouse_database}.reports WHERE report_id = {{id:String}} LIMIT 1",
            parameters={"id": report_id},
        )
        return list(result.result_rows)

    @app.get(f"{REPORTS_PATH}/{{report_id}}", responses={404: {}})
    async def report_status(report_id: str, who: Analyst) -> dict[str, Any]:
        """Whether a report has reached ClickHouse, and how it was categorised (analysts only)."""
        try:
            rows = await asyncio.to_thread(read_report, report_id)
        except (StorageError, ClickHouseError) as exc:
            raise HTTPException(503, f"ClickHouse is not reachable: {exc}", headers={"Retry-After": "5"}) from exc
        if not rows:
            raise HTTPException(404, "no such report in ClickHouse (yet)")
        names = ("report_id", "category", "category_confidence", "channel", "region_code", "reported_at", "stored_at")
        return dict(zip(names, rows[0], strict=True))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _, bodies = models_json_schema(
                [(ReportIn, "validation"), (BatchIn, "validation")], ref_template="#/components/schemas/{model}"
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(bodies["$defs"])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
