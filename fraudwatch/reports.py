"""The report contract of the producer API, and what the API turns a report into before it travels.

`ReportIn` is the documented input schema (served as OpenAPI and committed as JSON Schema);
`sanitise` is the boundary: personal identifiers become keyed hashes, the description is
redacted, and nothing personal leaves in clear.

`decode_report` and `decode_batch` are the API's fast path to the same reports: msgspec checks a
body in native code against constraints that accept a subset of what `ReportIn` accepts (plain
spellings only: no surrounding whitespace, ASCII-digit identifiers, times to the microsecond), with
the same results; whatever they refuse goes through `ReportIn`, which answers with its field errors.
A property test holds the two to that.
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypedDict, Unpack, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import msgspec
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from fraudwatch.pii import IdentifierKind, hasher_for, normalise, redact
from fraudwatch.regions import region_problem
from streams.categorizer import CATEGORIES
from streams.envelope import SanitisedReport, WireReport, wire_time

SCHEMA_VERSION = "1"
MAX_AMOUNT_CNY = 100_000_000
MAX_CLOCK_SKEW = timedelta(minutes=10)
_CLIENT_KEY_NAMESPACE = uuid.UUID("5b0f3f3c-8f43-4d6e-9a1e-6f7261756477")


class Channel(StrEnum):
    APP = "app"
    WEB = "web"
    HOTLINE = "hotline"
    SMS = "sms"
    WECHAT = "wechat"
    POLICE = "police"
    OTHER = "other"


class ContactMethod(StrEnum):
    PHONE_CALL = "phone_call"
    SMS = "sms"
    WECHAT = "wechat"
    QQ = "qq"
    APP = "app"
    WEBSITE = "website"
    EMAIL = "email"
    IN_PERSON = "in_person"
    OTHER = "other"


class PaymentChannel(StrEnum):
    ALIPAY = "alipay"
    WECHAT_PAY = "wechat_pay"
    BANK_TRANSFER = "bank_transfer"
    BANK_CARD = "bank_card"
    UNIONPAY = "unionpay"
    CASH = "cash"
    CRYPTO = "crypto"
    GIFT_CARD = "gift_card"
    OTHER = "other"


class AgeBand(StrEnum):
    UNDER_18 = "under_18"
    FROM_18_TO_25 = "18_25"
    FROM_26_TO_35 = "26_35"
    FROM_36_TO_45 = "36_45"
    FROM_46_TO_60 = "46_60"
    OVER_60 = "over_60"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


Category = StrEnum("Category", {code.upper(): code for code in CATEGORIES})  # type: ignore[misc]


def _checked(kind: IdentifierKind, pattern: str, what: str) -> Any:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(normalise(kind, value)):
            raise ValueError(f"not a valid {what}")
        return value

    return AfterValidator(check)


def _valid_region(code: str) -> str:
    problem = region_problem(code)
    if problem:
        raise ValueError(problem)
    return code


# A URL whose host `urlsplit` would read as this group, lower-cased: an optional http(s) scheme, a
# host of ASCII letters, digits, dots and dashes (no user, port or brackets), then a path, query or
# fragment of printable ASCII (nothing urlsplit strips). Most URLs are spelled so, and `urlsplit`
# costs several times as much (its cache holds fewer URLs than a batch brings).
_PLAIN_URL = re.compile(r"(?:https?://)?([A-Za-z0-9.-]+)(?:[/?#][\x21-\x7e]*)?")


def url_host(url: str) -> str | None:
    """The host name a URL names, as `urlsplit` reads it (a bare "host/path" as http)."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain and (url.startswith(("http://", "https://")) or "://" not in url):
        return plain.group(1).lower()
    return urlsplit(url if "://" in url else f"http://{url}").hostname


def _valid_host(url: str) -> str:
    host = url_host(url)
    if not host or "." not in host:
        raise ValueError("not a URL with a host name")
    return host


def _valid_url(value: str) -> str:
    _valid_host(value)
    return value


def _domains(hosts: Iterable[str | None]) -> tuple[str, ...]:
    """The distinct host names, sorted: a report's `scammer_domains`."""
    return tuple(sorted({host.lower() for host in hosts if host}))


