"""The leak-file parser of fraudwatch.leaks: hashing exactly like the API, column mapping, information
types, and bad files (wrong encoding, missing columns, broken lines, empty) reported clearly."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from fraudwatch.leaks import (
    INFO_BIT,
    InfoType,
    KeyedHasher,
    LeakFile,
    LeakFileError,
    LeakRecord,
    Problem,
    clean_identifier,
    parse_mapping,
    plan_columns,
)
from fraudwatch.pii import IdentifierKind, normalise, tagged_hash
from fraudwatch.reports import ReportIn, sanitise

KEY = b"unit-test-key"
PHONE, ID_CARD = "13800138000", "11010519491231002X"


def write(tmp_path: Path, text: str, name: str = "leak.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read(path: Path, **options: object) -> tuple[list[LeakRecord], list[Problem], LeakFile]:
    leak = LeakFile(path, **options)  # type: ignore[arg-type]
    items = list(leak)
    return [i for i in items if isinstance(i, LeakRecord)], [i for i in items if isinstance(i, Problem)], leak


# --- hashing exactly like the API ----------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY, b"", b"k" * 64, b"a-key-longer-than-one-sha256-block-" * 3])
@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (IdentifierKind.PHONE, "+86 138-0013-8000"),
        (IdentifierKind.PHONE, "010 6512 3456"),
        (IdentifierKind.ID_CARD, "11010519491231002x"),
        (IdentifierKind.BANK_CARD, "6222 0212 3456 7890 123"),
        (IdentifierKind.QQ, "12345678"),
        (IdentifierKind.EMAIL, "Zhang.San@Example.COM"),
        (IdentifierKind.WECHAT, "Wx_Abc123"),
    ],
)
def test_keyed_hasher_equals_tagged_hash(key: bytes, kind: IdentifierKind, raw: str) -> None:
    cleaned = clean_identifier(kind, raw)
    assert cleaned
    assert KeyedHasher(key).hash(kind, cleaned) == tagged_hash(key, kind, raw)


def test_fast_paths_agree_with_normalise() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        phone = f"1{rng.randrange(3, 10)}{rng.randrange(10**9):09d}"
        id_card = f"{rng.randrange(10**16, 10**17)}{rng.choice('0123456789X')}"
        assert clean_identifier(IdentifierKind.PHONE, phone) == normalise(IdentifierKind.PHONE, phone)
        assert clean_identifier(IdentifierKind.ID_CARD, id_card) == normalise(IdentifierKind.ID_CARD, id_card)
    # Non-ASCII digits are not the fast path's business: normalise folds them, so they count as the ASCII number.
    assert clean_identifier(IdentifierKind.PHONE, "１３８００１３８０００") == "13800138000"


def test_loaded_hashes_are_the_ones_the_api_writes(tmp_path: Path) -> None:
    report = ReportIn.model_validate(
        {"description": "被骗了", "region_code": "420106", "amount_lost": 10,
         "victim": {"phone": "+86 138 0013 8000", "id_number": "11010519491231002x"}}
    )  # fmt: skip
    sanitised = sanitise(report, key=KEY, zone=ZoneInfo("Asia/Shanghai"), now=datetime.now(UTC))
    records, problems, _ = read(write(tmp_path, f"手机号,身份证\n{PHONE},{ID_CARD}\n"))
    assert not problems
    hasher = KeyedHasher(KEY)
    hashes = {hasher.hash(kind, value) for kind, value in records[0].identifiers}
    assert hashes == {sanitised.victim_phone_hash, sanitised.victim_id_hash}


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (IdentifierKind.PHONE, "  ", ""),
        (IdentifierKind.PHONE, "NULL", ""),
        (IdentifierKind.PHONE, "\\N", ""),
        (IdentifierKind.PHONE, "-", ""),
        (IdentifierKind.PHONE, "138 0013 8000", PHONE),
        (IdentifierKind.PHONE, "abc", None),
        (IdentifierKind.PHONE, "1234", None),
        (IdentifierKind.ID_CARD, "11010519491231002", None),
        (IdentifierKind.ID_CARD, "110105491231002", "110105491231002"),
        (IdentifierKind.BANK_CARD, "12345", None),
        (IdentifierKind.QQ, "01234", None),
        (IdentifierKind.EMAIL, "not-an-email", None),
        (IdentifierKind.EMAIL, " A@B.cn ", "a@b.cn"),
    ],
)
def test_clean_identifier(kind: IdentifierKind, raw: str, expected: str | None) -> None:
    assert clean_identifier(kind, raw) == expected


# --- mapping ----------------------------------------------------------------------------------------


def test_parse_mapping() -> None:
    assert parse_mapping(["phone=手机号", "id_card=身份证", "phone=备用电话"]) == {
        InfoType.PHONE: ("手机号", "备用电话"),
        InfoType.ID_CARD: ("身份证",),
    }


@pytest.mark.parametrize(("item", "message"), [("phone", "FIELD=COLUMN"), ("phone=", "FIELD=COLUMN"),
                                               ("fone=x", "unknown field 'fone'")])  # fmt: skip
def test_parse_mapping_refuses(item: str, message: str) -> None:
    with pytest.raises(LeakFileError, match=message):
        parse_mapping([item])


def test_plan_uses_aliases_and_explicit_mapping_and_lists_unused_columns() -> None:
    plan = plan_columns(["姓名", "Mobile", "证件", "住址", "备注"], {InfoType.ID_CARD: ("证件",)})
    assert plan.fields == {
        InfoType.ID_CARD: ("证件",),
        InfoType.NAME: ("姓名",),
        InfoType.PHONE: ("Mobile",),
        InfoType.ADDRESS: ("住址",),
    }
    assert plan.unused == ("备注",)


def test_a_mapped_column_missing_from_the_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "手机号,姓名\n13800138000,张三\n")
    with pytest.raises(LeakFileError, match=r"column '身份证' named by --map id_card=身份证 is not in the file"):
        read(path, mapping={InfoType.ID_CARD: ("身份证",)})


def test_a_file_without_any_identifier_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LeakFileError, match=r"no identifier column .* --map phone=COLUMN; its columns are: 姓名, 备注"):
        read(write(tmp_path, "姓名,备注\n张三,x\n"))


# --- records and information types -----------------------------------------------------------------


def test_records_carry_identifiers_and_the_information_they_expose(tmp_path: Path) -> None:
    text = (
        "姓名,手机号,身份证,位置,征信,开房记录,备注\n"
        "张三,13800138000,11010519491231002X,,,,\n"
        "李四,+86 139 0000 0001,,北京市朝阳区 39.9N 116.4E,,,x\n"
        "王五,,110105491231002,,良好,2026-01-01 某酒店,\n"
    )
    records, problems, leak = read(write(tmp_path, text))
    assert not problems and leak.rows == 3
    assert [r.identifiers for r in records] == [
        (("phone", PHONE), ("id_card", ID_CARD)),
        (("phone", "13900000001"),),
        (("id_card", "110105491231002"),),
    ]
    bits = INFO_BIT
    assert records[0].info_mask == bits[InfoType.NAME] | bits[InfoType.PHONE] | bits[InfoType.ID_CARD]
    assert records[1].info_mask == bits[InfoType.NAME] | bits[InfoType.PHONE] | bits[InfoType.LOCATION]
    assert records[2].info_mask == (
        bits[InfoType.NAME] | bits[InfoType.ID_CARD] | bits[InfoType.CREDIT] | bits[InfoType.ACCOMMODATION]
    )
    assert [r.line for r in records] == [2, 3, 4]
    assert leak.summary.unused_columns == ("备注",)


def test_tsv_and_a_second_phone_column(tmp_path: Path) -> None:
    path = write(tmp_path, "tel\tbackup\n13800138000\t13900000001\n", name="leak.tsv")
    records, problems, _ = read(path, mapping={InfoType.PHONE: ("tel", "backup")})
    assert not problems
    assert records[0].identifiers == (("phone", PHONE), ("phone", "13900000001"))


# --- bad rows: counted, with line numbers, never the value -----------------------------------------


def test_broken_rows_are_reported_with_line_numbers_and_the_rest_is_read(tmp_path: Path) -> None:
    text = (
        "手机号,身份证,姓名\n"  # 1
        "13800138000,11010519491231002X,张三\n"  # 2 good
        "13800138001,11010519491231002X\n"  # 3 one field short
        "13800138002,11010519491231002X,李四,多余\n"  # 4 one field too many
        "12x45,11010519491231002X,王五\n"  # 5 bad phone
        ",,赵六\n"  # 6 no identifier
        "\n"  # 7 blank: no row
        '"13800138003,11010519491231002X,"钱七\n'  # 8 broken quoting
        "13800138004,1101051949123100,孙八\n"  # 9 bad ID number
        "13800138005,,周九\n"  # 10 good
    )
    records, problems, leak = read(write(tmp_path, text))
    assert [r.line for r in records] == [2, 10]
    assert [(p.line, p.reason) for p in problems] == [
        (3, "expected 3 fields, found 2"),
        (4, "expected 3 fields, found 4"),
        (5, "phone is not a valid phone number"),
        (6, "no identifier: every identifier column is empty"),
        (8, "broken CSV (',' expected after '\"')"),
        (9, "id_card is not a valid ID-card number"),
    ]
    assert leak.rows == 8
    assert all("12x45" not in str(p) and "1101051949123100" not in str(p) for p in problems)


def test_an_unterminated_quote_swallows_lines_and_says_which(tmp_path: Path) -> None:
    text = '手机号,姓名\n13800138000,张三\n13800138001,"李四\n13800138002,王五\n'
    records, problems, _ = read(write(tmp_path, text))
    assert [r.line for r in records] == [2]
    assert [str(p) for p in problems] == ["lines 3-4: broken CSV (unexpected end of data)"]


# --- bad files: clear errors, nothing half-read ----------------------------------------------------


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LeakFileError, match=r"leak\.csv is empty"):
        read(write(tmp_path, ""))
    with pytest.raises(LeakFileError, match=r"leak\.csv is empty"):
        read(write(tmp_path, "\n\n  \n"))


def test_a_header_without_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LeakFileError, match="has a header but no data rows"):
        read(write(tmp_path, "手机号,姓名\n"))


def test_gbk_read_as_utf8_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "手机号,姓名\n13800138000,张三\n", encoding="gbk")
    with pytest.raises(LeakFileError, match=r"is not valid utf-8 .*try --encoding gb18030"):
        LeakFile(path)
    records, problems, _ = read(path, encoding="gb18030")
    assert not problems and records[0].identifiers == (("phone", PHONE),)


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "手机号,姓名\n13800138000,张三\n".encode())
    records, _, leak = read(path)
    assert leak.encoding == "utf-8-sig" and records[0].identifiers == (("phone", PHONE),)


def test_utf16_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeff手机号\n13800138000\n", encoding="utf-16-le")
    with pytest.raises(LeakFileError, match=r"UTF-16.*--encoding utf-16"):
        LeakFile(path)


def test_an_undecodable_identifier_mid_file_is_a_bad_row_not_a_crash(tmp_path: Path) -> None:
    # Past the part the encoding check samples (64 KiB): a dump concatenated from differently encoded parts.
    path = tmp_path / "mixed.csv"
    good = "".join(f"138{i:08d},张三\n" for i in range(5000))
    path.write_bytes(f"手机号,姓名\n{good}".encode() + b"\xd5\xc5138,x\n" + b"13800138000,\xd5\xc5\n")
    records, problems, _ = read(path)
    assert len(records) == 5001  # the name is undecodable, but only its presence is used
    assert [(p.line, p.reason.split(" (")[0]) for p in problems] == [(5002, "phone is not valid utf-8")]


def test_unknown_encoding_and_format(tmp_path: Path) -> None:
    path = write(tmp_path, "手机号\n13800138000\n")
    with pytest.raises(LeakFileError, match="unknown encoding 'latin-9x'"):
        LeakFile(path, encoding="latin-9x")
    with pytest.raises(LeakFileError, match="unknown format 'xml'"):
        LeakFile(path, fmt="xml")


def test_duplicate_header_columns_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LeakFileError, match="repeats column"):
        read(write(tmp_path, "手机号,手机号\n13800138000,13800138001\n"))


# --- JSON lines ------------------------------------------------------------------------------------


def test_json_lines(tmp_path: Path) -> None:
    text = (
        '{"mobile": "13800138000", "name": "张三", "gps": [39.9, 116.4]}\n'  # 1
        "\n"  # 2 blank
        '{"mobile": 13900000001, "name": null}\n'  # 3 a number is fine
        '{"mobile": "13800138000"\n'  # 4 broken
        '["13800138000"]\n'  # 5 not an object
        '{"mobile": {"n": 1}}\n'  # 6 nested identifier
        '{"name": "李四"}\n'  # 7 no identifier
        '{"身份证": "11010519491231002X", "mobile": ""}\n'  # 8 other key set
    )
    records, problems, leak = read(write(tmp_path, text, name="leak.jsonl"))
    assert [(r.line, r.identifiers) for r in records] == [
        (1, (("phone", PHONE),)),
        (3, (("phone", "13900000001"),)),
        (8, (("id_card", ID_CARD),)),
    ]
    assert records[0].info_mask == INFO_BIT[InfoType.PHONE] | INFO_BIT[InfoType.NAME] | INFO_BIT[InfoType.LOCATION]
    assert records[1].info_mask == INFO_BIT[InfoType.PHONE]
    assert [(p.line, p.reason) for p in problems] == [
        (4, "broken JSON (Expecting ',' delimiter)"),
        (5, "not a JSON object"),
        (6, "phone is not a text or a number"),
        (7, "no identifier: every identifier column is empty"),
    ]
    assert leak.rows == 7
    assert leak.summary.columns == {
        "phone": ("mobile",),
        "name": ("name",),
        "location": ("gps",),
        "id_card": ("身份证",),
    }


def test_json_lines_with_mapping_and_without_identifiers(tmp_path: Path) -> None:
    path = write(tmp_path, '{"tel": "13800138000", "x": 1}\n', name="l.jsonl")
    records, _, leak = read(path, mapping={InfoType.PHONE: ("tel", "never")})
    assert records[0].identifiers == (("phone", PHONE),)
    assert leak.summary.never_seen == ("never",) and leak.summary.unused_columns == ("x",)
    with pytest.raises(LeakFileError, match=r"no identifier key .* keys seen: x"):
        read(write(tmp_path, '{"x": "13800138000"}\n', name="n.jsonl"))
    with pytest.raises(LeakFileError, match="is empty"):
        read(write(tmp_path, "", name="e.jsonl"))
