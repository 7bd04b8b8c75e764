"""`push` probe: a dead man's switch (OPS-1). A job (a backup, an export) calls
`POST /api/v1/probes/push/{token}` when it finishes; the probe fails when the last push is older
than `period_s` + `grace_s`, or reported `status=fail`. The state lives on the probe row, so
this kind is evaluated by `probe_service` (and the CLI with the database), not over the network."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cityops.core.errors import Invalid
from cityops.core.timeutil import local
from cityops.inspections.probes import Opt, ProbeResult

LABEL = "推送心跳（定时任务）"
OPTIONS = (Opt("period_s", "预期推送周期（秒）", type="int", default=86400),
           Opt("grace_s", "宽限（秒）", type="int", default=3600))


def validate_target(target: str, opts: dict[str, Any]) -> None:
    if opts.get("period_s", 1) == 0:
        raise Invalid("推送周期必须大于 0")


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    raise Invalid("push 探针的状态保存在数据库中，只能对已配置的探针执行（cityops probe push 令牌）")


def evaluate(opts: dict[str, Any], *, created_at: datetime, last_push_at: datetime | None, last_push_ok: bool | None,
             last_push_msg: str, now: datetime) -> ProbeResult:
    limit = opts["period_s"] + opts["grace_s"]
    data: dict[str, Any] = {"last_push_at": last_push_at.isoformat() if last_push_at else None}
    if last_push_at is None:
        waited = (now - created_at).total_seconds()
        if waited > limit:
            return ProbeResult(False, None, f"从未收到推送（已等待 {waited / 3600:.1f} 小时）", data)
        return ProbeResult(True, None, "等待首次推送", data)
    age = (now - last_push_at).total_seconds()
    data["age_s"] = round(age)
    when = local(last_push_at).strftime("%m-%d %H:%M")
    if last_push_ok is False:
        return ProbeResult(False, None, f"任务报告失败（{when}）：{last_push_msg or '无说明'}"[:300], data)
    if age > limit:
        return ProbeResult(False, None, f"最后一次推送在 {when}，已超过 {age / 3600:.1f} 小时", data)
    return ProbeResult(True, None, f"最后一次推送 {when}（{age / 60:.0f} 分钟前）", data)
