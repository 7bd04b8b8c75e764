"""HTTP SMS gateway channel (IOT-5 / OPS-3): signed round trips against the simulator (which
verifies the HMAC-SHA256 signature), segment counting, mobile validation, retryable vs
permanent errors, masked phone numbers."""

from __future__ import annotations

import hashlib
import hmac
import logging

import pytest

from cityops.notify import Notification, Recipient, registry
from cityops.notify.base import mask_phone, mask_text, normalize_mobile
from cityops.notify.sms import content, segments, sign
from cityops.sim.notify import NotifySim, serve

PHONE = "13812345678"
OTHER = "15900001111"


@pytest.fixture(scope="module")
def sim_url():
    sim = NotifySim(sms_accounts={"cn-cityops": "s3cret-key"}, slow_s=1.0)
    with serve(sim) as url:
        yield sim, url


@pytest.fixture
def sim(sim_url):
    sim = sim_url[0]
    sim.sms.clear()
    sim.sms_rejected.clear()
    sim._failures["sms"].clear()
    return sim


@pytest.fixture
def settings(sim_url):
    return {"url": sim_url[1] + "/sms/send", "account": "cn-cityops", "secret": "s3cret-key",
            "signature": "长宁城运", "timeout_s": 0.5}


def note(text="愚园路积水深度超过15厘米，请立即处置。", **kw) -> Notification:
    base = dict(title="积水告警", text=text, severity="warning", dedup_key="flood-7",
                recipients=[Recipient("张三", phone=PHONE), Recipient("李四", phone=f"+86{OTHER}"),
                            Recipient("重复", phone=PHONE), Recipient("邮件", email="a@b.cn")])
    base.update(kw)
    return Notification(**base)


def test_json_round_trip_signed(sim, settings):
    result = registry.get("sms").send(note(), settings)
    assert result.ok, result.error
    assert sim.sms_rejected == []
    got = sim.sms[0]
    assert got["mobiles"] == [PHONE, OTHER]
    assert got["content"] == "【长宁城运】积水告警：愚园路积水深度超过15厘米，请立即处置。"
    assert got["fields"]["dedup_key"] == "flood-7"
    assert result.provider_message_id == got["msgid"]
    assert result.detail["segments"] == got["segments"] == 1
    assert result.detail["mobiles"] == 2 and result.detail["rejected"] == []


def test_form_round_trip(sim, settings):
    result = registry.get("sms").send(note(), {**settings, "body_format": "form"})
    assert result.ok, result.error
    assert sim.sms[0]["mobiles"] == [PHONE, OTHER]
    assert sim.sms[0]["content"].startswith("【长宁城运】")


def test_signature_is_hmac_sha256_over_timestamp_and_body(sim, settings):
    assert registry.get("sms").send(note(), settings).ok
    headers = sim.sms[0]["headers"]
    body = (b'{"account": "cn-cityops", "mobiles": ["13812345678", "15900001111"], '
            + '"content": "【长宁城运】积水告警：愚园路积水深度超过15厘米，请立即处置。", "dedup_key": "flood-7"}'.encode())
    want = hmac.new(b"s3cret-key", headers["x-timestamp"].encode() + body, hashlib.sha256).hexdigest()
    assert headers["x-signature"] == want == sign("s3cret-key", headers["x-timestamp"], body)


def test_wrong_secret_is_permanent(sim, settings):
    result = registry.get("sms").send(note(), {**settings, "secret": "not-the-secret"})
    assert not result.ok and not result.retryable and result.status_code == 401
    assert sim.sms_rejected == ["bad signature"] and sim.sms == []


def test_segments():
    assert segments("") == 0
    assert segments("字" * 70) == 1
    assert segments("字" * 71) == 2
    assert segments("字" * 134) == 2
    assert segments("字" * 135) == 3


def test_long_message_segments_reported(sim, settings):
    n = note(text="字" * 120)
    text = content(n, "长宁城运")
    assert len(text) == 6 + 5 + 120  # 【长宁城运】 + 积水告警： + body
    result = registry.get("sms").send(n, settings)
    assert result.ok and result.detail["segments"] == 2 == sim.sms[0]["segments"]
    assert result.detail["chars"] == 131


def test_max_chars_cuts(sim, settings):
    result = registry.get("sms").send(note(text="字" * 1000), {**settings, "max_chars": 200})
    assert result.ok and len(sim.sms[0]["content"]) == 200 and sim.sms[0]["content"].endswith("…")


def test_invalid_mobiles_skipped_and_reported(sim, settings):
    n = note(recipients=[Recipient("甲", phone="12345678901"), Recipient("乙", phone="021-62345678"),
                         Recipient("丙", phone=PHONE)])
    result = registry.get("sms").send(n, settings)
    assert result.ok and sim.sms[0]["mobiles"] == [PHONE]
    assert result.detail["rejected"] == ["123****8901", "021****5678"]


def test_no_valid_mobile_is_permanent(sim, settings):
    result = registry.get("sms").send(note(recipients=[Recipient("甲", phone="1381234567")]), settings)
    assert not result.ok and not result.retryable and sim.sms == []


@pytest.mark.parametrize("mode,status", [("rate_limit", 429), ("5xx", 503), ("timeout", None)])
def test_temporary_failures_are_retryable(sim, settings, mode, status):
    sim.fail("sms", mode)
    result = registry.get("sms").send(note(), settings)
    assert not result.ok and result.retryable and result.status_code == status
    assert result.detail["segments"] == 1


def test_gateway_codes(sim, settings):
    sim.fail("sms", "invalid_key")
    result = registry.get("sms").send(note(), settings)
    assert not result.ok and not result.retryable and result.detail["code"] == "1001"
    sim.fail("sms", "invalid_key")
    result = registry.get("sms").send(note(), {**settings, "retryable_codes": ["1001"]})
    assert not result.ok and result.retryable


def test_mobile_helpers():
    assert normalize_mobile("+86 138-1234-5678") == PHONE
    assert normalize_mobile("008613812345678") == PHONE
    assert normalize_mobile("8613812345678") == PHONE
    assert normalize_mobile("12812345678") is None
    assert normalize_mobile("1381234567") is None
    assert mask_phone(PHONE) == "138****5678"
    assert mask_text(f"invalid mobile {PHONE},{OTHER}") == "invalid mobile 138****5678,159****1111"


def test_phone_numbers_masked_in_logs(sim, settings, caplog):
    caplog.set_level(logging.DEBUG)
    assert registry.get("sms").send(note(), settings).ok
    sim.fail("sms", "5xx")
    assert not registry.get("sms").send(note(), settings).ok
    registry.get("sms").send(note(recipients=[Recipient("甲", phone="12345678901")]), settings)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PHONE not in logged and OTHER not in logged and "12345678901" not in logged
    assert "138****5678" in logged and "159****1111" in logged
