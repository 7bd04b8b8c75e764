"""Checklist templates and runs (ROOM-1, ROOM-2): typed readings, findings raised and cleared,
versioning, performer/reviewer signatures, immutability, photos."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict, Invalid
from cityops.inspections import checklist_photos as photos
from cityops.inspections import checklist_service as svc
from cityops.inspections import findings
from cityops.inspections.checklist_seed import seed_checklists
from cityops.maintenance.log_models import LogEntry

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64
ROOM = "长宁区城运中心机房"

NORMAL = {"temperature": "22.5", "humidity": "50", "mains": "正常", "ups_state": "市电供电", "ups_load": "45",
          "battery": "40", "crac": "正常", "fire": "正常（自动）", "leds": "正常", "cabling": "正常", "access": "正常",
          "leak": "无漏水"}


def _fill(s, run_id, values, now=NOW):
    for code, value in values.items():
        svc.record_reading(s, run_id, item_code=code, value=value, actor="duty1", now=now)


def test_seed_is_idempotent_and_has_the_room_items(db):
    with db.session() as s:  # the bootstrap loaded both templates already (reference data)
        assert seed_checklists(s) == 0
        t = svc.current_template(s, "room-daily")
        labels = [i.label for i in svc.items_of(s, t.id)]
        assert labels[:2] == ["温度", "湿度"] and "消防（气体灭火控制盘）" in labels and "漏水检测" in labels
        temp = svc.items_of(s, t.id)[0]
        assert (temp.min_value, temp.max_value, temp.unit) == (18, 27, "℃")
        asset = svc.current_template(s, "asset-check")
        assert [i.label for i in svc.items_of(s, asset.id)] == ["指示灯", "风扇", "硬盘", "告警", "设备照片"]


def test_out_of_range_reading_opens_a_finding_and_a_normal_one_clears_it(db):
    """ROOM-1: 温度 30 ℃ is above 27 ℃ → finding checklist:<room>:temperature; next day 22 ℃ clears it."""
    with db.session() as s:
        seed_checklists(s)
        t = svc.current_template(s, "room-daily")
        run = svc.start_run(s, template_id=t.id, room=ROOM, performer="张三", now=NOW)
        r = svc.record_reading(s, run.id, item_code="temperature", value="30", actor="duty1", now=NOW)
        assert r.ok is False and r.value == "30"
        f = findings.open_finding(s, f"checklist:{ROOM}:temperature")
        assert f is not None and f.source == "checklist" and f.severity == "warning"
        assert "超过上限 27℃" in f.title
        assert run.abnormal_count == 1
        # an abnormal choice with severity critical (fire panel) opens a ticket-worthy finding
        svc.record_reading(s, run.id, item_code="fire", value="故障", actor="duty1", now=NOW)
        assert findings.open_finding(s, f"checklist:{ROOM}:fire").severity == "critical"
        run2 = svc.start_run(s, template_id=t.id, room=ROOM, performer="李四", now=NOW)
        svc.record_reading(s, run2.id, item_code="temperature", value="22", actor="duty2", now=NOW)
        assert findings.open_finding(s, f"checklist:{ROOM}:temperature") is None
        resolved = s.get(type(f), f.id)
        assert resolved.state == "resolved" and f"#{run2.id}" in resolved.resolution


@pytest.mark.parametrize("code,value,message", [
    ("temperature", "abc", "须为数字"), ("temperature", "", "请填写数值"), ("mains", "maybe", "正常”或“异常"),
    ("ups_state", "关机", "请选择"), ("photo", "", "请先上传照片"), ("nope", "1", "不在此检查表中"),
])
def test_readings_are_validated_by_type(db, code, value, message):
    with db.session() as s:
        seed_checklists(s)
        run = svc.start_run(s, template_id=svc.current_template(s, "room-daily").id, room=ROOM, performer="张三")
        with pytest.raises((Invalid, Exception)) as exc:
            svc.record_reading(s, run.id, item_code=code, value=value)
        assert message in exc.value.detail


def test_submit_needs_every_required_item_then_review_freezes_the_record(db):
    with db.session() as s:
        seed_checklists(s)
        run = svc.start_run(s, template_id=svc.current_template(s, "room-daily").id, room=ROOM, performer="张三", now=NOW)
        _fill(s, run.id, {"temperature": "22"})
        with pytest.raises(Invalid, match="还有必填项未填写：湿度"):
            svc.submit_run(s, run.id, signature="张三", now=NOW)
        _fill(s, run.id, NORMAL)
        with pytest.raises(Invalid, match="签名"):
            svc.submit_run(s, run.id, signature=" ", now=NOW)
        with pytest.raises(Conflict, match="尚未由巡检人提交"):
            svc.sign_off(s, run.id, reviewer="王经理", now=NOW)
        svc.submit_run(s, run.id, signature="张三", now=NOW)
        with pytest.raises(Conflict, match="已提交"):
            svc.record_reading(s, run.id, item_code="temperature", value="23")
        with pytest.raises(Conflict, match="本人"):
            svc.sign_off(s, run.id, reviewer="张三", now=NOW)
        svc.sign_off(s, run.id, reviewer="王经理", note="正常", now=NOW)
        assert run.state == "signed" and run.reviewed_at == NOW
        with pytest.raises(Conflict, match="已复核签字"):
            svc.sign_off(s, run.id, reviewer="王经理", now=NOW)
        log = s.scalar(select(LogEntry).where(LogEntry.source == "checklist-run", LogEntry.source_ref == str(run.id)))
        assert log.kind == "inspection" and "全部正常" in log.summary and log.author == "张三"


def test_template_edit_makes_a_new_version_and_old_runs_keep_their_items(db):
    with db.session() as s:
        seed_checklists(s)
        old = svc.current_template(s, "room-daily")
        run = svc.start_run(s, template_id=old.id, room=ROOM, performer="张三")
        items = [{"code": i.code, "label": i.label, "type": i.type, "unit": i.unit, "min_value": i.min_value,
                  "max_value": i.max_value, "options": i.options, "required": i.required, "severity": i.severity}
                 for i in svc.items_of(s, old.id)]
        items[0]["max_value"] = 25
        new = svc.update_template(s, old.id, items=items, actor="mgr")
        assert (new.version, new.current, old.current) == (2, True, False)
        assert svc.items_of(s, old.id)[0].max_value == 27 and svc.items_of(s, new.id)[0].max_value == 25
        assert svc.record_reading(s, run.id, item_code="temperature", value="26").ok is True  # old limits
        with pytest.raises(Conflict, match="取代"):
            svc.start_run(s, template_id=old.id, room=ROOM, performer="张三")
        with pytest.raises(Conflict, match="最新版本"):
            svc.update_template(s, old.id, name="x")


@pytest.mark.parametrize("items,message", [
    ([], "至少需要一个"), ([{"code": "a", "label": "A", "type": "weird"}], "类型"),
    ([{"code": "a", "label": "A", "type": "number", "min_value": 5, "max_value": 1}], "大于上限"),
    ([{"code": "a", "label": "A", "type": "choice", "options": ["x"]}], "至少需要两个选项"),
    ([{"code": "a", "label": "A", "type": "bool"}, {"code": "a", "label": "B", "type": "bool"}], "重复"),
])
def test_bad_templates_are_refused(db, items, message):
    with db.session() as s, pytest.raises(Invalid, match=message):
        svc.create_template(s, code="x", name="X", items=items)


def test_asset_checklist_needs_an_asset(db):
    from cityops.catalog.models import Asset

    with db.session() as s:
        seed_checklists(s)
        t = svc.current_template(s, "asset-check")
        with pytest.raises(Invalid, match="设备"):
            svc.start_run(s, template_id=t.id, performer="张三")
        asset = s.scalars(select(Asset)).first()
        run = svc.start_run(s, template_id=t.id, asset_id=asset.id, performer="张三", now=NOW)
        svc.record_reading(s, run.id, item_code="disks", value="异常", now=NOW)
        f = findings.open_finding(s, f"checklist:asset-{asset.id}:disks")
        assert f.asset_id == asset.id and f.severity == "major"


def test_photos_are_checked_by_content_and_size(db, tmp_path):
    with db.session() as s:
        seed_checklists(s)
        run = svc.start_run(s, template_id=svc.current_template(s, "room-daily").id, room=ROOM, performer="张三")
        with pytest.raises(Invalid, match="JPEG 或 PNG"):
            photos.save_photo(s, var_dir=tmp_path, filename="a.png", data=b"GIF89a" + b"\0" * 10)
        with pytest.raises(Invalid, match="10 MB"):
            photos.save_photo(s, var_dir=tmp_path, filename="big.jpg", data=JPEG + b"\0" * photos.MAX_BYTES)
        p = photos.save_photo(s, var_dir=tmp_path, filename="../../etc/room.png", data=PNG, actor="duty1")
        assert p.content_type == "image/png" and p.filename == "room.png"
        assert photos.photo_path(tmp_path, p).read_bytes() == PNG
        r = svc.record_reading(s, run.id, item_code="photo", value="", photo_id=p.id)
        assert r.value == str(p.id) and p.run_id == run.id
