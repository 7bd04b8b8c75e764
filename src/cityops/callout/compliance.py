"""The compliance gate (CALL-4), asked immediately before every dial.

Rules, checked in this order; every rule that fails adds a code and a Chinese reason:

1. ``invalid_number`` — not a valid mainland mobile/fixed number, or a service, short or
   emergency number. Never waived, not even for an emergency broadcast.
2. ``dnc_global`` / ``dnc_scenario`` / ``opt_out`` — the number is on the do-not-call list for
   every scenario, for this scenario, or the callee opted out (key press) for this scenario.
3. ``list_expired`` — the entry's call list is past its ``valid_until``.
4. ``outside_window`` — the local (Asia/Shanghai) time is outside the scenario's calling
   windows (``scenarios.SCENARIOS`` defaults, or ``windows=`` given by the caller).
5. ``daily_cap`` — the callee has already been dialled ``daily_cap`` times (default 3) today,
   Beijing date, across all campaigns and scenarios (rows in ``callout_ledger``).

Public-safety broadcasts (scenario ``emergency``) have no calling window and are exempt from
do-not-call, opt-out and the daily cap: a warning about a typhoon or a gas leak must reach
everyone. They are never exempt from an invalid number or an expired list. A call of
``priority="highest"`` in another scenario skips the calling window only.

Every decision, allowed or refused, is written to ``callout_gate_log``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityops.callout import lists, numbers
from cityops.callout.list_models import CallLedger, CallListEntry, DoNotCall, GateLog
from cityops.callout.scenarios import SCENARIOS, Window
from cityops.core.errors import Invalid
from cityops.core.timeutil import SHANGHAI, aware

DAILY_CAP = 3


@dataclass
class Decision:
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    number_e164: str | None = None


def _fmt(windows: tuple[Window, ...]) -> str:
    return "、".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in windows)


def in_window(at: datetime, windows: tuple[Window, ...]) -> bool:
    if not windows:
        return True
    t = aware(at).astimezone(SHANGHAI).time()
    return any(a <= t < b for a, b in windows)


def calls_today(session: Session, e164: str, at: datetime) -> int:
    local = aware(at).astimezone(SHANGHAI)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return session.scalar(select(func.count()).select_from(CallLedger).where(
        CallLedger.number_e164 == e164, CallLedger.at >= start, CallLedger.at < start + timedelta(days=1))) or 0


def record_dial(session: Session, number_e164: str, scenario: str, at: datetime, outcome: str = "") -> CallLedger:
    """What the dialer calls for each dial; the daily cap counts these rows."""
    row = CallLedger(number_e164=number_e164, scenario=scenario, at=aware(at), outcome=outcome)
    session.add(row)
    session.flush()
    return row


def check(session: Session, *, number: str, scenario: str, at: datetime, priority: str = "normal",
          list_entry: CallListEntry | None = None, windows: tuple[Window, ...] | None = None,
          daily_cap: int = DAILY_CAP) -> Decision:
    sc = SCENARIOS.get(scenario)
    if sc is None:
        raise Invalid(f"未知场景 {scenario!r}", allowed=list(SCENARIOS))
    d = Decision(True)

    def refuse(rule: str, reason: str) -> None:
        d.allowed = False
        d.rules.append(rule)
        d.reasons.append(reason)

    p = numbers.parse(number)
    if not p.ok:
        refuse("invalid_number", f"号码无效：{p.reason}")
    d.number_e164 = p.e164
    if p.ok and not sc.public_safety:
        for row in session.scalars(select(DoNotCall).where(
                DoNotCall.number_e164 == p.e164, or_(DoNotCall.scenario.is_(None), DoNotCall.scenario == scenario))):
            if row.scenario is None:
                refuse("dnc_global", "号码在全局免打扰名单中")
            elif row.source == "opt_out":
                refuse("opt_out", f"被叫已退订本场景（{row.reason or '退订'}）")
            else:
                refuse("dnc_scenario", f"号码在本场景（{sc.label}）免打扰名单中")
    if list_entry is not None:
        cl = lists.get_list(session, list_entry.list_id)
        if lists.is_expired(cl, at):
            refuse("list_expired", f"名单「{cl.name}」已过有效期")
    wins = sc.windows if windows is None else windows
    if priority != "highest" and not in_window(at, wins):
        refuse("outside_window", f"不在{sc.label}允许的呼叫时段（{_fmt(wins)}）")
    if p.ok and not sc.public_safety:
        n = calls_today(session, p.e164, at)
        if n >= daily_cap:
            refuse("daily_cap", f"该号码今日已呼叫 {n} 次，达到每日上限 {daily_cap} 次")
    session.add(GateLog(number=(p.e164 or number)[:64], scenario=scenario, at=aware(at), allowed=d.allowed,
                        rules=d.rules, reasons=d.reasons))
    session.flush()
    return d
