"""Service-desk tickets (OPS-3): intake from every channel, numbering, classification, default
assignment from the duty roster, the state machine, the maintenance-log line, change freezes."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from cityops.catalog.models import Asset, Module, System
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.devices import service as devices
from cityops.maintenance.log_models import LogEntry
from cityops.monitoring import service as monitoring
from cityops.servicedesk import service as desk
from cityops.servicedesk import workflow
from cityops.servicedesk.models import TicketPause
from tests.servicedesk.conftest import T0


def kinds(s, ticket_id):
    return [e.kind for e in desk.timeline(s, ticket_id)]


def test_numbers_follow_the_beijing_day(db):
    with db.session() as s:
        a = desk.open_ticket(s, title="一", now=T0)
        b = desk.open_ticket(s, title="二", now=T0 + timedelta(minutes=1))
        # 2026-09-30 16:30 UTC is already 10-01 00:30 in Beijing: a new day, a new sequence.
        c = desk.open_ticket(s, title="三", now=T0 + timedelta(hours=10, minutes=30))
        assert (a.number, b.number, c.number) == ("GD202609300001", "GD202609300002", "GD202610010001")


def test_classification_is_validated(db):
    with db.session() as s:
        system = s.scalar(select(System).order_by(System.id))
        other = s.scalar(select(System).where(System.id != system.id).order_by(System.id))
        module = s.scalar(select(Module).where(Module.system_id == other.id))
        asset = s.scalar(select(Asset).order_by(Asset.id))
        t = desk.open_ticket(s, title="告警", system_code=system.code, asset_id=asset.id if asset else None, now=T0)
        assert t.system_code == system.code
        with pytest.raises(Invalid, match="没有系统"):
            desk.open_ticket(s, title="x", system_code="SYS-NOPE", now=T0)
        with pytest.raises(Invalid, match="不属于"):
            desk.open_ticket(s, title="x", system_code=system.code, module_id=module.id, now=T0)
        with pytest.raises(Invalid, match="资产"):
            desk.open_ticket(s, title="x", asset_id=999999, now=T0)
        with pytest.raises(Invalid, match="性质"):
            desk.open_ticket(s, title="x", nature="wish", now=T0)
        with pytest.raises(Invalid):
            desk.open_ticket(s, title="x", impact=4, now=T0)
        with pytest.raises(Invalid, match="标题"):
            desk.open_ticket(s, title="  ", now=T0)


def test_default_assignment_goes_to_the_leader_on_duty(db, team):
    with db.session() as s:
        t = desk.open_ticket(s, title="热线来电：系统登录慢", reporter="市民", reporter_phone="13800001111", now=T0)
        assert (t.state, t.assignee, t.team_code) == ("assigned", team["leader"], "desk")
        assert kinds(s, t.id) == ["created", "assigned"]
        # After the shift nobody is on duty: the ticket stays new and says why.
        later = desk.open_ticket(s, title="夜间来电", now=T0 + timedelta(hours=13))
        assert later.state == "new" and later.assignee is None
        assert kinds(s, later.id)[-1] == "unassigned"


def test_full_lifecycle_with_timeline_and_log_line(db, team):
    who = team["member"]
    with db.session() as s:
        t = desk.open_ticket(s, title="移动单兵无法上传照片", now=T0)
        with pytest.raises(Conflict, match="不能解决"):
            workflow.resolve(s, t.id, solution="x", actor=who, now=T0)
        workflow.assign(s, t.id, assignee=who, actor=team["leader"], now=T0 + timedelta(minutes=1))
        workflow.start(s, t.id, actor=who, now=T0 + timedelta(minutes=2))
        with pytest.raises(Invalid, match="挂起须选择原因"):
            workflow.pend(s, t.id, reason="随便", actor=who, now=T0)
        workflow.pend(s, t.id, reason="等待备件", actor=who, note="硬盘已下单", now=T0 + timedelta(minutes=3))
        with pytest.raises(Conflict, match="挂起"):
            workflow.pend(s, t.id, reason="等待用户", actor=who, now=T0)
        workflow.resume(s, t.id, actor=who, now=T0 + timedelta(hours=1))
        with pytest.raises(Invalid, match="解决方案"):
            workflow.resolve(s, t.id, solution=" ", actor=who, now=T0)
        workflow.comment(s, t.id, text="已更换硬盘", actor=who, now=T0 + timedelta(hours=2))
        workflow.resolve(s, t.id, solution="更换存储硬盘后恢复", actor=who, now=T0 + timedelta(hours=2))
        entry = s.scalar(select(LogEntry).where(LogEntry.source == "ticket", LogEntry.source_ref == str(t.id)))
        assert entry.kind == "ticket" and t.number in entry.summary and "更换存储硬盘" in entry.detail
        workflow.close(s, t.id, actor=team["leader"], now=T0 + timedelta(hours=3))
        assert t.state == "closed" and t.closed_at is not None
        assert kinds(s, t.id) == ["created", "assigned", "assigned", "started", "pended", "resumed", "comment",
                                  "resolved", "closed"]
        pauses = s.scalars(select(TicketPause).where(TicketPause.ticket_id == t.id)).all()
        assert [p.reason for p in pauses] == ["等待备件", "resolved"]


def test_reopen_within_seven_days_with_a_reason(db, team):
    who = team["leader"]
    with db.session() as s:
        t = desk.open_ticket(s, title="大屏数据不刷新", now=T0)
        workflow.start(s, t.id, actor=who, now=T0)
        workflow.resolve(s, t.id, solution="重启服务", actor=who, now=T0 + timedelta(hours=1))
        with pytest.raises(Invalid, match="原因"):
            workflow.reopen(s, t.id, reason="", actor=who, now=T0 + timedelta(hours=2))
        workflow.reopen(s, t.id, reason="用户反馈又出现", actor=who, now=T0 + timedelta(hours=2))
        assert (t.state, t.reopen_count, t.resolved_at) == ("assigned", 1, None)
        workflow.start(s, t.id, actor=who, now=T0 + timedelta(hours=2))
        workflow.resolve(s, t.id, solution="修复缓存", actor=who, now=T0 + timedelta(hours=3))
        workflow.close(s, t.id, actor=who, now=T0 + timedelta(hours=4))
        with pytest.raises(Conflict, match="7 天"):
            workflow.reopen(s, t.id, reason="又坏了", actor=who, now=T0 + timedelta(days=8))
        with pytest.raises(Conflict):
            workflow.start(s, t.id, actor=who, now=T0 + timedelta(days=8))


def test_change_refused_during_a_visit_freeze_unless_emergency(db, monkeypatch):
    visit = SimpleNamespace(id=5, title="市领导调研", freeze_from=T0 - timedelta(hours=1),
                            freeze_until=T0 + timedelta(hours=3))
    monkeypatch.setattr("cityops.visits.service.active_freeze", lambda session, at: visit)
    with db.session() as s:
        with pytest.raises(Conflict, match="市领导调研"):
            desk.open_ticket(s, title="升级算法仓", nature="change", now=T0)
        with pytest.raises(Invalid, match="原因"):
            desk.open_ticket(s, title="升级算法仓", nature="change", emergency=True, now=T0)
        t = desk.open_ticket(s, title="紧急修补漏洞", nature="change", emergency=True,
                             emergency_reason="高危漏洞须立即修补", now=T0)
        assert t.emergency_change
        assert "高危漏洞" in desk.timeline(s, t.id)[1].text
        # Incidents are never frozen.
        assert desk.open_ticket(s, title="故障", nature="incident", now=T0).nature == "incident"


def test_alarm_becomes_one_open_ticket(db):
    with db.session() as s:
        dev = devices.create_device(s, name="烟感-1", product_id=devices.product_by_code(s, "SMOKE-NB-CTW").id,
                                    external_id="sd-smoke-1")
        alarm = monitoring.raise_alarm(s, device_id=dev.id, alarm_type="smoke", severity="critical",
                                       source="vendor", at=T0)
        t = desk.ticket_from_alarm(s, alarm.id, "duty1", now=T0)
        assert (t.source, t.alarm_id, t.priority) == ("monitoring", alarm.id, "P1")
        assert desk.ticket_from_alarm(s, alarm.id, "duty1", now=T0).id == t.id
        with pytest.raises(NotFound):
            desk.ticket_from_alarm(s, 999999, "duty1", now=T0)


def test_backup_channel_intake_is_idempotent(db):
    with db.session() as s:
        t, created = desk.intake_email(s, sender="user@changning.gov.cn", subject="热线打不通，网格平台报错",
                                       body="登录后白屏", received_at=T0, actor="bridge", now=T0)
        again, created2 = desk.intake_email(s, sender="user@changning.gov.cn", subject="热线打不通，网格平台报错",
                                            body="登录后白屏", received_at=T0, actor="bridge", now=T0)
        assert created and not created2 and again.id == t.id and t.source == "backup"
        w, made = desk.intake_wecom(s, from_user="zhangsan", content="视频调阅很卡\n华阳路街道", create_time=int(T0.timestamp()),
                                    actor="bridge", now=T0 + timedelta(minutes=1))
        assert made and w.title == "视频调阅很卡" and w.created_at == T0
        assert desk.intake_wecom(s, from_user="zhangsan", content="视频调阅很卡", create_time=int(T0.timestamp()),
                                 actor="bridge", now=T0)[0].id == w.id
        with pytest.raises(Invalid):
            desk.intake_wecom(s, from_user="zhangsan", content="  ", create_time=1, actor="bridge", now=T0)


def test_major_finding_opens_a_ticket(db):
    from cityops.inspections.findings import raise_finding

    with db.session() as s:
        f = raise_finding(s, key="probe:1", source="probe", title="智能派单接口超时", severity="major", now=T0)
        t = desk.get(s, f.ticket_id)
        assert (t.source, t.finding_id, t.priority) == ("inspection", f.id, "P2")


def test_links_between_tickets(db):
    with db.session() as s:
        a = desk.open_ticket(s, title="A", now=T0)
        b = desk.open_ticket(s, title="B", now=T0)
        workflow.link(s, a.id, other=b.number, actor="x", now=T0)
        with pytest.raises(Conflict):
            workflow.link(s, b.id, other=a.id, actor="x", now=T0)
        with pytest.raises(Invalid):
            workflow.link(s, a.id, other=a.id, actor="x", now=T0)
        assert [x["number"] for x in workflow.links_of(s, b.id)] == [a.number]


def test_reclassify_recomputes_priority(db):
    with db.session() as s:
        t = desk.open_ticket(s, title="A", impact=3, urgency=3, now=T0)
        workflow.reclassify(s, t.id, actor="x", impact=1, urgency=1, now=T0)
        assert t.priority == "P1"
        assert desk.timeline(s, t.id)[-1].kind == "updated"
