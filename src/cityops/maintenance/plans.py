"""Maintenance plans (OPS-2): what to maintain on which layer of which system, and when.

A schedule is daily at HH:MM, weekly on chosen weekdays, monthly on day N or quarterly on day N
of January, April, July and October, always Beijing time. `workdays_only` uses the office's
working calendar (`events.sla.calendar_for(session, "workdays")`, Chinese holidays and make-up
days): a daily slot on a day off is dropped, a weekly/monthly/quarterly one moves to the next
working day (otherwise a monthly task would silently vanish over a holiday)."""

from __future__ import annotations

import calendar as pycal
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.auth.models import User
from cityops.catalog.models import Module, System
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import SHANGHAI, aware, local, utcnow
from cityops.events.calendar import WorkCalendar
from cityops.events.sla import calendar_for
from cityops.maintenance.models import FREQUENCIES, LAYERS, MaintenancePlan, MaintenanceTask

FIELDS = ("name", "layer", "system_code", "module_id", "title", "steps", "expected_minutes", "frequency", "at_time",
          "weekdays", "month_day", "workdays_only", "assignee", "duty_team", "enabled", "note")
WEEKDAY_LABELS = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "日"}
QUARTER_MONTHS = (1, 4, 7, 10)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# -- schedule ---------------------------------------------------------------------------------
def _weekdays(plan: MaintenancePlan) -> set[int]:
    return {int(x) for x in plan.weekdays.split(",") if x.strip()}


def _nominal(plan: MaintenancePlan, d: date) -> bool:
    last = pycal.monthrange(d.year, d.month)[1]
    if plan.frequency == "daily":
        return True
    if plan.frequency == "weekly":
        return d.isoweekday() in _weekdays(plan)
    if plan.frequency == "monthly":
        return d.day == min(plan.month_day, last)
    return d.month in QUARTER_MONTHS and d.day == min(plan.month_day, last)


def _actual_day(plan: MaintenancePlan, d: date, cal: WorkCalendar | None) -> date | None:
    if cal is None or cal.day_info(d).working:
        return d
    if plan.frequency == "daily":
        return None
    for i in range(1, 31):
        if cal.day_info(d + timedelta(days=i)).working:
            return d + timedelta(days=i)
    return None


def slots(plan: MaintenancePlan, start: datetime, end: datetime, cal: WorkCalendar | None = None) -> list[datetime]:
    """The plan's slots (UTC) in [start, end), none before the plan's `active_from`.
    `cal` is the working calendar (needed when `workdays_only`)."""
    if plan.workdays_only and cal is None:
        raise ValueError("a workdays-only plan needs the working calendar")
    hh, mm = (int(x) for x in plan.at_time.split(":"))
    start = max(aware(start), aware(plan.active_from))
    end = aware(end)
    if start >= end:
        return []
    d, last = local(start).date() - timedelta(days=31), local(end).date()  # moved slots start earlier
    out: set[datetime] = set()
    while d <= last:
        if _nominal(plan, d):
            actual = _actual_day(plan, d, cal if plan.workdays_only else None)
            if actual is not None:
                t = datetime.combine(actual, time(hh, mm), SHANGHAI).astimezone(start.tzinfo)
                if start <= t < end:
                    out.add(t)
        d += timedelta(days=1)
    return sorted(out)


def preview(session: Session, plan: MaintenancePlan, *, now: datetime, n: int = 5) -> list[datetime]:
    """The next `n` slots from `now` (looks up to 400 days ahead)."""
    cal = calendar_for(session, "workdays") if plan.workdays_only else None
    found: list[datetime] = []
    start = aware(now)
    for _ in range(14):
        end = start + timedelta(days=31)
        found += slots(plan, start, end, cal)
        if len(found) >= n:
            break
        start = end
    return found[:n]


def describe(plan: MaintenancePlan) -> str:
    """The schedule in words, e.g. 每周一、三 10:00（仅工作日）."""
    if plan.frequency == "daily":
        text = "每天"
    elif plan.frequency == "weekly":
        text = "每周" + "、".join(WEEKDAY_LABELS[w] for w in sorted(_weekdays(plan)))
    elif plan.frequency == "monthly":
        text = f"每月 {plan.month_day} 日"
    else:
        text = f"每季度首月 {plan.month_day} 日"
    return f"{text} {plan.at_time}" + ("（仅工作日）" if plan.workdays_only else "")


# -- validation and CRUD ------------------------------------------------------------------------
def _int(value: Any, label: str, lo: int, hi: int) -> int:
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        raise Invalid(f"{label}必须是整数") from None
    if not lo <= n <= hi:
        raise Invalid(f"{label}应在 {lo}–{hi} 之间")
    return n


