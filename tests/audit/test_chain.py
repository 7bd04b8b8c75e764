"""The hash-chained, HMAC-keyed audit log (SVC-3, SYS-SEC)."""

from sqlalchemy import select, text, update

from cityops.audit import service as audit
from cityops.audit.context import acting_as
from cityops.audit.models import AuditEntry
from cityops.geo.models import ResponsibleUnit


def _unit_change(db, name="x", actor="tester"):
    with acting_as(actor, "10.0.0.9"), db.session() as s:
        unit = s.scalar(select(ResponsibleUnit).order_by(ResponsibleUnit.id))
        unit.contact_name = name
        unit.contact_phone = "13800138000"
        return unit.id


def test_every_write_is_recorded_with_before_and_after(db):
    uid = _unit_change(db, "李四")
    with db.session() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.entity == "responsible_units",
                                               AuditEntry.action == "update")
                      .order_by(AuditEntry.seq.desc())).first()
        assert e.entity_id == str(uid) and e.actor == "tester" and e.ip == "10.0.0.9"
        assert e.before["contact_name"] == "" and e.after["contact_name"] == "李四"
        assert e.after["contact_phone"] == "138****8000", "phone numbers are masked in the audit log"


def test_password_hashes_never_enter_the_log(db):
    from cityops.auth import service

    with db.session() as s:
        service.create_user(s, username="hashcheck", role="duty", password="Duty-pass-2026")
    with db.session() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.entity == "users").order_by(AuditEntry.seq.desc())).first()
        assert e.action == "create" and "password_hash" not in e.after and e.after["username"] == "hashcheck"


def test_chain_verifies(db):
    _unit_change(db, "a")
    _unit_change(db, "b")
    with db.session() as s:
        result = audit.verify(s)
    assert result.ok and result.checked > 10


def test_tampered_content_is_found_at_its_entry(db):
    _unit_change(db, "original")
    with db.session() as s:
        target = s.scalars(select(AuditEntry).where(AuditEntry.action == "update")
                           .order_by(AuditEntry.seq.desc())).first().seq
    _unit_change(db, "later")
    with db.engine.begin() as conn:  # an attacker with database access edits history
        conn.execute(update(AuditEntry).where(AuditEntry.seq == target)
                     .values(after={"contact_name": "forged", "contact_phone": "138****8000"}))
    with db.session() as s:
        result = audit.verify(s)
    assert not result.ok and result.first_broken_seq == target
    assert "哈希" in result.reason and "改动" in result.reason


def test_deleted_entry_and_truncated_tail_are_found(db):
    _unit_change(db, "one")
    _unit_change(db, "two")
    with db.session() as s:
        last = s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()))
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": last - 1})
    with db.session() as s:
        result = audit.verify(s)
    assert not result.ok and result.first_broken_seq == last - 1
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq >= :s"), {"s": last - 1})
    with db.session() as s:
        result = audit.verify(s)
    assert not result.ok and "链头" in result.reason


def test_rehashing_without_the_key_cannot_hide_tampering(db):
    """An attacker who recomputes plain SHA-256 links still fails: links are HMAC-keyed."""
    import hashlib

    _unit_change(db, "victim")
    with db.session() as s:
        e = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        forged = hashlib.sha256(b"forged").hexdigest()
    with db.engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.seq == e.seq).values(hash=forged))
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": forged})
    with db.session() as s:
        result = audit.verify(s)
    assert not result.ok and result.first_broken_seq == e.seq


def test_audit_api_lists_and_verifies(client, auth_headers):
    admin = auth_headers("admin")
    unit = client.get("/api/v1/units", headers=admin).json()[0]
    client.patch(f"/api/v1/units/{unit['id']}", json={"contact_name": "王五"}, headers=admin)
    r = client.get("/api/v1/audit?entity=responsible_units", headers=admin).json()
    top = r["items"][0]
    assert top["action"] == "update" and top["after"] == {"contact_name": "王五"}
    assert top["actor"].startswith("admin") and top["at"].endswith("+08:00")
    assert client.post("/api/v1/audit/verify", headers=admin).json()["ok"] is True
    auditor = auth_headers("auditor")
    assert client.get("/api/v1/audit", headers=auditor).status_code == 200
    assert client.get("/api/v1/audit", headers=auth_headers("duty")).status_code == 403
    logins = client.get("/api/v1/audit?entity=users", headers=admin).json()["items"]
    assert any(e["action"] == "auth.login" for e in logins)


def test_concurrent_writers_keep_one_chain(db):
    """Two threads writing at once never fork the chain (lock on the head row)."""
    import threading

    errors = []

    def work(n):
        try:
            for i in range(5):
                _unit_change(db, f"t{n}-{i}", actor=f"w{n}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.session() as s:
        assert audit.verify(s).ok
