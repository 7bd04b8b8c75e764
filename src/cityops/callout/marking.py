"""Caller-ID spam marking (CALL-3, 标记查询): is a number the district calls out with shown to
callees as 骚扰电话 / 广告推销 / 诈骗 by the phone-security apps? A marked caller ID gets calls
rejected unanswered, so operators must know at once.

Three sources feed the same record: a marking-query service over HTTP (`HttpMarking`), the
simulator (`cityops.sim.marking`, the same HTTP API) and manual entry (an operator records what
a phone-security app shows). A change to marked, and back to clean, is alerted once.

The HTTP API assumed (a plain JSON service; adapt `HttpMarking` for a real vendor):

    GET {base_url}/query?number=13912345678        header X-Api-Key: <key>
    200 {"number": "13912345678", "marked": true, "label": "骚扰电话", "count": 37,
         "source": "<who marked it>"}
    401 bad key · 429 rate limited · 5xx unavailable
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.callout import lines, numbers
from cityops.callout.line_models import CallerId, LineCheck
from cityops.core.errors import Invalid
from cityops.core.timeutil import utcnow

LABELS = ("骚扰电话", "广告推销", "诈骗", "房产中介", "快递外卖", "其他")


@dataclass(frozen=True)
class MarkingResult:
    marked: bool
    label: str = ""
    count: int | None = None  # how many users marked it, when the service says
    source: str = ""


class MarkingService(Protocol):
    def query(self, number: str) -> MarkingResult:
        """`number` in national form (13912345678, 02162345678). Raises MarkingUnavailable."""
        ...


class MarkingUnavailable(Exception):
    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class HttpMarking:
    """The marking-query service over HTTP (shape in the module docstring)."""

    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 5.0):
        self.base_url, self.api_key, self.timeout_s = base_url.rstrip("/"), api_key, timeout_s

    def query(self, number: str) -> MarkingResult:
        from cityops.core.http import call

        r = call("GET", f"{self.base_url}/query", timeout_s=self.timeout_s, what="标记查询服务",
                 retryable=MarkingUnavailable, permanent=MarkingUnavailable, params={"number": number},
                 headers={"X-Api-Key": self.api_key, "Accept": "application/json"})
        try:
            body = r.json()
            marked = body["marked"]
        except (ValueError, KeyError, TypeError):
            raise MarkingUnavailable(f"标记查询服务答复格式不对：{r.text[:120]}") from None
        if not isinstance(marked, bool):
            raise MarkingUnavailable("标记查询服务答复格式不对：marked 不是布尔值")
        count = body.get("count")
        return MarkingResult(marked=marked, label=str(body.get("label") or "")[:64] if marked else "",
                             count=count if isinstance(count, int) else None,
                             source=str(body.get("source") or "标记查询服务")[:64])


def configured_service(session: Session) -> MarkingService | None:
    cfg = lines.get_settings(session)
    if not cfg["marking_base_url"] or not cfg["marking_api_key"]:
        return None
    return HttpMarking(cfg["marking_base_url"], cfg["marking_api_key"], timeout_s=cfg["marking_timeout_s"])


def apply(session: Session, c: CallerId, result: MarkingResult, *, source: str, now: datetime,
          detail: str = "") -> LineCheck:
    """Store one marking observation: the caller ID's status, a history row, and an alert when
    it becomes marked or is cleared (once per change)."""
    before = c.marking
    c.marking = "marked" if result.marked else "clean"
    c.label = result.label if result.marked else ""
    c.mark_count, c.source, c.checked_at = result.count, source[:64], now
    if result.marked and before != "marked":
        c.marked_since = now
    elif not result.marked:
        c.marked_since = None
    shown = numbers.national(c.number_e164)
    text = detail or (f"已被标记为「{c.label or '未注明'}」" + (f"（{c.mark_count} 人标记）" if c.mark_count else "")
                      if result.marked else "未被标记")
    row = LineCheck(kind="marking", subject=shown, caller_id=c.id, ok=not result.marked, detail=f"{text}（{source}）",
                    data={"marked": result.marked, "label": c.label, "count": result.count, "source": source}, at=now)
    session.add(row)
    session.flush()
    if result.marked and before != "marked":
        lines.alert(session, title="外呼线路·外显号码被标记", severity="major", now=now,
                    dedup_prefix=f"callout-marking:{c.id}:marked:{row.id}",
                    text=f"外显号码 {shown}（线路组 {c.line_group or '默认'}）{text}，来源：{source}。"
                         "被叫手机会提示该号码，接通率将明显下降，请申诉或更换外显号码。")
    elif not result.marked and before == "marked":
        lines.alert(session, title="外呼线路·外显号码标记已解除", severity="info", now=now,
                    dedup_prefix=f"callout-marking:{c.id}:clean:{row.id}",
                    text=f"外显号码 {shown} 已不再被标记（来源：{source}）。")
    return row


def record_manual(session: Session, caller_id: int, *, marked: bool, label: str = "", count: int | None = None,
                  app: str = "", by: str, now: datetime | None = None) -> LineCheck:
    """An operator records what a phone-security app shows (e.g. 腾讯手机管家: 骚扰电话, 37 人标记)."""
    c = lines.get_caller_id(session, caller_id)
    label = (label or "").strip()
    if marked and not label:
        raise Invalid("请填写标记类型，例如 骚扰电话、广告推销、诈骗")
    if len(label) > 64 or len(app) > 40:
        raise Invalid("标记类型或查询来源过长")
    if count is not None and count < 0:
        raise Invalid("标记人数不能为负数")
    source = f"人工录入·{by}" + (f"·{app.strip()}" if app.strip() else "")
    return apply(session, c, MarkingResult(marked=marked, label=label, count=count, source=source),
                 source=source, now=now or utcnow())


def query_now(session: Session, caller_id: int, *, service: MarkingService | None = None,
              now: datetime | None = None) -> LineCheck:
    """Ask the service about one caller ID now. A failing service leaves the marking as it was
    and gives a failed history row with `data["error"]`."""
    c = lines.get_caller_id(session, caller_id)
    service = service or configured_service(session)
    if service is None:
        raise Invalid("尚未配置标记查询服务（地址和 API 密钥）")
    now = now or utcnow()
    try:
        result = service.query(numbers.national(c.number_e164))
    except MarkingUnavailable as exc:
        row = LineCheck(kind="marking", subject=numbers.national(c.number_e164), caller_id=c.id, ok=False,
                        detail=f"查询失败：{exc}", data={"error": str(exc)}, at=now)
        session.add(row)
        session.flush()
        return row
    return apply(session, c, result, source=result.source or "标记查询服务", now=now)


def query_all(session: Session, *, now: datetime | None = None, max_age_h: float = 20,
              service: MarkingService | None = None) -> dict[str, int]:
    """Every caller ID not checked within `max_age_h` (the daily job); failures are counted and kept
    in the history, the rest go on."""
    service = service or configured_service(session)
    if service is None:
        return {}
    now = now or utcnow()
    out = {"checked": 0, "marked": 0, "failed": 0}
    rows = list(session.scalars(select(CallerId).order_by(CallerId.id)))
    for c in rows:
        if c.checked_at is not None and c.checked_at > now - timedelta(hours=max_age_h):
            continue
        row = query_now(session, c.id, service=service, now=now)
        if "error" in row.data:
            out["failed"] += 1
            continue
        out["checked"] += 1
        out["marked"] += not row.ok
    return out
