"""Synthetic fraud reports for demos, load tests and benchmarks.

`generate_reports` produces JSON-ready request bodies in the producer API's input format, each with
the category the story was written from (the ground truth the categorizer can be measured against).
The generator is pure and deterministic: all randomness comes from one `random.Random(seed)`, and
the current time is read only when the caller does not pass `start`.

What makes the data worth analysing:

* the category mix, the long-tailed losses and the regions follow the shape of real report streams
  (part-time-job scams lead; a few huge losses dominate the total; populous provinces report more);
* descriptions are composed from per-category scripts with many interchangeable slots, written as a
  victim would (colloquial, sometimes with chat slang, full-width digits, typos and emoji);
* some descriptions quote a phone number, bank card, e-mail, QQ or WeChat ID that the API must redact;
* victims' age bands skew the way they do in practice (pensioners towards health-product and
  "police" scams, students towards game-trading and part-time-job scams);
* a pool of scammer "rings" reuses its phones and accounts across many victims, so repeat-contact
  analyses have something to find; a share of victims' phones can be taken from a leaked list.
"""

from __future__ import annotations

import itertools
import math
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

__all__ = [
    "AGE_BANDS",
    "CATEGORY_WEIGHTS",
    "CHANNELS",
    "CONTACT_METHODS",
    "GENDERS",
    "MAX_LOSS_CNY",
    "MEAN_LOSS_CNY",
    "PAYMENT_CHANNELS",
    "REGIONS",
    "SimulatedReport",
    "generate_reports",
]

# China Standard Time has had no daylight saving since 1991: a fixed offset renders "+08:00" always.
CST: Final = timezone(timedelta(hours=8), "CST")

CATEGORY_WEIGHTS: Final[Mapping[str, float]] = {
    "part_time_job": 0.30,
    "fake_shopping": 0.15,
    "investment": 0.15,
    "game_trading": 0.10,
    "fake_customer_service": 0.06,
    "loan": 0.05,
    "impersonate_officials": 0.04,
    "impersonate_acquaintance": 0.04,
    "credit_repair": 0.03,
    "romance": 0.03,
    "other": 0.03,
    "ticket_refund": 0.02,
}
AGE_BANDS: Final = ("under_18", "18_25", "26_35", "36_45", "46_60", "over_60")
GENDERS: Final = ("female", "male", "unknown")
CHANNELS: Final = ("app", "web", "hotline", "sms", "wechat", "police", "other")
CONTACT_METHODS: Final = ("phone_call", "sms", "wechat", "qq", "app", "website", "email", "in_person", "other")
PAYMENT_CHANNELS: Final = (
    "alipay", "wechat_pay", "bank_transfer", "bank_card", "unionpay", "cash", "crypto", "gift_card", "other",
)  # fmt: skip

MEAN_LOSS_CNY: Final = 10_000
MAX_LOSS_CNY: Final = 5_000_000
ZERO_LOSS_SHARE: Final = 0.03  # attempted fraud: the victim noticed, or the bank stopped the transfer
CITIZEN_CATEGORY_SHARE: Final = 0.40
CITIZEN_CATEGORY_AGREEMENT: Final = 0.85
VICTIM_PHONE_SHARE: Final = 0.70
NOISE_SHARE: Final = 0.10
MENTION_SHARE: Final = 0.15  # phone, bank card or e-mail quoted in the description
CHAT_ID_MENTION_SHARE: Final = 0.05  # QQ number or WeChat ID quoted in the description
RING_SHARE: Final = 0.35  # reports whose scammer belongs to a ring that has other victims
MAX_DESCRIPTION: Final = 400
MIN_DESCRIPTION: Final = 20


@dataclass(frozen=True, slots=True)
class SimulatedReport:
    """One generated report.

    `body` is the JSON-ready request body for `POST /api/v1/reports` (the dataclass is frozen, the
    dict is not: copy it before changing it). `true_category` is the category the story was written
    from, which the citizen's own `body["category"]` may or may not agree with. `scammer_ring` names
    the ring whose contacts the report reuses, or is None for a one-off scammer: the ground truth
    for repeat-contact analyses.
    """

    body: dict[str, Any]
    true_category: str
    scammer_ring: str | None = None


# --- Regions -----------------------------------------------------------------------------------
# Province population in millions (2020 census); each province's weight is split evenly over the
# districts listed for it, which is rough but keeps Guangdong ahead of Tibet by the right order.
_PROVINCE_POPULATION: Final[Mapping[str, float]] = {
    "11": 21.9, "12": 13.9, "13": 74.6, "14": 34.9, "15": 24.0, "21": 42.6, "22": 24.1, "23": 31.9,
    "31": 24.9, "32": 84.7, "33": 64.6, "34": 61.0, "35": 41.5, "36": 45.2, "37": 101.5, "41": 99.4,
    "42": 57.8, "43": 66.4, "44": 126.0, "45": 50.1, "46": 10.1, "50": 32.1, "51": 83.7, "52": 38.6,
    "53": 47.2, "54": 3.6, "61": 39.5, "62": 25.0, "63": 5.9, "64": 7.2, "65": 25.9,
}  # fmt: skip
_DISTRICTS: Final[tuple[tuple[str, str], ...]] = (
    ("110101", "北京东城"), ("110102", "北京西城"), ("110105", "北京朝阳"), ("110106", "北京丰台"),
    ("110108", "北京海淀"), ("110114", "北京昌平"), ("110115", "北京大兴"),
    ("120101", "天津和平"), ("120104", "天津南开"), ("120116", "天津滨海新区"),
    ("130102", "石家庄长安"), ("130104", "石家庄桥西"), ("130202", "唐山路南"), ("130602", "保定竞秀"),
    ("131002", "廊坊安次"),
    ("140105", "太原小店"), ("140106", "太原迎泽"), ("140802", "运城盐湖"),
    ("150102", "呼和浩特新城"), ("150203", "包头昆都仑"),
    ("210102", "沈阳和平"), ("210106", "沈阳铁西"), ("210202", "大连中山"), ("210204", "大连沙河口"),
    ("220102", "长春南关"), ("220104", "长春朝阳"), ("220202", "吉林昌邑"),
    ("230102", "哈尔滨道里"), ("230103", "哈尔滨南岗"), ("230202", "齐齐哈尔龙沙"),
    ("310101", "上海黄浦"), ("310104", "上海徐汇"), ("310105", "上海长宁"), ("310107", "上海普陀"),
    ("310110", "上海杨浦"), ("310112", "上海闵行"), ("310115", "上海浦东新区"), ("310117", "上海松江"),
    ("320102", "南京玄武"), ("320106", "南京鼓楼"), ("320115", "南京江宁"), ("320505", "苏州虎丘"),
    ("320506", "苏州吴中"), ("320508", "苏州姑苏"), ("320214", "无锡新吴"), ("320302", "徐州鼓楼"),
    ("320412", "常州武进"),
    ("330102", "杭州上城"), ("330106", "杭州西湖"), ("330108", "杭州滨江"), ("330110", "杭州余杭"),
    ("330203", "宁波海曙"), ("330302", "温州鹿城"), ("330782", "义乌"),
    ("340104", "合肥蜀山"), ("340111", "合肥包河"), ("340202", "芜湖镜湖"),
    ("350102", "福州鼓楼"), ("350203", "厦门思明"), ("350206", "厦门湖里"), ("350503", "泉州丰泽"),
    ("360102", "南昌东湖"), ("360111", "南昌青山湖"), ("360702", "赣州章贡"),
    ("370102", "济南历下"), ("370112", "济南历城"), ("370202", "青岛市南"), ("370212", "青岛崂山"),
    ("370602", "烟台芝罘"), ("370902", "泰安泰山"), ("371302", "临沂兰山"),
    ("410102", "郑州中原"), ("410105", "郑州金水"), ("410122", "郑州中牟"), ("410305", "洛阳涧西"),
    ("411302", "南阳宛城"),
    ("420102", "武汉江岸"), ("420103", "武汉江汉"), ("420106", "武汉武昌"), ("420111", "武汉洪山"),
    ("420502", "宜昌西陵"), ("420602", "襄阳襄城"),
    ("430102", "长沙芙蓉"), ("430104", "长沙岳麓"), ("430105", "长沙开福"), ("430202", "株洲荷塘"),
    ("430602", "岳阳岳阳楼"),
    ("440103", "广州荔湾"), ("440104", "广州越秀"), ("440106", "广州天河"), ("440111", "广州白云"),
    ("440113", "广州番禺"), ("440303", "深圳罗湖"), ("440304", "深圳福田"), ("440305", "深圳南山"),
    ("440306", "深圳宝安"), ("440307", "深圳龙岗"), ("441900", "东莞"), ("442000", "中山"),
    ("440604", "佛山禅城"), ("440606", "佛山顺德"), ("441302", "惠州惠城"),
    ("450102", "南宁兴宁"), ("450103", "南宁青秀"), ("450202", "柳州城中"), ("450302", "桂林秀峰"),
    ("460105", "海口秀英"), ("460108", "海口美兰"), ("460202", "三亚海棠"),
    ("500101", "重庆万州"), ("500103", "重庆渝中"), ("500105", "重庆江北"), ("500106", "重庆沙坪坝"),
    ("500108", "重庆南岸"), ("500112", "重庆渝北"),
    ("510104", "成都锦江"), ("510105", "成都青羊"), ("510106", "成都金牛"), ("510107", "成都武侯"),
    ("510108", "成都成华"), ("510116", "成都双流"), ("510703", "绵阳涪城"), ("511302", "南充顺庆"),
    ("520102", "贵阳南明"), ("520103", "贵阳云岩"), ("520302", "遵义红花岗"),
    ("530102", "昆明五华"), ("530103", "昆明盘龙"), ("530111", "昆明官渡"), ("532901", "大理"),
    ("540102", "拉萨城关"),
    ("610102", "西安新城"), ("610104", "西安莲湖"), ("610113", "西安雁塔"), ("610116", "西安长安"),
    ("610302", "宝鸡渭滨"),
    ("620102", "兰州城关"), ("620104", "兰州西固"),
    ("630102", "西宁城东"), ("630104", "西宁城西"),
    ("640104", "银川兴庆"), ("640106", "银川金凤"),
    ("650102", "乌鲁木齐天山"), ("650103", "乌鲁木齐沙依巴克"), ("650104", "乌鲁木齐新市"),
)  # fmt: skip


