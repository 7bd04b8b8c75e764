"""Callee number normalisation and validation for mainland China (CALL-4)."""

import pytest

from cityops.callout.numbers import national, parse


@pytest.mark.parametrize("raw,e164,kind", [
    ("13912345678", "+8613912345678", "mobile"),
    ("139 1234 5678", "+8613912345678", "mobile"),
    ("+86 139-1234-5678", "+8613912345678", "mobile"),
    ("008613912345678", "+8613912345678", "mobile"),
    ("8613912345678", "+8613912345678", "mobile"),
    ("021-62345678", "+862162345678", "fixed"),
    ("(021)62345678", "+862162345678", "fixed"),
    ("+86 21 6234 5678", "+862162345678", "fixed"),
    ("0571-87654321", "+8657187654321", "fixed"),
])
def test_valid_numbers_are_normalised(raw, e164, kind):
    n = parse(raw)
    assert n.ok and n.e164 == e164 and n.kind == kind and n.reason == ""


@pytest.mark.parametrize("raw,fragment", [
    ("4008123123", "400/800"),
    ("800-820-8820", "400/800"),
    ("95588", "95/96"),
    ("96110", "95/96"),
    ("110", "紧急"),
    ("119", "紧急"),
    ("120", "紧急"),
    ("122", "紧急"),
    ("12345", "紧急"),
    ("+86 110", "紧急"),
    ("10086", "短号"),
    ("62345678", "区号"),
    ("1391234567", "无效"),
    ("139123456789", "无效"),
    ("1391234567x", "非法字符"),
    ("", "为空"),
])
def test_rejected_numbers_carry_a_chinese_reason(raw, fragment):
    n = parse(raw)
    assert not n.ok and n.e164 is None and n.kind is None
    assert fragment in n.reason


def test_national_form_for_display():
    assert national("+8613912345678") == "13912345678"
    assert national("+862162345678") == "02162345678"
    assert national(None) == ""
