"""Seized personal-data leak files: parsing, normalising, information classes and legal severity.

Pure code (no ClickHouse, no CLI): `fraudwatch leaks load` streams a CSV or JSON-lines file through
`read_leak_file`, which yields one `LeakRecord` (normalised identifiers and the information types the
record exposes) or one `Problem` (line numbers and a reason, never the offending value) per row;
`KeyedHasher` turns identifiers into the same "kind:hash" strings the producer API writes; and
`severity` grades a batch under the 2017 judicial interpretation on crimes infringing citizens'
personal information (法释〔2017〕10号, article 5), with the thresholds as a parameter.

Nothing here keeps a raw value: identifiers only live until they are hashed, the other columns only
count as "present" or "absent".
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Final

from fraudwatch.errors import FraudwatchError
from fraudwatch.pii import IdentifierKind, normalise
from fraudwatch.pii import KeyedHasher as KeyedHasher  # re-exported: the leak loader's hasher is pii's


class LeakFileError(FraudwatchError):
    """A leak file cannot be loaded at all (encoding, header, mapping, empty); nothing was written."""


class SourceType(StrEnum):
    """How the seized data was obtained."""

    WEBSITE_VULNERABILITY = "website_vulnerability"
    TROJAN_PHISHING_FAKE_BASE_STATION = "trojan_phishing_fake_base_station"
    INSIDER = "insider"
    HACKER = "hacker"
    UNKNOWN = "unknown"


class Industry(StrEnum):
    """Whose customers' data leaked."""

    BANK = "bank"
    EDUCATION = "education"
    BUSINESS_REGISTRATION = "business_registration"
    TELECOM = "telecom"
    EXPRESS_DELIVERY = "express_delivery"
    SECURITIES = "securities"
    ECOMMERCE = "ecommerce"
    OTHER = "other"


class InfoClass(StrEnum):
    """The interpretation's three classes of personal information, by how sensitive they are."""

    A = "A"  # whereabouts, communication content, credit, property: 50 records are "serious"
    B = "B"  # accommodation, communication records, health, transactions: 500
    C = "C"  # all other personal information: 5,000


class InfoType(StrEnum):
    """What a leak record exposes. The bit of each type in `info_mask` is its position in INFO_TYPES:
    stored masks depend on it, so new types are only ever appended."""

    PHONE = "phone"
    ID_CARD = "id_card"
    BANK_CARD = "bank_card"
    QQ = "qq"
    EMAIL = "email"
    WECHAT = "wechat"
    NAME = "name"
    ADDRESS = "address"
    OTHER = "other"
    LOCATION = "location"
    COMMUNICATION_CONTENT = "communication_content"
    CREDIT = "credit"
    PROPERTY = "property"
    ACCOMMODATION = "accommodation"
    COMMUNICATION_RECORDS = "communication_records"
    HEALTH = "health"
    TRANSACTIONS = "transactions"


INFO_TYPES: Final[tuple[InfoType, ...]] = tuple(InfoType)
INFO_BIT: Final[Mapping[InfoType, int]] = {t: 1 << i for i, t in enumerate(INFO_TYPES)}

# Article 5(1)(3)-(5). A home address is ordinary personal information (class C); "whereabouts"
# (行踪轨迹) means tracking data such as GPS fixes or check-ins: map such a column to `location`.
# A bank-card number alone is class C; balances, deposits or passwords belong in `property`.
INFO_CLASSES: Final[Mapping[InfoType, InfoClass]] = {
    InfoType.LOCATION: InfoClass.A,
    InfoType.COMMUNICATION_CONTENT: InfoClass.A,
    InfoType.CREDIT: InfoClass.A,
    InfoType.PROPERTY: InfoClass.A,
    InfoType.ACCOMMODATION: InfoClass.B,
    InfoType.COMMUNICATION_RECORDS: InfoClass.B,
    InfoType.HEALTH: InfoClass.B,
    InfoType.TRANSACTIONS: InfoClass.B,
    **{t: InfoClass.C for t in INFO_TYPES if t.name in IdentifierKind.__members__},
    InfoType.NAME: InfoClass.C,
    InfoType.ADDRESS: InfoClass.C,
    InfoType.OTHER: InfoClass.C,
}
CLASS_BIT: Final[Mapping[InfoClass, int]] = {InfoClass.A: 1, InfoClass.B: 2, InfoClass.C: 4}

