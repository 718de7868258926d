"""The committed JSON Schema of a report is the one the API validates with."""

from __future__ import annotations

import json
from pathlib import Path

from fraudwatch.reports import json_schema

SCHEMA_FILE = Path(__file__).parents[2] / "schemas" / "report-v1.schema.json"


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == json_schema(), "regenerate with: fraudwatch schema > schemas/report-v1.schema.json"


def test_schema_names_the_required_fields() -> None:
    assert set(json_schema()["required"]) == {"description", "region_code", "amount_lost"}
