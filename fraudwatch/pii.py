"""Personal identifiers: normalisation, keyed hashing, and redaction of free text.

Pure functions, used at the API boundary (and by the leak loader) so that no raw phone, ID-card
or bank-card number ever reaches Kafka or ClickHouse. The same identifier always hashes the same
way under one key, which is what joins and repeat-scammer analysis rely on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum


class IdentifierKind(StrEnum):
    PHONE = "phone"
    ID_CARD = "id_card"
    BANK_CARD = "bank_card"
    EMAIL = "email"
    QQ = "qq"
    WECHAT = "wechat"
    URL = "url"


_NON_DIGITS = re.compile(r"[^\d]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalise(kind: IdentifierKind, raw: str) -> str:
    """Canonical form, so that formatting (+86, spaces, dashes, case) never changes the hash."""
    value = raw.strip()
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


def tagged_hash(key: bytes, kind: IdentifierKind, raw: str) -> str:
    """ "kind:hash", the form identifiers take in messages and tables."""
    return f"{kind.value}:{keyed_hash(key, kind, raw)}"


def keyed_hash(key: bytes, kind: IdentifierKind, raw: str) -> str:
    """HMAC-SHA256 of the normalised identifier, truncated to 16 bytes, hex."""
    message = f"{kind.value}:{normalise(kind, raw)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


# ID numbers first: an 18-character ID number must not be read as a bank card or a phone.
_PATTERNS: tuple[tuple[IdentifierKind, re.Pattern[str]], ...] = (
    (IdentifierKind.EMAIL, re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    (IdentifierKind.ID_CARD, re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])")),
    # Phones before bank cards: "+8613800138000" is a phone, not a 13-digit card number.
    (IdentifierKind.PHONE, re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")),
    (IdentifierKind.BANK_CARD, re.compile(r"(?<!\d)\d{4}(?:[ -]?\d{4}){2,3}(?:[ -]?\d{1,3})?(?!\d)")),
    # QQ and WeChat IDs are only recognisable by what names them: "QQ 12345678", "vx: abc_123".
    (IdentifierKind.QQ, re.compile(r"(?i)(?:qq|扣扣)\s*(?:号码?|号)?\s*[:：]?\s*(?P<id>[1-9]\d{4,11})(?!\d)")),
    (
        IdentifierKind.WECHAT,
        re.compile(
            r"(?i)(?:微信|vx|wx|weixin|wechat)\s*(?:号)?\s*[:：]?\s*(?P<id>[a-z][-_a-z0-9]{5,19})(?![-_a-z0-9])"
        ),
    ),
)
PLACEHOLDERS = {kind: f"[{kind.name}]" for kind, _ in _PATTERNS}


def redact(text: str, key: bytes) -> tuple[str, list[tuple[IdentifierKind, str]]]:
    """Replace identifiers inside free text by typed placeholders; return the text and their hashes."""
    found: list[tuple[IdentifierKind, str]] = []
    for kind, pattern in _PATTERNS:

        def _replace(match: re.Match[str], kind: IdentifierKind = kind) -> str:
            if "id" in match.re.groupindex:  # keep the naming word, replace only the identifier
                found.append((kind, keyed_hash(key, kind, match.group("id"))))
                start, end = match.span("id")
                whole = match.group(0)
                offset = match.start()
                return whole[: start - offset] + PLACEHOLDERS[kind] + whole[end - offset :]
            found.append((kind, keyed_hash(key, kind, match.group(0))))
            return PLACEHOLDERS[kind]

        text = pattern.sub(_replace, text)
    return text, found


def key_fingerprint(key: bytes) -> str:
    """Names a hashing key without revealing it, so two holders can check they hash alike."""
    return hmac.new(key, b"fraudwatch key fingerprint", hashlib.sha256).hexdigest()[:16]
