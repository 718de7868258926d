"""Unit tests for streams.categorizer: the fraud-type classifier and the taxonomy it classifies into."""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
from pathlib import Path

import ahocorasick_rs
import pytest

from fraudwatch.simulate import generate_reports
from streams import categorizer
from streams.categorizer import (
    CATEGORIES,
    OTHER,
    Classification,
    Classified,
    categorize,
    classify,
    classify_columns,
    classify_many,
    headline_class,
    normalise,
    taxonomy,
    taxonomy_version,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "categorizer"

# Typical reports and edge cases for every category, written for these tests (not copied from the
# evaluation sets): first person, police-record style, one-liners, and the noise real reports carry.
CASES: list[tuple[str, str]] = [
    # part_time_job
    ("part_time_job", "在快手看到招人给视频点赞，一个赞给2块，后来让我先垫付做任务，说做完返佣金，垫了6000没返"),
    ("part_time_job", "报警人称其在QQ群应聘网络兼职，按对方要求在某APP充值做连单任务，共转账2.3万元后无法提现"),
    ("part_time_job", "被刷单骗了800"),
    ("part_time_job", "宝妈在家带娃想赚点零花钱，加了个群说做任务一单返5%，结果最后卡单了要我补单才给钱"),
    # fake_shopping
    ("fake_shopping", "在朋友圈买了两箱低价车厘子，付款后对方一直不发货，再问就把我拉黑了"),
    ("fake_shopping", "我爸八十了，接到电话推销保健品说能降血压，前后买了一万多块钱的，全是没用的东西"),
    ("fake_shopping", "闲鱼上买二手switch，卖家让我加微信私下交易，转了1500就不回了"),
    ("fake_shopping", "电话卖茅台纪念酒给我妈，说能升值，花了9800买回来是假酒"),
    # investment
    ("investment", "被拉进荐股群，带单老师说有内幕消息，让我在他们的APP上买股票，充了10万提现不了"),
    ("investment", "网友带我炒USDT合约，说稳赚不赔，投了5万，平台说要交保证金才能出金"),
    ("investment", "理财平台年化20%，投了30万，现在平台跑路了"),
    ("investment", "炒币被骗"),
    # game_trading
    ("game_trading", "在王者荣耀里有人卖便宜的账号，让我去一个交易平台付款，付完平台客服说要交解冻费"),
    ("game_trading", "孩子玩和平精英，陌生人说免费送皮肤，让孩子用我手机扫码，扣了2600"),
    ("game_trading", "找代练上分，付了300块后号被盗了"),
    ("game_trading", "原神账号买卖被骗1500"),
    # fake_customer_service
    ("fake_customer_service", "有人冒充淘宝客服说我买的鞋子有质量问题要给我退款，让我开屏幕共享，卡里的钱被转走了"),
    ("fake_customer_service", "快递丢件，对方说给我理赔，让我扫码填了银行卡和验证码，被扣了3000"),
    ("fake_customer_service", "对方说我开通了百万保障，不关闭每月自动扣费，让我在借呗借钱转到他说的账户"),
    ("fake_customer_service", "说我是京东会员要自动续费，帮我取消，结果转走了8000"),
    # loan
    ("loan", "网上申请无抵押贷款5万，对方说我银行卡号填错了被冻结，要交解冻金才能放款"),
    ("loan", "急用钱下了个借款APP，放款前要先交会员费和保险费，交了以后还是没放款"),
    ("loan", "贷款要我刷流水证明还款能力，转了2万过去"),
    ("loan", "网贷被骗了3000"),
    # credit_repair
    ("credit_repair", "接到电话说我大学时开通了校园贷，要注销，不然影响征信，让我把额度借出来转给他们"),
    ("credit_repair", "网上找人做征信修复，说能删掉逾期记录，交了5000没效果"),
    ("credit_repair", "对方说我的学生账户没关闭会影响个人征信，让我配合清空额度"),
    ("credit_repair", "说能帮我把征信洗白，收了我8000"),
    # impersonate_officials
    ("impersonate_officials", "自称公安局的民警说我涉嫌洗钱，给我看了通缉令，要我把钱转到安全账户配合调查"),
    ("impersonate_officials", "对方说我的快递里有违禁品，转接到警察，说我涉嫌走私要资金清查"),
    ("impersonate_officials", "冒充检察院说我涉案，要我保密，转了15万"),
    ("impersonate_officials", "被冒充公检法骗了"),
    # impersonate_acquaintance
    ("impersonate_acquaintance", "有人用我们领导的头像加我微信，说在开会不方便接电话，让我先给客户转5万"),
    ("impersonate_acquaintance", "QQ上我表哥说急需用钱，我转了3000，后来打电话问他根本没这回事"),
    ("impersonate_acquaintance", "接到电话说猜猜我是谁，我以为是老同学，借了他2万"),
    ("impersonate_acquaintance", "冒充孩子班主任在家长群收资料费"),
    # romance
    ("romance", "在交友软件上认识的男朋友，说带我投资一个平台稳赚，我投了20万提现不了"),
    ("romance", "网恋对象说要来见我，让我先打路费，转了3000就失联了"),
    ("romance", "婚恋网站认识的人说他舅舅在博彩公司，带我下注，输了15万"),
    ("romance", "被杀猪盘骗了"),
    # ticket_refund
    ("ticket_refund", "收到短信说我的航班取消了，可以改签并补偿200元，打电话过去对方让我开通快捷支付，被扣了6000"),
    ("ticket_refund", "机票退票被骗，对方说要先交手续费"),
    ("ticket_refund", "航空公司打电话说航班延误要赔偿，让我下载会议软件"),
    ("ticket_refund", "改签被骗"),
    # other
    ("other", "对方跟我裸聊后录了视频，威胁我不给钱就发给我通讯录里的人"),
    ("other", "收到短信说我的ETC认证过期了，点了链接输了卡号被盗刷"),
    ("other", "有人打电话说我中了一等奖，领奖前要先交公证费"),
    ("other", "冒充部队的人订餐，让我先垫付酒水钱"),
]

NOISY: list[tuple[str, str]] = [
    ("part_time_job", "ＱＱ群里接了个刷単的活，先垫付２０００"),  # full-width letters/digits, 単 typo
    ("part_time_job", "在家做 shuadan 的 jianzhi，被骗了😭😭"),  # pinyin and emoji
    ("part_time_job", "someone said part time job, earn commission, 先充值才能接单"),  # English
    ("part_time_job", "刷 单 返 利，垫 付 了 3000"),  # spaces inside words
    ("investment", "vx上的老师带我买usdt，充了5000u提不出来💰"),
    ("investment", "「内幕消息」荐股群，充了１０万"),
    ("fake_customer_service", "【淘宝客服】说我的快递丢了要理赔，让我共享屏幕"),
    ("loan", "代款被骗，说要先交解冻金"),  # 代款: a common misspelling of 贷款
    ("credit_repair", "证信修复被骗了"),  # 证信: misspelling of 征信
    ("ticket_refund", "flight cancelled，让我改签"),
    ("impersonate_officials", "“公安局”的人说我涉嫌洗钱！！！"),
    ("romance", "在 Soul 上认识的女朋友带我投资～"),
]


@pytest.mark.parametrize(("expected", "description"), CASES)
def test_typical_and_edge_cases_of_every_category(expected: str, description: str) -> None:
    result = classify(description)
    assert result.code == expected, result


def test_cases_cover_every_category() -> None:
    assert {code for code, _ in CASES} == set(CATEGORIES)


@pytest.mark.parametrize(("expected", "description"), NOISY)
def test_noise_full_width_emoji_pinyin_english_typos(expected: str, description: str) -> None:
    assert classify(description).code == expected


@pytest.mark.parametrize("blank", ["", " ", "   ", "\n\t", "\u3000\u3000", "\u200b"])
def test_empty_or_whitespace_is_other_with_zero_confidence(blank: str) -> None:
    assert classify(blank) == Classification(OTHER, 0.0, ())
    assert categorize(blank) == OTHER


@pytest.mark.parametrize("text", ["被骗了3000", "钱没了", "？？？", "😭😭😭", "12345", "a"])
def test_text_without_evidence_is_other_and_never_raises(text: str) -> None:
    result = classify(text)
    assert result.code == OTHER
    assert result.confidence < 0.5


def test_very_long_text_is_classified() -> None:
    filler = "那天我一直在想这件事，心里很难受，" * 300
    result = classify(filler + "对方说我涉嫌洗钱，要我把钱转到安全账户，自称公安局的警官" + filler)
    assert result.code == "impersonate_officials"


def test_classification_is_frozen() -> None:
    result = classify("刷单被骗")
    with pytest.raises(AttributeError):
        result.code = "loan"  # type: ignore[misc]


def test_deterministic_across_calls_and_call_order() -> None:
    texts = [description for _, description in CASES + NOISY]
    first = [classify(text) for text in texts]
    shuffled = list(enumerate(texts))
    random.Random(7).shuffle(shuffled)
    again = {i: classify(text) for i, text in shuffled}
    assert first == [again[i] for i in range(len(texts))]


def _labelled(name: str) -> list[tuple[str, str]]:
    with (DATA / name).open(encoding="utf-8") as lines:
        return [(row["label"], row["description"]) for row in map(json.loads, lines)]


def test_confidence_in_bounds_and_evidence_for_every_named_category() -> None:
    for _, description in _labelled("dev.jsonl") + CASES + NOISY:
        result = classify(description)
        assert 0.0 <= result.confidence <= 1.0
        assert result.code in CATEGORIES
        if result.code != OTHER:
            assert result.evidence, description
            assert result.confidence > 0


def test_evidence_names_the_deciding_phrases() -> None:
    result = classify("在抖音看到点赞就能赚钱的兼职，先垫付了3000")
    assert result.code == "part_time_job"
    assert {"点赞", "兼职", "垫付"} <= set(result.evidence)


def test_confidence_lower_when_categories_compete() -> None:
    clear = classify("刷单兼职，做任务垫付返佣金，连单卡单")
    mixed = classify("刷单兼职，做任务，又有人说是公安局的说我涉嫌洗钱")
    assert clear.confidence > mixed.confidence


def test_categorize_is_a_thin_wrapper() -> None:
    for _, description in CASES:
        assert categorize(description) == classify(description).code


# --- precedence where scams combine ------------------------------------------------------------------------


def test_romance_contact_introducing_an_investment_platform_is_romance() -> None:
    result = classify("在婚恋网站认识的男友，每天叫我宝贝，后来带我在一个数字货币平台投资，投了30万提现不了")
    assert result.code == "romance"
    assert "rule:romance>investment" in result.evidence


def test_fake_customer_service_that_makes_the_victim_borrow_is_customer_service() -> None:
    result = classify("自称淘宝客服说商品质量问题给我退款，让我在借呗和网贷平台借钱刷流水验证，转了2万")
    assert result.code == "fake_customer_service"


def test_courier_call_handed_over_to_police_is_officials() -> None:
    result = classify("快递客服说我的包裹里有违禁品，转接公安局，警官说我涉嫌洗钱，要我转到安全账户")
    assert result.code == "impersonate_officials"


def test_cancel_student_loan_pretext_is_credit_repair_even_with_loans() -> None:
    result = classify("说我大学时开的学生账户要注销，不然影响征信，让我在几个网贷平台借钱转过去清空额度")
    assert result.code == "credit_repair"


def test_loan_seeker_told_their_credit_is_bad_stays_loan() -> None:
    assert classify("网上申请贷款，对方说我征信不好要先交保证金才能放款").code == "loan"
    assert classify("找了个不看征信的贷款，放款前要交手续费").code == "loan"


def test_game_job_offer_stays_part_time_job() -> None:
    assert classify("暑假想打工，有人说给手游写攻略测评能挣钱，要先交注册费").code == "part_time_job"


def test_game_console_is_shopping_not_game_trading() -> None:
    assert classify("网上低价买游戏主机，付款后不发货").code == "fake_shopping"


# --- the citizen's own category ----------------------------------------------------------------------------


def test_citizen_category_alone_never_decides() -> None:
    assert classify("被骗了3000", citizen_category="investment").code == OTHER
    assert classify("", citizen_category="loan") == Classification(OTHER, 0.0, ())


def test_citizen_category_does_not_override_clear_text() -> None:
    assert classify("自称公安局的说我涉嫌洗钱，转到安全账户", citizen_category="loan").code == "impersonate_officials"


def test_citizen_category_can_tip_a_close_call() -> None:
    text = "对方说给我理赔，又说可以帮我贷款"  # one strong cue each: a tie, broken by the fixed tie order
    assert classify(text).code == "fake_customer_service"
    tipped = classify(text, citizen_category="loan")
    assert tipped.code == "loan"
    assert "citizen:loan" in tipped.evidence


def test_unknown_citizen_category_channel_and_amount_are_harmless() -> None:
    text = "刷单被骗"
    assert classify(text, citizen_category="nonsense", channel="sms", amount_fen=300_000) == classify(text)


# --- normalisation -----------------------------------------------------------------------------------------


def test_normalise_full_width_case_spaces_and_quotes() -> None:
    assert normalise("ＶＸ 加我 'Ｑ Ｑ' 【刷单】") == "vx加我qq刷单"


def test_nfkc_shortcut_gives_the_same_answers_as_full_nfkc() -> None:
    texts = [d for _, d in _labelled("dev.jsonl") + _labelled("heldout.jsonl") + CASES + NOISY]
    texts += [
        "刷单（兼职）～２０００元！",
        "贷款：“解冻金”＊3",
        "ｆｌｉｇｈｔ　改签",
        "ＵＳＤＴ 5000u",
        "㈠刷单",
        "ﬁ刷单",
    ]
    for text in texts:
        assert classify(text) == classify(unicodedata.normalize("NFKC", text)), text


# --- lexicon and rules are well formed ---------------------------------------------------------------------


def test_expand_spells_out_alternatives() -> None:
    assert sorted(categorizer._expand("{叫|喊}我{|小}宝贝")) == sorted(
        ["叫我宝贝", "叫我小宝贝", "喊我宝贝", "喊我小宝贝"]
    )
    assert categorizer._expand("刷单") == ["刷单"]


def test_lexicon_rejects_malformed_terms() -> None:
    with pytest.raises(ValueError, match="2\\+"):
        categorizer._build_index({"loan": ((1.0, "贷"),)})
    with pytest.raises(ValueError, match="2\\+"):
        categorizer._build_index({"loan": ((1.0, "贷?款"),)})
    with pytest.raises(ValueError, match="not in CATEGORIES"):
        categorizer._build_index({"lottery": ((1.0, "彩票"),)})


def test_every_category_has_lexicon_terms() -> None:
    covered = {category for weights in categorizer._TERM_WEIGHTS.values() for category, _ in weights}
    assert covered == set(CATEGORIES)


def test_rules_and_tie_order_use_known_codes() -> None:
    assert sorted(categorizer._TIE_ORDER) == sorted(CATEGORIES)
    for dominant, absorbed, least, ratio in categorizer._PRECEDENCE:
        assert dominant in CATEGORIES and absorbed in CATEGORIES and dominant != absorbed
        assert least >= categorizer.MIN_SCORE and 0 < ratio <= 1


# --- taxonomy ----------------------------------------------------------------------------------------------

HEADLINES = {
    "part_time_job": "part_time_job",
    "fake_shopping": "fake_shopping",
    "investment": "investment",
    "game_trading": "game_trading",
    "fake_customer_service": "other_types",
    "loan": "other_types",
    "credit_repair": "other_types",
    "impersonate_officials": "other_types",
    "impersonate_acquaintance": "other_types",
    "romance": "other_types",
    "ticket_refund": "other_types",
    "other": "other_types",
}


@pytest.mark.parametrize(("code", "headline"), sorted(HEADLINES.items()))
def test_headline_class(code: str, headline: str) -> None:
    assert headline_class(code) == headline


def test_headline_class_of_unknown_code_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown category"):
        headline_class("lottery")


def test_taxonomy_file_matches_categories_in_order() -> None:
    data = taxonomy()
    assert [entry["code"] for entry in data["categories"]] == list(CATEGORIES)
    assert taxonomy_version() == data["version"] and data["version"].count(".") == 2


def test_taxonomy_entries_are_complete() -> None:
    data = taxonomy()
    headline_codes = [entry["code"] for entry in data["headline_classes"]]
    assert headline_codes == ["part_time_job", "fake_shopping", "investment", "game_trading", "other_types"]
    for entry in data["headline_classes"] + data["categories"]:
        assert entry["name_zh"].strip() and entry["name_en"].strip(), entry
    for entry in data["categories"]:
        assert entry["headline"] in headline_codes
        assert entry["scope_zh"].strip()
    # The taxonomy file is the source of truth for the mapping; the table above restates the issue.
    assert {entry["code"]: entry["headline"] for entry in data["categories"]} == HEADLINES


def test_taxonomy_file_is_plain_utf8_json() -> None:
    raw = categorizer.TAXONOMY_PATH.read_bytes()
    assert json.loads(raw.decode("utf-8")) == taxonomy()


# --- the batch classifier against the per-report reference -------------------------------------------------


_REFERENCE_SLOTS = {code: i for i, code in enumerate(categorizer._TIE_ORDER)}
_REFERENCE_WEIGHTS = {
    term: tuple((_REFERENCE_SLOTS[code], w) for code, w in per) for term, per in categorizer._TERM_WEIGHTS.items()
}
# Over the characters, as the classifier scanned before it scanned UTF-8 bytes: the oracle has its own automaton.
_REFERENCE_AUTOMATON = ahocorasick_rs.AhoCorasick(
    categorizer._TERM_WEIGHTS, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
)


def _reference_classify(description: str, citizen_category: str | None = None) -> Classification:
    """The per-report classifier as it was before `classify_many` (one text, Python lists and loops): the
    oracle the batch implementation must match exactly, code, confidence and evidence."""
    text = normalise(description)
    if not text:
        return Classification(OTHER, 0.0, ())
    order, slot_of, weights = categorizer._TIE_ORDER, _REFERENCE_SLOTS, _REFERENCE_WEIGHTS
    terms = list(dict.fromkeys(_REFERENCE_AUTOMATON.find_matches_as_strings(text)))
    scores = [0.0] * len(order)
    for term in terms:
        for slot, weight in weights[term]:
            scores[slot] += weight
    notes: list[tuple[int, str]] = []
    for dominant_code, absorbed_code, least, ratio in categorizer._PRECEDENCE:
        dominant, absorbed = slot_of[dominant_code], slot_of[absorbed_code]
        theirs = scores[absorbed]
        if theirs > 0:
            own = scores[dominant]
            if own >= least and own >= ratio * theirs:
                scores[dominant] = own + theirs
                scores[absorbed] = 0.0
                notes.append((dominant, f"rule:{dominant_code}>{absorbed_code}"))
    citizen = slot_of.get(citizen_category) if citizen_category is not None else None
    if citizen is not None and scores[citizen] > 0:
        scores[citizen] += categorizer.CITIZEN_WEIGHT
        notes.append((citizen, f"citizen:{citizen_category}"))
    s1 = max(scores)
    best = scores.index(s1)
    s2 = sorted(scores)[-2]
    cues = sorted(
        ((weight, term) for term in terms for slot, weight in weights[term] if slot == best), key=lambda c: -c[0]
    )
    if s1 < categorizer.MIN_SCORE:
        faint = tuple(term for _, term in cues[: categorizer.MAX_EVIDENCE])
        return Classification(OTHER, round(0.5 * s1 / (s1 + categorizer.CONFIDENCE_PRIOR), 3), faint)
    rules = [note for where, note in notes if where == best]
    evidence = tuple(term for _, term in cues[: categorizer.MAX_EVIDENCE - len(rules)]) + tuple(rules)
    return Classification(order[best], round(s1 / (s1 + s2 + categorizer.CONFIDENCE_PRIOR), 3), evidence)


def _all_texts() -> list[str]:
    simulated = [r.body["description"] for r in generate_reports(3000, seed=11)]
    labelled = [d for _, d in _labelled("dev.jsonl") + _labelled("heldout.jsonl") + CASES + NOISY]
    # Edge cases of the batch: empty and blank texts between others, separators and odd characters.
    odd = ["", "   ", "\n", "刷单\n兼职", "\x00刷单", "刷\x00单", "ＱＱ刷単", "a" * 2000, "兼职" * 50, "警察\n公安局"]
    # Texts that need NFKC from their first or last character on, next to texts that do not.
    odd += ["ＵＳＤＴ", "刷单", "５173", "Ａ股", "ｐdd客服", "", "Ｐ", "ＤＤ", "客服ＰＤＤ", "兼职"]
    # Random mixes of lexicon terms: competing categories, so every precedence rule and tie gets exercised.
    rng = random.Random(3)
    terms, glue = list(categorizer._TERM_WEIGHTS), ["", "，", " ", "的", "我", "\n", "Ａ", "1"]
    mixed = ["".join(rng.choice(terms) + rng.choice(glue) for _ in range(rng.randint(1, 14))) for _ in range(3000)]
    return labelled + simulated + odd + mixed


def test_classify_many_matches_the_per_report_reference_exactly() -> None:
    texts = _all_texts()
    citizens: list[str | None] = [None, *CATEGORIES, "nonsense", ""] * (len(texts) // (len(CATEGORIES) + 3) + 1)
    rng = random.Random(5)
    rng.shuffle(citizens)
    citizens = citizens[: len(texts)]
    reference = [_reference_classify(t, c) for t, c in zip(texts, citizens, strict=True)]
    assert classify_many(texts, citizens) == reference
    assert classify_many(texts) == [_reference_classify(t) for t in texts]
    # Batches of any size and boundary give the same answers, and so does one text at a time.
    for size in (1, 2, 7, 125):
        batched = [r for s in range(0, 1000, size) for r in classify_many(texts[s : s + size], citizens[s : s + size])]
        assert batched[:1000] == reference[:1000]
    assert [classify(t, c) for t, c in zip(texts[:300], citizens[:300], strict=True)] == reference[:300]
    # A text holding the joining character itself: that batch is normalised text by text, same answers.
    holding = ["刷单\x1f兼职", "\x1f", "警\x1f察", *texts[-200:]]
    assert classify_many(holding) == [_reference_classify(t) for t in holding]


def test_classify_many_of_nothing_and_mismatched_lengths() -> None:
    assert classify_many([]) == []
    with pytest.raises(ValueError, match="2 citizen categories for 1 descriptions"):
        classify_many(["刷单"], ["loan", "loan"])


def test_classified_columns_hold_the_classifications() -> None:
    texts = _all_texts()[:2000]
    classified = classify_columns(texts)
    expected = [_reference_classify(t) for t in texts]
    assert classified.codes == [c.code for c in expected]
    assert classified.confidences == [c.confidence for c in expected]
    assert classified.evidence == [e for c in expected for e in c.evidence]
    offsets = classified.evidence_offsets.tolist()
    assert [tuple(classified.evidence[a:b]) for a, b in itertools.pairwise(offsets)] == [c.evidence for c in expected]
    # Classifications made elsewhere, as columns: the same columns.
    again = Classified.of(expected)
    assert (again.codes, again.confidences, again.evidence) == (
        classified.codes,
        classified.confidences,
        classified.evidence,
    )
    assert again.evidence_offsets.tolist() == offsets
    assert len(classify_columns([])) == 0 and classify_columns([]).evidence_offsets.tolist() == [0]
