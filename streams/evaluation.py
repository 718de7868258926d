"""Classification metrics for the fraud categorizer: precision, recall, F1, macro-F1 and a confusion matrix.

Pure functions over (label, predicted) pairs, so the same code serves the unit-test quality gate, the
`fraudwatch classify --evaluate` command and ad-hoc analysis. No third-party dependency: the numbers must
mean the same thing everywhere they are quoted.

Conventions (the usual ones, stated because they change results): a category with no predictions has
precision 0, one with no gold examples has recall 0, and F1 is 0 when precision + recall is 0. Macro-F1 is
the unweighted mean of per-category F1 over the evaluated labels, which by default are the categories that
occur as a gold label or as a prediction (a category nobody used does not dilute the mean).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CategoryMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    """How many gold examples have this label."""
    predicted: int
    """How many examples were predicted as this label."""


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    labels: tuple[str, ...]
    per_category: tuple[CategoryMetrics, ...]
    macro_precision: float
    macro_recall: float
    macro_f1: float
    accuracy: float
    total: int
    confusion: tuple[tuple[int, ...], ...]
    """confusion[i][j]: examples with gold label labels[i] predicted as labels[j]."""

    def metrics_for(self, label: str) -> CategoryMetrics:
        for metrics in self.per_category:
            if metrics.label == label:
                return metrics
        raise KeyError(label)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _labels_of(pairs: Sequence[tuple[str, str]], labels: Sequence[str] | None) -> tuple[str, ...]:
    if labels is not None:
        if len(set(labels)) != len(labels):
            raise ValueError("labels must be distinct")
        unknown = {x for pair in pairs for x in pair} - set(labels)
        if unknown:
            raise ValueError(f"pairs use labels outside the given labels: {sorted(unknown)}")
        return tuple(labels)
    return tuple(sorted({x for pair in pairs for x in pair}))


def confusion_matrix(
    pairs: Iterable[tuple[str, str]], labels: Sequence[str] | None = None
) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """The labels (rows: gold, columns: predicted) and the matrix of counts."""
    pairs = list(pairs)
    order = _labels_of(pairs, labels)
    counts = Counter(pairs)
    matrix = tuple(tuple(counts[(gold, predicted)] for predicted in order) for gold in order)
    return order, matrix


def evaluate(pairs: Iterable[tuple[str, str]], labels: Sequence[str] | None = None) -> EvaluationReport:
    """Per-category and macro metrics for (gold label, predicted label) pairs.

    `labels` fixes which categories are evaluated and in what order (e.g. the full taxonomy, so that a
    category the data never mentions shows up with zeros); by default the labels that occur are used.
    """
    pairs = list(pairs)
    order, matrix = confusion_matrix(pairs, labels)
    per_category: list[CategoryMetrics] = []
    for i, label in enumerate(order):
        true_positive = matrix[i][i]
        support = sum(matrix[i])
        predicted = sum(row[i] for row in matrix)
        precision = _ratio(true_positive, predicted)
        recall = _ratio(true_positive, support)
        per_category.append(CategoryMetrics(label, precision, recall, _f1(precision, recall), support, predicted))
    # With explicit labels, a category absent from both gold and predictions carries no information.
    used = [m for m in per_category if m.support or m.predicted]
    count = len(used)
    correct = sum(matrix[i][i] for i in range(len(order)))
    return EvaluationReport(
        labels=order,
        per_category=tuple(per_category),
        macro_precision=sum(m.precision for m in used) / count if count else 0.0,
        macro_recall=sum(m.recall for m in used) / count if count else 0.0,
        macro_f1=sum(m.f1 for m in used) / count if count else 0.0,
        accuracy=_ratio(correct, len(pairs)),
        total=len(pairs),
        confusion=matrix,
    )


def _abbreviation(label: str, width: int) -> str:
    parts = label.split("_")
    short = "".join(part[:3] for part in parts) if len(parts) > 1 else label
    return short[:width]


def render(report: EvaluationReport) -> str:
    """Plain-text tables: per-category metrics with macro averages, then the confusion matrix."""
    name_width = max([len("macro avg"), *(len(label) for label in report.labels)])
    lines = [
        f"{'category':<{name_width}}  precision  recall     f1  support  predicted",
    ]
    for m in report.per_category:
        lines.append(
            f"{m.label:<{name_width}}  {m.precision:9.3f}  {m.recall:6.3f}  {m.f1:5.3f}"
            f"  {m.support:7d}  {m.predicted:9d}"
        )
    lines.append(
        f"{'macro avg':<{name_width}}  {report.macro_precision:9.3f}  {report.macro_recall:6.3f}  "
        f"{report.macro_f1:5.3f}  {report.total:7d}"
    )
    lines.append(f"accuracy {report.accuracy:.3f} over {report.total} examples; macro-F1 {report.macro_f1:.3f}")
    lines.append("")
    if not report.labels:
        lines.append("confusion matrix: (no examples)")
        return "\n".join(lines)
    lines.append("confusion matrix (rows: gold, columns: predicted)")
    cell = max(6, *(len(str(value)) for row in report.confusion for value in row))
    short = [_abbreviation(label, cell) for label in report.labels]
    lines.append(" " * name_width + "".join(f" {s:>{cell}}" for s in short))
    for label, row in zip(report.labels, report.confusion, strict=True):
        lines.append(f"{label:<{name_width}}" + "".join(f" {value:>{cell}}" for value in row))
    if any(s != label for s, label in zip(short, report.labels, strict=True)):
        legend = ", ".join(f"{s}={label}" for s, label in zip(short, report.labels, strict=True) if s != label)
        lines.append(f"columns: {legend}")
    return "\n".join(lines)
