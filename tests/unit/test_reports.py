"""Unit tests for fraudwatch.reports: ReportIn validation and the pure sanitise() step (no HTTP, no Kafka)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from fraudwatch.pii import IdentifierKind, keyed_hash
from fraudwatch.reports import (
    Channel,
    ReportIn,
    decode_batch,
    decode_report,
    fresh_report_ids,
    sanitise_batch_for_wire,
    sanitise_for_wire,
    url_host,
)
from fraudwatch.reports import sanitise as sanitise_report
from fraudwatch.settings import ENV_PREFIX, Settings
from fraudwatch.simulate import generate_reports
from streams.envelope import SanitisedReport, decode_envelope, encode_envelope
from tests.unit import reference_ingest
from tests.unit.test_pii import PIECES, TRICKY

HASH_KEY = "unit-test-hash-key"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 5, 1, 2, 30, 15, tzinfo=UTC)  # 10:30:15 in Shanghai


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def settings() -> Settings:
    return Settings(hash_key=SecretStr(HASH_KEY), timezone="Asia/Shanghai")


def payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "description": "对方自称客服，让我转账",
        "region_code": "420106",
        "amount_lost": "12000.50",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


def report(**overrides: Any) -> ReportIn:
    return ReportIn.model_validate(payload(**overrides))


def error_locs(data: dict[str, Any]) -> dict[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate(data)
    return {tuple(e["loc"]): e["msg"] for e in caught.value.errors()}


def sanitise(report: ReportIn, settings: Settings, now: datetime) -> SanitisedReport:
    return sanitise_report(report, key=settings.hash_key.get_secret_value().encode(), zone=settings.zone, now=now)


def all_field_text(result: SanitisedReport) -> str:
    return "\n".join(str(getattr(result, f.name)) for f in msgspec.structs.fields(result))


# --- ReportIn ---------------------------------------------------------------------------------------


def test_minimal_report_gets_defaults() -> None:
    r = report()
    assert r.description == "对方自称客服，让我转账"
    assert r.region_code == "420106"
    assert r.amount_lost == Decimal("12000.50")
    assert r.channel is None  # the submitter token's channel, or "other", is applied by sanitise
    assert r.category is None
    assert r.victim_phone is None
    assert r.reported_at is None
    assert r.occurred_at is None


def test_full_report_is_accepted() -> None:
    r = report(
        channel="wechat",
        category="investment",
        victim_phone="+86 138-0013-8000",
        reported_at="2024-05-01T10:30:00+08:00",
        occurred_at="2024-04-30T21:00:00Z",
    )
    assert r.channel is Channel.WECHAT
    assert r.category is not None and r.category.value == "investment"
    assert r.reported_at == datetime(2024, 5, 1, 2, 30, tzinfo=UTC)
    assert r.occurred_at == datetime(2024, 4, 30, 21, 0, tzinfo=UTC)


def test_strings_are_stripped() -> None:
    r = report(description="  被骗了  ", region_code=" 420106 ")
    assert (r.description, r.region_code) == ("被骗了", "420106")


@pytest.mark.parametrize("amount", ["0", "0.01", "12000.5", "12000.50", 100, 19.99, "100000000"])
def test_valid_amounts(amount: object) -> None:
    assert report(amount_lost=amount).amount_lost == Decimal(str(amount))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("999999", "unknown province prefix '99'"),
        ("4201", "must be a 6-digit administrative division code"),
        ("42010a", "must be a 6-digit administrative division code"),
    ],
)
def test_bad_region_code_names_the_field(code: str, message: str) -> None:
    errors = error_locs(payload(region_code=code))
    assert list(errors) == [("region_code",)]
    assert message in errors["region_code",]


@pytest.mark.parametrize("amount", ["1.234", "0.001", 1.005])
def test_amount_with_three_decimals_is_rejected(amount: object) -> None:
    errors = error_locs(payload(amount_lost=amount))
    assert list(errors) == [("amount_lost",)]
    assert "decimal places" in errors["amount_lost",]


@pytest.mark.parametrize("amount", ["-0.01", -1, "-12000"])
def test_negative_amount_is_rejected(amount: object) -> None:
    errors = error_locs(payload(amount_lost=amount))
    assert list(errors) == [("amount_lost",)]
    assert "greater than or equal to 0" in errors["amount_lost",]


@pytest.mark.parametrize("amount", ["100000000.01", 1e9, "abc", None, True])
def test_impossible_amount_is_rejected(amount: object) -> None:
    assert list(error_locs(payload(amount_lost=amount))) == [("amount_lost",)]


@pytest.mark.parametrize("description", ["", "   ", "\n\t"])
def test_empty_description_is_rejected(description: str) -> None:
    assert list(error_locs(payload(description=description))) == [("description",)]


def test_too_long_description_is_rejected() -> None:
    assert list(error_locs(payload(description="骗" * 5001))) == [("description",)]
    assert len(report(description="骗" * 5000).description) == 5000


def test_unknown_extra_field_is_rejected() -> None:
    errors = error_locs(payload(victim_name="张三"))
    assert list(errors) == [("victim_name",)]
    assert errors["victim_name",] == "Extra inputs are not permitted"


@pytest.mark.parametrize("field", ["reported_at", "occurred_at"])
def test_naive_datetime_is_rejected(field: str) -> None:
    errors = error_locs(payload(**{field: "2024-05-01T10:30:00"}))
    assert list(errors) == [(field,)]
    assert "timezone" in errors[field,]


@pytest.mark.parametrize(
    ("field", "value"),
    [("channel", "telegram"), ("category", "not_a_category"), ("victim_phone", "1" * 33)],
)
def test_bad_optional_fields_name_the_field(field: str, value: str) -> None:
    assert list(error_locs(payload(**{field: value}))) == [(field,)]


@pytest.mark.parametrize("field", ["description", "region_code", "amount_lost"])
def test_missing_required_field_is_named(field: str) -> None:
    errors = error_locs(payload(**{field: ...}))
    assert list(errors) == [(field,)]
    assert errors[field,] == "Field required"


def test_several_problems_are_all_reported() -> None:
    errors = error_locs({"description": "", "region_code": "99", "amount_lost": "-1", "extra": 1})
    assert set(errors) == {("description",), ("region_code",), ("amount_lost",), ("extra",)}


# --- sanitise ---------------------------------------------------------------------------------------


def test_victim_phone_is_hashed_and_never_kept(settings: Settings) -> None:
    result = sanitise(report(victim_phone="+86 138-0013-8000"), settings, NOW)
    assert result.victim_phone_hash == "phone:" + keyed_hash(HASH_KEY.encode(), IdentifierKind.PHONE, "13800138000")
    text = all_field_text(result)
    for fragment in ("13800138000", "138-0013-8000", "0013", "8000"):
        assert fragment not in text


def test_phone_formatting_does_not_change_the_hash(settings: Settings) -> None:
    a = sanitise(report(victim_phone="13800138000"), settings, NOW)
    b = sanitise(report(victim_phone="0086 138 0013 8000"), settings, NOW)
    assert a.victim_phone_hash == b.victim_phone_hash != ""


def test_phone_hash_depends_on_the_settings_key(settings: Settings) -> None:
    other = Settings(hash_key=SecretStr("another-key"))
    a = sanitise(report(victim_phone="13800138000"), settings, NOW)
    b = sanitise(report(victim_phone="13800138000"), other, NOW)
    assert a.victim_phone_hash != b.victim_phone_hash


def test_no_phone_gives_an_empty_hash(settings: Settings) -> None:
    assert sanitise(report(), settings, NOW).victim_phone_hash == ""


def test_description_is_redacted(settings: Settings) -> None:
    description = "对方电话13800138000，让我把钱转到6222 0212 3456 7890 123，身份证11010519491231002x，邮箱a@b.cn"
    result = sanitise(report(description=description), settings, NOW)
    assert result.description == "对方电话[PHONE]，让我把钱转到[BANK_CARD]，身份证[ID_CARD]，邮箱[EMAIL]"
    text = all_field_text(result)
    for fragment in ("13800138000", "6222", "1101051949", "a@b.cn"):
        assert fragment not in text


@pytest.mark.parametrize(
    ("amount", "fen"),
    [
        (Decimal("12000.5"), 1_200_050),
        ("12000.50", 1_200_050),
        ("0", 0),
        ("0.01", 1),
        ("0.29", 29),
        ("19.99", 1999),
        (19.99, 1999),
        (0.29, 29),
        ("1.1", 110),
        ("4.35", 435),
        ("99999999.99", 9_999_999_999),
        ("100000000", 10_000_000_000),
    ],
)
def test_amount_is_converted_to_integer_fen_exactly(settings: Settings, amount: object, fen: int) -> None:
    result = sanitise(report(amount_lost=amount), settings, NOW)
    assert result.amount_lost_fen == fen
    assert type(result.amount_lost_fen) is int


def test_reported_at_defaults_to_now_in_the_settings_zone(settings: Settings) -> None:
    result = sanitise(report(), settings, NOW)
    assert result.reported_at == NOW
    assert result.reported_at.tzinfo == SHANGHAI
    assert (result.reported_at.hour, result.reported_at.minute, result.reported_at.second) == (10, 30, 15)


def test_occurred_at_defaults_to_reported_at(settings: Settings) -> None:
    result = sanitise(report(), settings, NOW)
    assert result.occurred_at == result.reported_at == NOW
    assert result.occurred_at.tzinfo == SHANGHAI
    assert result.occurred_at.hour == 10


def test_occurred_at_defaults_to_a_given_reported_at(settings: Settings) -> None:
    result = sanitise(report(reported_at="2024-04-30T23:00:00Z"), settings, NOW)
    assert result.reported_at == datetime(2024, 4, 30, 23, 0, tzinfo=UTC)
    assert result.occurred_at == result.reported_at
    assert (result.occurred_at.day, result.occurred_at.hour) == (1, 7)
    assert result.occurred_at.tzinfo == SHANGHAI


def test_given_times_are_converted_to_the_settings_zone(settings: Settings) -> None:
    result = sanitise(
        report(reported_at="2024-05-01T02:00:00+00:00", occurred_at="2024-04-30T21:00:00-05:00"), settings, NOW
    )
    assert result.reported_at == datetime(2024, 5, 1, 10, 0, tzinfo=SHANGHAI)
    assert result.occurred_at == datetime(2024, 5, 1, 10, 0, tzinfo=SHANGHAI)
    assert result.reported_at.tzinfo == SHANGHAI
    assert result.occurred_at.tzinfo == SHANGHAI
    assert result.occurred_at.utcoffset() == timedelta(hours=8)


def test_other_settings_zone_is_used() -> None:
    utc_settings = Settings(hash_key=SecretStr(HASH_KEY), timezone="UTC")
    now = datetime(2024, 5, 1, 10, 30, tzinfo=timezone(timedelta(hours=8)))
    result = sanitise(report(), utc_settings, now)
    assert result.reported_at.utcoffset() == timedelta(0)
    assert result.reported_at.hour == 2


def test_plain_fields_are_carried(settings: Settings) -> None:
    result = sanitise(report(channel="hotline", category="romance", region_code="110101"), settings, NOW)
    assert result.channel == "hotline"
    assert result.citizen_category == "romance"
    assert result.region_code == "110101"


def test_no_category_gives_empty_citizen_category(settings: Settings) -> None:
    result = sanitise(report(), settings, NOW)
    assert result.citizen_category == ""
    assert result.channel == "other"


def test_report_id_is_a_fresh_uuid(settings: Settings) -> None:
    first = sanitise(report(), settings, NOW)
    second = sanitise(report(), settings, NOW)
    assert str(uuid.UUID(first.report_id)) == first.report_id
    assert first.report_id != second.report_id


def test_fresh_report_ids_are_distinct_version_4_uuids() -> None:
    ids = fresh_report_ids(20_000)
    assert len(set(ids)) == len(ids) == 20_000
    for report_id in ids:
        parsed = uuid.UUID(report_id)
        assert str(parsed) == report_id
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # All 122 random bits vary: every hex position other than the fixed version digit takes many values.
    positions = [{report_id[i] for report_id in ids} for i in range(36)]
    assert [i for i, seen in enumerate(positions) if len(seen) == 1] == [8, 13, 14, 18, 23]
    assert positions[19] == set("89ab")
    assert fresh_report_ids(0) == []


def test_a_fresh_id_is_used_only_without_a_client_key(settings: Settings) -> None:
    key = settings.hash_key.get_secret_value().encode()
    fresh = fresh_report_ids(1)[0]
    plain = sanitise_report(report(), key=key, zone=settings.zone, now=NOW, fresh_id=fresh)
    assert plain.report_id == fresh and not plain.client_keyed
    keyed = sanitise_report(report(report_id="client-1"), key=key, zone=settings.zone, now=NOW, fresh_id=fresh)
    by_header = sanitise_report(report(), key=key, zone=settings.zone, now=NOW, client_key="client-1", fresh_id=fresh)
    assert keyed.report_id == by_header.report_id != fresh
    assert keyed.client_keyed and by_header.client_keyed


def test_sanitised_report_survives_the_envelope(settings: Settings) -> None:
    result = sanitise(report(victim_phone="13800138000", description="电话13800138000"), settings, NOW)
    assert decode_envelope(encode_envelope("e", [result])).reports == (result,)


# The fast path (`decode_report`, msgspec) against the contract (`ReportIn`, pydantic): whatever the
# fast path accepts, ReportIn accepts, and both sanitise to the same report; plain spellings of valid
# reports (what clients send) take the fast path. Each drawn report is a valid one with some fields
# swapped for spellings either side of a constraint.

_TRICKY_TEXT = st.sampled_from(["", " ", "a", " a", "a ", "a\n", "\u3000a", "\x1ca", "１", "ａ", "\ud7ff", "é"])
_DIGITS = st.text("0123456789", min_size=0, max_size=20)


def _variants(valid: st.SearchStrategy[Any], *tricky: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value; otherwise it padded with whitespace, or another tricky spelling."""
    padded = valid.filter(lambda v: isinstance(v, str)).flatmap(
        lambda v: st.sampled_from([f" {v}", f"{v} ", f"{v}\n", f"\t{v}", v.upper(), v.replace("1", "１")])
    )
    return st.one_of(valid, valid, valid, padded, *tricky)


