"""Packing reports into per-partition envelopes, and answering each report once Kafka holds it.

Faust's cost is per Kafka message, so the API gathers the reports of concurrent requests (and of
batch requests) bound for the same partition into one envelope, for at most a few milliseconds.
Each report's partition follows from its report_id exactly as Kafka's default partitioner would
place it, so a resent report always lands where its first copy did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from murmurhash2 import murmurhash2

from streams.envelope import WireReport, encode_envelope

log = logging.getLogger(__name__)

# Kafka's default message limit is 1 MiB; stay well below it whatever the descriptions weigh.
MAX_ENVELOPE_BYTES = 512 * 1024
_REPORT_OVERHEAD_BYTES = 700
# The seed of Kafka's murmur2 (Utils.murmur2 in the Java client, aiokafka.partitioner.murmur2).
_KAFKA_MURMUR2_SEED = 0x9747B28C


def partition_for(report_id: str, partitions: int) -> int:
    """Kafka's default partition for this key: murmur2 in C (aiokafka's is pure Python, ~10x slower)."""
    return (murmurhash2(report_id.encode(), _KAFKA_MURMUR2_SEED) & 0x7FFFFFFF) % partitions


def _outcome(envelope: asyncio.Future[None]) -> BaseException | None:
    if envelope.cancelled():  # nothing here cancels one; if something did, the report is not stored
        return RuntimeError("the envelope was cancelled")
    return envelope.exception()


@dataclass
class _Pending:
    """The reports gathered for one envelope, and one future that settles them all."""

    done: asyncio.Future[None]
    reports: list[WireReport] = field(default_factory=list)
    size: int = 0
    timer: asyncio.TimerHandle | None = None


class EnvelopeProducer:
    """`send` returns once the broker acknowledged (acks=all) or refused each given report."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        epoch: str,
        partitions: int,
        *,
        linger_s: float,
        max_reports: int,
        timeout_s: float,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._epoch = epoch
        self._partitions = partitions
        self._linger_s = linger_s
        self._max_reports = max_reports
        self._timeout_s = timeout_s
        self._pending: dict[int, _Pending] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self.envelopes_sent = 0

    async def send(self, reports: Sequence[WireReport]) -> list[BaseException | None]:
        """Per report, in order: None when Kafka holds it, else the error."""
        loop = asyncio.get_running_loop()
        # One future per envelope, not per report: a batch of 500 makes a handful, not 500.
        envelopes: list[asyncio.Future[None]] = []
        for report in reports:
            partition = partition_for(report["report_id"], self._partitions)
            pending = self._pending.get(partition)
            if pending is None:
                pending = self._pending[partition] = _Pending(loop.create_future())
            pending.reports.append(report)
            pending.size += len(report["description"].encode()) + _REPORT_OVERHEAD_BYTES
            envelopes.append(pending.done)
            if len(pending.reports) >= self._max_reports or pending.size >= MAX_ENVELOPE_BYTES:
                self._ship(partition)
            elif pending.timer is None:
                pending.timer = loop.call_later(self._linger_s, self._ship, partition)
        if not envelopes:
            return []
        shared = set(envelopes)
        # wait(), unlike gather(), leaves the shared futures alone if this caller is cancelled.
        await asyncio.wait(shared)
        outcomes = {envelope: _outcome(envelope) for envelope in shared}
        return [outcomes[envelope] for envelope in envelopes]

    def _ship(self, partition: int) -> None:
        pending = self._pending.pop(partition, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._deliver(partition, pending))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, partition: int, pending: _Pending) -> None:
        try:
            payload = encode_envelope(self._epoch, pending.reports)
            await asyncio.wait_for(
                self._producer.send_and_wait(self._topic, payload, partition=partition), self._timeout_s
            )
        except BaseException as exc:
            if not pending.done.done():
                pending.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
                pending.done.exception()  # retrieved here: callers that went away must not log it unread
            if not isinstance(exc, Exception):
                raise
            return
        self.envelopes_sent += 1
        if not pending.done.done():
            pending.done.set_result(None)

    async def close(self) -> None:
        """Ship what is gathered and wait for it, so stopping the API loses no acknowledged report."""
        for partition in list(self._pending):
            self._ship(partition)
        if self._in_flight:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._in_flight, return_exceptions=True)
