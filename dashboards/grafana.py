"""Grafana objects for fraudwatch: dashboard JSON, the ClickHouse data source, provisioning files.

Dashboards are built with grafana-foundation-sdk (the Grafana 12+ release line, v0.0.x) from the
definitions in `dashboards.definitions`, and rendered as the classic dashboard JSON model that
file provisioning, `POST /api/dashboards/db` and the embedded dashboards all read. The SDK has no
builder for the ClickHouse plugin's query type, so `ClickHouseQuery` below supplies it, as the
SDK documents for third-party data sources.

One `Platform` names everything one fraudwatch installation puts into a Grafana: its folder, its
data source and its dashboards, with uids derived from the platform name so that pushing twice
updates in place and two platforms can share one Grafana. The committed files in
dashboards/json and dashboards/provisioning are `write_files` of the default platform; run
``python -m dashboards.grafana`` after changing a definition (a unit test compares them).
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self
from urllib.parse import urlsplit

from dashboards.definitions import DASHBOARDS, DashboardDef, PanelDef, PanelKind, VariableDef
from dashboards.names import (
    DEFAULT_DASHBOARDS_PATH,
    DEFAULT_PLATFORM,
    DEFAULT_TIMEZONE,
    GRAFANA_USER,
    PASSWORD_ENV,
    PLUGIN_ID,
)

# The SDK warns, at import, that dashboard schema v2 exists. v2 needs Grafana's kubernetes-style
# API and is not what file provisioning or /api/dashboards/db take: these dashboards are v1 (classic).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import barchart, bargauge, piechart, stat, table, timeseries
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as dashboard_builders
    from grafana_foundation_sdk.builders.dashboard import ConstantVariable, CustomVariable
    from grafana_foundation_sdk.builders.dashboard import Dashboard as DashboardBuilder
    from grafana_foundation_sdk.cog import builder as cogbuilder
    from grafana_foundation_sdk.cog import variants as cogvariants
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as model
    from grafana_foundation_sdk.models import piechart as piechart_model

__all__ = [
    "PLUGIN_ID",
    "ClickHouseQuery",
    "DatasourceConnection",
    "Platform",
    "build_dashboard",
    "build_dashboards",
    "dashboard_json",
    "datasource_model",
    "datasource_yaml",
    "provider_yaml",
    "write_files",
]

REPO_DIR: Final = Path(__file__).parent

# uids are at most 40 characters; the longest suffix is "-clickhouse".
_PLATFORM_NAME: Final = re.compile(r"[a-z][a-z0-9-]{0,27}")


@dataclass(frozen=True)
class Platform:
    """One fraudwatch installation as Grafana sees it: folder, data source and dashboard uids."""

    name: str = DEFAULT_PLATFORM
    timezone: str = DEFAULT_TIMEZONE

    def __post_init__(self) -> None:
        if not _PLATFORM_NAME.fullmatch(self.name):
            raise ValueError(
                f"platform name {self.name!r} must be 1-28 characters of a-z, 0-9 and '-', starting with a letter"
            )

    @property
    def folder_uid(self) -> str:
        return self.name

    @property
    def folder_title(self) -> str:
        return "fraudwatch" if self.name == DEFAULT_PLATFORM else f"fraudwatch ({self.name})"

    @property
    def datasource_uid(self) -> str:
        return f"{self.name}-clickhouse"

    @property
    def datasource_name(self) -> str:
        return f"{self.folder_title} ClickHouse"

    def dashboard_uid(self, slug: str) -> str:
        return f"{self.name}-{slug}"

    @property
    def datasource_ref(self) -> common.DataSourceRef:
        return common.DataSourceRef(type_val=PLUGIN_ID, uid=self.datasource_uid)


# --- the ClickHouse plugin's query type ----------------------------------------------------------


class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL target of grafana-clickhouse-datasource (v4 query model).

    `format` is the plugin's numeric result format (0 = time series, 1 = table), which its backend
    uses to reshape results; `queryType` is what its editor shows.
    """

    def __init__(self, sql: str, *, time_series: bool, datasource: common.DataSourceRef, ref_id: str = "A") -> None:
        self.sql = sql
        self.time_series = time_series
        self.datasource = datasource
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": {"type": self.datasource.type_val, "uid": self.datasource.uid},
            "editorType": "sql",
            "format": 0 if self.time_series else 1,
            "queryType": "timeseries" if self.time_series else "table",
            "rawSql": self.sql,
            "refId": self.ref_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        source = data.get("datasource") or {}
        return cls(
            str(data.get("rawSql", "")),
            time_series=data.get("format") == 0,
            datasource=common.DataSourceRef(type_val=source.get("type"), uid=source.get("uid")),
            ref_id=str(data.get("refId", "A")),
        )


