"""`fraudwatch dashboards`: publish the Grafana dashboards to a running Grafana, or write provisioning files.

- ``push`` talks to Grafana's HTTP API through grafana-client: it makes sure the platform's folder
  and ClickHouse data source exist (created the first time, updated after), then saves every
  dashboard into that folder with ``overwrite``. Everything has a uid derived from the platform
  name, so pushing again updates in place and never duplicates.
- ``export DIR`` writes the same dashboards and data source as files for Grafana's provisioning
  (DIR/provisioning/… and DIR/json/…, the layout of the repository's dashboards/ directory).
- ``serve`` runs the embedded dashboards (`dashboards.server`) on their own, without Grafana.

Registered on the main group by `fraudwatch.cli`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click

from dashboards.names import (
    DEFAULT_DASHBOARD_PORT,
    DEFAULT_DASHBOARDS_PATH,
    DEFAULT_PLATFORM,
    GRAFANA_USER,
    PASSWORD_ENV,
)
from fraudwatch import logs
from fraudwatch.cli import _run, load_settings
from fraudwatch.errors import ConfigurationError, FraudwatchError
from fraudwatch.settings import Settings

if TYPE_CHECKING:
    from dashboards.grafana import DatasourceConnection, Platform

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0


class GrafanaError(FraudwatchError):
    """Grafana could not be reached, refused the credentials, or rejected a request."""


@dataclass
class PushReport:
    """What a push did, one line per object."""

    grafana_url: str
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def _platform(settings: Settings, name: str) -> Platform:
    from dashboards.grafana import Platform

    try:
        return Platform(name=name, timezone=settings.timezone)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc


def _connection(settings: Settings, clickhouse_url: str | None, user: str) -> DatasourceConnection:
    from dashboards.grafana import DatasourceConnection

    url = clickhouse_url or settings.clickhouse_endpoint
    try:
        return DatasourceConnection.from_url(url, username=user, database=settings.clickhouse_database)
    except ValueError as exc:
        raise ConfigurationError(f"--clickhouse-url: {exc}") from exc


def _grafana_call(url: str, what: str, call: Callable[[], T]) -> T:
    """Run one API call, turning grafana-client's and niquests' exceptions into a message for people."""
    from grafana_client.client import (
        GrafanaClientError,
        GrafanaException,
        GrafanaServerError,
        GrafanaTimeoutError,
        GrafanaUnauthorizedError,
    )
    from niquests.exceptions import RequestException

    try:
        return call()
    except GrafanaUnauthorizedError as exc:
        raise GrafanaError(
            f"Grafana at {url} refused the token while trying to {what} (401 Unauthorized): pass a valid "
            "service account token with --token or FRAUDWATCH_GRAFANA_TOKEN"
        ) from exc
    except GrafanaClientError as exc:
        if exc.status_code == 403:
            raise GrafanaError(
                f"Grafana at {url} forbids {what} (403 Forbidden): the token's service account needs the "
                "Admin role (data sources) or Editor role (folders, dashboards)"
            ) from exc
        raise GrafanaError(f"Grafana at {url} rejected the request to {what}: {exc.message}") from exc
    except GrafanaServerError as exc:
        raise GrafanaError(f"Grafana at {url} failed to {what}: {exc.message}") from exc
    except GrafanaTimeoutError as exc:
        raise GrafanaError(f"Grafana at {url} did not answer in time while trying to {what} (see --timeout)") from exc
    except (GrafanaException, RequestException, OSError) as exc:
        raise GrafanaError(f"cannot reach Grafana at {url} ({type(exc).__name__}: {exc}); is the URL right?") from exc


def _get_or_none(url: str, what: str, call: Callable[[], Any]) -> Any:
    """The object, or None when Grafana answers 404."""
    from grafana_client.client import GrafanaClientError

    def fetch() -> Any:
        try:
            return call()
        except GrafanaClientError as exc:
            if exc.status_code == 404:
                return None
            raise

    return _grafana_call(url, what, fetch)


def push_dashboards(
    api: Any,
    grafana_url: str,
    platform: Platform,
    connection: DatasourceConnection,
    password: str | None,
) -> PushReport:
    """Folder, data source, then dashboards; each created if missing and updated if present.

    `api` is a `grafana_client.GrafanaApi`.
    """
    from dashboards.grafana import build_dashboards, datasource_model

    report = PushReport(grafana_url)
    # Reachability first: GET /api/health needs no token, so a wrong URL is not blamed on the token.
    health = _grafana_call(grafana_url, "check its health", lambda: api.client.GET("/health"))
    version = health.get("version", "?") if isinstance(health, dict) else "?"
    report.add(f"Grafana {version} at {grafana_url}")

    folder = _get_or_none(grafana_url, "read the folder", lambda: api.folder.get_folder(platform.folder_uid))
    if folder is None:
        _grafana_call(
            grafana_url,
            "create the folder",
            lambda: api.folder.create_folder(platform.folder_title, uid=platform.folder_uid),
        )
        report.add(f"folder {platform.folder_title!r} (uid {platform.folder_uid}): created")
    elif folder.get("title") != platform.folder_title:
        _grafana_call(
            grafana_url,
            "rename the folder",
            lambda: api.folder.update_folder(platform.folder_uid, title=platform.folder_title, overwrite=True),
        )
        report.add(f"folder {platform.folder_title!r} (uid {platform.folder_uid}): renamed")
    else:
        report.add(f"folder {platform.folder_title!r} (uid {platform.folder_uid}): exists")

    body = datasource_model(platform, connection, password)
    existing = _get_or_none(
        grafana_url, "read the data source", lambda: api.datasource.get_datasource_by_uid(platform.datasource_uid)
    )
    if existing is None:
        _grafana_call(grafana_url, "create the data source", lambda: api.datasource.create_datasource(body))
        state = "created"
    else:
        _grafana_call(
            grafana_url,
            "update the data source",
            lambda: api.datasource.update_datasource_by_uid(platform.datasource_uid, body),
        )
        state = "updated"
    where = f"{connection.protocol}://{connection.host}:{connection.port}, database {connection.database}"
    report.add(f"data source {platform.datasource_name!r} (uid {platform.datasource_uid}, {where}): {state}")
    if password is None and existing is None:
        report.add(f"  no password given ({PASSWORD_ENV} unset): set it in Grafana if the user has one")

    for slug, board in build_dashboards(platform).items():
        payload = {
            "dashboard": board | {"id": None},
            "folderUid": platform.folder_uid,
            "overwrite": True,
            "message": "fraudwatch dashboards push",
        }
        saved = _grafana_call(
            grafana_url, f"save the {slug} dashboard", functools.partial(api.dashboard.update_dashboard, payload)
        )
        version = saved.get("version", "?") if isinstance(saved, dict) else "?"
        link = saved.get("url", "") if isinstance(saved, dict) else ""
        report.add(f"dashboard {board['title']!r} (uid {board['uid']}): saved, version {version} {link}".rstrip())
    return report


def connect_grafana(grafana_url: str, token: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """A grafana-client API object for `grafana_url`, authenticating with a service account token."""
    parts = urlsplit(grafana_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"--grafana-url must be an http(s) URL such as http://grafana:3000, got {grafana_url!r}"
        )
    from grafana_client.api import GrafanaApi

    return GrafanaApi.from_url(grafana_url, credential=token, timeout=timeout_s)


@click.group("dashboards")
def dashboards() -> None:
    """Grafana dashboards: publish them to a Grafana, or write provisioning files."""


@dashboards.command("push")
@click.option("--grafana-url", required=True, envvar="FRAUDWATCH_GRAFANA_URL", help="e.g. http://grafana:3000")
@click.option(
    "--token", required=True, envvar="FRAUDWATCH_GRAFANA_TOKEN", help="Service account token [FRAUDWATCH_GRAFANA_TOKEN]"
)
@click.option(
    "--platform",
    "platform_name",
    default=DEFAULT_PLATFORM,
    show_default=True,
    envvar="FRAUDWATCH_PLATFORM_NAME",
    help="Name of this installation: its Grafana folder and the prefix of every uid",
)
@click.option("--clickhouse-url", help="How Grafana reaches ClickHouse, http(s)://host:port [default: this platform's]")
@click.option("--clickhouse-user", default=GRAFANA_USER, show_default=True, help="ClickHouse user of the data source")
@click.option(
    "--clickhouse-password", envvar=PASSWORD_ENV, help=f"Its password [{PASSWORD_ENV}; unset: keep the stored one]"
)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.5), default=DEFAULT_TIMEOUT_S, show_default=True)
def push(
    grafana_url: str,
    token: str,
    platform_name: str,
    clickhouse_url: str | None,
    clickhouse_user: str,
    clickhouse_password: str | None,
    timeout_s: float,
) -> None:
    """Publish the data source and dashboards to a running Grafana (idempotent: a second push updates)."""
    settings = load_settings()

    def action() -> int:
        platform = _platform(settings, platform_name)
        connection = _connection(settings, clickhouse_url, clickhouse_user)
        api = connect_grafana(grafana_url, token, timeout_s)
        report = push_dashboards(api, grafana_url, platform, connection, clickhouse_password or None)
        for line in report.lines:
            click.echo(line)
        return 0

    _run(action)


@dashboards.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--platform", "platform_name", default=DEFAULT_PLATFORM, show_default=True, envvar="FRAUDWATCH_PLATFORM_NAME"
)
@click.option("--clickhouse-url", help="How Grafana reaches ClickHouse, http(s)://host:port [default: this platform's]")
@click.option("--clickhouse-user", default=GRAFANA_USER, show_default=True)
@click.option(
    "--dashboards-path",
    default=DEFAULT_DASHBOARDS_PATH,
    show_default=True,
    help="Where Grafana will find the JSON files (the provider's options.path)",
)
def export(
    directory: Path, platform_name: str, clickhouse_url: str | None, clickhouse_user: str, dashboards_path: str
) -> None:
    """Write Grafana provisioning files: DIRECTORY/provisioning/{datasources,dashboards}/ and DIRECTORY/json/."""
    from dashboards.grafana import write_files

    settings = load_settings()

    def action() -> int:
        platform = _platform(settings, platform_name)
        connection = _connection(settings, clickhouse_url, clickhouse_user)
        try:
            written = write_files(directory, platform, connection, dashboards_path)
        except OSError as exc:
            raise ConfigurationError(f"cannot write to {directory}: {exc.strerror or exc}") from exc
        for path in written:
            click.echo(str(path))
        click.echo(
            f"mount {directory / 'provisioning'} at /etc/grafana/provisioning and {directory / 'json'} at "
            f"{dashboards_path}; set {PASSWORD_ENV} in Grafana's environment"
        )
        return 0

    _run(action)


@dashboards.command("serve")
@click.option("--host", help="Interface to listen on [default: FRAUDWATCH_HOST]")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_DASHBOARD_PORT,
    show_default=True,
    envvar="FRAUDWATCH_DASHBOARD_PORT",
    help="[FRAUDWATCH_DASHBOARD_PORT]",
)
def serve(host: str | None, port: int) -> None:
    """Serve the dashboards live at http://HOST:PORT/dashboards/overview (reads this platform's ClickHouse)."""
    import uvicorn

    from dashboards.server import create_dashboard_app

    settings = load_settings()
    logs.configure("dashboards", settings.log_level)

    def action() -> int:
        app = create_dashboard_app(settings)
        uvicorn.run(app, host=host or settings.host, port=port, log_config=None, access_log=False)
        return 0

    _run(action)
