"""Unit tests for fraudwatch.cli.render_table: the plain-text table printed by `fraudwatch query`."""

from __future__ import annotations

import numpy as np

from fraudwatch.cli import as_shown, render_table, shortest_float32


def test_render_table_exact_layout() -> None:
    table = render_table(["province", "reports"], [["420000", 12], ["110000", None]])
    assert table == "province | reports\n---------+--------\n420000   | 12\n110000   |\n(2 rows)"


def test_render_table_header_and_separator_lines() -> None:
    lines = render_table(["a", "bb"], [[1, 2]]).splitlines()
    assert lines[0] == "a | bb"
    assert lines[1] == "--+---"
    assert lines[2] == "1 | 2"


def test_render_table_one_row_is_singular() -> None:
    assert render_table(["n"], [[1]]).splitlines()[-1] == "(1 row)"


def test_render_table_no_rows() -> None:
    assert render_table(["minute", "reports"], []) == "minute | reports\n-------+--------\n(0 rows)"


def test_render_table_widens_columns_to_the_longest_value() -> None:
    table = render_table(["id", "x"], [["a-very-long-id", 1], ["b", 22]])
    assert table.splitlines() == [
        "id             | x",
        "---------------+---",
        "a-very-long-id | 1",
        "b              | 22",
        "(2 rows)",
    ]


def test_render_table_none_is_empty_but_falsy_values_are_shown() -> None:
    lines = render_table(["a", "b", "c", "d"], [[None, 0, False, ""]]).splitlines()
    assert lines[2] == "  | 0 | False |"
    assert "None" not in "\n".join(lines)


def test_render_table_row_count_line_counts_rows() -> None:
    rows = [[i] for i in range(12)]
    table = render_table(["i"], rows)
    assert table.endswith("\n(12 rows)")
    assert len(table.splitlines()) == 2 + 12 + 1


def test_render_table_accepts_tuples_and_chinese() -> None:
    lines = render_table(("省份", "损失"), [("湖北", 1_200_050)]).splitlines()
    assert lines[0] == "省份 | 损失"
    assert lines[2] == "湖北 | 1200050"
    assert lines[3] == "(1 row)"


def test_float32_values_show_as_clickhouse_shows_them() -> None:
    widened = float(np.float32(0.786))  # what clickhouse-connect hands back for a Float32 0.786
    assert widened != 0.786
    rows = as_shown(["String", "Float32", "Nullable(Float32)", "Float64"], [["a", widened, None, widened]])
    assert rows == [["a", 0.786, None, widened]]  # Float64 columns are left exactly as they are


def test_shortest_float32_round_trips() -> None:
    for value in (0.0, 1.0, 0.1, 0.786, 1e-7, 3.4028234663852886e38, -2.5, 16777217.0, 0.3333333432674408):
        shown = shortest_float32(value)
        assert np.float32(shown) == np.float32(value)
        assert len(repr(shown)) <= len(repr(value))