Phone = Annotated[str, Field(max_length=32), _checked(IdentifierKind.PHONE, r"[0-9]{5,15}", "phone number")]
IdCard = Annotated[
    str, Field(max_length=32), _checked(IdentifierKind.ID_CARD, r"[0-9]{17}[0-9X]|[0-9]{15}", "ID-card number")
]
BankAccount = Annotated[str, Field(max_length=40), _checked(IdentifierKind.BANK_CARD, r"[0-9]{10,19}", "bank account")]
QQ = Annotated[str, Field(max_length=16), _checked(IdentifierKind.QQ, r"[1-9][0-9]{4,11}", "QQ number")]
WeChatId = Annotated[
    str, Field(min_length=2, max_length=40), _checked(IdentifierKind.WECHAT, r"[a-z0-9_+.-]{2,40}", "WeChat ID")
]
Url = Annotated[str, Field(max_length=2048), AfterValidator(_valid_url)]
ClientKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
_ListOf: Any = Field(default_factory=list, max_length=20)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Victim(_Strict):
    phone: Phone | None = None
    id_number: IdCard | None = Field(default=None, description="Resident ID-card number; hashed at once")
    age_band: AgeBand | None = None
    gender: Gender | None = None


class Scammer(_Strict):
    phones: list[Phone] = _ListOf
    qq: list[QQ] = _ListOf
    wechat: list[WeChatId] = _ListOf
    urls: list[Url] = _ListOf
    bank_accounts: list[BankAccount] = _ListOf
    payment_channel: PaymentChannel | None = None

    @property
    def domains(self) -> tuple[str, ...]:
        return _domains(map(url_host, self.urls))


class ReportIn(_Strict):
    """A fraud report as a citizen app, hotline desk, police system or partner submits it."""

    report_id: ClientKey | None = Field(
        default=None, description="Client idempotency key: resending it answers with the original result"
    )
    description: str = Field(min_length=1, max_length=5000, description="What happened, in free text")
    region_code: Annotated[str, AfterValidator(_valid_region)] = Field(
        description="6-digit administrative division code of the victim, e.g. 420106"
    )
    amount_lost: Decimal = Field(ge=0, le=MAX_AMOUNT_CNY, decimal_places=2, description="Loss in CNY")
    channel: Channel | None = Field(default=None, description="Default: the submitter token's channel, else other")
    category: Category | None = Field(default=None, description="The reporter's own choice of category")
    contact_method: ContactMethod | None = None
    reported_at: AwareDatetime | None = Field(default=None, description="ISO 8601 with zone; default now")
    occurred_at: AwareDatetime | None = Field(default=None, description="ISO 8601 with zone; default reported_at")
    victim: Victim | None = None
    scammer: Scammer | None = None
    victim_phone: Phone | None = Field(default=None, description="Shorthand for victim.phone")

    @property
    def amount_lost_fen(self) -> int:
        return int(self.amount_lost * 100)

    @model_validator(mode="after")
    def _consistent(self) -> ReportIn:
        if self.victim_phone and self.victim and self.victim.phone and self.victim_phone != self.victim.phone:
            raise ValueError("victim_phone and victim.phone disagree")
        if self.reported_at and self.occurred_at and self.occurred_at > self.reported_at + MAX_CLOCK_SKEW:
            raise ValueError("occurred_at is after reported_at")
        return self


# The fast path's spellings: each accepts a subset of what the pydantic type above accepts (ASCII
# digits, no surrounding whitespace), and those values the pydantic type keeps as they are, so both
# give the same report. Checked with `fullmatch` in `__post_init__`: as msgspec constraints
# (`Meta(pattern=...)`) the same patterns cost several times as much.
_PLAIN_PHONE = re.compile(r"[0-9]{5,15}")
_PLAIN_ID_CARD = re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}")
_PLAIN_BANK_ACCOUNT = re.compile(r"[0-9]{10,19}")
_PLAIN_QQ = re.compile(r"[1-9][0-9]{4,11}")
_PLAIN_WECHAT_ID = re.compile(r"[A-Za-z0-9_+.-]{2,40}")
_PLAIN_CLIENT_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?")
# Times as text for datetime.fromisoformat, to six digits of seconds: msgspec's own datetimes round a
# seventh digit where pydantic cuts it off.
_PLAIN_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
# Tuples, not lists: an absent or empty list is then the one empty tuple, where msgspec would make a
# new list for each of the five lists of every report.
_PlainList = Annotated[tuple[str, ...], msgspec.Meta(max_length=20)]