def _region_table() -> tuple[tuple[str, str, float], ...]:
    per_province: dict[str, int] = {}
    for code, _ in _DISTRICTS:
        per_province[code[:2]] = per_province.get(code[:2], 0) + 1
    return tuple((code, name, _PROVINCE_POPULATION[code[:2]] / per_province[code[:2]]) for code, name in _DISTRICTS)


REGIONS: Final[tuple[tuple[str, str, float], ...]] = _region_table()
"""(6-digit code, place name, relative weight) for every region a report can come from."""

# --- Victims -----------------------------------------------------------------------------------
# P(age band | category), in AGE_BANDS order. Sampling the category first keeps the category mix
# exact while making pensioners and students skew towards the scams that target them.
_AGE_BY_CATEGORY: Final[Mapping[str, tuple[float, ...]]] = {
    "part_time_job": (6, 32, 33, 17, 9, 3),
    "fake_shopping": (3, 18, 26, 18, 13, 22),
    "investment": (0, 8, 27, 30, 25, 10),
    "game_trading": (35, 40, 17, 6, 2, 0),
    "fake_customer_service": (2, 22, 34, 22, 14, 6),
    "loan": (0, 25, 35, 25, 12, 3),
    "credit_repair": (0, 35, 40, 16, 7, 2),
    "impersonate_officials": (1, 12, 20, 18, 19, 30),
    "impersonate_acquaintance": (0, 8, 30, 32, 22, 8),
    "romance": (0, 10, 30, 32, 22, 6),
    "ticket_refund": (0, 20, 35, 25, 14, 6),
    "other": (4, 22, 28, 20, 14, 12),
}
_FEMALE_SHARE: Final[Mapping[str, float]] = {
    "part_time_job": 0.62, "fake_shopping": 0.55, "romance": 0.62, "game_trading": 0.35,
    "investment": 0.45, "impersonate_acquaintance": 0.55,
}  # fmt: skip
_UNKNOWN_GENDER_SHARE: Final = 0.04
# Loss multiplier by age band: children spend pocket money, pensioners lose savings.
_AGE_LOSS_FACTOR: Final[Mapping[str, float]] = {
    "under_18": 0.3, "18_25": 0.7, "26_35": 1.0, "36_45": 1.1, "46_60": 1.2, "over_60": 1.3,
}  # fmt: skip

# Real mobile number segments; scammers favour the virtual-operator 170/171/165/167 ranges.
_MOBILE_PREFIXES: Final = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182",
    "183", "184", "185", "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip
_SCAM_PREFIXES: Final = (*_MOBILE_PREFIXES, "170", "170", "171", "171", "165", "167")

# --- Losses ------------------------------------------------------------------------------------
# Per category: (mean relative to the overall mean, lognormal sigma). The overall scale is solved
# below so that the expected loss over the whole mix is MEAN_LOSS_CNY.
_LOSS_SHAPE: Final[Mapping[str, tuple[float, float]]] = {
    "part_time_job": (0.8, 1.4),
    "fake_shopping": (0.35, 1.3),
    "investment": (2.6, 1.5),
    "game_trading": (0.2, 1.2),
    "fake_customer_service": (1.0, 1.3),
    "loan": (0.35, 1.1),
    "credit_repair": (1.2, 1.3),
    "impersonate_officials": (3.0, 1.5),
    "impersonate_acquaintance": (2.5, 1.4),
    "romance": (3.0, 1.5),
    "ticket_refund": (0.6, 1.2),
    "other": (0.6, 1.4),
}


def _loss_scale() -> float:
    expected = 0.0
    for category, weight in CATEGORY_WEIGHTS.items():
        ages = _AGE_BY_CATEGORY[category]
        age_factor = sum(w * _AGE_LOSS_FACTOR[band] for w, band in zip(ages, AGE_BANDS, strict=True)) / sum(ages)
        expected += weight * _LOSS_SHAPE[category][0] * age_factor
    return MEAN_LOSS_CNY / (expected * (1 - ZERO_LOSS_SHARE))


_LOSS_SCALE: Final = _loss_scale()

# Median delay from the fraud to the report, in minutes: "police" and refund scams are noticed
# within hours, investment and romance scams only when withdrawals fail weeks later.
_DELAY_MEDIAN_MIN: Final[Mapping[str, float]] = {
    "fake_customer_service": 180, "ticket_refund": 180, "impersonate_officials": 300,
    "impersonate_acquaintance": 240, "investment": 14_400, "romance": 14_400, "credit_repair": 600,
}  # fmt: skip
_DEFAULT_DELAY_MEDIAN_MIN: Final = 1_440.0
_MAX_DELAY: Final = timedelta(days=60)
_MIN_DELAY: Final = timedelta(minutes=5)

# Relative report intensity by hour of day (Beijing time): few reports are filed at 4 a.m.
_HOURLY_INTENSITY: Final = (
    0.2, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.5, 0.8, 1.0, 1.0, 0.9,
    0.8, 0.9, 1.0, 1.0, 0.95, 0.9, 0.9, 1.0, 1.0, 0.9, 0.6, 0.35,
)  # fmt: skip

# --- Channels, contact methods and payment -----------------------------------------------------
_CHANNEL_WEIGHTS: Final = (30, 14, 20, 5, 16, 12, 3)  # CHANNELS order
_ELDERLY_CHANNEL_WEIGHTS: Final = (10, 5, 35, 3, 12, 30, 5)  # pensioners call the hotline or walk in

_PAYMENT_WEIGHTS: Final[Mapping[str, Mapping[str, float]]] = {
    "default": {"bank_transfer": 35, "alipay": 20, "wechat_pay": 20, "bank_card": 10, "unionpay": 5, "other": 5,
                "cash": 2, "crypto": 2, "gift_card": 1},
    "investment": {"bank_transfer": 45, "alipay": 8, "wechat_pay": 8, "bank_card": 10, "unionpay": 6,
                   "crypto": 20, "other": 3},
    "romance": {"bank_transfer": 45, "alipay": 10, "wechat_pay": 15, "bank_card": 8, "crypto": 17, "other": 5},
    "game_trading": {"wechat_pay": 40, "alipay": 35, "gift_card": 12, "bank_card": 5, "other": 8},
    "impersonate_officials": {"bank_transfer": 60, "bank_card": 12, "unionpay": 8, "cash": 12, "other": 8},
    "part_time_job": {"bank_transfer": 40, "alipay": 20, "wechat_pay": 25, "bank_card": 6, "crypto": 4,
                      "gift_card": 2, "other": 3},
}  # fmt: skip
_ELDERLY_SHOPPING_PAYMENT: Final[Mapping[str, float]] = {"cash": 45, "bank_transfer": 25, "wechat_pay": 20, "other": 10}

# What the victim says they did with the money; "{amount}" is filled with the first payment or the loss.
_PAY_PHRASES: Final[Mapping[str, tuple[str, ...]]] = {
    "alipay": ("用支付宝转了{amount}", "支付宝扫码付了{amount}", "通过支付宝给对方转了{amount}"),
    "wechat_pay": ("微信转账{amount}", "扫了对方的微信收款码付了{amount}", "用微信付了{amount}"),
    "bank_transfer": ("通过手机银行转到对方账户{amount}", "往对方给的银行卡上转了{amount}",
                      "去银行柜台汇了{amount}", "网银转账{amount}"),
    "bank_card": ("在对方给的页面上填了银行卡信息，被扣了{amount}", "用银行卡付了{amount}", "刷卡付了{amount}"),
    "unionpay": ("用云闪付转了{amount}", "通过银联转账{amount}"),
    "cash": ("取了{amount}现金交给上门的人", "把{amount}现金当面给了对方"),
    "crypto": ("买了{amount}的USDT转到对方给的钱包地址", "按对方要求买了{amount}的USDT转过去"),
    "gift_card": ("买了{amount}的京东E卡把卡密发给对方", "买了{amount}的充值卡把卡号密码发了过去"),
    "other": ("转了{amount}", "付了{amount}", "给对方打了{amount}"),
}  # fmt: skip
# Phrases that only fit one category's story.
_PAY_PHRASE_OVERRIDES: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    ("fake_shopping", "cash"): ("货到付款给了快递员{amount}", "取了{amount}现金交给送货上门的人"),
    ("investment", "crypto"): ("买了{amount}的USDT充到平台", "在平台上买币充值{amount}"),
    ("romance", "crypto"): ("买了{amount}的USDT充到他说的平台",),
}
_BANK_PAYMENTS: Final = frozenset({"bank_transfer", "bank_card", "unionpay"})

