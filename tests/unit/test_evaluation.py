"""Unit tests for streams.evaluation (metrics checked against hand-computed values), the held-out quality
gate of the categorizer, the evaluation data sets themselves, and the `fraudwatch classify` command."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from fraudwatch.classify_cmd import classify as classify_command
from streams.categorizer import CATEGORIES, classify
from streams.evaluation import confusion_matrix, evaluate, render

DATA = Path(__file__).resolve().parents[2] / "data" / "categorizer"

# Gold a,a,a,b,b,c,c predicted a,a,b,b,c,c,a. By hand:
#   a: tp 2, support 3, predicted 3 -> P 2/3, R 2/3, F1 2/3
#   b: tp 1, support 2, predicted 2 -> P 1/2, R 1/2, F1 1/2
#   c: tp 1, support 2, predicted 2 -> P 1/2, R 1/2, F1 1/2
#   macro-F1 (2/3 + 1/2 + 1/2) / 3 = 5/9; accuracy 4/7
THREE = [("a", "a"), ("a", "a"), ("a", "b"), ("b", "b"), ("b", "c"), ("c", "c"), ("c", "a")]


def test_confusion_matrix_rows_gold_columns_predicted() -> None:
    labels, matrix = confusion_matrix(THREE)
    assert labels == ("a", "b", "c")
    assert matrix == ((2, 1, 0), (0, 1, 1), (1, 0, 1))


def test_per_category_and_macro_metrics_by_hand() -> None:
    report = evaluate(THREE)
    a, b, c = report.per_category
    assert (a.label, a.support, a.predicted) == ("a", 3, 3)
    assert a.precision == pytest.approx(2 / 3) and a.recall == pytest.approx(2 / 3) and a.f1 == pytest.approx(2 / 3)
    assert (b.precision, b.recall, b.f1, b.support, b.predicted) == (0.5, 0.5, 0.5, 2, 2)
    assert (c.precision, c.recall, c.f1) == (0.5, 0.5, 0.5)
    assert report.macro_f1 == pytest.approx(5 / 9)
    assert report.macro_precision == pytest.approx(5 / 9)
    assert report.accuracy == pytest.approx(4 / 7)
    assert report.total == 7


def test_precision_and_recall_differ() -> None:
    # Gold x,x,x,y predicted x,y,y,y. x: P 1/1, R 1/3, F1 2*(1/3)/(4/3) = 1/2; y: P 1/3, R 1/1, F1 1/2.
    report = evaluate([("x", "x"), ("x", "y"), ("x", "y"), ("y", "y")])
    x, y = report.metrics_for("x"), report.metrics_for("y")
    assert (x.precision, x.recall, x.f1) == pytest.approx((1.0, 1 / 3, 0.5))
    assert (y.precision, y.recall, y.f1) == pytest.approx((1 / 3, 1.0, 0.5))
    assert report.macro_f1 == pytest.approx(0.5)
    assert report.macro_recall == pytest.approx(2 / 3)


def test_zero_divisions_are_zero() -> None:
    # x is never predicted (precision 0/0), y never occurs in gold (recall 0/0).
    report = evaluate([("x", "y")])
    assert [(m.precision, m.recall, m.f1) for m in report.per_category] == [(0.0, 0.0, 0.0), (0.0, 0.0, 0.0)]
    assert report.macro_f1 == 0.0 and report.accuracy == 0.0


def test_perfect_predictions() -> None:
    report = evaluate([("a", "a"), ("b", "b")])
    assert report.macro_f1 == report.accuracy == 1.0


def test_explicit_labels_fix_order_and_unused_labels_do_not_dilute_the_mean() -> None:
    report = evaluate(THREE, labels=["c", "b", "a", "z"])
    assert report.labels == ("c", "b", "a", "z")
    assert report.confusion[0] == (1, 0, 1, 0)  # gold c: one c, one a
    z = report.metrics_for("z")
    assert (z.support, z.predicted, z.f1) == (0, 0, 0.0)
    assert report.macro_f1 == pytest.approx(5 / 9)


def test_explicit_labels_must_cover_the_pairs_and_be_distinct() -> None:
    with pytest.raises(ValueError, match="outside"):
        evaluate([("a", "q")], labels=["a"])
    with pytest.raises(ValueError, match="distinct"):
        evaluate([("a", "a")], labels=["a", "a"])


def test_metrics_for_unknown_label() -> None:
    with pytest.raises(KeyError):
        evaluate(THREE).metrics_for("nope")


def test_no_pairs() -> None:
    report = evaluate([])
    assert (report.total, report.accuracy, report.macro_f1, report.labels, report.confusion) == (0, 0.0, 0.0, (), ())
    assert render(report).endswith("confusion matrix: (no examples)")


def test_render_exact_layout() -> None:
    assert render(evaluate(THREE)).splitlines() == [
        "category   precision  recall     f1  support  predicted",
        "a              0.667   0.667  0.667        3          3",
        "b              0.500   0.500  0.500        2          2",
        "c              0.500   0.500  0.500        2          2",
        "macro avg      0.556   0.556  0.556        7",
        "accuracy 0.571 over 7 examples; macro-F1 0.556",
        "",
        "confusion matrix (rows: gold, columns: predicted)",
        "               a      b      c",
        "a              2      1      0",
        "b              0      1      1",
        "c              1      0      1",
    ]


def test_render_abbreviates_long_column_labels_with_a_legend() -> None:
    text = render(evaluate([("part_time_job", "part_time_job"), ("loan", "part_time_job")]))
    assert "partim" in text.splitlines()[-4]
    assert text.splitlines()[-1] == "columns: partim=part_time_job"


# --- the evaluation data and the quality gate --------------------------------------------------------------


def _labelled(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    assert all(set(row) == {"description", "label"} for row in rows), name
    return [(row["label"], row["description"]) for row in rows]


def test_evaluation_sets_cover_every_category_and_do_not_overlap() -> None:
    dev, heldout = _labelled("dev.jsonl"), _labelled("heldout.jsonl")
    for label, description in dev + heldout:
        assert label in CATEGORIES and description.strip()
    counts = Counter(label for label, _ in dev + heldout)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 30, counts
    assert min(Counter(label for label, _ in heldout).values()) >= 15
    assert not {d for _, d in dev} & {d for _, d in heldout}


def test_heldout_macro_f1_quality_gate() -> None:
    """The rules were never tuned on the held-out set; this guards against regressions on it."""
    pairs = [(label, classify(description).code) for label, description in _labelled("heldout.jsonl")]
    report = evaluate(pairs, CATEGORIES)
    assert report.macro_f1 >= 0.90, render(report)


# --- `fraudwatch classify` ---------------------------------------------------------------------------------


def _runner() -> CliRunner:
    # Click 8.2 keeps stderr apart by default; older versions need mix_stderr=False to do so.
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:
        return CliRunner()


def test_command_classifies_one_text() -> None:
    result = _runner().invoke(classify_command, ["在抖音看到点赞赚钱的兼职，先垫付了3000元"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("category:   part_time_job (")
    assert lines[1].startswith("confidence: 0.")
    assert "垫付" in lines[2]


def test_command_needs_exactly_one_mode(tmp_path: Path) -> None:
    assert _runner().invoke(classify_command, []).exit_code == 2
    (tmp_path / "r.jsonl").write_text("", encoding="utf-8")
    assert _runner().invoke(classify_command, ["text", "--input", str(tmp_path / "r.jsonl")]).exit_code == 2


def test_command_input_writes_json_lines_and_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "reports.jsonl"
    path.write_bytes(
        b'{"id": 7, "description": "\xe8\x87\xaa\xe7\xa7\xb0\xe5\x85\xac\xe5\xae\x89\xe5\xb1\x80\xe8\xaf\xb4\xe6\x88'
        b'\x91\xe6\xb6\x89\xe5\xab\x8c\xe6\xb4\x97\xe9\x92\xb1"}\n'  # 自称公安局说我涉嫌洗钱
        b"\n"
        b"not json\n"
        b'{"description": 5}\n'
        b'{"description": "x", "amount_fen": true}\n'
        b"\xff\xfe\n"
        b"[1, 2]\n"
        b'{"description": "   "}\n'
    )
    result = _runner().invoke(classify_command, ["--input", str(path)])
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["id"] == 7 and records[0]["category"] == "impersonate_officials"
    assert set(records[0]) == {"id", "category", "confidence", "evidence"} and records[0]["evidence"]
    assert records[1] == {"id": None, "category": "other", "confidence": 0.0, "evidence": []}
    errors = result.stderr.splitlines()
    assert [e.split(":")[0] for e in errors[:-1]] == ["line 3", "line 4", "line 5", "line 6", "line 7"]
    assert errors[-1] == "classified 2, bad lines 5, blank lines 1"


def test_command_input_from_stdin_all_good_exits_zero() -> None:
    lines = [{"id": "r1", "description": "航班取消了要改签"}, {"id": "r2", "description": "网贷要先交解冻金"}]
    stdin = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in lines)
    result = _runner().invoke(classify_command, ["--input", "-"], input=stdin.encode("utf-8"))
    assert result.exit_code == 0, result.stderr
    assert [json.loads(line)["category"] for line in result.stdout.splitlines()] == ["ticket_refund", "loan"]


def test_command_evaluate_prints_metrics_and_rejects_unknown_labels(tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    rows = [
        {"description": "刷单兼职垫付了3000", "label": "part_time_job"},
        {"description": "自称公安局说我涉嫌洗钱", "label": "impersonate_officials"},
        {"description": "刷单被骗", "label": "lottery"},
    ]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    result = _runner().invoke(classify_command, ["--evaluate", str(path)])
    assert result.exit_code == 1
    assert "macro-F1 1.000" in result.stdout
    assert "line 3: unknown label 'lottery'" in result.stderr
