"""The early-warning cycle: observe ClickHouse, decide with the pure detectors, record, deliver.

One engine runs per platform (the worker group's leader runs it on a timer). Each cycle it
1. asks ClickHouse for the detectors' observations (exactly-once facts, so every worker and every
   restart sees the same counts),
2. lets streams.detectors decide which alerts open and which resolve,
3. records the changes in the `alerts` table before anything else (the table is the outbox), and
4. delivers each alert's current state to the alerts topic and the webhook, recording delivery.

State that must survive a restart lives in the `alerts` table: at start the engine reads the open
alerts (so an alert still running is neither lost nor opened again) and the undelivered ones (so a
crash between recording and delivering only delays the delivery). Deliveries are at least once; an
event's `event_id` tells a consumer it has seen it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fraudwatch.settings import Settings
from sinks.alerts import AlertStore
from sinks.webhook import Outcome, WebhookSender
from streams.detectors import (
    DELIVERED,
    PENDING,
    REFUSED,
    Alert,
    AlertState,
    Detector,
    Thresholds,
    Window,
    baseline_windows,
    contact_decisions,
    leak_decisions,
    surge_decisions,
)

log = logging.getLogger(__name__)

Publish = Callable[[bytes, bytes], Awaitable[None]]
_MAX_RETRY_PAUSE_S = 300.0


def thresholds_of(settings: Settings) -> Thresholds:
    return Thresholds(
        surge_window=timedelta(minutes=settings.alert_surge_window_minutes),
        baseline_days=settings.alert_baseline_days,
        surge_min_reports=settings.alert_surge_min_reports,
        open_score=settings.alert_open_score,
        resolve_score=settings.alert_resolve_score,
        contact_window=timedelta(days=settings.alert_contact_window_days),
        contact_min_victims=settings.alert_contact_min_victims,
        contact_min_regions=settings.alert_contact_min_regions,
        leak_window=timedelta(hours=settings.alert_leak_window_hours),
        leak_min_reports=settings.alert_leak_min_reports,
    )


def webhook_of(settings: Settings) -> WebhookSender | None:
    if settings.alert_webhook_url is None:
        return None
    return WebhookSender(
        settings.alert_webhook_url,
        settings.alert_webhook_secret.get_secret_value().encode(),
        timeout_s=settings.alert_webhook_timeout_s,
        attempts=settings.alert_webhook_attempts,
    )


@dataclass
class _Retry:
    not_before: float = 0.0
    pause_s: float = 1.0


class AlertEngine:
    """Runs the detectors over one ClickHouse database and delivers what they decide."""

    def __init__(
        self,
        store: AlertStore,
        thresholds: Thresholds,
        publish: Publish | None,
        webhook: WebhookSender | None,
    ) -> None:
        self.store, self.thresholds, self.publish, self.webhook = store, thresholds, publish, webhook
        self.open: dict[tuple[Detector, str], Alert] = {}
        self.undelivered: dict[str, Alert] = {}
        self._retries: dict[str, _Retry] = {}
        self._loaded = False

    def _open_of(self, detector: Detector) -> dict[str, Alert]:
        return {series: a for (d, series), a in self.open.items() if d is detector}

    def load(self) -> None:
        """Take over the open and undelivered alerts recorded by earlier lives of the engine."""
        for alert in self.store.unsettled():
            self._track(alert)
        self._loaded = True
        log.info("alert engine ready", extra={"open": len(self.open), "undelivered": len(self.undelivered)})

    def _track(self, alert: Alert) -> None:
        key = (alert.detector, alert.series)
        if alert.state is AlertState.OPEN:
            self.open[key] = alert
        elif self.open.get(key, alert).alert_id == alert.alert_id:
            self.open.pop(key, None)
        if alert.delivered:
            self.undelivered.pop(alert.alert_id, None)
        else:
            self.undelivered[alert.alert_id] = alert

    def detect(self, now: datetime) -> list[Alert]:
        """One detection pass at `now`: the alerts opened or resolved, already recorded."""
        if not self._loaded:
            self.load()
        t = self.thresholds
        earliest = self.store.earliest_report()
        surge_windows = baseline_windows(now, t.surge_window, t.baseline_days, earliest)
        leak_windows = baseline_windows(now, t.leak_window, t.baseline_days, earliest)
        contact_window = Window(now - t.contact_window, now)
        open_contacts = self._open_of(Detector.REPEAT_CONTACT)
        changes = [
            *surge_decisions(self.store.surge_counts(surge_windows), self._open_of(Detector.SURGE),
                             surge_windows[0], t),
            *contact_decisions(
                self.store.contact_activity(contact_window, t.contact_min_victims, t.contact_min_regions),
                open_contacts, now, t),
            *leak_decisions(self.store.leak_counts(leak_windows), self._open_of(Detector.LEAK_EXPLOITATION),
                            leak_windows[0], t),
        ]  # fmt: skip
        self.store.save(changes)
        for alert in changes:
            self._track(alert)
            log.warning(
                "alert opened" if alert.state is AlertState.OPEN else "alert resolved",
                extra={"alert_id": alert.alert_id, "detector": alert.detector.value, "title": alert.title,
                       "score": alert.score},
            )  # fmt: skip
        return changes

    async def deliver(self) -> int:
        """Deliver every recorded state not yet delivered; returns how many are still pending."""
        for alert_id, alert in list(self.undelivered.items()):
            retry = self._retries.get(alert_id)
            if retry and time.monotonic() < retry.not_before:
                continue
            body = json.dumps(alert.event(), ensure_ascii=False, sort_keys=True).encode()
            # A destination that is not configured counts as delivered: there is nothing to send it to.
            topic, hook = alert.topic_delivery, alert.webhook_delivery
            if topic == PENDING:
                topic = await self._publish(alert, body)
            if hook == PENDING:
                hook = await self._post(alert, body)
            updated = replace(alert, topic_delivery=topic, webhook_delivery=hook)
            if updated != alert:
                await asyncio.to_thread(self.store.save, [updated])
            if updated.delivered:
                self.undelivered.pop(alert_id, None)
                self._retries.pop(alert_id, None)
            else:
                self.undelivered[alert_id] = updated
                pause = self._retries.get(alert_id, _Retry()).pause_s
                self._retries[alert_id] = _Retry(time.monotonic() + pause, min(pause * 2, _MAX_RETRY_PAUSE_S))
        return len(self.undelivered)

    async def _publish(self, alert: Alert, body: bytes) -> int:
        if self.publish is None:
            return DELIVERED
        try:
            await self.publish(alert.alert_id.encode(), body)
        except Exception as exc:
            log.error("alert not published; will retry", extra={"alert_id": alert.alert_id, "error": str(exc)})
            return PENDING
        return DELIVERED

    async def _post(self, alert: Alert, body: bytes) -> int:
        if self.webhook is None:
            return DELIVERED
        outcome = await self.webhook.post(body, alert.event_id)
        return {Outcome.DELIVERED: DELIVERED, Outcome.REFUSED: REFUSED}.get(outcome, PENDING)

    async def cycle(self, now: datetime) -> list[Alert]:
        changes = await asyncio.to_thread(self.detect, now)
        await self.deliver()
        return changes