# Citizens pick the wrong category mostly among look-alikes.
_CONFUSABLE: Final[Mapping[str, tuple[str, ...]]] = {
    "part_time_job": ("fake_shopping", "investment", "other"),
    "fake_shopping": ("fake_customer_service", "part_time_job", "other"),
    "investment": ("romance", "part_time_job", "other"),
    "game_trading": ("fake_shopping", "fake_customer_service", "other"),
    "fake_customer_service": ("fake_shopping", "ticket_refund", "loan"),
    "loan": ("credit_repair", "fake_customer_service", "other"),
    "credit_repair": ("loan", "fake_customer_service", "impersonate_officials"),
    "impersonate_officials": ("credit_repair", "fake_customer_service", "other"),
    "impersonate_acquaintance": ("impersonate_officials", "other", "romance"),
    "romance": ("investment", "impersonate_acquaintance", "other"),
    "ticket_refund": ("fake_customer_service", "other", "fake_shopping"),
    "other": ("fake_shopping", "investment", "impersonate_officials"),
}

# --- Story slots -------------------------------------------------------------------------------
_APP_HEADS: Final = ("鑫", "汇", "融", "盈", "金", "启", "优", "聚", "星", "恒", "嘉", "富", "博", "瑞", "华")
_APP_TAILS: Final = ("通", "宝", "财富", "赢家", "优选", "智投", "金服", "钱包", "商城", "生活", "淘客", "乐购")

