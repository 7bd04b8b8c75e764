"""Bulk device import/export at service level (IOT-1 metadata correction, IOT-2 onboarding):
file parsing (XLSX, CSV with/without BOM, GBK), the dry-run plan (errors, create / update
with diff / unchanged), apply through devices.service (versions, audit, source "import"),
idempotence and the export → re-import round trip."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from cityops.audit.context import acting_as
from cityops.audit.models import AuditEntry
from cityops.core.errors import Invalid
from cityops.devices import service, transfer
from cityops.devices.models import DeviceVersion
from cityops.geo import lookup
from cityops.geo.models import Street

HEADERS = [c.header for c in transfer.COLUMNS]




def street_points(session, per_street: int = 12) -> dict[str, list[tuple[float, float]]]:
    """Points that lie inside each street (checked with the geo index), near its reference point."""
    index = lookup.index_for(session)
    out: dict[str, list[tuple[float, float]]] = {}
    for s in session.scalars(select(Street).order_by(Street.code)):
        pts = []
        for i in range(-4, 5):
            for j in range(-4, 5):
                lon, lat = round(s.approx_lon + i * 0.0004, 6), round(s.approx_lat + j * 0.0003, 6)
                if index.locate(lon, lat).street_code == s.code:
                    pts.append((lon, lat))
        assert pts, s.code
        out[s.code] = (pts * per_street)[:per_street]
    return out


def device_rows(session, n: int, *, prefix: str = "SMK") -> list[dict]:
    """`n` valid smoke-detector rows keyed on ctwing/<prefix>-#####, with streets by name."""
    pts = street_points(session)
    streets = {s.code: s.name for s in session.scalars(select(Street))}
    codes = sorted(pts)
    rows = []
    for i in range(n):
        sc = codes[i % len(codes)]
        lon, lat = pts[sc][i % len(pts[sc])]
        rows.append({"设备名称": f"{streets[sc]}独立式烟感{i:05d}", "产品型号": "SMOKE-NB-CTW", "接入平台": "ctwing",
                     "平台设备ID": f"{prefix}-{i:05d}", "IMEI": f"86{i:013d}", "地址": f"长宁区某路{i}号",
                     "经度": lon, "纬度": lat, "街镇": streets[sc], "安装日期": "2026-05-01", "状态": "在用",
                     "上报周期(秒)": "", "标签": "消防" if i % 4 == 0 else "", "上级设备": "", "责任单位": ""})
    return rows


def xlsx_bytes(rows: list[dict], headers: list[str] | None = None, title: str | None = None) -> bytes:
    headers = headers or list(rows[0])
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("设备")
    if title:
        ws.append([title])
    ws.append(headers)
    for r in rows:
        ws.append([r.get(h) for h in headers])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_text(rows: list[dict]) -> str:
    import csv

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def count_versions(session) -> int:
    return session.scalar(select(func.count(DeviceVersion.id)))


# -- parsing -------------------------------------------------------------------------------

def test_headers_match_tolerantly():
    """IOT-2: Chinese headers, English field names, spaces, case, full-width brackets, units."""
    assert transfer.match_header(" 设备名称 ") == "name"
    assert transfer.match_header("External_ID") == "external_id"
    assert transfer.match_header("externalid") == "external_id"
    assert transfer.match_header("上报周期（秒）") == "report_interval_s"
    assert transfer.match_header("上报周期") == "report_interval_s"
    assert transfer.match_header("经度(GCJ-02)") == "lon"
    assert transfer.match_header("imei") == "imei"
    assert transfer.match_header("STREET_CODE") == "street"
    assert transfer.match_header("备注") is None


