"""Early warning against the real embedded ClickHouse: planted surges, a scammer phone across five
victims and a leak batch behind a burst of reports raise exactly their alerts; quiet streams with
noise raise none; an engine that starts again neither loses nor repeats an alert; webhooks are signed
and retried (the receiver is a real local HTTP server)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from clickhouse_connect.driver.client import Client

from fraudwatch.alerts_cmd import alerts
from fraudwatch.pii import IdentifierKind, key_fingerprint, tagged_hash
from fraudwatch.testing import WebhookReceiver
from sinks.alerts import AlertStore
from sinks.webhook import EVENT_HEADER, SIGNATURE_HEADER, WebhookSender, verify
from streams.alerting import AlertEngine
from streams.detectors import AlertState, Detector, Thresholds
from streams.envelope import SanitisedReport, encode_envelope
from tests.integration.conftest import scalar, wait_until, worker_settings
from tests.integration.test_worker import Worker, produce, read_all

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=SHANGHAI)
KEY = b"alerts-test-key"
SECRET = b"alerts-test-webhook-secret"
T = Thresholds()
NOISE_SERIES = [
    (c, p) for c in ("part_time_job", "fake_shopping", "loan", "romance") for p in ("110000", "310000", "510000")
]
SURGE = ("investment", "440000")
PHONE = tagged_hash(KEY, IdentifierKind.PHONE, "17000000001")
PLANTED_BATCH, QUIET_BATCH = "leak-2026-express", "leak-2026-bank"


@dataclass
class Loader:
    """Writes reports (and leak links) into a test database the way the sink leaves them."""

    client: Client
    database: str
    rng: random.Random = field(default_factory=lambda: random.Random(5))
    written: int = 0

    def reports(self, rows: list[dict[str, Any]]) -> None:
        columns = ["report_id", "reported_at", "occurred_at", "channel", "region_code", "province_code", "city_code",
                   "category", "amount_lost_fen", "victim_phone_hash", "victim_id_hash", "scammer_contacts",
                   "description_redacted"]  # fmt: skip
        data = []
        for row in rows:
            self.written += 1
            region = row.get("region_code", row["province_code"][:2] + "0102")
            data.append([
                row.get("report_id", f"r{self.written}"), row["at"], row["at"] - timedelta(hours=2), "app", region,
                row["province_code"], region[:4] + "00", row["category"], row.get("loss", 10_000),
                row.get("victim", tagged_hash(KEY, IdentifierKind.PHONE, f"139{self.written:08d}")), "",
                row.get("contacts", [tagged_hash(KEY, IdentifierKind.PHONE, f"171{self.written:08d}")]), "(test)",
            ])  # fmt: skip
        self.client.insert(f"{self.database}.reports", data, column_names=columns)

    def links(self, batch: str, rows: list[tuple[str, datetime, str]]) -> None:
        self.client.insert(
            f"{self.database}.report_leak_links",
            [[report_id, batch, "part_time_job", 5_000, at, [ident], 1, "stream"] for report_id, at, ident in rows],
            column_names=["report_id", "batch_id", "category", "amount_lost_fen", "reported_at", "identifiers",
                          "info_mask", "linked_by"],
        )  # fmt: skip

    def batch(self, batch: str, identifiers: int, industry: str) -> None:
        self.client.insert(
            f"{self.database}.leak_batches",
            [[batch, "insider", industry, NOW - timedelta(days=30), identifiers, 2, "serious", identifiers]],
            column_names=["batch_id", "source_type", "industry", "seized_at", "records", "severity", "severity_label",
                          "identifiers"],
        )  # fmt: skip

    def noise(self, start: datetime, end: datetime) -> None:
        """Reports at random times for the noise series, about 1.5 an hour each, busier in the afternoon,
        every report with a scammer contact of its own; the planted surge's series gets one a day."""
        rows: list[dict[str, Any]] = []
        hour = start
        while hour < end:
            busy = 2.0 if 12 <= hour.hour < 20 else 1.0
            for category, province in NOISE_SERIES:
                for _ in range(self.rng.choices([0, 1, 2, 3], weights=[3, 4 * busy, 2 * busy, busy])[0]):
                    rows.append({"at": hour + timedelta(seconds=self.rng.randrange(3600)), "category": category,
                                 "province_code": province})  # fmt: skip
            if hour.hour == 9:
                rows.append({"at": hour + timedelta(minutes=7), "category": SURGE[0], "province_code": SURGE[1]})
            hour += timedelta(hours=1)
        self.reports(rows)
        # a leak batch whose victims report now and then: one linked report every other day
        day = start
        while day < end:
            self.links(QUIET_BATCH, [(f"q{day:%m%d}", day + timedelta(hours=10), f"phone:q{day:%m%d}")])
            day += timedelta(days=2)


