"""Severity of a leak batch under article 5 of the 2017 interpretation (法释〔2017〕10号): at and around
every threshold, the proportional sum across classes, and thresholds given as a parameter."""

from __future__ import annotations

import pytest

from fraudwatch.leaks import (
    DEFAULT_THRESHOLDS,
    INFO_BIT,
    ClassCounts,
    InfoClass,
    InfoType,
    Severity,
    Thresholds,
    class_mask,
    mask_of,
    record_class,
    severity,
)

NONE, SERIOUS, ESPECIALLY = Severity.NONE, Severity.SERIOUS, Severity.ESPECIALLY_SERIOUS


def counts(cls: str, n: int) -> ClassCounts:
    return ClassCounts(**{cls: n})


@pytest.mark.parametrize(
    ("cls", "n", "expected"),
    [
        # class A: whereabouts, communication content, credit, property
        ("a", 0, NONE), ("a", 1, NONE), ("a", 49, NONE), ("a", 50, SERIOUS), ("a", 51, SERIOUS),
        ("a", 499, SERIOUS), ("a", 500, ESPECIALLY), ("a", 501, ESPECIALLY),
        # class B: accommodation, communication records, health, transactions
        ("b", 499, NONE), ("b", 500, SERIOUS), ("b", 501, SERIOUS),
        ("b", 4_999, SERIOUS), ("b", 5_000, ESPECIALLY), ("b", 5_001, ESPECIALLY),
        # class C: all other personal information
        ("c", 4_999, NONE), ("c", 5_000, SERIOUS), ("c", 5_001, SERIOUS),
        ("c", 49_999, SERIOUS), ("c", 50_000, ESPECIALLY), ("c", 26_000_000, ESPECIALLY),
    ],
)  # fmt: skip
def test_each_class_at_and_around_its_thresholds(cls: str, n: int, expected: Severity) -> None:
    assert severity(counts(cls, n)) is expected


def test_defaults_are_the_interpretations_numbers() -> None:
    assert Thresholds(class_a=50, class_b=500, class_c=5000, especially_factor=10) == DEFAULT_THRESHOLDS


@pytest.mark.parametrize(
    ("a", "b", "c", "expected"),
    [
        (25, 250, 0, SERIOUS),  # half of A's threshold and half of B's: together one threshold
        (25, 249, 0, NONE),  # 0.5 + 0.498 never rounds up to 1
        (0, 250, 2_500, SERIOUS),
        (0, 250, 2_499, NONE),
        (10, 100, 3_000, SERIOUS),  # 0.2 + 0.2 + 0.6
        (10, 100, 2_999, NONE),
        (250, 2_500, 0, ESPECIALLY),  # 5 + 5 thresholds = ten times
        (250, 2_499, 0, SERIOUS),
        (49, 499, 4_999, SERIOUS),  # just under each one alone, well over together
    ],
)
def test_counts_below_single_thresholds_add_up_in_proportion(a: int, b: int, c: int, expected: Severity) -> None:
    assert severity(ClassCounts(a, b, c)) is expected


def test_thresholds_are_a_parameter() -> None:
    stricter = Thresholds(class_a=10, class_b=100, class_c=1000, especially_factor=5)
    assert severity(ClassCounts(a=9), stricter) is NONE
    assert severity(ClassCounts(a=10), stricter) is SERIOUS
    assert severity(ClassCounts(a=49), stricter) is SERIOUS
    assert severity(ClassCounts(a=50), stricter) is ESPECIALLY
    assert severity(ClassCounts(c=999), stricter) is NONE and severity(ClassCounts(c=1000), stricter) is SERIOUS
    assert severity(ClassCounts(a=50)) is SERIOUS  # the defaults are untouched


@pytest.mark.parametrize("bad", [{"class_a": 0}, {"class_c": -5}, {"especially_factor": 0}])
def test_thresholds_must_be_positive(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="positive"):
        Thresholds(**bad)


def test_severity_levels_and_labels_are_what_leak_batches_stores() -> None:
    assert [(int(s), s.label) for s in Severity] == [(1, "none"), (2, "serious"), (3, "especially_serious")]


def test_class_counts_add() -> None:
    assert ClassCounts(1, 2, 3) + ClassCounts(10, 20, 30) == ClassCounts(11, 22, 33)


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([InfoType.PHONE], InfoClass.C),
        ([InfoType.NAME, InfoType.ID_CARD, InfoType.ADDRESS, InfoType.BANK_CARD], InfoClass.C),
        ([InfoType.PHONE, InfoType.ACCOMMODATION], InfoClass.B),
        ([InfoType.PHONE, InfoType.COMMUNICATION_RECORDS], InfoClass.B),
        ([InfoType.PHONE, InfoType.HEALTH, InfoType.TRANSACTIONS], InfoClass.B),
        ([InfoType.PHONE, InfoType.LOCATION], InfoClass.A),
        ([InfoType.PHONE, InfoType.TRANSACTIONS, InfoType.CREDIT], InfoClass.A),
        ([InfoType.QQ, InfoType.COMMUNICATION_CONTENT], InfoClass.A),
        ([InfoType.ID_CARD, InfoType.PROPERTY], InfoClass.A),
    ],
)
def test_a_record_counts_in_its_most_sensitive_class(types: list[InfoType], expected: InfoClass) -> None:
    assert record_class(mask_of(types)) is expected


def test_class_mask_names_every_class_a_record_exposes() -> None:
    assert class_mask(mask_of([InfoType.PHONE])) == 4
    assert class_mask(mask_of([InfoType.PHONE, InfoType.HEALTH, InfoType.LOCATION])) == 1 | 2 | 4


def test_info_bits_are_stable() -> None:
    # Stored masks depend on these positions: new information types may only be appended.
    assert INFO_BIT[InfoType.PHONE] == 1 and INFO_BIT[InfoType.ID_CARD] == 2
    assert INFO_BIT[InfoType.LOCATION] == 1 << 9 and INFO_BIT[InfoType.TRANSACTIONS] == 1 << 16


def test_thresholds_come_from_settings_when_wired() -> None:
    from types import SimpleNamespace

    from fraudwatch.leaks_cmd import thresholds_from
    from fraudwatch.settings import Settings

    assert thresholds_from(Settings()) == DEFAULT_THRESHOLDS  # not wired (yet): the interpretation's numbers
    wired = SimpleNamespace(leak_serious_class_a=40, leak_serious_class_b=None, leak_serious_class_c=4000,
                            leak_especially_serious_factor=8)  # fmt: skip
    assert thresholds_from(wired) == Thresholds(class_a=40, class_b=500, class_c=4000, especially_factor=8)  # type: ignore[arg-type]