_SLOTS: Final[Mapping[str, tuple[str, ...]]] = {
    "shop": ("淘宝", "京东", "拼多多", "抖音商城", "闲鱼", "唯品会", "快手小店", "苏宁易购", "得物", "天猫"),
    "social": ("抖音", "快手", "小红书", "微博", "朋友圈", "QQ空间", "B站", "贴吧", "视频号"),
    "chat": ("微信", "QQ", "企业微信", "Telegram", "钉钉", "一个叫{app}的聊天软件"),
    "app": tuple(head + tail for head in _APP_HEADS for tail in _APP_TAILS),
    "time": ("上周三", "前天晚上", "昨天下午", "今天上午", "上个月", "前几天", "大前天", "周末", "上周五晚上",
             "月初", "昨晚十点多", "中午午休的时候", "国庆假期", "春节前", "3月中旬", "下班路上", "半个月前"),
    "small": ("3元", "5块钱", "8元", "10元", "12元", "20块", "30元", "一个5元的红包"),
    "wage": ("200-500", "三四百", "150到300", "300以上", "一两百"),
    "fee_small": ("98元", "198元", "298元", "300元", "500元"),
    "rate": ("10%", "15%", "20%", "30%", "50%", "一倍"),
    "fee": ("解冻费", "保证金", "手续费", "个人所得税", "激活费", "会员费", "验资费", "工本费", "通道费"),
    "bank": ("工商银行", "建设银行", "农业银行", "中国银行", "招商银行", "邮储银行", "交通银行", "农商银行"),
    "game": ("王者荣耀", "和平精英", "原神", "蛋仔派对", "梦幻西游", "我的世界", "英雄联盟", "第五人格",
             "逆水寒", "穿越火线", "金铲铲之战", "光遇"),
    "game_item": ("皮肤", "账号", "点券", "装备", "金币", "坐骑", "限定皮肤", "高V账号", "钻石", "原石"),
    "trade_site": ("交易猫", "盼之", "5173", "螃蟹账号", "一个游戏交易平台"),
    "product": ("iPhone 15", "演唱会门票", "二手相机", "名牌包", "布偶猫", "二手车", "显卡", "进口奶粉",
                "二手笔记本电脑", "金条", "戴森吹风机", "索尼耳机", "球鞋", "手机"),
    "gift": ("赠品", "一年保修", "一箱牛奶", "蓝牙耳机", "运费险"),
    "elder_product": ("保健品", "降血压的特效药", "纪念币", "飞天茅台", "灵芝孢子粉", "磁疗床垫", "野山参",
                      "收藏邮票", "降糖茶", "和田玉手镯", "纪念版茅台"),
    "elder_seller": ("养生馆", "酒厂", "保健品公司", "老年大学", "钱币收藏协会", "健康中心"),
    "elder_age": tuple(str(age) for age in range(61, 86)),
    "kid_age": tuple(str(age) for age in range(10, 18)),
    "grade": ("一", "二", "三", "四"),
    "invest": ("虚拟币", "USDT", "原油期货", "黄金", "港股打新", "外汇", "数字藏品", "原始股", "私募基金",
               "比特币", "期货"),
    "teacher": ("老师", "导师", "助理", "分析师", "投资顾问", "带单老师"),
    "profit": ("赚了几百块", "赚了八百多", "赚了一千多", "收益两三百"),
    "persona": ("外企高管", "军官", "医生", "海归博士", "做跨境电商的老板", "新加坡华侨", "工程师", "退役军人",
                "香港的金融分析师"),
    "dating": ("婚恋网站", "世纪佳缘", "珍爱网", "探探", "Soul", "陌陌", "抖音", "一款交友软件", "王者荣耀"),
    "months": ("两", "三", "半", "四", "一"),
    "city": ("上海", "北京", "广州", "哈尔滨", "成都", "武汉", "深圳", "天津", "西安", "长沙"),
    "agency": ("公安局", "检察院", "人民法院", "反诈中心", "刑侦大队", "经侦支队"),
    "crime": ("洗钱案", "跨境赌博案", "非法集资案", "医保卡盗刷案", "贩卖个人信息案", "电信诈骗案"),
    "crime_act": ("洗钱", "转移赃款", "跨境赌博", "发送诈骗短信"),
    "leader": ("王总", "李局长", "张主任", "刘总", "陈老板", "赵书记", "校长", "部门经理", "班主任"),
    "relative": ("儿子", "女儿", "侄子", "外孙", "孙子", "表弟", "老同学"),
    "airline": ("东方航空", "南方航空", "国航", "海南航空", "春秋航空", "厦门航空", "四川航空", "深圳航空"),
    "dest": ("三亚", "成都", "昆明", "北京", "上海", "乌鲁木齐", "哈尔滨", "西安", "重庆", "厦门"),
    "comp": ("200", "300", "500", "800"),
    "loan_brand": ("借呗", "微粒贷", "京东金条", "花呗", "美团借钱", "校园贷", "分期乐", "白条"),
    "loan_amt": ("5万", "10万", "20万", "3万", "8万", "30万"),
    "goods": ("衣服", "面膜", "奶粉", "儿童玩具", "鞋子", "化妆品", "保温杯"),
    "payapp": ("支付宝", "微信支付", "抖音", "京东金融", "美团"),
    "service": ("百万保障", "会员自动续费", "直播主播权限", "学生会员", "快递年卡"),
    "monthly": ("500元", "800元", "1200元", "两千"),
    "prize": ("二等奖", "一台笔记本电脑", "5万元现金", "一辆汽车"),
    "cert": ("驾照", "学历证书", "会计证", "健康证", "教师资格证"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Script:
    """One way a scam of a category unfolds; a story picks one line from each part."""

    openings: tuple[tuple[str, str], ...]  # (contact_method, how it started)
    hooks: tuple[str, ...]  # what the scammer said
    actions: tuple[str, ...]  # what the victim did; "{pay}" is how much, and how
    escalations: tuple[str, ...]  # the second demand, before the money is gone
    endings: tuple[str, ...]
    weight: float = 1.0
    elderly_only: bool = False


_PAY_ACTIONS: Final = ("我{pay}", "我信了，{pay}", "我按对方说的{pay}", "我没多想就{pay}")

_SCRIPTS: Final[Mapping[str, tuple[_Script, ...]]] = {
    "part_time_job": (
        _Script(
            openings=(
                ("app", "{time}在{social}上刷到一个兼职广告，说在家动动手指一天能赚两三百"),
                ("wechat", "{time}有人把我拉进一个微信群，说招线上兼职，日结{wage}"),
                ("qq", "{time}在QQ上有人加我，说有刷单兼职，时间自由"),
                ("sms", "{time}收到一条短信，说招聘网络兼职，每天一两个小时，让我加{chat}联系"),
                ("app", "在{social}看到招聘打字员、录入员的帖子，加了对方{chat}"),
                ("website", "在一个招聘网站上投了简历，对方说是{shop}的推广员岗位"),
                ("phone_call", "{time}接到一个电话，说是{shop}的招聘专员，问我要不要做兼职"),
                ("wechat", "宝妈群里有人发兼职信息，说给商家点赞关注就有佣金"),
                ("app", "在{social}评论区看到有人说做任务能返利，私信后加了对方{chat}"),
                ("qq", "同学转发了一个QQ群，说是暑假工，在家做任务就行"),
            ),
            hooks=(
                "对方说给视频点赞截图一单{small}，先做了几单确实返了钱",
                "客服说帮商家刷单提升销量，垫付的钱能返本金加{rate}佣金",
                "对方让我下载一个叫{app}的app，在上面接单做任务",
                "让我关注几个公众号和店铺，每关注一个给{small}",
                "说是{shop}官方合作的做任务平台，佣金当天结算",
                "对方说先交{fee_small}入职费才能派单",
                "导师说做“福利任务”收益更高，不过要先垫付",
                "把我拉进一个派单群，群里好多人晒收益截图",
            ),
            actions=(*_PAY_ACTIONS, "我做了几单小的都返了，后来接了个大单{pay}", "为了拿回本金，陆续{pay}"),
            escalations=(
                "后面说我的任务是连单，要连做三单才能提现",
                "然后说我操作失误账户被冻结，要交{fee}才能解冻",
                "单子越来越大，说卡单了必须做完才能提现",
                "提现的时候说要先交{rate}的税",
                "对方说我信誉分不够，要充值补分",
                "说我的任务超时了，要重新做一轮",
            ),
            endings=(
                "现在app打不开了，客服也联系不上",
                "然后就把我拉黑了",
                "钱一直没退回来",
                "群也解散了，才发现被骗了",
                "对方不回消息了",
                "我才反应过来是刷单诈骗",
            ),
        ),
    ),
    "fake_shopping": (
        _Script(
            openings=(
                ("app", "{time}在{social}上看到有人卖低价{product}"),
                ("wechat", "在朋友圈看到微商卖{product}，价格比官网便宜一半"),
                ("website", "在网上搜到一个卖{product}的网站，价格很便宜"),
                ("app", "在{shop}上看中一个{product}，卖家让我加{chat}私下交易更便宜"),
                ("qq", "在QQ群里有人出{product}，说是内部渠道"),
                ("app", "在闲鱼上买{product}，卖家说平台手续费高，让我走他发的链接"),
                ("phone_call", "{time}接到一个卖{product}的推销电话"),
            ),
            hooks=(
                "对方说是全新正品，只要平时一半的价钱",
                "卖家发了很多实拍图和买家好评，看着挺靠谱",
                "对方说是海关罚没的货，数量有限要先付款",
                "说现在下单还送{gift}",
                "对方说先付定金锁货，发货后再付尾款",
            ),
            actions=(*_PAY_ACTIONS, "我先付了定金，后来又{pay}"),
            escalations=(
                "付款后对方又说要交关税和保证金",
                "过了几天说物流被扣了，要补{fee}",
                "卖家说我付款备注错了，要重新付一遍才能退",
                "又说要交运费和保险费",
            ),
            endings=(
                "之后就不发货也不回消息了",
                "收到的是个空盒子",
                "寄来的是假货，根本不值这个钱",
                "对方把我拉黑了，链接也打不开",
                "等了半个月一直没收到货",
            ),
        ),
        # Health products and "collector's" liquor sold by phone to pensioners.
        _Script(
            openings=(
                ("phone_call", "{time}接到一个电话，对方自称是{elder_seller}的工作人员"),
                ("phone_call", "{time}有人打电话给我推销{elder_product}"),
                ("in_person", "小区门口有人搞健康讲座送鸡蛋，我去听了几次"),
                ("phone_call", "{time}有个自称酒厂的人打电话，说有纪念版茅台限量发售"),
                ("app", "在抖音直播间看到专家讲养生，推荐{elder_product}"),
                ("wechat", "有个小姑娘加了我微信，天天嘘寒问暖，后来给我推荐{elder_product}"),
            ),
            hooks=(
                "说{elder_product}能治高血压和糖尿病，吃了不用去医院",
                "说是限量收藏版，以后能升值好几倍",
                "说我是老客户，可以享受内部价",
                "专家说我这个病再不调理就晚了",
                "说买够一定数量还能返现，还送旅游",
            ),
            actions=("我一次{pay}", "我前后买了好几次，{pay}", "我就{pay}，东西送到家里"),
            escalations=("后来又打电话说有更好的产品，让我再买一个疗程", "又说要交会员费才能领返现"),
            endings=(
                "后来去医院问，医生说就是普通的糖丸",
                "寄过来的酒是假的，根本不是茅台",
                "那个电话再也打不通了",
                "孩子回来一看说我被骗了",
                "说好的返现一分没有",
            ),
            weight=4.0,
            elderly_only=True,
        ),
    ),
    "investment": (
        _Script(
            openings=(
                ("wechat", "{time}被拉进一个炒股群，群里{teacher}天天讲课推荐牛股"),
                ("app", "在{social}直播间看到{teacher}说免费送牛股，加了{chat}进群"),
                ("phone_call", "{time}接到电话说是某证券公司的，说有一只重组股票能翻倍"),
                ("qq", "QQ上有人加我，说带我做{invest}，稳赚不赔"),
                ("website", "在网上看到一个{invest}投资平台的广告，收益很高"),
                ("wechat", "一个网友天天在朋友圈晒赚钱截图，说在做{invest}"),
                ("app", "有人推荐我下载一个叫{app}的理财app，说是正规平台"),
            ),
            hooks=(
                "{teacher}说有内部消息，跟着操作能翻倍",
                "说这个平台做{invest}，一个月收益{rate}以上",
                "先让我小额试了一下，{profit}，真的能提现",
                "群里很多人晒盈利截图，我就心动了",
                "对方说平台有漏洞，现在进场稳赚",
            ),
            actions=(
                *_PAY_ACTIONS,
                "我把积蓄拿出来，{pay}",
                "一开始投了一点，后来追加了好几次，{pay}",
                "为了拿到更高收益，又借了网贷{pay}",
            ),
            escalations=(
                "账户显示盈利了但提现不了，说要交{rate}的手续费",
                "提现时说我账户涉嫌洗钱被冻结，要交保证金",
                "说要升级VIP会员才能提现",
                "后来平台说系统维护，资金暂时冻结",
            ),
            endings=("现在app打不开，群也解散了", "{teacher}把我拉黑了", "钱一分都拿不出来", "才知道是假的投资平台"),
        ),
    ),
    "game_trading": (
        _Script(
            openings=(
                ("app", "在{game}里有人说低价卖{game_item}"),
                ("qq", "玩{game}的时候有人加我QQ，说可以帮我代充{game_item}打折"),
                ("app", "在{social}上看到有人出{game}的{game_item}，价格很便宜"),
                ("app", "{time}在{game}里有人喊免费领{game_item}，让我私聊"),
                ("wechat", "同学介绍了一个卖{game}{game_item}的人，加了微信"),
            ),
            hooks=(
                "对方让我去{trade_site}下单，给我发了个链接",
                "说是官方活动，充值可以打5折",
                "对方说先付钱他就把号给我",
                "说我中奖了，要先交手续费才能领{game_item}",
            ),
            actions=(*_PAY_ACTIONS, "我偷偷用家里的手机{pay}"),
            escalations=(
                "付款后客服说我的账户被冻结了，要交解冻费",
                "说我填错了信息，要再转一笔才能解冻",
                "后来卖家用身份证申诉把号找回去了",
            ),
            endings=("然后就把我拉黑了", "号被找回去了，钱也没了", "{game_item}一直没到账", "家长发现才知道被骗了"),
            weight=3.0,
        ),
        # Selling an account: the "buyer" pays on a fake trading site that then wants fees.
        _Script(
            openings=(
                ("website", "想把{game}账号卖掉，在网上搜到一个{trade_site}的网站"),
                ("qq", "我在{game}里挂了个卖号的帖子，有人加我QQ说要买"),
                ("app", "在{social}上发帖卖{game}的号，有个买家私信我"),
            ),
            hooks=(
                "说我的账号很值钱，有买家出高价",
                "买家说已经在{trade_site}上付款了，让我去提现",
                "客服说我的账号要先做资金认证才能收款",
            ),
            actions=("我按客服说的{pay}", "为了提现卖号的钱，{pay}", *_PAY_ACTIONS),
            escalations=("对方说要交保证金才能提现卖号的钱", "说我填错了银行卡号，要再转一笔才能解冻"),
            endings=("号没卖出去，钱也没了", "客服不回消息了", "网站打不开了"),
        ),
    ),
    "fake_customer_service": (
        _Script(
            openings=(
                ("phone_call", "{time}接到电话，对方说是{shop}客服"),
                ("phone_call", "有人打电话说是快递公司的，说我的快递丢了要给我理赔"),
                ("qq", "加了一个说是{shop}售后的QQ"),
                ("sms", "{time}收到短信说我网购的{goods}质量有问题，可以退款"),
            ),
            hooks=(
                "说我买的{goods}有质量问题，要给我双倍退款",
                "让我下载一个会议app共享屏幕，指导我操作",
                "对方准确说出了我的订单信息和地址，我就信了",
                "说理赔要先验证我的账户流水",
            ),
            actions=(
                "我按照他的指导{pay}",
                "他让我在几个借贷平台借钱刷流水，我{pay}",
                "让我把钱转到所谓的安全账户，我{pay}",
            ),
            escalations=("又说操作失败要重新转一次", "后来说我的账户被锁了，要再交钱解锁"),
            endings=("挂了电话才发现被骗了", "退款一直没到，对方电话也打不通了", "银行卡余额一下子没了"),
        ),
        _Script(
            openings=(
                ("phone_call", "{time}有人打电话说是{payapp}客服，说我开通了{service}"),
                ("sms", "收到短信说我的{service}即将扣费，不取消请联系客服"),
                ("phone_call", "对方自称{payapp}的工作人员，说我的{service}要关闭"),
            ),
            hooks=(
                "说不关闭的话每个月会扣{monthly}，还会影响征信",
                "让我下载一个会议app共享屏幕，说要帮我关闭",
                "说要先把钱转到“验证账户”才能取消",
            ),
            actions=("我按照他的指导{pay}", "我把验证码告诉了他，{pay}", "我信了，{pay}"),
            escalations=("又说操作失败要重新转一次", "说还要关闭另一个平台的服务"),
            endings=("挂了电话才发现被骗了", "后来问了官方客服，根本没有开通这回事", "对方电话打不通了"),
        ),
    ),
    "loan": (
        _Script(
            openings=(
                ("sms", "{time}收到短信说我有一笔{loan_amt}的额度待领取"),
                ("website", "急需用钱，在网上看到一个无抵押贷款的广告"),
                ("app", "下载了一个叫{app}的贷款app，申请了{loan_amt}"),
                ("phone_call", "有个自称贷款公司的人打电话问我要不要贷款，说低息秒批"),
                ("wechat", "朋友圈看到有人说可以帮忙办大额贷款，不看征信"),
            ),
            hooks=(
                "对方说我的银行卡号填错了，账户被冻结",
                "说放款前要先交{fee}，证明有还款能力",
                "说我流水不够，需要先转一笔钱刷流水",
                "说我征信不好，要交保证金才能放款",
                "说要先交会员费，开通后才能提现",
            ),
            actions=(*_PAY_ACTIONS, "为了拿到贷款，{pay}", "前前后后{pay}"),
            escalations=("交完又说要交解冻金", "又说要买保险才能放款", "说我操作超时要重新审核，再交一次"),
            endings=("最后一分钱没贷到", "钱没借到还倒贴了不少", "app打不开了", "对方不接电话了"),
        ),
    ),
    "credit_repair": (
        _Script(
            openings=(
                ("phone_call", "{time}接到电话，说我大学时注册过{loan_brand}账户"),
                ("phone_call", "有人打电话说我的{loan_brand}额度异常，需要修复信用"),
                ("phone_call", "对方自称是金融监管局的工作人员，说我的征信有问题"),
                ("qq", "QQ上有人说可以帮忙修复征信，消除逾期记录"),
                ("wechat", "对方自称{loan_brand}客服，加了我微信"),
            ),
            hooks=(
                "说按国家政策要注销，不注销会影响征信",
                "说我的芝麻信用分太低要修复，不然以后办不了业务",
                "说要把额度清空，让我在几个平台借钱转到指定账户",
                "说要配合做资金验证，钱过一下就退回来",
            ),
            actions=("我就{pay}", "按他说的从好几个平台借了钱，{pay}", "我信了，{pay}"),
            escalations=("又说验证没通过，要再转一次", "又说还有一个账户也要注销"),
            endings=("后来才知道根本没有注销这回事", "说好的退款一直没退", "现在还背着网贷"),
        ),
    ),
    "impersonate_officials": (
        _Script(
            openings=(
                ("phone_call", "{time}接到一个电话，说是{city}{agency}的"),
                ("phone_call", "有人打电话说我的快递里有违禁品，转接到{city}{agency}"),
                ("phone_call", "接到电话说我的医保卡在外地被盗刷，转到了{agency}"),
                ("qq", "对方让我加QQ，看了一张带我照片的通缉令"),
                ("app", "视频通话里一个穿警服的人跟我说话"),
                ("phone_call", "一个自称{city}{agency}警官的人打来电话"),
            ),
            hooks=(
                "说我的身份证涉嫌一起{crime}，要配合调查",
                "说不配合就冻结我名下所有账户，上门抓人",
                "让我不能告诉任何人，包括家人，否则泄露案情",
                "说要把钱转到安全账户核查，查完就退回",
                "说我名下的银行卡被用来{crime_act}",
            ),
            actions=("我很害怕，{pay}", "我去银行{pay}", "按照要求下载了一个会议软件，{pay}"),
            escalations=("后来又说资金还没核查完，要我把定期也取出来", "又让我去宾馆开房单独接受线上审讯"),
            endings=("家里人知道后报警才发现被骗了", "说好的退回一直没有", "对方电话打不通了"),
        ),
    ),
    "impersonate_acquaintance": (
        _Script(
            openings=(
                ("wechat", "有人用我们{leader}的头像和名字加我微信"),
                ("qq", "一个和{leader}同名同头像的QQ号找我"),
                ("wechat", "公司财务群里，{leader}让我马上转款给供应商"),
                ("sms", "收到短信说：我是你们{leader}，换号了，存一下"),
            ),
            hooks=(
                "说他在开会不方便接电话，让我先给合作方转账",
                "说有个亲戚要办事，让我先帮忙垫付，回头给我报销",
                "说有笔保证金今天必须打过去，让我先转",
            ),
            actions=(*_PAY_ACTIONS, "怕耽误事，{pay}"),
            escalations=("过了一会儿又说还差一点，让我再转", "又让我给另一个账户转一笔"),
            endings=("后来打电话给{leader}本人才发现根本没这回事", "第二天上班问了才知道是冒充的", "对方把我删了"),
            weight=2.0,
        ),
        _Script(
            openings=(
                ("phone_call", "{time}接到电话，对方让我猜猜他是谁，我以为是我{relative}"),
                ("wechat", "我{relative}的微信给我发消息说急需用钱"),
                ("qq", "我{relative}的QQ给我发消息，说换了新号"),
            ),
            hooks=(
                "说出了车祸在医院，急需手术费",
                "说手机掉了用朋友的号，让我先借点钱",
                "说在外地被派出所扣了，要交罚款才能出来",
            ),
            actions=(*_PAY_ACTIONS, "我着急，{pay}"),
            escalations=("过了一会儿又说还差一点，让我再转", "又说医院还要押金"),
            endings=("后来打电话给本人才发现根本没这回事", "见面问了才知道他的号被盗了", "对方把我删了"),
        ),
    ),
    "romance": (
        _Script(
            openings=(
                ("app", "在{dating}上认识一个人，自称是{persona}"),
                ("wechat", "{time}一个陌生人加我微信，说加错了人，后来就聊上了"),
                ("website", "在{dating}认识的对象，说是{persona}"),
                ("app", "在{dating}认识的网友，聊了{months}个月，每天叫我宝贝"),
                ("qq", "QQ上认识的网友，自称是{persona}"),
            ),
            hooks=(
                "说他知道一个{invest}平台有漏洞，让我跟着他下注",
                "说要回国跟我结婚，给我寄了礼物，被海关扣了要交清关费",
                "说要退伍了回来跟我结婚，退伍费需要我先帮忙交保证金",
                "说他母亲生病住院，急需用钱，回来就还",
                "带我一起做{invest}，说是他舅舅内部的渠道",
            ),
            actions=("我陆续{pay}", "我信了他，{pay}", "为了我们的将来，{pay}"),
            escalations=("提现时说要交{rate}的税", "后来又说有各种费用要交", "每次说快回来了又出事"),
            endings=("后来就联系不上了", "才发现照片都是网上盗的", "我才知道遇到了杀猪盘", "现在人也找不到了"),
        ),
    ),
    "ticket_refund": (
        _Script(
            openings=(
                ("sms", "{time}收到短信说我乘坐的{airline}航班因机械故障取消了"),
                ("phone_call", "有人打电话说是{airline}客服，说我去{dest}的航班取消了"),
                ("website", "订的去{dest}的机票要改签，在网上搜到一个客服电话打过去"),
                ("sms", "收到短信说我的火车票退票失败，让我联系客服"),
                ("phone_call", "{time}接到电话说我订的去{dest}的机票航班延误"),
            ),
            hooks=(
                "说可以办理改签并补偿{comp}元",
                "对方准确说出了我的姓名和航班号",
                "让我先付改签费，说后面会退",
                "说退票要验证银行卡，让我开通快捷支付",
            ),
            actions=("我{pay}", "按他的提示在手机银行上操作，{pay}", "按照指示{pay}"),
            escalations=("付款后说操作失败要再付一次", "又说我的账户被冻结，要交钱解冻"),
            endings=("后来打了航空公司官方电话，才知道航班根本没取消", "补偿一分没收到", "对方电话打不通了"),
        ),
    ),
    "other": (
        _Script(
            openings=(("app", "在网上看到裸聊，视频以后对方说录下了我的视频"),),
            hooks=("说不给钱就把视频发给我所有联系人", "让我下载了一个app，通讯录被他拿到了"),
            actions=("我很害怕，{pay}", "我{pay}"),
            escalations=("给了以后又要更多",),
            endings=("他还在不停地要钱", "后来把我拉黑了，不知道视频删没删"),
        ),
        _Script(
            openings=(
                ("website", "在一个网站上赌博，一开始赢了一些"),
                ("app", "朋友拉我玩一个叫{app}的棋牌app"),
            ),
            hooks=("后来全输了，想提现说账户异常要交钱", "想提现的时候说流水不够"),
            actions=(*_PAY_ACTIONS,),
            escalations=("交了又说要交税",),
            endings=("一分钱没提出来", "网站打不开了"),
        ),
        *(
            _Script(
                openings=(opening,),
                hooks=hooks,
                actions=_PAY_ACTIONS,
                escalations=("又说还差一笔费用", "后来又要我交别的钱"),
                endings=("之后对方就消失了", "一直没有下文", "人找不到了", "才知道被骗了"),
                weight=0.4,
            )
            for opening, hooks in (
                (
                    ("phone_call", "有人自称部队的，说要采购一批物资，找我们店订货"),
                    ("让我先从他指定的厂家进一批货，说结账时一起付", "说部队采购要先交一笔保证金"),
                ),
                (
                    ("phone_call", "一个基金会打电话说要给我家孩子资助助学金"),
                    ("说发钱之前要先交手续费", "说要先激活银行卡，让我往卡里存钱"),
                ),
                (
                    ("sms", "收到短信说我中了{prize}"),
                    ("说要先交手续费和个人所得税才能领", "说领奖前要交公证费"),
                ),
                (
                    ("in_person", "在路边有人说捡到一个金佛，要跟我平分"),
                    ("说这事不能声张，让我先给点钱作为押金", "说金佛值几十万，让我拿钱换"),
                ),
                (
                    ("email", "收到一封邮件说我继承了一笔海外遗产"),
                    ("说要先交律师费和公证费", "说转账要交一笔外汇手续费"),
                ),
                (
                    ("wechat", "微信上有人说可以帮忙办{cert}，包过"),
                    ("说要先交材料费", "说要交打点关系的钱"),
                ),
                (
                    ("other", "有人说可以帮我孩子安排进重点学校"),
                    ("说要交打点关系的钱", "说名额紧张要先交定金"),
                ),
                (
                    ("app", "有人说可以帮我追回之前被骗的钱"),
                    ("说要先交手续费才能启动追款", "说要交保证金证明我是本人"),
                ),
            )
        ),
    ),
}

_LOSS_CLAUSES: Final = (
    "一共损失{loss}", "前后共转了{loss}", "总共被骗了{loss}", "损失{loss}", "共计{loss}", "{loss}全没了",
    "加起来有{loss}",
)  # fmt: skip
_ZERO_LOSS_ENDINGS: Final = (
    "还好银行打电话提醒，钱没有转出去",
    "幸好反诈中心及时打电话劝阻，钱没转",
    "我觉得不对劲就没转钱，特此举报",
    "家人发现及时拦住了我",
    "转账的时候被手机银行拦截了",
    "还好没有给他转钱，希望警方处理",
)
_CLOSINGS: Final = ("", "", "", "。", "。", "！", "，希望能帮我追回", "，请帮帮我", "，求助", "，希望警察能抓到他们")

# Self-introductions victims use, by age band.
_INTROS: Final[Mapping[str, tuple[str, ...]]] = {
    "under_18": ("我今年{kid_age}岁，", "我是初中生，", "我是高一学生，"),
    "18_25": ("我是大{grade}学生，", "我刚毕业，", "我是在校大学生，"),
    "26_35": ("我在公司上班，", "我刚结婚，"),
    "36_45": ("我是个体户，", "我在公司做财务，"),
    "46_60": ("我在厂里上班，", "我快退休了，"),
    "over_60": ("我今年{elder_age}岁了，", "我是退休老人，", "我退休在家，"),
}

# --- Noise -------------------------------------------------------------------------------------
_FULL_WIDTH: Final = str.maketrans(string.digits, "０１２３４５６７８９")
_SLANG: Final = (
    ("微信", ("vx", "VX", "v信", "威信", "wx")), ("QQ", ("扣扣", "qq", "Q")), ("支付宝", ("zfb", "ZFB")),
    ("客服", ("kf", "客fu")), ("app", ("APP", "软件", "App")), ("元", ("块", "r", "RMB")),
    ("刷单", ("shua单", "SD")), ("虚拟币", ("USDT", "u")), ("兼职", ("jian职", "part time")),
)  # fmt: skip
_TYPOS: Final = (
    ("账", "帐"), ("登录", "登陆"), ("已经", "以经"), ("在", "再"), ("的", "得"), ("做", "作"), ("那", "哪"),
    ("截图", "节图"), ("冻结", "东结"), ("联系", "连系"),
)  # fmt: skip
_EMOJI: Final = ("😭", "😡", "🙏", "💔", "😢", "🆘", "😤", "😱", "🤬")
_FRAGMENTS: Final = ("急！", "help！", "求助！！", "各位注意，", "pls help ", "真的无语，")

# --- Identifiers ---------------------------------------------------------------------------------
# Debit-card BINs of large Chinese banks; numbers are completed with a valid Luhn check digit.
_CARD_BINS: Final[Mapping[str, str]] = {
    "622202": "工商银行", "621226": "工商银行", "621700": "建设银行", "622700": "建设银行", "622848": "农业银行",
    "621661": "中国银行", "622588": "招商银行", "621483": "招商银行", "622262": "交通银行", "621799": "邮储银行",
    "622908": "兴业银行", "623058": "平安银行",
}  # fmt: skip
_BIN_LIST: Final = tuple(_CARD_BINS)
_EMAIL_DOMAINS: Final = ("163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com", "hotmail.com")
_URL_WORDS: Final = ("jd", "tb", "pdd", "kf", "vip", "pay", "app", "hx", "zs", "yh", "lipei", "refund", "secure",
                     "huitong", "jinrong", "licai", "game", "jiaoyi", "kefu", "tk")  # fmt: skip
_URL_TLDS: Final = ("com", "cn", "top", "xyz", "vip", "cc", "net", "app", "shop", "com.cn")
_URL_PATHS: Final = ("", "/", "/download", "/h5/index.html", "/reg?code={n}", "/app/{n}.apk", "/#/login", "/kf")
_WECHAT_NAMES: Final = ("lily", "kefu", "vip", "xiao", "zhang", "wang", "li", "chen", "ming", "teacher", "jd",
                        "tb", "service", "anna", "yuki", "dream", "lucky", "laoshi")  # fmt: skip

_MENTION_PHONE: Final = ("对方电话{v}", "骗子的手机号是{v}", "打给我的号码是{v}", "他留的电话：{v}", "对方手机号{v}")
_MENTION_CARD: Final = ("钱转到了{v}这个账户", "对方收款卡号{v}", "对方给的账户：{v}（{bank}）", "收款账户{v}")
_MENTION_OWN_CARD: Final = ("我的卡号是{v}，请帮忙冻结", "被扣钱的是我的{bank}卡{v}")
_MENTION_EMAIL: Final = ("对方邮箱{v}", "他让我把资料发到{v}", "对方用的邮箱是{v}")
_MENTION_QQ: Final = ("对方QQ号：{v}", "骗子QQ {v}", "他的QQ:{v}")
_MENTION_WECHAT: Final = ("对方微信号：{v}", "骗子微信 {v}", "他的vx:{v}")


# --- Generation ----------------------------------------------------------------------------------
class _Slots(dict[str, str]):
    """Story slot values, drawn on first use so that a slot named twice reads the same both times."""

    def __init__(self, rng: random.Random, fixed: Mapping[str, str]) -> None:
        super().__init__(fixed)
        self._rng = rng

    def __missing__(self, key: str) -> str:
        value = self._rng.choice(_SLOTS[key]).format_map(self)
        self[key] = value
        return value


@dataclass(slots=True)
class _Contacts:
    phones: list[str] = field(default_factory=list)
    qq: list[str] = field(default_factory=list)
    wechat: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    bank_accounts: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Ring:
    """A scam operation that reaches many victims through the same numbers and accounts."""

    ring_id: str
    contacts: _Contacts


def _weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _mobile(rng: random.Random, prefixes: Sequence[str] = _MOBILE_PREFIXES) -> str:
    return rng.choice(prefixes) + f"{rng.randrange(100_000_000):08d}"


def _luhn_complete(partial: str) -> str:
    total = 0
    for position, char in enumerate(reversed(partial)):
        digit = int(char)
        if position % 2 == 0:  # these digits are doubled once the check digit is appended
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return partial + str((10 - total % 10) % 10)


def _bank_card(rng: random.Random) -> str:
    # 16 or 19 digits: never 18, which the redactor would read as an ID-card number.
    length = rng.choice((16, 19, 19))
    body = rng.choice(_BIN_LIST) + f"{rng.randrange(10 ** (length - 7)):0{length - 7}d}"
    return _luhn_complete(body)


def _qq_number(rng: random.Random) -> str:
    # Old accounts are short, new ones long; none has 11 digits yet (which would read as a phone).
    digits = rng.choice((5, 6, 7, 8, 9, 9, 10, 10, 10))
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


def _wechat_id(rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return "wxid_" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(rng.randint(8, 14)))
    name = rng.choice(_WECHAT_NAMES)
    if style == 1:
        return f"{name}{rng.choice(('_', '-', ''))}{rng.randrange(1000, 99999)}"  # WeChat IDs have 6-20 chars
    return f"{name}{rng.choice(_WECHAT_NAMES)}{rng.randrange(100, 9999)}"


def _url(rng: random.Random) -> str:
    words = rng.sample(_URL_WORDS, rng.choice((1, 2, 2)))
    host = rng.choice(("-", "")).join(words) + (str(rng.randrange(10, 999)) if rng.random() < 0.5 else "")
    sub = rng.choice(("", "", "www.", "m.", "app.", "h5."))
    path = rng.choice(_URL_PATHS).format(n=rng.randrange(1000, 99999))
    return f"{rng.choice(('https', 'https', 'http'))}://{sub}{host}.{rng.choice(_URL_TLDS)}{path}"


def _email(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return f"{_qq_number(rng)}@qq.com"
    letters = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 8)))
    return f"{letters}{rng.choice(('', '_', '.'))}{rng.randrange(1, 9999)}@{rng.choice(_EMAIL_DOMAINS)}"