@pytest.fixture
def loader(ch: Client, database: str) -> Loader:
    loader = Loader(ch, database)
    loader.batch(QUIET_BATCH, 5_000, "bank")
    loader.batch(PLANTED_BATCH, 40, "express_delivery")
    loader.noise(NOW - timedelta(days=8), NOW)
    return loader


@pytest.fixture
def store(ch: Client, database: str) -> AlertStore:
    return AlertStore(ch, database, SHANGHAI)


def plant(loader: Loader) -> None:
    # a surge: 20 investment frauds in Guangdong in the last 40 minutes
    loader.reports([{"at": NOW - timedelta(minutes=2 * i), "category": SURGE[0], "province_code": SURGE[1],
                     "loss": 50_000} for i in range(1, 21)])  # fmt: skip
    # one scammer phone in the reports of five victims, over three days, from two provinces
    loader.reports([
        {"at": NOW - timedelta(hours=13 * i + 1), "category": "fake_customer_service", "loss": 120_000 + i,
         "province_code": "330000" if i % 2 else "320000", "contacts": [PHONE],
         "victim": tagged_hash(KEY, IdentifierKind.ID_CARD, f"11010519900101{i:03d}X")}
        for i in range(5)
    ])  # fmt: skip
    # eight reports in six hours whose victims are in the planted leak batch
    loader.links(PLANTED_BATCH, [(f"p{i}", NOW - timedelta(minutes=45 * i + 5), f"phone:p{i}") for i in range(8)])


def alerts_in(client: Client, database: str) -> list[tuple[str, str, str]]:
    rows = client.query(f"SELECT detector, series, state FROM {database}.alerts FINAL ORDER BY detector").result_rows
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_quiet_streams_raise_nothing(store: AlertStore, loader: Loader, ch: Client, database: str) -> None:
    engine = AlertEngine(store, T, None, None)
    for step in range(0, 24 * 60, 45):  # a day of cycles over the noise
        assert engine.detect(NOW - timedelta(days=1) + timedelta(minutes=step)) == [], f"cycle at +{step} min"
    assert alerts_in(ch, database) == []