def test_parse_xlsx_with_title_row_and_numbers():
    """IOT-2: first sheet, a title row above the header, Excel numbers and dates as cells;
    row numbers are the sheet's own."""
    rows = [{"设备名称": "a", "平台设备ID": 12345678901, "IMEI": 861234567890123, "安装日期": datetime(2026, 5, 1),
             "接入平台": "ctwing", "备注": "x"}]
    sheet = transfer.parse_upload(xlsx_bytes(rows, title="长宁区物联设备台账"), "devices.xlsx")
    assert sheet.fmt == "xlsx" and sheet.header_row == 2 and sheet.ignored == ["备注"]
    (number, values), = sheet.rows
    assert number == 3 and values["external_id"] == 12345678901 and values["imei"] == 861234567890123


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk", "utf-16"])
def test_parse_csv_encodings(encoding):
    """IOT-2: CSV as Excel saves it — UTF-8 with BOM, plain UTF-8, GBK (中文 Excel), UTF-16 tabs."""
    text = ("设备名称,接入平台,平台设备ID,街镇\r\n华阳路烟感,ctwing,A-1,华阳路街道\r\n,,,\r\n"
            "江苏路烟感,ctwing,A-2,江苏路\r\n")
    if encoding == "utf-16":
        text = text.replace(",", "\t")
    sheet = transfer.parse_upload(text.encode(encoding), "x.csv")
    assert [n for n, _ in sheet.rows] == [2, 4]
    assert sheet.rows[0][1] == {"name": "华阳路烟感", "platform": "ctwing", "external_id": "A-1",
                                "street": "华阳路街道"}


def test_parse_rejects_what_it_cannot_read():
    with pytest.raises(Invalid, match="header|表头"):
        transfer.parse_upload("a,b\r\n1,2\r\n".encode(), "x.csv")
    with pytest.raises(Invalid, match="平台设备ID"):
        transfer.parse_upload("设备名称,地址\r\nx,y\r\n".encode(), "x.csv")
    with pytest.raises(Invalid, match="xlsx"):
        transfer.parse_upload(b"PK\x03\x04garbage", "x.xlsx")
    with pytest.raises(Invalid, match=".xls"):
        transfer.parse_upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "x.xls")
    with pytest.raises(Invalid, match="empty|为空"):
        transfer.parse_upload(b"", "x.csv")


# -- plan and apply ------------------------------------------------------------------------

def test_plan_reports_errors_per_row_and_field(db):
    """IOT-1/IOT-2: each bad cell is named by its sheet row and field, in Chinese and English."""
    with db.session() as s:
        rows = device_rows(s, 12)
        rows[0]["产品型号"] = "NOPE"
        rows[1]["IMEI"] = "8612345"
        rows[2]["经度"], rows[2]["纬度"] = rows[2]["纬度"], rows[2]["经度"]
        rows[3]["纬度"] = 95
        rows[4]["街镇"] = "外滩街道"
        rows[5]["平台设备ID"] = rows[6]["平台设备ID"]
        rows[7]["设备名称"] = ""
        rows[8]["上级设备"] = "ctwing/NO-SUCH-GW"
        rows[9]["安装日期"] = "2026-13-45"
        rows[10]["标签"] = "消防、不存在的标签"
        rows[11]["状态"] = "坏了"
        plan = transfer.plan_import(s, rows)
    got = sorted((e.row, e.field) for e in plan.errors)
    assert got == [(2, "product"), (3, "imei"), (4, "lon,lat"), (5, "lat"), (6, "street"), (7, "external_id"),
                   (8, "external_id"), (9, "name"), (10, "parent"), (11, "install_date"), (12, "tags"),
                   (13, "status")]
    msgs = {e.row: e for e in plan.errors}
    assert "未知产品型号" in msgs[2].message and "unknown product" in msgs[2].message
    assert "15" in msgs[3].message and msgs[3].column == "IMEI" and msgs[3].value == "8612345"
    assert "填反" in msgs[4].message and "swapped" in msgs[4].message
    assert "第 7、8 行" in msgs[7].message
    assert plan.counts == {"rows": 12, "create": 0, "update": 0, "unchanged": 0, "error": 12, "warnings": 0}