def _plain_domains(urls: Sequence[str]) -> tuple[str, ...]:
    """The scammer's `domains`, from URLs spelled plainly (no surrounding whitespace, a host name)."""
    hosts = []
    for url in urls:
        if url != url.strip():
            raise ValueError("surrounding whitespace")
        hosts.append(_valid_host(url))
    return _domains(hosts)


class _PlainVictim(msgspec.Struct, forbid_unknown_fields=True):
    """Checked by `PlainReport.__post_init__`."""

    phone: str | None = None
    id_number: str | None = None
    age_band: AgeBand | None = None
    gender: Gender | None = None


class _PlainScammer(msgspec.Struct, forbid_unknown_fields=True, dict=True):
    """Checked by `PlainReport.__post_init__`, which keeps the domains it read then."""

    phones: _PlainList = ()
    qq: _PlainList = ()
    wechat: _PlainList = ()
    urls: Annotated[tuple[Annotated[str, msgspec.Meta(max_length=2048)], ...], msgspec.Meta(max_length=20)] = ()
    bank_accounts: _PlainList = ()
    payment_channel: PaymentChannel | None = None

    @functools.cached_property
    def domains(self) -> tuple[str, ...]:
        """Set when checked: the host names parsed then (in a batch, more distinct URLs than
        `urlsplit`'s cache holds would be parsed twice)."""
        return _domains(map(url_host, self.urls))


class PlainReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, dict=True):
    """A `ReportIn` as msgspec decodes it when it is spelled plainly (see `decode_report`).

    Its times are parsed once, when checked, and kept (`dict=True` gives them a place).
    """

    report_id: str | None = None
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
    region_code: str
    amount_text: str | Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT_CNY)] = msgspec.field(name="amount_lost")
    channel: Channel | None = None
    category: Category | None = None
    contact_method: ContactMethod | None = None
    reported_at_text: str | None = msgspec.field(default=None, name="reported_at")
    occurred_at_text: str | None = msgspec.field(default=None, name="occurred_at")
    victim: _PlainVictim | None = None
    scammer: _PlainScammer | None = None
    victim_phone: str | None = None

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into its ValidationError: the caller falls back to ReportIn,
        # which says what is wrong (the messages here go nowhere). The victim and the scammer are
        # checked here too, each test skipped for absent values (the most): a __post_init__ of their
        # own would cost a call each, per report of every batch.
        text = self.description
        if text[0].isspace() or text[-1].isspace():
            raise ValueError("surrounding whitespace")
        if region_problem(self.region_code):  # its fullmatch leaves no room for whitespace
            raise ValueError("not a region code")
        report_id, victim_phone = self.report_id, self.victim_phone
        if (report_id is not None and not _PLAIN_CLIENT_KEY.fullmatch(report_id)) or (
            victim_phone is not None and not _PLAIN_PHONE.fullmatch(victim_phone)
        ):
            raise ValueError("not plainly spelled")
        fen = self.amount_lost_fen = _fen(self.amount_text)  # kept for `sanitise`, like the times below
        if fen > MAX_AMOUNT_CNY * 100:
            raise ValueError("not a plainly spelled amount")
        victim = self.victim
        if victim is not None:
            phone, id_number = victim.phone, victim.id_number
            if (phone is not None and not _PLAIN_PHONE.fullmatch(phone)) or (
                id_number is not None and not _PLAIN_ID_CARD.fullmatch(id_number)
            ):
                raise ValueError("not plainly spelled")
            if victim_phone and phone and victim_phone != phone:
                raise ValueError("victim_phone and victim.phone disagree")
        scammer = self.scammer
        if scammer is not None:
            if (
                (scammer.phones and not all(map(_PLAIN_PHONE.fullmatch, scammer.phones)))
                or (scammer.qq and not all(map(_PLAIN_QQ.fullmatch, scammer.qq)))
                or (scammer.wechat and not all(map(_PLAIN_WECHAT_ID.fullmatch, scammer.wechat)))
                or (scammer.bank_accounts and not all(map(_PLAIN_BANK_ACCOUNT.fullmatch, scammer.bank_accounts)))
            ):
                raise ValueError("not plainly spelled")
            if scammer.urls:
                scammer.domains = _plain_domains(scammer.urls)
        # Parsed here (a date that does not exist raises) and kept for `sanitise`.
        reported = self.reported_at = _plain_time(self.reported_at_text)
        occurred = self.occurred_at = _plain_time(self.occurred_at_text)
        if reported and occurred and occurred > reported + MAX_CLOCK_SKEW:
            raise ValueError("occurred_at is after reported_at")

    @property
    def amount_lost(self) -> Decimal:
        return Decimal(self.amount_text)

    @functools.cached_property
    def amount_lost_fen(self) -> int:
        return _fen(self.amount_text)

    @functools.cached_property
    def reported_at(self) -> datetime | None:
        return _plain_time(self.reported_at_text)

    @functools.cached_property
    def occurred_at(self) -> datetime | None:
        return _plain_time(self.occurred_at_text)


