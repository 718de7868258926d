"""Personal identifiers: normalisation, keyed hashing, and redaction of free text.

Pure functions, used at the API boundary (and by the leak loader) so that no raw phone, ID-card
or bank-card number ever reaches Kafka or ClickHouse. The same identifier always hashes the same
way under one key, which is what joins and repeat-scammer analysis rely on.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import sys
import unicodedata
from enum import StrEnum
from typing import Any


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
_PHONE = IdentifierKind.PHONE
_PHONE_PREFIXES = ("0086", "86")


def normalise(kind: IdentifierKind, raw: str) -> str:
    """Canonical form, so that formatting (+86, spaces, dashes, case, full-width digits) never changes the hash."""
    if raw.isdigit() and raw.isascii() and not (kind is _PHONE and raw.startswith(_PHONE_PREFIXES)):
        # Plain ASCII digits (the usual spelling) are canonical for every kind, but for a phone's
        # country prefix: nothing to strip, fold, remove or lower.
        return raw
    value = plain(raw.strip())  # full-width or other digits hash like ASCII ones
    digits_only = value.isascii() and value.isdigit()
    if kind is IdentifierKind.PHONE:
        digits = value if digits_only else _NON_DIGITS.sub("", value)
        if digits.startswith(_PHONE_PREFIXES):
            for prefix in _PHONE_PREFIXES:
                if digits.startswith(prefix) and _CN_MOBILE.match(digits[len(prefix) :]):
                    digits = digits[len(prefix) :]
        return digits
    if kind is IdentifierKind.ID_CARD:
        return re.sub(r"[\s-]", "", value).upper()
    if kind in (IdentifierKind.BANK_CARD, IdentifierKind.QQ):
        return value if digits_only else _NON_DIGITS.sub("", value)
    if kind is IdentifierKind.URL:
        return value.lower().rstrip("/").removeprefix("https://").removeprefix("http://").removeprefix("www.")
    return value.lower()


def tagged_hash(key: bytes, kind: IdentifierKind, raw: str) -> str:
    """ "kind:hash", the form identifiers take in messages and tables."""
    return hasher_for(key).tagged(kind, raw)


def keyed_hash(key: bytes, kind: IdentifierKind, raw: str) -> str:
    """HMAC-SHA256 of the normalised identifier, truncated to 16 bytes, hex."""
    return hasher_for(key).digest(kind, normalise(kind, raw))


class KeyedHasher:
    """HMAC-SHA256 under one key, for many values.

    HMAC (RFC 2104) with the padded key's inner and outer SHA-256 states computed once and copied
    per value: `hmac.new` per value costs about twice as much, which the API pays several times per
    report and the leak loader tens of millions of times. For each `IdentifierKind` the inner state
    has "kind:" hashed in already (SHA-256 is a stream: the same digest as hashing it with the
    value). Unit-tested against `hmac.new`.
    """

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._tagged: dict[str, tuple[str, Any]] = {}
        for kind in IdentifierKind:
            inner = self._inner.copy()
            inner.update(f"{kind.value}:".encode())
            # A StrEnum is a str: concatenating the prefix later gives its value in C, where an
            # f-string of the member would run Enum.__format__ in Python.
            self._tagged[kind] = (f"{kind.value}:", inner)

    def digest(self, kind: str, normalised: str) -> str:
        """HMAC of "kind:normalised", truncated to 16 bytes, as 32 hex digits."""
        inner = self._inner.copy()
        inner.update((kind + ":" + normalised).encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:32]

    def hash(self, kind: str, normalised: str) -> str:
        """`kind` is an IdentifierKind (or its value); the result is "kind:32 hex digits"."""
        return kind + ":" + self.digest(kind, normalised)

    def tagged(self, kind: IdentifierKind, raw: str, memo: dict[tuple[IdentifierKind, str], str] | None = None) -> str:
        """`hash` of the identifier as `normalise` makes it: "kind:32 hex digits". With a `memo` (the
        API shares one between the reports of a batch, whose scam rings repeat phones and accounts),
        read from it if there and kept in it."""
        if memo is not None:
            digest = memo.get((kind, raw))
            if digest is not None:
                return digest
        prefix, prepared = self._tagged[kind]
        inner = prepared.copy()
        inner.update(normalise(kind, raw).encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        digest = prefix + outer.hexdigest()[:32]
        if memo is not None:
            memo[kind, raw] = digest
        return digest


@functools.lru_cache(maxsize=16)
def hasher_for(key: bytes) -> KeyedHasher:
    """One prepared hasher per key: a process uses one key, tests a few."""
    return KeyedHasher(key)


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


# Digits with at most one space or dash between two. The patterns' \d is any Unicode decimal digit,
# but `plain` text has only ASCII ones, and [0-9] scans faster than \d.
_DIGIT_GROUPS = re.compile(r"[0-9](?:[ -]?[0-9])*")
_FIVE_DIGIT_GROUP = re.compile(r"[0-9](?:[ -]?[0-9]){4}")  # every digit condition below needs 5 at least


# The QQ and WeChat patterns without their IGNORECASE flag (which leaves the regex engine no quick
# scan for where a match may start: 7 µs on a description that names WeChat but no ID), up to the
# first character of the ID, each letter spelled as the characters that fold to it (i: also İ and ı;
# [a-z]: also İ, ı, ſ and K, the Kelvin sign). Whatever the pattern matches, one of these finds; each
# starts with a literal or a class, which the engine scans for quickly.
_ID_START = r"\s*[:：]?\s*"
_QQ_NAMED = (
    re.compile(r"扣扣\s*(?:号码?)?" + _ID_START + "[1-9]"),
    re.compile(r"[qQ][qQ]\s*(?:号码?)?" + _ID_START + "[1-9]"),
)
_WECHAT_NAMED = (
    re.compile(r"微信\s*号?" + _ID_START + "[a-zA-ZİıſK]"),
    re.compile(r"[vVwW](?:[xX]|[eE][iIİı][xX][iIİı][nN]|[eE][cC][hH][aA][tT])\s*号?" + _ID_START + "[a-zA-ZİıſK]"),
)


def _could_match(text: str) -> tuple[IdentifierKind, ...]:
    """The kinds whose pattern can possibly match `plain` `text`, by conditions every match needs.

    Most descriptions hold no identifier, and the six patterns cost several µs each even when they
    find nothing. Each condition is necessary for its pattern: the digits of an ID number, a phone
    or a card number lie in one group of digits separated by at most one space or dash, 17, 11 and
    12 of them at least; a QQ number needs 5 digits in a row and "qq" (no other character folds to q
    under IGNORECASE) or "扣扣", with `_QQ_NAMED`; a WeChat ID needs "微信" or a keyword starting
    with v or w, with `_WECHAT_NAMED`; an e-mail address needs "@". The placeholders hold no digit,
    "@", q, v or w, and start with "[", which neither `_QQ_NAMED` nor `_WECHAT_NAMED` reads on, so a
    condition that fails on the original text also fails on the text as each earlier pattern left
    it: skipping a kind never changes the result (property-tested against `substitute` with every kind).
    """
    most_digits = 0
    if _FIVE_DIGIT_GROUP.search(text):  # amounts ("2,000元", "1057块") mostly have fewer
        most_digits = max(len(g) - g.count(" ") - g.count("-") for g in _DIGIT_GROUPS.findall(text))
    possible = []
    if "@" in text:
        possible.append(IdentifierKind.EMAIL)
    if most_digits >= 17:
        possible.append(IdentifierKind.ID_CARD)
    if most_digits >= 11:
        possible.append(IdentifierKind.PHONE)
    if most_digits >= 12:
        possible.append(IdentifierKind.BANK_CARD)
    if most_digits >= 5 and (
        ("扣扣" in text and _QQ_NAMED[0].search(text)) or (("q" in text or "Q" in text) and _QQ_NAMED[1].search(text))
    ):
        possible.append(IdentifierKind.QQ)
    if ("微信" in text and _WECHAT_NAMED[0].search(text)) or (
        ("w" in text or "W" in text or "v" in text or "V" in text) and _WECHAT_NAMED[1].search(text)
    ):
        possible.append(IdentifierKind.WECHAT)
    return tuple(possible)


@functools.cache
def _identifier_folding() -> dict[int, str]:
    """Every Unicode decimal digit to its ASCII digit, and the full-width ASCII forms identifiers are
    written in (letters, "@", ".", "_", the ideographic space...) to ASCII; the full-width punctuation
    of Chinese prose (，：；！？（）) is left as it is."""
    table = {
        cp: str(unicodedata.decimal(chr(cp)))
        for cp in range(0x80, sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) == "Nd"
    }
    table.update({cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F) if chr(cp) not in _PROSE_PUNCTUATION})
    table[0x3000] = " "
    return table


_PROSE_PUNCTUATION = "，：；！？（）"


@functools.cache
def _foldable() -> re.Pattern[str]:
    """One character class of everything `plain` changes in the Basic Multilingual Plane, as ranges,
    and the whole of the planes beyond it (their digits' many small ranges make the class several
    times slower; texts with such characters are rare enough to fold whole)."""
    ranges: list[list[int]] = []
    for cp in sorted(c for c in _identifier_folding() if c <= 0xFFFF):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in ranges) + "\U00010000-\U0010ffff]")


def plain(text: str) -> str:
    """`text` with identifiers' characters made ASCII, so that "１３８００１３８０００" or "ＱＱ １２３４５"
    is recognised and hashed like its ASCII form."""
    if text.isascii() or not _foldable().search(text):
        return text
    return text.translate(_identifier_folding())


def redact(text: str, key: bytes) -> tuple[str, list[tuple[IdentifierKind, str]]]:
    """Replace identifiers inside free text by typed placeholders; return the text and their hashes.

    The text is first made `plain`, so identifiers written in full-width or other digits are found
    too (and the stored text keeps the folded form)."""
    text = plain(text)
    kinds = _could_match(text)
    return substitute(text, key, kinds) if kinds else (text, [])


def substitute(
    text: str, key: bytes, kinds: tuple[IdentifierKind, ...]
) -> tuple[str, list[tuple[IdentifierKind, str]]]:
    """`redact` restricted to the given kinds, applied in the fixed order of the patterns."""
    found: list[tuple[IdentifierKind, str]] = []
    if not kinds:
        return text, found
    for kind, pattern in _PATTERNS:
        if kind not in kinds:
            continue

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
