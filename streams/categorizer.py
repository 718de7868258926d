"""Explainable, deterministic, offline classifier for Chinese fraud report descriptions.

Pure and typed (no faust import, no I/O when classifying): the stream worker calls `classify_many` for the
reports of each message (one scan, scores as arrays; the same result as one `classify` per report), analysts
and the `fraudwatch classify` command call `classify` to see why a report landed where it did. The taxonomy
(codes, names, headline classes) lives in the versioned data file `taxonomy.json` next to this module;
`CATEGORIES` below must list the same codes in the same order (a unit test checks it).

How a description is classified
-------------------------------
1. Normalise: NFKC (full-width letters and digits become ASCII), lower case, and drop whitespace, quotes
   and brackets, so that "ＶＸ", "'安全'账户" and "刷 单" read as "vx", "安全账户", "刷单".
2. Scan once, left to right, for the ~2,000 weighted lexicon terms (leftmost-longest match, one pass of an
   Aho-Corasick automaton in native code, so the cost grows with the text length, not with the lexicon). Each
   distinct term adds its weight to one or more categories; repeating a term adds nothing. Longer terms
   shadow the shorter ones inside them, which is how negations and look-alike phrases are handled:
   "不看征信" is a loan-advert cue and hides "征信"; "游戏主机" is a product and hides "游戏"; "基金会" is a
   charity and hides "基金"; "消费返利" is an investment scheme and hides "返利". Neutral phrases weigh
   nothing and only shadow: "希望警察能抓到他们" is how victims sign off, not a police impersonation.
3. Apply the precedence rules (below): when a report shows the pretext of a dominant category strongly
   enough, the cues of the categories it typically drags along are read as part of that script and their
   score moves to the dominant category.
4. The citizen's own category adds a small weight, and only to a category the text already supports: it
   can tip a close call, never create a result on its own.
5. The best category wins if its score reaches `MIN_SCORE`; otherwise the answer is `other`. Ties go to the
   earlier category in `_TIE_ORDER`. Confidence is s1 / (s1 + s2 + `CONFIDENCE_PRIOR`) with s1, s2 the two
   best scores: low when the evidence is thin or two categories compete, never 1.

Precedence decisions (where scams combine)
------------------------------------------
- romance over investment, gambling, shopping and part-time tasks: a contact met through dating/romance who
  introduces an investment or betting platform is a romance scam (杀猪盘), as most anti-fraud centres count
  it; the romance is the hook, the platform is the instrument.
- impersonate_officials over fake customer service, credit record, loan and "other" cues: the classic
  script starts with a courier, a medical-insurance card or a credit problem and is handed over to "police";
  the prosecution threat and the "safe account" are what make the victim pay.
- credit_repair over fake customer service and loan: "cancel the student loan account or your credit record
  suffers" is credit_repair whoever the caller pretends to be (platform support, regulator), even when the
  victim is told to borrow money on loan apps. A victim who was *seeking* a loan and was charged fees
  ("征信不好，先交保证金") stays loan.
- fake_customer_service over loan: a fake support agent who has the victim borrow on 借呗/备用金/loan apps
  "to verify" a refund is a customer-service scam; the loan is the means of payment, not the pretext.
- ticket_refund over fake customer service: a fake airline/booking "customer service" is ticket_refund.
- game_trading over fake customer service, fake shopping and part-time cues: a fake "trading platform
  customer service" asking for an unfreezing fee after a game-account sale is game trading.
- part_time_job over investment and shopping cues: task platforms show a "balance" you cannot withdraw and
  have you buy goods; the job offer is the pretext.
Everything else is decided by the weights alone.

`channel` and `amount_fen` are accepted so callers can pass what they have; they are not used yet: amounts
overlap across types, and no channel pointed to a type the text did not already show.

How it was measured
-------------------
`data/categorizer/heldout.jsonl` was written first and not used for tuning; the weights were tuned on
`data/categorizer/dev.jsonl` only, in rounds: each new batch of dev reports (other writing styles, police
record and hotline notes, slang, pinyin, typos, one-liners, long narratives) was scored once *before*
tuning, as an estimate of how the rules do on phrasing they have not seen, then added to dev. Run
`fraudwatch classify --evaluate data/categorizer/heldout.jsonl` for the current numbers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Final

import ahocorasick_rs
import msgspec
import numpy as np

CATEGORIES: Final = (
    "part_time_job", "fake_shopping", "investment", "game_trading", "fake_customer_service", "loan",
    "credit_repair", "impersonate_officials", "impersonate_acquaintance", "romance", "ticket_refund", "other",
)  # fmt: skip

OTHER: Final = "other"
OTHER_TYPES: Final = "other_types"
TAXONOMY_PATH: Final = Path(__file__).with_name("taxonomy.json")

MIN_SCORE: Final = 2.0
"""The least evidence needed to name a category rather than answer `other`."""
CONFIDENCE_PRIOR: Final = 3.0
"""Pseudo-score in the confidence denominator: keeps one weak cue from looking certain."""
CITIZEN_WEIGHT: Final = 1.0
MAX_EVIDENCE: Final = 8


class Classification(msgspec.Struct, frozen=True, gc=False):
    """A category code, how sure the classifier is (0..1), and the phrases and rules that decided it.

    A frozen msgspec struct rather than a frozen dataclass: the worker makes one per report, and a frozen
    dataclass's __init__ cost a tenth of classifying.
    """

    code: str
    confidence: float
    evidence: tuple[str, ...]


# --- lexicon -----------------------------------------------------------------------------------------------
# Per category: (weight, space-separated terms). Terms are normalised like the text (NFKC, lower case, no
# whitespace), so write them in any width or case; "{a|b|}" expands to alternatives (see _expand). A term
# listed under several categories adds to each. Terms cover pinyin ("shuadan"), English ("commission"),
# abbreviations ("pdd", "jz", "kf") and common typos or evasions ("兼值", "刷単", "代款", "证信").
# Weights: 4 = names the scam on its own; 3 = strong cue; 2 = typical; 1 = supporting; 0.5 = faint.
_LEXICON: Final[Mapping[str, tuple[tuple[float, str], ...]]] = {
    "part_time_job": (
        (
            4.0,
            "刷单 刷単 shuadan 刷信誉 刷销量 刷好评 兼职 兼値 兼值 兼職 jianzhi 打字员 点赞员 好评返现 "
            "手工活 外发加工 暑假工 寒假工 连单 卡单 补单 拍单 做单 冲单 高佣 parttime 评论员 刷弹幕 "
            "接大单 冲量 悬赏任务 虚拟交易 月入过万 足不出户 日赚 日入 赚外快 副业 幸运单 先付后返 虚拟订单 日薪 "
            "清库存 加购物车 阅读赚钱 看文章 看视频领 领红包 日进斗金 "
            "推广专员 包装工 计件 工牌 试玩赚钱 玩游戏赚钱 玩游戏就能赚钱 网赚 代拍 打榜 刷数据 票仓 拉新 "
            "地推 日返 每天返 注册就给 下载注册 jz 养号 "
            "{听歌|看视频|看广告|走路|刷视频|看小说|玩游戏|阅读|打字|聊天|答题|签到}{赚钱|赚|挣钱|领钱|就有钱}",
        ),
        (
            3.0,
            "做任务 接任务 领任务 派单 抢单 垫付 垫资 垫钱 返佣 佣金 拥金 刷人气 日结 点赞 写好评 "
            "关注店铺 关注博主 关注公众号 福利任务 预付任务 组合任务 任务单 连续做 商家做数据 做数据 "
            "提升销量 提高排名 在家赚钱 居家赚钱 轻松赚钱 动动手指 赚零花钱 打码 给电影打分 打分 "
            "commission review 本金加佣金 本金和佣金 返本金 任务失败 操作超时 珠绣 手工 网络推广 "
            "推广员 主播助理 宝妈 招募 好处费 小心心 找工作 应聘 入职 打工 测评 试玩 录入 抄写 配音 "
            "单子 招客服 网络评论 挂机 小时工 福利群 抢红包 确认收货后退 加购 线上运营 每天赚 数据标注 "
            "工号 {一|每}单{|赚|给|返|挣|佣} 升级费 砍价 领金币 高薪 月薪 猎头 中介费 签证费 海外工作 代言 "
            "vip通道 就给钱 有收入 有钱拿 接了个 接了个活 的活儿",
        ),
        (
            2.0,
            "提成 返利 零花钱 招聘 招人 招网 会费 入会费 注册费 服装费 体检费 培训费 材料费 信誉分 "
            "接单 接活 赚钱 挣钱 补足差额 导师群 任务 生活费 居家 高额任务 派单员 员工 结算 "
            "奖金 红包 熟悉业务 开通权限 岗位 工资 运营 商城 购物车 赚几百 收入 投票 能赚 可以赚 赚更多 "
            "赚点 高级账号 连本带利 开工 积累到一定金额 录取",
        ),
        (1.0, "返还 返钱 返了 充值 操作失误 冻结 解冻 截图 在家 工作 返现 每关注 关注几个 专员"),
    ),
    "fake_shopping": (
        (
            4.0,
            "不发货 没发货 未发货 一直没收到货 没收到货 假酒 压片糖果 三无产品 收藏酒 纪念酒 茅台 "
            "保健品 货不对板 高仿 镀金 邮购 根治 厂家直销 工厂直销 免费旅游 和田玉 纪念币 纪念钞 "
            "收藏品 保健酒 保健食品 电视购物 收藏币 纪念章 假烟 奢侈品 罚没 开光 负离子 "
            "降血{压|脂|糖} 治失眠 检疫费 运输保险",
        ),
        (
            3.0,
            "假货 假药 特效药 秘方 膏药 能治 降三高 降血压 治癌症 健康讲座 养生 推销 酒业 酒厂 白酒 "
            "代购 微商 清仓 二手车 名牌包 大闸蟹 礼盒 礼券 年货 磁疗 净水器 灵芝 孢子粉 a货 玉石 手镯 "
            "翡翠 玉器 游戏主机 游戏机 ps5 球鞋 货到付款 演唱会门票 门票 宠物 一条狗 一只猫 疫苗钱 "
            "航空箱 笼子 模型机 私下交易 直接转账 闲鱼 xianyu 转转 快递单号是假的 不退 不给退 商家不理 "
            "不理人 收到是 收到的是 减肥药 团购 预售 抢购 订金 首饰 项链 金店 黄金首饰 红木 家具 "
            "中药 胶囊 服用 普通食品 租房 房东 房租 钥匙 网课 学费不退 开锁 搬家 加钱 网课 培训班 报了一个 茶叶 榴莲 "
            "海鲜 水果 邮票 字画 古董 鉴宝 拍卖 理疗仪 按摩椅 助听器 药品 偏方 购物团 旅游团 劳力士 "
            "名表 手表 报关费 五常 大米 陈米 佛像 法器 耳机 原装 猫咪 狗狗 幼犬 布偶猫 柯基 包邮 "
            "装修公司 预付款 降糖 降脂 降压 内部价 半价 一半的价 空盒子 全新正品",
        ),
        (
            2.0,
            "低价 特价 便宜一半 市场价一半 比商场便宜 便宜 二手 卖家 定金 全款 运费 发货 收到货 "
            "直播间 主播 商品 口罩 电动车 摩托车 空调 笔记本电脑 ipad iphone 苹果手机 化妆品 奶粉 老人 "
            "老爸 父亲 奶奶 爷爷 老爷子 老太太 我妈 我爸 妈妈 一疗程 疗程 花了 买了 购买 下单 网上买 "
            "退货 货源 限量 鉴定 保健 买的 出售 转让 讲座 检测 机构 订了 订购 货物 产品 厂家 直销",
        ),
        (1.0, "付款 付了 关税 押金 收到 快递 商家 网站 老客户"),
    ),
    "investment": (
        (
            4.0,
            "炒股 荐股 牛股 涨停 打新 原始股 私募 理财 数字货币 虚拟币 炒币 币圈 外汇 期货 爆仓 加仓 "
            "入金 出金 出不了金 年化 带单 内幕 内部消息 内部票 机构票 机构账户 机构席位 挖矿 矿机 "
            "区块链 数字藏品 量化 非农 返息 分红 养老项目 养老理财 保本 做空 做多 操盘 licai chaogu "
            "股票老师 stock crypto forex btc 比特币 以太坊 虚拟货币 期权 持仓 跌停 上所 币价 钱包授权 "
            "矿池 产权交易所 文化艺术品 国债 光伏 收益率 理财课 加密货币 代币 投顾 投资顾问 主力资金 "
            "资管 兑付 供应链金融 券商 智能交易 拉人头 原始股权 股权投资 喊单 牛散 大宗交易 月息 新三板 "
            "秒合约 okex okx binance arbitrage 暴雷 爆雷 消费返利 财经直播 资金盘 庞氏",
        ),
        (
            3.0,
            "{0|1|2|3|4|5|6|7|8|9}{|个}u 股票 股市 新股 港股 美股 a股 大盘 证券 基金 投资 touzi usdt 合约 交易所 "
            "套利 搬砖 黄金 "
            "原油 收益 回报 稳赚不赔 翻倍 分析师 讲课 行情 认购 上市 财经 验资 风险保证金 跑路 人去楼空 "
            "国家扶持 交易机器人 共享经济 交流群 invest 亏光 亏了 利息 收益截图 晒收益 vip群 "
            "教授 大v 策略 私募基金 挂牌 升值 份额 境外平台 币安 欧易 火币 授权 发电 加密 开户 "
            "讲师 央企 乡村振兴 一文不值 差价 私人银行 高息 转板 传销",
        ),
        (
            2.0,
            "机构 项目 稳赚 高回报 投进去 投入 助理 导师 盈利 提现不了 提现失败 无法提现 提不出 取不出 "
            "出不来 不让提现 系统维护 亏损 存款 利息比银行高 钱包 回本 上市前 股权 涉嫌洗钱被冻结",
        ),
        (
            1.0,
            "投了 老师 赚了 个人所得税 手续费 平台 冻结 保证金 解冻金 后台 余额 显示 无法登录 登录不上 "
            "打不开 充值 提现 账户 推荐 俱乐部",
        ),
    ),
    "game_trading": (
        (
            4.0,
            "王者荣耀 原神 和平精英 吃鸡 英雄联盟 梦幻西游 穿越火线 蛋仔 迷你世界 逆水寒 dnf steam "
            "卖号 买号 收号 代练 代充 点券 皮肤 游戏账号 游戏交易 交易猫 5173 游戏币 游戏装备 648 "
            "第五人格 光遇 csgo cs2 永劫无间 我的世界 崩坏 星穹铁道 传奇 魔兽 dota 绝地求生 pubg "
            "使命召唤 金铲铲 火影忍者 qq飞车 阴阳师 明日方舟 剑网3 天涯明月刀 问道 大话西游 地下城 "
            "炉石 部落冲突 香肠派对 元梦之星 暗区突围 鸣潮 绝区零 螃蟹 pxb7 盼之 外挂 封号 手游 网游 陪玩 寄售 "
            "天刀 火影 世界频道 时装 点卡 创世结晶 改战力 交易行 游戏号 原石 把号",
        ),
        (
            3.0,
            "游戏 youxi 装备 道具 坐骑 饰品 段位 上分 金币 lol 黑金 王者 申诉 游戏里 库存 托管 "
            "开挂 辅助 限定 抽卡 角色 游戏群 第三方担保 担保交易 号被找回 元宝 礼包 宝石 刷图 帮派 "
            "合服 绝版 翅膀 解封费 卖金 收金",
        ),
        (2.0, "钻石 账号 号被 改密 交易平台 交易链接 上架 担保 实名 找回 易号"),
    ),
    "fake_customer_service": (
        (
            4.0,
            "百万保障 自动扣费 误开通 误开了 快递丢 快递丢失 丢件 仓库着火 荧光剂 甲醛超标 地址不详 "
            "无法投递 买家付不了款 付不了款 保证金认证 没有认证 质量问题 被召回 召回 标记为商家 "
            "商家账户 误标记 代理商权限 kefu tuikuan 理赔 赔付 退款专员 安全隐患 重金属 浸泡 损毁 "
            "直播带货 外卖骑手 抖音小店 淘宝店铺 小店 冲正 误升级 骑手保险",
        ),
        (
            3.0,
            "客服 退款 赔偿 双倍 三倍 质量 包裹丢 破损 订单号 缺货 扣费 扣款 续费 年费 售后 "
            "屏幕共享 共享屏幕 屏幕分享 开启屏幕 会议软件 云视讯 瞩目 钉钉 微信备用金 网购 淘宝 某宝 "
            "某东 某团 某音 唯品会 美团 拼多多 拼夕夕 pdd 京东 阿里巴巴 快递 邮政 ems 邮件 菜鸟 顺丰 "
            "中通 圆通 韵达 申通 厂家 幸运客户 运费险 取消 关闭 官方 表单 得物 中国移动 中国联通 "
            "中国电信 运营商 话费 套餐 代扣 全时云 批次 多收 远程协助 驿站 信用担保 发霉 过敏 订单异常 问题产品 "
            "退款流程 赔给我 "
            "要赔 赔我 重新支付 下架",
        ),
        (2.0, "共享 kf 会员 商家 退还 扫码 二维码 借呗 花呗 抖音 快手 包裹 按他说的 备用金 海关 查扣"),
        (1.0, "链接 验证码 下载 操作"),
    ),
    "loan": (
        (
            4.0,
            "贷款 代款 网贷 daikuan 放款 无抵押 低息 秒批 下款 解冻金 刷流水 还款能力 信贷员 贷款中介 "
            "包装费 担保费 首期利息 首月利息 不看征信 额度待领取 大额信用卡 办卡费 借款 借钱周转 "
            "急用钱 急需用钱 缺钱 没借到 贷不了 可以领取 待领取 loan 企业贷 车贷 房贷 信用贷 先息后本 "
            "诚意金 评估费 风险控制金 风控金 验资费 当天到账 批了 暴力催收 催收 学生分期 刷信用分 刷信用 黑白户 "
            "提额费 放贷 能贷 可贷 秒贷 速贷 快贷 易贷 网上贷 借款平台 "
            "解冻保证金 审批费 秒借 分期商城 代办信用卡",
        ),
        (
            3.0,
            "提额 认证费 保险金 资质 小额 信息费 审批 流水 额度 无息 验证金 工本费 保险费 卡号填错 填错 审核通过 "
            "征信不好 征信分数 黑户 "
            "借款app 急用 借钱 网上借 激活 信用卡 办卡 贴息 服务费 资料费 分期 利率 到账 资金链 "
            "印花税 通讯录 手持照 通过率",
        ),
        (2.0, "解冻 冻结 利息 申请 保证金 手续费 会员费 公证费 押金 周转 钱包"),
        (1.0, "备用金"),
    ),
    "credit_repair": (
        (
            5.0,
            "征信修复 信用修复 修复征信 修复信用 恢复信用 征信优化 洗白 停息挂账 消除逾期 删除逾期 征信顾问 执行记录",
        ),
        (
            4.0,
            "校园贷 学生贷 学生账户 学生身份 学生时期 学生会员 "
            "逾期记录 不良记录 不良征信 洗白 信用报告 征信报告 征信中心 zhengxin 征信黑名单 修改征信 "
            "证信 影响征信 影响个人征信 征信优化 失信 不允许学生 清算账户 违规账户 学生版 学生专属 大学生借贷 "
            "信用记录 停息挂账 "
            "担保记录 人行 征信查询 国家不允许 信用评级 查询次数 风控账户 高风险客户 额度清空 清空额度 "
            # "学生花呗", "学生版白条": student-credit products, the hook of the credit-record scam.
            "学生{|专属|版}{花呗|借呗|白条|金条|分期|贷|会员|账户|身份}",
        ),
        (
            3.0,
            "征信 注销 清零 清退 逾期 消除 黑名单 个人信用 信用分 芝麻信用 银保监 银监 "
            "人民银行 在校期间 上学时 大学时 大学的时候 未成年 修复 白户 上征信 分付 买车买房 "
            "买房 瑕疵 整治 学生证 减免 风控部门 坐高铁",
        ),
        (2.0, "微粒贷 金条 白条 借呗 花呗 协商 国家政策 影响 不能坐飞机 借贷 关掉 撤销 优化"),
        (1.0, "信用"),
    ),
    "impersonate_officials": (
        (
            4.0,
            "公检法 公安机关 gongjianfa 通缉令 逮捕令 冻结令 管制令 公安局 检察院 检察官 最高检 "
            "法院 传票 刑侦 刑警 经侦 网警 警官 民警 警察 警方 警服 警官证 派出所 缉私 缉毒 证明清白 "
            "自证清白 资金清查 资金核实 资金认证 清查账户 监管账户 国家账户 police 国家安全局 国安 "
            "交警 反诈中心 帮助信息网络犯罪 诈骗团伙 远程审查 拐卖 洗黑钱 自证 网安 纪委 出入境 偷渡 "
            "冒领",
        ),
        (
            3.0,
            "公安 洗钱 xiqian 涉案 犯罪 配合调查 安全账户 审讯 违禁品 违禁物品 违禁 违禁药品 移交 走私 贩毒 拘留 抓人 "
            "非法集资 不能告诉 不能告诉任何人 案情 泄露案情 "
            "资产审查 清查 保密 不要告诉 不能跟任何人说 案件 立案 冒用 制服 扣押 财产 倒卖 "
            "不良信息 偷税 监管 市场监管局 汇报行踪 资金流水",
        ),
        (2.0, "涉嫌 调查 卫健委 医保局 社保局 税务局 违法 罚款 询问 宾馆 酒店 开房 身份证 审查 核查 资产 名单 家里人"),
        (
            1.0,
            # "提现时说我账户涉嫌洗钱被冻结": what fake platforms tell investors; shadows 涉嫌 and 洗钱.
            "涉嫌洗钱被冻结 冻结",
        ),
    ),
    "impersonate_acquaintance": (
        (
            4.0,
            "猜猜{我|他|她}是谁 猜猜我是哪个 以为是{我|}{儿子|女儿|孩子|朋友|同学|同事|老同学|领导|亲戚|侄子|外甥} "
            "领导 换了新号 换号 新号码 不方便接电话 随份子 班主任 辅导员 以前的老师 "
            "大学老师 小学同学 老同学 室友 同学 表哥 表姐 表弟 表妹 堂哥 堂姐 侄子 外甥 舅舅 老家亲戚 "
            "亲戚 号被盗 微信被盗 被盗了 张总 王总 李总 刘总 陈总 局长 书记 处长 科长 校长 院长 主任 "
            "董事长 总经理 副总 老领导 发小 头像是我 用同学的手机 手机丢了 均为冒充 战友 孙子 孙女 "
            "外孙 换了个号 换了号 换号码 换了手机号 副校长 "
            # "王总让我先转款": how bosses are addressed, and how impostors introduce themselves.
            "{张|王|李|刘|陈|杨|黄|赵|吴|周|徐|孙|马|朱|胡|郭|何|高|林|罗|郑|梁|谢|宋|唐|许|韩|冯|邓|曹|彭|曾|肖|田|董|"
            "袁|潘|于|蒋|蔡|余|杜|叶|程|苏|魏|吕|丁|任|沈|姚|卢|姜|崔|钟|谭|陆|汪|范|金|石|廖|贾|夏|韦|方|白|邹|孟|熊|秦|邱|"
            "江|尹|薛|段|雷|侯|龙|史|陶|黎|贺|顾|毛|郝|龚|邵|万|钱|严|覃|武|戴|莫|孔|向|汤}总 "
            # "说是我老公单位的同事", "我儿子的老师": someone claiming a tie to the victim's family.
            "{老公|老婆|丈夫|妻子|儿子|女儿|孩子|爸爸|妈妈|父亲|母亲}"
            "{的|单位的|单位|公司的|公司}{同事|领导|老师|朋友|同学|老板} "
            # "让我先帮他垫付": the impostor has the victim pay someone on their behalf.
            "冒充我的 {帮他|帮她|帮忙}{垫付|付款|付钱|转账|转款|买} "
            # "我儿子的微信给我发消息": a relative's or boss's account writing to the victim.
            "{儿子|女儿|孩子|老公|老婆|爸爸|妈妈|朋友|同学|同事|领导|老板|表哥|表姐}的{微信|qq|号|账号} "
            # "哭着喊爷爷": a caller playing a grandchild, nephew or niece.
            "{喊|叫}{|我}{爷爷|奶奶|外公|外婆|姥姥|姥爷|舅舅|姑姑|阿姨|叔叔}  员工群 教师群 不让告诉父母 别告诉爸妈 "
            "别告诉父母 不要告诉爸妈 单位的同事 闯祸 用别人的手机 手机没电 没这回事 没有这回事",
        ),
        (
            3.0,
            "老板 高管 财务 会计 出纳 同事 头像 照片 报销 送礼 购物卡 卡密 村长 姑姑 叔叔 阿姨 侄女 "
            "外甥女 远房 家长群 同名 开会 出车祸 车祸 医药费 住院 学费 借钱 财务总监 供应商 主管 经理 "
            "合同款 物业 业主群 考证费 女儿 儿子 客户 货款 老二 老大 老三 婆婆 公公 岳父 岳母 hr 教练",
        ),
        (2.0, "朋友 冒充我 装成我 假冒 老客户 急事 出事 打款 转款 被抓 办事 老师 打架 赔钱 房租 收费"),
    ),
    "romance": (
        (
            4.0,
            "网恋 婚恋 wanglian 交友软件 交友平台 相亲 男朋友 女朋友 男友 女友 男女朋友 处对象 谈恋爱 "
            "恋爱 娶我 嫁给 爱我 喜欢我 叫我宝贝 叫我老公 叫我老婆 探探 陌陌 soul 世纪佳缘 珍爱网 "
            "百合网 伊对 杀猪盘 女网友 男网友 girlfriend boyfriend dating 维和 见面保证金 约见面 "
            "一起攒钱 以后的家 组建家庭 在一起 兵哥哥 早安晚安 附近的人 丧偶 离异 彩礼 约会 "
            "tinder gf bf 以后结婚 结婚的钱 我们的将来 我们的未来 加错了人 加错人 照片都是网上 照片是网上 "
            " 一辈子 男神 女神 高富帅 白富美 "
            # "叫我小宝贝", "喊我亲爱的": terms of endearment from an online contact.
            "{叫|喊|称}我{|小|大}{老公|老婆|宝贝|亲爱的|媳妇}",
        ),
        (
            3.0,
            "交友 结婚 对象 宝贝 网友 小姐姐 小哥哥 摇一摇 外国 华侨 华裔 海归 军官 礼物 清关 见面 "
            "感情 美女 过日子 空姐 体贴 退伍 退役 探亲 赌球 报备 相处 同城 对我很好 一起生活 军医 "
            "bumble 脉脉 石油平台",
        ),
        (2.0, "聊得 聊了 聊天 认识 打赏 哄我 大哥 派对 保释金"),
        (
            1.0,
            # "她舅舅是分析师": the contact's own relatives and friends vouch for the platform; listed so
            # that they shadow the victim's relatives (impersonate_acquaintance) inside them.
            "老公 老婆 {他|她}{舅舅|叔叔|姑姑|阿姨|表哥|表姐|哥哥|姐姐|朋友|同学|老师}",
        ),
    ),
    "ticket_refund": (
        (
            4.0,
            "航班 机票 改签 退改签 退票 航空公司 航司 东航 南航 国航 东方航空 南方航空 海航 海南航空 "
            "川航 延误险 火车票 高铁票 12306 flight hangban jipiao gaiqian 升舱 舱位 登机 航班号 停运",
        ),
        (3.0, "航空 延误 飞机 起飞 晚点 出票 机械故障 航旅 携程 去哪儿 飞猪 cancel 票务 车次 铁路 托运 行李"),
        (2.0, "乘坐 补偿 refund 订票 座位"),
    ),
    OTHER: (
        (
            4.0,
            "裸聊 敲诈 勒索 etc 中奖 一等奖 大奖 刮刮卡 刮奖 领奖 幸运观众 助学金 改分数 代考 办证 驾照 "
            "红十字会 慈善 基金会 木马 病毒 远程控制 开房记录 私家侦探 追回 追款 养老金 赌博 赌场 博彩 "
            "网上赌场 绑架 色情 不雅视频 时时彩 补助金 考试答案 资格证 电费 欠费 停电 公益组织 "
            "香港身份 移民 刷分 周年庆 账号被盗 算命 血光之灾 风水 法事 裸照 不雅 棋牌 百家乐 老虎机 押大小 遗产 "
            "继承 可以帮我追回 可以追回 帮忙追回",
        ),
        (
            3.0,
            "抽奖 奖品 节目组 电视台 补贴 部队 军人 物资 订购 采购 订餐 盒饭 包车 彩票 下注 代办 四六级 "
            "入学 赞助费 律师 捐款 社保卡 医保卡 医保 养老保险 定位 查询 资格认证 认证 高考 受伤 打架 "
            "中了 驾驶证 威胁 公开 突发疾病 失业 计划团队 答案 发票 礼品 领取现金 山区 缴费 水费 孩子在学校 "
            "学校出事 化解 大师 "
            "燃气费",
        ),
        (2.0, "公证费 手机被 链接 折现 稳赢 手术"),
    ),
}

# Phrases that mean nothing for the type of scam but contain a cue word: listed so that they shadow it
# (longest match wins). Victims close with "希望警察能抓到他们" or "希望能帮我追回", which are not reports
# of a police impersonation or of a fund-recovery scam.
_NEUTRAL: Final = (
    "希望警察 请警察 警察同志 警察叔叔 已报警 报警了 去报警 向警方 报警 "
    "{希望|请|求}{|能}{帮我|帮忙|帮我们|}追回 追回损失"
)

# (dominant, absorbed, least own score of the dominant, least ratio dominant/absorbed), applied in this
# order. The ratio keeps a faint dominant cue from swallowing a report that is clearly about something else:
# e.g. a game *job* offer ("给手游写攻略赚钱") stays part_time_job because game_trading must be at least as
# strong as the job cues to absorb them. See the module docstring for why each pair exists.
_PRECEDENCE: Final[tuple[tuple[str, str, float, float], ...]] = (
    ("fake_customer_service", "loan", 6.0, 0.5),
    ("ticket_refund", "fake_customer_service", 4.0, 0.4),
    ("ticket_refund", "loan", 4.0, 0.4),
    ("game_trading", "fake_customer_service", 5.0, 0.3),
    ("game_trading", "fake_shopping", 5.0, 0.3),
    ("game_trading", "loan", 5.0, 0.3),
    ("game_trading", "investment", 5.0, 0.5),
    ("game_trading", "part_time_job", 5.0, 1.0),
    ("part_time_job", "investment", 6.0, 0.4),
    ("part_time_job", "fake_shopping", 6.0, 0.4),
    ("part_time_job", "loan", 6.0, 0.4),
    ("part_time_job", "fake_customer_service", 6.0, 0.4),
    ("part_time_job", "game_trading", 6.0, 0.5),
    ("credit_repair", "fake_customer_service", 5.0, 0.4),
    ("credit_repair", "loan", 5.0, 0.4),
    ("impersonate_officials", "fake_customer_service", 7.0, 0.6),
    ("impersonate_officials", "credit_repair", 7.0, 0.6),
    ("impersonate_officials", "loan", 7.0, 0.6),
    ("impersonate_officials", OTHER, 7.0, 0.6),
    ("romance", "investment", 5.0, 0.2),
    ("romance", "fake_shopping", 5.0, 0.2),
    ("romance", "part_time_job", 5.0, 0.2),
    ("romance", "game_trading", 5.0, 0.2),
    ("romance", "loan", 5.0, 0.2),
    ("romance", OTHER, 5.0, 0.2),
)

# Deterministic tie-break: the more specific pretext first.
_TIE_ORDER: Final = (
    "impersonate_officials", "romance", "ticket_refund", "credit_repair", "game_trading", "fake_customer_service",
    "impersonate_acquaintance", "part_time_job", "loan", "investment", "fake_shopping", OTHER,
)  # fmt: skip

# Characters that carry no meaning for the lexicon and break terms apart when users put them inside; the
# ASCII ones also in their full-width forms, so the result is the same whether or not NFKC ran (below).
_DROP_ASCII: Final = " '\"`[]()<>*_~-"
_DROP_RE: Final = re.compile(
    "["
    + re.escape(_DROP_ASCII + "".join(chr(ord(c) + 0xFEE0) for c in _DROP_ASCII if c != " "))
    + re.escape("\t\r\n\u3000\u200b\u200c\u200d\ufeff‘’“”「」『』【】（）《》〈〉·•—")
    + "]"  # one character a match: with "]+" the substitution cost ~3x as much, the same result
)
# NFKC costs ~10x the rest of normalising and changes nothing for the bulk of reports, which are CJK
# ideographs, ASCII and full-width punctuation. Punctuation never occurs inside a lexicon term, so NFKC is
# needed only when some other character shows up (full-width letters or digits, compatibility forms, ...).
_NFKC_NEEDED: Final = re.compile(
    "[^\x00-\x7f\u4e00-\u9fff\u3000-\u3035\u2014\u2018\u2019\u201c\u201d\u2026"
    "\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff5e]"
)


def normalise(text: str) -> str:
    """NFKC, lower case, and without the whitespace, quotes and brackets users scatter inside words."""
    return _DROP_RE.sub("", _nfkc(text).lower())


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text) if _NFKC_NEEDED.search(text) else text


# Joins a batch's texts to be normalised and scanned as one. Lower-casing and dropping characters work
# character by character and this one is neither changed nor dropped; NFKC runs per text (it is needed
# rarely and costs ~10x the rest), and a control character would stop its composing anyway. It is not a
# letter, digit or ideograph, so no lexicon term can match across it, and the leftmost-longest matches
# inside each text are those of scanning it alone.
_SEPARATOR: Final = "\x1f"


def _normalise_joined(texts: Sequence[str]) -> tuple[bytes, np.ndarray]:
    """The texts normalised, joined by _SEPARATOR and encoded as UTF-8, and the byte where each starts."""
    raw = _SEPARATOR.join(texts)
    # One search over all of them finds the few texts NFKC must see (searching text by text cost ~1 µs each).
    needing = [match.start() for match in _NFKC_NEEDED.finditer(raw)]
    if needing:
        ends = np.cumsum([len(text) + 1 for text in texts])
        nfkc = list(texts)
        for i in np.unique(np.searchsorted(ends, needing, side="right")).tolist():
            nfkc[i] = unicodedata.normalize("NFKC", nfkc[i])
        raw = _SEPARATOR.join(nfkc)
    joined = _DROP_RE.sub("", raw.lower())
    if joined.count(_SEPARATOR) == len(texts) - 1:
        encoded = joined.encode()
        separators = np.flatnonzero(np.frombuffer(encoded, np.uint8) == ord(_SEPARATOR))
        return encoded, np.concatenate(([0], separators + 1))
    # A text holds the separator itself (or NFKC made one): normalise each on its own.
    pieces = [normalise(text).encode() for text in texts]
    starts = np.zeros(len(pieces), np.int64)
    np.cumsum([len(piece) + 1 for piece in pieces[:-1]], out=starts[1:])
    return _SEPARATOR.encode().join(pieces), starts


_BRACES: Final = re.compile(r"\{([^{}]*)\}")


def _expand(pattern: str) -> list[str]:
    """All spellings of a lexicon entry: "{叫|喊}我{|小}宝贝" -> 叫我宝贝, 叫我小宝贝, 喊我宝贝, 喊我小宝贝."""
    match = _BRACES.search(pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [spelling for option in match.group(1).split("|") for spelling in _expand(head + option + tail)]


def _build_index(
    lexicon: Mapping[str, tuple[tuple[float, str], ...]],
    neutral: str = "",
) -> dict[str, tuple[tuple[str, float], ...]]:
    """term -> ((category, weight), ...) for every spelling of every lexicon and neutral term."""
    # Neutral phrases get no weight at all; they exist to shadow the cue words inside them.
    weights: dict[str, dict[str, float]] = {
        term: {} for raw in neutral.split() for term in map(normalise, _expand(raw))
    }
    for category, bands in lexicon.items():
        if category not in CATEGORIES:
            raise ValueError(f"lexicon category {category!r} is not in CATEGORIES")
        for weight, terms in bands:
            for raw in terms.split():
                for term in map(normalise, _expand(raw)):
                    # Two characters at least (one-character cues are too ambiguous in Chinese), and letters,
                    # digits or ideographs only: normalise() may skip NFKC on the assumption that punctuation
                    # never occurs inside a term.
                    if len(term) < 2 or not term.isalnum():
                        raise ValueError(f"lexicon term {raw!r} yields {term!r}: need 2+ letters/digits/ideographs")
                    per_category = weights.setdefault(term, {})
                    # A term repeated in one category keeps its highest weight, so bands can overlap safely.
                    per_category[category] = max(per_category.get(category, 0.0), weight)
    return {term: tuple(sorted(per.items())) for term, per in weights.items()}


_TERM_WEIGHTS: Final = _build_index(_LEXICON, _NEUTRAL)
# Leftmost-longest and non-overlapping: at the first position where any term starts, the longest term
# starting there wins and the scan resumes after it, which is how longer terms shadow the ones inside them.
# One native pass; it keeps the GIL for texts this short (measured: a competing Python thread slows it
# only by the usual sharing). The contiguous NFA, under 1 MiB here, beats the 6 MiB DFA: in the worker the
# scan runs with cold caches (the flush thread, other processes), where the DFA's misses cost ~50% more.
# Over UTF-8 bytes, which finds the same matches as over the characters (a term's first byte never continues
# a character, so a term matches only where a character starts, and longer in bytes is longer in characters)
# and spares mapping byte offsets back to characters (~15% of the scan).
_AUTOMATON: Final = ahocorasick_rs.BytesAhoCorasick(
    [term.encode() for term in _TERM_WEIGHTS],
    matchkind=ahocorasick_rs.MatchKind.LeftmostLongest,
    implementation=ahocorasick_rs.Implementation.ContiguousNFA,
)

# The scoring below works on arrays indexed like _TIE_ORDER: the worker classifies a whole envelope per call
# (`classify_many`), and per-report Python loops over terms, scores and rules were most of its cost after the
# scan. Row t of _WEIGHTS holds the weights of _TERMS[t], the automaton's pattern t, by slot.
_SLOT: Final = {code: i for i, code in enumerate(_TIE_ORDER)}
_TERMS: Final = tuple(_TERM_WEIGHTS)


def _weight_matrix() -> np.ndarray:
    weights = np.zeros((len(_TERMS), len(_TIE_ORDER)))
    for row, term in enumerate(_TERMS):
        for code, weight in _TERM_WEIGHTS[term]:
            # Halves and whole numbers add up exactly in any order, which classify_many relies on.
            if (weight * 2) % 1:
                raise ValueError(f"lexicon weight {weight} of {term!r} ({code}) is not a multiple of 0.5")
            weights[row, _SLOT[code]] = weight
    weights.flags.writeable = False
    return weights


_WEIGHTS: Final = _weight_matrix()
# The same weights as a sparse list of (slot, weight) pairs, those of term t at _PAIR_START[t] onwards: most
# terms weigh for one category, so scoring adds ~1 pair per matched term instead of a whole row of slots.
_PAIR_TERM, _PAIR_SLOT = np.nonzero(_WEIGHTS)
_PAIR_WEIGHT: Final = _WEIGHTS[_PAIR_TERM, _PAIR_SLOT]
_PAIR_COUNT: Final = np.bincount(_PAIR_TERM, minlength=len(_TERMS))
_PAIR_START: Final = np.cumsum(_PAIR_COUNT) - _PAIR_COUNT
_RULES: Final = tuple(
    (_SLOT[dominant], _SLOT[absorbed], least, ratio) for dominant, absorbed, least, ratio in _PRECEDENCE
)
_NOTES: Final = tuple(f"rule:{dominant}>{absorbed}" for dominant, absorbed, _, _ in _PRECEDENCE)
_TERM_ARRAY: Final = np.array(_TERMS, dtype=object)
_CODE_ARRAY: Final = np.array(_TIE_ORDER, dtype=object)
# Texts normalised and scanned as one string: per character both cost ~1.5x as much on the 20,000 texts of a
# large flush as on pieces of 1,000 (measured), and a piece is still long enough to make the per-call cost nil.
_SCAN_TEXTS: Final = 1000


def classify(
    description: str,
    citizen_category: str | None = None,
    channel: str | None = None,
    amount_fen: int | None = None,
) -> Classification:
    """Classify one report description; see the module docstring for the method and precedence rules."""
    return classify_many([description], [citizen_category])[0]


@dataclass(frozen=True, slots=True)
class Classified:
    """`classify` of several texts as columns: what the worker writes, without an object per report.

    Text i has `codes[i]`, `confidences[i]` and the evidence `evidence[evidence_offsets[i] :
    evidence_offsets[i + 1]]`; the offsets are those of an Arrow list column.
    """

    codes: list[str]
    confidences: list[float]
    evidence: list[str]
    evidence_offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def classification(self, i: int) -> Classification:
        start, stop = self.evidence_offsets[i : i + 2].tolist()
        return Classification(self.codes[i], self.confidences[i], tuple(self.evidence[start:stop]))

    @classmethod
    def of(cls, classifications: Sequence[Classification]) -> Classified:
        """Classifications made elsewhere (one per report), as columns."""
        offsets = np.zeros(len(classifications) + 1, np.int64)
        np.cumsum([len(c.evidence) for c in classifications], out=offsets[1:])
        return cls(
            [c.code for c in classifications],
            [c.confidence for c in classifications],
            [e for c in classifications for e in c.evidence],
            offsets,
        )


def classify_many(
    descriptions: Sequence[str], citizen_categories: Sequence[str | None] | None = None
) -> list[Classification]:
    """`classify` of each description (with its citizen category, if given), in one pass over all of them."""
    classified = classify_columns(descriptions, citizen_categories)
    return [classified.classification(i) for i in range(len(classified))]


def classify_columns(descriptions: Sequence[str], citizen_categories: Sequence[str | None] | None = None) -> Classified:
    """`classify` of each description (with its citizen category, if given), in one pass over all of them.

    Each result is exactly what classifying that description alone gives: the texts are scanned as one, the
    scores summed as arrays and the precedence rules applied to all rows at once. Weights are multiples of
    0.5, so sums are exact whatever their order. The per-call cost of the array operations is paid once per
    call, so the more texts per call the cheaper each (the worker classifies a whole flush at once).
    """
    n = len(descriptions)
    if citizen_categories is not None and len(citizen_categories) != n:
        raise ValueError(f"{len(citizen_categories)} citizen categories for {n} descriptions")
    if not n:
        return Classified([], [], [], np.zeros(1, np.int64))
    owners, terms = [], []
    for offset in range(0, n, _SCAN_TEXTS):
        joined, starts = _normalise_joined(descriptions[offset : offset + _SCAN_TEXTS])
        found = _AUTOMATON.find_matches_as_indexes(joined)
        matches = np.fromiter(chain.from_iterable(found), np.int64, 3 * len(found)).reshape(-1, 3)
        owners.append(np.searchsorted(starts, matches[:, 1], side="right") - 1 + offset)
        terms.append(matches[:, 0])
    owner, matched = np.concatenate(owners), np.concatenate(terms)
    # Each distinct term once per text, in order of first appearance (matches come in text order).
    _, first = np.unique(owner * len(_TERMS) + matched, return_index=True)
    first.sort()
    term_text, term = owner[first], matched[first]

    # One row per slot (so each rule reads and writes two contiguous rows), one column per text.
    slots = len(_TIE_ORDER)
    counts = _PAIR_COUNT[term]
    firsts = np.cumsum(counts) - counts
    pair = np.repeat(_PAIR_START[term] - firsts, counts) + np.arange(firsts[-1] + counts[-1] if len(term) else 0)
    cells = _PAIR_SLOT[pair] * n + np.repeat(term_text, counts)
    # (bincount answers in integers when there is nothing to count)
    scores = np.bincount(cells, _PAIR_WEIGHT[pair], slots * n).astype(np.float64, copy=False).reshape(slots, n)
    applied: list[tuple[int, str, np.ndarray]] = []
    for (dominant, absorbed, least, ratio), note in zip(_RULES, _NOTES, strict=True):
        theirs, own = scores[absorbed], scores[dominant]
        moves = (theirs > 0) & (own >= least) & (own >= ratio * theirs)
        if moves.any():
            scores[dominant] = np.where(moves, own + theirs, own)
            scores[absorbed] = np.where(moves, 0.0, theirs)
            applied.append((dominant, note, moves))

    citizen = np.full(n, -1)
    if citizen_categories is not None:
        citizen[:] = [_SLOT.get(c, -1) if c is not None else -1 for c in citizen_categories]
    rows = np.flatnonzero(citizen >= 0)
    rows = rows[scores[citizen[rows], rows] > 0]
    scores[citizen[rows], rows] += CITIZEN_WEIGHT

    # Highest score wins; on a tie the earlier slot in _TIE_ORDER (argmax finds the first).
    best = scores.argmax(axis=0)
    s1 = scores[best, np.arange(n)]
    s2 = np.sort(scores, axis=0)[-2]
    named = s1 >= MIN_SCORE
    confidence = np.where(named, s1 / (s1 + s2 + CONFIDENCE_PRIOR), 0.5 * s1 / (s1 + CONFIDENCE_PRIOR))

    # Evidence: the terms weighing for the best slot, strongest first, equal weights in order of appearance
    # (lexsort is stable), at most MAX_EVIDENCE in all; then the rules and the citizen's hint that moved score
    # to the best slot, in the order they were applied. A text too thin to be named (`other`) shows only its
    # faint cues, so a reader sees what was considered.
    weight = _WEIGHTS[term, best[term_text]]
    cue = np.flatnonzero(weight > 0)
    cue = cue[np.lexsort((-weight[cue], term_text[cue]))]
    cue_text = term_text[cue]
    note_text: list[np.ndarray] = []
    note_strings: list[str] = []
    for dominant, note, moves in applied:
        texts = np.flatnonzero(moves & (best == dominant) & named)
        note_text.append(texts)
        note_strings += [note] * len(texts)
    hinted = rows[(citizen[rows] == best[rows]) & named[rows]]
    note_text.append(hinted)
    note_strings += [f"citizen:{_TIE_ORDER[slot]}" for slot in citizen[hinted].tolist()]
    notes_of = np.concatenate(note_text)
    notes = np.bincount(notes_of, minlength=n)
    # Within its text, each cue's rank; the cues shown are the first MAX_EVIDENCE less the notes.
    rank = np.arange(len(cue)) - np.searchsorted(cue_text, cue_text)
    shown = rank < (MAX_EVIDENCE - notes)[cue_text]
    cue_text = cue_text[shown]
    evidence = _TERM_ARRAY[term[cue[shown]]]
    counts = np.bincount(cue_text, minlength=n) + notes
    if note_strings:
        # Notes after every cue of their text, in the order they were collected (argsort is stable).
        place = np.argsort(np.concatenate([cue_text, notes_of]), kind="stable")
        evidence = np.concatenate([evidence, np.array(note_strings, dtype=object)])[place]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    codes = np.where(named, _CODE_ARRAY[best], OTHER).tolist()
    return Classified(codes, [round(sure, 3) for sure in confidence.tolist()], evidence.tolist(), offsets)


def categorize(description: str) -> str:
    """The category code of a description (the stream worker's entry point; see `classify`)."""
    return classify(description).code


# --- taxonomy ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def taxonomy() -> Mapping[str, Any]:
    """The parsed taxonomy data file (read once)."""
    with TAXONOMY_PATH.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


@lru_cache(maxsize=1)
def _headlines() -> Mapping[str, str]:
    return {entry["code"]: entry["headline"] for entry in taxonomy()["categories"]}


def taxonomy_version() -> str:
    return str(taxonomy()["version"])


def headline_class(code: str) -> str:
    """The headline class used in public statistics for a detailed category code (e.g. loan -> other_types)."""
    try:
        return _headlines()[code]
    except KeyError:
        raise ValueError(f"unknown category code {code!r}") from None
