"""Unit tests for fraudwatch.reports: ReportIn validation and the pure sanitise() step (no HTTP, no Kafka)."""

from __future__ import annotations

import dataclasses
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError

from fraudwatch.pii import IdentifierKind, keyed_hash
from fraudwatch.reports import Channel, ReportIn, fresh_report_ids
from fraudwatch.reports import sanitise as sanitise_report
from fraudwatch.settings import ENV_PREFIX, Settings
from streams.envelope import SanitisedReport, decode_envelope, encode_envelope

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
    return "\n".join(str(getattr(result, f.name)) for f in dataclasses.fields(result))


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