def _new_ring(rng: random.Random, ring_id: str) -> _Ring:
    return _Ring(
        ring_id=ring_id,
        contacts=_Contacts(
            phones=[_mobile(rng, _SCAM_PREFIXES) for _ in range(rng.randint(1, 3))],
            qq=[_qq_number(rng) for _ in range(rng.randint(1, 2))],
            wechat=[_wechat_id(rng) for _ in range(rng.randint(1, 2))],
            urls=[_url(rng) for _ in range(rng.randint(1, 2))],
            bank_accounts=[_bank_card(rng) for _ in range(rng.randint(1, 4))],
        ),
    )


@dataclass(frozen=True, slots=True)
class _RingPool:
    rings: list[_Ring]
    cum_weights: list[float]

    def pick(self, rng: random.Random) -> _Ring:
        return rng.choices(self.rings, cum_weights=self.cum_weights)[0]


def _build_rings(rng: random.Random, count: int) -> dict[str, _RingPool]:
    # About five ring victims per ring on average, but drawn Zipf-like: a few rings are very busy.
    pools: dict[str, _RingPool] = {}
    for category, weight in CATEGORY_WEIGHTS.items():
        size = max(2, math.ceil(count * weight * RING_SHARE / 5))
        rings = [_new_ring(rng, f"{category}-{index:03d}") for index in range(size)]
        cum_weights = list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(size)))
        pools[category] = _RingPool(rings, cum_weights)
    return pools


