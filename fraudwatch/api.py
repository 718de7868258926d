"""Producer HTTP API: validates a report, protects its personal data, and writes it to Kafka.

A 202 is sent only after the broker acknowledged the write (acks=all); if the broker cannot be
reached in time the answer is 503 with Retry-After, never a 202 for something Kafka does not hold.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from fraudwatch.pii import IdentifierKind, keyed_hash, redact
from fraudwatch.regions import region_problem
from fraudwatch.settings import Settings
from streams.categorizer import CATEGORIES
from streams.envelope import SanitisedReport, encode_envelope

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0
RETRY_AFTER_S = 5


class Channel(StrEnum):
    APP = "app"
    WEB = "web"
    HOTLINE = "hotline"
    SMS = "sms"
    WECHAT = "wechat"
    POLICE = "police"
    OTHER = "other"


Category = StrEnum("Category", {code.upper(): code for code in CATEGORIES})  # type: ignore[misc]


def _valid_region(code: str) -> str:
    problem = region_problem(code)
    if problem:
        raise ValueError(problem)
    return code


class ReportIn(BaseModel):
    """A fraud report as a citizen, hotline or partner system submits it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str = Field(min_length=1, max_length=5000, description="What happened, in free text")
    region_code: Annotated[str, AfterValidator(_valid_region)] = Field(
        description="6-digit administrative division code of the victim, e.g. 420106"
    )
    amount_lost: Decimal = Field(ge=0, le=100_000_000, decimal_places=2, description="Loss in CNY")
    channel: Channel = Channel.OTHER
    category: Category | None = Field(default=None, description="The reporter's own choice of category")
    victim_phone: str | None = Field(default=None, max_length=32, description="Hashed at once; never stored")
    reported_at: AwareDatetime | None = Field(default=None, description="ISO 8601 with zone; default now")
    occurred_at: AwareDatetime | None = Field(default=None, description="ISO 8601 with zone; default reported_at")


class Accepted(BaseModel):
    report_id: str
    status: str = "accepted"


def sanitise(report: ReportIn, settings: Settings, now: datetime) -> SanitisedReport:
    """The report as it may travel: identifiers keyed-hashed, free text redacted."""
    key = settings.hash_key.get_secret_value().encode()
    description, _found = redact(report.description, key)
    reported_at = (report.reported_at or now).astimezone(settings.zone)
    return SanitisedReport(
        report_id=str(uuid.uuid4()),
        reported_at=reported_at,
        occurred_at=(report.occurred_at or reported_at).astimezone(settings.zone),
        channel=report.channel.value,
        region_code=report.region_code,
        citizen_category=report.category.value if report.category else "",
        amount_lost_fen=int(report.amount_lost * 100),
        victim_phone_hash=keyed_hash(key, IdentifierKind.PHONE, report.victim_phone) if report.victim_phone else "",
        description=description,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body") or "body", "problem": err["msg"]}
        for err in exc.errors()
    ]


def create_app(settings: Settings) -> FastAPI:
    producer_box: dict[str, AIOKafkaProducer] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all",
            linger_ms=2,
            request_timeout_ms=int(SEND_TIMEOUT_S * 1000),
        )
        await producer.start()
        producer_box["producer"] = producer
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(title="fraudwatch producer API", version="1", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI hands over the raw bytes when the body could not be parsed as JSON at all.
        unparsed = isinstance(exc.body, (bytes, str))
        if unparsed or any(err["type"] == "json_invalid" for err in exc.errors()):
            return JSONResponse({"error": "malformed JSON", "detail": _field_errors(exc)}, status_code=400)
        return JSONResponse({"error": "invalid report", "detail": _field_errors(exc)}, status_code=422)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/reports", status_code=202, response_model=Accepted)
    async def submit_report(report: ReportIn) -> Any:
        sanitised = sanitise(report, settings, datetime.now(settings.zone))
        payload = encode_envelope(settings.broker_epoch, [sanitised])
        try:
            await asyncio.wait_for(
                producer_box["producer"].send_and_wait(settings.raw_topic, payload, key=sanitised.report_id.encode()),
                SEND_TIMEOUT_S,
            )
        except (KafkaError, TimeoutError) as exc:
            log.warning("broker did not acknowledge a report", extra={"error": repr(exc)})
            return JSONResponse(
                {"error": "the report could not be stored right now; retry later"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        return Accepted(report_id=sanitised.report_id)

    return app