def test_planted_patterns_raise_exactly_their_alerts(
    store: AlertStore, loader: Loader, ch: Client, database: str
) -> None:
    plant(loader)
    engine = AlertEngine(store, T, None, None)
    changes = engine.detect(NOW)
    assert sorted((a.detector, a.series, a.state) for a in changes) == [
        (Detector.LEAK_EXPLOITATION, PLANTED_BATCH, AlertState.OPEN),
        (Detector.REPEAT_CONTACT, PHONE, AlertState.OPEN),
        (Detector.SURGE, "investment|440000", AlertState.OPEN),
    ]
    found = {a.detector: a for a in changes}
    surge = found[Detector.SURGE].evidence
    assert (surge["observed"], surge["loss_fen"], surge["province_name"]) == (20, 1_000_000, "广东")
    assert surge["expected"] < 0.2 and surge["baseline_windows"] == 7
    contact = found[Detector.REPEAT_CONTACT].evidence
    assert (contact["victims"], contact["reports"], contact["regions"]) == (5, 5, 2)
    assert contact["loss_fen"] == sum(120_000 + i for i in range(5)) and contact["provinces"] == ["320000", "330000"]
    assert contact["first_seen"] == (NOW - timedelta(hours=53)).isoformat()
    leak = found[Detector.LEAK_EXPLOITATION].evidence
    assert (leak["observed"], leak["loss_fen"], leak["industry"], leak["source_type"]) == (
        8,
        40_000,
        "express_delivery",
        "insider",
    )
    assert (leak["identifiers"], leak["identifiers_not_yet_linked"], leak["linked_reports_total"]) == (40, 32, 8)
    assert sorted(alerts_in(ch, database)) == sorted((a.detector.value, a.series, "open") for a in changes)

    # The same moment again, and a new engine (a restarted worker) on the same tables: nothing new.
    assert engine.detect(NOW + timedelta(minutes=1)) == []
    restarted = AlertEngine(AlertStore(ch, database, SHANGHAI), T, None, None)
    assert restarted.detect(NOW + timedelta(minutes=2)) == []
    assert {a.alert_id for a in restarted.open.values()} == {a.alert_id for a in changes}

    # Eight days on, with the usual noise meanwhile, every series has fallen back: each alert resolves once.
    loader.noise(NOW, NOW + timedelta(days=8))
    later = NOW + timedelta(days=8)
    resolved = restarted.detect(later)
    assert sorted((a.alert_id, a.state) for a in resolved) == sorted((a.alert_id, AlertState.RESOLVED) for a in changes)
    assert all(a.resolved_at == later for a in resolved)
    assert restarted.detect(later + timedelta(minutes=1)) == []
    assert {state for _, _, state in alerts_in(ch, database)} == {"resolved"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(answers=[503, 503, 503])
    yield server
    server.close()


async def test_deliveries_are_signed_retried_and_survive_a_restart(
    store: AlertStore, loader: Loader, ch: Client, database: str, receiver: WebhookReceiver
) -> None:
    plant(loader)
    published: list[tuple[bytes, bytes]] = []

    async def publish(key: bytes, value: bytes) -> None:
        published.append((key, value))

    # Three failing answers: the first engine's three attempts all fail and the delivery stays pending.
    first = AlertEngine(store, T, publish, WebhookSender(receiver.url, SECRET, attempts=3, pause_s=0.01))
    opened = await first.cycle(NOW)
    assert len(opened) == 3 and len(published) == 3 and len(receiver.posts) == 2  # the 3rd failed
    pending = ch.query(
        f"SELECT countIf(webhook_delivery = 0), countIf(topic_delivery = 1) FROM {database}.alerts FINAL"
    )
    assert pending.result_rows[0] == (1, 3)

    # A new engine takes the undelivered alert over and delivers it; the open ones are not opened again.
    second = AlertEngine(AlertStore(ch, database, SHANGHAI), T, publish, WebhookSender(receiver.url, SECRET))
    assert await second.cycle(NOW + timedelta(minutes=1)) == []
    assert len(receiver.posts) == 3 and len(published) == 3
    delivered = ch.query(f"SELECT countIf(webhook_delivery = 1) FROM {database}.alerts FINAL").result_rows[0][0]
    assert delivered == 3
    events = {}
    for headers, body in receiver.posts:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER])
        assert not verify(b"another secret", body, headers[SIGNATURE_HEADER])
        assert not verify(SECRET, body.replace(b"open", b"shut"), headers[SIGNATURE_HEADER])
        event = json.loads(body)
        assert headers[EVENT_HEADER] == event["event_id"]
        events[event["event_id"]] = event
    assert sorted(events) == sorted(f"{a.alert_id}:open" for a in opened)
    assert {json.loads(v)["event_id"] for _, v in published} == set(events)
    assert "17000000001" not in json.dumps(events)


async def test_a_refusing_webhook_is_not_retried(store: AlertStore, loader: Loader, ch: Client, database: str) -> None:
    plant(loader)
    server = WebhookReceiver(answers=[400] * 10)
    try:
        engine = AlertEngine(store, T, None, WebhookSender(server.url, SECRET, attempts=3, pause_s=0.01))
        await engine.cycle(NOW)
        assert await engine.deliver() == 0
        refused = ch.query(f"SELECT countIf(webhook_delivery = 2) FROM {database}.alerts FINAL").result_rows[0][0]
        assert refused == 3 and len(server.answers) == 7  # one try each, no retries
    finally:
        server.close()


def contact_reports(first: int, count: int) -> list[SanitisedReport]:
    now = datetime.now(SHANGHAI)
    return [
        SanitisedReport(
            report_id=f"wr{i}", reported_at=now - timedelta(minutes=i), occurred_at=now - timedelta(days=1),
            channel="app", region_code="330106", amount_lost_fen=80_000, description="冒充客服退款被骗",
            victim_phone_hash=tagged_hash(KEY, IdentifierKind.PHONE, f"1390000{i:04d}"), scammer_contacts=(PHONE,),
        )
        for i in range(first, first + count)
    ]  # fmt: skip