def _scammer_contacts(rng: random.Random, method: str, payment: str, ring: _Ring | None) -> _Contacts:
    """The identifiers a victim can give, given how they were reached and how they paid."""

    def reuse(values: list[str]) -> str:
        # A ring works its main number and account hardest; the spares come and go.
        return values[0] if rng.random() < 0.6 else rng.choice(values)

    def phone() -> str:
        return reuse(ring.contacts.phones) if ring else _mobile(rng, _SCAM_PREFIXES)

    def qq() -> str:
        return reuse(ring.contacts.qq) if ring else _qq_number(rng)

    def wechat() -> str:
        return reuse(ring.contacts.wechat) if ring else _wechat_id(rng)

    def url() -> str:
        return reuse(ring.contacts.urls) if ring else _url(rng)

    def account() -> str:
        return reuse(ring.contacts.bank_accounts) if ring else _bank_card(rng)

    found = _Contacts()
    chance = rng.random
    if method in ("phone_call", "sms") or (method == "in_person" and chance() < 0.5) or chance() < 0.15:
        found.phones.append(phone())
    if (method == "sms" and chance() < 0.6) or (method in ("app", "website") and chance() < 0.7):
        found.urls.append(url())
    if method == "qq" or (method == "app" and chance() < 0.15):
        found.qq.append(qq())
    if method == "wechat" or (method in ("app", "phone_call") and chance() < 0.15):
        found.wechat.append(wechat())
    if payment in _BANK_PAYMENTS or chance() < 0.1:
        found.bank_accounts.append(account())
        if chance() < 0.2:
            found.bank_accounts.append(account())
    if method == "email" and chance() < 0.5:
        found.urls.append(url())
    for values in (found.phones, found.qq, found.wechat, found.urls, found.bank_accounts):
        values[:] = list(dict.fromkeys(values))  # a ring may hand the same account out twice
    return found


