"""The API's ingest path as it was before issue 9's third API pass (main at 9470161), kept as the
reference the faster code is compared with: identifier normalising and hashing by `hmac.new`,
redaction by every pattern in turn, `sanitise` into a `SanitisedReport`, and the envelope as
`json.dumps` of `to_wire`. Deliberately plain and slow; only tests import it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
import unicodedata
import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fraudwatch.pii import _PATTERNS, IdentifierKind  # the patterns are as they were
from streams.envelope import SanitisedReport

_CLIENT_KEY_NAMESPACE = uuid.UUID("5b0f3f3c-8f43-4d6e-9a1e-6f7261756477")
_NON_DIGITS = re.compile(r"[^\d]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@cache
def _folding() -> dict[int, str]:
    table = {
        cp: str(unicodedata.decimal(chr(cp)))
        for cp in range(0x80, sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) == "Nd"
    }
    table.update({cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F) if chr(cp) not in "，：；！？（）"})
    table[0x3000] = " "
    return table


def plain(text: str) -> str:
    return text.translate(_folding())


def normalise(kind: IdentifierKind, raw: str) -> str:
    value = plain(raw.strip())
    if kind is IdentifierKind.PHONE:
        digits = _NON_DIGITS.sub("", value)
        for prefix in ("0086", "86"):
            if digits.startswith(prefix) and _CN_MOBILE.match(digits[len(prefix) :]):
                digits = digits[len(prefix) :]
        return digits
    if kind is IdentifierKind.ID_CARD:
        return re.sub(r"[\s-]", "", value).upper()
    if kind in (IdentifierKind.BANK_CARD, IdentifierKind.QQ):
        return _NON_DIGITS.sub("", value)
    if kind is IdentifierKind.URL:
        return value.lower().rstrip("/").removeprefix("https://").removeprefix("http://").removeprefix("www.")
    return value.lower()


def keyed_hash(key: bytes, kind: IdentifierKind, raw: str) -> str:
    message = f"{kind.value}:{normalise(kind, raw)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def redact(text: str, key: bytes) -> tuple[str, list[tuple[IdentifierKind, str]]]:
    text = plain(text)
    found: list[tuple[IdentifierKind, str]] = []
    for kind, pattern in _PATTERNS:

        def _replace(match: re.Match[str], kind: IdentifierKind = kind) -> str:
            placeholder = f"[{kind.name}]"
            if "id" in match.re.groupindex:
                found.append((kind, keyed_hash(key, kind, match.group("id"))))
                start, end = match.span("id")
                whole, offset = match.group(0), match.start()
                return whole[: start - offset] + placeholder + whole[end - offset :]
            found.append((kind, keyed_hash(key, kind, match.group(0))))
            return placeholder

        text = pattern.sub(_replace, text)
    return text, found


def sanitise(
    report: Any,
    *,
    key: bytes,
    zone: ZoneInfo,
    now: datetime,
    submitter: str = "",
    default_channel: str | None = None,
    client_key: str | None = None,
    fresh_id: str | None = None,
) -> SanitisedReport:
    """`fraudwatch.reports.sanitise` as it was (without the per-batch hash memo, which never changed a result)."""
    reported_at = (report.reported_at or now).astimezone(zone)
    if reported_at > now + timedelta(minutes=10):
        raise ValueError("reported_at is in the future")
    description, mentioned = redact(report.description, key)
    victim = report.victim
    scammer = report.scammer
    victim_phone = report.victim_phone or (victim.phone if victim else None)

    def tagged(kind: IdentifierKind, value: str) -> str:
        return f"{kind.value}:{keyed_hash(key, kind, value)}"

    contacts = []
    if scammer is not None:
        for kind, values in (
            (IdentifierKind.PHONE, scammer.phones),
            (IdentifierKind.QQ, scammer.qq),
            (IdentifierKind.WECHAT, scammer.wechat),
            (IdentifierKind.URL, scammer.urls),
            (IdentifierKind.BANK_CARD, scammer.bank_accounts),
        ):
            contacts += [tagged(kind, value) for value in values]
    urls = scammer.urls if scammer else []
    hosts = {(urlsplit(u if "://" in u else f"http://{u}").hostname or "").lower() for u in urls}
    key_used = client_key or report.report_id
    if key_used is None:
        report_id = fresh_id or str(uuid.uuid4())
    else:
        report_id = str(uuid.uuid5(_CLIENT_KEY_NAMESPACE, f"{submitter}\x00{key_used}"))
    id_number = victim.id_number if victim else None
    return SanitisedReport(
        report_id=report_id,
        reported_at=reported_at,
        occurred_at=(report.occurred_at or reported_at).astimezone(zone),
        channel=(report.channel.value if report.channel else None) or default_channel or "other",
        region_code=report.region_code,
        amount_lost_fen=int(report.amount_lost * 100),
        description=description,
        citizen_category=report.category.value if report.category else "",
        victim_phone_hash=tagged(IdentifierKind.PHONE, victim_phone) if victim_phone else "",
        submitter=submitter,
        client_keyed=key_used is not None,
        contact_method=report.contact_method.value if report.contact_method else "",
        payment_channel=scammer.payment_channel.value if scammer and scammer.payment_channel else "",
        victim_id_hash=tagged(IdentifierKind.ID_CARD, id_number) if id_number else "",
        victim_age_band=victim.age_band.value if victim and victim.age_band else "",
        victim_gender=victim.gender.value if victim and victim.gender else "",
        scammer_contacts=tuple(dict.fromkeys(contacts)),
        scammer_domains=tuple(sorted(h for h in hosts if h)),
        mentioned_identifiers=tuple(dict.fromkeys(f"{k.value}:{digest}" for k, digest in mentioned)),
    )


def encode_envelope(epoch: str, reports: list[SanitisedReport]) -> bytes:
    body = {"v": 1, "epoch": epoch, "reports": [r.to_wire() for r in reports]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
