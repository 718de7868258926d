"""The leak filter's pure part: fingerprints of hashed identifiers and the candidate test."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sinks.leak_filter import _fingerprints_one_by_one, candidates, fingerprints

hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
identifier = st.builds(lambda kind, digest: f"{kind}:{digest}", st.sampled_from(["phone", "id_card", "qq"]), hex32)
# Anything a message could carry, including what no lookup sends: short, upper-case, non-ASCII, line breaks.
anything = st.one_of(identifier, st.text(max_size=12), st.text("0123456789abcdefABCDEF\n:é", max_size=40))


def test_fingerprints_are_the_last_eight_hex_digits() -> None:
    ids = ["phone:" + "0" * 24 + "deadbeef", "qq:" + "f" * 32, "id_card:" + "1" * 24 + "00000001"]
    values, has = fingerprints(ids)
    assert values.tolist() == [0xDEADBEEF, 0xFFFFFFFF, 1] and has.all()
    assert values.dtype == np.uint32
    assert [len(part) for part in fingerprints([])] == [0, 0]


def test_only_lower_case_hex_tails_have_fingerprints() -> None:
    ids = ["phone:" + "0" * 31 + "G", "deadbeef", "eadbeef", "", "phone:" + "A" * 32, "x:" + "é" + "0" * 7]
    assert fingerprints(ids)[1].tolist() == [False, True, False, False, False, False]


@given(st.lists(anything, max_size=30))
def test_fingerprints_at_once_equal_one_by_one(ids: list[str]) -> None:
    values, has = fingerprints(ids)
    slow_values, slow_has = _fingerprints_one_by_one(ids)
    assert has.tolist() == slow_has.tolist()
    assert values[has].tolist() == slow_values[slow_has].tolist()


@given(st.lists(identifier, max_size=60), st.lists(anything, max_size=60))
def test_candidates_are_those_sharing_a_fingerprint_or_without_one(indexed: list[str], asked: list[str]) -> None:
    # Asked identifiers include some indexed ones and, by construction, near-misses sharing only the tail.
    near_misses = [f"email:{'9' * 24}{i[-8:]}" for i in indexed[:5]]
    asked = asked + indexed[::2] + near_misses
    known = np.unique(fingerprints(indexed)[0])
    tails = {i[-8:] for i in indexed}
    _, has = _fingerprints_one_by_one(asked)
    assert candidates(asked, known) == [
        a for a, ok in zip(asked, has.tolist(), strict=True) if not ok or a[-8:] in tails
    ]


def test_no_candidates_from_an_empty_filter_but_those_without_a_fingerprint() -> None:
    assert candidates(["phone:" + "a" * 32, "bad"], np.empty(0, np.uint32)) == ["bad"]
