"""China's province-level administrative divisions, keyed by the first two digits of a region code."""

from __future__ import annotations

import re

PROVINCES: dict[str, str] = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁", "22": "吉林",
    "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃",
    "63": "青海", "64": "宁夏", "65": "新疆", "71": "台湾", "81": "香港", "82": "澳门",
}  # fmt: skip

_REGION_CODE = re.compile(r"[0-9]{6}")  # ASCII digits only: full-width digits are not a code


def region_problem(code: str) -> str | None:
    """Why `code` is not a plausible 6-digit administrative division code, or None if it is."""
    if not _REGION_CODE.fullmatch(code):
        return "must be a 6-digit administrative division code, e.g. 420106"
    if code[:2] not in PROVINCES:
        return f"unknown province prefix {code[:2]!r}"
    return None
