"""`fraudwatch leaks`: load seized personal-data leak batches, list and show them, link earlier reports.

- `load FILE --batch-id ID --source SOURCE` streams a CSV/TSV or JSON-lines file into the leak index
  (identifiers normalised and keyed-hashed exactly as the producer API does; nothing raw is stored),
  with a progress bar and a summary. Malformed rows are counted and reported by line number, never
  dropped in silence, and the exit code is 1 when there were any. Loading a file again changes
  nothing (the same file is recognised by its SHA-256 and skipped unless --force).
- `list` and `show BATCH` print batches with record counts, information classes and severity.
- `rescore --since DATE` links reports processed before a batch was loaded.

Connects like `fraudwatch query`: the running platform's ClickHouse, a configured server, or the
embedded data directory when nothing runs. Registered on the main group by fraudwatch/cli.py.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import click

from fraudwatch.cli import FORMAT_OPTION, _query_client, _run, connection_options, emit_rows, load_settings
from fraudwatch.errors import StorageError
from fraudwatch.leaks import (
    DEFAULT_THRESHOLDS,
    INFO_TYPES,
    Industry,
    KeyedHasher,
    LeakFile,
    LeakFileError,
    Problem,
    SourceType,
    Thresholds,
    parse_mapping,
)
from fraudwatch.settings import Settings

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

SHOWN_PROBLEMS: Final = 20

# Settings the lead wires into fraudwatch.settings.Settings (FRAUDWATCH_LEAK_SERIOUS_CLASS_A, ...);
# until then, and for any left unset, the interpretation's numbers apply.
THRESHOLD_SETTINGS: Final = {
    "class_a": "leak_serious_class_a",
    "class_b": "leak_serious_class_b",
    "class_c": "leak_serious_class_c",
    "especially_factor": "leak_especially_serious_factor",
}


def thresholds_from(settings: Settings) -> Thresholds:
    values = {field: getattr(settings, name, None) for field, name in THRESHOLD_SETTINGS.items()}
    defaults = {field: getattr(DEFAULT_THRESHOLDS, field) for field in THRESHOLD_SETTINGS}
    return Thresholds(**{k: int(v) if v is not None else defaults[k] for k, v in values.items()})


@contextmanager
def _leak_client(settings: Settings) -> Iterator[Client]:
    """A ClickHouse client with the leak tables present; ClickHouse errors become StorageError."""
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from sinks.leaks import missing_tables

    try:
        with _query_client(settings) as client:
            missing = missing_tables(client, settings.clickhouse_database)
            if missing:
                raise StorageError(
                    f"database {settings.clickhouse_database} has no {', '.join(missing)}: "
                    "run `fraudwatch db migrate` (or start `fraudwatch up`) first"
                )
            yield client
    except ClickHouseError as exc:
        raise StorageError(str(exc)) from exc


@click.group("leaks")
def leaks() -> None:
    """Seized personal-data leaks: load batches, list and show them, link earlier reports."""


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _seizure(settings: Settings, given: datetime | None) -> datetime | None:
    return given.replace(tzinfo=settings.zone) if given else None


@leaks.command("load")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-id", required=True, help="Identifier of the seized batch (letters, digits, _ . : -)")
@click.option(
    "--source", "source_type", required=True, type=click.Choice([s.value for s in SourceType]), help="How it leaked"
)
@click.option("--industry", type=click.Choice([i.value for i in Industry]), help="Whose data  [default: other]")
@click.option("--seized-at", type=click.DateTime(["%Y-%m-%d"]), help="Seizure date, YYYY-MM-DD  [default: today]")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Column (or JSON key) holding a field, repeatable: --map phone=手机号 --map id_card=身份证. Fields: "
    + ", ".join(INFO_TYPES)
    + ". Unmapped columns are matched by common names.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["auto", "csv", "tsv", "jsonl"]),
    default="auto",
    show_default=True,
    help="auto: by the file name's extension",
)
@click.option("--encoding", default="utf-8", show_default=True, help="e.g. gb18030 for GBK exports")
@click.option("--delimiter", help="Field separator of CSV files  [default: , (tab for tsv)]")
@click.option(
    "--errors-file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write every skipped row's line number and reason here (never the row's content)",
)
@click.option("--force", is_flag=True, help="Load even if this exact file was loaded into the batch before")
@connection_options
def load(
    path: Path,
    batch_id: str,
    source_type: str,
    industry: str | None,
    seized_at: datetime | None,
    mappings: tuple[str, ...],
    file_format: str,
    encoding: str,
    delimiter: str | None,
    errors_file: Path | None,
    force: bool,
    **connection: Any,
) -> None:
    """Load a seized leak file (CSV/TSV with a header, or JSON lines) into batch --batch-id."""
    from sinks.leaks import BATCH_ID, find_load, read_batch, record_load, refresh_batch, write_records

    settings = load_settings(**connection)
    if not BATCH_ID.fullmatch(batch_id):
        raise click.BadParameter("letters, digits and _ . : - only, at most 64", param_hint="--batch-id")
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t"}.get(delimiter, delimiter)  # a tab is hard to type in a shell
        if len(delimiter) != 1:
            raise click.BadParameter("one character (or \\t)", param_hint="--delimiter")

    def action() -> int:
        mapping = parse_mapping(mappings)
        leak_file = LeakFile(path, mapping=mapping, fmt=file_format, encoding=encoding, delimiter=delimiter)
        sha256, size = _file_digest(path)
        with _leak_client(settings) as client:
            database = settings.clickhouse_database
            existing = read_batch(client, database, batch_id)
            seized = _seizure(settings, seized_at)
            if existing is not None:
                _same_batch(existing.source_type, source_type, "--source")
                _same_batch(existing.industry, industry, "--industry")
                _same_batch(
                    existing.seized_at.date().isoformat(), seized.date().isoformat() if seized else None, "--seized-at"
                )
            chosen_industry = industry or (existing.industry if existing else Industry.OTHER.value)
            chosen_seizure = (
                seized
                or (existing.seized_at if existing else None)
                or datetime.now(settings.zone).replace(hour=0, minute=0, second=0, microsecond=0)
            )
            done = None if force else find_load(client, database, batch_id, sha256)
            if done is not None:
                click.echo(
                    f"{path.name} (sha256 {sha256[:12]}) was loaded into batch {batch_id} on "
                    f"{done['loaded_at']:%Y-%m-%d %H:%M}: nothing changed ({done['records']:,} records, "
                    f"{done['malformed_rows']:,} malformed rows skipped then; --force loads it again)"
                )
                return 1 if done["malformed_rows"] else 0
            with _problem_log(errors_file) as on_problem, _progress(size) as progress:
                leak_file.progress = progress
                counts = write_records(
                    client, database, batch_id, leak_file, KeyedHasher(settings.hash_key.get_secret_value().encode()),
                    on_problem,
                )  # fmt: skip
            record_load(client, database, batch_id, sha256, path.name, size, leak_file.format, counts)
            batch = refresh_batch(
                client, database, batch_id, source_type, chosen_industry, chosen_seizure, thresholds_from(settings)
            )
        summary = leak_file.summary
        click.echo(
            f"batch {batch_id} ({source_type}, {chosen_industry}, seized {chosen_seizure:%Y-%m-%d}): "
            f"{counts.records:,} records loaded from {path.name} ({summary.format}, {summary.encoding}), "
            f"{counts.identifiers:,} identifiers indexed"
        )
        click.echo(
            f"  malformed rows skipped: {counts.problems:,}"
            + (f" (every one in {errors_file})" if errors_file and counts.problems else "")
        )
        types = counts.info_type_records
        click.echo("  information: " + ", ".join(f"{k} {v:,}" for k, v in types.items()))
        classes = counts.classes
        click.echo(f"  records by class (most sensitive): A {classes.a:,}, B {classes.b:,}, C {classes.c:,}")
        click.echo("  columns: " + "; ".join(f"{k} <- {', '.join(v)}" for k, v in summary.columns.items()))
        if summary.unused_columns:
            click.echo(f"  not used: {', '.join(summary.unused_columns)} (map them with --map FIELD=COLUMN)")
        if summary.never_seen:
            click.echo(f"  mapped but in no line: {', '.join(summary.never_seen)}")
        click.echo(
            f"batch {batch_id} now: {batch.records:,} records in {batch.files} file(s), "
            f"severity {batch.severity.label} ({batch.severity_thresholds})"
        )
        return 1 if counts.problems else 0

    _run(action)


def _same_batch(stored: str, given: str | None, option: str) -> None:
    if given is not None and given != stored:
        raise LeakFileError(
            f"the batch is recorded with {option} {stored}, not {given}: load into a new --batch-id, "
            f"or pass {option} {stored}"
        )


@contextmanager
def _progress(size: int) -> Iterator[Callable[[int], None]]:
    with click.progressbar(length=size, label="loading", file=sys.stderr, show_eta=True) as bar:
        done = 0

        def advance(position: int) -> None:
            nonlocal done
            bar.update(position - done)
            done = position

        yield advance


@contextmanager
def _problem_log(errors_file: Path | None) -> Iterator[Callable[[Problem], None]]:
    """Shows the first few skipped rows on stderr, writes all of them to --errors-file."""
    shown = 0
    skipped = 0
    out: IO[str] | None = errors_file.open("w", encoding="utf-8") if errors_file else None

    def report(problem: Problem) -> None:
        nonlocal shown, skipped
        skipped += 1
        if out is not None:
            out.write(f"{problem}\n")
        if shown < SHOWN_PROBLEMS:
            shown += 1
            click.echo(f"\nskipped {problem}", err=True)

    try:
        yield report
    finally:
        if out is not None:
            out.close()
        if skipped > shown:
            where = f"all in {errors_file}" if errors_file else "pass --errors-file to get all"
            click.echo(f"... and {skipped - shown:,} more skipped rows ({where})", err=True)


@leaks.command("list")
@FORMAT_OPTION
@connection_options
def list_(fmt: str, **connection: Any) -> None:
    """Batches with their record counts, information classes, severity and linked reports."""
    from sinks.leaks import list_batches

    settings = load_settings(**connection)

    def action() -> int:
        with _leak_client(settings) as client:
            table = list_batches(client, settings.clickhouse_database)
        emit_rows(table.columns, table.rows, fmt)
        return 0

    _run(action)


@leaks.command("show")
@click.argument("batch_id", metavar="BATCH")
@FORMAT_OPTION
@connection_options
def show(batch_id: str, fmt: str, **connection: Any) -> None:
    """One batch: catalogue entry, information types, files, linked reports and their timing."""
    from sinks.leaks import batch_categories, batch_impact, batch_loads, read_batch

    settings = load_settings(**connection)

    def action() -> int:
        with _leak_client(settings) as client:
            database = settings.clickhouse_database
            batch = read_batch(client, database, batch_id)
            if batch is None:
                raise LeakFileError(f"no batch {batch_id!r}; `fraudwatch leaks list` shows the batches")
            impact = batch_impact(client, database, batch_id)
            loads = batch_loads(client, database, batch_id)
            categories = batch_categories(client, database, batch_id)
        facts: dict[str, Any] = {
            "batch_id": batch.batch_id,
            "source_type": batch.source_type,
            "industry": batch.industry,
            "seized_at": batch.seized_at.date().isoformat(),
            "records": batch.records,
            "files": batch.files,
            "malformed_rows": batch.malformed_rows,
            "identifiers": batch.identifiers,
            "records_class_a": batch.classes.a,
            "records_class_b": batch.classes.b,
            "records_class_c": batch.classes.c,
            "severity": batch.severity.label,
            "severity_thresholds": batch.severity_thresholds,
            **{f"records_with_{k}": v for k, v in batch.info_type_records.items()},
            **{k: v for k, v in impact.items() if k not in {"batch_id", "source_type", "industry", "seized_at",
                                                            "records", "severity", "severity_label"}},
        }  # fmt: skip
        if fmt == "json":
            click.echo(
                json.dumps(
                    {
                        "batch": facts,
                        "files": [dict(zip(loads.columns, r, strict=True)) for r in loads.rows],
                        "linked_by_category": [dict(zip(categories.columns, r, strict=True)) for r in categories.rows],
                    },
                    ensure_ascii=False,
                    default=str,
                )
            )
            return 0
        emit_rows(("field", "value"), list(facts.items()), fmt)
        if fmt == "table":
            click.echo("\nfiles")
            emit_rows(loads.columns, loads.rows, fmt)
            click.echo("\nreports linked through their victim, by category")
            emit_rows(categories.columns or ("category", "linked_reports", "loss_yuan"), categories.rows, fmt)
        return 0

    _run(action)


@leaks.command("rescore")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First report day, YYYY-MM-DD")
@click.option("--batch", "batch_id", help="Only this batch  [default: every batch]")
@connection_options
def rescore(since: datetime, batch_id: str | None, **connection: Any) -> None:
    """Link reports made since --since to leak batches loaded after they were processed.

    Only links that do not exist yet are added, so running it again adds nothing. Batches are also
    graded again with the configured severity thresholds.
    """
    from sinks.leaks import regrade
    from sinks.leaks import rescore as relink

    settings = load_settings(**connection)
    day: date = since.date()

    def action() -> int:
        with _leak_client(settings) as client:
            database = settings.clickhouse_database
            result = relink(client, database, since=day, timezone=settings.timezone, batch_id=batch_id)
            changed = regrade(client, database, thresholds_from(settings))
        click.echo(
            f"reports since {day}: {result.reports:,} newly linked through their victim "
            f"({result.victim_links:,} victim links, {result.scammer_links:,} scammer-contact links added)"
        )
        for batch, was, now in changed:
            click.echo(f"batch {batch}: severity {was.label} -> {now.label}")
        return 0

    _run(action)
