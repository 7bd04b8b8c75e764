"""Console pages 自动巡检 and 巡检发现 over HTTP (OPS-1): list, create with errors shown beside
the form, edit keeping secrets, run now, detail with chart data, findings resolve; roles, CSRF."""

from __future__ import annotations

import re

from cityops.inspections import findings, probe_service as svc
from tests.conftest import PASSWORD
from tests.inspections import probe_servers as ps


def _login(client, make_user, role, street=None):
    client.cookies.clear()
    name = make_user(role, street)
    r = client.post("/login", data={"username": name, "password": PASSWORD})
    assert r.status_code in (200, 303)
    return name


def _csrf(html):
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_manager_creates_edits_runs_and_deletes(client, make_user, db):
    _login(client, make_user, "manager")
    html = client.get("/console/probes").text
    assert "自动巡检" in html and 'id="probe-form"' in html and 'data-kind="redis"' in html
    csrf = _csrf(html)
    bad = client.post("/console/probes", data={"csrf": csrf, "name": "坏", "kind": "http", "target": "nota url",
                                               "interval_s": "60", "timeout_s": "5", "fail_after": "2",
                                               "severity": "major", "ticket_policy": "never", "enabled": "1"})
    assert bad.status_code == 422 and "未能添加" in bad.text and "URL" in bad.text and 'value="坏"' in bad.text
    with ps.http_server() as base:
        form = {"csrf": csrf, "name": "门户", "kind": "http", "target": f"{base}/ok", "interval_s": "60",
                "timeout_s": "5", "fail_after": "1", "severity": "major", "ticket_policy": "never", "enabled": "1",
                "opt.http.keyword": "ok", "opt.http.password": "pw-secret", "opt.redis.password": "ignored"}
        r = client.post("/console/probes", data=form, follow_redirects=True)
        assert r.status_code == 200 and "已添加探针「门户」" in r.text
        with db.session() as s:
            p = svc.list_probes(s)[0][0]
            assert p.options == {"keyword": "ok"} and p.secrets == {"password": "pw-secret"}
        edit = client.get(f"/console/probes?edit={p.id}").text
        assert "pw-secret" not in edit and "******" in edit
        r = client.post(f"/console/probes/{p.id}", data={**form, "opt.http.password": "******", "interval_s": "120"},
                        follow_redirects=True)
        assert "已保存「门户」" in r.text
        r = client.post(f"/console/probes/{p.id}/run", data={"csrf": csrf}, follow_redirects=True)
        assert "「门户」正常" in r.text
    with db.session() as s:
        p = svc.get_probe(s, p.id)
        assert p.interval_s == 120 and p.secrets == {"password": "pw-secret"} and p.state == "ok"
    detail = client.get(f"/console/probes/{p.id}")
    assert detail.status_code == 200 and 'id="probe-chart-data"' in detail.text and "HTTP 200" in detail.text
    assert client.post(f"/console/probes/{p.id}/run", data={"csrf": "forged"}).status_code == 403
    r = client.post(f"/console/probes/{p.id}/delete", data={"csrf": csrf}, follow_redirects=True)
    assert "已删除" in r.text
    assert client.get(f"/console/probes/{p.id}").status_code == 404


def test_read_only_roles_and_street(client, make_user, db):
    with db.session() as s:
        p = svc.create_probe(s, {"name": "端口", "kind": "tcp", "target": "127.0.0.1:1", "ticket_policy": "never"})
    _login(client, make_user, "auditor")
    html = client.get("/console/probes").text
    assert "端口" in html and "立即执行" not in html and 'id="probe-form"' not in html
    assert client.post(f"/console/probes/{p.id}/run", data={"csrf": _csrf(client.get('/console/').text)}).status_code == 403
    _login(client, make_user, "duty")
    html = client.get("/console/probes").text
    assert "立即执行" in html and 'id="probe-form"' not in html
    _login(client, make_user, "street", "310105002")
    assert client.get("/console/probes").status_code == 403
    assert client.get("/console/findings").status_code == 403


def test_findings_page_open_first_and_resolve(client, make_user, db):
    with db.session() as s:
        a = findings.raise_finding(s, key="probe:77", source="probe", title="门户不可达", severity="critical",
                                   ticket_policy="never").id
        b = findings.raise_finding(s, key="checklist:1:t", source="checklist", title="机房温度高", severity="warning",
                                   ticket_policy="never").id
    _login(client, make_user, "technician")
    html = client.get("/console/findings").text
    assert html.index(f'id="finding-{a}"') < html.index(f'id="finding-{b}"')
    csrf = _csrf(html)
    r = client.post(f"/console/findings/{a}/resolve", data={"csrf": csrf, "note": ""}, follow_redirects=True)
    assert "请填写处理说明" in r.text
    r = client.post(f"/console/findings/{a}/resolve", data={"csrf": csrf, "note": "已重启"}, follow_redirects=True)
    assert "已解决：门户不可达" in r.text and f'id="finding-{a}"' not in r.text
    everything = client.get("/console/findings?state=all").text
    assert "已重启" in everything and everything.index(f'id="finding-{b}"') < everything.index(f'id="finding-{a}"')


def test_detail_shows_the_pinned_ssh_host_key(client, make_user, db):
    """OPS-1: a host probe over SSH shows whether its host key is pinned, and which one."""
    _login(client, make_user, "technician")
    with ps.ssh_server() as (port, _commands, server):
        with db.session() as s:
            p = svc.create_probe(s, {"name": "应用服务器", "kind": "host", "target": f"127.0.0.1:{port}",
                                     "ticket_policy": "never", "timeout_s": 5,
                                     "options": {"mode": "ssh", "username": "ops", "password": "pw"}})
            pid = p.id
        assert "尚未登记" in client.get(f"/console/probes/{pid}").text
        csrf = _csrf(client.get(f"/console/probes/{pid}").text)
        r = client.post(f"/console/probes/{pid}/run", data={"csrf": csrf}, follow_redirects=True)
        assert r.status_code == 200
    html = client.get(f"/console/probes/{pid}").text
    key = re.search(r'id="host-key">([^<]*)<', html).group(1)
    assert key.startswith(server.fingerprint) and "已登记" in key