_PHONES = st.one_of(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["+86 138 0013 8000", "0086-13800138000", "8613800138000", "12345", "1234", "1" * 15, "1" * 16]),
)


def _time_text(moment: datetime, digits: int, zone: str, separator: str) -> str:
    """`moment` with 0-9 digits of seconds (beyond six: pydantic cuts them off, msgspec would round)."""
    fraction = (moment.strftime("%f") + "987")[:digits]
    return moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + (f".{fraction}" if digits else "") + zone


_TIMES = st.builds(
    _time_text,
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2024, 6, 1)),
    st.integers(0, 9),
    st.sampled_from(["Z", "z", "+08:00", "-00:00", "+23:59", "+24:00", "+08:60", "+0800", "", "+08"]),
    st.sampled_from(["T", "T", " ", "t"]),
)
_AMOUNTS = st.one_of(
    st.decimals(min_value=0, max_value=100_000_001, places=2, allow_nan=False).map(str),
    st.integers(-5, 100_000_005),
    st.sampled_from(["1.234", "1e3", "1E-2", "-0", "0.1", "00012", ".5", "5.", "NaN", "100000000.00", "100000000.01"]),
    st.floats(0, 1e9, allow_nan=False).map(lambda f: round(f, 2)),
    st.booleans(),
)


