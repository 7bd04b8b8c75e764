"""Call lists (CALL-4): CSV/XLSX import with Chinese or English headers, validation,
de-duplication, do-not-call marking, dry run, expiry and freshness, DNC and opt-out."""

from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from openpyxl import Workbook

from cityops.callout import lists
from cityops.callout.list_models import CallList, CallListEntry, DoNotCall
from cityops.core.errors import Conflict, Invalid

CSV = ("姓名,电话,业务编号,同意来源,街镇\n"
       "张三,13912345678,EV-1,来电同意,华阳路街道\n"
       "李四,021-62345678,EV-2,来电同意,江苏路街道\n"
       "王五,+86 139 1234 5678,EV-3,来电同意,\n"
       "赵六,4008123123,EV-4,,\n"
       "钱七,13800001111,EV-5,来电同意,\n"
       ",,,,\n")


def _entries(s, list_id):
    return {e.row: e for e in s.query(CallListEntry).filter_by(list_id=list_id)}


def test_import_csv_validates_dedups_and_marks_dnc(db):
    with db.session() as s:
        lists.add_dnc(s, "13800001111", None, reason="本人要求", created_by="duty1")
    with db.session() as s:
        r = lists.import_list(s, ("\ufeff" + CSV).encode("utf-8"), "回访.csv", name="11月回访", scenario="hotline_callback",
                              source="12345 工单", consent_basis="来电时同意回访", created_by="duty1")
        assert r.counts == {"total": 5, "ok": 2, "invalid": 1, "duplicate": 1, "dnc": 1}
        assert [(e["row"], e["status"]) for e in r.errors] == [(4, "duplicate"), (5, "invalid"), (6, "dnc")]
        list_id = r.list_id
    with db.session() as s:
        cl = s.get(CallList, list_id)
        assert (cl.total, cl.ok_count, cl.invalid_count, cl.duplicate_count, cl.dnc_count) == (5, 2, 1, 1, 1)
        rows = _entries(s, list_id)
        assert rows[2].number_e164 == "+8613912345678" and rows[2].kind == "mobile" and rows[2].name == "张三"
        assert rows[2].business_ref == "EV-1" and rows[2].consent_source == "来电同意"
        assert rows[2].extra == {"街镇": "华阳路街道"}
        assert rows[3].kind == "fixed" and rows[3].status == "ok"
        assert rows[4].status == "duplicate" and "第 2 行" in rows[4].reason
        assert rows[5].status == "invalid" and "400" in rows[5].reason and rows[5].raw_number == "4008123123"
        assert rows[6].status == "dnc"


def test_gbk_csv_and_english_headers(db):
    gbk = "姓名,号码\n张三,13912345678\n".encode("gbk")
    eng = b"name,phone,ref,consent\nZhang,13912345678,WO-9,app\n"
    with db.session() as s:
        a = lists.import_list(s, gbk, "a.csv", name="gbk", scenario="notice")
        b = lists.import_list(s, eng, "b.csv", name="eng", scenario="notice")
        assert a.counts["ok"] == 1 and b.counts["ok"] == 1
        e = s.query(CallListEntry).filter_by(list_id=b.list_id).one()
        assert (e.name, e.business_ref, e.consent_source) == ("Zhang", "WO-9", "app")


def test_xlsx_import_with_numeric_cells(db):
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "手机号", "业务编号"])
    ws.append(["张三", 13912345678, "AL-1"])  # Excel keeps a typed number as a number
    ws.append(["李四", "95588", "AL-2"])
    buf = BytesIO()
    wb.save(buf)
    with db.session() as s:
        r = lists.import_list(s, buf.getvalue(), "list.xlsx", name="告警", scenario="iot_alert")
        assert r.counts == {"total": 2, "ok": 1, "invalid": 1, "duplicate": 0, "dnc": 0}
        assert _entries(s, r.list_id)[2].number_e164 == "+8613912345678"


