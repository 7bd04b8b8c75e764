"""Configured probes (OPS-1): CRUD and validation, runs and history, findings after
`fail_after` failures, the scheduler job (claims, leases, concurrency), push, retention, seeding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cityops.audit.models import AuditEntry
from cityops.catalog.models import Module, System
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.inspections import findings, probe_jobs, probe_seed, probe_service as svc
from cityops.inspections.probe_models import Probe, ProbeRun
from tests.inspections import probe_servers as ps

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _tcp(s, port: int, **extra) -> Probe:
    data = {"name": f"tcp {port}", "kind": "tcp", "target": f"127.0.0.1:{port}", "ticket_policy": "never",
            "timeout_s": 1, "interval_s": 60} | extra
    return svc.create_probe(s, data, actor="mgr", now=T0)


def test_create_validates_and_keeps_secrets_out_of_the_audit_chain(db):
    with db.session() as s:
        with pytest.raises(Invalid, match="未知的探针类型"):
            svc.create_probe(s, {"name": "x", "kind": "gopher", "target": "h"})
        with pytest.raises(Invalid, match="没有选项"):
            svc.create_probe(s, {"name": "x", "kind": "tcp", "target": "h:1", "options": {"nope": 1}})
        with pytest.raises(Invalid, match="超时必须小于执行间隔"):
            svc.create_probe(s, {"name": "x", "kind": "tcp", "target": "h:1", "interval_s": 10, "timeout_s": 10})
        with pytest.raises(Invalid, match="系统"):
            svc.create_probe(s, {"name": "x", "kind": "tcp", "target": "h:1", "system_code": "SYS-NOPE"})
        with pytest.raises(Invalid, match="工单策略"):
            svc.create_probe(s, {"name": "x", "kind": "tcp", "target": "h:1", "ticket_policy": "sometimes"})
        p = svc.create_probe(s, {"name": "库", "kind": "postgres", "target": "127.0.0.1",
                                 "options": {"password": "hunter2", "database": "test"}}, actor="mgr", now=T0)
        assert p.options == {"database": "test"} and p.secrets == {"password": "hunter2"}
        assert p.next_run_at == T0 and p.state == "unknown"
        with pytest.raises(Conflict):
            svc.create_probe(s, {"name": "库", "kind": "tcp", "target": "h:1"})
        # the mask keeps the stored secret; a new value replaces it
        svc.update_probe(s, p.id, {"options": {"password": "******", "database": "test2"}})
        assert p.secrets == {"password": "hunter2"} and p.options == {"database": "test2"}
        with pytest.raises(Invalid, match="类型创建后不能修改"):
            svc.update_probe(s, p.id, {"kind": "tcp"})
        s.flush()
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "inspection_probes")).all()
        assert entries and all("hunter2" not in str(e.after) + str(e.before) for e in entries)


def test_module_fills_the_system_and_probes_for_finds_it(db):
    with db.session() as s:
        module = s.scalars(select(Module).limit(1)).first()
        if module is None:
            pytest.skip("the catalog seed has no modules")
        p = _tcp(s, 1, module_id=module.id)
        assert p.system_code == module.system.code
        other = _tcp(s, 2, name="other")
        assert [x.id for x in svc.probes_for(s, system_code=module.system.code)] == [p.id]
        assert [x.id for x in svc.probes_for(s, module_id=module.id)] == [p.id]
        svc.update_probe(s, p.id, {"enabled": False})
        assert svc.probes_for(s, module_id=module.id) == [] and other.enabled


def test_failures_raise_a_finding_after_fail_after_and_success_clears_it(db):
    port = ps.free_port()  # nothing listens: refused
    with db.session() as s:
        p = _tcp(s, port, fail_after=2, severity="warning")
        r1 = svc.run_probe_now(s, p.id, now=T0)
        assert not r1.ok and p.state == "failing" and p.consecutive_failures == 1
        assert findings.open_finding(s, f"probe:{p.id}") is None
        svc.run_probe_now(s, p.id, now=T0 + timedelta(minutes=1))
        f = findings.open_finding(s, f"probe:{p.id}")
        assert f is not None and f.source == "probe" and f.severity == "warning" and "拒绝" in f.detail
        svc.run_probe_now(s, p.id, now=T0 + timedelta(minutes=2))
        assert f.occurrences == 2
        assert p.next_run_at == T0 + timedelta(minutes=3)
    with ps.silent_server() as live, db.session() as s:
        p = s.get(Probe, p.id)
        svc.update_probe(s, p.id, {"target": f"127.0.0.1:{live}"})
        ok = svc.run_probe_now(s, p.id, now=T0 + timedelta(minutes=3))
        assert ok.ok and p.state == "ok" and p.consecutive_failures == 0
        assert findings.get(s, f.id).state == "resolved"
        rows, total = svc.history(s, p.id)
        assert total == 4 and rows[0].ok and [r.ok for r in rows[1:]] == [False] * 3
        rows, total = svc.history(s, p.id, start=T0 + timedelta(seconds=30), end=T0 + timedelta(minutes=2))
        assert total == 2
        with pytest.raises(Invalid):
            svc.history(s, p.id, start=T0 + timedelta(hours=1), end=T0)


def test_list_puts_failing_first_and_filters(db):
    with ps.silent_server() as live, db.session() as s:
        good = _tcp(s, live, name="a-good")
        bad = _tcp(s, ps.free_port(), name="b-bad")
        never = _tcp(s, 9, name="c-never")
        svc.run_probe_now(s, good.id, now=T0)
        svc.run_probe_now(s, bad.id, now=T0)
        rows, total = svc.list_probes(s)
        assert [p.id for p in rows] == [bad.id, never.id, good.id] and total == 3
        assert [p.id for p in svc.list_probes(s, state="ok")[0]] == [good.id]
        with pytest.raises(Invalid):
            svc.list_probes(s, state="bogus")


def test_delete_clears_the_finding(db):
    with db.session() as s:
        p = _tcp(s, ps.free_port(), fail_after=1)
        svc.run_probe_now(s, p.id, now=T0)
        key = f"probe:{p.id}"
        assert findings.open_finding(s, key) is not None
        svc.delete_probe(s, p.id)
        assert findings.open_finding(s, key) is None
        with pytest.raises(NotFound):
            svc.get_probe(s, p.id)


def test_job_claims_due_probes_runs_them_in_parallel_and_recovers_leases(db):
    with ps.silent_server() as live:
        with db.session() as s:
            ids = [_tcp(s, live, name=f"p{i}").id for i in range(5)]
            _tcp(s, live, name="later").next_run_at = T0 + timedelta(hours=1)
        out = probe_jobs.run_due(db, now=T0, max_workers=4)
        assert out == {"ran": 5, "ok": 5, "failed": 0}
        assert probe_jobs.run_due(db, now=T0 + timedelta(seconds=10)) == {"ran": 0, "ok": 0, "failed": 0}
        # a process that claimed and died: the lease expires and another run takes the probe
        with db.session() as s:
            claimed = svc.claim_due(s, now=T0 + timedelta(minutes=1), limit=10)
            assert sorted(c.id for c in claimed) == ids
        assert probe_jobs.run_due(db, now=T0 + timedelta(minutes=1, seconds=5))["ran"] == 0
        assert probe_jobs.run_due(db, now=T0 + timedelta(minutes=3))["ran"] == 5
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(ProbeRun)) == 10


def test_push_probe_dead_mans_switch(db):
    with db.session() as s:
        p = svc.create_probe(s, {"name": "夜间备份", "kind": "push", "target": "backup",
                                 "options": {"period_s": 3600, "grace_s": 600}, "ticket_policy": "never",
                                 "fail_after": 1}, now=T0)
        token = p.push_token
        assert token and len(token) > 20
        assert svc.run_probe_now(s, p.id, now=T0 + timedelta(minutes=30)).ok  # still waiting for the first
        assert not svc.run_probe_now(s, p.id, now=T0 + timedelta(hours=2)).ok  # never pushed
        svc.record_push(s, token, now=T0 + timedelta(hours=2, minutes=1))
        r = svc.run_probe_now(s, p.id, now=T0 + timedelta(hours=2, minutes=5))
        assert r.ok and findings.open_finding(s, f"probe:{p.id}") is None
        assert not svc.run_probe_now(s, p.id, now=T0 + timedelta(hours=3, minutes=15)).ok  # > period + grace
        svc.record_push(s, token, ok=False, msg="磁盘已满", now=T0 + timedelta(hours=3, minutes=20))
        failed = svc.run_probe_now(s, p.id, now=T0 + timedelta(hours=3, minutes=21))
        assert not failed.ok and "磁盘已满" in failed.detail
        with pytest.raises(NotFound):
            svc.record_push(s, "wrong-token")


def test_retention_deletes_old_results_in_batches(db):
    with db.session() as s:
        p = _tcp(s, 1)
        for days in (100, 95, 91, 10, 1):
            s.add(ProbeRun(probe_id=p.id, at=T0 - timedelta(days=days), ok=True, latency_ms=1.0, detail="", data={}))
    assert probe_jobs.purge(db, now=T0, days=90, batch=2) == 3
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ProbeRun)) == 2


def test_seed_module_probes_and_demo_are_idempotent(db):
    with db.session() as s:
        system = s.scalars(select(System).limit(1)).first()
        if system is None or not system.modules:
            pytest.skip("the catalog seed has no modules")
        m = system.modules[0]
        m.health_check_url = "http://127.0.0.1:1/health"
        s.flush()
        assert probe_seed.seed_module_probes(s) >= 1
        assert probe_seed.seed_module_probes(s) == 0
        p = s.scalar(select(Probe).where(Probe.module_id == m.id))
        assert p.kind == "http" and p.target == m.health_check_url and p.system_code == system.code
        made = probe_seed.seed_demo(s, base_url="http://127.0.0.1:8080")
        assert {x.kind for x in made} == {"http", "tcp", "reach", "push"}
        assert probe_seed.seed_demo(s, base_url="http://127.0.0.1:8080") == []


def test_a_major_failure_opens_a_ticket_through_the_service_desk(db):
    """Depends on engineer C's `servicedesk.service.open_ticket`."""
    with db.session() as s:
        p = _tcp(s, ps.free_port(), fail_after=1, severity="major", ticket_policy="major")
        svc.run_probe_now(s, p.id, now=T0)
        f = findings.open_finding(s, f"probe:{p.id}")
        assert f.ticket_id is not None


