"""Unit tests for fraudwatch.regions: province table and region_problem validation of 6-digit codes."""

from __future__ import annotations

import pytest

from fraudwatch.regions import PROVINCES, region_problem


@pytest.mark.parametrize("code", ["420106", "110101", "310115", "440305", "650102", "540102", "810000", "820000"])
def test_plausible_codes_have_no_problem(code: str) -> None:
    assert region_problem(code) is None


def test_every_province_prefix_is_accepted() -> None:
    for prefix in PROVINCES:
        assert region_problem(prefix + "0000") is None, prefix


def test_province_table_covers_34_divisions_with_two_digit_keys() -> None:
    assert len(PROVINCES) == 34
    assert all(len(k) == 2 and k.isascii() and k.isdigit() for k in PROVINCES)
    assert PROVINCES["42"] == "湖北"
    assert PROVINCES["11"] == "北京"


@pytest.mark.parametrize(
    "code", ["", "4201", "42010", "4201060", "42010a", "abcdef", "420 106", "42-0106", " 420106", "420106 "]
)
def test_malformed_codes_are_rejected_with_the_format_message(code: str) -> None:
    assert region_problem(code) == "must be a 6-digit administrative division code, e.g. 420106"


@pytest.mark.parametrize(("code", "prefix"), [("990000", "99"), ("000000", "00"), ("100000", "10"), ("720000", "72")])
def test_unknown_province_prefix_is_named(code: str, prefix: str) -> None:
    assert region_problem(code) == f"unknown province prefix {prefix!r}"


def test_trailing_newline_is_rejected() -> None:
    assert region_problem("420106\n") is not None


def test_non_ascii_digits_are_rejected() -> None:
    assert region_problem("42０１０６") is not None