def test_apply_creates_then_is_idempotent(db):
    """IOT-2: creates go through create_device (version 1, source import, audit entry);
    tags land in the same version; a second run of the same rows changes nothing."""
    with acting_as("import-tester"), db.session() as s:
        rows = device_rows(s, 40)
        plan = transfer.plan_import(s, rows)
        assert plan.counts["create"] == 40 and not plan.errors
        assert plan.counts["warnings"] == 0, [r.warnings for r in plan.rows if r.warnings]
        counts = transfer.apply_import(s, plan, "第一批烟感接入")
    assert counts == {"created": 40, "updated": 0, "unchanged": 0, "skipped": 0}
    with db.session() as s:
        d = service.find_device(s, "ctwing", "SMK-00004")
        assert d.code.startswith("CN-IOT-") and d.imei == "860000000000004" and d.install_date == date(2026, 5, 1)
        assert d.street_code == s.scalar(select(Street.code).where(Street.name == rows[4]["街镇"]))
        assert d.grid_code and d.grid_code.startswith(d.street_code)
        assert [t.name for t in d.tags] == ["消防"]
        (v,) = service.versions(s, d.id)
        assert (v.version, v.source, v.reason, v.actor) == (1, "import", "第一批烟感接入", "import-tester")
        assert v.changes["tags"] == [None, ["消防"]] and v.snapshot["tags"] == ["scenario:消防"]
        assert v.changes["imei"] == [None, "860000000000004"]
        assert s.scalar(select(func.count(AuditEntry.seq)).where(AuditEntry.entity == "devices",
                                                                 AuditEntry.action == "create")) == 40
        assert s.scalar(select(func.count(AuditEntry.seq)).where(AuditEntry.action == "import")) == 1
        before = count_versions(s)
    with db.session() as s:
        plan = transfer.plan_import(s, rows)
        assert plan.counts["unchanged"] == 40
        assert transfer.apply_import(s, plan, "again") == {"created": 0, "updated": 0, "unchanged": 40, "skipped": 0}
    with db.session() as s:
        assert count_versions(s) == before


def test_update_shows_a_diff_and_writes_one_version(db):
    """IOT-1: a corrected sheet updates only what differs, shows old → new, and writes one
    version per device (tags included); empty cells keep values, "-" clears them."""
    with acting_as("tester"), db.session() as s:
        rows = device_rows(s, 3)
        transfer.apply_import(s, transfer.plan_import(s, rows), "init")
    with db.session() as s:
        d0 = service.find_device(s, "ctwing", "SMK-00000")
        old_addr, old_street = d0.address, d0.street_code
    changed = [dict(r) for r in rows]
    changed[0].update({"地址": "长宁路1号（更正）", "标签": "防汛、消防", "IMEI": ""})
    changed[1].update({"IMEI": "-", "状态": "维护中", "上报周期(秒)": 600})
    with acting_as("tester"), db.session() as s:
        plan = transfer.plan_import(s, changed)
        assert plan.counts == {"rows": 3, "create": 0, "update": 2, "unchanged": 1, "error": 0, "warnings": 0}
        r0, r1, _ = plan.rows
        assert {d["field"]: (d["old"], d["new"]) for d in r0.diff} == {
            "address": (old_addr, "长宁路1号（更正）"), "tags": ("消防", "消防、防汛")}
        assert {d["field"]: (d["old"], d["new"]) for d in r1.diff} == {
            "imei": ("860000000000001", ""), "status": ("在用", "维护中"), "report_interval_s": ("", 600)}
        report = plan.report()
        assert report["rows_total"] == 2 and report["rows"][0]["diff"][0]["label"] == "地址"
        assert transfer.apply_import(s, plan, "街镇核对") == {"created": 0, "updated": 2, "unchanged": 1,
                                                                "skipped": 0}
    with db.session() as s:
        d0 = service.find_device(s, "ctwing", "SMK-00000")
        assert d0.address == "长宁路1号（更正）" and d0.imei == "860000000000000" and d0.street_code == old_street
        assert sorted(t.name for t in d0.tags) == ["消防", "防汛"]
        latest = service.versions(s, d0.id)[0]
        assert latest.version == 2 and latest.source == "import" and latest.reason == "街镇核对"
        assert latest.changes == {"address": [old_addr, "长宁路1号（更正）"], "tags": [["消防"], ["消防", "防汛"]]}
        assert latest.snapshot["tags"] == ["scenario:消防", "scenario:防汛"]
        d1 = service.find_device(s, "ctwing", "SMK-00001")
        assert (d1.imei, d1.status, d1.report_interval_s, d1.version) == ("", "maintenance", 600, 2)
        # only tags changed → a version of its own
        only_tags = [dict(changed[0], 标签="消防")]
    with acting_as("tester"), db.session() as s:
        plan = transfer.plan_import(s, only_tags)
        assert [d["field"] for d in plan.rows[0].diff] == ["tags"]
        transfer.apply_import(s, plan, "去掉防汛")
    with db.session() as s:
        latest = service.versions(s, d0.id)[0]
        assert latest.version == 3 and latest.changes == {"tags": [["消防", "防汛"], ["消防"]]}


