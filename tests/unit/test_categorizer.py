"""Unit tests for streams.categorizer: keyword categorisation of Chinese fraud descriptions."""

from __future__ import annotations

import pytest

from streams.categorizer import _KEYWORDS, CATEGORIES, categorize

EXAMPLES: list[tuple[str, str]] = [
    ("网上找兼职，对方让我刷单返利，先垫付了三笔", "part_time_job"),
    ("做任务给视频点赞赚佣金，后来要求充值才能提现", "part_time_job"),
    ("自称快递客服说我的包裹丢了要给我赔偿", "fake_customer_service"),
    ("对方说我买的衣服有质量问题可以办理退款", "fake_customer_service"),
    ("在群里跟着所谓老师炒股，下载了一个APP后亏了二十万", "investment"),
    ("网友推荐一个虚拟币平台，说有内幕消息稳赚不赔", "investment"),
    ("在游戏里买装备，付款后对方把我拉黑", "game_trading"),
    ("出售游戏皮肤时对方让我去不明平台收款", "game_trading"),
    ("网上申请贷款，对方说要先交保证金才能放款", "loan"),
    ("借款APP说我的额度被冻结需要交解冻费", "loan"),
    ("对方说可以帮我做信用修复", "credit_repair"),
    ("称能消除征信不良记录，要先付手续费", "credit_repair"),
    ("自称公安局民警，说我涉嫌洗钱要求配合调查", "impersonate_officials"),
    ("接到电话说我被法院通缉，要求转账到安全账户", "impersonate_officials"),
    ("有人加我微信冒充领导让我先转两万", "impersonate_acquaintance"),
    ("冒充亲戚说急需用钱周转", "impersonate_acquaintance"),
    ("在交友软件认识的人让我给他充值", "romance"),
    ("网恋对象说家人住院急需用钱", "romance"),
    ("收到短信说航班取消需要办理改签", "ticket_refund"),
    ("自称航空公司说我的机票可以退票并补偿", "ticket_refund"),
    ("在朋友圈网购低价茅台，付款后不发货", "fake_shopping"),
    ("微信上买了保健品，收到的是假货", "fake_shopping"),
    ("今天天气很好", "other"),
    ("对方打来电话，我没接", "other"),
    ("", "other"),
    ("nothing in Chinese at all", "other"),
]


@pytest.mark.parametrize(("description", "category"), EXAMPLES)
def test_realistic_descriptions(description: str, category: str) -> None:
    assert categorize(description) == category


def test_examples_cover_every_category() -> None:
    assert {category for _, category in EXAMPLES} == set(CATEGORIES)


def test_categories_are_unique_and_include_other() -> None:
    assert len(set(CATEGORIES)) == len(CATEGORIES) == 12
    assert "other" in CATEGORIES


def test_every_keyword_maps_to_its_own_known_category() -> None:
    for category, keywords in _KEYWORDS:
        assert category in CATEGORIES
        for keyword in keywords:
            assert categorize(keyword) == category, keyword
            assert categorize(f"前面的话{keyword}后面的话") == category, keyword


def test_keyword_table_covers_every_category_but_other() -> None:
    assert {category for category, _ in _KEYWORDS} == set(CATEGORIES) - {"other"}


def test_first_matching_category_wins() -> None:
    # Documented behaviour: the first category (in table order) whose keyword occurs.
    assert categorize("婚恋网站认识的人拉我投资") == "investment"
    assert categorize("兼职客服") == "part_time_job"


def test_returned_codes_are_always_known() -> None:
    texts = [text for text, _ in EXAMPLES] + ["随便", "123", "刷单投资贷款公安机票茅台"]
    assert all(categorize(text) in CATEGORIES for text in texts)