# The identifier columns a leak can be joined on, and the kind their hashes carry.
IDENTIFIERS: Final[Mapping[InfoType, IdentifierKind]] = {
    InfoType.PHONE: IdentifierKind.PHONE,
    InfoType.ID_CARD: IdentifierKind.ID_CARD,
    InfoType.BANK_CARD: IdentifierKind.BANK_CARD,
    InfoType.QQ: IdentifierKind.QQ,
    InfoType.EMAIL: IdentifierKind.EMAIL,
    InfoType.WECHAT: IdentifierKind.WECHAT,
}


def mask_of(types: Sequence[InfoType]) -> int:
    mask = 0
    for t in types:
        mask |= INFO_BIT[t]
    return mask


def types_of(mask: int) -> list[InfoType]:
    return [t for t in INFO_TYPES if mask & INFO_BIT[t]]


_CLASS_MASKS: Final = {c: mask_of([t for t, k in INFO_CLASSES.items() if k is c]) for c in InfoClass}


def record_class(info_mask: int) -> InfoClass:
    """A record counts once, in the most sensitive class it exposes (so the proportional sum of
    article 5(1)(6) never counts one record twice)."""
    if info_mask & _CLASS_MASKS[InfoClass.A]:
        return InfoClass.A
    if info_mask & _CLASS_MASKS[InfoClass.B]:
        return InfoClass.B
    return InfoClass.C


def class_mask(info_mask: int) -> int:
    """Bit set of the classes a record exposes: 1 = A, 2 = B, 4 = C."""
    return sum(bit for c, bit in CLASS_BIT.items() if info_mask & _CLASS_MASKS[c])