def _optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(...), st.none(), values)


def _listed(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(...), st.lists(values, max_size=3), st.lists(values, min_size=20, max_size=21))


_REPORTS = st.fixed_dictionaries(
    {
        "description": _variants(st.text(min_size=1, max_size=60).map(lambda t: f"被骗{t}了"), _TRICKY_TEXT),
        "region_code": _variants(st.sampled_from(["420106", "110101", "000000", "99999", "4201067"]), _DIGITS),
        "amount_lost": _AMOUNTS,
    },
    optional={
        "report_id": _variants(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,10}", fullmatch=True), _TRICKY_TEXT),
        "channel": _variants(st.sampled_from(["app", "web", "sms", "telegram"])),
        "category": _variants(st.sampled_from(["investment", "romance", "no_such"])),
        "contact_method": _variants(st.sampled_from(["qq", "email", "fax"])),
        "reported_at": _optional(_TIMES),
        "occurred_at": _optional(_TIMES),
        "victim_phone": _optional(_variants(_PHONES)),
        "victim": _optional(
            st.fixed_dictionaries(
                {},
                optional={
                    "phone": _optional(_variants(_PHONES)),
                    "id_number": _optional(
                        _variants(st.from_regex(r"[0-9]{17}[0-9Xx]|[0-9]{15}|[0-9]{16}", fullmatch=True))
                    ),
                    "age_band": _variants(st.sampled_from(["18_25", "over_60", "old"])),
                    "gender": _variants(st.sampled_from(["female", "x"])),
                    "shoe_size": st.just(42),
                },
            )
        ),
        "scammer": _optional(
            st.fixed_dictionaries(
                {},
                optional={
                    "phones": _listed(_variants(_PHONES)),
                    "qq": _listed(_variants(st.from_regex(r"[0-9]{4,13}", fullmatch=True))),
                    "wechat": _listed(_variants(st.from_regex(r"[A-Za-z0-9_+.\-]{1,41}|[a-z]{3}!", fullmatch=True))),
                    "urls": _listed(
                        _variants(st.sampled_from(["https://www.lipei.shop/a", "lipei.shop", "http://x", "://"]))
                    ),
                    "bank_accounts": _listed(_variants(st.from_regex(r"[0-9]{9,20}", fullmatch=True))),
                    "payment_channel": _optional(_variants(st.sampled_from(["alipay", "paypal"]))),
                },
            )
        ),
        "shoe_size": st.just(42),
    },
).map(lambda d: _present(d))


