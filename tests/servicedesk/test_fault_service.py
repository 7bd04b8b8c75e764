"""Fault grades and fault records (OPS-4): seed, recipients, numbering, flow, notifications,
time targets, closing rules and the maintenance-log line."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.duty import service as duty
from cityops.maintenance.log_models import LogEntry
from cityops.notify.models import OutboxMessage
from cityops.servicedesk import fault_grades, fault_service
from cityops.servicedesk.fault_models import FaultGrade

# Wednesday 2026-09-30 14:00 Beijing
T0 = datetime(2026, 9, 30, 6, 0, tzinfo=UTC)


def grade(s, level: int) -> FaultGrade:
    return s.scalar(select(FaultGrade).where(FaultGrade.level == level))


@pytest.fixture
def roster(db):
    """Grades seeded; teams centre (王班长 on duty, 张经理 manager without a shift), support
    (赵工 on duty), leadership (区长 member, no shifts); one WeCom channel."""
    from cityops.notify import service as notify

    with db.session() as s:
        fault_grades.seed_grades(s)
        duty.create_team(s, code="centre", name="城运中心值班组")
        duty.create_team(s, code="support", name="技术支撑组")
        wang = duty.create_contact(s, name="王班长", phone="13900000011", wecom_userid="wang", team_code="centre")
        boss = duty.create_contact(s, name="张经理", phone="13900000013", wecom_userid="zhang", team_code="centre")
        zhao = duty.create_contact(s, name="赵工", phone="13900000014", wecom_userid="zhao", team_code="support")
        duty.create_contact(s, name="区长", phone="13900000015", wecom_userid="qz", team_code="leadership")
        duty.update_team(s, "centre", manager_id=boss.id)
        for c, team in ((wang, "centre"), (zhao, "support")):
            duty.create_shift(s, contact_id=c.id, team_code=team, role="leader", starts_at=T0 - timedelta(hours=12),
                              ends_at=T0 + timedelta(hours=12))
        ch = notify.create_channel(s, kind="sms", name="短信", settings={"url": "http://127.0.0.1:9/sms", "account": "a", "secret": "s", "signature": "长宁城运"})
        return {"channel": ch.id}


def open_one(s, level=3, **kw):
    args = dict(title="城区之眼视频调阅中断", grade_id=grade(s, level).id, occurred_at=T0 - timedelta(minutes=10),
                detected_at=T0 - timedelta(minutes=5), system_codes=["SYS-EYE"], actor="duty1", now=T0)
    args.update(kw)
    return fault_service.open_fault(s, **args)


def outbox_names(s, fault_id):
    rows = s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like(f"fault:{fault_id}:%")))
    return sorted(r.recipient_name for r in rows if r.state != "failed")


def test_seed_is_idempotent_and_keeps_edits(db):
    with db.session() as s:
        fault_grades.seed_grades(s)
        first = grade(s, 1)
        assert (first.name, first.label, first.response_minutes, first.restore_minutes) == ("一级", "特别重大", 15, 120)
        assert "leadership" in first.notify_teams and "区领导" in first.notify_note
        assert "全区核心系统中断" in first.scope
        assert [g.name for g in fault_grades.list_grades(s)] == ["一级", "二级", "三级", "四级"]
        fault_grades.update_grade(s, first.id, response_minutes=20)
        assert fault_grades.seed_grades(s) == 0
        assert grade(s, 1).response_minutes == 20
        assert s.get(duty.Team, "leadership").name == "区领导"


def test_grade_validation(db, roster):
    with db.session() as s:
        g = grade(s, 2)
        with pytest.raises(Invalid, match="响应时限"):
            fault_grades.update_grade(s, g.id, response_minutes=0)
        with pytest.raises(Invalid, match="值班组 nobody 不存在"):
            fault_grades.update_grade(s, g.id, notify_teams=["nobody"])
        with pytest.raises(Invalid, match="颜色"):
            fault_grades.update_grade(s, g.id, color="red")
        with pytest.raises(Conflict):
            fault_grades.create_grade(s, level=2, name="重复", response_minutes=1, restore_minutes=2)
        new = fault_grades.create_grade(s, level=5, name="五级", label="轻微", response_minutes=240,
                                        restore_minutes=2880)
        fault_grades.delete_grade(s, new.id)
        open_one(s, level=4)
        with pytest.raises(Conflict, match="不能删除"):
            fault_grades.delete_grade(s, grade(s, 4).id)
        with pytest.raises(NotFound):
            fault_grades.get_grade(s, 999)


def test_recipients_resolve_duty_members_managers_and_gaps(db, roster):
    with db.session() as s:
        people, gaps = fault_grades.recipients(s, grade(s, 1), T0)
        assert [c.name for c in people] == ["区长", "王班长", "张经理", "赵工"]
        assert gaps == []
        # nobody on duty any more: the team's members are told instead
        people, _ = fault_grades.recipients(s, grade(s, 4), T0 + timedelta(days=1))
        assert [c.name for c in people] == ["赵工"]
        g = grade(s, 3)
        g.notify_teams = ["leadership"]
        for c in s.scalars(select(duty.Contact).where(duty.Contact.team_code == "leadership")):
            c.active = False
        people, gaps = fault_grades.recipients(s, g, T0)
        assert people == [] and gaps == ["区领导（leadership）无人可通知"]


def test_open_numbers_notifies_and_writes_the_timeline(db, roster):
    with db.session() as s:
        f1 = open_one(s, level=2)
        f2 = open_one(s, level=4, title="第二个")
        assert f1.number == "GZ20260930001" and f2.number == "GZ20260930002"
        assert f1.state == "open" and f1.reporter == "duty1"
        assert outbox_names(s, f1.id) == ["张经理", "王班长", "赵工"]
        entries = fault_service.timeline(s, f1.id)
        assert entries[0].kind == "state" and "二级" in entries[0].text
        assert entries[1].kind == "notified" and "已发送 3 条" in entries[1].text
        next_day = fault_service.open_fault(s, title="次日", grade_id=grade(s, 4).id, occurred_at=T0 + timedelta(hours=10),
                                            actor="duty1", now=T0 + timedelta(hours=11))
        assert next_day.number == "GZ20261001001"  # the Beijing day, not the UTC one


def test_open_refuses_bad_input(db, roster):
    with db.session() as s:
        with pytest.raises(Invalid, match="标题"):
            open_one(s, title=" ")
        with pytest.raises(Invalid, match="系统 SYS-NOPE 不存在"):
            open_one(s, system_codes=["SYS-NOPE"])
        with pytest.raises(Invalid, match="晚于当前"):
            open_one(s, occurred_at=T0 + timedelta(minutes=5))
        with pytest.raises(Invalid, match="早于发生"):
            open_one(s, detected_at=T0 - timedelta(hours=1))
        with pytest.raises(Invalid, match="时区"):
            open_one(s, occurred_at=datetime(2026, 9, 30, 13, 0))
        with pytest.raises(Invalid, match="工单 77 不存在"):
            open_one(s, ticket_ids=[77])
        with pytest.raises(NotFound, match="故障等级"):
            open_one(s, grade_id=999)


def test_grade_change_notifies_only_the_new_people(db, roster):
    with db.session() as s:
        f = open_one(s, level=4)
        assert outbox_names(s, f.id) == ["赵工"]
        fault_service.update_fault(s, f.id, grade_id=grade(s, 1).id, actor="lead1", now=T0 + timedelta(minutes=3))
        assert outbox_names(s, f.id) == ["区长", "张经理", "王班长", "赵工"]
        texts = [e.text for e in fault_service.timeline(s, f.id)]
        assert any("由四级调整为一级" in t for t in texts)
        assert any(t.startswith("故障升级") and "已发送 3 条" in t for t in texts)


def test_flow_targets_and_overdue_flags(db, roster):
    with db.session() as s:
        f = open_one(s, level=3)  # 60 min response, 480 min restore, from detection (T0-5m)
        st = fault_service.fault_status(f, T0)
        assert not st["response_overdue"] and st["response_due"] == T0 + timedelta(minutes=55)
        st = fault_service.fault_status(f, T0 + timedelta(minutes=56))
        assert st["response_overdue"] and not st["restore_overdue"]
        summary = fault_service.open_summary(s, T0 + timedelta(minutes=56))
        assert summary["open"] == 1 and summary["overdue"][0]["target"] == "响应"
        fault_service.move(s, f.id, "responding", actor="tech1", now=T0 + timedelta(minutes=60),
                           at=T0 + timedelta(minutes=20))
        assert f.responded_at == T0 + timedelta(minutes=20) and f.handler == "tech1"
        st = fault_service.fault_status(f, T0 + timedelta(minutes=60))
        assert st["response_met"] and not st["response_overdue"]
        with pytest.raises(Conflict, match="不能改为"):
            fault_service.move(s, f.id, "open", actor="tech1", now=T0 + timedelta(minutes=61))
        with pytest.raises(Invalid, match="晚于当前"):
            fault_service.move(s, f.id, "restored", actor="tech1", now=T0 + timedelta(minutes=61),
                               at=T0 + timedelta(hours=3))
        fault_service.move(s, f.id, "restored", actor="tech1", now=T0 + timedelta(hours=9))
        st = fault_service.fault_status(f, T0 + timedelta(hours=9))
        assert st["restore_overdue"] and not st["restore_met"] and st["duration_minutes"] == 550
        assert fault_service.open_summary(s, T0 + timedelta(hours=9))["overdue"] == []


def test_close_requires_cause_impact_recovery_and_writes_the_log(db, roster):
    with db.session() as s:
        f = open_one(s, level=3)
        fault_service.move(s, f.id, "restored", actor="tech1", now=T0 + timedelta(minutes=30))
        assert f.responded_at == f.restored_at == T0 + timedelta(minutes=30)
        with pytest.raises(Invalid, match="原因分析、影响范围、处置措施"):
            fault_service.move(s, f.id, "closed", actor="tech1", now=T0 + timedelta(minutes=40))
        fault_service.update_fault(s, f.id, cause="存储节点磁盘阵列故障", impact="华阳路街道视频调阅中断 35 分钟",
                                   recovery="切换至备用存储并重启流媒体服务", follow_up="更换故障硬盘",
                                   actor="tech1", now=T0 + timedelta(minutes=40))
        fault_service.move(s, f.id, "closed", actor="tech1", now=T0 + timedelta(minutes=45), note="已复核")
        assert f.state == "closed" and f.closed_at == T0 + timedelta(minutes=45)
        log = s.scalar(select(LogEntry).where(LogEntry.source == "fault", LogEntry.source_ref == str(f.id)))
        assert log.kind == "fault" and f.number in log.summary and "存储节点" in log.detail
        assert log.system_code == "SYS-EYE"
        with pytest.raises(Conflict, match="只能补充整改措施"):
            fault_service.update_fault(s, f.id, cause="改", actor="tech1", now=T0 + timedelta(minutes=50))
        fault_service.update_fault(s, f.id, follow_up="更换故障硬盘；每月检查阵列", actor="tech1",
                                   now=T0 + timedelta(minutes=50))


def test_notes_and_reopen_after_restore(db, roster):
    with db.session() as s:
        f = open_one(s, level=4)
        with pytest.raises(Invalid):
            fault_service.add_note(s, f.id, text="  ", author="duty1", now=T0)
        fault_service.add_note(s, f.id, text="已电话通知厂商", author="duty1", now=T0 + timedelta(minutes=2),
                               at=T0 - timedelta(minutes=1))
        fault_service.move(s, f.id, "restored", actor="tech1", now=T0 + timedelta(minutes=10))
        fault_service.move(s, f.id, "responding", actor="tech1", now=T0 + timedelta(minutes=20), note="故障复发")
        assert f.restored_at is None and f.state == "responding"
        kinds = [(e.kind, e.text) for e in fault_service.timeline(s, f.id)]
        assert ("note", "已电话通知厂商") in kinds
        assert kinds[-1] == ("state", "状态由已恢复改为处置中：故障复发")
        rows, total = fault_service.list_faults(s, open_only=True)
        assert total == 1 and rows[0].id == f.id
        with pytest.raises(Invalid):
            fault_service.list_faults(s, state="bogus")


def test_overdue_watch_alerts_once_per_target(db, roster):
    from cityops.servicedesk.fault_jobs import watch_overdue

    with db.session() as s:
        f = open_one(s, level=3)  # detected T0-5m: response due T0+55m, restore due T0+475m
        assert watch_overdue(s, T0 + timedelta(minutes=50)) == {"alerted": 0}
        assert watch_overdue(s, T0 + timedelta(minutes=56)) == {"alerted": 1}
        assert watch_overdue(s, T0 + timedelta(minutes=57)) == {"alerted": 0}
        keys = set(s.scalars(select(OutboxMessage.dedup_key).where(
            OutboxMessage.dedup_key.like(f"fault:{f.id}:overdue-response:%"))))
        assert keys, "the grade's people were told"
        fault_service.move(s, f.id, "responding", actor="tech1", now=T0 + timedelta(minutes=60))
        assert watch_overdue(s, T0 + timedelta(minutes=476)) == {"alerted": 1}
        assert watch_overdue(s, T0 + timedelta(minutes=480)) == {"alerted": 0}
        overdue = [e.text for e in fault_service.timeline(s, f.id) if e.kind == "overdue"]
        assert [t[:4] for t in overdue] == ["响应超时", "恢复超时"]
        fault_service.move(s, f.id, "restored", actor="tech1", now=T0 + timedelta(minutes=490))
        assert watch_overdue(s, T0 + timedelta(minutes=600)) == {"alerted": 0}