class ClickHouseQueryBuilder(cogbuilder.Builder[ClickHouseQuery]):
    def __init__(self, query: ClickHouseQuery) -> None:
        self._internal = query

    def build(self) -> ClickHouseQuery:
        return self._internal


# --- dashboards ----------------------------------------------------------------------------------

_PanelBuilder = (
    timeseries.Panel | stat.Panel | table.Panel | piechart.Panel | barchart.Panel | bargauge.Panel
)  # fmt: skip


def _reduce_all_rows() -> common_builders.ReduceDataOptions:
    # One slice/bar per result row (the first string column names it), not one reduced value.
    return common_builders.ReduceDataOptions().values(True).calcs(["lastNotNull"]).fields("")


def _panel_builder(panel: PanelDef) -> _PanelBuilder:
    legend = common_builders.VizLegendOptions().show_legend(True).placement(common.LegendPlacement.BOTTOM)
    tooltip = common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.NONE)
    if panel.kind is PanelKind.TIMESERIES:
        series = (
            timeseries.Panel()
            .legend(legend.display_mode(common.LegendDisplayMode.LIST))
            .tooltip(tooltip)
            .line_width(1)
            .fill_opacity(25 if panel.stacked else 10)
            .show_points(common.VisibilityMode.NEVER)
            .span_nulls(False)
        )
        if panel.stacked:
            series = series.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        return series
    if panel.kind is PanelKind.STAT:
        return (
            stat.Panel()
            .reduce_options(common_builders.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(""))
            .graph_mode(common.BigValueGraphMode.NONE)
            .color_mode(common.BigValueColorMode.VALUE)
            .text_mode(common.BigValueTextMode.VALUE)
            .no_value("–")
        )
    if panel.kind is PanelKind.TABLE:
        return table.Panel().show_header(True).cell_height(common.TableCellHeight.SM)
    if panel.kind is PanelKind.PIE:
        return (
            piechart.Panel()
            .pie_type(piechart_model.PieChartType.DONUT)
            .reduce_options(_reduce_all_rows())
            .display_labels([piechart_model.PieChartLabels.PERCENT])
            .legend(
                piechart.PieChartLegendOptions()
                .show_legend(True)
                .display_mode(common.LegendDisplayMode.TABLE)
                .placement(common.LegendPlacement.RIGHT)
                .values([piechart_model.PieChartLegendValues.VALUE])
            )
            .tooltip(tooltip)
        )
    if panel.kind is PanelKind.BAR:
        return (
            barchart.Panel()
            .x_field(panel.columns[0])
            .orientation(common.VizOrientation.HORIZONTAL)
            .show_value(common.VisibilityMode.AUTO)
            .legend(legend.display_mode(common.LegendDisplayMode.LIST).show_legend(False))
            .tooltip(tooltip)
            .fill_opacity(80)
        )
    return (
        bargauge.Panel()
        .reduce_options(_reduce_all_rows())
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .show_unfilled(True)
        .min(0)
    )


