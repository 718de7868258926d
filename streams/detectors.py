"""Early-warning detectors as pure functions: scores, windows and the open/resolve decisions.

Three detectors look at what ClickHouse holds (exactly-once facts) and decide which alerts to open
and which to resolve; sinks/alerts.py fetches their observations, streams/alerting.py glues them to
the worker. Nothing here does I/O, reads a clock or imports faust, so every decision is a function
of its arguments and is tested directly.

- **surge**: reports per category × province in the last window, scored against the same window of
  the day on earlier days (so the daily cycle is part of the baseline). The score is the negative
  log10 of the upper tail of a Gamma–Poisson (negative binomial) predictive distribution, which stays
  sensible with counts of 0–3 and with only a few baseline days, where a plain Poisson with the
  baseline mean as its rate would raise alarms on noise.
- **repeat_contact**: one hashed scammer contact in reports of N distinct victims or from M districts
  within the window.
- **leak_exploitation**: reports linked to one leak batch in the last window, scored like a surge
  against the batch's own earlier windows.

One alert per series stays open until the series falls back (hysteresis: opening needs a higher
score than staying open), then it is resolved. An alert's id is derived from its detector, series
and opening time, so writing it twice writes the same alert.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

ALERT_SCHEMA: Final = "fraudwatch.alert.v1"
MAX_SCORE: Final = 99.0
DAY: Final = timedelta(days=1)


class Detector(StrEnum):
    SURGE = "surge"
    REPEAT_CONTACT = "repeat_contact"
    LEAK_EXPLOITATION = "leak_exploitation"


class AlertState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


# Delivery to one destination (the alerts topic, the webhook) of an alert's current state.
PENDING: Final = 0
DELIVERED: Final = 1
REFUSED: Final = 2  # the receiver answered with a permanent error; retrying would not help


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The detectors' settings (fraudwatch.settings.Settings.alert_* fields)."""

    surge_window: timedelta = timedelta(hours=1)
    baseline_days: int = 7
    surge_min_reports: int = 8
    open_score: float = 6.0
    resolve_score: float = 2.0
    contact_window: timedelta = timedelta(days=7)
    contact_min_victims: int = 5
    contact_min_regions: int = 3
    leak_window: timedelta = timedelta(hours=24)
    leak_min_reports: int = 5
    # Prior of the Gamma–Poisson baseline: as if `prior_windows` earlier windows had held
    # `prior_reports` reports between them. Weak, so that a busy series' baseline is its own mean, yet
    # a series never seen before does not score infinity on its first report.
    prior_reports: float = 0.5
    prior_windows: float = 0.1


@dataclass(frozen=True, slots=True)
class Window:
    """Reports between `start` (exclusive) and `end` (inclusive): the age band (end-now, start-now]."""

    start: datetime
    end: datetime


def baseline_windows(now: datetime, length: timedelta, days: int, earliest: datetime | None) -> list[Window]:
    """The window ending `now` first, then the same window of the day on each of `days` earlier days.

    Earlier windows before `earliest` (the oldest report held) are left out: a platform that was not
    yet recording saw nothing, which is not the same as a quiet day.
    """
    windows = [Window(now - length, now)]
    for d in range(1, days + 1):
        end = now - d * DAY
        if earliest is not None and end - length >= earliest:
            windows.append(Window(end - length, end))
    return windows


def negative_binomial_tail(k: int, shape: float, p: float) -> float:
    """P(X >= k) for X ~ NB(shape, p): P(X = j) = Γ(j+shape) / (Γ(shape) j!) p^shape (1-p)^j."""
    if k <= 0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def log_pmf(j: int) -> float:
        return math.lgamma(j + shape) - math.lgamma(shape) - math.lgamma(j + 1) + shape * log_p + j * log_q

    mode = max(0, math.floor((shape - 1) * (1 - p) / p))
    if k <= mode:  # the tail holds most of the mass: 1 - head is exact enough
        return max(0.0, 1.0 - sum(math.exp(log_pmf(j)) for j in range(k)))
    # Past the mode the terms fall at least geometrically: sum them until they stop mattering.
    total, j = 0.0, k
    while True:
        term = math.exp(log_pmf(j))
        total += term
        if term < total * 1e-12 or j > k + 100_000:
            return total
        j += 1


