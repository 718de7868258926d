"""Throughput of streams.categorizer.classify on one core (a script to run by hand, not a test).

Classifies the dev and held-out descriptions, repeated, and times a trivial baseline (`str.lower`) over the
same texts in the same run, so the ratio means something on any machine. Also reports longer synthetic
texts (descriptions joined to ~100 and ~200 characters), because the cost grows with the text length.

    python benchmarks/bench_categorizer.py [--repeat 30] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.categorizer import classify  # noqa: E402 (needs the sys.path entry above)

DATA = (ROOT / "data" / "categorizer" / "dev.jsonl", ROOT / "data" / "categorizer" / "heldout.jsonl")


def _descriptions() -> list[str]:
    texts: list[str] = []
    for path in DATA:
        with path.open(encoding="utf-8") as lines:
            texts.extend(json.loads(line)["description"] for line in lines if line.strip())
    return texts


def _joined(texts: Sequence[str], length: int) -> list[str]:
    """Texts of about `length` characters, made by joining consecutive descriptions."""
    out: list[str] = []
    current = ""
    for text in texts:
        current = f"{current}，{text}" if current else text
        if len(current) >= length:
            out.append(current[:length])
            current = ""
    return out


def _best_rate(function: Callable[[str], object], texts: Sequence[str], rounds: int) -> float:
    """Calls per second, best of `rounds` passes (the least disturbed by other processes)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text in texts:
            function(text)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30, help="how many times the data set is repeated")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes; the best one is reported")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        # One core, as the requirement is stated; also keeps the scheduler from moving the process around.
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    base = _descriptions()
    sets = {
        "dev+heldout": base,
        "~100 chars": _joined(base, 100),
        "~200 chars": _joined(base, 200),
    }
    for text in base[:200]:  # warm-up: import-time work and caches out of the measurement
        classify(text)
    print(f"python {sys.version.split()[0]}; best of {args.rounds} passes; each set repeated {args.repeat}x")
    print(f"{'texts':<12} {'n':>7} {'avg chars':>9} {'classify/s':>11} {'str.lower/s':>12} {'ratio':>7}")
    for name, texts in sets.items():
        repeated = list(texts) * args.repeat
        rate = _best_rate(classify, repeated, args.rounds)
        baseline = _best_rate(str.lower, repeated, args.rounds)
        average = sum(map(len, texts)) / len(texts)
        print(
            f"{name:<12} {len(repeated):>7} {average:>9.0f} {rate:>11,.0f} {baseline:>12,.0f} {baseline / rate:>6.0f}x"
        )


if __name__ == "__main__":
    main()
