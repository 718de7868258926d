"""The Faust worker: thin glue from the raw topic to the ClickHouse sink.

Events are consumed without automatic acknowledgement. An event is acked only once the flush that
carries its facts has returned, so Faust never commits an offset ClickHouse does not yet hold;
what a crash makes Kafka redeliver, the sink recognises and leaves out.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable, MutableMapping, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from fraudwatch.collector import keep_freed_memory, settle_garbage_collector
from fraudwatch.errors import InvalidEnvelopeError
from fraudwatch.settings import Settings
from sinks.alerts import AlertStore
from sinks.clickhouse import connect
from sinks.leaks import lookup_chunk
from sinks.writer import PreparedBatch, ReportSink, load_lazy_imports
from streams.alerting import AlertEngine, thresholds_of, webhook_of
from streams.deadletter import dead_letter
from streams.envelope import SanitisedReport, decode_envelope
from streams.facts import KeyAges, Message, SourcePosition, first_copies
from streams.health import WorkerHealth, health_path

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_MAX_BACKOFF_S = 10.0
# Forgetting sends one changelog record per key: spread a large backlog of old keys over several events.
_MAX_FORGOTTEN_PER_EVENT = 10_000


def prepare_process() -> None:
    """Start-up for a worker process: pay start-up costs now, and tune the garbage collector.

    Decoding makes a few dozen container objects per report, and a flush keeps tens of thousands of reports
    alive. At the default first-generation threshold (700 allocations) the collector ran every ~25 reports
    and went over the survivors again and again: ~11 µs of CPU per report, measured with the sink; at 50,000
    ~3 µs. At 200,000 the worker's whole CPU per report fell by a further ~8 µs in the bench's pipeline (fewer
    passes over the batches in flight, and their caches left alone), with the same peak memory: what dies
    young is freed by reference counting whatever the threshold. What start-up made lives as long as the
    process, so no collection needs to go over it again.
    """
    keep_freed_memory()
    load_lazy_imports()
    settle_garbage_collector()
    if GC_CLOCK not in gc.callbacks:
        gc.callbacks.append(GC_CLOCK)


class _GcClock:
    """The CPU the garbage collector has used in this process, for the flush log: what collections cost
    the worker shows there, whichever thread they interrupted."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        # CPU, not wall time: a collection holds the GIL in the thread that triggered it, and on a busy
        # machine its wall time also counts the time it waited for a core.
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started


GC_CLOCK: Final = _GcClock()


def _with_cpu(work: Callable[[], _T]) -> tuple[_T, float]:
    """`work()` and the CPU seconds it took, for a call run in a thread of its own: the flush log says what
    preparing and writing cost the worker, apart from consuming."""
    started = time.thread_time()
    return work(), time.thread_time() - started


