"""The shipped checklists (ROOM-1, ROOM-2): the machine room's daily round and the per-asset
equipment check. Seeding is idempotent by code; operators' later versions are left alone."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.inspections.checklist_models import ChecklistTemplate
from cityops.inspections.checklist_service import create_template

_OK_BAD = [{"value": "正常", "abnormal": False}, {"value": "异常", "abnormal": True}]

ROOM_DAILY = ("room-daily", "机房日常巡检", "room", [
    {"code": "temperature", "label": "温度", "type": "number", "unit": "℃", "min_value": 18, "max_value": 27,
     "hint": "机柜进风口处读数"},
    {"code": "humidity", "label": "湿度", "type": "number", "unit": "%RH", "min_value": 40, "max_value": 60},
    {"code": "mains", "label": "市电/配电", "type": "bool", "severity": "major"},
    {"code": "ups_state", "label": "UPS 状态", "type": "choice", "severity": "major",
     "options": [{"value": "市电供电", "abnormal": False}, {"value": "电池供电", "abnormal": True},
                 {"value": "旁路", "abnormal": True}, {"value": "告警", "abnormal": True}]},
    {"code": "ups_load", "label": "UPS 负载", "type": "number", "unit": "%", "min_value": 0, "max_value": 70},
    {"code": "battery", "label": "电池后备时间", "type": "number", "unit": "min", "min_value": 30},
    {"code": "crac", "label": "精密空调", "type": "bool"},
    {"code": "fire", "label": "消防（气体灭火控制盘）", "type": "choice", "severity": "critical",
     "options": [{"value": "正常（自动）", "abnormal": False}, {"value": "手动状态", "abnormal": True},
                 {"value": "故障", "abnormal": True}, {"value": "报警", "abnormal": True}]},
    {"code": "leds", "label": "机柜与设备指示灯", "type": "bool"},
    {"code": "cabling", "label": "线缆整理", "type": "bool", "severity": "info"},
    {"code": "access", "label": "门禁与访客登记", "type": "bool"},
    {"code": "leak", "label": "漏水检测", "type": "choice", "severity": "major",
     "options": [{"value": "无漏水", "abnormal": False}, {"value": "有漏水", "abnormal": True}]},
    {"code": "photo", "label": "机房照片", "type": "photo", "required": False},
    {"code": "remarks", "label": "其他情况", "type": "text", "required": False},
])

ASSET_CHECK = ("asset-check", "设备巡检", "asset", [
    {"code": "leds", "label": "指示灯", "type": "choice", "options": [
        {"value": "正常（绿）", "abnormal": False}, {"value": "黄灯", "abnormal": True}, {"value": "红灯", "abnormal": True},
        {"value": "不亮", "abnormal": True}]},
    {"code": "fans", "label": "风扇", "type": "choice", "options": _OK_BAD},
    {"code": "disks", "label": "硬盘", "type": "choice", "severity": "major", "options": _OK_BAD},
    {"code": "alarms", "label": "告警", "type": "choice", "options": [
        {"value": "无告警", "abnormal": False}, {"value": "有告警", "abnormal": True}]},
    {"code": "photo", "label": "设备照片", "type": "photo", "required": False},
])


def seed_checklists(session: Session) -> int:
    made = 0
    for code, name, kind, items in (ROOM_DAILY, ASSET_CHECK):
        if session.scalar(select(ChecklistTemplate.id).where(ChecklistTemplate.code == code).limit(1)) is None:
            create_template(session, code=code, name=name, kind=kind, items=items, actor="system:seed")
            made += 1
    return made
