"""The leak filter's pure part: fingerprints of hashed identifiers and the candidate test."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sinks.leak_filter import candidates, fingerprints

hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
identifier = st.builds(lambda kind, digest: f"{kind}:{digest}", st.sampled_from(["phone", "id_card", "qq"]), hex32)


def test_fingerprints_are_the_last_eight_hex_digits() -> None:
    ids = ["phone:" + "0" * 24 + "deadbeef", "qq:" + "f" * 32, "id_card:" + "1" * 24 + "00000001"]
    assert fingerprints(ids).tolist() == [0xDEADBEEF, 0xFFFFFFFF, 1]
    assert fingerprints(ids).dtype == np.uint32
    assert fingerprints([]).tolist() == []


@given(st.lists(identifier, max_size=60), st.lists(identifier, max_size=60))
def test_candidates_are_exactly_those_sharing_a_fingerprint(indexed: list[str], asked: list[str]) -> None:
    # Asked identifiers include some indexed ones and, by construction, near-misses sharing only the tail.
    near_misses = [f"email:{'9' * 24}{i[-8:]}" for i in indexed[:5]]
    asked = asked + indexed[::2] + near_misses
    known = np.unique(fingerprints(indexed))
    tails = {i[-8:] for i in indexed}
    assert candidates(asked, known) == [a for a in asked if a[-8:] in tails]


def test_no_candidates_from_an_empty_filter() -> None:
    assert candidates(["phone:" + "a" * 32], np.empty(0, np.uint32)) == []