def _loss(rng: random.Random, category: str, age_band: str) -> Decimal:
    if rng.random() < ZERO_LOSS_SHARE:
        return Decimal("0.00")
    relative_mean, sigma = _LOSS_SHAPE[category]
    mean = _LOSS_SCALE * relative_mean * _AGE_LOSS_FACTOR[age_band]
    value = min(rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma), MAX_LOSS_CNY)
    # Victims report round sums more often than not: "转了5000", "损失了12800".
    roll = rng.random()
    if roll < 0.3 and value >= 1_000:
        value = round(value, -2)
    elif roll < 0.4 and value >= 10_000:
        value = round(value, -3)
    elif roll < 0.85:
        value = round(value)
    value = max(value, 1.0)
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _say_amount(rng: random.Random, amount: Decimal) -> str:
    """How a victim writes a sum: "12800元", "12,800", "1.28万", "3000块"."""
    whole = amount == amount.to_integral_value()
    number = f"{int(amount)}" if whole else f"{amount.normalize():f}"
    roll = rng.random()
    if whole and amount >= 10_000 and amount % 100 == 0 and roll < 0.35:
        return f"{(amount / 10_000).normalize():f}万"
    if whole and amount >= 1_000 and roll < 0.45:
        return f"{int(amount):,}元"
    return number + rng.choice(("元", "元", "元", "块", "块钱", ""))


def _first_payment(rng: random.Random, loss: Decimal) -> Decimal:
    if loss < 100:
        return loss
    share = Decimal(str(round(rng.uniform(0.05, 0.5), 2)))
    step = Decimal(100) if loss >= 2_000 else Decimal(10)
    return max(step, (loss * share / step).to_integral_value() * step)


def _delay(rng: random.Random, category: str) -> timedelta:
    median = _DELAY_MEDIAN_MIN.get(category, _DEFAULT_DELAY_MEDIAN_MIN)
    minutes = rng.lognormvariate(math.log(median), 1.2)
    return min(max(timedelta(minutes=minutes), _MIN_DELAY), _MAX_DELAY)


def _report_offsets(rng: random.Random, count: int, span: timedelta, start: datetime) -> list[timedelta]:
    if span <= timedelta(0):
        return [timedelta(0)] * count
    offsets: list[timedelta] = []
    seconds = span.total_seconds()
    while len(offsets) < count:
        offset = timedelta(seconds=round(rng.uniform(0, seconds)))
        # Thin the uniform spread by time of day (rejection sampling) so nights are quiet.
        if rng.random() < _HOURLY_INTENSITY[(start + offset).astimezone(CST).hour]:
            offsets.append(offset)
    return sorted(offsets)  # arrival order, as a stream would see them


def _noisy(rng: random.Random, text: str) -> str:
    """The informal register of real reports: slang, typos, full-width digits, emoji."""
    for operation in rng.sample(range(6), rng.choice((1, 1, 2))):
        if operation == 0:
            text = text.translate(_FULL_WIDTH)
        elif operation == 1:
            present = [(word, slang) for word, slang in _SLANG if word in text]
            if present:
                word, slang = rng.choice(present)
                text = text.replace(word, rng.choice(slang), 1)
            else:
                text = rng.choice(_FRAGMENTS) + text
        elif operation == 2:
            typos = [(right, wrong) for right, wrong in _TYPOS if right in text]
            if typos:
                right, wrong = rng.choice(typos)
                text = text.replace(right, wrong, 1)
        elif operation == 3:
            text += rng.choice(_EMOJI) * rng.randint(1, 3)
        elif operation == 4:
            text = rng.choice(_FRAGMENTS) + text
        else:
            text = text.replace("，", rng.choice((" ", ",", "，，", "。")))
    return text


