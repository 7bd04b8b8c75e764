"""WeCom / 政务微信 group-robot channel (IOT-5 / OPS-3): real HTTP round trips against the
simulator, retryable vs permanent errors, UTF-8-safe truncation, masked phone numbers."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from cityops.notify import Link, Notification, Recipient, registry
from cityops.notify.base import truncate_utf8
from cityops.notify.wecom import MARKDOWN_MAX_BYTES, TEXT_MAX_BYTES
from cityops.sim.notify import NotifySim, free_port, serve

PHONE = "13812345678"


@pytest.fixture(scope="module")
def sim_url():
    sim = NotifySim(wecom_keys={"good-key"}, slow_s=1.0)
    with serve(sim) as url:
        yield sim, url


@pytest.fixture
def sim(sim_url):
    sim, url = sim_url
    sim.wecom.clear()
    sim._failures["wecom"].clear()
    return sim


@pytest.fixture
def settings(sim_url):
    return {"webhook_key": "good-key", "base_url": sim_url[1] + "/cgi-bin/webhook/send", "timeout_s": 0.5}


def note(**kw) -> Notification:
    base = dict(title="华阳路101弄烟感告警", text="3楼烟感检测到烟雾，请网格员立即核查。", severity="critical",
                recipients=[Recipient("张三", phone=PHONE, wecom_userid="zhangsan"),
                            Recipient("李四", phone="+86 139-0000-1111")],
                links=[Link("查看工单", "https://cityops.example/tickets/42")], dedup_key="alarm-42")
    base.update(kw)
    return Notification(**base)


def test_registry_and_settings():
    ch = registry.get("wecom")
    assert ch.kind == "wecom" and "政务微信" in ch.label
    with pytest.raises(ValidationError):
        ch.Settings(webhook_key="")
    s = ch.Settings(webhook_key="secret-key")
    assert "secret-key" not in repr(s)


def test_markdown_round_trip(sim, settings):
    result = registry.get("wecom").send(note(), settings)
    assert result.ok and result.status_code == 200 and result.error is None
    assert len(sim.wecom) == 1
    got = sim.wecom[0]
    assert got["key"] == "good-key" and got["msgtype"] == "markdown"
    content = got["markdown"]["content"]
    assert "华阳路101弄烟感告警" in content and "紧急" in content
    assert "[查看工单](https://cityops.example/tickets/42)" in content
    assert "<@zhangsan>" in content
    assert PHONE not in content


def test_text_mentions_mobiles(sim, settings):
    result = registry.get("wecom").send(note(), {**settings, "msgtype": "text", "mention_all": True})
    assert result.ok
    text = sim.wecom[0]["text"]
    assert text["mentioned_mobile_list"] == [PHONE, "13900001111"]
    assert text["mentioned_list"] == ["zhangsan", "@all"]
    assert text["content"].startswith("【紧急】华阳路101弄烟感告警")


def test_rate_limit_is_retryable(sim, settings):
    sim.fail("wecom", "rate_limit")
    result = registry.get("wecom").send(note(), settings)
    assert not result.ok and result.retryable
    assert result.detail["errcode"] == 45009 and "45009" in result.error
    assert registry.get("wecom").send(note(), settings).ok  # the next minute: fine


def test_invalid_webhook_is_permanent(sim, settings):
    result = registry.get("wecom").send(note(), {**settings, "webhook_key": "wrong-key"})
    assert not result.ok and not result.retryable and result.detail["errcode"] == 93000
    sim.fail("wecom", "invalid_key")
    result = registry.get("wecom").send(note(), settings)
    assert not result.ok and not result.retryable and result.detail["errcode"] == 93000
    assert sim.wecom == []


def test_server_error_and_timeout_are_retryable(sim, settings):
    sim.fail("wecom", "5xx")
    result = registry.get("wecom").send(note(), settings)
    assert not result.ok and result.retryable and result.status_code == 503
    sim.fail("wecom", "timeout")
    result = registry.get("wecom").send(note(), settings)
    assert not result.ok and result.retryable and "timed out" in result.error


def test_unreachable_is_retryable():
    url = f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send"
    result = registry.get("wecom").send(note(), {"webhook_key": "k", "base_url": url, "timeout_s": 0.5})
    assert not result.ok and result.retryable and "connection failed" in result.error


def test_long_markdown_truncated_on_utf8_boundary(sim, settings):
    long_text = "长宁区城运中心" * 1000 + "😀" * 50  # ~21 kB of 3- and 4-byte characters
    result = registry.get("wecom").send(note(text=long_text), settings)
    assert result.ok  # the simulator refuses content over 4096 bytes
    content = sim.wecom[0]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= MARKDOWN_MAX_BYTES
    assert "…" in content and content.endswith("<@zhangsan>")  # links and mentions survive the cut
    assert "[查看工单](https://cityops.example/tickets/42)" in content and content.startswith("### 华阳路")
    assert "\ufffd" not in content


def test_long_text_truncated(sim, settings):
    result = registry.get("wecom").send(note(text="井盖位移" * 2000), {**settings, "msgtype": "text"})
    assert result.ok
    content = sim.wecom[0]["text"]["content"]
    assert len(content.encode("utf-8")) <= TEXT_MAX_BYTES and content.endswith("…")


@pytest.mark.parametrize("limit", range(1, 20))
def test_truncate_utf8_never_splits_a_character(limit):
    text = "a长😀b宁é"
    cut = truncate_utf8(text, limit)
    assert len(cut.encode("utf-8")) <= limit
    if len(text.encode("utf-8")) <= limit:
        assert cut == text
    cut.encode("utf-8").decode("utf-8")  # valid


def test_phone_numbers_masked_in_logs(sim, settings, caplog):
    caplog.set_level(logging.DEBUG)
    assert registry.get("wecom").send(note(), {**settings, "msgtype": "text"}).ok
    sim.fail("wecom", "rate_limit")
    assert not registry.get("wecom").send(note(), {**settings, "msgtype": "text"}).ok
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PHONE not in logged and "13900001111" not in logged
    assert "138****5678" in logged


def test_webhook_key_not_in_logs(sim, settings, caplog):
    caplog.set_level(logging.DEBUG)
    assert registry.get("wecom").send(note(), settings).ok
    sim.fail("wecom", "5xx")
    assert not registry.get("wecom").send(note(), settings).ok
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "good-key" not in logged
    assert "key=***" in logged  # httpx's request line, redacted
