"""The early-warning detectors' pure decisions: scores, windows, opening and resolving alerts."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest

from streams.detectors import (
    AlertState,
    ContactActivity,
    Detector,
    SeriesCounts,
    Thresholds,
    Window,
    alert_id,
    baseline_windows,
    contact_decisions,
    negative_binomial_tail,
    surge_decisions,
    surprise,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=SHANGHAI)
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "alert-v1.schema.json").read_text())
T = Thresholds()


def brute_force_tail(k: int, shape: float, p: float) -> float:
    """The tail summed term by term far past where the terms matter."""

    def pmf(j: int) -> float:
        return math.exp(
            math.lgamma(j + shape) - math.lgamma(shape) - math.lgamma(j + 1) + shape * math.log(p) + j * math.log1p(-p)
        )

    return math.fsum(pmf(j) for j in range(k, k + 20_000))


@pytest.mark.parametrize(
    ("k", "shape", "p"), [(0, 2.0, 0.5), (1, 1.0, 0.9), (3, 5.5, 0.3), (12, 30.0, 0.6), (40, 141.0, 8 / 9)]
)
def test_tail_matches_the_distribution(k: int, shape: float, p: float) -> None:
    assert negative_binomial_tail(k, shape, p) == pytest.approx(brute_force_tail(k, shape, p), rel=1e-9, abs=1e-15)


def test_tail_of_a_geometric_is_exact_far_out() -> None:
    # shape 1: P(X >= k) = (1-p)^k, small enough that 1 - head would have lost it
    assert negative_binomial_tail(20, 1.0, 0.9) == pytest.approx(0.1**20, rel=1e-9)


def test_a_quiet_series_with_a_burst_scores_high_and_a_busy_one_does_not() -> None:
    assert surprise(9, [0] * 7, T).score > T.open_score
    assert surprise(9, [8, 10, 9, 7, 11, 9, 8], T).score < T.resolve_score
    assert surprise(40, [20] * 7, T).score < T.open_score  # twice the usual is not yet alarming
    burst = surprise(60, [20] * 7, T)
    assert burst.expected == pytest.approx((T.prior_reports + 140) / (T.prior_windows + 7))
    assert burst.score > T.open_score


def test_few_baseline_windows_widen_the_doubt() -> None:
    # the same mean seen on one day is weaker evidence than on seven
    assert surprise(10, [2], T).score < surprise(10, [2] * 7, T).score


def test_baseline_leaves_out_days_before_the_first_report() -> None:
    hour = timedelta(hours=1)
    windows = baseline_windows(NOW, hour, 7, earliest=NOW - timedelta(days=3, minutes=30))
    assert windows[0] == Window(NOW - hour, NOW)
    assert [w.end for w in windows[1:]] == [NOW - timedelta(days=1), NOW - timedelta(days=2)]
    assert len(baseline_windows(NOW, hour, 7, earliest=NOW - timedelta(days=30))) == 8
    assert baseline_windows(NOW, hour, 7, earliest=None) == [Window(NOW - hour, NOW)]  # nothing held yet


def test_surge_opens_once_and_resolves_when_it_falls_back() -> None:
    window = Window(NOW - T.surge_window, NOW)
    surge = SeriesCounts("investment|440000", [15, 1, 0, 2, 1, 0, 1, 0], 300_000, {"province_name": "广东"})
    quiet = SeriesCounts("loan|110000", [3, 2, 4, 3, 2, 3, 3, 2])
    opened = surge_decisions([surge, quiet], {}, window, T)
    assert [(a.detector, a.series, a.state) for a in opened] == [(Detector.SURGE, "investment|440000", AlertState.OPEN)]
    alert = opened[0]
    assert alert.evidence["observed"] == 15 and alert.evidence["loss_fen"] == 300_000
    assert "广东" in alert.title
    assert surge_decisions([surge], {alert.series: alert}, window, T) == []  # still open: nothing new
    later = Window(NOW, NOW + T.surge_window)
    calm = surge_decisions(
        [SeriesCounts("investment|440000", [1, 1, 0, 2, 1, 0, 1, 0])], {alert.series: alert}, later, T
    )
    assert [(a.alert_id, a.state) for a in calm] == [(alert.alert_id, AlertState.RESOLVED)]
    assert calm[0].resolved_at == NOW + T.surge_window
    # a series whose open alert has no reports at all in the window resolves too
    assert surge_decisions([], {alert.series: alert}, later, T)[0].state is AlertState.RESOLVED


def test_no_surge_below_the_minimum_count() -> None:
    window = Window(NOW - T.surge_window, NOW)
    assert (
        surge_decisions([SeriesCounts("loan|110000", [T.surge_min_reports - 1, 0, 0, 0, 0, 0, 0, 0])], {}, window, T)
        == []
    )


def activity(contact: str, victims: int, regions: int) -> ContactActivity:
    return ContactActivity(contact, victims, regions, victims, 1000 * victims, NOW - timedelta(days=1), NOW,
                           ("440000",), ("investment",))  # fmt: skip


def test_repeat_contact_needs_enough_victims_or_districts() -> None:
    found = [activity("phone:aa", 5, 1), activity("phone:bb", 4, 2), activity("qq:cc", 2, 3)]
    opened = contact_decisions(found, {}, NOW, T)
    assert sorted(a.series for a in opened) == ["phone:aa", "qq:cc"]
    by_series = {a.series: a for a in opened}
    assert by_series["phone:aa"].evidence["victims"] == 5
    assert contact_decisions(found, by_series, NOW, T) == []
    gone = contact_decisions([activity("qq:cc", 2, 3)], by_series, NOW + timedelta(days=8), T)
    assert [(a.series, a.state) for a in gone] == [("phone:aa", AlertState.RESOLVED)]


def test_alert_ids_are_stable_and_events_follow_the_schema() -> None:
    assert alert_id(Detector.SURGE, "loan|110000", NOW) == alert_id(Detector.SURGE, "loan|110000", NOW)
    assert alert_id(Detector.SURGE, "loan|110000", NOW) != alert_id(Detector.SURGE, "loan|120000", NOW)
    window = Window(NOW - T.surge_window, NOW)
    alert = surge_decisions([SeriesCounts("loan|110000", [20, 0, 1, 0, 0, 0, 0, 0])], {}, window, T)[0]
    jsonschema.validate(alert.event(), SCHEMA)
    resolved = surge_decisions([], {alert.series: alert}, Window(NOW, NOW + T.surge_window), T)[0]
    event = resolved.event()
    jsonschema.validate(event, SCHEMA)
    assert event["event_id"] == f"{alert.alert_id}:resolved" and event["evidence"]["at_resolution"]["observed"] == 0


def test_hours_of_poisson_noise_with_a_daily_cycle_raise_nothing() -> None:
    """372 series (12 categories x 31 provinces) with their own rates and a daily cycle, evaluated every
    hour for two days against a week of history: a quiet stream must not alert."""
    rng = random.Random(7)
    rates = [rng.choice([0.05, 0.2, 0.5, 1, 2, 5, 12]) for _ in range(372)]

    def cycle(hour: int) -> float:
        return 0.4 + 0.6 * math.sin(math.pi * (hour % 24) / 24) ** 2  # busy afternoons, quiet nights

    def poisson(lam: float) -> int:
        # Knuth's method; fine for the small rates here
        limit, k, product = math.exp(-lam), 0, rng.random()
        while product > limit:
            k += 1
            product *= rng.random()
        return k

    history = [[poisson(rate * cycle(h)) for h in range(24 * 9)] for rate in rates]
    opened = 0
    for now_hour in range(24 * 7, 24 * 9):
        window = Window(NOW + timedelta(hours=now_hour - 1), NOW + timedelta(hours=now_hour))
        observations = [
            SeriesCounts(f"c{i}|p", [series[now_hour - 1 - 24 * d] for d in range(8)])
            for i, series in enumerate(history)
        ]
        opened += len(surge_decisions(observations, {}, window, T))
    assert opened == 0


def test_a_planted_surge_in_noise_is_found_and_only_it() -> None:
    rng = random.Random(11)
    observations = [SeriesCounts(f"c{i}|p", [rng.randint(0, 3) for _ in range(8)]) for i in range(300)]
    observations.append(SeriesCounts("investment|440000", [25, 2, 1, 3, 2, 1, 2, 2]))
    window = Window(NOW - T.surge_window, NOW)
    assert [a.series for a in surge_decisions(observations, {}, window, T)] == ["investment|440000"]