def test_dry_run_saves_nothing(db):
    with db.session() as s:
        r = lists.import_list(s, CSV.encode(), "x.csv", name="试", scenario="notice", dry_run=True)
        assert r.dry_run and r.list_id is None and r.counts["total"] == 5 and r.errors
    with db.session() as s:
        assert s.query(CallList).count() == 0 and s.query(CallListEntry).count() == 0


def test_import_refuses_bad_input(db):
    with db.session() as s:
        with pytest.raises(Invalid, match="电话列"):
            lists.import_list(s, b"name,ref\nA,1\n", "x.csv", name="x", scenario="notice")
        with pytest.raises(Invalid, match="未知场景"):
            lists.import_list(s, CSV.encode(), "x.csv", name="x", scenario="marketing")
        with pytest.raises(Invalid, match="xlsx"):
            lists.import_list(s, b"PK\x03\x04broken", "x.xlsx", name="x", scenario="notice")


def test_expiry_and_freshness(db):
    now = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    with db.session() as s:
        r = lists.import_list(s, CSV.encode(), "x.csv", name="x", scenario="notice", valid_until=now + timedelta(days=1))
        cl = s.get(CallList, r.list_id)
        cl.created_at = now - timedelta(days=31)
        assert not lists.is_expired(cl, now) and lists.is_expired(cl, now + timedelta(days=1))
        assert lists.is_stale(cl, now) and not lists.is_stale(cl, now, days=40)
        cl.valid_until = None
        assert not lists.is_expired(cl, now + timedelta(days=3650))


def test_dnc_add_remove_and_uniqueness(db):
    with db.session() as s:
        g = lists.add_dnc(s, "139-1234-5678", None, reason="投诉")
        sc = lists.add_dnc(s, "13912345678", "notice")
        assert g.number_e164 == sc.number_e164 == "+8613912345678" and g.scenario is None
        with pytest.raises(Conflict):
            lists.add_dnc(s, "+8613912345678", None)
        with pytest.raises(Conflict):
            lists.add_dnc(s, "13912345678", "notice")
        with pytest.raises(Invalid, match="号码无效"):
            lists.add_dnc(s, "110")
        lists.remove_dnc(s, g.id)
        assert [d.scenario for d in s.query(DoNotCall)] == ["notice"]


def test_opt_out_marks_existing_entries_at_once(db):
    with db.session() as s:
        r1 = lists.import_list(s, CSV.encode(), "x.csv", name="回访", scenario="hotline_callback")
        r2 = lists.import_list(s, CSV.encode(), "y.csv", name="提醒", scenario="notice")
    with db.session() as s:
        row = lists.opt_out(s, "13912345678", "hotline_callback", via="key_press")
        assert row.source == "opt_out" and row.reason == "按键退订" and row.scenario == "hotline_callback"
        assert lists.opt_out(s, "13912345678", "hotline_callback").id == row.id  # idempotent
    with db.session() as s:
        assert _entries(s, r1.list_id)[2].status == "dnc"
        assert s.get(CallList, r1.list_id).ok_count == 2 and s.get(CallList, r1.list_id).dnc_count == 1
        assert _entries(s, r2.list_id)[2].status == "ok"  # another scenario is not affected


def test_do_not_call_numbers_are_masked_in_the_audit_chain(db):
    """CALL-4 / SYS-SEC: the chain keeps who blocked which number, never the number in full."""
    from sqlalchemy import select

    from cityops.audit.models import AuditEntry
    from cityops.callout import lists as call_lists

    with db.session() as s:
        call_lists.add_dnc(s, "13912345678", reason="本人要求", created_by="duty1")
    with db.session() as s:
        entries = [e for e in s.scalars(select(AuditEntry)) if e.entity == "callout_dnc"]
    assert entries, "adding a do-not-call entry is audited"
    text = repr([(e.before, e.after) for e in entries])
    assert "13912345678" not in text and "5678" in text
