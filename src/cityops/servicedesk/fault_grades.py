"""Fault grades (OPS-4): the configurable 一级…四级 table, its seed, and who a grade tells.

Recipients of a grade at a moment: the people on duty in each listed team (a team with
nobody on duty — the district leadership has members, not shifts — gives its active
members), the named contacts, and the managers of the listed teams when asked. Whatever
cannot be resolved (unknown team, team without people) is returned as a gap, so the fault's
timeline says who could not be told instead of staying silent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.duty.models import Contact, Team
from cityops.servicedesk.fault_models import Fault, FaultGrade

LEADERSHIP_TEAM = "leadership"
GRADE_FIELDS = ("name", "label", "scope", "response_minutes", "restore_minutes", "notify_teams",
                "notify_contacts", "notify_managers", "notify_note", "channel_ids", "color", "active")

# (level, name, label, scope, response min, restore min, teams, managers, who in words, colour)
DEFAULT_GRADES: tuple[tuple[Any, ...], ...] = (
    (1, "一级", "特别重大",
     "全区核心系统中断或大面积影响：城运智能派单平台、城区之眼、智慧勤务等核心系统整体不可用，"
     "或影响全区城运指挥调度、应急处置。",
     15, 120, [LEADERSHIP_TEAM, "centre", "support"], True, "区领导、中心主任、项目经理", "#C62828"),
    (2, "二级", "重大",
     "单个核心系统中断，或多个街镇（3个及以上）业务受影响、主要功能无法使用，暂无替代手段。",
     30, 240, ["centre", "support"], True, "中心主任、项目经理、值班长", "#EF6C00"),
    (3, "三级", "较大",
     "单个系统部分功能故障或性能明显下降，影响个别街镇或单项业务，有临时替代手段。",
     60, 480, ["centre", "support"], False, "项目经理、值班人员、技术支撑", "#F9A825"),
    (4, "四级", "一般",
     "单个模块、终端或设备故障，对业务影响轻微，不影响系统整体运行。",
     120, 1440, ["support"], False, "值班人员、技术支撑", "#1565C0"),
)


def seed_grades(session: Session) -> int:
    """The four default grades and an (empty) district-leadership team; rows already present
    are left as the operators edited them. Returns the number of grades added."""
    if session.get(Team, LEADERSHIP_TEAM) is None:
        session.add(Team(code=LEADERSHIP_TEAM, name="区领导", active=True))
    have = set(session.scalars(select(FaultGrade.level)))
    added = 0
    for level, name, label, scope, resp, rest, teams, managers, note, color in DEFAULT_GRADES:
        if level in have:
            continue
        session.add(FaultGrade(level=level, name=name, label=label, scope=scope, response_minutes=resp,
                               restore_minutes=rest, notify_teams=list(teams), notify_contacts=[],
                               notify_managers=managers, notify_note=note, channel_ids=[], color=color))
        added += 1
    session.flush()
    return added


def list_grades(session: Session, *, active_only: bool = False) -> list[FaultGrade]:
    q = select(FaultGrade).order_by(FaultGrade.level)
    if active_only:
        q = q.where(FaultGrade.active.is_(True))
    return list(session.scalars(q))


def get_grade(session: Session, grade_id: int) -> FaultGrade:
    grade = session.get(FaultGrade, grade_id)
    if grade is None:
        raise NotFound(f"故障等级 {grade_id} 不存在")
    return grade


def _check(session: Session, values: dict[str, Any]) -> None:
    if "name" in values and not str(values["name"] or "").strip():
        raise Invalid("请填写等级名称")
    for key, label in (("response_minutes", "响应时限"), ("restore_minutes", "恢复时限")):
        if key in values and (values[key] is None or int(values[key]) <= 0):
            raise Invalid(f"{label}必须是正整数（分钟）")
    color = values.get("color")
    if color is not None and not (len(color) == 7 and color.startswith("#")
                                  and all(c in "0123456789abcdefABCDEF" for c in color[1:])):
        raise Invalid(f"颜色 {color!r} 应为 #RRGGBB")
    for code in values.get("notify_teams") or []:
        if session.get(Team, code) is None:
            raise Invalid(f"值班组 {code} 不存在")
    for cid in values.get("notify_contacts") or []:
        if session.get(Contact, cid) is None:
            raise Invalid(f"联系人 {cid} 不存在")


def create_grade(session: Session, *, level: int, **values: Any) -> FaultGrade:
    if level < 1 or level > 9:
        raise Invalid("等级序号应在 1–9 之间（1 最严重）")
    if session.scalar(select(FaultGrade.id).where(FaultGrade.level == level)) is not None:
        raise Conflict(f"序号为 {level} 的故障等级已存在")
    values.setdefault("name", "")
    for key in ("response_minutes", "restore_minutes"):
        values.setdefault(key, None)
    _check(session, values)
    grade = FaultGrade(level=level, **{k: v for k, v in values.items() if k in GRADE_FIELDS})
    session.add(grade)
    session.flush()
    return grade


def update_grade(session: Session, grade_id: int, **values: Any) -> FaultGrade:
    grade = get_grade(session, grade_id)
    unknown = set(values) - set(GRADE_FIELDS)
    if unknown:
        raise Invalid(f"不能修改字段 {'、'.join(sorted(unknown))}")
    _check(session, values)
    for key, value in values.items():
        setattr(grade, key, value.strip() if isinstance(value, str) else value)
    session.flush()
    return grade


def delete_grade(session: Session, grade_id: int) -> None:
    grade = get_grade(session, grade_id)
    used = session.scalar(select(func.count()).select_from(Fault).where(Fault.grade_id == grade_id))
    if used:
        raise Conflict(f"{grade.name} 已有 {used} 条故障记录引用，不能删除（可停用）")
    session.delete(grade)
    session.flush()


def recipients(session: Session, grade: FaultGrade, at: datetime) -> tuple[list[Contact], list[str]]:
    """Who `grade` tells at `at`, and the gaps (see the module docstring)."""
    from cityops.duty.service import on_duty, team_manager

    people: list[Contact] = []
    gaps: list[str] = []

    def add(c: Contact | None) -> None:
        if c is not None and c.active and all(p.id != c.id for p in people):
            people.append(c)

    for code in grade.notify_teams or []:
        team = session.get(Team, code)
        if team is None or not team.active:
            gaps.append(f"值班组 {code} 不存在或已停用")
            continue
        found = [c for _, c in on_duty(session, team=code, at=at)]
        if not found:
            found = list(session.scalars(select(Contact).where(Contact.team_code == code,
                                                               Contact.active.is_(True)).order_by(Contact.id)))
        if not found:
            gaps.append(f"{team.name}（{code}）无人可通知")
        for c in found:
            add(c)
        if grade.notify_managers:
            add(team_manager(session, code))
    for cid in grade.notify_contacts or []:
        c = session.get(Contact, cid)
        if c is None or not c.active:
            gaps.append(f"联系人 #{cid} 不存在或已停用")
        add(c)
    return people, gaps


def channels_for(session: Session, grade: FaultGrade) -> list[int]:
    """The grade's channels, else every enabled channel."""
    from cityops.notify.models import ChannelConfig

    if grade.channel_ids:
        return list(grade.channel_ids)
    return list(session.scalars(select(ChannelConfig.id).where(ChannelConfig.enabled.is_(True))
                                .order_by(ChannelConfig.id)))