def test_moving_a_point_moves_street_and_grid(db):
    """IOT-1: new coordinates without a street re-derive street and grid, shown in the diff;
    a street that contradicts the point is a warning, not an error."""
    with acting_as("tester"), db.session() as s:
        rows = device_rows(s, 1)
        transfer.apply_import(s, transfer.plan_import(s, rows), "init")
        pts = street_points(s)
        lon, lat = pts["310105102"][0]  # 新泾镇
        moved = [dict(rows[0], 经度=lon, 纬度=lat, 街镇="")]
        plan = transfer.plan_import(s, moved)
        diff = {d["field"]: d for d in plan.rows[0].diff}
        assert set(diff) == {"lon", "lat", "street_code", "grid_code"}
        assert diff["street_code"]["new"] == "新泾镇（310105102）"
        transfer.apply_import(s, plan, "移机")
        d = service.find_device(s, "ctwing", "SMK-00000")
        assert d.street_code == "310105102" and d.grid_code.startswith("310105102-")
        contradict = [dict(rows[0], 经度=lon, 纬度=lat, 街镇="华阳路街道")]
        plan = transfer.plan_import(s, contradict)
        assert plan.rows[0].action == "update" and "与所填街镇不一致" in plan.rows[0].warnings[0]


def test_parents_in_the_same_file_and_cycles(db):
    """IOT-2: a gateway and its sensors arrive in one file (children may come first); a
    parent loop is refused; an existing device can be named by its code."""
    with acting_as("tester"), db.session() as s:
        rows = device_rows(s, 3, prefix="NODE")
        rows[0]["上级设备"] = "mqtt_json/GW-1"  # the gateway comes later in the file
        gw = dict(rows[1], 设备名称="边缘网关1", 产品型号="GATEWAY-MQTT", 接入平台="mqtt_json", 平台设备ID="GW-1",
                  IMEI="", 标签="")
        rows.append(gw)
        plan = transfer.plan_import(s, rows)
        assert plan.counts["create"] == 4 and not plan.errors
        transfer.apply_import(s, plan, "网关接入")
        gw_dev = service.find_device(s, "mqtt_json", "GW-1")
        assert service.find_device(s, "ctwing", "NODE-00000").parent_id == gw_dev.id
        # name the parent by code; a loop gateway → node → gateway is refused
        loop = [dict(rows[1], 上级设备=gw_dev.code), dict(gw, 上级设备="ctwing/NODE-00001")]
        plan = transfer.plan_import(s, loop)
        assert sorted((e.row, e.field) for e in plan.errors) == [(2, "parent"), (3, "parent")]
        assert "环路" in plan.errors[0].message
        self_parent = [dict(gw, 上级设备="mqtt_json/GW-1")]
        assert transfer.plan_import(s, self_parent).errors[0].field == "parent"