def _mention(rng: random.Random, found: _Contacts) -> str:
    """A sentence quoting an identifier, in one of the layouts people type numbers in."""
    roll = rng.random()
    if roll < 0.45:
        number = found.phones[0] if found.phones else _mobile(rng, _SCAM_PREFIXES)
        if number not in found.phones:
            found.phones.append(number)
        layout = rng.random()
        if layout < 0.2:
            number = f"{number[:3]} {number[3:7]} {number[7:]}"
        elif layout < 0.3:
            number = f"{number[:3]}-{number[3:7]}-{number[7:]}"
        elif layout < 0.4:
            number = "+86 " + number
        return rng.choice(_MENTION_PHONE).format(v=number)
    if roll < 0.80:
        own = roll >= 0.70  # the victim's own card, which they ask to have frozen
        card = _bank_card(rng) if own or not found.bank_accounts else found.bank_accounts[0]
        if not own and card not in found.bank_accounts:
            found.bank_accounts.append(card)
        templates = _MENTION_OWN_CARD if own else _MENTION_CARD
        spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4)) if rng.random() < 0.3 else card
        return rng.choice(templates).format(v=spaced, bank=_CARD_BINS[card[:6]])
    return rng.choice(_MENTION_EMAIL).format(v=_email(rng))


def _chat_id_mention(rng: random.Random, found: _Contacts) -> str:
    if found.wechat and (not found.qq or rng.random() < 0.5):
        return rng.choice(_MENTION_WECHAT).format(v=found.wechat[0])
    if not found.qq:
        found.qq.append(_qq_number(rng))
    return rng.choice(_MENTION_QQ).format(v=found.qq[0])


def _compose(
    rng: random.Random,
    category: str,
    script: _Script,
    opening: str,
    slots: _Slots,
    loss: Decimal,
    age_band: str,
    payment: str,
) -> str:
    """The victim's account of what happened, as a list of clauses trimmed to fit the API's limits."""
    terse = rng.random() < 0.15  # some people write one line: "做任务返佣金，先垫钱后来不返了，损失2300"
    clauses: list[str] = []
    if not terse and rng.random() < 0.2:
        clauses.append(rng.choice(_INTROS[age_band]).format_map(slots).rstrip("，"))
    if not terse or rng.random() < 0.5:
        clauses.append(opening.format_map(slots))
    clauses.append(rng.choice(script.hooks).format_map(slots))
    if loss == 0:
        clauses.append(rng.choice(_ZERO_LOSS_ENDINGS))
    else:
        escalate = not terse and rng.random() < 0.65
        paid = _first_payment(rng, loss) if escalate else loss
        phrases = _PAY_PHRASE_OVERRIDES.get((category, payment), _PAY_PHRASES[payment])
        slots["pay"] = rng.choice(phrases).format(amount=_say_amount(rng, paid))
        if not terse:
            clauses.append(rng.choice(script.actions).format_map(slots))
        if escalate:
            clauses.append(rng.choice(script.escalations).format_map(slots))
            if loss > paid and rng.random() < 0.3:
                rest = _say_amount(rng, loss - paid)
                clauses.append(rng.choice(("我又", "为了拿回之前的钱又", "没办法又")) + "转了" + rest)
        clauses.append(rng.choice(script.endings).format_map(slots))
        if terse or escalate or rng.random() < 0.4:
            clauses.append(rng.choice(_LOSS_CLAUSES).format(loss=_say_amount(rng, loss)))
    # Drop middle clauses (never the first or the last) until the story leaves room for a mention.
    while len("，".join(clauses)) > MAX_DESCRIPTION - 120 and len(clauses) > 2:
        del clauses[len(clauses) // 2]
    return "，".join(clauses)


def _citizen_category(rng: random.Random, truth: str) -> str | None:
    if rng.random() >= CITIZEN_CATEGORY_SHARE:
        return None
    if rng.random() < CITIZEN_CATEGORY_AGREEMENT:
        return truth
    if rng.random() < 0.7:
        return rng.choice(_CONFUSABLE[truth])
    return rng.choice([code for code in CATEGORY_WEIGHTS if code != truth])


def _iso(moment: datetime) -> str:
    return moment.astimezone(CST).isoformat(timespec="seconds")


def generate_reports(
    count: int,
    *,
    seed: int = 0,
    start: datetime | None = None,
    span: timedelta = timedelta(0),
    leak_phones: Sequence[str] = (),
    leak_share: float = 0.0,
) -> list[SimulatedReport]:
    """`count` synthetic reports, each a request body with its true category.

    Reports are "reported" between `start` and `start + span`, in arrival order (nights are quieter
    than days); with `start=None` the window ends at the current time instead, so that a live demo
    never sends reports from the future. The fraud itself happened minutes to weeks before each
    report. Exactly `round(count * leak_share)` victims, chosen at random, have a phone taken from
    `leak_phones` (a leaked list the platform can match against); about 70% of the others give a
    phone of their own. The same `seed` and `start` always give the same reports.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    if not 0.0 <= leak_share <= 1.0:
        raise ValueError("leak_share must be between 0 and 1")
    if leak_share > 0 and not leak_phones:
        raise ValueError("leak_share needs leak_phones to draw from")
    if span < timedelta(0):
        raise ValueError("span must not be negative")
    if start is None:
        start = datetime.now(CST) - span
    elif start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")

    rng = random.Random(seed)  # noqa: S311 -- reproducible test data, not secrets
    categories = list(CATEGORY_WEIGHTS)
    category_weights = list(CATEGORY_WEIGHTS.values())
    region_codes = [code for code, _, _ in REGIONS]
    region_cum_weights = list(itertools.accumulate(weight for _, _, weight in REGIONS))
    rings = _build_rings(rng, count)
    leaked = frozenset(rng.sample(range(count), round(count * leak_share)))
    offsets = _report_offsets(rng, count, span, start)

    reports: list[SimulatedReport] = []
    for index in range(count):
        truth = rng.choices(categories, weights=category_weights)[0]
        age_band = rng.choices(AGE_BANDS, weights=_AGE_BY_CATEGORY[truth])[0]
        if rng.random() < _UNKNOWN_GENDER_SHARE:
            gender = "unknown"
        else:
            gender = "female" if rng.random() < _FEMALE_SHARE.get(truth, 0.5) else "male"
        scripts = [s for s in _SCRIPTS[truth] if age_band == "over_60" or not s.elderly_only]
        script = rng.choices(scripts, weights=[s.weight for s in scripts])[0]
        method, opening = rng.choice(script.openings)
        if script.elderly_only and method != "phone_call" and rng.random() < 0.5:
            method, opening = script.openings[0]  # most of these sales happen over the phone
        if script.elderly_only:
            payment = _weighted(rng, _ELDERLY_SHOPPING_PAYMENT)
        else:
            payment = _weighted(rng, _PAYMENT_WEIGHTS.get(truth, _PAYMENT_WEIGHTS["default"]))
        ring = rings[truth].pick(rng) if rng.random() < RING_SHARE else None
        found = _scammer_contacts(rng, method, payment, ring)
        loss = _loss(rng, truth, age_band)

        slots = _Slots(rng, {})
        story = _compose(rng, truth, script, opening, slots, loss, age_band, payment)
        # Noise first, identifiers after: a full-width or slang-mangled number would not be "real".
        if rng.random() < NOISE_SHARE:
            story = _noisy(rng, story)
        mentions: list[str] = []
        if rng.random() < MENTION_SHARE:
            mentions.append(_mention(rng, found))
        if rng.random() < CHAT_ID_MENTION_SHARE:
            mentions.append(_chat_id_mention(rng, found))
        description = "，".join([story, *mentions]) + rng.choice(_CLOSINGS)
        description = description[:MAX_DESCRIPTION]
        if len(description) < MIN_DESCRIPTION:
            description += "，" + rng.choice(script.endings).format_map(slots)

        reported_at = start + offsets[index]
        occurred_at = reported_at - _delay(rng, truth)
        victim: dict[str, Any] = {}
        if index in leaked:
            victim["phone"] = rng.choice(leak_phones)
        elif rng.random() < VICTIM_PHONE_SHARE:
            victim["phone"] = _mobile(rng)
        victim["age_band"] = age_band
        victim["gender"] = gender
        channel_weights = _ELDERLY_CHANNEL_WEIGHTS if age_band == "over_60" else _CHANNEL_WEIGHTS

        body: dict[str, Any] = {
            "description": description,
            "region_code": rng.choices(region_codes, cum_weights=region_cum_weights)[0],
            "amount_lost": f"{loss:.2f}",
            "channel": rng.choices(CHANNELS, weights=channel_weights)[0],
        }
        citizen_category = _citizen_category(rng, truth)
        if citizen_category is not None:
            body["category"] = citizen_category
        body["contact_method"] = method
        body["occurred_at"] = _iso(occurred_at)
        body["reported_at"] = _iso(reported_at)
        body["victim"] = victim
        body["scammer"] = {
            "phones": found.phones,
            "qq": found.qq,
            "wechat": found.wechat,
            "urls": found.urls,
            "bank_accounts": found.bank_accounts,
            "payment_channel": payment,
        }
        reports.append(SimulatedReport(body=body, true_category=truth, scammer_ring=ring.ring_id if ring else None))
    return reports
