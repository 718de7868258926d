"""Which identifiers a leak lookup sends: only strings of the HASHED_IDENTIFIER shape, checked in one pass
where all of them are, one by one otherwise, with the same answer either way; and how many per query."""

from __future__ import annotations

import random

from sinks.leaks import BOUND_CHUNK, EMBEDDED_BOUND_CHUNK, HASHED_IDENTIFIER, _hashed, lookup_chunk


def _one_by_one(identifiers: list[str]) -> list[str]:
    return [i for i in identifiers if HASHED_IDENTIFIER.fullmatch(i)]


def test_all_hashed_identifiers_are_kept_in_order() -> None:
    rng = random.Random(7)
    identifiers = [f"{rng.choice(['phone', 'id_card', 'wechat'])}:{rng.getrandbits(128):032x}" for _ in range(5_000)]
    assert _hashed(identifiers) == identifiers


def test_anything_else_is_left_out_whatever_it_holds() -> None:
    valid = ["phone:" + "0" * 32, "qq:" + "f" * 32]
    # Two valid identifiers joined by a line break would pass a check of all identifiers joined by line breaks.
    tricky = [
        "phone:" + "0" * 32 + "\nphone:" + "1" * 32,
        "phone:" + "0" * 32 + "\n",
        "\nphone:" + "0" * 32,
        "",
        "x'); DROP TABLE reports; --",
        "phone:" + "0" * 31,
        "Phone:" + "0" * 32,
        "phone:" + "0" * 32 + "'",
    ]
    for bad in tricky:
        for identifiers in ([bad], [*valid, bad], [bad, *valid], [valid[0], bad, valid[1]]):
            assert _hashed(identifiers) == _one_by_one(identifiers), identifiers
    assert _hashed([]) == []


def test_lookup_queries_are_as_large_as_the_endpoint_takes() -> None:
    assert lookup_chunk(None, embedded=True) == EMBEDDED_BOUND_CHUNK > BOUND_CHUNK
    assert lookup_chunk(None, embedded=False) == BOUND_CHUNK
    assert lookup_chunk(500, embedded=True) == lookup_chunk(500, embedded=False) == 500
