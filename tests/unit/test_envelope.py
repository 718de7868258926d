"""Unit tests for streams.envelope: the raw topic's wire format and its validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from fraudwatch.errors import FraudwatchError, InvalidEnvelopeError
from streams.envelope import ENVELOPE_VERSION, Envelope, SanitisedReport, decode_envelope, encode_envelope

SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_report(**overrides: Any) -> SanitisedReport:
    base = SanitisedReport(
        report_id="6f1c1c1e-0000-4000-8000-000000000001",
        reported_at=datetime(2024, 5, 1, 10, 30, 15, 123456, tzinfo=SHANGHAI),
        occurred_at=datetime(2024, 4, 30, 22, 0, tzinfo=SHANGHAI),
        channel="app",
        region_code="420106",
        citizen_category="investment",
        amount_lost_fen=1_200_050,
        victim_phone_hash="0123456789abcdef0123456789abcdef",
        description="对方电话[PHONE]，让我炒股",
    )
    return msgspec.structs.replace(base, **overrides)


def wire_report(**overrides: Any) -> dict[str, Any]:
    wire = make_report().to_wire()
    wire.update(overrides)
    return wire


def body(**overrides: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = {"v": ENVELOPE_VERSION, "epoch": "epoch-1", "reports": [wire_report()]}
    envelope.update(overrides)
    return envelope


def raw(envelope: Any) -> bytes:
    return json.dumps(envelope, ensure_ascii=False).encode()


# --- round trip -------------------------------------------------------------------------------------


def test_round_trip_keeps_every_field() -> None:
    reports = [
        make_report(),
        make_report(
            report_id="second",
            reported_at=datetime(2024, 5, 1, 2, 30, tzinfo=UTC),
            occurred_at=datetime(2024, 4, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))),
            channel="hotline",
            citizen_category="",
            amount_lost_fen=0,
            victim_phone_hash="",
            description="",
        ),
    ]
    envelope = decode_envelope(encode_envelope("epoch-7", reports))
    assert envelope == Envelope("epoch-7", tuple(reports))
    assert envelope.reports[0].report_id == "6f1c1c1e-0000-4000-8000-000000000001"
    assert envelope.reports[0].amount_lost_fen == 1_200_050
    assert envelope.reports[0].description == "对方电话[PHONE]，让我炒股"


def test_round_trip_times_keep_their_zone_offset_and_microseconds() -> None:
    report = make_report(
        reported_at=datetime(2024, 5, 1, 10, 30, 15, 123456, tzinfo=SHANGHAI),
        occurred_at=datetime(2024, 4, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))),
    )
    decoded = decode_envelope(encode_envelope("e", [report])).reports[0]
    assert decoded.reported_at.utcoffset() == timedelta(hours=8)
    assert decoded.occurred_at.utcoffset() == timedelta(hours=-5)
    assert (decoded.reported_at.hour, decoded.reported_at.minute, decoded.reported_at.microsecond) == (
        10,
        30,
        123456,
    )
    assert decoded.occurred_at.hour == 21
    assert decoded.reported_at == report.reported_at


def test_round_trip_of_an_empty_envelope() -> None:
    assert decode_envelope(encode_envelope("e", [])) == Envelope("e", ())


def test_encoded_form_is_compact_utf8_json() -> None:
    payload = encode_envelope("epoch-1", [make_report()])
    assert "让我炒股".encode() in payload
    assert b"\\u" not in payload
    assert b", " not in payload
    decoded = json.loads(payload)
    assert decoded["v"] == 1
    assert decoded["epoch"] == "epoch-1"
    assert decoded["reports"][0]["reported_at"] == "2024-05-01T10:30:15.123456+08:00"
    assert decoded["reports"][0]["amount_lost_fen"] == 1_200_050


def test_to_wire_writes_iso_times_with_offsets() -> None:
    wire = make_report().to_wire()
    assert wire["reported_at"] == "2024-05-01T10:30:15.123456+08:00"
    assert wire["occurred_at"] == "2024-04-30T22:00:00+08:00"
    assert set(wire) >= {
        "report_id",
        "reported_at",
        "occurred_at",
        "channel",
        "region_code",
        "citizen_category",
        "amount_lost_fen",
        "victim_phone_hash",
        "description",
    }


def test_optional_wire_fields_default_to_empty() -> None:
    wire = wire_report()
    del wire["citizen_category"]
    del wire["victim_phone_hash"]
    report = decode_envelope(raw(body(reports=[wire]))).reports[0]
    assert report.citizen_category == ""
    assert report.victim_phone_hash == ""


def test_several_reports_keep_their_order() -> None:
    reports = [make_report(report_id=f"r{i}") for i in range(5)]
    decoded = decode_envelope(encode_envelope("e", reports))
    assert [r.report_id for r in decoded.reports] == ["r0", "r1", "r2", "r3", "r4"]


# --- defects ----------------------------------------------------------------------------------------


def _without(key: str) -> dict[str, Any]:
    wire = wire_report()
    del wire[key]
    return wire


DEFECTS: list[tuple[str, bytes | None, str]] = [
    ("empty bytes", b"", "empty message"),
    ("none", None, "empty message"),
    ("not json", b"this is not json", "not JSON"),
    ("truncated json", b'{"v":1,"epoch":"e","reports":[', "not JSON"),
    ("invalid utf-8", b'{"v":1,"epoch":"\xff\xfe","reports":[]}', "not JSON"),
    ("json null", b"null", "not a version 1 envelope"),
    ("json list", b"[1,2]", "not a version 1 envelope"),
    ("wrong version", raw(body(v=2)), "not a version 1 envelope"),
    ("version as string", raw(body(v="1")), "not a version 1 envelope"),
    ("missing version", raw({"epoch": "e", "reports": []}), "not a version 1 envelope"),
    ("missing epoch", raw({"v": 1, "reports": []}), "string 'epoch'"),
    ("epoch not a string", raw(body(epoch=7)), "string 'epoch'"),
    ("reports missing", raw({"v": 1, "epoch": "e"}), "list 'reports'"),
    ("reports not a list", raw(body(reports={"a": 1})), "list 'reports'"),
    ("reports a string", raw(body(reports="[]")), "list 'reports'"),
    ("report not an object", raw(body(reports=[42])), "bad report"),
    ("naive reported_at", raw(body(reports=[wire_report(reported_at="2024-05-01T10:30:00")])), "zone"),
    ("naive occurred_at", raw(body(reports=[wire_report(occurred_at="2024-05-01T10:30:00")])), "zone"),
    ("bad time", raw(body(reports=[wire_report(reported_at="yesterday")])), "bad report"),
    ("time not a string", raw(body(reports=[wire_report(reported_at=1714530600)])), "bad report"),
    ("negative amount", raw(body(reports=[wire_report(amount_lost_fen=-1)])), "non-negative integer"),
    ("fractional amount", raw(body(reports=[wire_report(amount_lost_fen=1.5)])), "non-negative integer"),
    ("amount as string", raw(body(reports=[wire_report(amount_lost_fen="100")])), "non-negative integer"),
    ("amount null", raw(body(reports=[wire_report(amount_lost_fen=None)])), "non-negative integer"),
    ("missing description", raw(body(reports=[_without("description")])), "description"),
    ("missing report_id", raw(body(reports=[_without("report_id")])), "report_id"),
    ("missing amount", raw(body(reports=[_without("amount_lost_fen")])), "amount_lost_fen"),
    ("missing reported_at", raw(body(reports=[_without("reported_at")])), "reported_at"),
    ("one bad among good", raw(body(reports=[wire_report(), _without("channel")])), "channel"),
]


@pytest.mark.parametrize(("payload", "message"), [(p, m) for _, p, m in DEFECTS], ids=[d[0] for d in DEFECTS])
def test_defect_raises_invalid_envelope_error_saying_which(payload: bytes | None, message: str) -> None:
    with pytest.raises(InvalidEnvelopeError) as caught:
        decode_envelope(payload)
    assert message in str(caught.value)


def test_bad_report_message_names_the_problem() -> None:
    with pytest.raises(InvalidEnvelopeError, match=r"^bad report in envelope: .*times must carry their zone"):
        decode_envelope(raw(body(reports=[wire_report(occurred_at="2024-05-01T10:30:00")])))


def test_invalid_envelope_error_is_a_fraudwatch_error() -> None:
    with pytest.raises(FraudwatchError):
        decode_envelope(b"")


def test_boolean_amount_is_rejected() -> None:
    with pytest.raises(InvalidEnvelopeError):
        decode_envelope(raw(body(reports=[wire_report(amount_lost_fen=True)])))


def test_boolean_version_is_rejected() -> None:
    with pytest.raises(InvalidEnvelopeError):
        decode_envelope(raw(body(v=True)))


def test_deeply_nested_json_raises_invalid_envelope_error() -> None:
    with pytest.raises(InvalidEnvelopeError):
        decode_envelope(b"[" * 100_000 + b"]" * 100_000)


def test_fast_and_checked_decoding_agree_on_valid_envelopes() -> None:
    from streams.envelope import _decode_checked

    full = make_report(
        submitter="api-key-1",
        client_keyed=True,
        scammer_contacts=("phone:" + "a" * 32, "qq:" + "b" * 32),
        scammer_domains=("example.cn",),
        mentioned_identifiers=("bank_card:" + "c" * 32,),
        occurred_at=datetime(2024, 4, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))),
    )
    minimal = wire_report(reported_at="2024-05-01T02:30:00Z", extra_field_from_a_newer_producer=1)
    for name in ("citizen_category", "victim_phone_hash", "scammer_contacts", "client_keyed"):
        minimal.pop(name, None)
    for payload in (encode_envelope("e", [make_report(), full]), raw(body(reports=[minimal])), raw(body(reports=[]))):
        fast = decode_envelope(payload)
        assert fast == _decode_checked(payload)
        assert all(type(r.scammer_contacts) is tuple for r in fast.reports)
