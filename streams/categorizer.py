"""Placeholder keyword categorizer (the measured, explainable classifier is its own issue).

Pure and typed: no faust import. Returns a category code from the fraud taxonomy.
"""

from __future__ import annotations

from typing import Final

CATEGORIES: Final = (
    "part_time_job", "fake_shopping", "investment", "game_trading", "fake_customer_service", "loan",
    "credit_repair", "impersonate_officials", "impersonate_acquaintance", "romance", "ticket_refund", "other",
)  # fmt: skip

_KEYWORDS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("part_time_job", ("刷单", "兼职", "返利", "做任务", "点赞")),
    ("fake_customer_service", ("客服", "退款", "理赔", "快递丢")),
    ("investment", ("投资", "理财", "股票", "炒股", "荐股", "虚拟币", "内幕")),
    ("game_trading", ("游戏", "装备", "账号交易", "皮肤", "点券")),
    ("loan", ("贷款", "借款", "放款", "额度")),
    ("credit_repair", ("征信", "信用修复", "注销校园贷")),
    ("impersonate_officials", ("公安", "警察", "检察院", "法院", "通缉", "洗钱")),
    ("impersonate_acquaintance", ("领导", "老板", "熟人", "亲戚")),
    ("romance", ("婚恋", "交友", "网恋", "杀猪盘")),
    ("ticket_refund", ("机票", "航班", "改签", "退票")),
    ("fake_shopping", ("购物", "网购", "商品", "保健品", "茅台", "酒", "二手")),
)


def categorize(description: str) -> str:
    """First category whose keyword occurs in the text; "other" when none does."""
    for category, keywords in _KEYWORDS:
        if any(keyword in description for keyword in keywords):
            return category
    return "other"
