"""Unit tests for fraudwatch.producer: Kafka's partitioner, the envelope bytes, and answering each report."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import msgspec
import pytest
from aiokafka.partitioner import DefaultPartitioner, murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudwatch.producer import EnvelopeProducer, partition_for
from streams.envelope import ENVELOPE_VERSION, SanitisedReport, WireReport, decode_envelope, encode_envelope

SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_report(number: int = 0, **overrides: Any) -> SanitisedReport:
    report = SanitisedReport(
        report_id=f"6f1c1c1e-0000-4000-8000-{number:012d}",
        reported_at=datetime(2024, 5, 1, 10, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))),
        occurred_at=datetime(2024, 4, 30, 22, 0, tzinfo=UTC),
        channel="app",
        region_code="420106",
        amount_lost_fen=1_200_050,
        description="对方电话[PHONE]，让我炒股",
        scammer_contacts=("phone:0123456789abcdef0123456789abcdef",),
        mentioned_identifiers=("phone:0123456789abcdef0123456789abcdef",),
    )
    return msgspec.structs.replace(report, **overrides)


def make_wire(number: int) -> WireReport:
    """What the API hands the envelope producer (times as text are one of a WireReport's forms)."""
    return cast(WireReport, make_report(number).to_wire())


# --- partitioning -----------------------------------------------------------------------------------


def test_partition_for_is_kafkas_default_partitioner() -> None:
    # aiokafka's pure-Python murmur2 is the reference (it mirrors the Java client's Utils.murmur2).
    keys = [str(uuid.uuid4()) for _ in range(2000)] + ["", "a", "ab", "abc", "abcd", "报案", "x" * 1000]
    keys += [os.urandom(n).hex() for n in range(40)]
    for partitions in (1, 3, 4, 7, 256):
        everything = list(range(partitions))
        for key in keys:
            expected = DefaultPartitioner()(key.encode(), everything, everything)
            assert partition_for(key, partitions) == expected
            assert partition_for(key, partitions) == (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


# --- envelope bytes ---------------------------------------------------------------------------------


def reference_envelope(epoch: str, reports: list[SanitisedReport]) -> bytes:
    """The envelope as the stdlib writes `to_wire` dicts: what encode_envelope must produce exactly."""
    body = {"v": ENVELOPE_VERSION, "epoch": epoch, "reports": [r.to_wire() for r in reports]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def test_envelope_bytes_are_the_reference_bytes() -> None:
    reports = [
        make_report(1),
        make_report(2, description="", scammer_contacts=(), mentioned_identifiers=(), client_keyed=True),
        make_report(3, description='quotes " \\ / and \n\t\r\x00\x1f\x7f \u2028\u2029 🤡 \ufeff'),
    ]
    assert encode_envelope("e1", reports) == reference_envelope("e1", reports)
    assert decode_envelope(encode_envelope("e1", reports)).reports == tuple(reports)
    assert encode_envelope("e1", []) == reference_envelope("e1", [])


@settings(max_examples=500, deadline=None, database=None)
@given(
    description=st.text(max_size=200),
    contacts=st.lists(st.text(max_size=20), max_size=3),
    micros=st.integers(0, 999_999),
    offset_seconds=st.integers(-14 * 3600, 14 * 3600),
    year=st.integers(1800, 2100),
)
def test_envelope_bytes_match_for_any_text_and_time(
    description: str, contacts: list[str], micros: int, offset_seconds: int, year: int
) -> None:
    report = make_report(
        description=description,
        scammer_contacts=tuple(contacts),
        reported_at=datetime(year, 5, 1, 10, 30, 15, micros, tzinfo=timezone(timedelta(seconds=offset_seconds))),
        occurred_at=datetime(year, 1, 1, tzinfo=SHANGHAI),  # before 1901: the LMT offset +08:05:43
    )
    assert encode_envelope("epoch", [report]) == reference_envelope("epoch", [report])


# --- answering each report --------------------------------------------------------------------------


class RecordingProducer:
    """Stands in for AIOKafkaProducer: records each send, fails those for the partitions in `failing`."""

    def __init__(self, failing: frozenset[int] = frozenset()) -> None:
        self.sent: list[tuple[int, bytes]] = []
        self.failing = failing

    async def send_and_wait(self, topic: str, value: bytes, partition: int) -> None:
        await asyncio.sleep(0)
        if partition in self.failing:
            raise ConnectionError(f"partition {partition} is down")
        self.sent.append((partition, value))


def envelopes(kafka: RecordingProducer, max_reports: int = 500) -> EnvelopeProducer:
    return EnvelopeProducer(
        kafka,  # type: ignore[arg-type]
        "raw",
        "epoch",
        4,
        linger_s=0.001,
        max_reports=max_reports,
        timeout_s=5,
    )


async def test_a_batch_travels_as_one_envelope_per_partition_and_each_report_is_answered() -> None:
    kafka = RecordingProducer()
    producer = envelopes(kafka)
    reports = [make_wire(i) for i in range(200)]
    assert await producer.send(reports) == [None] * 200
    by_partition = {p: decode_envelope(v).reports for p, v in kafka.sent}
    assert len(kafka.sent) == len(by_partition) == 4
    assert sorted(r.report_id for rs in by_partition.values() for r in rs) == sorted(r["report_id"] for r in reports)
    for partition, carried in by_partition.items():
        assert all(partition_for(r.report_id, 4) == partition for r in carried)


async def test_only_the_reports_of_a_failed_envelope_fail() -> None:
    kafka = RecordingProducer(failing=frozenset({2}))
    producer = envelopes(kafka, max_reports=7)
    reports = [make_wire(i) for i in range(100)]
    outcomes = await producer.send(reports)
    for report, outcome in zip(reports, outcomes, strict=True):
        if partition_for(report["report_id"], 4) == 2:
            assert isinstance(outcome, ConnectionError)
        else:
            assert outcome is None
    assert sum(len(decode_envelope(v).reports) for _, v in kafka.sent) == sum(o is None for o in outcomes)


async def test_a_caller_that_goes_away_does_not_fail_the_others_in_its_envelope() -> None:
    kafka = RecordingProducer()
    producer = envelopes(kafka)
    same_partition = [r for r in (make_wire(i) for i in range(50)) if partition_for(r["report_id"], 4) == 0][:2]
    impatient = asyncio.ensure_future(producer.send([same_partition[0]]))
    patient = asyncio.ensure_future(producer.send([same_partition[1]]))
    await asyncio.sleep(0)
    impatient.cancel()
    assert await patient == [None]
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert [r.report_id for r in decode_envelope(kafka.sent[0][1]).reports] == [r["report_id"] for r in same_partition]
