"""Lines (CALL-3): the voice gateways and IP phones calls go out through, the caller IDs they
present, line health, and `dial_targets` — what the SIP telephony adapter dials through.

A device's `state` (up | down | unknown) comes from its SIP OPTIONS check (`line_checks`): a
gateway that does not answer OPTIONS is down and gets no calls; one never checked is unknown
and is still dialled, after the healthy ones."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cityops.callout import numbers
from cityops.callout.line_models import (
    CHECK_KINDS,
    DEVICE_KINDS,
    CallerId,
    LineCheck,
    LineDevice,
    LineSetting,
)
from cityops.core import secret_settings
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow

MAX_PORTS = 480  # an SMG with 16 E1 spans (16 × 30 channels)
PASS_RATE_DAYS = 7
_HOST = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
DEVICE_FIELDS = ("kind", "name", "model", "host", "sip_port", "username", "password", "ports", "line_group",
                 "http_status_url", "test_number", "enabled", "note")
CALLER_FIELDS = ("number", "line_group", "carrier", "note")


@dataclass(frozen=True)
class GatewayTarget:
    """One SIP gateway the dialer may send calls to, with its free capacity in ports."""

    id: int
    name: str
    host: str
    port: int
    ports: int  # concurrent calls the gateway takes, as configured
    username: str | None = None
    password: str | None = None
    line_group: str = ""
    state: str = "unknown"  # up | unknown (down gateways are never targets)


def dial_targets(session: Session, line_group: str = "") -> list[GatewayTarget]:
    """Enabled gateways of `line_group` ("" = any) not known to be down, best first: up before
    unknown, a passed last test call before a failed one, more ports first."""
    q = select(LineDevice).where(LineDevice.kind == "gateway", LineDevice.enabled.is_(True),
                                 LineDevice.state != "down")
    if line_group:
        q = q.where(LineDevice.line_group == line_group)
    rows = list(session.scalars(q))
    rows.sort(key=lambda d: (d.state != "up", d.last_test_ok is False, -d.ports, d.id))
    return [GatewayTarget(id=d.id, name=d.name, host=d.host, port=d.sip_port, ports=d.ports,
                          username=d.username or None, password=d.password or None, line_group=d.line_group,
                          state=d.state) for d in rows]


# -- validation ------------------------------------------------------------------------------
def _host(value: Any) -> str:
    host = str(value or "").strip()
    if not host:
        raise Invalid("请填写网关地址（IP 或主机名）")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.match(host) or host.replace(".", "").isdigit():
            raise Invalid(f"网关地址「{host}」不是有效的 IP 地址或主机名") from None
        return host.lower()
    if ip.version != 4:
        raise Invalid("目前只支持 IPv4 地址")
    if ip.is_unspecified or ip.is_multicast:
        raise Invalid(f"网关地址「{host}」不可用")
    return host


def _int(value: Any, lo: int, hi: int, what: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{what}必须是整数") from None
    if not lo <= n <= hi:
        raise Invalid(f"{what}应在 {lo}～{hi} 之间")
    return n


def _text(value: Any, limit: int, what: str, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise Invalid(f"请填写{what}")
    if len(text) > limit:
        raise Invalid(f"{what}不能超过 {limit} 个字符")
    return text


def _number(value: Any, what: str) -> str:
    n = numbers.parse(str(value or ""))
    if not n.ok:
        raise Invalid(f"{what}无效：{n.reason}")
    return n.e164  # type: ignore[return-value]


def _clean_device(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "kind":
            if value not in DEVICE_KINDS:
                raise Invalid("设备类型只能是 gateway（语音网关）或 ip_phone（IP 话机）")
            out[key] = value
        elif key == "name":
            out[key] = _text(value, 64, "名称", required=True)
        elif key == "model":
            out[key] = _text(value, 64, "型号")
        elif key == "host":
            out[key] = _host(value)
        elif key == "sip_port":
            out[key] = _int(value, 1, 65535, "SIP 端口")
        elif key == "ports":
            out[key] = _int(value, 1, MAX_PORTS, "并发路数")
        elif key in ("username", "line_group"):
            out[key] = _text(value, 64 if key == "username" else 32, "SIP 用户名" if key == "username" else "线路组")
        elif key == "password":
            out[key] = _text(value, 128, "SIP 密码")
        elif key == "http_status_url":
            url = _text(value, 512, "状态页地址")
            if url and not re.match(r"^https?://[^\s/]+", url):
                raise Invalid("状态页地址必须以 http:// 或 https:// 开头")
            out[key] = url
        elif key == "test_number":
            out[key] = _number(value, "测试号码") if str(value or "").strip() else ""
        elif key == "enabled":
            out[key] = bool(value)
        elif key == "note":
            out[key] = _text(value, 2000, "备注")
        else:
            raise Invalid(f"未知字段 {key}")
    return out


# -- devices ---------------------------------------------------------------------------------
def list_devices(session: Session, *, kind: str | None = None, line_group: str | None = None) -> list[LineDevice]:
    q = select(LineDevice).order_by(LineDevice.line_group, LineDevice.name)
    if kind:
        q = q.where(LineDevice.kind == kind)
    if line_group is not None:
        q = q.where(LineDevice.line_group == line_group)
    return list(session.scalars(q))


def get_device(session: Session, device_id: int) -> LineDevice:
    d = session.get(LineDevice, device_id)
    if d is None:
        raise NotFound(f"线路设备 #{device_id} 不存在")
    return d


def _unique_name(session: Session, name: str, device_id: int | None) -> None:
    other = session.scalar(select(LineDevice.id).where(LineDevice.name == name))
    if other is not None and other != device_id:
        raise Conflict(f"名称「{name}」已被其他设备使用")


def create_device(session: Session, *, data: dict[str, Any]) -> LineDevice:
    fields = _clean_device({k: v for k, v in data.items() if k in DEVICE_FIELDS and v is not None})
    for key, what in (("name", "名称"), ("host", "网关地址")):
        if key not in fields:
            raise Invalid(f"请填写{what}")
    _unique_name(session, fields["name"], None)
    d = LineDevice(**fields)
    session.add(d)
    session.flush()
    return d


def update_device(session: Session, device_id: int, *, data: dict[str, Any]) -> LineDevice:
    """Change the given fields; a password left out, empty or given as the mask is kept."""
    d = get_device(session, device_id)
    from cityops.core.secret_settings import MASK

    data = {k: v for k, v in data.items() if k in DEVICE_FIELDS}
    if data.get("password") in (None, "", MASK):
        data.pop("password", None)
    fields = _clean_device({k: v for k, v in data.items() if v is not None})
    if "name" in fields:
        _unique_name(session, fields["name"], d.id)
    if {"host", "sip_port"} & fields.keys() and (fields.get("host", d.host), fields.get("sip_port", d.sip_port)) \
            != (d.host, d.sip_port):
        d.state, d.state_since, d.sip_ok, d.http_ok = "unknown", None, None, None  # a new address: not checked yet
    for key, value in fields.items():
        setattr(d, key, value)
    session.flush()
    return d


def delete_device(session: Session, device_id: int) -> None:
    session.delete(get_device(session, device_id))
    session.flush()


# -- caller IDs ------------------------------------------------------------------------------
def list_caller_ids(session: Session, *, marking: str | None = None) -> list[CallerId]:
    q = select(CallerId).order_by(case((CallerId.marking == "marked", 0), else_=1), CallerId.line_group,
                                  CallerId.number_e164)
    if marking:
        q = q.where(CallerId.marking == marking)
    return list(session.scalars(q))


def get_caller_id(session: Session, caller_id: int) -> CallerId:
    c = session.get(CallerId, caller_id)
    if c is None:
        raise NotFound(f"外显号码 #{caller_id} 不存在")
    return c


def _clean_caller(session: Session, data: dict[str, Any], current: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "number":
            e164 = _number(value, "外显号码")
            other = session.scalar(select(CallerId.id).where(CallerId.number_e164 == e164))
            if other is not None and other != current:
                raise Conflict(f"外显号码 {numbers.national(e164)} 已登记")
            out["number_e164"] = e164
        elif key == "line_group":
            out[key] = _text(value, 32, "线路组")
        elif key == "carrier":
            out[key] = _text(value, 32, "运营商")
        elif key == "note":
            out[key] = _text(value, 2000, "备注")
    return out


def create_caller_id(session: Session, *, data: dict[str, Any]) -> CallerId:
    if not str(data.get("number") or "").strip():
        raise Invalid("请填写外显号码")
    fields = _clean_caller(session, {k: v for k, v in data.items() if k in CALLER_FIELDS and v is not None}, None)
    c = CallerId(**fields)
    session.add(c)
    session.flush()
    return c


def update_caller_id(session: Session, caller_id: int, *, data: dict[str, Any]) -> CallerId:
    c = get_caller_id(session, caller_id)
    fields = _clean_caller(session, {k: v for k, v in data.items() if k in CALLER_FIELDS and v is not None}, c.id)
    if "number_e164" in fields and fields["number_e164"] != c.number_e164:
        c.marking, c.label, c.mark_count, c.source, c.checked_at, c.marked_since = \
            "unknown", "", None, "", None, None  # another number: its marking is not known yet
    for key, value in fields.items():
        setattr(c, key, value)
    session.flush()
    return c


def delete_caller_id(session: Session, caller_id: int) -> None:
    session.delete(get_caller_id(session, caller_id))
    session.flush()


# -- history and health ----------------------------------------------------------------------
def history(session: Session, *, kind: str | None = None, device_id: int | None = None,
            caller_id: int | None = None, ok: bool | None = None, since: datetime | None = None,
            limit: int = 100, offset: int = 0) -> tuple[list[LineCheck], int]:
    if kind and kind not in CHECK_KINDS:
        raise Invalid(f"检查类型只能是 {'、'.join(CHECK_KINDS)}")
    q = select(LineCheck)
    if kind:
        q = q.where(LineCheck.kind == kind)
    if device_id is not None:
        q = q.where(LineCheck.device_id == device_id)
    if caller_id is not None:
        q = q.where(LineCheck.caller_id == caller_id)
    if ok is not None:
        q = q.where(LineCheck.ok.is_(ok))
    if since is not None:
        q = q.where(LineCheck.at >= since)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(LineCheck.at.desc(), LineCheck.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def _last(session: Session, device_id: int, kind: str) -> LineCheck | None:
    return session.scalar(select(LineCheck).where(LineCheck.device_id == device_id, LineCheck.kind == kind)
                          .order_by(LineCheck.at.desc(), LineCheck.id.desc()).limit(1))


def health(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Per device: state, the last OPTIONS / HTTP / test call, and the test-call pass rate over the
    last 7 days; per caller ID its marking; counts for the headline."""
    now = now or utcnow()
    since = now - timedelta(days=PASS_RATE_DAYS)
    rates = {dev: (int(total), int(passed or 0)) for dev, total, passed in session.execute(
        select(LineCheck.device_id, func.count(), func.sum(case((LineCheck.ok.is_(True), 1), else_=0)))
        .where(LineCheck.kind == "test_call", LineCheck.at >= since, LineCheck.device_id.is_not(None))
        .group_by(LineCheck.device_id))}
    devices = []
    for d in list_devices(session):
        total, passed = rates.get(d.id, (0, 0))
        devices.append({"device": d, "state": d.state if d.enabled else "disabled",
                        "options": _last(session, d.id, "options"), "http": _last(session, d.id, "http"),
                        "test_call": _last(session, d.id, "test_call"), "tests_7d": total, "passed_7d": passed,
                        "pass_rate_7d": round(passed / total, 3) if total else None})
    callers = list_caller_ids(session)
    enabled = [x for x in devices if x["device"].enabled]
    counts = {"devices": len(devices), "up": sum(x["state"] == "up" for x in enabled),
              "down": sum(x["state"] == "down" for x in enabled),
              "unknown": sum(x["state"] == "unknown" for x in enabled),
              "disabled": len(devices) - len(enabled),
              "ports_up": sum(x["device"].ports for x in enabled if x["state"] == "up"),
              "caller_ids": len(callers), "marked": sum(c.marking == "marked" for c in callers)}
    return {"at": now, "counts": counts, "devices": devices, "caller_ids": callers}