# --- severity -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Records per class that make a batch "serious" (情节严重); `especially_factor` times as many make
    it "especially serious" (情节特别严重). Defaults: article 5 of 法释〔2017〕10号."""

    class_a: int = 50
    class_b: int = 500
    class_c: int = 5000
    especially_factor: int = 10

    def __post_init__(self) -> None:
        if min(self.class_a, self.class_b, self.class_c, self.especially_factor) < 1:
            raise ValueError("severity thresholds must be positive whole numbers")

    def describe(self) -> str:
        return f"A>={self.class_a} B>={self.class_b} C>={self.class_c} x{self.especially_factor}"


DEFAULT_THRESHOLDS: Final = Thresholds()


class Severity(IntEnum):
    """Stored as UInt8 in leak_batches.severity (0 there means "no catalogue entry")."""

    NONE = 1
    SERIOUS = 2
    ESPECIALLY_SERIOUS = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class ClassCounts:
    """Records of a batch by the most sensitive class each exposes."""

    a: int = 0
    b: int = 0
    c: int = 0

    def __add__(self, other: ClassCounts) -> ClassCounts:
        return ClassCounts(self.a + other.a, self.b + other.b, self.c + other.c)


def severity(counts: ClassCounts, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Severity:
    """The batch's severity level.

    Each class's count is taken as a share of its threshold and the shares are added (article
    5(1)(6): counts below every single threshold that reach one "in proportion" together also
    qualify), so 50 class-A records, or 25 class-A and 250 class-B records, are "serious". Exact
    fractions, so 4,999 of 5,000 never rounds up.
    """
    reached = (
        Fraction(counts.a, thresholds.class_a)
        + Fraction(counts.b, thresholds.class_b)
        + Fraction(counts.c, thresholds.class_c)
    )
    if reached >= thresholds.especially_factor:
        return Severity.ESPECIALLY_SERIOUS
    if reached >= 1:
        return Severity.SERIOUS
    return Severity.NONE


# --- identifiers ----------------------------------------------------------------------------------

# The same shapes the producer API accepts (fraudwatch.reports), on the normalised value.
_VALID: Final[Mapping[IdentifierKind, re.Pattern[str]]] = {
    IdentifierKind.PHONE: re.compile(r"[0-9]{5,15}"),
    IdentifierKind.ID_CARD: re.compile(r"[0-9]{17}[0-9X]|[0-9]{15}"),
    IdentifierKind.BANK_CARD: re.compile(r"[0-9]{10,19}"),
    IdentifierKind.QQ: re.compile(r"[1-9][0-9]{4,11}"),
    IdentifierKind.EMAIL: re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}"),
    IdentifierKind.WECHAT: re.compile(r"[a-z0-9_+.-]{2,40}"),
}
_DESCRIBED: Final[Mapping[IdentifierKind, str]] = {
    IdentifierKind.PHONE: "phone number",
    IdentifierKind.ID_CARD: "ID-card number",
    IdentifierKind.BANK_CARD: "bank-card number",
    IdentifierKind.QQ: "QQ number",
    IdentifierKind.EMAIL: "e-mail address",
    IdentifierKind.WECHAT: "WeChat ID",
}
# Placeholders leak dumps use for "no value" (database NULL exports, dashes).
EMPTY_MARKERS: Final = frozenset({"", "null", "NULL", "Null", "\\N", "none", "None", "-", "--", "N/A", "n/a", "无"})


def _slow_clean(kind: IdentifierKind, value: str) -> str | None:
    canonical = normalise(kind, value)
    return canonical if _VALID[kind].fullmatch(canonical) else None


def _clean_phone(value: str) -> str | None:
    if len(value) == 11 and value[0] == "1" and value.isdigit() and value.isascii():
        return value  # an 11-digit mobile number is already in normal form
    return _slow_clean(IdentifierKind.PHONE, value)


def _clean_id_card(value: str) -> str | None:
    if len(value) == 18 and value.isascii() and value[:17].isdigit() and value[17] in "0123456789X":
        return value
    return _slow_clean(IdentifierKind.ID_CARD, value)


def _cleaner(kind: IdentifierKind) -> Callable[[str], str | None]:
    if kind is IdentifierKind.PHONE:
        return _clean_phone
    if kind is IdentifierKind.ID_CARD:
        return _clean_id_card
    return lambda value: _slow_clean(kind, value)


_CLEANERS: Final[Mapping[IdentifierKind, Callable[[str], str | None]]] = {k: _cleaner(k) for k in _VALID}


def clean_identifier(kind: IdentifierKind, raw: str) -> str | None:
    """The normalised identifier, "" when the cell is empty, None when it is not a valid one.

    Validity is the producer API's (fraudwatch.reports). The fast paths take the common clean
    spellings, for which `normalise` returns the value unchanged (a unit test holds them equal);
    everything else goes through `normalise` itself.
    """
    value = raw.strip()
    if value in EMPTY_MARKERS:
        return ""
    return _CLEANERS[kind](value)


# --- column mapping -------------------------------------------------------------------------------

# Header names recognised without --map (compared case-insensitively, spaces and underscores ignored).
DEFAULT_ALIASES: Final[Mapping[InfoType, tuple[str, ...]]] = {
    InfoType.PHONE: ("phone", "mobile", "tel", "telephone", "phonenumber", "手机", "手机号", "手机号码", "电话",
                     "电话号码", "联系电话", "联系方式"),
    InfoType.ID_CARD: ("idcard", "idnumber", "idno", "身份证", "身份证号", "身份证号码", "证件号", "证件号码"),
    InfoType.BANK_CARD: ("bankcard", "cardnumber", "cardno", "bankaccount", "银行卡", "银行卡号", "卡号",
                         "银行账号"),
    InfoType.QQ: ("qq", "qq号", "qq号码"),
    InfoType.EMAIL: ("email", "e-mail", "mail", "邮箱", "电子邮箱", "邮件"),
    InfoType.WECHAT: ("wechat", "weixin", "微信", "微信号"),
    InfoType.NAME: ("name", "fullname", "姓名", "名字", "户名", "收件人"),
    InfoType.ADDRESS: ("address", "地址", "住址", "家庭住址", "收货地址", "户籍地址", "通讯地址"),
    InfoType.LOCATION: ("location", "gps", "trajectory", "位置", "定位", "行踪", "轨迹", "行踪轨迹"),
    InfoType.COMMUNICATION_CONTENT: ("communicationcontent", "messagecontent", "通信内容", "短信内容",
                                     "聊天内容", "聊天记录"),
    InfoType.CREDIT: ("credit", "creditreport", "征信", "信用", "信用记录", "征信信息"),
    InfoType.PROPERTY: ("property", "assets", "balance", "财产", "房产", "车辆", "存款", "余额", "资产"),
    InfoType.ACCOMMODATION: ("accommodation", "hotel", "住宿", "住宿记录", "开房记录", "酒店"),
    InfoType.COMMUNICATION_RECORDS: ("communicationrecords", "callrecords", "calllog", "通话记录",
                                     "通信记录", "话单"),
    InfoType.HEALTH: ("health", "medical", "健康", "健康信息", "病历", "体检", "病情"),
    InfoType.TRANSACTIONS: ("transactions", "transaction", "orders", "交易", "交易记录", "交易信息", "订单",
                            "订单信息"),
}  # fmt: skip


def _folded(name: str) -> str:
    return re.sub(r"[\s_]", "", name).lower()


_ALIAS_INDEX: Final = {_folded(alias): t for t, aliases in DEFAULT_ALIASES.items() for alias in aliases}


def parse_mapping(items: Sequence[str]) -> dict[InfoType, tuple[str, ...]]:
    """`--map phone=手机号 --map phone=备用电话` -> {phone: ("手机号", "备用电话")}; names are checked."""
    mapping: dict[InfoType, list[str]] = {}
    known = ", ".join(INFO_TYPES)
    for item in items:
        name, sep, column = item.partition("=")
        if not sep or not column.strip():
            raise LeakFileError(f"--map {item!r}: expected FIELD=COLUMN, e.g. phone=手机号")
        try:
            kind = InfoType(name.strip().lower())
        except ValueError:
            raise LeakFileError(f"--map {item!r}: unknown field {name.strip()!r}; fields: {known}") from None
        mapping.setdefault(kind, []).append(column.strip())
    return {k: tuple(v) for k, v in mapping.items()}


@dataclass(frozen=True)
class ColumnPlan:
    """Which file columns feed which information type."""

    fields: Mapping[InfoType, tuple[str, ...]]
    unused: tuple[str, ...] = ()

    @property
    def identifier_fields(self) -> list[InfoType]:
        return [t for t in self.fields if t in IDENTIFIERS]


def plan_columns(header: Sequence[str], explicit: Mapping[InfoType, Sequence[str]]) -> ColumnPlan:
    """Explicit --map entries must name header columns; other columns are matched by DEFAULT_ALIASES."""
    present = set(header)
    claimed = {c for cols in explicit.values() for c in cols}
    for kind, columns in explicit.items():
        for column in columns:
            if column not in present:
                raise LeakFileError(
                    f"column {column!r} named by --map {kind.value}={column} is not in the file; "
                    f"its columns are: {', '.join(header)}"
                )
    fields: dict[InfoType, list[str]] = {k: list(v) for k, v in explicit.items()}
    unused: list[str] = []
    for column in header:
        if column in claimed:
            continue
        alias = _ALIAS_INDEX.get(_folded(column))
        if alias is not None and alias not in explicit:
            fields.setdefault(alias, []).append(column)
        else:
            unused.append(column)
    plan = ColumnPlan({k: tuple(v) for k, v in fields.items()}, tuple(unused))
    if not plan.identifier_fields:
        raise LeakFileError(
            "no identifier column (phone, id_card, bank_card, qq, email, wechat) in the file: name one with "
            f"--map, e.g. --map phone=COLUMN; its columns are: {', '.join(header) or '(none)'}"
        )
    return plan


# --- reading --------------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs twice as much, per row
class LeakRecord:
    """One usable row: its normalised identifiers as (kind, value), not yet hashed, and what it exposes."""

    line: int
    identifiers: tuple[tuple[str, str], ...]
    info_mask: int


@dataclass(frozen=True, slots=True)
class Problem:
    """A row that was not loaded, and why (the reason never quotes the value)."""

    line: int
    reason: str
    last_line: int = 0

    def __str__(self) -> str:
        where = f"lines {self.line}-{self.last_line}" if self.last_line > self.line else f"line {self.line}"
        return f"{where}: {self.reason}"


@dataclass
class ReadSummary:
    """What the reader saw, for the load summary."""

    format: str = ""
    encoding: str = ""
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # info type -> columns used
    unused_columns: tuple[str, ...] = ()
    never_seen: tuple[str, ...] = ()  # JSON lines: mapped keys that no line had


_SURROGATES = re.compile("[\udc80-\udcff]")
_GB_HINT = "leak files from Chinese sources are often GB18030/GBK: try --encoding gb18030"


def sniff_encoding(path: Path, encoding: str) -> str:
    """The codec to read `path` with; refuses a file whose start does not decode as `encoding`.

    A UTF-8 byte-order mark switches to utf-8-sig (so the first header is not "\\ufeff手机号"); a
    UTF-16 mark is named, since reading it as UTF-8 would turn every row into a broken one.
    """
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise LeakFileError(f"unknown encoding {encoding!r}") from None
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise LeakFileError(f"{path.name} is empty")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not codec.startswith("utf-16"):
        raise LeakFileError(f"{path.name} is UTF-16 (it starts with a UTF-16 byte-order mark): pass --encoding utf-16")
    if codec == "utf-8" and head.startswith(codecs.BOM_UTF8):
        codec = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        decoder.decode(head, final=False)  # a character cut at the end of the sample is no error
    except UnicodeDecodeError as exc:
        raise LeakFileError(
            f"{path.name} is not valid {encoding} (undecodable byte at offset {exc.start}); {_GB_HINT}"
        ) from None
    return codec


def detect_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".tsv":
        return "tsv"
    return "csv"


class _Counting(io.RawIOBase):
    """Counts the bytes read from the file, for the progress bar (text streams cannot tell())."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.position += n or 0
        return int(n or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass(frozen=True, slots=True)
class _IdColumn:
    index: int
    field: InfoType
    kind: IdentifierKind
    bit: int

    @property
    def spec(self) -> tuple[int, str, Callable[[str], str | None], int, InfoType]:
        """The plain tuple the row loop unpacks (attribute access per cell is measurable at 10^8 cells)."""
        return (self.index, self.kind.value, _CLEANERS[self.kind], self.bit, self.field)


class LeakFile:
    """One leak file, read as a stream of records and problems (the file is never held in memory).

    `progress(bytes_read)` is called every few thousand rows. After iterating, `summary` says which
    columns were used and `rows` how many data rows there were.
    """

    def __init__(
        self,
        path: Path,
        *,
        mapping: Mapping[InfoType, Sequence[str]] | None = None,
        fmt: str = "auto",
        encoding: str = "utf-8",
        delimiter: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        self.mapping = dict(mapping or {})
        self.format = detect_format(path, fmt)
        if self.format not in ("csv", "tsv", "jsonl"):
            raise LeakFileError(f"unknown format {fmt!r}: csv, tsv or jsonl")
        self.delimiter = delimiter or ("\t" if self.format == "tsv" else ",")
        self.encoding = sniff_encoding(path, encoding)
        self.requested_encoding = encoding
        self.progress = progress
        self.summary = ReadSummary(format=self.format, encoding=self.encoding)
        self.rows = 0

    def __iter__(self) -> Iterator[LeakRecord | Problem]:
        with self.path.open("rb", buffering=0) as raw:
            counting = _Counting(raw)
            text = io.TextIOWrapper(
                io.BufferedReader(counting, 1 << 20), encoding=self.encoding, errors="surrogateescape", newline=""
            )
            if self.format == "jsonl":
                yield from self._json_lines(text, counting)
            else:
                yield from self._delimited(text, counting)

    def _not_decodable(self) -> str:
        return f"not valid {self.requested_encoding} ({_GB_HINT})"

    def _delimited(self, text: IO[str], counting: _Counting) -> Iterator[LeakRecord | Problem]:
        reader = csv.reader(text, delimiter=self.delimiter, strict=True)
        header: list[str] | None = None
        while header is None:
            try:
                header = next(reader)
            except StopIteration:
                raise LeakFileError(f"{self.path.name} is empty") from None
            except csv.Error as exc:
                raise LeakFileError(f"{self.path.name}: the header line cannot be read: {exc}") from None
            if not any(cell.strip() for cell in header):
                header = None  # blank lines before the header
        if _SURROGATES.search("".join(header)):
            raise LeakFileError(f"{self.path.name}: the header is {self._not_decodable()}")
        header = [cell.strip() for cell in header]
        if len(set(header)) != len(header):
            duplicated = sorted({c for c in header if header.count(c) > 1})
            raise LeakFileError(f"{self.path.name}: the header repeats column(s) {', '.join(duplicated)}")
        plan = plan_columns(header, self.mapping)
        self.summary.columns = {t.value: cols for t, cols in plan.fields.items()}
        self.summary.unused_columns = plan.unused
        position = {name: i for i, name in enumerate(header)}
        ids = [
            _IdColumn(position[c], t, IDENTIFIERS[t], INFO_BIT[t]).spec
            for t in plan.identifier_fields
            for c in plan.fields[t]
        ]
        others = [(position[c], INFO_BIT[t]) for t, cols in plan.fields.items() if t not in IDENTIFIERS for c in cols]
        width = len(header)
        empty = EMPTY_MARKERS
        first = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                self.rows += 1
                yield Problem(first, f"broken CSV ({exc})", reader.line_num)
                first = reader.line_num + 1
                continue
            line, last = first, reader.line_num
            first = last + 1
            if not row:
                continue  # a blank line is no row
            self.rows += 1
            if self.rows & 0x3FFF == 0 and self.progress:
                self.progress(counting.position)
            if len(row) != width:
                if len(row) == 1 and not row[0].strip():
                    self.rows -= 1
                    continue
                yield Problem(line, f"expected {width} fields, found {len(row)}", last)
                continue
            # The per-row work of _record, inlined: this loop runs once per leaked person.
            found: list[tuple[str, str]] = []
            mask = 0
            problem = None
            for index, kind, clean, bit, info in ids:
                value = row[index].strip()
                if value in empty:
                    continue
                cleaned = clean(value)
                if cleaned is None:
                    problem = self._invalid(line, last, info, value)
                    break
                found.append((kind, cleaned))
                mask |= bit
            if problem is not None:
                yield problem
                continue
            if not found:
                yield Problem(line, "no identifier: every identifier column is empty", last)
                continue
            for index, bit in others:
                value = row[index]
                if value and value.strip() not in empty:
                    mask |= bit
            yield LeakRecord(line, tuple(found) if len(found) == 1 else tuple(dict.fromkeys(found)), mask)
        if self.progress:
            self.progress(counting.position)
        if self.rows == 0:
            raise LeakFileError(f"{self.path.name} has a header but no data rows")

    def _invalid(self, line: int, last: int, info: InfoType, value: str) -> Problem:
        if _SURROGATES.search(value):
            return Problem(line, f"{info.value} is {self._not_decodable()}", last)
        return Problem(line, f"{info.value} is not a valid {_DESCRIBED[IDENTIFIERS[info]]}", last)

    def _record(
        self,
        line: int,
        id_cells: list[tuple[tuple[int, str, Callable[[str], str | None], int, InfoType], str]],
        other_cells: list[tuple[int, str]],
    ) -> LeakRecord | Problem:
        found: list[tuple[str, str]] = []
        mask = 0
        for (_, kind, clean, bit, info), raw in id_cells:
            value = raw.strip()
            if value in EMPTY_MARKERS:
                continue
            cleaned = clean(value)
            if cleaned is None:
                return self._invalid(line, line, info, value)
            found.append((kind, cleaned))
            mask |= bit
        if not found:
            return Problem(line, "no identifier: every identifier column is empty")
        for bit, raw in other_cells:
            if raw and raw.strip() not in EMPTY_MARKERS:
                mask |= bit
        return LeakRecord(line, tuple(dict.fromkeys(found)), mask)

    def _json_lines(self, text: IO[str], counting: _Counting) -> Iterator[LeakRecord | Problem]:
        explicit = {t: tuple(cols) for t, cols in self.mapping.items()}
        plans: dict[tuple[str, ...], _JsonPlan] = {}
        seen_keys: set[str] = set()
        used: dict[InfoType, set[str]] = {}
        for number, line in enumerate(text, 1):
            if not line.strip():
                continue
            self.rows += 1
            if self.rows & 0x3FFF == 0 and self.progress:
                self.progress(counting.position)
            if _SURROGATES.search(line):
                yield Problem(number, self._not_decodable())
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                yield Problem(number, f"broken JSON ({str(exc).split(':')[0]})")
                continue
            if not isinstance(item, dict):
                yield Problem(number, "not a JSON object")
                continue
            keys = tuple(item)
            plan = plans.get(keys)
            if plan is None:
                plan = plans[keys] = _JsonPlan.of(keys, explicit)
                seen_keys.update(keys)
                for kind, key in plan.keys:
                    used.setdefault(kind, set()).add(key)
            problem = None
            id_cells: list[tuple[tuple[int, str, Callable[[str], str | None], int, InfoType], str]] = []
            for spec, key in plan.ids:
                value = item[key]
                if isinstance(value, bool | dict | list):
                    problem = Problem(number, f"{spec[4].value} is not a text or a number")
                    break
                id_cells.append((spec, "" if value is None else str(value)))
            if problem is None:
                others = [(bit, _json_text(item[key])) for bit, key in plan.others]
                yield self._record(number, id_cells, others)
            else:
                yield problem
        if self.progress:
            self.progress(counting.position)
        if self.rows == 0:
            raise LeakFileError(f"{self.path.name} has no JSON lines")
        self.summary.columns = {t.value: tuple(sorted(v)) for t, v in used.items()}
        self.summary.unused_columns = tuple(sorted(seen_keys - {k for v in used.values() for k in v}))
        self.summary.never_seen = tuple(sorted({c for cols in explicit.values() for c in cols} - seen_keys))
        if not any(t in IDENTIFIERS for t in used):
            raise LeakFileError(
                f"no identifier key (phone, id_card, bank_card, qq, email, wechat) in {self.path.name}: name one "
                f"with --map, e.g. --map phone=KEY; keys seen: {', '.join(sorted(seen_keys)) or '(none)'}"
            )


@dataclass(frozen=True, slots=True)
class _JsonPlan:
    """Which keys of a JSON object (with this exact key set) feed which information type."""

    ids: tuple[tuple[tuple[int, str, Callable[[str], str | None], int, InfoType], str], ...]
    others: tuple[tuple[int, str], ...]
    keys: tuple[tuple[InfoType, str], ...]

    @classmethod
    def of(cls, keys: tuple[str, ...], explicit: Mapping[InfoType, tuple[str, ...]]) -> _JsonPlan:
        claimed = {c for cols in explicit.values() for c in cols}
        chosen = [(t, k) for t, cols in explicit.items() for k in cols if k in keys]
        for key in keys:
            kind = _ALIAS_INDEX.get(_folded(key))
            if key not in claimed and kind is not None and kind not in explicit:
                chosen.append((kind, key))
        return cls(
            ids=tuple((_IdColumn(0, t, IDENTIFIERS[t], INFO_BIT[t]).spec, k) for t, k in chosen if t in IDENTIFIERS),
            others=tuple((INFO_BIT[t], k) for t, k in chosen if t not in IDENTIFIERS),
            keys=tuple(chosen),
        )


def _json_text(value: object) -> str:
    if value is None or value is False:
        return ""
    if isinstance(value, dict | list):
        return "x" if value else ""
    return str(value)
