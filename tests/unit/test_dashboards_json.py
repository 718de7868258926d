"""The dashboards as code: committed files equal generated ones, and the generated JSON is well-formed.

If a test here fails after a change to dashboards/definitions.py or dashboards/grafana.py,
regenerate the committed files with ``python -m dashboards.grafana`` and review the diff.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboards.definitions import CATEGORY, CHANNEL, DASHBOARDS, PROVINCE
from dashboards.grafana import (
    PLUGIN_ID,
    DatasourceConnection,
    Platform,
    build_dashboards,
    dashboard_json,
    datasource_model,
    datasource_yaml,
    provider_yaml,
)
from dashboards.macros import VariableValue, expand
from fraudwatch.regions import PROVINCES
from fraudwatch.reports import Channel
from streams.categorizer import CATEGORIES

ROOT = Path(__file__).parents[2] / "dashboards"
UIDS = {"overview": "fraudwatch-overview", "leaks": "fraudwatch-leaks", "health": "fraudwatch-health"}
FILTERED = ("overview", "leaks")
MACRO = re.compile(r"\$__(timeFilter|timeInterval|interval_s|toTime|fromTime|conditionalAll)(_ms)?\b")
# Every time column is a DateTime64: a second-precision bound would cut off the current second.
SECOND_BOUND = re.compile(r"\$__(timeFilter\(|toTime\b(?!\s*,)|fromTime\b)")
VARIABLE_USE = re.compile(r"\$\{?(\w+)(?::(\w+))?\}?")


@pytest.fixture(scope="module")
def generated() -> dict[str, dict[str, Any]]:
    return build_dashboards()


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return list(board["panels"])


def test_committed_json_is_what_the_code_generates(generated: dict[str, dict[str, Any]]) -> None:
    committed = {path.stem for path in (ROOT / "json").glob("*.json")}
    assert committed == set(generated), "dashboards/json holds other dashboards than the code defines"
    for slug, board in generated.items():
        text = (ROOT / "json" / f"{slug}.json").read_text(encoding="utf-8")
        assert text == dashboard_json(board), f"dashboards/json/{slug}.json is stale: run python -m dashboards.grafana"


def test_committed_provisioning_is_what_the_code_generates() -> None:
    platform, connection = Platform(), DatasourceConnection()
    datasource = (ROOT / "provisioning" / "datasources" / "clickhouse.yaml").read_text(encoding="utf-8")
    provider = (ROOT / "provisioning" / "dashboards" / "fraudwatch.yaml").read_text(encoding="utf-8")
    assert datasource == datasource_yaml(platform, connection)
    assert provider == provider_yaml(platform)


def test_datasource_provisioning_names_the_plugin_and_reads_the_password_from_the_environment() -> None:
    text = datasource_yaml(Platform(), DatasourceConnection())
    for key in ("host:", "port: 18123", 'protocol: "http"', "username:", 'defaultDatabase: "fraudwatch"'):
        assert key in text
    assert f'type: "{PLUGIN_ID}"' in text
    assert 'password: "$__env{FRAUDWATCH_GRAFANA_CLICKHOUSE_PASSWORD}"' in text
    body = datasource_model(Platform(), DatasourceConnection.from_url("https://ch.example:8443"), None)
    assert "secureJsonData" not in body  # an update without a password keeps the stored one
    assert body["jsonData"] | {} == {
        "host": "ch.example", "port": 8443, "protocol": "http", "secure": True,
        "username": "fraudwatch_grafana", "defaultDatabase": "fraudwatch",
    }  # fmt: skip


def test_uids_are_stable_and_derived_from_the_platform(generated: dict[str, dict[str, Any]]) -> None:
    assert {slug: board["uid"] for slug, board in generated.items()} == UIDS
    assert build_dashboards() == generated  # deterministic: building twice gives the same JSON
    other = build_dashboards(Platform("city-b"))
    assert {slug: board["uid"] for slug, board in other.items()} == {s: f"city-b-{s}" for s in UIDS}
    for board in other.values():
        for panel in panels(board):
            assert panel["datasource"] == {"type": PLUGIN_ID, "uid": "city-b-clickhouse"}
    with pytest.raises(ValueError, match="platform name"):
        Platform("Bad Name")


def test_every_panel_has_one_clickhouse_sql_target_using_macros(generated: dict[str, dict[str, Any]]) -> None:
    for slug, board in generated.items():
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), f"{slug}: duplicate panel ids"
        for panel in panels(board):
            where = f"{slug} panel {panel['id']} ({panel['title']})"
            assert panel["datasource"] == {"type": PLUGIN_ID, "uid": "fraudwatch-clickhouse"}, where
            (target,) = panel["targets"]
            assert target["datasource"] == panel["datasource"], where
            assert target["editorType"] == "sql" and target["refId"] == "A", where
            time_series = panel["type"] == "timeseries"
            assert (target["format"], target["queryType"]) == ((0, "timeseries") if time_series else (1, "table"))
            sql = target["rawSql"]
            assert MACRO.search(sql), f"{where}: no time or variable macro in its SQL"
            assert not SECOND_BOUND.search(sql.split("WITH FILL")[0]), f"{where}: a second-precision time bound"
            if time_series:
                assert "$__timeInterval(" in sql and " AS time" in sql, where
            assert panel["title"] and panel["description"], where


def test_variables_are_used_only_through_the_escaping_format(generated: dict[str, dict[str, Any]]) -> None:
    for slug, board in generated.items():
        names = {v["name"] for v in board["templating"]["list"]}
        for panel in panels(board):
            for match in VARIABLE_USE.finditer(panel["targets"][0]["rawSql"]):
                name, fmt = match[1], match[2]
                if name.startswith("__"):
                    continue
                assert name in names, f"{slug} panel {panel['id']} uses undefined ${name}"
                bare = fmt is None
                # A bare $name is only allowed as $__conditionalAll's second argument, which is never emitted.
                assert fmt == "singlequote" or (bare and match[0] == f"${name}"), (slug, panel["id"], match[0])


def test_template_variables(generated: dict[str, dict[str, Any]]) -> None:
    expected = {
        "province": {f"{p}0000" for p in PROVINCES},
        "category": set(CATEGORIES),
        "channel": {c.value for c in Channel},
    }
    for slug in FILTERED:
        variables = {v["name"]: v for v in generated[slug]["templating"]["list"]}
        for definition in (PROVINCE, CATEGORY, CHANNEL):
            variable = variables[definition.name]
            assert variable["type"] == "custom"
            assert variable["multi"] and variable["includeAll"] and not variable["allowCustomValue"]
            assert variable["current"]["value"] == ["$__all"]
            values = {o["value"] for o in variable["options"]} - {"$__all"}
            assert values == expected[definition.name]
            listed = {item.split(" : ")[1] for item in variable["query"].split(",")}
            assert listed == expected[definition.name]
    tz = {v["name"]: v for v in generated["overview"]["templating"]["list"]}["tz"]
    assert (tz["type"], tz["query"], tz["hide"]) == ("constant", "Asia/Shanghai", 2)
    assert build_dashboards(Platform(timezone="Asia/Urumqi"))["overview"]["timezone"] == "Asia/Urumqi"


def test_refresh_time_range_and_zone(generated: dict[str, dict[str, Any]]) -> None:
    for board in generated.values():
        assert board["refresh"] == "10s"
        assert board["timezone"] == "Asia/Shanghai"
        assert board["time"]["to"] == "now" and board["time"]["from"].startswith("now-")
        assert board["schemaVersion"] >= 41  # Grafana 12 and later
    assert generated["overview"]["time"]["from"] == "now-6h"


def test_panels_fit_the_grid_without_overlapping(generated: dict[str, dict[str, Any]]) -> None:
    for slug, board in generated.items():
        taken: set[tuple[int, int]] = set()
        for panel in panels(board):
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, (slug, panel["id"])
            cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & taken, f"{slug} panel {panel['id']} overlaps another"
            taken |= cells


@pytest.mark.parametrize("selection", ["all", "some", "hostile-looking"])
def test_every_panel_expands_offline(generated: dict[str, dict[str, Any]], selection: str) -> None:
    start, end = datetime(2026, 11, 28, 0, 0, tzinfo=UTC), datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    values: dict[str, VariableValue] = {
        "all": {"province": ["$__all"], "category": ["$__all"], "channel": ["$__all"]},
        "some": {"province": ["420000", "110000"], "category": ["investment"], "channel": ["app"]},
        # The server refuses such values before they get here; the expander must still keep them inert.
        "hostile-looking": {"province": ["x') OR 1=1 --"], "category": ["\\'"], "channel": ["${tz}"]},
    }[selection] | {"tz": "Asia/Shanghai"}
    for board in generated.values():
        for panel in panels(board):
            raw = panel["targets"][0]["rawSql"]
            sql = expand(raw, start, end, 60_000, values)
            if selection == "hostile-looking":
                # Each value stays one quoted literal, and a macro-like value is not expanded.
                if "province_code IN (${province" in raw:
                    assert "province_code IN ('x\\') OR 1=1 --')" in sql
                if "channel IN (${channel" in raw:
                    assert "channel IN ('${tz}')" in sql
                sql = sql.replace("'${tz}'", "''")
            assert "$__" not in sql and "${" not in sql, (board["uid"], panel["id"], sql)
            if selection == "all":
                assert "1=1" in sql or "$__conditionalAll" not in panel["targets"][0]["rawSql"]


def test_definitions_match_the_json(generated: dict[str, dict[str, Any]]) -> None:
    for definition in DASHBOARDS:
        board = generated[definition.slug]
        assert board["title"] == f"fraudwatch · {definition.title}"
        for spec in definition.panels:
            (panel,) = [p for p in panels(board) if p["id"] == spec.id]
            assert panel["type"] == spec.kind.value
            assert panel["targets"][0]["rawSql"] == spec.sql
            x, y, w, h = spec.grid
            assert panel["gridPos"] == {"x": x, "y": y, "w": w, "h": h}