def _steps(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list):
        raise Invalid("步骤应为文本列表（每行一步）")
    steps = [str(s).strip() for s in value if str(s).strip()]
    if len(steps) > 30:
        raise Invalid("步骤最多 30 条")
    if any(len(s) > 200 for s in steps):
        raise Invalid("每个步骤不超过 200 字")
    return steps


def _weekday_text(value: Any) -> str:
    items = value if isinstance(value, list) else str(value or "").replace("，", ",").split(",")
    days = set()
    for x in items:
        if str(x).strip():
            days.add(_int(x, "星期", 1, 7))
    return ",".join(str(d) for d in sorted(days))


def _check(session: Session, plan: MaintenancePlan, values: dict[str, Any]) -> None:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise Invalid(f"未知字段：{'、'.join(sorted(unknown))}")
    v = dict(values)
    if "name" in v:
        v["name"] = str(v["name"] or "").strip()
        if not v["name"] or len(v["name"]) > 100:
            raise Invalid("请填写计划名称（不超过 100 字）")
    if "title" in v:
        v["title"] = str(v["title"] or "").strip()
        if not v["title"] or len(v["title"]) > 200:
            raise Invalid("请填写任务标题（不超过 200 字）")
    if "layer" in v and v["layer"] not in LAYERS:
        raise Invalid(f"层级应为：{'、'.join(f'{k}（{lbl}）' for k, lbl in LAYERS.items())}")
    if "frequency" in v and v["frequency"] not in FREQUENCIES:
        raise Invalid(f"周期应为：{'、'.join(f'{k}（{lbl}）' for k, lbl in FREQUENCIES.items())}")
    if "at_time" in v:
        v["at_time"] = str(v["at_time"] or "").strip()
        if not _HHMM.match(v["at_time"]):
            raise Invalid("执行时间应为 HH:MM（北京时间），例如 09:00")
    if "steps" in v:
        v["steps"] = _steps(v["steps"])
    if "expected_minutes" in v:
        v["expected_minutes"] = _int(v["expected_minutes"], "预计用时（分钟）", 1, 1440)
    if "month_day" in v:
        v["month_day"] = _int(v["month_day"], "日期", 1, 31)
    if "weekdays" in v:
        v["weekdays"] = _weekday_text(v["weekdays"])
    for key in ("system_code", "module_id"):
        if key in v and v[key] in ("", None):
            v[key] = None
    if v.get("module_id") is not None:
        v["module_id"] = _int(v["module_id"], "模块", 1, 2**31 - 1)
    module_id = v.get("module_id", plan.module_id)
    if module_id is not None:
        module = session.get(Module, module_id)
        if module is None:
            raise Invalid(f"模块 {module_id} 不存在")
        code = session.scalar(select(System.code).where(System.id == module.system_id))
        if v.get("system_code") not in (None, code):
            raise Invalid(f"模块「{module.name}」不属于系统 {v['system_code']}")
        v["system_code"] = code
    if v.get("system_code") is not None and session.scalar(select(System.id).where(System.code == v["system_code"])) is None:
        raise Invalid(f"系统 {v['system_code']} 不存在")
    if "assignee" in v:
        v["assignee"] = str(v["assignee"] or "").strip()
        if v["assignee"] and session.scalar(select(User.id).where(User.username == v["assignee"],
                                                                  User.active.is_(True))) is None:
            raise Invalid(f"用户 {v['assignee']} 不存在或已停用")
    if "duty_team" in v:
        from cityops.duty.models import Team

        v["duty_team"] = str(v["duty_team"] or "").strip()
        if v["duty_team"] and session.get(Team, v["duty_team"]) is None:
            raise Invalid(f"值班组 {v['duty_team']} 不存在")
    for key in ("enabled", "workdays_only"):
        if key in v:
            v[key] = bool(v[key])
    if "note" in v:
        v["note"] = str(v["note"] or "")
    for k, val in v.items():
        setattr(plan, k, val)
    if plan.frequency == "weekly" and not plan.weekdays:
        raise Invalid("每周执行的计划请至少选择一个星期几")
    if plan.name and session.scalar(select(MaintenancePlan.id).where(MaintenancePlan.name == plan.name,
                                                                     MaintenancePlan.id != (plan.id or 0))):
        raise Conflict(f"已有名为「{plan.name}」的维护计划")


def create_plan(session: Session, *, now: datetime | None = None, **values: Any) -> MaintenancePlan:
    """New plan; it produces tasks for slots from `now` on. Required: name, layer, title."""
    for key, label in (("name", "计划名称"), ("layer", "层级"), ("title", "任务标题")):
        if not str(values.get(key) or "").strip():
            raise Invalid(f"请填写{label}")
    plan = MaintenancePlan(steps=[], frequency="daily", at_time="09:00", weekdays="", month_day=1,
                           expected_minutes=30, workdays_only=False, assignee="", duty_team="", enabled=True,
                           note="", active_from=now or utcnow())
    with session.no_autoflush:
        _check(session, plan, values)
    session.add(plan)
    session.flush()
    return plan