def _fen(amount: str | int) -> int:
    """A plainly spelled amount in fen (`int(Decimal(amount) * 100)`); ValueError if not so spelled."""
    if isinstance(amount, int):
        return amount * 100
    if not _PLAIN_AMOUNT.fullmatch(amount):
        raise ValueError("not a plainly spelled amount")
    whole, _, cents = amount.partition(".")
    return int(whole) * 100 + (int(cents) * (10 if len(cents) == 1 else 1) if cents else 0)


def _plain_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    if not _PLAIN_TIME.fullmatch(text):
        raise ValueError("not plainly spelled")
    return datetime.fromisoformat(text)


class _PlainBatch(msgspec.Struct):
    reports: Annotated[list[PlainReport], msgspec.Meta(min_length=1)]


_REPORT_DECODER = msgspec.json.Decoder(PlainReport)
_BATCH_DECODER = msgspec.json.Decoder(_PlainBatch)


def decode_report(body: bytes) -> PlainReport | None:
    """The body as a report if msgspec can take it as one; None means: ask `ReportIn`, which says why
    not (or accepts a less plain spelling)."""
    try:
        return _REPORT_DECODER.decode(body)
    except (msgspec.MsgspecError, ValueError, RecursionError):  # ValueError: e.g. a lone surrogate
        return None


def decode_batch(body: bytes) -> list[PlainReport] | None:
    """`decode_report` for a batch body ({"reports": [...]}, other keys ignored as by the API's model)."""
    try:
        return _BATCH_DECODER.decode(body).reports
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None


class _VictimFields(Protocol):
    @property
    def phone(self) -> str | None: ...
    @property
    def id_number(self) -> str | None: ...
    @property
    def age_band(self) -> AgeBand | None: ...
    @property
    def gender(self) -> Gender | None: ...


class _ScammerFields(Protocol):
    @property
    def phones(self) -> Sequence[str]: ...
    @property
    def qq(self) -> Sequence[str]: ...
    @property
    def wechat(self) -> Sequence[str]: ...
    @property
    def urls(self) -> Sequence[str]: ...
    @property
    def bank_accounts(self) -> Sequence[str]: ...
    @property
    def payment_channel(self) -> PaymentChannel | None: ...
    @property
    def domains(self) -> tuple[str, ...]: ...


class ReportFields(Protocol):
    """What `sanitise` reads: a `ReportIn` or a `PlainReport`."""

    @property
    def report_id(self) -> str | None: ...
    @property
    def description(self) -> str: ...
    @property
    def region_code(self) -> str: ...
    @property
    def amount_lost_fen(self) -> int: ...
    @property
    def channel(self) -> Channel | None: ...
    @property
    def category(self) -> StrEnum | None: ...
    @property
    def contact_method(self) -> ContactMethod | None: ...
    @property
    def reported_at(self) -> datetime | None: ...
    @property
    def occurred_at(self) -> datetime | None: ...
    @property
    def victim(self) -> _VictimFields | None: ...
    @property
    def scammer(self) -> _ScammerFields | None: ...
    @property
    def victim_phone(self) -> str | None: ...


# The RFC 4122 variant puts 10 in the top bits of the clock_seq byte: 8, 9, a or b as its first hex digit.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def report_id_for(submitter: str, client_key: str | None, fresh: str | None = None) -> str:
    """A client key always maps to the same report_id for one submitter; otherwise `fresh` or a new one."""
    if client_key is None:
        return fresh or str(uuid.uuid4())
    return str(uuid.uuid5(_CLIENT_KEY_NAMESPACE, f"{submitter}\x00{client_key}"))


