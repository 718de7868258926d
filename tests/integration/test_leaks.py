"""Leak batches end to end: `fraudwatch leaks load` into the real embedded ClickHouse, reports streamed
through the real worker (also SIGKILLed mid-stream) and joined against the index, idempotent loads,
rescoring later batches, the analysts' views, and the loader without a running platform."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import clickhouse_connect
import pytest
from click.testing import CliRunner, Result
from clickhouse_connect.driver.client import Client

from fraudwatch.leaks_cmd import leaks
from fraudwatch.reports import ReportIn, sanitise
from fraudwatch.settings import Settings
from sinks.leaks import EMBEDDED_BOUND_CHUNK, LeakIndex
from sinks.writer import ReportSink
from streams.envelope import SanitisedReport, encode_envelope
from streams.facts import SourcePosition, facts_of
from tests.integration.conftest import free_port, scalar, wait_until, worker_settings
from tests.integration.test_worker import Worker, produce

SHANGHAI = ZoneInfo("Asia/Shanghai")
KEY = "leak-integration-test-key"
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)
REPORTS = 300
IN_A = range(0, 200)  # victims whose phone or ID number is in batch A
IN_B = range(150, 250)  # ... in batch B, loaded after the reports were processed
SCAMMERS_IN_A = 10


def phone(i: int) -> str:
    return f"139{i:08d}"


def id_card(i: int) -> str:
    return f"1101051990{i:07d}X"


def scammer_phone(i: int) -> str:
    return f"170{i:08d}"


def write_batch_a(path: Path) -> Path:
    """CSV: 200 victims (every fourth with location data: class A, 50 records: "serious") and 10
    scammers, plus 3 bad rows."""
    lines = ["姓名,手机号,身份证,位置"]
    for i in IN_A:
        lines.append(f"用户{i},{phone(i)},{id_card(i)},{'39.9N 116.4E' if i % 4 == 0 else ''}")
        if i == 50:
            lines += ["坏行,12x4,,", "少一列,13900000000", "无号码,,,"]  # lines 53, 54, 55
    lines += [f"骗子{s},{scammer_phone(s)},," for s in range(SCAMMERS_IN_A)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_batch_b(path: Path) -> Path:
    """JSON lines: 100 victims with addresses (class C only)."""
    rows = [{"mobile": phone(i), "idcard": id_card(i), "address": "某市某路1号"} for i in IN_B]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def make_reports() -> list[SanitisedReport]:
    """Victims by phone (even i, written the way people type it) or by ID number (odd i); every
    seventh report names a scammer phone that is in batch A, every eleventh one that is in no batch."""
    reports = []
    for i in range(REPORTS):
        p = phone(i)
        victim = {"phone": f"+86 {p[:3]}-{p[3:7]}-{p[7:]}"} if i % 2 == 0 else {"id_number": id_card(i).lower()}
        scammer = [scammer_phone(i % SCAMMERS_IN_A)] if i % 7 == 0 else []
        if i % 11 == 0:
            scammer.append(scammer_phone(500 + i))
        body = {
            "description": "网络游戏装备交易被骗",
            "region_code": "440305",
            "amount_lost": 100 + i,
            "reported_at": (T0 + timedelta(seconds=i)).isoformat(),
            "victim": victim,
            "scammer": {"phones": scammer},
        }
        reports.append(
            sanitise(ReportIn.model_validate(body), key=KEY.encode(), zone=SHANGHAI, now=T0 + timedelta(hours=1))
        )
    return reports


def cli(clickhouse_url: str, database: str, *args: str) -> Result:
    env = {
        "FRAUDWATCH_CLICKHOUSE_URL": clickhouse_url,
        "FRAUDWATCH_CLICKHOUSE_DATABASE": database,
        "FRAUDWATCH_HASH_KEY": KEY,
        "FRAUDWATCH_TIMEZONE": "Asia/Shanghai",
    }
    return CliRunner().invoke(leaks, list(args), env=env, catch_exceptions=False)


def load_a(clickhouse_url: str, database: str, path: Path, *extra: str) -> Result:
    return cli(clickhouse_url, database, "load", str(path), "--batch-id", "LEAK-A", "--source", "hacker",
               "--industry", "ecommerce", "--seized-at", "2026-11-01", *extra)  # fmt: skip


def load_b(clickhouse_url: str, database: str, path: Path) -> Result:
    return cli(clickhouse_url, database, "load", str(path), "--batch-id", "LEAK-B", "--source", "insider",
               "--industry", "express_delivery", "--seized-at", "2026-12-01")  # fmt: skip


def rows(ch: Client, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ch.query(sql).result_rows]


def facts(ch: Client, database: str) -> dict[str, tuple[int, list[str]]]:
    return {r[0]: (int(r[1]), list(r[2])) for r in rows(ch, f"SELECT report_id, leak_linked, leak_batch_ids "
                                                           f"FROM {database}.reports")}  # fmt: skip


def links(ch: Client, database: str, table: str = "report_leak_links") -> set[tuple[str, str]]:
    return set(rows(ch, f"SELECT batch_id, report_id FROM {database}.{table} FINAL"))  # type: ignore[arg-type]


def assert_linked_exactly_batch_a(ch: Client, database: str, reports: list[SanitisedReport]) -> None:
    stored = facts(ch, database)
    assert len(stored) == REPORTS
    expected = {r.report_id: ((1, ["LEAK-A"]) if i in IN_A else (0, [])) for i, r in enumerate(reports)}
    assert stored == expected
    victim_links = {("LEAK-A", reports[i].report_id) for i in IN_A}
    assert links(ch, database) == victim_links
    assert scalar(ch, f"SELECT uniqExact(batch_id, report_id) FROM {database}.report_leak_links") == len(IN_A)
    scammer_links = {("LEAK-A", r.report_id) for i, r in enumerate(reports) if i % 7 == 0}
    assert links(ch, database, "scammer_leak_links") == scammer_links
    assert rows(ch, f"SELECT DISTINCT linked_by FROM {database}.report_leak_links") == [("stream",)]
    # The link rows carry what the dashboards read without a join, and what matched.
    first = reports[12]  # even: matched by phone; its record has location data
    link = rows(ch, f"SELECT category, amount_lost_fen, identifiers, info_mask FROM {database}.report_leak_links "
                    f"FINAL WHERE report_id = '{first.report_id}'")  # fmt: skip
    assert link == [("game_trading", 11_200, [first.victim_phone_hash], 1 | 2 | 1 << 6 | 1 << 9)]


# --- the stream join ---------------------------------------------------------------------------------


@pytest.fixture
def settings(broker: str, clickhouse_url: str, database: str, tmp_path: Path) -> Settings:
    return worker_settings(broker, clickhouse_url, database, tmp_path, hash_key=KEY)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[Worker]:
    handle = Worker(settings, tmp_path / "worker.log")
    yield handle
    if handle.process and handle.process.poll() is None:
        handle.process.terminate()
        handle.process.wait(30)


@pytest.mark.parametrize("kills", [0, 2], ids=["steady", "sigkilled"])
def test_stream_marks_exactly_the_leaked_victims(
    settings: Settings, worker: Worker, clickhouse_url: str, ch: Client, database: str, tmp_path: Path, kills: int
) -> None:
    result = load_a(clickhouse_url, database, write_batch_a(tmp_path / "a.csv"))
    assert result.exit_code == 1, result.output  # three rows were skipped, and the exit code says so
    assert "210 records loaded" in result.output
    assert "malformed rows skipped: 3" in result.output
    assert "skipped line 53: phone is not a valid phone number" in result.stderr
    assert "skipped line 54: expected 4 fields, found 2" in result.stderr
    assert "skipped line 55: no identifier" in result.stderr
    assert "12x4" not in result.output + result.stderr

    reports = make_reports()
    rounds = kills + 1
    per_round = REPORTS // rounds
    worker.start()
    for round_ in range(rounds):
        batch = reports[round_ * per_round : (round_ + 1) * per_round]
        asyncio.run(produce(settings, [encode_envelope("e1", batch[i : i + 10]) for i in range(0, len(batch), 10)]))
        if round_ < kills:
            time.sleep(0.5 + 0.5 * round_)
            worker.kill()
            worker.start()
    wait_until(lambda: scalar(ch, f"SELECT count() FROM {database}.reports") >= REPORTS, 90, f"{REPORTS} facts")
    time.sleep(2)
    assert scalar(ch, f"SELECT count() FROM {database}.reports") == REPORTS
    assert_linked_exactly_batch_a(ch, database, reports)


# --- the sink's exactly-once links -----------------------------------------------------------------


def sink_facts(reports: list[SanitisedReport]) -> list[Any]:
    return [
        f for n in range(0, len(reports), 10) for f in facts_of(SourcePosition("raw", "e1", 0, n), reports[n : n + 10])
    ]


def flush_reports(ch: Client, database: str, reports: list[SanitisedReport]) -> None:
    sink = ReportSink(ch, database, SHANGHAI)
    sink.setup()
    sink.add(sink_facts(reports))
    sink.flush()


class _FailingInsertOnce:
    """A client whose first insert into `reports` fails after reaching nothing: a crash between the
    link insert and the fact insert."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.failed = False

    def _fail_first(self, table: str) -> None:
        if table.endswith(".reports") and not self.failed:
            self.failed = True
            raise ConnectionError("ClickHouse went away")

    def insert_arrow(self, table: str, *args: Any, **kwargs: Any) -> Any:
        self._fail_first(table)
        return self._client.insert_arrow(table, *args, **kwargs)

    def raw_insert(self, table: str, *args: Any, **kwargs: Any) -> Any:  # the sink's Arrow inserts
        self._fail_first(table)
        return self._client.raw_insert(table, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("join", ["in the write", "while preparing, with a lookup client and the filter"])
def test_links_are_written_once_per_inserted_fact(
    clickhouse_url: str, ch: Client, database: str, tmp_path: Path, join: str
) -> None:
    load_a(clickhouse_url, database, write_batch_a(tmp_path / "a.csv"))
    reports = make_reports()
    flaky = _FailingInsertOnce(ch)
    early: dict[str, Any] = {}
    if join != "in the write":
        early = {
            "lookup_client": clickhouse_connect.get_client(dsn=clickhouse_url),
            "leak_filter_max_identifiers": 10**6,
        }
    sink = ReportSink(flaky, database, SHANGHAI, **early)  # type: ignore[arg-type]
    sink.setup()
    sink.add(sink_facts(reports))
    with pytest.raises(ConnectionError):
        sink.flush()  # links landed, facts did not
    assert scalar(ch, f"SELECT count() FROM {database}.reports") == 0
    result = sink.flush()
    assert result.facts_written == REPORTS and result.leak_linked == len(IN_A)
    assert_linked_exactly_batch_a(ch, database, reports)
    raw_links = scalar(ch, f"SELECT count() FROM {database}.report_leak_links")
    # A restarted worker gets everything again: nothing is new, so no link is written again.
    restarted = ReportSink(ch, database, SHANGHAI)
    restarted.setup()
    restarted.add(sink_facts(reports))
    assert restarted.flush().skipped_as_duplicates == REPORTS
    assert scalar(ch, f"SELECT count() FROM {database}.report_leak_links") == raw_links
    assert_linked_exactly_batch_a(ch, database, reports)


def test_lookup_sends_identifiers_bound_or_inlined_with_the_same_answer(
    clickhouse_url: str, ch: Client, database: str, tmp_path: Path
) -> None:
    load_a(clickhouse_url, database, write_batch_a(tmp_path / "a.csv"))
    reports = make_reports()
    wanted = [r.victim_phone_hash or r.victim_id_hash for r in reports[:60]] + ["phone:" + "0" * 32, "x'); DROP"]
    inlined = LeakIndex(ch, database, bound_parameters=False).lookup(wanted)
    # Bound parameters through the embedded gateway: fine while they fit in the URL (small sets).
    bound = LeakIndex(ch, database, bound_parameters=True).lookup(wanted)
    assert inlined == bound
    assert set(inlined) == set(wanted[:60])
    assert all(hits == [("LEAK-A", hits[0][1])] for hits in inlined.values())
    # The gateway takes parameters too large for a URL as a form, so the probe settles on binding,
    # and a flush-sized lookup (sent as a form) answers as the inlined one does.
    probed = LeakIndex(ch, database)
    assert probed.bound_parameters is True
    many = wanted + [f"phone:{i:032x}" for i in range(3_000)]
    assert probed.lookup(many) == LeakIndex(ch, database, bound_parameters=False).lookup(many) == inlined
    # The embedded gateway's larger queries (beyond a server's 128 KiB of parameters) answer the same,
    # hits spread over several of them.
    most = [f"phone:{i:032x}" for i in range(20_000)]
    spread = most[:7_000] + wanted[:30] + most[7_000:15_000] + wanted[30:] + most[15_000:]
    embedded = LeakIndex(ch, database, bound_parameters=True, bound_chunk=EMBEDDED_BOUND_CHUNK)
    assert embedded.chunk == EMBEDDED_BOUND_CHUNK
    assert embedded.lookup(spread) == inlined


# --- loading: idempotent ---------------------------------------------------------------------------


def snapshot(ch: Client, database: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "records": rows(ch, f"SELECT identifier, batch_id, info_mask, class_mask FROM {database}.leak_records FINAL "
                            "ORDER BY identifier, batch_id"),
        "batches": rows(ch, f"SELECT * EXCEPT updated_at FROM {database}.leak_batches FINAL ORDER BY batch_id"),
        "loads": rows(ch, f"SELECT * EXCEPT loaded_at FROM {database}.leak_loads FINAL ORDER BY batch_id, file_name"),
    }  # fmt: skip


def test_loading_the_same_file_twice_changes_nothing(
    clickhouse_url: str, ch: Client, database: str, tmp_path: Path
) -> None:
    path = write_batch_a(tmp_path / "a.csv")
    load_a(clickhouse_url, database, path)
    first = snapshot(ch, database)
    assert len(first["records"]) == 2 * len(IN_A) + SCAMMERS_IN_A
    assert first["batches"][0][:9] == (
        "LEAK-A", "hacker", "ecommerce", datetime(2026, 11, 1, tzinfo=SHANGHAI), 210, 2, "serious",
        "A>=50 B>=500 C>=5000 x10", 50,
    )  # fmt: skip

    again = load_a(clickhouse_url, database, path)
    assert "was loaded into batch LEAK-A" in again.output and "nothing changed" in again.output
    assert snapshot(ch, database) == first
    renamed = tmp_path / "copy-of-a.csv"
    renamed.write_bytes(path.read_bytes())
    assert "nothing changed" in load_a(clickhouse_url, database, renamed).output

    forced = load_a(clickhouse_url, database, path, "--force")
    assert "210 records loaded" in forced.output
    assert snapshot(ch, database) == first
    assert scalar(ch, f"SELECT count() FROM {database}.leak_loads FINAL") == 1

    conflicting = cli(clickhouse_url, database, "load", str(path), "--batch-id", "LEAK-A", "--source", "insider")
    assert conflicting.exit_code == 1
    assert "recorded with --source hacker, not insider" in conflicting.stderr
    assert snapshot(ch, database) == first


def test_bad_files_are_refused_before_anything_is_written(
    clickhouse_url: str, ch: Client, database: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("手机号,姓名\n13900000001,张三\n".encode("gbk"))
    unmapped = tmp_path / "unmapped.csv"
    unmapped.write_text("号码,姓名\n13900000001,张三\n", encoding="utf-8")
    for path, message in [
        (empty, "empty.csv is empty"),
        (gbk, "try --encoding gb18030"),
        (unmapped, "no identifier column"),
    ]:
        result = cli(clickhouse_url, database, "load", str(path), "--batch-id", "BAD", "--source", "unknown")
        assert result.exit_code == 1 and message in result.stderr, result.stderr
    result = cli(clickhouse_url, database, "load", str(unmapped), "--batch-id", "BAD", "--source", "unknown",
                 "--map", "phone=号码", "--encoding", "utf-8")  # fmt: skip
    assert result.exit_code == 0 and "1 records loaded" in result.output
    assert scalar(ch, f"SELECT count() FROM {database}.leak_batches FINAL") == 1


# --- rescoring, and the analysts' views ------------------------------------------------------------


def test_rescore_links_earlier_reports_to_a_later_batch_once(
    clickhouse_url: str, ch: Client, database: str, tmp_path: Path
) -> None:
    load_a(clickhouse_url, database, write_batch_a(tmp_path / "a.csv"))
    reports = make_reports()
    flush_reports(ch, database, reports)
    assert_linked_exactly_batch_a(ch, database, reports)

    result = load_b(clickhouse_url, database, write_batch_b(tmp_path / "b.jsonl"))
    assert result.exit_code == 0, result.output
    assert "100 records loaded" in result.output and "severity none" in result.output
    assert {b for b, _ in links(ch, database)} == {"LEAK-A"}  # joined against what was known then

    rescored = cli(clickhouse_url, database, "rescore", "--since", "2026-11-28")
    assert rescored.exit_code == 0, rescored.output
    assert "100 newly linked through their victim (100 victim links, 0 scammer-contact links added)" in rescored.output
    expected = {("LEAK-A", reports[i].report_id) for i in IN_A} | {("LEAK-B", reports[i].report_id) for i in IN_B}
    assert links(ch, database) == expected
    assert rows(ch, f"SELECT linked_by, count() FROM {database}.report_leak_links FINAL GROUP BY linked_by "
                    "ORDER BY linked_by") == [("rescore", 100), ("stream", 200)]  # fmt: skip

    again = cli(clickhouse_url, database, "rescore", "--since", "2026-11-01")
    assert "0 newly linked" in again.output
    assert scalar(ch, f"SELECT count() FROM {database}.report_leak_links") == len(expected)  # not even unmerged copies
    later = cli(clickhouse_url, database, "rescore", "--since", "2026-11-29")
    assert "0 newly linked" in later.output

    # The fact rows keep what was known when they were processed; the links are the current answer.
    assert scalar(ch, f"SELECT countIf(leak_linked = 1) FROM {database}.reports") == len(IN_A)

    share = rows(ch, f"SELECT day, category, reports, loss_fen, linked_reports, linked_loss_fen, linked_share "
                     f"FROM {database}.leak_share_daily")  # fmt: skip
    linked = range(0, 250)
    assert share == [
        (T0.date(), "game_trading", REPORTS, 100 * sum(100 + i for i in range(REPORTS)), len(linked),
         100 * sum(100 + i for i in linked), round(len(linked) / REPORTS, 4)),
    ]  # fmt: skip

    impact_sql = (
        "SELECT batch_id, linked_reports, linked_loss_fen, scammer_linked_reports, reports_before_seizure, "
        f"min_days_after_seizure, max_days_after_seizure, severity_label FROM {database}.leak_batch_impact"
    )
    impact = {r[0]: r[1:] for r in rows(ch, impact_sql)}
    assert impact == {
        "LEAK-A": (200, 100 * sum(100 + i for i in IN_A), 43, 0, 27, 27, "serious"),
        "LEAK-B": (100, 100 * sum(100 + i for i in IN_B), 0, 100, -3, -3, "none"),
    }
    top = rows(ch, f"SELECT batch_id FROM {database}.leak_batch_impact ORDER BY linked_reports DESC LIMIT 1")
    assert top == [("LEAK-A",)]

    listed = json.loads(cli(clickhouse_url, database, "list", "--format", "json").output)
    assert [(b["batch_id"], b["records"], b["severity"], b["linked_reports"]) for b in listed] == [
        ("LEAK-B", 100, "none", 100),
        ("LEAK-A", 210, "serious", 200),
    ]
    shown = json.loads(cli(clickhouse_url, database, "show", "LEAK-A", "--format", "json").output)
    assert shown["batch"]["records_class_a"] == 50 and shown["batch"]["records_with_location"] == 50
    assert shown["linked_by_category"] == [{"category": "game_trading", "linked_reports": 200,
                                            "loss_yuan": float(sum(100 + i for i in IN_A))}]  # fmt: skip
    table = cli(clickhouse_url, database, "show", "LEAK-B")
    assert "express_delivery" in table.output and "b.jsonl" in table.output
    missing = cli(clickhouse_url, database, "show", "NOPE")
    assert missing.exit_code == 1 and "no batch 'NOPE'" in missing.stderr


# --- without a running platform --------------------------------------------------------------------


def test_loader_opens_the_data_directory_when_nothing_runs(tmp_path: Path) -> None:
    """No `fraudwatch up`: the commands open the embedded data directory themselves (in subprocesses,
    because this test process already holds its one chDB engine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_DATA_DIR=str(tmp_path / "data"), FRAUDWATCH_CLICKHOUSE_PORT=str(free_port()),
               FRAUDWATCH_HASH_KEY=KEY)  # fmt: skip
    leaks_cli = [sys.executable, "-c", "from fraudwatch.leaks_cmd import leaks; leaks()"]

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    migrated = run(sys.executable, "-m", "fraudwatch", "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    loaded = run(*leaks_cli, "load", str(write_batch_b(tmp_path / "b.jsonl")), "--batch-id", "B", "--source", "unknown")
    assert loaded.returncode == 0, loaded.stderr
    assert "100 records loaded" in loaded.stdout
    listed = run(*leaks_cli, "list", "--format", "json")
    assert [(b["batch_id"], b["records"], b["industry"]) for b in json.loads(listed.stdout)] == [("B", 100, "other")]