@dataclass(frozen=True, slots=True)
class Score:
    observed: int
    expected: float
    score: float
    baseline_windows: int


def surprise(observed: int, baseline: Sequence[int], thresholds: Thresholds) -> Score:
    """How surprising `observed` is after earlier windows' counts `baseline`, as -log10 of its tail.

    Gamma(prior_reports + Σ baseline, prior_windows + n) over the window's rate; the predictive count
    of one more window is then negative binomial.
    """
    shape = thresholds.prior_reports + sum(baseline)
    rate = thresholds.prior_windows + len(baseline)
    tail = negative_binomial_tail(observed, shape, rate / (rate + 1.0))
    score = MAX_SCORE if tail <= 10**-MAX_SCORE else min(MAX_SCORE, -math.log10(tail))
    return Score(observed, shape / rate, round(max(score, 0.0), 3), len(baseline))


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert in its current state; `evidence` holds counts and hashed identifiers only."""

    alert_id: str
    detector: Detector
    series: str
    state: AlertState
    title: str
    score: float
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    topic_delivery: int = PENDING
    webhook_delivery: int = PENDING

    @property
    def event_id(self) -> str:
        """Names this alert in this state: a consumer that saw the id before has seen this event."""
        return f"{self.alert_id}:{self.state.value}"

    @property
    def delivered(self) -> bool:
        return self.topic_delivery != PENDING and self.webhook_delivery != PENDING

    def event(self) -> dict[str, Any]:
        """The alert event as published on the alerts topic and posted to the webhook (schemas/alert-v1)."""
        return {
            "schema": ALERT_SCHEMA,
            "event_id": self.event_id,
            "alert_id": self.alert_id,
            "detector": self.detector.value,
            "series": self.series,
            "state": self.state.value,
            "title": self.title,
            "score": self.score,
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "event_at": self.updated_at.isoformat(),
            "evidence": dict(self.evidence),
        }


def alert_id(detector: Detector, series: str, opened_at: datetime) -> str:
    digest = hashlib.sha256(f"{detector.value}|{series}|{opened_at.isoformat()}".encode()).hexdigest()
    return f"al-{digest[:20]}"


def opened(
    detector: Detector, series: str, title: str, score: float, now: datetime, evidence: Mapping[str, Any]
) -> Alert:
    identity = alert_id(detector, series, now)
    return Alert(identity, detector, series, AlertState.OPEN, title, score, now, now, evidence=dict(evidence))


def resolved(alert: Alert, now: datetime, score: float, evidence: Mapping[str, Any]) -> Alert:
    return replace(
        alert, state=AlertState.RESOLVED, score=score, updated_at=now, resolved_at=now,
        evidence={**alert.evidence, "at_resolution": dict(evidence)}, topic_delivery=PENDING,
        webhook_delivery=PENDING,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SeriesCounts:
    """Reports of one series in the current window (index 0) and in each baseline window after it."""

    series: str
    counts: Sequence[int]
    loss_fen: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)


def _window_evidence(window: Window, score: Score, loss_fen: int) -> dict[str, Any]:
    return {
        "window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
        "observed": score.observed, "expected": round(score.expected, 3), "score": score.score,
        "baseline_windows": score.baseline_windows, "loss_fen": loss_fen,
    }  # fmt: skip


def _scored_decisions(
    detector: Detector,
    observations: Iterable[SeriesCounts],
    open_alerts: Mapping[str, Alert],
    window: Window,
    min_reports: int,
    thresholds: Thresholds,
    title: Callable[[str, Score, Mapping[str, Any]], str],
) -> list[Alert]:
    """Open a series scoring at least open_score with min_reports; resolve an open one below resolve_score."""
    changes = []
    seen: dict[str, SeriesCounts] = {o.series: o for o in observations}
    for series in sorted(set(seen) | set(open_alerts)):
        counts = seen.get(series, SeriesCounts(series, [0]))
        score = surprise(counts.counts[0], counts.counts[1:], thresholds)
        evidence = {**counts.details, **_window_evidence(window, score, counts.loss_fen)}
        current = open_alerts.get(series)
        if current is None:
            if score.observed >= min_reports and score.score >= thresholds.open_score:
                heading = title(series, score, evidence)
                changes.append(opened(detector, series, heading, score.score, window.end, evidence))
        elif score.score < thresholds.resolve_score:
            changes.append(resolved(current, window.end, score.score, evidence))
    return changes


def surge_series(category: str, province_code: str) -> str:
    return f"{category}|{province_code}"


def surge_decisions(
    observations: Iterable[SeriesCounts], open_alerts: Mapping[str, Alert], window: Window, thresholds: Thresholds
) -> list[Alert]:
    """Surge alerts to open or resolve; `open_alerts` are the surge alerts open now, by series."""

    def title(series: str, score: Score, evidence: Mapping[str, Any]) -> str:
        where = evidence.get("province_name") or series.split("|")[1]
        minutes = round(thresholds.surge_window.total_seconds() / 60)
        return (f"Surge of {series.split('|')[0]} in {where}: {score.observed} reports in {minutes} min, "
                f"{score.expected:.1f} expected")  # fmt: skip

    return _scored_decisions(Detector.SURGE, observations, open_alerts, window, thresholds.surge_min_reports,
                             thresholds, title)  # fmt: skip


def leak_decisions(
    observations: Iterable[SeriesCounts], open_alerts: Mapping[str, Alert], window: Window, thresholds: Thresholds
) -> list[Alert]:
    """Leak batches under active exploitation: linked reports per batch against the batch's own past."""

    def title(series: str, score: Score, evidence: Mapping[str, Any]) -> str:
        hours = round(thresholds.leak_window.total_seconds() / 3600)
        return (f"Leak batch {series} under exploitation: {score.observed} linked reports in {hours} h, "
                f"{score.expected:.1f} expected")  # fmt: skip

    return _scored_decisions(Detector.LEAK_EXPLOITATION, observations, open_alerts, window,
                             thresholds.leak_min_reports, thresholds, title)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContactActivity:
    """One hashed scammer contact's reports within the contact window."""

    contact: str
    victims: int
    regions: int
    reports: int
    loss_fen: int
    first_seen: datetime
    last_seen: datetime
    provinces: Sequence[str] = ()
    categories: Sequence[str] = ()

    def evidence(self) -> dict[str, Any]:
        return {
            "contact": self.contact, "kind": self.contact.split(":", 1)[0], "victims": self.victims,
            "regions": self.regions, "reports": self.reports, "loss_fen": self.loss_fen,
            "first_seen": self.first_seen.isoformat(), "last_seen": self.last_seen.isoformat(),
            "provinces": sorted(self.provinces), "categories": sorted(self.categories),
        }  # fmt: skip


def contact_decisions(
    activity: Iterable[ContactActivity], open_alerts: Mapping[str, Alert], now: datetime, thresholds: Thresholds
) -> list[Alert]:
    """Open an alert for a contact in reports of enough victims or districts; resolve it once the
    window no longer holds enough (the contact went quiet)."""
    changes = []
    seen = {a.contact: a for a in activity}
    for contact in sorted(set(seen) | set(open_alerts)):
        found = seen.get(contact)
        hot = found is not None and (
            found.victims >= thresholds.contact_min_victims or found.regions >= thresholds.contact_min_regions
        )
        current = open_alerts.get(contact)
        if current is None and found is not None and hot:
            title = (f"Scammer {found.contact.split(':', 1)[0]} contact in reports of {found.victims} victims "
                     f"from {found.regions} districts")  # fmt: skip
            changes.append(opened(Detector.REPEAT_CONTACT, contact, title, float(found.victims), now, found.evidence()))
        elif current is not None and not hot:
            changes.append(resolved(current, now, float(found.victims if found else 0),
                                    found.evidence() if found else {"victims": 0, "reports": 0}))  # fmt: skip
    return changes