def test_the_worker_alerts_once_across_a_sigkill(
    broker: str, clickhouse_url: str, database: str, ch: Client, tmp_path: Path
) -> None:
    receiver = WebhookReceiver()
    settings = worker_settings(
        broker, clickhouse_url, database, tmp_path, alert_interval_s=0.5, alert_webhook_url=receiver.url,
        alert_webhook_secret=SECRET.decode(),
    )  # fmt: skip
    worker = Worker(settings, tmp_path / "worker.log")
    try:
        worker.start()
        asyncio.run(produce(settings, [encode_envelope(settings.broker_epoch, contact_reports(0, 5))]))

        def delivered() -> bool:
            rows = ch.query(
                f"SELECT detector, series, topic_delivery, webhook_delivery FROM {database}.alerts FINAL"
            ).result_rows
            return rows == [("repeat_contact", PHONE, 1, 1)]

        wait_until(delivered, 90, "the repeat-contact alert delivered to the topic and the webhook")
        first_events = [json.loads(v) for v in asyncio.run(read_all(settings, settings.alerts_topic))]
        assert [(e["detector"], e["series"], e["state"]) for e in first_events] == [("repeat_contact", PHONE, "open")]
        assert first_events[0]["evidence"]["victims"] == 5
        assert len(receiver.posts) == 1 and verify(SECRET, receiver.posts[0][1], receiver.posts[0][0][SIGNATURE_HEADER])

        worker.kill()
        asyncio.run(produce(settings, [encode_envelope(settings.broker_epoch, contact_reports(5, 1))]))
        worker.start()
        wait_until(lambda: scalar(ch, f"SELECT count() FROM {database}.reports") == 6, 90, "the sixth report stored")
        wait_until(lambda: worker.log.read_text().count("alert engine ready") == 2, 60, "the restarted engine")
        time.sleep(3)  # several detection cycles of the restarted worker, each of which could re-fire
        events = [json.loads(v) for v in asyncio.run(read_all(settings, settings.alerts_topic))]
        assert [e["event_id"] for e in events] == [first_events[0]["event_id"]]
        assert len(receiver.posts) == 1
        assert ch.query(f"SELECT alert_id, state FROM {database}.alerts FINAL").result_rows == [
            (first_events[0]["alert_id"], "open")
        ]
    finally:
        worker.stop()
        receiver.close()


def test_people_on_duty_list_show_ack_and_export_the_blocklist(
    store: AlertStore, loader: Loader, clickhouse_url: str, database: str
) -> None:
    plant(loader)
    AlertEngine(store, T, None, None).detect(NOW)
    env = {"FRAUDWATCH_CLICKHOUSE_URL": clickhouse_url, "FRAUDWATCH_CLICKHOUSE_DATABASE": database,
           "FRAUDWATCH_HASH_KEY": KEY.decode()}  # fmt: skip

    def run(*args: str) -> Result:
        return CliRunner().invoke(alerts, list(args), env=env, catch_exceptions=False)

    listed = json.loads(run("list", "--format", "json").output)
    assert sorted(r["detector"] for r in listed) == ["leak_exploitation", "repeat_contact", "surge"]
    assert {r["state"] for r in listed} == {"open"} and {r["acked"] for r in listed} == {""}
    surge_id = next(r["alert_id"] for r in listed if r["detector"] == "surge")
    assert [r["alert_id"] for r in json.loads(run("list", "--detector", "surge", "--format", "json").output)] == [
        surge_id
    ]
    assert json.loads(run("list", "--state", "resolved", "--format", "json").output) == []

    shown = json.loads(run("show", surge_id).output)
    assert shown["evidence"]["observed"] == 20 and shown["acked"] == 0
    missing = CliRunner().invoke(alerts, ["show", "al-nope"], env=env)
    assert missing.exit_code == 1 and "no alert 'al-nope'" in missing.output

    assert run("ack", surge_id, "--by", "duty-officer-7", "--note", "province centre informed").exit_code == 0
    acked = json.loads(run("show", surge_id).output)
    assert (acked["acked"], acked["acked_by"], acked["ack_note"], acked["state"]) == (
        1, "duty-officer-7", "province centre informed", "open"
    )  # fmt: skip
    assert CliRunner().invoke(alerts, ["ack", "al-nope", "--by", "x"], env=env).exit_code == 1

    exported = run("blocklist").output.splitlines()
    assert f"key fingerprint {key_fingerprint(KEY)}" in exported[1]
    assert [line.split(",")[:1] + line.split(",")[2:] for line in exported[3:]] == [[PHONE, "5", "600010"]]
    assert "17000000001" not in "\n".join(exported)
