"""Unit tests for fraudwatch.pii: normalisation, keyed hashing and redaction of personal identifiers."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraudwatch.pii import (
    PLACEHOLDERS,
    IdentifierKind,
    KeyedHasher,
    keyed_hash,
    normalise,
    plain,
    redact,
    substitute,
    tagged_hash,
)
from fraudwatch.simulate import generate_reports
from tests.unit import reference_ingest

KEY = b"unit-test-key"
OTHER_KEY = b"another-unit-test-key"
PHONE = "13800138000"
ID_CARD = "11010519491231002X"
BANK_CARD = "6222021234567890123"
EMAIL = "zhang.san+fw@example.com.cn"

PHONE_VARIANTS = [
    "13800138000",
    "+8613800138000",
    "+86 13800138000",
    "+86 138 0013 8000",
    "+86-138-0013-8000",
    "008613800138000",
    "0086 138 0013 8000",
    "86 13800138000",
    "138-0013-8000",
    "138 0013 8000",
    "  13800138000  ",
]


def _expected_hash(key: bytes, kind: IdentifierKind, canonical: str) -> str:
    """The documented hash format, computed independently: HMAC-SHA256 of "kind:value", 32 hex chars."""
    return hmac.new(key, f"{kind.value}:{canonical}".encode(), hashlib.sha256).hexdigest()[:32]


# --- normalise --------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", PHONE_VARIANTS)
def test_normalise_phone_variants_share_one_canonical_form(raw: str) -> None:
    assert normalise(IdentifierKind.PHONE, raw) == PHONE


def test_normalise_phone_keeps_86_when_the_rest_is_not_a_mobile_number() -> None:
    # A Beijing landline written with the country code: "10..." is not a mobile number, so "86" stays.
    assert normalise(IdentifierKind.PHONE, "+86 10 1234 5678") == "861012345678"


def test_normalise_phone_without_prefix_is_digits_only() -> None:
    assert normalise(IdentifierKind.PHONE, "(010) 6512-3456") == "01065123456"


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        "11010519491231002X",
        " 11010519491231002x ",
        "110105 19491231 002x",
        "110105-19491231-002x",
    ],
)
def test_normalise_id_card_upper_x_and_no_separators(raw: str) -> None:
    assert normalise(IdentifierKind.ID_CARD, raw) == ID_CARD


def test_normalise_id_card_all_digits_unchanged() -> None:
    assert normalise(IdentifierKind.ID_CARD, "110105194912310021") == "110105194912310021"


@pytest.mark.parametrize(
    "raw",
    ["6222021234567890123", "6222 0212 3456 7890 123", "6222-0212-3456-7890-123", " 6222 0212-3456 7890123 "],
)
def test_normalise_bank_card_digits_only(raw: str) -> None:
    assert normalise(IdentifierKind.BANK_CARD, raw) == BANK_CARD


def test_normalise_email_lower_and_stripped() -> None:
    assert normalise(IdentifierKind.EMAIL, "  Zhang.San+FW@Example.COM.cn ") == EMAIL


# --- keyed_hash -------------------------------------------------------------------------------------


def test_keyed_hash_is_32_lower_hex_chars() -> None:
    digest = keyed_hash(KEY, IdentifierKind.PHONE, PHONE)
    assert re.fullmatch(r"[0-9a-f]{32}", digest)


def test_keyed_hash_is_deterministic() -> None:
    assert keyed_hash(KEY, IdentifierKind.PHONE, PHONE) == keyed_hash(KEY, IdentifierKind.PHONE, PHONE)


def test_keyed_hash_matches_the_documented_hmac_format() -> None:
    # Stored hashes are joined across time: the format must not drift.
    assert keyed_hash(KEY, IdentifierKind.PHONE, "+86 138-0013-8000") == _expected_hash(
        KEY, IdentifierKind.PHONE, PHONE
    )
    assert keyed_hash(KEY, IdentifierKind.ID_CARD, "11010519491231002x") == _expected_hash(
        KEY, IdentifierKind.ID_CARD, ID_CARD
    )


def test_keyed_hash_differs_between_keys() -> None:
    assert keyed_hash(KEY, IdentifierKind.PHONE, PHONE) != keyed_hash(OTHER_KEY, IdentifierKind.PHONE, PHONE)


def test_keyed_hash_differs_between_kinds_for_the_same_value() -> None:
    value = "110105194912310021"
    digests = {kind: keyed_hash(KEY, kind, value) for kind in IdentifierKind}
    assert len(set(digests.values())) == len(IdentifierKind)


def test_keyed_hash_differs_between_values() -> None:
    assert keyed_hash(KEY, IdentifierKind.PHONE, "13800138000") != keyed_hash(KEY, IdentifierKind.PHONE, "13800138001")


@pytest.mark.parametrize("raw", PHONE_VARIANTS)
def test_keyed_hash_phone_formatting_variants_hash_the_same(raw: str) -> None:
    assert keyed_hash(KEY, IdentifierKind.PHONE, raw) == keyed_hash(KEY, IdentifierKind.PHONE, PHONE)


def test_keyed_hash_id_card_case_variants_hash_the_same() -> None:
    assert keyed_hash(KEY, IdentifierKind.ID_CARD, "11010519491231002x") == keyed_hash(
        KEY, IdentifierKind.ID_CARD, ID_CARD
    )


def test_keyed_hash_bank_card_spacing_variants_hash_the_same() -> None:
    assert keyed_hash(KEY, IdentifierKind.BANK_CARD, "6222 0212 3456 7890 123") == keyed_hash(
        KEY, IdentifierKind.BANK_CARD, BANK_CARD
    )


def test_keyed_hash_email_case_variants_hash_the_same() -> None:
    assert keyed_hash(KEY, IdentifierKind.EMAIL, "Zhang.San+FW@Example.COM.cn") == keyed_hash(
        KEY, IdentifierKind.EMAIL, EMAIL
    )


# --- redact -----------------------------------------------------------------------------------------


def test_placeholders_are_typed() -> None:
    assert PLACEHOLDERS == {
        IdentifierKind.PHONE: "[PHONE]",
        IdentifierKind.ID_CARD: "[ID_CARD]",
        IdentifierKind.BANK_CARD: "[BANK_CARD]",
        IdentifierKind.EMAIL: "[EMAIL]",
        IdentifierKind.QQ: "[QQ]",
        IdentifierKind.WECHAT: "[WECHAT]",
    }


@pytest.mark.parametrize(
    ("text", "expected_text", "kind", "raw"),
    [
        ("对方电话13800138000让我转账", "对方电话[PHONE]让我转账", IdentifierKind.PHONE, "13800138000"),
        ("对方电话138 0013 8000让我转账", "对方电话[PHONE]让我转账", IdentifierKind.PHONE, "138 0013 8000"),
        ("对方电话138-0013-8000。", "对方电话[PHONE]。", IdentifierKind.PHONE, "138-0013-8000"),
        ("来电+86 138 0013 8000，", "来电[PHONE]，", IdentifierKind.PHONE, "+86 138 0013 8000"),
        ("身份证号110105194912310021。", "身份证号[ID_CARD]。", IdentifierKind.ID_CARD, "110105194912310021"),
        ("身份证11010519491231002X号", "身份证[ID_CARD]号", IdentifierKind.ID_CARD, "11010519491231002X"),
        ("身份证11010519491231002x号", "身份证[ID_CARD]号", IdentifierKind.ID_CARD, "11010519491231002x"),
        ("转到卡号6222021234567890123里", "转到卡号[BANK_CARD]里", IdentifierKind.BANK_CARD, BANK_CARD),
        (
            "转到卡号6222 0212 3456 7890里",
            "转到卡号[BANK_CARD]里",
            IdentifierKind.BANK_CARD,
            "6222 0212 3456 7890",
        ),
        ("卡号6222-0212-3456-7890", "卡号[BANK_CARD]", IdentifierKind.BANK_CARD, "6222-0212-3456-7890"),
        ("卡号6222021234567890。", "卡号[BANK_CARD]。", IdentifierKind.BANK_CARD, "6222021234567890"),
        (f"请发邮件到{EMAIL}联系客服", "请发邮件到[EMAIL]联系客服", IdentifierKind.EMAIL, EMAIL),
        ("邮箱13800138000@qq.com", "邮箱[EMAIL]", IdentifierKind.EMAIL, "13800138000@qq.com"),
    ],
)
def test_redact_replaces_one_identifier(text: str, expected_text: str, kind: IdentifierKind, raw: str) -> None:
    redacted, found = redact(text, KEY)
    assert redacted == expected_text
    assert found == [(kind, keyed_hash(KEY, kind, raw))]


def test_redact_hash_of_spaced_card_equals_hash_of_plain_card() -> None:
    _, found = redact("卡号6222 0212 3456 7890 123", KEY)
    assert found == [(IdentifierKind.BANK_CARD, keyed_hash(KEY, IdentifierKind.BANK_CARD, BANK_CARD))]


def test_redact_hash_of_lower_x_id_equals_hash_of_upper_x_id() -> None:
    _, found = redact("身份证11010519491231002x", KEY)
    assert found == [(IdentifierKind.ID_CARD, keyed_hash(KEY, IdentifierKind.ID_CARD, ID_CARD))]


@pytest.mark.parametrize("id_number", ["110105194912310021", "11010519491231002X", "44030619900307138x"])
def test_redact_id_number_is_not_read_as_phone_or_bank_card(id_number: str) -> None:
    redacted, found = redact(f"报案人身份证{id_number}，已核实", KEY)
    assert redacted == "报案人身份证[ID_CARD]，已核实"
    assert [kind for kind, _ in found] == [IdentifierKind.ID_CARD]


def test_redact_all_kinds_in_one_text() -> None:
    text = (
        f"我叫张三，身份证{ID_CARD}，手机13800138000，"
        f"被骗后把钱从6222 0212 3456 7890 123转出，对方邮箱scam@evil.example.com。"
    )
    redacted, found = redact(text, KEY)
    assert redacted == "我叫张三，身份证[ID_CARD]，手机[PHONE]，被骗后把钱从[BANK_CARD]转出，对方邮箱[EMAIL]。"
    assert sorted(found) == sorted(
        [
            (IdentifierKind.ID_CARD, keyed_hash(KEY, IdentifierKind.ID_CARD, ID_CARD)),
            (IdentifierKind.PHONE, keyed_hash(KEY, IdentifierKind.PHONE, PHONE)),
            (IdentifierKind.BANK_CARD, keyed_hash(KEY, IdentifierKind.BANK_CARD, BANK_CARD)),
            (IdentifierKind.EMAIL, keyed_hash(KEY, IdentifierKind.EMAIL, "scam@evil.example.com")),
        ]
    )
    for raw in (ID_CARD, "13800138000", "6222", "7890", "scam@evil.example.com", "evil.example"):
        assert raw not in redacted
    assert not re.search(r"\d", redacted)


def test_redact_two_phones_give_two_hashes_in_order() -> None:
    redacted, found = redact("先是13800138000打来，后来13900139000又打", KEY)
    assert redacted == "先是[PHONE]打来，后来[PHONE]又打"
    assert found == [
        (IdentifierKind.PHONE, keyed_hash(KEY, IdentifierKind.PHONE, "13800138000")),
        (IdentifierKind.PHONE, keyed_hash(KEY, IdentifierKind.PHONE, "13900139000")),
    ]


def test_redact_same_phone_twice_gives_same_hash() -> None:
    _, found = redact("13800138000 和 +86 138-0013-8000 是同一个号码", KEY)
    assert len(found) == 2
    assert found[0] == found[1]


def test_redact_text_without_identifiers_is_unchanged() -> None:
    text = "对方自称客服，让我下载APP，损失3000元，时间2024年5月1日10点。"
    assert redact(text, KEY) == (text, [])


def test_redact_empty_text() -> None:
    assert redact("", KEY) == ("", [])


def test_redact_does_not_touch_short_numbers() -> None:
    text = "转了3笔，共12000元，订单号12345678"
    assert redact(text, KEY) == (text, [])


def test_redact_hash_depends_on_key() -> None:
    _, found_a = redact("电话13800138000", KEY)
    _, found_b = redact("电话13800138000", OTHER_KEY)
    assert found_a[0][1] != found_b[0][1]


@pytest.mark.parametrize("raw", ["+8613800138000", "008613800138000"])
def test_redact_prefixed_phone_without_separator_is_a_phone(raw: str) -> None:
    redacted, found = redact(f"来电{raw}", KEY)
    assert redacted == "来电[PHONE]"
    assert found == [(IdentifierKind.PHONE, keyed_hash(KEY, IdentifierKind.PHONE, PHONE))]


@pytest.mark.parametrize(
    ("text", "expected_text", "kind", "raw"),
    [
        ("加我QQ 12345678详谈", "加我QQ [QQ]详谈", IdentifierKind.QQ, "12345678"),
        ("扣扣号：987654321", "扣扣号：[QQ]", IdentifierKind.QQ, "987654321"),
        ("qQ:55555", "qQ:[QQ]", IdentifierKind.QQ, "55555"),
        ("加微信 scam_boss88 领取", "加微信 [WECHAT] 领取", IdentifierKind.WECHAT, "scam_boss88"),
        ("VX: Abc-123x", "VX: [WECHAT]", IdentifierKind.WECHAT, "Abc-123x"),
        ("WeChat号 helper2024", "WeChat号 [WECHAT]", IdentifierKind.WECHAT, "helper2024"),
        # Full-width and other Unicode digits are folded to ASCII first: found, and hashed as ASCII.
        ("卡号６２２２０２１２３４５６７８９０", "卡号[BANK_CARD]", IdentifierKind.BANK_CARD, "6222021234567890"),
        ("卡号٦٢٢٢٠٢١٢٣٤٥٦٧٨٩٠١٢٣", "卡号[BANK_CARD]", IdentifierKind.BANK_CARD, "6222021234567890123"),
    ],
)
def test_redact_replaces_named_and_unicode_digit_identifiers(
    text: str, expected_text: str, kind: IdentifierKind, raw: str
) -> None:
    redacted, found = redact(text, KEY)
    assert redacted == expected_text
    assert found == [(kind, keyed_hash(KEY, kind, raw))]


# --- the fast path: skipping patterns that cannot match --------------------------------------------

ALL_KINDS = tuple(IdentifierKind)
# Characters that matter to some pattern, to the skip conditions, or to case-insensitive matching
# (İ ı ſ K fold onto ASCII letters under IGNORECASE); the rest is filler.
TRICKY = [*"0123456789１２３٣४ +-_.:：@XxqQ扣微信号vVwWeEiIxXnNcChHaAtTkKsS", "İ", "ı", "ſ", "K", "骗", "，", "\n"]
PIECES = [
    "13800138000", "+86 138 0013 8000", "0086", "86-", "6222 0212 3456 7890 123", "6222-0212-3456-7890",
    "110105194912310021", "11010519491231002x", "a.b+c@ex.com", "@", "QQ", "扣扣号：", "qq 123456789",
    "微信号：", "vx ", "wx:", "weixin", "WeChat ", "weİxin ", "abc_def1", "Kelvin_1", "12345", "2024年",
]  # fmt: skip
texts = st.lists(st.one_of(st.sampled_from(TRICKY), st.sampled_from(PIECES)), max_size=40).map("".join)


@settings(max_examples=3000, deadline=None, database=None)
@given(texts)
def test_redact_equals_applying_every_pattern(text: str) -> None:
    assert redact(text, KEY) == substitute(plain(text), KEY, tuple(IdentifierKind))


def test_redact_equals_applying_every_pattern_on_simulated_descriptions() -> None:
    descriptions = [r.body["description"] for r in generate_reports(3000, seed=7)]
    mentioned = 0
    for text in descriptions:
        fast = redact(text, KEY)
        assert fast == substitute(plain(text), KEY, ALL_KINDS)
        mentioned += bool(fast[1])
    assert mentioned > 100  # the corpus exercises the slow path as well as the skips


@pytest.mark.parametrize("key", [b"", b"k", b"x" * 64, b"y" * 65, bytes(range(256)) * 2])
def test_keyed_hasher_is_hmac_sha256_for_any_key_length(key: bytes) -> None:
    hasher = KeyedHasher(key)
    for kind, value in ((IdentifierKind.PHONE, PHONE), (IdentifierKind.EMAIL, EMAIL), (IdentifierKind.QQ, "")):
        expected = hmac.new(key, f"{kind.value}:{value}".encode(), hashlib.sha256).hexdigest()[:32]
        assert hasher.digest(kind.value, value) == expected
        assert hasher.hash(kind.value, value) == f"{kind.value}:{expected}"
        assert keyed_hash(key, kind, value) == expected


@pytest.mark.parametrize(
    ("text", "kind", "ascii_form"),
    [
        ("来电１３８００１３８０００说退款", IdentifierKind.PHONE, "13800138000"),
        ("扣扣 １２３４５６７ 加我", IdentifierKind.QQ, "1234567"),
        ("ＱＱ：１２３４５６７８", IdentifierKind.QQ, "12345678"),
        ("对方电话١٣٨٠٠١٣٨٠٠٠", IdentifierKind.PHONE, "13800138000"),  # Arabic-Indic digits
        ("号码𝟏𝟑𝟖𝟎𝟎𝟏𝟑𝟖𝟎𝟎𝟎", IdentifierKind.PHONE, "13800138000"),  # mathematical digits, beyond the BMP
        ("卡号６２２２　０２１２　３４５６　７８９０　１２３", IdentifierKind.BANK_CARD, "6222 0212 3456 7890 123"),
        ("身份证１１０１０５１９９００１０１００１Ｘ", IdentifierKind.ID_CARD, "11010519900101001X"),
        ("微信：ｗｘｉｄ＿１２３４５", IdentifierKind.WECHAT, "wxid_12345"),
        ("邮箱ａｂｃ＠ｅｘａｍｐｌｅ．ｃｏｍ", IdentifierKind.EMAIL, "abc@example.com"),
    ],
)
def test_identifiers_in_full_width_or_other_digits_are_redacted_and_hashed_as_ascii(
    text: str, kind: IdentifierKind, ascii_form: str
) -> None:
    redacted, found = redact(text, KEY)
    assert PLACEHOLDERS[kind] in redacted
    assert not any(ch.isdigit() for ch in redacted.replace(PLACEHOLDERS[kind], "")), redacted
    # the same hash as the ASCII form, so joins and block-lists match whatever digits were typed
    assert found == [(kind, keyed_hash(KEY, kind, ascii_form))]


def test_chinese_punctuation_is_kept_and_ascii_text_is_untouched() -> None:
    assert plain("损失２０００元（已报警）！对方说：退款，好吗？") == "损失2000元（已报警）！对方说：退款，好吗？"
    text = "plain ascii 123"
    assert plain(text) is text


def test_structured_identifiers_in_full_width_hash_like_ascii() -> None:
    assert keyed_hash(KEY, IdentifierKind.PHONE, "１３８ ００１３ ８０００") == keyed_hash(
        KEY, IdentifierKind.PHONE, PHONE
    )
    assert normalise(IdentifierKind.ID_CARD, "１１０１０５１９９００１０１００１ｘ") == "11010519900101001X"


# --- against the code as it was (tests/unit/reference_ingest.py) ------------------------------------

IDENTIFIERS = st.one_of(
    st.from_regex(r"(?:\+?86|0086)?[ -]?1[3-9][0-9]{9}", fullmatch=True),
    st.text("0123456789", max_size=20),
    st.lists(st.sampled_from(TRICKY + PIECES + ["/", "WWW.", "https://", "Http://"]), max_size=6).map("".join),
    st.text(max_size=12),
)


@settings(max_examples=3000, deadline=None, database=None)
@given(kind=st.sampled_from(ALL_KINDS), raw=IDENTIFIERS, key=st.sampled_from([KEY, b"", b"k" * 65]))
def test_normalising_and_hashing_equal_the_reference(kind: IdentifierKind, raw: str, key: bytes) -> None:
    assert normalise(kind, raw) == reference_ingest.normalise(kind, raw)
    assert keyed_hash(key, kind, raw) == reference_ingest.keyed_hash(key, kind, raw)
    assert tagged_hash(key, kind, raw) == f"{kind.value}:{reference_ingest.keyed_hash(key, kind, raw)}"
    assert KeyedHasher(key).tagged(kind, raw) == tagged_hash(key, kind, raw)


@settings(max_examples=3000, deadline=None, database=None)
@given(texts)
def test_redact_equals_the_reference(text: str) -> None:
    assert redact(text, KEY) == reference_ingest.redact(text, KEY)


def test_redact_equals_the_reference_on_simulated_descriptions() -> None:
    for generated in generate_reports(3000, seed=11):
        text = generated.body["description"]
        assert redact(text, KEY) == reference_ingest.redact(text, KEY)