class IngestPipeline:
    """Pairs buffered facts with the events that carried them, and acks events after each flush."""

    def __init__(
        self,
        sink: ReportSink,
        settings: Settings,
        first_positions: MutableMapping[str, str],
        dead_letters: Any = None,
    ) -> None:
        self.sink = sink
        self.settings = settings
        self.first_positions = first_positions
        self.dead_letters = dead_letters  # the dead-letter topic; None in tests that only need the sink
        self._unacked: list[Any] = []
        self._prepare_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._writes_waiting = 0
        self._writes: set[asyncio.Task[None]] = set()  # the queued writes, referenced until done
        self.reports_seen = 0
        self.invalid_messages = 0
        self.health = WorkerHealth(health_path(settings.data_dir, settings.worker_id, os.getpid()))
        self.key_ages = KeyAges(settings.client_key_memory_s)
        self._sweep_every_s = min(60.0, settings.client_key_memory_s / 4)
        self._next_sweep = 0.0
        self.table_restored = True  # what the table holds before this process saw anything is of unknown age
        self._gc_logged = GC_CLOCK.seconds

    async def accept(self, event: Any) -> None:
        message = event.message
        try:
            envelope = decode_envelope(message.value)
        except InvalidEnvelopeError as exc:
            await self._dead_letter(event, str(exc))
            return
        position = SourcePosition(message.topic, envelope.epoch, message.partition, message.offset)
        # Classified in the sink, with the whole flush: the fixed cost of a classifier call is paid once.
        kept = first_copies(Message.of(position, envelope.reports), self.first_positions)
        self._age_client_keys(kept.reports)
        self.sink.add_message(kept)
        self._unacked.append(event)
        self.reports_seen += len(kept.reports)

    def _age_client_keys(self, reports: Sequence[SanitisedReport]) -> None:
        """Forget first copies once no resend can still come, so the index does not grow forever.

        Runs inside the event being processed: Faust writes a deletion to the table's changelog only
        from within an event. A key of another partition deleted here is at worst restored by a
        replay of its own partition's changelog, and then forgotten again: never forgotten early.
        """
        now = time.monotonic()
        self.key_ages.saw((r.report_id for r in reports if r.client_keyed), now)
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_every_s
        table = self.first_positions
        if self.table_restored or len(table) != len(self.key_ages):
            self.key_ages.saw(list(table.keys()), now)
            self.table_restored = False
        for report_id in self.key_ages.expired(now, _MAX_FORGOTTEN_PER_EVENT):
            if report_id in table:
                del table[report_id]

    async def _dead_letter(self, event: Any, error: str) -> None:
        """Park a message that cannot be processed, so that it never blocks its partition."""
        message = event.message
        position = SourcePosition(message.topic, self.settings.broker_epoch, message.partition, message.offset)
        letter = dead_letter(position, message.value, error, self.settings.hash_key.get_secret_value().encode())
        self.invalid_messages += 1
        log.error(
            "message is not a report envelope; sent to the dead-letter topic",
            extra={"topic": message.topic, "partition": message.partition, "offset": message.offset, "error": error},
        )
        if self.dead_letters is not None:
            delivery = await self.dead_letters.send(key=letter.payload_sha256.encode(), value=letter.to_json())
            await delivery  # acked below only once the dead-letter topic holds it
        self.sink.add_dead_letter(letter)
        self._unacked.append(event)

    @property
    def must_flush(self) -> bool:
        return self.sink.pending >= self.settings.flush_max_rows

    @property
    def flushing(self) -> bool:
        """A flush is preparing, or prepared and waiting for the write before it: starting another now would
        only make smaller batches, which cost ClickHouse more per report."""
        return self._prepare_lock.locked() or self._writes_waiting > 0

    async def flush(self) -> None:
        """Write everything accepted so far; returns once ClickHouse holds it and its events are acked."""
        write = await self.start_flush()
        if write is not None:
            await write

    async def flush_full_buffer(self) -> None:
        """The buffer is full: prepare it and queue its write, then wait only for the writes queued before
        it. So the next batch is consumed and prepared while ClickHouse takes this one, and at most two
        batches are in flight (one being written, one prepared) besides the one filling. Waiting for this
        batch's own write instead left the worker idle for the whole of every write."""
        earlier = list(self._writes)
        await self.start_flush()
        if earlier:
            await asyncio.wait(earlier)

    async def start_flush(self) -> asyncio.Task[None] | None:
        """Prepare what is buffered (classification and columns, in a thread) and queue its write; returns
        the write, which runs after the writes queued before it. Preparing while the previous batch is
        being written keeps the worker busy while ClickHouse takes that batch."""
        async with self._prepare_lock:
            events, self._unacked = self._unacked, []
            if not events and not self.sink.pending:
                return None
            batch, prepare_cpu = await asyncio.to_thread(_with_cpu, self.sink.prepare)
            self._writes_waiting += 1
            write = asyncio.create_task(self._write(batch, events, prepare_cpu))
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)
            return write

    async def hand_over(self) -> None:
        """Before partitions go (a rebalance): write everything accepted, then forget what is known of what
        ClickHouse holds, so it is read again if they come back. The forgetting waits for the write lock:
        a batch queued meanwhile may be writing in a thread, and its marks must not vanish under it."""
        await self.flush()
        async with self._write_lock:
            self.sink.forget()
            self.table_restored = True

    async def _write(self, batch: PreparedBatch, events: list[Any], prepare_cpu: float = 0.0) -> None:
        async with self._write_lock:  # FIFO: writes go in the order their batches were prepared
            self._writes_waiting -= 1
            backoff = 0.2
            while True:
                try:
                    result, write_cpu = await asyncio.to_thread(_with_cpu, lambda: self.sink.write(batch))
                    break
                except Exception as exc:
                    # Nothing is acked, so nothing is committed: retrying (or crashing) is safe.
                    pending = self.sink.pending + len(batch.columns)
                    self.health.failed(str(exc), pending)
                    log.error(
                        "ClickHouse write failed; retrying",
                        extra={"error": str(exc), "retry_in_s": backoff, "pending": pending},
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
            for event in events:
                event.ack()
            self.health.flushed(result, self.reports_seen, self.invalid_messages)
            if result.facts_written or result.skipped_as_duplicates:
                gc_seconds, self._gc_logged = GC_CLOCK.seconds - self._gc_logged, GC_CLOCK.seconds
                log.info(
                    "flushed",
                    extra={"facts": result.facts_written, "stats_rows": result.stats_rows_written,
                           "skipped_duplicates": result.skipped_as_duplicates,
                           "ms": round(result.seconds * 1000, 1), "prepare_cpu_ms": round(prepare_cpu * 1000, 1),
                           "write_cpu_ms": round(write_cpu * 1000, 1), "gc_ms": round(gc_seconds * 1000, 1)},
                )  # fmt: skip


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes fetch_max_wait_ms=1500 with no setting to change it; aiokafka hands this
        # attribute to its fetcher when the consumer starts, which happens after this returns.
        consumer._fetch_max_wait_ms = cast(WorkerApp, self.app).fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class WorkerApp(faust.App):
    """faust.App whose Kafka fetches wait at most `fetch_max_wait_ms` for data.

    A fetch that finds nothing waits on the broker, and the embedded broker (Tansu) answers a waiting
    fetch only after about half of the wait even when data arrives meanwhile: with Faust's fixed 1.5 s
    that alone put 0.4 s (median) to 0.75 s between a report's acceptance and the worker seeing it.
    """

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def build_app(settings: Settings) -> faust.App:
    settings.worker_state_dir.parent.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = WorkerApp(
        settings.worker_id,
        fetch_max_wait_ms=round(settings.fetch_max_wait_s * 1000),
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
        datadir=settings.worker_state_dir,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.raw_partitions,
        producer_acks=-1,
        # Tansu holds a JoinGroup until the rebalance timeout when a member is missing: keep it short,
        # so that a restarted worker takes its partitions back in seconds.
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_session_timeout=settings.rebalance_timeout_s,
        broker_heartbeat_interval=1.0,
        # Events stay unacked until their flush; Faust must not wait for them to drain before a
        # rebalance or a stop (it would wait forever): whatever is unflushed is redelivered and the
        # sink recognises what it already holds.
        stream_wait_empty=False,
    )
    raw = app.topic(settings.raw_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    # Where the first copy of each client-keyed report sits; changelogged, so it survives restarts
    # and rebalances, and partitioned like the raw topic because a report_id decides its partition.
    first_positions = app.Table(
        "client-report-positions", default=None, partitions=settings.raw_partitions, key_type=str, value_type=str
    )
    dead_letter_topic = app.topic(
        settings.dead_letter_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    alerts_topic = app.topic(
        settings.alerts_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    state: dict[str, IngestPipeline] = {}
    sink_ready = asyncio.Event()
    engines: list[AlertEngine] = []

    @app.task
    async def open_sink() -> None:
        client = await asyncio.to_thread(connect, settings)
        chunk = lookup_chunk(settings.leak_lookup_chunk, settings.embedded_clickhouse)
        sink = ReportSink(
            client,
            settings.clickhouse_database,
            settings.zone,
            leak_lookup_chunk=chunk,
            leak_filter_max_identifiers=settings.leak_filter_max_identifiers,
            lookup_client=await asyncio.to_thread(connect, settings),
        )
        await asyncio.to_thread(sink.setup)
        state["pipeline"] = IngestPipeline(sink, settings, first_positions, dead_letter_topic)
        sink_ready.set()

    async def pipeline() -> IngestPipeline:
        await sink_ready.wait()
        return state["pipeline"]

    @app.agent(raw)
    async def ingest(stream: Any) -> None:
        glue = await pipeline()
        async for event in stream.noack().events():
            await glue.accept(event)
            if glue.must_flush:
                await glue.flush_full_buffer()

    @app.timer(interval=settings.flush_interval_s)
    async def flush_periodically() -> None:
        # Not waiting for the write: the next batch is prepared while ClickHouse takes this one.
        if "pipeline" in state and not state["pipeline"].flushing:
            await state["pipeline"].start_flush()

    async def publish_alert(key: bytes, value: bytes) -> None:
        delivery = await alerts_topic.send(key=key, value=value)
        await delivery

    # One engine per worker group: the detectors count what ClickHouse holds, so any member can run
    # them, and the group leader does. Its state is in the alerts table, so a new leader takes over.
    @app.timer(interval=settings.alert_interval_s, on_leader=True)
    async def detect_periodically() -> None:
        if not settings.alerts_enabled or not sink_ready.is_set():
            return
        if not engines:
            client = await asyncio.to_thread(connect, settings)
            store = AlertStore(client, settings.clickhouse_database, settings.zone)
            engines.append(AlertEngine(store, thresholds_of(settings), publish_alert, webhook_of(settings)))
        try:
            await engines[0].cycle(datetime.now(settings.zone))
        except Exception as exc:  # the next cycle tries again; ingest must not stop for a detector
            log.error("alert detection failed", extra={"error": str(exc)}, exc_info=True)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust types receivers as sync-or-awaitable unions mypy cannot match
    async def on_revoked(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Hand partitions over with everything written, and re-read what is stored if they come back.
        if "pipeline" in state:
            await state["pipeline"].hand_over()

    return app
