"""`fraudwatch trends`: run the named trend analyses of sinks.trends, or list them.

Registered on the main group in fraudwatch/cli.py (``main.add_command(trends)``). Connects like
`fraudwatch query`: the running platform's ClickHouse, a configured server, or the embedded data
directory when nothing runs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from fraudwatch.cli import FORMAT_OPTION, connection_options, emit_rows
from fraudwatch.errors import FraudwatchError
from sinks import trends as analyses


def _listing(fmt: str) -> None:
    rows = [
        (a.name, a.title, " ".join(f"--{o.replace('_', '-')}" for o in a.options)) for a in analyses.ANALYSES.values()
    ]
    emit_rows(("name", "description", "options"), rows, fmt)


@click.command("trends")
@click.argument("name", required=False)
@click.option("--since", help="First day, YYYY-MM-DD in the configured zone [default: 27 days before --until]")
@click.option("--until", help="Last day, YYYY-MM-DD [default: today in the configured zone]")
@click.option("--region", help="Province (420000) or city (420100) code [default: everywhere]")
@click.option("--category", help="Category or headline class code [default: all]")
@click.option("--basis", help="Count reports by the day they were reported or occurred: reported|occurred")
@click.option("--interval", help="Period of time series: day|week [default: day]")
@click.option("--level", help="Region level for top_regions: province|city [default: province]")
@click.option("--top", help="How many rows (per category for top_regions) [default: 10]")
@click.option("--days", help="Window of rising_categories in days [default: 7]")
@click.option("--min-reports", help="repeat_contacts: at least this many reports [default: 3]")
@click.option("--min-regions", help="repeat_contacts: from at least this many districts, 1 to 100 [default: 2]")
@click.option(
    "--population",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV region_code,population: rank top_regions per 100,000 residents",
)
@FORMAT_OPTION
@connection_options
def trends(
    name: str | None,
    population: Path | None,
    fmt: str,
    clickhouse_url: str | None,
    clickhouse_port: int | None,
    data_dir: Path | None,
    **given: str | None,
) -> None:
    """Run the trend analysis NAME, or list the analyses when no NAME is given.

    Every analysis is plain SQL with bound parameters; docs/trends.md has each one to copy.
    """
    if name is None:
        _listing(fmt)
        return
    from clickhouse_connect.driver.exceptions import ClickHouseError

    from fraudwatch.cli import _query_client, load_settings

    settings = load_settings(clickhouse_url=clickhouse_url, clickhouse_port=clickhouse_port, data_dir=data_dir)
    try:
        chosen = analyses.analysis(name)
        request = analyses.Request(**given, population=analyses.load_population(population) if population else None)
        parameters = analyses.bind(chosen, request, today=datetime.now(settings.zone).date())
    except analyses.TrendError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        with _query_client(settings) as client:
            result = analyses.run(client, settings.clickhouse_database, chosen, parameters)
    except (FraudwatchError, ClickHouseError) as exc:
        raise click.ClickException(f"{name}: {exc}") from exc
    emit_rows(result.columns, result.rows, fmt)