def _panel(panel: PanelDef, platform: Platform) -> _PanelBuilder:
    x, y, w, h = panel.grid
    built = (
        _panel_builder(panel)
        .id(panel.id)
        .title(panel.title)
        .description(panel.description)
        .datasource(platform.datasource_ref)
        .grid_pos(model.GridPos(h=h, w=w, x=x, y=y))
        .unit(panel.unit)
        .with_target(
            ClickHouseQueryBuilder(
                ClickHouseQuery(panel.sql, time_series=panel.time_series, datasource=platform.datasource_ref)
            )
        )
    )
    if panel.decimals is not None:
        built = built.decimals(panel.decimals)
    if panel.min_interval is not None:
        built = built.interval(panel.min_interval)
    if panel.max_value is not None:
        built = built.max(panel.max_value)
    if panel.thresholds:
        steps = [model.Threshold(value=value, color=colour) for value, colour in panel.thresholds]
        built = built.thresholds(
            dashboard_builders.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)
        ).color_scheme(dashboard_builders.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
    for column, unit in panel.column_units:
        built = built.override_by_name(column, [model.DynamicConfigValue(id_val="unit", value=unit)])
    return built


def _variable(variable: VariableDef) -> CustomVariable:
    everything = model.VariableOption(text="All", value="$__all", selected=True)
    options = [model.VariableOption(text=text, value=value, selected=False) for text, value in variable.options]
    return (
        CustomVariable(variable.name)
        .label(variable.label)
        .description(variable.description)
        .values(",".join(f"{text} : {value}" for text, value in variable.options))
        .multi(True)
        .include_all(True)
        .allow_custom_value(False)
        .current(model.VariableOption(text=["All"], value=["$__all"], selected=True))
        .options([everything, *options])
    )


def build_dashboard(definition: DashboardDef, platform: Platform | None = None) -> dict[str, Any]:
    """The Grafana dashboard JSON model of one definition, as plain JSON-ready data."""
    platform = platform or Platform()
    board = (
        DashboardBuilder(f"fraudwatch · {definition.title}")
        .uid(platform.dashboard_uid(definition.slug))
        .description(definition.description)
        .tags(list(definition.tags))
        .editable()
        .timezone(platform.timezone)
        .time(definition.time_from, definition.time_to)
        .refresh(definition.refresh)
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
    )
    for variable in definition.variables:
        board = board.with_variable(_variable(variable))
    if definition.uses_timezone:
        # Hidden: "today" in panel SQL is the day in this zone, whatever zone ClickHouse runs in.
        board = board.with_variable(
            ConstantVariable("tz").label("Time zone").description("Zone of stored times").value(platform.timezone)
        )
    for panel in definition.panels:
        board = board.with_panel(_panel(panel, platform))
    encoded: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    # The SDK leaves empty containers empty; Grafana's own exports always carry the lists.
    encoded.setdefault("templating", {}).setdefault("list", [])
    layers = encoded.setdefault("annotations", {}).setdefault("list", [])
    for annotation in definition.annotations:
        query = ClickHouseQuery(annotation.sql, time_series=False, datasource=platform.datasource_ref)
        layers.append(
            {
                "datasource": query.to_json()["datasource"],
                "enable": True,
                "hide": False,
                "iconColor": annotation.color,
                "name": annotation.name,
                "description": annotation.description,
                "target": query.to_json(),
            }
        )
    return encoded


def build_dashboards(platform: Platform | None = None) -> dict[str, dict[str, Any]]:
    """Every dashboard, by slug (overview, leaks, health)."""
    return {definition.slug: build_dashboard(definition, platform) for definition in DASHBOARDS}


def dashboard_json(dashboard: Mapping[str, Any]) -> str:
    """The stable text form of a dashboard: what dashboards/json/*.json hold."""
    return json.dumps(dashboard, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


# --- data source and provisioning ----------------------------------------------------------------


@dataclass(frozen=True)
class DatasourceConnection:
    """How Grafana reaches ClickHouse: the plugin's connection settings (jsonData)."""

    host: str = "127.0.0.1"
    port: int = 18123
    protocol: str = "http"
    secure: bool = False
    username: str = GRAFANA_USER
    database: str = "fraudwatch"
    settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_url(cls, url: str, *, username: str = GRAFANA_USER, database: str = "fraudwatch") -> DatasourceConnection:
        """Connection settings for a ClickHouse HTTP URL such as `http://host:8123`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a ClickHouse HTTP URL: {url!r}")
        secure = parts.scheme == "https"
        return cls(
            host=parts.hostname,
            port=parts.port or (8443 if secure else 8123),
            secure=secure,
            username=username,
            database=database,
        )

    def json_data(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "secure": self.secure,
            "username": self.username,
            "defaultDatabase": self.database,
        }


def datasource_model(platform: Platform, connection: DatasourceConnection, password: str | None) -> dict[str, Any]:
    """The body of Grafana's data source API (POST /api/datasources, PUT /api/datasources/uid/…).

    Without a password the secure fields are left out, so an update keeps the stored one.
    """
    body: dict[str, Any] = {
        "uid": platform.datasource_uid,
        "name": platform.datasource_name,
        "type": PLUGIN_ID,
        "access": "proxy",
        "isDefault": False,
        "jsonData": connection.json_data(),
    }
    if password is not None:
        body["secureJsonData"] = {"password": password}
    return body


def _yaml_scalar(value: object) -> str:
    # JSON scalars are YAML scalars; strings stay quoted, so nothing in them is read as YAML syntax.
    return json.dumps(value, ensure_ascii=False)


def datasource_yaml(platform: Platform, connection: DatasourceConnection, password_env: str = PASSWORD_ENV) -> str:
    """Grafana data source provisioning file (provisioning/datasources/clickhouse.yaml)."""
    json_data = "\n".join(f"      {key}: {_yaml_scalar(value)}" for key, value in connection.json_data().items())
    return f"""# The ClickHouse data source of the fraudwatch dashboards: the official plugin,
# grafana-clickhouse-datasource (install it first: grafana cli plugins install {PLUGIN_ID}).
# Generated by `fraudwatch dashboards export`. The password is read by Grafana at start-up from the
# environment variable {password_env}; the user should be the read-only one in docs/dashboards.md.
apiVersion: 1

datasources:
  - name: {_yaml_scalar(platform.datasource_name)}
    uid: {_yaml_scalar(platform.datasource_uid)}
    type: {_yaml_scalar(PLUGIN_ID)}
    access: proxy
    editable: false
    jsonData:
{json_data}
    secureJsonData:
      password: {_yaml_scalar(f"$__env{{{password_env}}}")}
"""


def provider_yaml(platform: Platform, dashboards_path: str = DEFAULT_DASHBOARDS_PATH) -> str:
    """Grafana dashboard provider file (provisioning/dashboards/fraudwatch.yaml)."""
    return f"""# Loads the fraudwatch dashboards (the *.json files of dashboards/json) into their own folder.
# Generated by `fraudwatch dashboards export`. Mount the JSON files at {_yaml_scalar(dashboards_path)}.
apiVersion: 1

providers:
  - name: {_yaml_scalar(platform.folder_title)}
    orgId: 1
    folder: {_yaml_scalar(platform.folder_title)}
    folderUid: {_yaml_scalar(platform.folder_uid)}
    type: file
    disableDeletion: false
    allowUiUpdates: false
    updateIntervalSeconds: 30
    options:
      path: {_yaml_scalar(dashboards_path)}
      foldersFromFilesStructure: false
"""


def write_files(
    root: Path,
    platform: Platform | None = None,
    connection: DatasourceConnection | None = None,
    dashboards_path: str = DEFAULT_DASHBOARDS_PATH,
) -> list[Path]:
    """Write json/<slug>.json and the provisioning files under `root`; returns the paths written.

    The layout is the repository's own dashboards/ layout: mount provisioning/ at
    /etc/grafana/provisioning and json/ at `dashboards_path`.
    """
    platform = platform or Platform()
    connection = connection or DatasourceConnection()
    files: dict[Path, str] = {
        root / "provisioning" / "datasources" / "clickhouse.yaml": datasource_yaml(platform, connection),
        root / "provisioning" / "dashboards" / "fraudwatch.yaml": provider_yaml(platform, dashboards_path),
    }
    for slug, dashboard in build_dashboards(platform).items():
        files[root / "json" / f"{slug}.json"] = dashboard_json(dashboard)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


if __name__ == "__main__":
    for written in write_files(REPO_DIR):
        print(written.relative_to(REPO_DIR.parent))
