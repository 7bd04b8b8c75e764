"""E-mail channel (IOT-5 / OPS-3): real SMTP round trips against an aiosmtpd sink — plain,
STARTTLS and implicit TLS with login — Chinese subject/body decoded at the sink, and
retryable vs permanent SMTP errors."""

from __future__ import annotations

import logging

import pytest

from cityops.notify import Link, Notification, Recipient, registry
from cityops.sim.notify import SmtpSink, free_port, self_signed_cert

PHONE = "13812345678"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("smtp-tls"))


def note(**kw) -> Notification:
    base = dict(title="天山路井盖位移告警", text="天山路300号井盖发生位移。\n请养护单位30分钟内到场。",
                severity="critical", dedup_key="manhole-3",
                recipients=[Recipient("王五", phone=PHONE, email="wangwu@cn.gov.cn"),
                            Recipient("赵六", email="zhaoliu@cn.gov.cn"), Recipient("无邮箱", phone="13900001111")],
                links=[Link("查看详情", "https://cityops.example/a?x=1&y=2")])
    base.update(kw)
    return Notification(**base)


def settings(port: int, **kw) -> dict:
    return {"host": "127.0.0.1", "port": port, "security": "none", "from_addr": "cityops@cn.gov.cn",
            "timeout_s": 5, **kw}


def test_plain_round_trip_chinese_decoded():
    with SmtpSink() as sink:
        result = registry.get("email").send(note(), settings(sink.port))
    assert result.ok, result.error
    assert result.detail == {"recipients": 2, "refused": {}}
    [msg] = sink.messages
    assert msg.mail_from == "cityops@cn.gov.cn"
    assert msg.rcpt_tos == ["wangwu@cn.gov.cn", "zhaoliu@cn.gov.cn"]
    assert msg.subject == "【紧急】天山路井盖位移告警"
    assert msg.message["From"].addresses[0].display_name == "长宁区城市运行管理平台"
    assert msg.message["Message-ID"] == result.provider_message_id
    assert msg.message["X-CityOps-Dedup-Key"] == "manhole-3"
    assert msg.message.get_content_type() == "multipart/alternative"
    text, html = msg.part("plain"), msg.part("html")
    assert "天山路300号井盖发生位移。" in text and "查看详情：https://cityops.example/a?x=1&y=2" in text
    assert "<p>请养护单位30分钟内到场。</p>" in html and 'href="https://cityops.example/a?x=1&amp;y=2"' in html
    for part in msg.message.iter_parts():
        assert part.get_content_charset() == "utf-8"
    # headers on the wire are 7-bit: the Chinese subject is RFC 2047 encoded
    head = msg.raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")
    assert b"=?utf-8?" in head.lower()


def test_subject_prefix():
    with SmtpSink() as sink:
        assert registry.get("email").send(note(severity="info"), settings(sink.port, subject_prefix="[一网统管]")).ok
    assert sink.messages[0].subject == "[一网统管] 天山路井盖位移告警"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_with_login(cert, security):
    with SmtpSink(security=security, cert=cert, users={"cityops": "Mail-Pass-1"}) as sink:
        result = registry.get("email").send(note(), settings(sink.port, security=security, username="cityops",
                                                             password="Mail-Pass-1", ca_file=str(cert[0])))
    assert result.ok, result.error
    assert sink.messages[0].login == "cityops"
    assert sink.messages[0].subject == "【紧急】天山路井盖位移告警"


def test_non_ascii_password_is_permanent(cert):
    with SmtpSink(security="starttls", cert=cert, users={"cityops": "口令"}) as sink:
        result = registry.get("email").send(note(), settings(sink.port, security="starttls", username="cityops",
                                                             password="口令", ca_file=str(cert[0])))
    assert not result.ok and not result.retryable and "ASCII" in result.error


def test_wrong_password_is_permanent(cert):
    with SmtpSink(security="starttls", cert=cert, users={"cityops": "right"}) as sink:
        result = registry.get("email").send(note(), settings(sink.port, security="starttls", username="cityops",
                                                             password="wrong", ca_file=str(cert[0])))
    assert not result.ok and not result.retryable and result.status_code == 535
    assert sink.messages == []


def test_missing_login_is_permanent(cert):
    with SmtpSink(security="ssl", cert=cert, users={"cityops": "right"}) as sink:
        result = registry.get("email").send(note(), settings(sink.port, security="ssl", ca_file=str(cert[0])))
    assert not result.ok and not result.retryable and result.status_code == 530


def test_untrusted_certificate_is_permanent(cert):
    with SmtpSink(security="starttls", cert=cert) as sink:
        result = registry.get("email").send(note(), settings(sink.port, security="starttls"))
        assert not result.ok and not result.retryable and "certificate" in result.error
        # verify_tls=False accepts it (only for a test relay)
        assert registry.get("email").send(note(), settings(sink.port, security="starttls", verify_tls=False)).ok


def test_temporary_reply_is_retryable_permanent_is_not():
    with SmtpSink(fail_next_data="451 4.3.0 mailbox busy, try later") as sink:
        result = registry.get("email").send(note(), settings(sink.port))
        assert not result.ok and result.retryable and result.status_code == 451
        sink.fail_next_data = "554 5.6.0 message rejected"
        result = registry.get("email").send(note(), settings(sink.port))
        assert not result.ok and not result.retryable and result.status_code == 554
        assert registry.get("email").send(note(), settings(sink.port)).ok


def test_refused_recipients():
    with SmtpSink(refuse={"zhaoliu@cn.gov.cn": "550 5.1.1 no such user"}) as sink:
        result = registry.get("email").send(note(), settings(sink.port))
        assert result.ok and list(result.detail["refused"]) == ["zhaoliu@cn.gov.cn"]
        assert sink.messages[0].rcpt_tos == ["wangwu@cn.gov.cn"]
        sink.refuse["wangwu@cn.gov.cn"] = "550 5.1.1 no such user"
        result = registry.get("email").send(note(), settings(sink.port))
        assert not result.ok and not result.retryable and result.status_code == 550
        sink.refuse = {"wangwu@cn.gov.cn": "450 4.2.1 try later", "zhaoliu@cn.gov.cn": "450 4.2.1 try later"}
        result = registry.get("email").send(note(), settings(sink.port))
        assert not result.ok and result.retryable


def test_unreachable_is_retryable():
    result = registry.get("email").send(note(), settings(free_port(), timeout_s=1))
    assert not result.ok and result.retryable


def test_no_email_recipient_is_permanent():
    result = registry.get("email").send(note(recipients=[Recipient("甲", phone=PHONE)]), settings(free_port()))
    assert not result.ok and not result.retryable


def test_nothing_personal_in_logs(caplog):
    caplog.set_level(logging.DEBUG)
    with SmtpSink() as sink:
        assert registry.get("email").send(note(), settings(sink.port)).ok
    registry.get("email").send(note(), settings(free_port(), timeout_s=1))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PHONE not in logged and "13900001111" not in logged