def test_ssh_host_key_is_pinned_on_first_use_and_a_new_key_is_refused(db):
    """OPS-1 host probe over SSH: the first successful check pins the host's key (audited like an
    edit); a host answering with another key afterwards fails before any password is sent."""
    with ps.ssh_server() as (port, _commands, first), db.session() as s:
        p = svc.create_probe(s, {"name": "应用服务器", "kind": "host", "target": f"127.0.0.1:{port}",
                                 "ticket_policy": "never", "fail_after": 1, "timeout_s": 5,
                                 "options": {"mode": "ssh", "username": "ops", "password": "pw", "disk_max": 95}},
                             actor="mgr", now=T0)
        run = svc.run_probe_now(s, p.id, now=T0)
        assert run.ok and f"已登记主机密钥 {first.fingerprint}" in run.detail
        assert p.options["host_key"] == first.fingerprint and "password" not in p.options
        again = svc.run_probe_now(s, p.id, now=T0 + timedelta(minutes=1))
        assert again.ok and "已登记" not in again.detail
        pid = p.id
    with db.session() as s:
        afters = [e.after or {} for e in s.scalars(select(AuditEntry).where(AuditEntry.entity_id == str(pid),
                                                                            AuditEntry.action == "update"))]
        assert any((a.get("options") or {}).get("host_key") == first.fingerprint for a in afters)
    # the host is reinstalled (or impersonated) at a new address: a new key, refused
    with ps.ssh_server() as (port, commands, second), db.session() as s:
        svc.update_probe(s, pid, {"target": f"127.0.0.1:{port}"})
        bad = svc.run_probe_now(s, pid, now=T0 + timedelta(minutes=2))
        assert not bad.ok and "不符" in bad.detail and second.fingerprint in bad.detail
        assert second.auths == [] and commands == []
        assert s.get(Probe, pid).options["host_key"] == first.fingerprint  # never re-pinned by itself
        assert findings.open_finding(s, f"probe:{pid}") is not None
        # the operator checks the new key and pins it
        svc.update_probe(s, pid, {"options": {**s.get(Probe, pid).options, "host_key": second.fingerprint}})
        assert svc.run_probe_now(s, pid, now=T0 + timedelta(minutes=3)).ok
