"""Probe adapters against real local services and failures (OPS-1)."""

from __future__ import annotations

import os
import socket

import pytest

from cityops.core.errors import Invalid
from cityops.inspections import probes
from cityops.inspections.probes import host as host_probe
from tests.inspections import probe_servers as ps

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(port: int, what: str) -> None:
    """A test that needs a local service fails in CI when it is missing, and skips elsewhere."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"{what} is required in CI and is not reachable on 127.0.0.1:{port}: {exc}")
        pytest.skip(f"{what} not reachable on 127.0.0.1:{port} (outside CI)")


# -- validation --------------------------------------------------------------------------------
def test_unknown_kind_and_bad_options_are_refused():
    with pytest.raises(Invalid, match="未知的探针类型"):
        probes.run("ftp", "x")
    with pytest.raises(Invalid, match="没有选项"):
        probes.run("tcp", "127.0.0.1:1", {"colour": "red"})
    with pytest.raises(Invalid, match="应为 int"):
        probes.validate("http", "http://x/", {"cert_warn_days": "soon"})
    with pytest.raises(Invalid, match="URL"):
        probes.validate("http", "ftp://x/", {})
    with pytest.raises(Invalid, match="主机:端口"):
        probes.validate("tcp", "127.0.0.1", {})
    with pytest.raises(Invalid, match="只能是"):
        probes.validate("dns", "example.org", {"type": "BOGUS"})
    with pytest.raises(Invalid, match="目标"):
        probes.validate("redis", "  ", {})
    assert probes.validate("reach", "h", {"ports": "22, 80"}) == {"ports": ["22", "80"]}


def test_kinds_describe_every_option_with_secrets_marked():
    kinds = {k["kind"]: k for k in probes.kinds()}
    assert set(kinds) == set(probes.KIND_MODULES)
    http = {o["name"]: o for o in kinds["http"]["options"]}
    assert http["cert_warn_days"]["default"] == 14 and http["password"]["secret"] is True
    assert probes.secret_names("postgres") == {"password"}


# -- http ----------------------------------------------------------------------------------------
def test_http_status_keyword_and_json_path():
    with ps.http_server() as base:
        ok = probes.run("http", f"{base}/ok", {"keyword": "运行正常"}, timeout_s=3)
        assert ok.ok and ok.data["status"] == 200 and ok.latency_ms is not None
        assert probes.run("http", f"{base}/json", {"json_path": "data.items.0.state", "expect": "green"}).ok
        wrong = probes.run("http", f"{base}/ok", {"keyword": "absent-word"})
        assert not wrong.ok and "absent-word" in wrong.detail
        bad_path = probes.run("http", f"{base}/json", {"json_path": "data.items.3.state"})
        assert not bad_path.ok and "JSON 路径" in bad_path.detail
        unexpected = probes.run("http", f"{base}/json", {"json_path": "status", "expect": "down"})
        assert not unexpected.ok and "'up'" in unexpected.detail
        failing = probes.run("http", f"{base}/fail")
        assert not failing.ok and "503" in failing.detail
        assert probes.run("http", f"{base}/fail", {"status": "503"}).ok
        assert probes.run("http", f"{base}/auth", {"username": "user", "password": "s3cret"}).ok
        assert not probes.run("http", f"{base}/auth").ok


def test_https_self_signed_reads_the_certificate_days(tmp_path):
    with ps.http_server(ps.make_cert(tmp_path, days_valid=200)) as base:
        strict = probes.run("http", f"{base}/ok", timeout_s=3)
        assert not strict.ok and "不受信任" in strict.detail and strict.data["cert_days_left"] > 190
        lax = probes.run("http", f"{base}/ok", {"verify": "false"}, timeout_s=3)
        assert lax.ok and 198 < lax.data["cert_days_left"] <= 200
        warn = probes.run("http", f"{base}/ok", {"verify": "false", "cert_warn_days": 365}, timeout_s=3)
        assert not warn.ok and "证书将在" in warn.detail


def test_https_expired_certificate_fails_even_without_verification(tmp_path):
    with ps.http_server(ps.make_cert(tmp_path, expired=True)) as base:
        r = probes.run("http", f"{base}/ok", {"verify": "false"}, timeout_s=3)
        assert not r.ok and "过期" in r.detail and r.data["cert_days_left"] < 0
        strict = probes.run("http", f"{base}/ok", timeout_s=3)
        assert not strict.ok and r.data["cert_days_left"] < 0


def test_http_refused_and_timeout():
    port = ps.free_port()
    r = probes.run("http", f"http://127.0.0.1:{port}/", timeout_s=2)
    assert not r.ok and "拒绝" in r.detail
    with ps.silent_server() as port:
        r = probes.run("http", f"http://127.0.0.1:{port}/", timeout_s=0.5)
        assert not r.ok and "超时" in r.detail and r.latency_ms < 3000


# -- tcp / reach ---------------------------------------------------------------------------------
def test_tcp_and_reach():
    with ps.silent_server() as port:
        assert probes.run("tcp", f"127.0.0.1:{port}").ok
    closed = ps.free_port()
    refused = probes.run("tcp", f"127.0.0.1:{closed}", timeout_s=1)
    assert not refused.ok and "拒绝" in refused.detail
    up = probes.run("reach", "127.0.0.1", {"ports": str(closed)}, timeout_s=1)
    assert up.ok and up.data["open"] is False  # a refusal proves the host is there
    gone = probes.run("reach", "no-such-host.invalid", {"ports": "80"}, timeout_s=1)
    assert not gone.ok and "不可达" in gone.detail


def test_redis_timeout_on_a_socket_that_never_answers():
    with ps.silent_server() as port:
        r = probes.run("redis", f"127.0.0.1:{port}", timeout_s=0.4)
        assert not r.ok and "超时" in r.detail


# -- dns / sip -----------------------------------------------------------------------------------
def test_dns_against_a_local_responder():
    answer = ps.dns_answer({("portal.cn.local", "A"): ["10.1.2.3", "10.1.2.4"],
                            ("www.cn.local", "CNAME"): ["portal.cn.local."]})
    with ps.udp_server(answer) as port:
        server = f"127.0.0.1:{port}"
        r = probes.run("dns", "portal.cn.local", {"server": server, "expect": "10.1.2.4"}, timeout_s=2)
        assert r.ok and sorted(r.data["answers"]) == ["10.1.2.3", "10.1.2.4"]  # servers may rotate the order
        assert probes.run("dns", "www.cn.local", {"server": server, "type": "CNAME", "expect": "portal.cn.local"}).ok
        wrong = probes.run("dns", "portal.cn.local", {"server": server, "expect": "10.9.9.9"})
        assert not wrong.ok and "期望 10.9.9.9" in wrong.detail
        missing = probes.run("dns", "nothing.cn.local", {"server": server})
        assert not missing.ok and "NXDOMAIN" in missing.detail
    with ps.udp_server(lambda _data: None) as port:
        silent = probes.run("dns", "portal.cn.local", {"server": f"127.0.0.1:{port}"}, timeout_s=0.5)
        assert not silent.ok and "超时" in silent.detail


def test_sip_options_any_final_answer_is_alive():
    with ps.udp_server(ps.sip_answer(200, "OK")) as port:
        r = probes.run("sip", f"127.0.0.1:{port}", timeout_s=2)
        assert r.ok and r.data["sip_code"] == 200 and r.data["server"] == "test-uas"
    with ps.udp_server(ps.sip_answer(503, "Service Unavailable")) as port:
        r = probes.run("sip", f"127.0.0.1:{port}", timeout_s=2)
        assert r.ok and r.data["sip_code"] == 503
    with ps.udp_server(lambda _data: None) as port:
        r = probes.run("sip", f"127.0.0.1:{port}", timeout_s=0.6)
        assert not r.ok and "超时" in r.detail


# -- host ----------------------------------------------------------------------------------------
def test_host_node_exporter_computes_usage_and_thresholds():
    with ps.http_server() as base:
        r = probes.run("host", f"{base}/metrics", timeout_s=2)
        assert r.ok, r.detail
        assert (r.data["cpu_pct"], r.data["mem_pct"], r.data["disk_pct"], r.data["disk_mount"]) == (25.0, 75.0, 85.0, "/data")
        over = probes.run("host", f"{base}/metrics", {"mem_max": 70, "disk_max": 80}, timeout_s=2)
        assert not over.ok and "内存 75%" in over.detail and "磁盘 85%" in over.detail
        bad = probes.run("host", f"{base}/ok", timeout_s=2)
        assert not bad.ok and "无法解析" in bad.detail


def test_host_over_ssh_runs_one_command():
    with ps.ssh_server() as (port, commands, server):
        r = probes.run("host", f"127.0.0.1:{port}", {"mode": "ssh", "username": "ops", "password": "pw"}, timeout_s=5)
        assert r.ok is False and "磁盘 93%" in r.detail  # /data is 93 % full, above 90 %
        assert r.data == {"cpu_pct": 12.5, "mem_pct": 25.0, "disk_pct": 93.0, "disk_mount": "/data"}
        assert commands == [host_probe.SSH_COMMAND]
        assert r.learned == {"host_key": server.fingerprint}  # first use: the key to pin
        denied = probes.run("host", f"127.0.0.1:{port}", {"mode": "ssh", "username": "ops", "password": "no"},
                            timeout_s=5)
        assert not denied.ok and "SSH" in denied.detail and denied.learned == {}


def test_ssh_host_key_is_checked_before_the_password_is_sent():
    """A pinned fingerprint admits that host; any other key is refused before authenticating."""
    with ps.ssh_server() as (port, commands, server):
        opts = {"mode": "ssh", "username": "ops", "password": "pw", "disk_max": 95}
        ok = probes.run("host", f"127.0.0.1:{port}", {**opts, "host_key": server.fingerprint}, timeout_s=5)
        assert ok.ok and ok.learned == {} and server.auths == ["ops"]
        other = "SHA256:" + "A" * 43
        bad = probes.run("host", f"127.0.0.1:{port}", {**opts, "host_key": other}, timeout_s=5)
        assert not bad.ok and "主机密钥与登记的指纹不符" in bad.detail and server.fingerprint in bad.detail
        assert bad.data == {"host_key": server.fingerprint}
        assert server.auths == ["ops"] and len(commands) == 1  # no password offered, nothing run
    with pytest.raises(Invalid, match="SHA256"):
        probes.run("host", "10.0.0.1", {"mode": "ssh", "host_key": "MD5:12:34"})


# -- real services -------------------------------------------------------------------------------
def test_postgres():
    need(5432, "PostgreSQL")
    assert probes.run("postgres", "127.0.0.1", {"database": "test", "expect": "1"}).ok
    r = probes.run("postgres", "127.0.0.1:5432", {"database": "test", "query": "select 2", "expect": "1"})
    assert not r.ok and "期望" in r.detail
    bad = probes.run("postgres", "127.0.0.1", {"database": "test", "query": "select nonsense_column"})
    assert not bad.ok and "PostgreSQL" in bad.detail
    refused = probes.run("postgres", f"127.0.0.1:{ps.free_port()}", timeout_s=2)
    assert not refused.ok


def test_mysql():
    need(3306, "MariaDB")
    r = probes.run("mysql", "127.0.0.1", {"database": "test", "query": "select version()"}, timeout_s=5)
    assert r.ok and r.data["value"]
    denied = probes.run("mysql", "127.0.0.1", {"user": "nobody-here", "password": "x"}, timeout_s=5)
    assert not denied.ok and "MySQL" in denied.detail


def test_redis():
    need(6379, "Redis")
    r = probes.run("redis", "127.0.0.1:6379")
    assert r.ok and r.data["reply"] == "PONG"
    refused = probes.run("redis", f"127.0.0.1:{ps.free_port()}")
    assert not refused.ok and "拒绝" in refused.detail


def test_mqtt_round_trip():
    need(1883, "Mosquitto")
    r = probes.run("mqtt", "127.0.0.1:1883", timeout_s=5)
    assert r.ok and r.data["round_trip_ms"] >= 0
    refused = probes.run("mqtt", f"127.0.0.1:{ps.free_port()}", timeout_s=2)
    assert not refused.ok


def test_push_needs_the_database():
    with pytest.raises(Invalid, match="数据库"):
        probes.run("push", "token")