def test_codes_cannot_move_between_devices(db):
    """IOT-1: the key is (platform, external_id); a code that belongs to another device, or a
    changed code, is an error rather than a silent re-keying."""
    with acting_as("tester"), db.session() as s:
        rows = device_rows(s, 2)
        transfer.apply_import(s, transfer.plan_import(s, rows), "init")
        code0 = service.find_device(s, "ctwing", "SMK-00000").code
        plan = transfer.plan_import(s, [dict(rows[0], 设备编号="CN-IOT-999999"),
                                         dict(rows[1], 平台设备ID="SMK-NEW", 设备编号=code0),
                                         dict(rows[1], 平台设备ID="SMK-NEW2", 设备编号="MY-OWN-1")])
        assert [(e.row, e.field) for e in plan.errors] == [(2, "code"), (3, "code")]
        assert plan.rows[2].action == "create"
        transfer.apply_import(s, plan, "x")
        assert service.find_device(s, "ctwing", "SMK-NEW2").code == "MY-OWN-1"


def test_excel_number_pitfalls(db):
    """IOT-2: an ICCID saved as an Excel number has lost digits and is refused; an IMEI as a
    number cell is fine; dates in several spellings."""
    with db.session() as s:
        base = device_rows(s, 4)
        base[0]["ICCID"] = 8.986011234567891e19
        base[1]["IMEI"] = 861234567890123
        base[2]["安装日期"] = "2026/5/3"
        base[3]["安装日期"] = "2026年5月4日"
        plan = transfer.plan_import(s, transfer.parse_upload(xlsx_bytes(base), "x.xlsx"))
    assert [(e.row, e.field) for e in plan.errors] == [(2, "iccid")] and "文本" in plan.errors[0].message
    assert plan.rows[1].want["imei"] == "861234567890123"
    assert plan.rows[2].want["install_date"] == date(2026, 5, 3)
    assert plan.rows[3].want["install_date"] == date(2026, 5, 4)


def test_export_round_trip_csv_gbk_and_xlsx(db):
    """IOT-1: export → re-import is all unchanged, for XLSX, CSV with BOM and the same CSV
    saved as GBK by Chinese Excel; street scope and filters apply to the export."""
    with acting_as("tester"), db.session() as s:
        rows = device_rows(s, 30)
        rows[3]["上级设备"] = "ctwing/SMK-00000"
        rows[5]["责任单位"] = "区民防办公室"
        rows[6]["标签"] = "消防、责任单位:华阳路街道办事处"
        transfer.apply_import(s, transfer.plan_import(s, rows), "init")
    with db.session() as s:
        xlsx = transfer.export_devices(s, "xlsx")
        data = transfer.export_devices(s, "csv")
        only = transfer.export_devices(s, "csv", scope="310105001")
        smoke = transfer.export_devices(s, "csv", device_type="gas")
    assert data.startswith(b"\xef\xbb\xbf") and data.decode("utf-8-sig").startswith(",".join(HEADERS))
    assert len(data.decode("utf-8-sig").strip().splitlines()) == 31
    scoped = only.decode("utf-8-sig").strip().splitlines()
    assert len(scoped) == 1 + 3 and all("华阳路街道" in line for line in scoped[1:])
    assert len(smoke.decode("utf-8-sig").strip().splitlines()) == 1
    ws = load_workbook(io.BytesIO(xlsx)).worksheets[0]
    assert [c.value for c in ws[1]] == HEADERS and ws.max_row == 31
    gbk = data.decode("utf-8-sig").encode("gbk")
    with db.session() as s:
        for blob, name in ((xlsx, "a.xlsx"), (data, "a.csv"), (gbk, "a.csv")):
            plan = transfer.plan_import(s, transfer.parse_upload(blob, name))
            assert plan.counts["unchanged"] == 30, (name, [r.as_dict() for r in plan.rows if r.action != "unchanged"])
        line = next(ln for ln in data.decode("utf-8-sig").splitlines() if "SMK-00003" in ln)
        parent = service.find_device(s, "ctwing", "SMK-00000").code
        assert f",{parent}," in line and "\t860000000000003" in line
