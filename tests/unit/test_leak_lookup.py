"""Which identifiers a leak lookup sends: only strings of the HASHED_IDENTIFIER shape, checked in one pass
where all of them are, one by one otherwise, with the same answer either way; how many per query; and
how the answer is matched back to each report (against a per-report reference, with an index double)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from sinks.leaks import (
    BOUND_CHUNK,
    EMBEDDED_BOUND_CHUNK,
    HASHED_IDENTIFIER,
    NO_MATCH,
    BatchMatch,
    LeakIndex,
    LeakMatch,
    _hashed,
    lookup_chunk,
    match_reports,
)
from streams.envelope import SanitisedReport
from streams.facts import victim_identifiers


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


POOL = [f"{kind}:{n:032x}" for kind in ("phone", "id_card", "qq") for n in range(6)]


class _IndexDouble(LeakIndex):
    """The index's answer without ClickHouse: a fixed identifier -> [(batch, mask)] (the real lookup is
    tested against the embedded engine in tests/integration/test_leaks.py)."""

    def __init__(self, known: dict[str, list[tuple[str, int]]]) -> None:
        self.known = known

    def lookup(self, identifiers: Iterable[str]) -> dict[str, list[tuple[str, int]]]:
        return {i: self.known[i] for i in set(identifiers) if i in self.known}


def _reference_matches(identifiers: Sequence[str], hits: Mapping[str, list[tuple[str, int]]]) -> dict[str, BatchMatch]:
    by_batch: dict[str, tuple[list[str], int]] = {}
    for identifier in dict.fromkeys(identifiers):
        for batch_id, mask in hits.get(identifier, ()):
            ids, known = by_batch.get(batch_id, ([], 0))
            by_batch[batch_id] = ([*ids, identifier], known | mask)
    return {b: BatchMatch(tuple(ids), mask) for b, (ids, mask) in by_batch.items()}


def _per_report(index: LeakIndex, reports: list[SanitisedReport]) -> list[LeakMatch]:
    hits = index.lookup({i for r in reports for i in (*victim_identifiers(r), *r.scammer_contacts)})
    return [
        LeakMatch(_reference_matches(victim_identifiers(r), hits), _reference_matches(r.scammer_contacts, hits))
        if any(i in hits for i in (*victim_identifiers(r), *r.scammer_contacts))
        else NO_MATCH
        for r in reports
    ]


MOMENT = datetime(2026, 11, 29, tzinfo=UTC)
identifier_or_none = st.sampled_from(["", *POOL])
report = st.builds(
    lambda n, phone, id_hash, contacts: SanitisedReport(
        report_id=f"r{n}", reported_at=MOMENT, occurred_at=MOMENT, channel="app", region_code="110105",
        amount_lost_fen=100, description="", victim_phone_hash=phone, victim_id_hash=id_hash,
        scammer_contacts=tuple(contacts),
    ),
    st.integers(0, 10**6), identifier_or_none, identifier_or_none, st.lists(st.sampled_from(POOL), max_size=4),
)  # fmt: skip
index_entries = st.dictionaries(
    st.sampled_from(POOL),
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(1, 7)), min_size=1, max_size=3, unique_by=lambda t: t[0]
    ),
)


@settings(max_examples=200)
@given(st.lists(report, max_size=40), index_entries)
def test_each_report_gets_the_batches_of_its_own_identifiers(
    reports: list[SanitisedReport], known: dict[str, list[tuple[str, int]]]
) -> None:
    index = _IndexDouble(known)
    assert match_reports(index, reports) == _per_report(index, reports)
