"""ClickHouse side of early warning: the detectors' observations, and the alerts table.

The detectors (streams/detectors.py) count what ClickHouse holds, not what the worker happened to
see: facts are written exactly once, so their counts do not change with redelivery, restarts or the
number of workers. Every query here is bounded to the detector's windows, which the fact table's
partitioning by month and the leak links' order keep cheap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from fraudwatch.regions import PROVINCES
from streams.detectors import (
    Alert,
    AlertState,
    ContactActivity,
    Detector,
    SeriesCounts,
    Window,
)

ALERT_COLUMNS: Final = (
    "alert_id", "detector", "series", "state", "title", "score", "opened_at", "updated_at", "resolved_at",
    "evidence", "topic_delivery", "webhook_delivery", "version",
)  # fmt: skip
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Which window (1-based, 0 = none) a row's time in epoch milliseconds falls in: (start, end].
_WINDOW_OF = "arrayFirstIndex((s, e) -> t > s AND t <= e, {starts:Array(Int64)}, {ends:Array(Int64)})"


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _window_parameters(windows: Sequence[Window]) -> dict[str, Any]:
    starts = [_millis(w.start) for w in windows]
    ends = [_millis(w.end) for w in windows]
    return {"starts": starts, "ends": ends, "lo": min(starts), "hi": max(ends)}


def _series_counts(rows: Iterable[Sequence[Any]], windows: int) -> dict[str, tuple[list[int], int]]:
    """(series, window index, reports, loss) rows into per-series counts by window, and loss in the first."""
    found: dict[str, tuple[list[int], int]] = {}
    for series, index, reports, loss in rows:
        counts, current_loss = found.get(series, ([0] * windows, 0))
        counts[index - 1] = int(reports)
        found[series] = (counts, int(loss) if index == 1 else current_loss)
    return found


@dataclass(frozen=True, slots=True)
class AlertFilter:
    state: str | None = None
    detector: str | None = None
    since: datetime | None = None
    limit: int = 100


class AlertStore:
    """Reads the detectors' inputs and keeps the alerts, for one database."""

    def __init__(self, client: Client, database: str, zone: ZoneInfo) -> None:
        self.client, self.db, self.zone = client, database, zone
        self._last_version = 0

    def _rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Sequence[Any]]:
        return list(self.client.query(sql.replace("{db}", self.db), parameters=parameters or {}).result_rows)

    # -- observations ---------------------------------------------------------------------------

    def earliest_report(self) -> datetime | None:
        """When the oldest report held was made: baseline windows before it saw nothing."""
        rows = self._rows("SELECT count(), min(reported_at) FROM {db}.reports")
        count, earliest = rows[0]
        return earliest if count else None

    def surge_counts(self, windows: Sequence[Window]) -> list[SeriesCounts]:
        """Reports per category × province in each window; only series with reports in the first."""
        rows = self._rows(
            f"""
            SELECT concat(category, '|', province_code) AS series, w, count(), sum(amount_lost_fen)
            FROM (
                SELECT category, province_code, amount_lost_fen, toUnixTimestamp64Milli(reported_at) AS t,
                       {_WINDOW_OF} AS w
                FROM {{db}}.reports
                WHERE reported_at > fromUnixTimestamp64Milli({{lo:Int64}})
                  AND reported_at <= fromUnixTimestamp64Milli({{hi:Int64}})
            )
            WHERE w > 0
            GROUP BY series, w
            """,
            _window_parameters(windows),
        )
        found = _series_counts(rows, len(windows))
        return [
            SeriesCounts(series, counts, loss, {"category": series.split("|")[0],
                                                "province_code": series.split("|")[1],
                                                "province_name": PROVINCES.get(series.split("|")[1][:2], "")})
            for series, (counts, loss) in sorted(found.items())
            if counts[0] > 0
        ]  # fmt: skip

    def leak_counts(self, windows: Sequence[Window]) -> list[SeriesCounts]:
        """Reports linked to each leak batch (by victim) in each window; batches linked in the first."""
        rows = self._rows(
            f"""
            SELECT batch_id, w, count(), sum(loss)
            FROM (
                SELECT batch_id, any(amount_lost_fen) AS loss, toUnixTimestamp64Milli(any(reported_at)) AS t,
                       {_WINDOW_OF} AS w
                FROM {{db}}.report_leak_links
                WHERE reported_at > fromUnixTimestamp64Milli({{lo:Int64}})
                  AND reported_at <= fromUnixTimestamp64Milli({{hi:Int64}})
                GROUP BY batch_id, report_id
            )
            WHERE w > 0
            GROUP BY batch_id, w
            """,
            _window_parameters(windows),
        )
        found = {s: c for s, c in _series_counts(rows, len(windows)).items() if c[0][0] > 0}
        details = self.leak_batch_details(list(found))
        return [
            SeriesCounts(batch, counts, loss, details.get(batch, {})) for batch, (counts, loss) in sorted(found.items())
        ]

    def leak_batch_details(self, batch_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Source, industry and size of batches, with how many of their identifiers no report links yet:
        the people still to warn."""
        if not batch_ids:
            return {}
        rows = self._rows(
            """
            SELECT b.batch_id, b.source_type, b.industry, b.records, b.identifiers, b.severity_label,
                   l.linked_reports, l.linked_identifiers, l.linked_loss
            FROM (SELECT * FROM {db}.leak_batches FINAL WHERE batch_id IN {batches:Array(String)}) AS b
            LEFT JOIN (
                SELECT batch_id, uniqExact(report_id) AS linked_reports,
                       uniqExactArray(identifiers) AS linked_identifiers,
                       sum(amount_lost_fen) AS linked_loss
                FROM (SELECT * FROM {db}.report_leak_links FINAL WHERE batch_id IN {batches:Array(String)})
                GROUP BY batch_id
            ) AS l ON l.batch_id = b.batch_id
            """,
            {"batches": list(batch_ids)},
        )
        return {
            batch: {
                "batch_id": batch, "source_type": source, "industry": industry, "records": int(records),
                "identifiers": int(identifiers), "severity": severity, "linked_reports_total": int(reports),
                "linked_loss_fen_total": int(loss),
                "identifiers_not_yet_linked": max(0, int(identifiers) - int(linked)),
            }
            for batch, source, industry, records, identifiers, severity, reports, linked, loss in rows
        }  # fmt: skip

    def contact_activity(self, window: Window, min_victims: int, min_regions: int) -> list[ContactActivity]:
        """Scammer contacts in reports of at least `min_victims` victims or `min_regions` districts in the
        window, and the contacts of the repeat-contact alerts open now, whatever their numbers.

        A victim is the ID-card hash when known, else the phone hash, else the report itself.
        """
        rows = self._rows(
            """
            SELECT contact, uniqExact(victim) AS victims, uniqExact(region_code) AS regions, count(),
                   sum(amount_lost_fen), min(reported_at), max(reported_at), groupUniqArray(province_code),
                   groupUniqArray(category)
            FROM (
                SELECT arrayJoin(scammer_contacts) AS contact, region_code, province_code, category,
                       amount_lost_fen, reported_at,
                       multiIf(victim_id_hash != '', victim_id_hash, victim_phone_hash != '', victim_phone_hash,
                               concat('report:', report_id)) AS victim
                FROM {db}.reports
                WHERE reported_at > fromUnixTimestamp64Milli({lo:Int64})
                  AND reported_at <= fromUnixTimestamp64Milli({hi:Int64})
                  AND notEmpty(scammer_contacts)
            )
            GROUP BY contact
            HAVING victims >= {min_victims:UInt32} OR regions >= {min_regions:UInt32} OR contact IN (
                SELECT series FROM {db}.alerts FINAL WHERE detector = 'repeat_contact' AND state = 'open'
            )
            ORDER BY contact
            """,
            {"lo": _millis(window.start), "hi": _millis(window.end), "min_victims": min_victims,
             "min_regions": min_regions},
        )  # fmt: skip
        return [
            ContactActivity(contact, int(victims), int(regions), int(reports), int(loss), first, last,
                            tuple(provinces), tuple(categories))
            for contact, victims, regions, reports, loss, first, last, provinces, categories in rows
        ]  # fmt: skip

    # -- alerts ---------------------------------------------------------------------------------

    def _next_version(self) -> int:
        """Microseconds now, and always above this store's previous write (several writes may share one)."""
        self._last_version = max(self._last_version + 1, time.time_ns() // 1000)
        return self._last_version

    def save(self, alerts: Iterable[Alert]) -> None:
        rows = [
            [a.alert_id, a.detector.value, a.series, a.state.value, a.title, a.score, a.opened_at, a.updated_at,
             a.resolved_at or _EPOCH, json.dumps(a.evidence, ensure_ascii=False, sort_keys=True, default=str),
             a.topic_delivery, a.webhook_delivery, self._next_version()]
            for a in alerts
        ]  # fmt: skip
        if rows:
            self.client.insert(f"{self.db}.alerts", rows, column_names=list(ALERT_COLUMNS))

    def _alert(self, row: Sequence[Any]) -> Alert:
        record = dict(zip(ALERT_COLUMNS, row, strict=False))
        resolved_at = record["resolved_at"]
        return Alert(
            alert_id=record["alert_id"], detector=Detector(record["detector"]), series=record["series"],
            state=AlertState(record["state"]), title=record["title"], score=float(record["score"]),
            opened_at=record["opened_at"], updated_at=record["updated_at"],
            resolved_at=None if resolved_at is None or resolved_at.timestamp() <= 0 else resolved_at,
            evidence=json.loads(record["evidence"] or "{}"), topic_delivery=int(record["topic_delivery"]),
            webhook_delivery=int(record["webhook_delivery"]),
        )  # fmt: skip

    def unsettled(self) -> list[Alert]:
        """Alerts still open, and alerts whose current state is not yet delivered everywhere."""
        columns = ", ".join(ALERT_COLUMNS)
        rows = self._rows(
            f"SELECT {columns} FROM {{db}}.alerts FINAL "
            "WHERE state = 'open' OR topic_delivery = 0 OR webhook_delivery = 0 ORDER BY opened_at, alert_id"
        )
        return [self._alert(r) for r in rows]

    def listing(self, chosen: AlertFilter) -> tuple[tuple[str, ...], list[Sequence[Any]]]:
        """Alerts newest first, as (columns, rows) for the CLI."""
        rows = self._rows(
            """
            SELECT alert_id, detector, state, if(acked, 'yes', '') AS acked, round(score, 2) AS score,
                   opened_at, if(state = 'resolved', toString(resolved_at), '') AS resolved_at, title
            FROM {db}.alerts_current
            WHERE ({state:String} = '' OR state = {state:String})
              AND ({detector:String} = '' OR detector = {detector:String})
              AND opened_at >= fromUnixTimestamp64Milli({since:Int64})
            ORDER BY opened_at DESC, alert_id
            LIMIT {limit:UInt32}
            """,
            {"state": chosen.state or "", "detector": chosen.detector or "",
             "since": _millis(chosen.since) if chosen.since else 0, "limit": chosen.limit},
        )  # fmt: skip
        return ("alert_id", "detector", "state", "acked", "score", "opened_at", "resolved_at", "title"), rows

    def get(self, alert_id: str) -> dict[str, Any] | None:
        """Everything known of one alert, its evidence decoded; None when there is no such alert."""
        result = self.client.query(
            f"SELECT * FROM {self.db}.alerts_current WHERE alert_id = {{id:String}}", parameters={"id": alert_id}
        )
        if not result.result_rows:
            return None
        record = dict(zip(result.column_names, result.result_rows[0], strict=True))
        record["evidence"] = json.loads(record["evidence"] or "{}")
        return record

    def ack(self, alert_id: str, by: str, note: str) -> None:
        columns = ["alert_id", "acked_by", "note"]
        self.client.insert(f"{self.db}.alert_acks", [[alert_id, by, note]], column_names=columns)

    def blocklist(self, since: datetime | None, include_resolved: bool) -> list[tuple[str, datetime, int, int]]:
        """Hashed scammer contacts of repeat-contact alerts: (contact, opened_at, victims, loss_fen)."""
        rows = self._rows(
            """
            SELECT series, min(opened_at), max(toUInt64(JSONExtractInt(evidence, 'victims'))),
                   max(toUInt64(JSONExtractInt(evidence, 'loss_fen')))
            FROM {db}.alerts_current
            WHERE detector = 'repeat_contact' AND opened_at >= fromUnixTimestamp64Milli({since:Int64})
              AND ({all:UInt8} OR state = 'open')
            GROUP BY series
            ORDER BY series
            """,
            {"since": _millis(since) if since else 0, "all": int(include_resolved)},
        )
        return [(str(c), opened, int(victims), int(loss)) for c, opened, victims, loss in rows]

    def summary(self) -> tuple[dict[str, int], int]:
        """Open alerts per detector, and alert states not yet delivered everywhere (`fraudwatch status`)."""
        rows = self._rows(
            "SELECT detector, countIf(state = 'open'), countIf(topic_delivery = 0 OR webhook_delivery = 0) "
            "FROM {db}.alerts FINAL GROUP BY detector ORDER BY detector"
        )
        return {str(d): int(n) for d, n, _ in rows if n}, sum(int(u) for _, _, u in rows)