def _present(value: Any) -> Any:
    """`value` without the keys drawn as `...` (absent), at any depth."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not ...}
    return value


def _sanitised_or_error(report: Any) -> SanitisedReport | str:
    try:
        return sanitise_report(report, key=b"k", zone=SHANGHAI, now=NOW, submitter="s", fresh_id="f")
    except ValueError as exc:
        return str(exc)


@settings_(max_examples=1500, deadline=None)
@given(data=_REPORTS, ascii_only=st.booleans())
def test_the_fast_path_accepts_only_what_reportin_accepts_with_the_same_result(
    data: dict[str, Any], ascii_only: bool
) -> None:
    body = json.dumps(data, ensure_ascii=ascii_only).encode()
    plain = decode_report(body)
    try:
        contract: ReportIn | None = ReportIn.model_validate_json(body)
    except ValidationError:
        contract = None
    if plain is not None:
        assert contract is not None, body
        assert _sanitised_or_error(plain) == _sanitised_or_error(contract)
    batch = decode_batch(b'{"reports": [' + body + b"," + body + b"]}")
    assert (batch is None) == (plain is None)


def test_plainly_spelled_reports_take_the_fast_path() -> None:
    for generated in generate_reports(300, seed=7):
        body = json.dumps(generated.body, ensure_ascii=False).encode()
        plain = decode_report(body)
        assert plain is not None, body
        assert _sanitised_or_error(plain) == _sanitised_or_error(ReportIn.model_validate_json(body))


@settings_(max_examples=300, deadline=None)
@given(
    phone=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    amount=st.decimals(min_value=0, max_value=100_000_000, places=2, allow_nan=False),
    moment=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2024, 4, 30), timezones=st.just(UTC)),
    digits=st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_valid_plain_reports_take_the_fast_path(phone: str, amount: Decimal, moment: datetime, digits: str) -> None:
    data = payload(amount_lost=str(amount), victim_phone=phone, reported_at=moment.isoformat(timespec=digits))
    body = json.dumps(data).encode()
    plain = decode_report(body)
    assert plain is not None, body
    assert _sanitised_or_error(plain) == _sanitised_or_error(ReportIn.model_validate_json(body))


def test_a_batch_with_an_extra_key_takes_the_fast_path_as_reportin_ignores_it() -> None:
    body = json.dumps({"reports": [payload()], "note": 1}).encode()
    assert decode_batch(body) is not None
    assert decode_batch(b'{"reports": []}') is None


# --- the API's path against the code as it was (tests/unit/reference_ingest.py) --------------------

_ZONES = st.sampled_from([SHANGHAI, ZoneInfo("Asia/Kathmandu"), ZoneInfo("America/St_Johns"), ZoneInfo("UTC")])
# Old years give zone offsets with seconds (local mean time), which the envelope must write as isoformat does.
_OLD_TIMES = st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda moment: moment.isoformat() + "+08:00"
)
_DESCRIPTIONS = st.lists(st.sampled_from([*TRICKY, *PIECES, "被骗了", "转账 2,000元", "67703.45块"]), min_size=1).map(
    lambda pieces: "被" + "".join(pieces) + "骗"
)


def _api_path(body: bytes, zone: ZoneInfo, hashes: dict[Any, str], now: datetime = NOW) -> bytes | str | None:
    """What the API sends for this body: the envelope of its one report, the error, or None (a 4xx)."""
    report: Any = decode_report(body)
    if report is None:
        try:
            report = ReportIn.model_validate_json(body)
        except ValidationError:
            return None
    try:
        wire = sanitise_for_wire(
            report, key=b"k", zone=zone, now=now, submitter="s", default_channel="web", fresh_id="f", hashes=hashes
        )
    except ValueError as exc:
        return str(exc)
    return encode_envelope("e", [wire])


def _reference_path(body: bytes, zone: ZoneInfo, now: datetime) -> tuple[bytes | str | None, SanitisedReport | None]:
    try:
        report = ReportIn.model_validate_json(body)
    except ValidationError:
        return None, None
    try:
        old = reference_ingest.sanitise(
            report, key=b"k", zone=zone, now=now, submitter="s", default_channel="web", fresh_id="f"
        )
    except ValueError as exc:
        return str(exc), None
    return reference_ingest.encode_envelope("e", [old]), old


def _assert_as_before(data: dict[str, Any], zone: ZoneInfo, hashes: dict[Any, str], now: datetime = NOW) -> None:
    body = json.dumps(data, ensure_ascii=False).encode()
    expected, old = _reference_path(body, zone, now)
    assert _api_path(body, zone, hashes, now) == expected, body
    if old is not None:
        report: Any = decode_report(body) or ReportIn.model_validate_json(body)
        assert (
            sanitise_report(report, key=b"k", zone=zone, now=now, submitter="s", default_channel="web", fresh_id="f")
            == old
        )


@settings_(max_examples=2000, deadline=None)
@given(
    data=_REPORTS,
    description=st.one_of(st.none(), _DESCRIPTIONS),
    occurred_at=st.one_of(st.none(), _OLD_TIMES),
    zone=_ZONES,
)
def test_the_api_path_sends_what_the_old_code_sent(
    data: dict[str, Any], description: str | None, occurred_at: str | None, zone: ZoneInfo
) -> None:
    if description is not None:
        data["description"] = description
    if occurred_at is not None:
        data["occurred_at"] = occurred_at
    _assert_as_before(data, zone, {})


def test_the_api_path_sends_what_the_old_code_sent_for_simulated_batches() -> None:
    hashes: dict[Any, str] = {}  # shared, as by the reports of one batch
    now = datetime.now(UTC)  # the simulator's times are recent
    for generated in generate_reports(3000, seed=3):
        _assert_as_before(generated.body, SHANGHAI, hashes, now)
    assert hashes  # the memo was used


def test_a_batch_is_sanitised_as_the_old_code_sanitised_each_of_its_reports() -> None:
    now = datetime.now(UTC)
    bodies = [json.dumps(g.body, ensure_ascii=False).encode() for g in generate_reports(600, seed=11)]
    bodies[7] = json.dumps(payload(reported_at="2099-01-01T00:00:00Z"), ensure_ascii=False).encode()
    bodies[8] = json.dumps(payload(report_id="k-1", victim_phone="+86 138 0013 8000")).encode()
    bodies[9] = json.dumps(payload(occurred_at="1850-01-01T00:00:00+08:00")).encode()
    reports: list[Any] = [decode_report(body) or ReportIn.model_validate_json(body) for body in bodies]
    ids = fresh_report_ids(len(reports))
    batch = sanitise_batch_for_wire(
        reports, ids, key=b"k", zone=SHANGHAI, now=now, submitter="s", default_channel="web"
    )
    assert len(batch) == len(reports)
    for body, fresh_id, sanitised in zip(bodies, ids, batch, strict=True):
        try:
            old = reference_ingest.sanitise(
                ReportIn.model_validate_json(body),
                key=b"k",
                zone=SHANGHAI,
                now=now,
                submitter="s",
                default_channel="web",
                fresh_id=fresh_id,
            )
        except ValueError as exc:
            assert isinstance(sanitised, ValueError), body
            assert str(sanitised) == str(exc)
            continue
        assert not isinstance(sanitised, ValueError), body
        assert encode_envelope("e", [sanitised]) == reference_ingest.encode_envelope("e", [old]), body
    assert sum(isinstance(s, ValueError) for s in batch) == 1


def test_the_api_path_writes_times_with_second_offsets_as_isoformat() -> None:
    data = payload(occurred_at="1850-01-01T00:00:00+08:00", reported_at="2024-05-01T08:00:00+08:00")
    _assert_as_before(data, SHANGHAI, {})
    assert b'"occurred_at":"1850-01-01T00:05:43+08:05:43"' in (
        _api_path(json.dumps(data).encode(), SHANGHAI, {}) or b""
    )


_URL_PIECES = [
    "http://", "https://", "HTTP://", "ftp://", "://", "//", "www.", "Lipei", "lipei", ".shop", ".", "-", "@", ":",
    ":8080", "user:pw@", "[::1]", "[", "]", "/", "/a", "?q=1", "#f", "%41", " ", "\t", "\n", "\x00", "é", "例",
    "ＡＢ", "\\", "mailto:", "a.b/x?u=http://c.d",
]  # fmt: skip


@settings_(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_URL_PIECES), min_size=1, max_size=8).map("".join))
def test_the_host_of_a_url_is_what_urlsplit_reads(url: str) -> None:
    try:
        expected: str | None = urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        with pytest.raises(ValueError):
            url_host(url)
        return
    assert url_host(url) == expected