# -- settings: marking service, alert recipients, test-call schedule ------------------------
class LineSettings(BaseModel):
    """One row `callout_line_settings["settings"]`. The marking-query service answers
    GET {marking_base_url}/query?number=… with header X-Api-Key (see `marking.HttpMarking`)."""

    marking_base_url: str = ""
    marking_api_key: SecretStr | None = None
    marking_timeout_s: float = Field(5.0, ge=1, le=30)
    notify_team: str = ""  # duty team whose people on duty hear about down gateways and marked numbers
    notify_channels: list[int] = Field(default_factory=list)
    test_interval_h: float = Field(6.0, ge=0.25, le=168)
    test_ring_timeout_s: int = Field(30, ge=5, le=120)
    test_max_call_s: int = Field(5, ge=1, le=60)

    @field_validator("marking_base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = (v or "").strip().rstrip("/")
        if v and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("标记查询服务地址必须以 http:// 或 https:// 开头")
        return v


SETTINGS_KEY = "settings"


def get_settings(session: Session) -> dict[str, Any]:
    """Stored settings (secrets in clear, for the code that uses them), defaults filled in."""
    row = session.get(LineSetting, SETTINGS_KEY)
    return secret_settings.validate(LineSettings, dict(row.value) if row else {}, what="线路")


def public_settings(session: Session) -> dict[str, Any]:
    row = session.get(LineSetting, SETTINGS_KEY)
    out = secret_settings.public(LineSettings, get_settings(session))
    out["updated_at"], out["updated_by"] = (row.updated_at, row.updated_by) if row else (None, "")
    return out


def update_settings(session: Session, *, by: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply the given fields; the API key given as the mask (or left out) keeps its value."""
    from cityops.duty.models import Team
    from cityops.notify.models import ChannelConfig

    current = get_settings(session)
    merged = {**current, **{k: v for k, v in changes.items() if k in LineSettings.model_fields}}
    value = secret_settings.validate(LineSettings, merged, what="线路", previous=current)
    if value["notify_team"] and session.get(Team, value["notify_team"]) is None:
        raise Invalid(f"值班组「{value['notify_team']}」不存在")
    ids = sorted(set(value["notify_channels"]))
    found = set(session.scalars(select(ChannelConfig.id).where(ChannelConfig.id.in_(ids)))) if ids else set()
    if set(ids) - found:
        raise Invalid(f"通知渠道不存在：{', '.join(str(i) for i in sorted(set(ids) - found))}")
    value["notify_channels"] = ids
    row = session.get(LineSetting, SETTINGS_KEY)
    if row is None:
        row = LineSetting(key=SETTINGS_KEY, value=value, updated_by=by, updated_at=utcnow())
        session.add(row)
    else:
        row.value, row.updated_by, row.updated_at = value, by, utcnow()
    session.flush()
    return value


def alert(session: Session, *, title: str, text: str, severity: str, dedup_prefix: str,
          now: datetime | None = None) -> int:
    """Outbox rows (notify.direct) for the configured team's people on duty; 0 when no team or
    channel is configured. `dedup_prefix` must name the change (not the check) so it is sent once."""
    from cityops.core.settings import get_settings as app_settings
    from cityops.notify import direct, engine

    now = now or utcnow()
    cfg = get_settings(session)
    if not cfg["notify_team"] or not cfg["notify_channels"]:
        return 0
    people, _ = engine.recipients(session, {"targets": [{"kind": "team", "team": cfg["notify_team"]}]}, None, now)
    link = ("打开线路状态", f"{app_settings().public_url.rstrip('/')}/console/callout/lines")
    rows = direct.enqueue(session, title=title, text=text, severity=severity, channel_ids=cfg["notify_channels"],
                          contacts=people, dedup_prefix=dedup_prefix, link=link, now=now)
    session.flush()
    return len(rows)