def get_plan(session: Session, plan_id: int) -> MaintenancePlan:
    plan = session.get(MaintenancePlan, plan_id)
    if plan is None:
        raise NotFound(f"维护计划 {plan_id} 不存在")
    return plan


def update_plan(session: Session, plan_id: int, **changes: Any) -> MaintenancePlan:
    """Changes apply to slots not yet turned into tasks; existing tasks keep their template."""
    plan = get_plan(session, plan_id)
    with session.no_autoflush:
        try:
            _check(session, plan, changes)
        except Exception:
            session.expire(plan)  # drop half-applied values
            raise
    session.flush()
    return plan


def delete_plan(session: Session, plan_id: int) -> None:
    """A plan with finished tasks is history: disable it instead (its open tasks go with it)."""
    plan = get_plan(session, plan_id)
    finished = session.scalar(select(func.count()).select_from(MaintenanceTask)
                              .where(MaintenanceTask.plan_id == plan_id, MaintenanceTask.state != "open"))
    if finished:
        raise Conflict(f"计划「{plan.name}」已有 {finished} 条完成或跳过的任务记录，不能删除，请改为停用")
    for task in session.scalars(select(MaintenanceTask).where(MaintenanceTask.plan_id == plan_id)):
        session.delete(task)
    session.flush()  # the tasks first: the unit of work does not know they hang on the plan
    session.delete(plan)
    session.flush()


def list_plans(session: Session, *, layer: str | None = None, system_code: str | None = None) -> list[MaintenancePlan]:
    q = select(MaintenancePlan).order_by(MaintenancePlan.layer, MaintenancePlan.name)
    if layer:
        q = q.where(MaintenancePlan.layer == layer)
    if system_code:
        q = q.where(MaintenancePlan.system_code == system_code)
    return list(session.scalars(q))


DEFAULT_PLANS: list[dict[str, Any]] = [
    dict(name="应用健康检查", layer="application", title="各系统应用健康检查", frequency="daily", at_time="09:00",
         expected_minutes=20, steps=["打开各系统门户与接口，确认可访问、响应正常", "核对自动巡检结果与未处理告警",
                                     "抽查关键业务流程（登录、查询、派单）", "发现异常即开服务台工单并记录"]),
    dict(name="数据库备份校验", layer="database", title="数据库备份校验", frequency="daily", at_time="08:30",
         expected_minutes=30, steps=["核对昨夜全量/增量备份任务是否成功", "检查备份文件大小与校验和",
                                     "确认备份已同步到异地存储", "失败的备份当日重做并记录原因"]),
    dict(name="数据库空间与慢查询", layer="database", title="数据库空间与慢查询分析", frequency="weekly", weekdays="1",
         at_time="10:00", workdays_only=True, expected_minutes=60,
         steps=["表空间与磁盘使用率（超过 80% 提出扩容）", "慢查询 Top 10 及执行计划", "索引与统计信息维护",
                "连接数峰值与锁等待"]),
    dict(name="中间件日志清理", layer="middleware", title="中间件日志归档与清理", frequency="weekly", weekdays="3",
         at_time="10:00", workdays_only=True, expected_minutes=45,
         steps=["Nginx / Tomcat / 消息队列日志归档", "清理 30 天以前的日志", "检查磁盘使用率",
                "检查线程池、连接池与队列堆积"]),
    dict(name="操作系统补丁与安全基线", layer="os", title="操作系统补丁与安全基线核查", frequency="monthly", month_day=10,
         at_time="14:00", workdays_only=True, expected_minutes=120,
         steps=["整理本月安全补丁清单", "安全基线核查：口令策略、多余账号、开放端口", "在测试环境验证补丁",
                "按变更流程分批安装并复核服务", "记录变更与回退方案"]),
    dict(name="证书到期检查", layer="middleware", title="HTTPS 与接口证书到期检查", frequency="monthly", month_day=1,
         at_time="10:00", workdays_only=True, expected_minutes=30,
         steps=["列出各系统 HTTPS 证书与接口证书的到期日", "30 天内到期的发起更换", "更换后验证证书链与客户端访问"]),
    dict(name="容灾恢复演练", layer="database", title="容灾恢复演练", frequency="quarterly", month_day=15,
         at_time="14:00", workdays_only=True, expected_minutes=240,
         steps=["选定演练系统并报备", "从备份恢复到容灾环境", "验证数据完整与业务可用", "记录恢复时长（RTO/RPO）",
                "形成演练报告"]),
]


def seed_plans(session: Session, *, now: datetime | None = None) -> int:
    """The default plans for all systems (idempotent by name); returns how many were added."""
    have = set(session.scalars(select(MaintenancePlan.name)))
    added = 0
    for values in DEFAULT_PLANS:
        if values["name"] not in have:
            create_plan(session, now=now, **values)
            added += 1
    return added
