"""Chinese labels for campaign and call values (CALL-1, CALL-2), shared by the campaign API and
console pages, and the business links of a call ("event:12" → the event)."""

from __future__ import annotations

RESULTS = {
    "answered": "已接听", "no_answer": "无人接听", "busy": "忙线", "unreachable": "无法接通",
    "invalid_number": "空号", "rejected": "拒接", "failed": "失败", "power_off": "关机", "suspended": "停机",
    "dialing": "呼叫中", "interrupted": "通话中断",
}
CAMPAIGN_STATES = {"draft": "草稿", "running": "进行中", "paused": "已暂停", "done": "已结束"}
TASK_STATES = {"pending": "待呼叫", "in_progress": "呼叫中", "done": "已完成", "skipped": "已跳过", "failed": "失败"}
TRIGGERS = {"manual": "手动", "schedule": "定时", "event_closed": "事件处置完成（回访）", "workorder_overdue": "工单超期",
            "alarm_unacked": "告警未确认", "broadcast": "应急广播"}
PRIORITIES = {"normal": "普通", "high": "高", "highest": "最高"}
OUTCOMES = {"hangup": "正常挂机", "transfer": "转人工", "opt_out": "按键退订", "callee_hangup": "被叫挂机",
            "not_answered": "未接通"}
ADAPTERS = {"sim": "模拟", "sip": "SIP"}


def adapter(code: str) -> str:
    """"sip:网关3" → "SIP 网关3": the SIP adapter names the gateway a call went out through."""
    kind, _, gateway = (code or "").partition(":")
    return (ADAPTERS.get(kind, kind) + (f" {gateway}" if gateway else "")) or "—"


def result(code: str) -> str:
    """A dial result, or a gate refusal ("gate:outside_window") as 合规拦截."""
    if code.startswith("gate:"):
        return "合规拦截"
    return RESULTS.get(code, code)


def business_link(ref: str) -> dict[str, str] | None:
    """The API and console addresses of what a call was about, or None when not known."""
    kind, _, key = (ref or "").partition(":")
    if not key.isdigit():
        return None
    if kind == "event":
        return {"kind": "event", "id": key, "label": f"事件 {key}", "api": f"/api/v1/events/{key}",
                "console": f"/console/events/{key}"}
    if kind == "alarm":
        return {"kind": "alarm", "id": key, "label": f"告警 {key}", "api": "", "console": f"/console/alarms/{key}"}
    return None
