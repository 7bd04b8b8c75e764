"""Mainland China callee numbers (CALL-4): normalise to E.164 with `phonenumbers` and refuse
what an automated call must never dial — service numbers (400/800, 95xxx/96xxx), short and
emergency numbers (110, 119, 120, 122, 12345 …) and anything not a valid mobile or fixed line."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

EMERGENCY = {"110", "112", "119", "120", "122", "12345", "999"}
SERVICE = ("400", "800", "95", "96")
_KINDS = {PhoneNumberType.MOBILE: "mobile", PhoneNumberType.FIXED_LINE: "fixed"}


@dataclass(frozen=True)
class Number:
    raw: str
    e164: str | None
    kind: str | None  # mobile | fixed
    reason: str = ""  # Chinese, set when rejected

    @property
    def ok(self) -> bool:
        return self.e164 is not None


def _digits(raw: str) -> str:
    s = re.sub(r"[\s\-()（）.]", "", raw or "")
    for prefix in ("+86", "0086"):
        if s.startswith(prefix):
            s = s[len(prefix):]
            # In international form a fixed line drops its trunk 0 (+86 21 …).
            return s if s[:1] in ("1", "0", "") or s in EMERGENCY or s.startswith(SERVICE) else "0" + s
    if s.startswith("86") and len(s) == 13 and s[2] == "1":
        s = s[2:]
    return s


def parse(raw: str) -> Number:
    """Normalise one number; `reason` explains a rejection in Chinese."""
    raw = (raw or "").strip()
    s = _digits(raw)
    if not s:
        return Number(raw, None, None, "号码为空")
    if not s.isdigit():
        return Number(raw, None, None, "号码含非法字符")
    if s in EMERGENCY:
        return Number(raw, None, None, "紧急/公共服务号码，不可外呼")
    if s.startswith(SERVICE[:2]):
        return Number(raw, None, None, "400/800 服务号码，不可作为被叫")
    if s.startswith(SERVICE[2:]):
        return Number(raw, None, None, "95/96 开头的服务号码，不可作为被叫")
    if len(s) < 7:
        return Number(raw, None, None, "短号码，不可外呼")
    if s[0] not in "01":
        return Number(raw, None, None, "缺少区号的固定电话（请写成 021-xxxxxxxx）")
    try:
        pn = phonenumbers.parse(s, "CN")
    except phonenumbers.NumberParseException:
        return Number(raw, None, None, "无法识别的号码")
    if not phonenumbers.is_valid_number_for_region(pn, "CN"):
        return Number(raw, None, None, "无效号码（位数或号段不正确）")
    kind = _KINDS.get(phonenumbers.number_type(pn))
    if kind is None:
        return Number(raw, None, None, "非手机或固定电话号码，不可外呼")
    return Number(raw, phonenumbers.format_number(pn, phonenumbers.PhoneNumberFormat.E164), kind)


def national(e164: str | None) -> str:
    """+8613912345678 → 13912345678, +862162345678 → 02162345678: how operators write numbers."""
    if not e164 or not e164.startswith("+86"):
        return e164 or ""
    rest = e164[3:]
    return rest if rest.startswith("1") else "0" + rest
