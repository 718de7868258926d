"""`fraudwatch bench`: the performance suite, in one command, on this machine.

Starts its own embedded broker and ClickHouse (nothing needs to be running), measures the bare
consume baseline, one worker's throughput, end-to-end latency at fixed offered rates, API ingest
against the broker's raw produce rate, and peak memory; prints a table with PASS/MISS against the
targets and writes every figure as JSON. The orchestration lives in `fraudwatch.benchmark`.
Registered on the main group by `fraudwatch.cli`; `python -m fraudwatch.bench_cmd` runs it too.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from fraudwatch import logs
from fraudwatch.errors import FraudwatchError

DEFAULT_OUTPUT = Path("bench-results/results.json")


def _rates(_: click.Context, __: click.Parameter, value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        rates = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise click.BadParameter(f"not a comma-separated list of numbers: {value!r}") from exc
    if not rates or any(r <= 0 for r in rates):
        raise click.BadParameter("give at least one positive rate")
    return rates


def _json_ready(value: Any) -> Any:
    """NaN (a percentile of nothing) is not JSON: write null instead."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


@click.command("bench")
@click.option(
    "--reports",
    type=click.IntRange(min=100),
    default=None,
    help="Reports pre-loaded for the pipeline section [default: 200,000; 5,000 with --quick]",
)
@click.option("--quick", is_flag=True, help="Tiny sizes and short steps: a smoke test, not a measurement")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Where to write the JSON results",
)
@click.option(
    "--rates",
    callback=_rates,
    default=None,
    help="Offered single-report rates for the latency section, e.g. 100,1000,3000 [default: 100,1000,3000]",
)
@click.option(
    "--rate-duration",
    type=click.FloatRange(min=0.5),
    default=None,
    help="Seconds per offered rate [default: 10; 2 with --quick]",
)
@click.option(
    "--profile-worker",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Record the worker with py-spy during the pipeline section: .svg flame graph, .json speedscope, "
    "anything else collapsed stacks (summarised in the results)",
)
@click.option(
    "--profile-api",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Record the API with py-spy during the ingest section, one file per kind of request "
    "(NAME-single.EXT, NAME-batch.EXT; formats as --profile-worker)",
)
@click.option(
    "--leak-identifiers",
    type=click.IntRange(min=0),
    default=None,
    help="Size of the leak index the worker joins against [default: 1,000,000; 20,000 with --quick]",
)
@click.option(
    "--leak-victim-share",
    type=click.FloatRange(min=0.0, max=1.0),
    default=None,
    help="Share of the reports' victims whose identifiers are in the leak index [default: 0.5]",
)
@click.option("--keep-data", is_flag=True, help="Keep the temporary data directory and the processes' logs")
def bench(
    reports: int | None,
    quick: bool,
    output: Path,
    rates: tuple[float, ...] | None,
    rate_duration: float | None,
    profile_worker: Path | None,
    profile_api: Path | None,
    leak_identifiers: int | None,
    leak_victim_share: float | None,
    keep_data: bool,
) -> None:
    """Measure throughput, latency and memory of the whole platform on this machine."""
    # Imported here: the suite pulls in chDB, Kafka and HTTP clients, which `fraudwatch --help` should not pay for.
    from fraudwatch.benchmark import BenchConfig, render, run_suite

    if (profile_worker or profile_api) and shutil.which("py-spy") is None:
        raise click.UsageError("--profile-worker and --profile-api need py-spy: pip install py-spy")
    config = BenchConfig.quick() if quick else BenchConfig()
    overrides: dict[str, Any] = {"profile_worker": profile_worker, "profile_api": profile_api, "keep_data": keep_data}
    if reports is not None:
        overrides["reports"] = reports
    if rates is not None:
        overrides["rates"] = rates
    if rate_duration is not None:
        overrides["rate_duration_s"] = rate_duration
    if leak_identifiers is not None:
        overrides["leak_identifiers"] = leak_identifiers
    if leak_victim_share is not None:
        overrides["leak_victim_share"] = leak_victim_share
    config = replace(config, **overrides)
    logs.configure("bench", "WARNING")  # the gateway and clients log at INFO; progress lines say enough
    # aiokafka logs every refused connection while the broker starts; the bench reports real failures itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    def progress(message: str) -> None:
        click.echo(message, err=True)

    try:
        results = run_suite(config, progress)
    except FraudwatchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(_json_ready(results), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    click.echo(render(results))
    click.echo(f"\nresults written to {output} ({results['seconds']:.0f}s in all)")


if __name__ == "__main__":
    bench()
