"""The raw topic's wire format: an envelope carrying one or more sanitised reports.

Faust's cost is per Kafka message, not per report, so the producer packs reports into envelopes.
Everything in an envelope has already passed the API boundary: identifiers are keyed hashes and the
description is redacted. The envelope names the broker epoch it was produced in, because an
embedded broker restarted from empty reuses offsets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from fraudwatch.errors import InvalidEnvelopeError

ENVELOPE_VERSION = 1


@dataclass(frozen=True, slots=True)
class SanitisedReport:
    report_id: str
    reported_at: datetime
    occurred_at: datetime
    channel: str
    region_code: str
    citizen_category: str
    amount_lost_fen: int
    victim_phone_hash: str
    description: str

    def to_wire(self) -> dict[str, Any]:
        wire = asdict(self)
        wire["reported_at"] = self.reported_at.isoformat()
        wire["occurred_at"] = self.occurred_at.isoformat()
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SanitisedReport:
        reported_at = datetime.fromisoformat(wire["reported_at"])
        occurred_at = datetime.fromisoformat(wire["occurred_at"])
        if reported_at.tzinfo is None or occurred_at.tzinfo is None:
            raise ValueError("times must carry their zone")
        amount = wire["amount_lost_fen"]
        if type(amount) is not int or amount < 0:  # bool is an int subclass; JSON true is not an amount
            raise ValueError("amount_lost_fen must be a non-negative integer")
        return cls(
            report_id=str(wire["report_id"]),
            reported_at=reported_at,
            occurred_at=occurred_at,
            channel=str(wire["channel"]),
            region_code=str(wire["region_code"]),
            citizen_category=str(wire.get("citizen_category", "")),
            amount_lost_fen=amount,
            victim_phone_hash=str(wire.get("victim_phone_hash", "")),
            description=str(wire["description"]),
        )


@dataclass(frozen=True, slots=True)
class Envelope:
    epoch: str
    reports: tuple[SanitisedReport, ...]


def encode_envelope(epoch: str, reports: Sequence[SanitisedReport]) -> bytes:
    body = {"v": ENVELOPE_VERSION, "epoch": epoch, "reports": [r.to_wire() for r in reports]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode_envelope(raw: bytes | None) -> Envelope:
    """Parse and check an envelope; any defect raises InvalidEnvelopeError saying which."""
    if not raw:
        raise InvalidEnvelopeError("empty message")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEnvelopeError(f"not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidEnvelopeError("JSON nested too deeply") from exc
    version = body.get("v") if isinstance(body, dict) else None
    if type(version) is not int or version != ENVELOPE_VERSION:
        raise InvalidEnvelopeError(f"not a version {ENVELOPE_VERSION} envelope")
    epoch, reports = body.get("epoch"), body.get("reports")
    if not isinstance(epoch, str) or not isinstance(reports, list):
        raise InvalidEnvelopeError("envelope needs a string 'epoch' and a list 'reports'")
    try:
        return Envelope(epoch, tuple(SanitisedReport.from_wire(r) for r in reports))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidEnvelopeError(f"bad report in envelope: {exc!r}") from exc