def fresh_report_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs, as `uuid.uuid4()` makes them, from one read of os.urandom.

    A batch needs hundreds at once; one `uuid4()` each (a system call, a UUID object, its str) costs
    several times as much as slicing one random hex string.
    """
    raw = os.urandom(16 * count).hex()
    ids = []
    for start in range(0, 32 * count, 32):
        h = raw[start : start + 32]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}")
    return ids


class SanitiseOptions(TypedDict, total=False):
    """`sanitise`'s optional arguments.

    `fresh_id` (from `fresh_report_ids`) is the report_id of a report that carries no client key.
    `hashes`, shared by the reports of one batch, keeps each identifier's "kind:hash" so that the
    phones and accounts a scam ring repeats across its victims are hashed once per batch.
    """

    submitter: str
    default_channel: str | None
    client_key: str | None
    fresh_id: str | None
    hashes: dict[tuple[IdentifierKind, str], str] | None


def sanitise(
    report: ReportFields, *, key: bytes, zone: ZoneInfo, now: datetime, **options: Unpack[SanitiseOptions]
) -> SanitisedReport:
    """The report as it may travel: identifiers keyed-hashed, free text redacted, times zoned."""
    return SanitisedReport(**_sanitised(report, key, zone, now, options, wire=False))


def sanitise_for_wire(
    report: ReportFields, *, key: bytes, zone: ZoneInfo, now: datetime, **options: Unpack[SanitiseOptions]
) -> WireReport:
    """`sanitise`, as the API hands it to the envelope (the same bytes as the `SanitisedReport`),
    without a `SanitisedReport` in between."""
    return cast(WireReport, _sanitised(report, key, zone, now, options, wire=True))


def sanitise_batch_for_wire(
    reports: Sequence[ReportFields],
    fresh_ids: Sequence[str],
    *,
    key: bytes,
    zone: ZoneInfo,
    now: datetime,
    submitter: str,
    default_channel: str | None,
) -> list[WireReport | ValueError]:
    """`sanitise_for_wire` of each report of a batch, each with its fresh id and one hash memo for
    all (see `SanitiseOptions`), or the ValueError that says why it cannot travel.

    One call per batch: per report, the keyword arguments and the two calls they pass through cost
    about as much as a fifth of the work itself.
    """
    tag, latest, channel = hasher_for(key).tagged, now + MAX_CLOCK_SKEW, default_channel
    memo: dict[tuple[IdentifierKind, str], str] = {}
    sanitised: list[WireReport | ValueError] = []
    for report, fresh_id in zip(reports, fresh_ids, strict=True):
        try:
            fields = _fields(report, key, tag, memo, zone, now, latest, submitter, channel, None, fresh_id, True)
        except ValueError as exc:
            sanitised.append(exc)
        else:
            sanitised.append(cast(WireReport, fields))
    return sanitised


# Enum members read once: `IdentifierKind.PHONE` is a class attribute lookup through EnumType each time.
_PHONE, _ID_CARD, _QQ, _WECHAT, _URL, _BANK_CARD = (
    IdentifierKind.PHONE,
    IdentifierKind.ID_CARD,
    IdentifierKind.QQ,
    IdentifierKind.WECHAT,
    IdentifierKind.URL,
    IdentifierKind.BANK_CARD,
)
_OTHER_CHANNEL = Channel.OTHER.value
# Every zone offset of whole minutes (offsets lie strictly within a day): a time with one of these is
# kept as a datetime by `wire_time`, and a set lookup is cheaper than calling it.
_WHOLE_MINUTE_OFFSETS = frozenset(timedelta(minutes=minutes) for minutes in range(-24 * 60 + 1, 24 * 60))
_Tagger = Callable[[IdentifierKind, str, dict[tuple[IdentifierKind, str], str]], str]


def _sanitised(
    report: ReportFields, key: bytes, zone: ZoneInfo, now: datetime, options: SanitiseOptions, *, wire: bool
) -> dict[str, Any]:
    """`SanitisedReport`'s fields in order, times as `wire_time` makes them if `wire`."""
    hashes = options.get("hashes")
    return _fields(
        report,
        key,
        hasher_for(key).tagged,
        {} if hashes is None else hashes,
        zone,
        now,
        now + MAX_CLOCK_SKEW,
        options.get("submitter", ""),
        options.get("default_channel"),
        options.get("client_key"),
        options.get("fresh_id"),
        wire,
    )


