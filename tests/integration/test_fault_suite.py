"""The short variant of the fault suite: worker and API kills under load, bad requests, a PII scan."""

from __future__ import annotations

from pathlib import Path

from fraudwatch.faults import run


def test_short_fault_suite_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    summary = run(tmp_path / "suite", reports=1500, cycles=3, bad=300, seed=7, echo=print)
    print(summary.table())
    assert summary.faults_injected >= 3
    assert summary.reports_accepted > 1000
    assert summary.reports_in_clickhouse == summary.reports_accepted
    assert (summary.duplicates, summary.lost, summary.rollup_mismatch) == (0, 0, 0)
    assert summary.bad_requests == 300 and summary.server_errors == 0
    assert summary.raw_identifiers_found == 0
    assert summary.passed
