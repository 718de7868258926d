"""`fraudwatch classify`: run the fraud-type classifier offline on one text or a file, or measure it.

Three modes, exactly one per call:

- `fraudwatch classify "TEXT"` prints the category, its confidence and the evidence that decided it;
- `--input reports.jsonl` reads JSON lines with `description` (and optional `id`, `citizen_category`,
  `channel`, `amount_fen`) and writes one JSON line `{"id", "category", "confidence", "evidence"}` per
  report to stdout;
- `--evaluate labelled.jsonl` reads JSON lines with `description` and `label` and prints per-category
  precision, recall, F1, macro-F1 and the confusion matrix.

A line that cannot be used is reported on stderr with its line number and counted, and the exit code is 1
if there was any: a file is never half-processed in silence. Blank lines carry no report; they are skipped
and counted in the summary. Registered on the main group by `fraudwatch.cli`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import click

from streams.categorizer import CATEGORIES, Classification, headline_class, taxonomy, taxonomy_version
from streams.categorizer import classify as classify_report
from streams.evaluation import evaluate, render

_OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {
    "citizen_category": (str,),
    "channel": (str,),
    "amount_fen": (int,),
}


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    item: dict[str, Any]


@dataclass(slots=True)
class _Tally:
    bad: int = 0
    blank: int = 0

    def report(self, number: int, problem: str) -> None:
        self.bad += 1
        click.echo(f"line {number}: {problem}", err=True)


def _lines(stream: IO[bytes], tally: _Tally, required: tuple[str, ...]) -> Iterator[_Line]:
    """Usable JSON objects from a JSON-lines byte stream; everything else goes to the tally."""
    for number, raw in enumerate(stream, 1):
        if not raw.strip():
            tally.blank += 1
            continue
        try:
            item = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            tally.report(number, f"not UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        except ValueError as exc:
            tally.report(number, f"not JSON ({exc})")
            continue
        problem = _problem(item, required)
        if problem:
            tally.report(number, problem)
            continue
        yield _Line(number, item)


def _problem(item: object, required: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict):
        return f"not a JSON object but {type(item).__name__}"
    for field in required:
        if not isinstance(item.get(field), str):
            return f"{field!r} missing or not a string"
    for field, types in _OPTIONAL_FIELDS.items():
        value = item.get(field)
        # bool is an int subclass in Python, but true/false is not an amount.
        if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
            return f"{field!r} must be {' or '.join(t.__name__ for t in types)}"
    report_id = item.get("id")
    if report_id is not None and (not isinstance(report_id, str | int) or isinstance(report_id, bool)):
        return "'id' must be a string or an integer"
    if "label" in required and item["label"] not in CATEGORIES:
        return f"unknown label {item['label']!r}"
    return None


def _classify_item(item: dict[str, Any]) -> Classification:
    return classify_report(
        item["description"],
        citizen_category=item.get("citizen_category"),
        channel=item.get("channel"),
        amount_fen=item.get("amount_fen"),
    )


def _names() -> dict[str, str]:
    return {entry["code"]: entry["name_zh"] for entry in taxonomy()["categories"]}


def _print_one(text: str, citizen_category: str | None) -> None:
    result = classify_report(text, citizen_category=citizen_category)
    click.echo(f"category:   {result.code} ({_names().get(result.code, '?')}; headline {headline_class(result.code)})")
    click.echo(f"confidence: {result.confidence:.3f}")
    click.echo(f"evidence:   {', '.join(result.evidence) if result.evidence else '(none)'}")


def _classify_file(stream: IO[bytes], tally: _Tally) -> int:
    done = 0
    for line in _lines(stream, tally, ("description",)):
        result = _classify_item(line.item)
        record = {
            "id": line.item.get("id"),
            "category": result.code,
            "confidence": result.confidence,
            "evidence": list(result.evidence),
        }
        click.echo(json.dumps(record, ensure_ascii=False))
        done += 1
    return done


def _evaluate_file(stream: IO[bytes], tally: _Tally, show_errors: bool) -> int:
    pairs: list[tuple[str, str]] = []
    for line in _lines(stream, tally, ("description", "label")):
        result = _classify_item(line.item)
        pairs.append((line.item["label"], result.code))
        if show_errors and result.code != line.item["label"]:
            click.echo(
                f"line {line.number}: {line.item['label']} -> {result.code} ({result.confidence:.2f}; "
                f"{', '.join(result.evidence) or 'no evidence'}): {line.item['description'][:80]}"
            )
    if pairs:
        click.echo(f"taxonomy {taxonomy_version()}")
        click.echo(render(evaluate(pairs, CATEGORIES)))
    else:
        click.echo("no usable labelled lines", err=True)
    return len(pairs)


@click.command("classify")
@click.argument("text", required=False)
@click.option(
    "--input",
    "input_file",
    type=click.File("rb"),
    help="JSON lines with description and optional id ('-' for stdin); writes JSON lines to stdout.",
)
@click.option(
    "--evaluate",
    "evaluate_file",
    type=click.File("rb"),
    help="JSON lines with description and label; prints precision, recall, F1, macro-F1, confusion matrix.",
)
@click.option("--show-errors", is_flag=True, help="With --evaluate: also list the misclassified lines.")
@click.option(
    "--citizen-category",
    type=click.Choice(CATEGORIES),
    help="With TEXT: the reporter's own choice (a weak hint, never taken blindly).",
)
def classify(
    text: str | None,
    input_file: IO[bytes] | None,
    evaluate_file: IO[bytes] | None,
    show_errors: bool,
    citizen_category: str | None,
) -> None:
    """Classify a fraud report description (TEXT), a JSON-lines file (--input), or measure (--evaluate)."""
    given = [name for name, value in (("TEXT", text), ("--input", input_file), ("--evaluate", evaluate_file)) if value]
    if len(given) != 1:
        raise click.UsageError("give exactly one of TEXT, --input or --evaluate")
    if text is not None:
        _print_one(text, citizen_category)
        return
    tally = _Tally()
    if input_file is not None:
        done, verb = _classify_file(input_file, tally), "classified"
    elif evaluate_file is not None:
        done, verb = _evaluate_file(evaluate_file, tally, show_errors), "evaluated"
    else:  # unreachable: exactly one mode was given, checked above
        raise click.UsageError("give exactly one of TEXT, --input or --evaluate")
    click.echo(f"{verb} {done}, bad lines {tally.bad}, blank lines {tally.blank}", err=True)
    if tally.bad:
        raise SystemExit(1)