def _fields(
    report: ReportFields,
    key: bytes,
    tagged: _Tagger,
    memo: dict[tuple[IdentifierKind, str], str],
    zone: ZoneInfo,
    now: datetime,
    latest: datetime,
    submitter: str,
    default_channel: str | None,
    client_key: str | None,
    fresh_id: str | None,
    wire: bool,
) -> dict[str, Any]:
    """`_sanitised` with its options as positional arguments; `latest` is `now` + `MAX_CLOCK_SKEW`."""
    reported_at = (report.reported_at or now).astimezone(zone)
    if reported_at > latest:
        raise ValueError("reported_at is in the future")
    occurred_at = report.occurred_at
    # astimezone to the zone a time is already in returns it as it is.
    occurred_at = reported_at if occurred_at is None else occurred_at.astimezone(zone)
    description, mentioned = redact(report.description, key)
    victim = report.victim
    scammer = report.scammer

    contacts: list[str] = []
    domains: tuple[str, ...] = ()
    payment_channel = ""
    if scammer is not None:
        phones, qq, wechat, urls, accounts = (
            scammer.phones,
            scammer.qq,
            scammer.wechat,
            scammer.urls,
            scammer.bank_accounts,
        )
        # Most reports name one or two kinds of contact: the empty lists cost a truth test each.
        if phones:
            contacts += [tagged(_PHONE, value, memo) for value in phones]
        if qq:
            contacts += [tagged(_QQ, value, memo) for value in qq]
        if wechat:
            contacts += [tagged(_WECHAT, value, memo) for value in wechat]
        if urls:
            contacts += [tagged(_URL, value, memo) for value in urls]
            domains = scammer.domains
        if accounts:
            contacts += [tagged(_BANK_CARD, value, memo) for value in accounts]
        if scammer.payment_channel:
            payment_channel = str(scammer.payment_channel)
    victim_phone = report.victim_phone
    victim_id_hash = victim_age_band = victim_gender = ""
    if victim is not None:
        victim_phone = victim_phone or victim.phone
        if victim.id_number:
            victim_id_hash = tagged(_ID_CARD, victim.id_number, memo)
        if victim.age_band:
            victim_age_band = str(victim.age_band)
        if victim.gender:
            victim_gender = str(victim.gender)
    reported: str | datetime = reported_at
    occurred: str | datetime = occurred_at
    if wire:  # as `wire_time` makes them, calling it only for the unusual offsets
        if reported_at.utcoffset() not in _WHOLE_MINUTE_OFFSETS:
            reported = wire_time(reported_at)
        if occurred_at.utcoffset() not in _WHOLE_MINUTE_OFFSETS:
            occurred = wire_time(occurred_at)
    key_used = client_key or report.report_id
    channel, category, contact_method = report.channel, report.category, report.contact_method
    # Keys in SanitisedReport's field order: the envelope's bytes follow it.
    return {
        "report_id": fresh_id if key_used is None and fresh_id else report_id_for(submitter, key_used, fresh_id),
        "reported_at": reported,
        "occurred_at": occurred,
        "channel": (str(channel) if channel else None) or default_channel or _OTHER_CHANNEL,
        "region_code": report.region_code,
        "amount_lost_fen": report.amount_lost_fen,
        "description": description,
        "citizen_category": str(category) if category else "",
        "victim_phone_hash": tagged(_PHONE, victim_phone, memo) if victim_phone else "",
        "submitter": submitter,
        "client_keyed": key_used is not None,
        "contact_method": str(contact_method) if contact_method else "",
        "payment_channel": payment_channel,
        "victim_id_hash": victim_id_hash,
        "victim_age_band": victim_age_band,
        "victim_gender": victim_gender,
        # Most reports name no URL and mention no identifier: empty tuples without building them.
        "scammer_contacts": tuple(dict.fromkeys(contacts)) if contacts else (),
        "scammer_domains": domains,
        "mentioned_identifiers": tuple(dict.fromkeys(k + ":" + digest for k, digest in mentioned)) if mentioned else (),
    }


def json_schema() -> dict[str, Any]:
    """The versioned JSON Schema of a report, as committed in schemas/."""
    schema = ReportIn.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://fraudwatch.example/schemas/report-v{SCHEMA_VERSION}.schema.json"
    return schema
