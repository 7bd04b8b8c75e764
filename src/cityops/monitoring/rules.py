"""Device rule evaluator (IOT-5): thresholds with hysteresis, duration, repeat, AND/OR,
rate of change, stale values, low battery, weak signal and vendor alarms → raise/clear signals.

Pure and in-memory: nothing here touches the database, the bus or HTTP. Rule definitions are the
pydantic models of :mod:`cityops.monitoring.rules_schema` (JSON-storable); the engine compiles
each one once into closures and keeps per-(device, rule) state in small ``__slots__`` objects.

Semantics
---------
* Every device has a *view*: the latest value of every property it reported (messages may be
  partial; values are merged), when each property was last seen, and the rate of change between
  its two latest numeric samples. Rules are evaluated against the view after each message of the
  device (``on_message``) and, for time-dependent rules, on ``tick(now)``.
* **Raise** when the condition holds (after ``for_s`` of holding continuously, or after it became
  true ``repeat.count`` times within ``repeat.within_s``). Each (device, rule) raises once and
  stays raised until it **clears**.
* **Clear** when ``clear_condition`` holds. By default it is derived from the condition:
  ``Threshold(>= X, clear_below=Y)`` clears at ``< Y`` (hysteresis: values in [Y, X) keep the
  alarm); a threshold without hysteresis clears on the inverse comparison (non-numeric values
  satisfy neither side, so garbage neither raises nor clears); ``All`` clears when any part
  clears, ``Any`` when every part clears; ``Event(active)`` clears on the same event
  ``inactive``; ``Stale`` clears on a fresh reading. A repeat rule without an explicit
  ``clear_condition`` clears once no new occurrence arrived for ``repeat.within_s``.
* **Duration** (``for_s``): the first matching evaluation starts the timer, a non-matching one
  resets it; ``tick`` raises when the time is up even without new samples.
* **Repeat**: an *occurrence* is a false→true edge of the condition (an ``Event`` condition is
  momentary: every matching message is an occurrence).
* Occurrences while raised produce a ``"repeat"`` signal (``count`` = repeats since the raise) if
  the engine was built with ``emit_repeats=True``; otherwise they are silent.
* **Severity levels**: rules of one device sharing an ``alarm_type`` are levels of one alarm
  (e.g. ``>= 60`` warning, ``>= 80`` critical; :func:`level_rules`). Their per-rule raise/clear
  is folded into one alarm: ``"raise"`` when the first level raises (with the highest raised
  severity), ``"severity"`` when the highest raised severity changes while at least one level
  still holds (escalate or DE-escalate), ``"clear"`` only when no level holds any more. A rule
  with an alarm type of its own behaves exactly as before, and so do vendor ``Event`` rules:
  they are momentary, so they are never levels (their raise opens or repeats the alarm; their
  clear is dropped while a level of the same alarm type still holds).
* Times are the engine clock's (monotonic seconds, see :mod:`cityops.monitoring.clock`), taken
  when the message is handed to ``on_message`` (the vendor ``ts`` is not used for timing).

Restart
-------
``snapshot()`` returns a JSON-serialisable dict of all state, times stored relative to the
snapshot; ``RuleEngine.restore(snapshot, rules, clock, elapsed_s=0)`` rebuilds an engine that
behaves identically. ``elapsed_s`` is how much of the downtime should count towards running
timers (duration, stale, repeat windows); the default 0 freezes them over the restart. Pass
``time.time() - snapshot["wall_time"]`` to let the downtime count.
"""

from __future__ import annotations

import json
import math
import operator
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any as _Any

from cityops.ingest.message import DeviceMessage
from cityops.monitoring.clock import Clock, MonotonicClock
from cityops.monitoring.rules_schema import (
    INVERSE_OP,
    SEVERITY_RANK,
    All,
    Any,
    Condition,
    Event,
    Not,
    RateOfChange,
    Repeat,
    Rule,
    Scope,
    Severity,
    Stale,
    Threshold,
)

__all__ = [
    "Signal", "RuleEngine", "merge_rules", "default_clear", "to_number",
    "low_battery_rule", "weak_signal_rule", "range_rules", "threshold_rule", "status_rule",
    "vendor_event_rules", "gb_alarm_rules", "VENDOR_EVENT_MAP", "GB28181_ALARM_METHODS",
    "LOW_BATTERY_PCT", "WEAK_RSRP_DBM", "SNAPSHOT_VERSION", "level_rules",
]

SNAPSHOT_VERSION = 1
LOW_BATTERY_PCT = 20.0
WEAK_RSRP_DBM = -110.0

_OPS: dict[str, Callable[[_Any, _Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


# -- value coercion ---------------------------------------------------------------------------

def to_number(v: _Any) -> float | None:
    """A finite float from a vendor value (80, "80", " 23.5 ", True→None), else None."""
    if type(v) is float:
        return v if math.isfinite(v) else None
    if type(v) is int:
        return float(v)
    if isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)  # Decimal, numpy scalars …
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _to_bool(v: _Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return bool(v)
    if isinstance(v, str):
        s = v.strip().lower()
        return True if s in _TRUE else False if s in _FALSE else None
    return None


# -- signals ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Signal:
    """What the engine decided for one (device, rule) (IOT-5).

    ``action``: ``"raise"`` (alarm starts), ``"clear"`` (alarm ends), ``"severity"`` (the open
    alarm's severity changes to ``severity``: a higher level raised or the highest level cleared
    while a lower one still holds) or ``"repeat"`` (a new occurrence while raised, only with
    ``emit_repeats=True``; ``count`` = repeats since the raise).
    ``at`` is engine clock time; ``value`` the value of the rule's first property (or the event
    name) at that moment; ``reason`` a short human-readable explanation.
    """

    device_id: int
    rule_id: str
    alarm_type: str
    severity: str
    action: str
    at: float
    value: _Any = None
    reason: str = ""
    count: int = 0

    def as_payload(self) -> dict[str, _Any]:
        return {"device_id": self.device_id, "rule_id": self.rule_id, "alarm_type": self.alarm_type,
                "severity": self.severity, "action": self.action, "at": self.at, "value": self.value,
                "reason": self.reason, "count": self.count}


# -- per-device view and per-(device, rule) state ----------------------------------------------

class _View:
    """Latest known values of one device."""

    __slots__ = ("raw", "num", "seen", "rate", "prev", "first_seen", "event", "event_state", "now", "states")

    def __init__(self, first_seen: float) -> None:
        self.raw: dict[str, _Any] = {}
        self.num: dict[str, float] = {}  # coerced numeric values (absent if not numeric)
        # Kept only when the device has a rule that needs them (memory per device, IOT-5 §6):
        self.seen: dict[str, float] | None = None  # property → last reading time (stale rules)
        self.rate: dict[str, float] | None = None  # property → units/s between the two latest numeric samples
        self.prev: dict[str, tuple[float, float]] | None = None  # property → (value, time) of the latest sample
        self.first_seen = first_seen
        self.event: str | None = None  # only set while evaluating the message that carries it
        self.event_state: str | None = None
        self.now = first_seen
        self.states: list[_State] | None = None


class _State:
    """Evaluation state of one rule on one device."""

    __slots__ = ("rule", "active", "holds", "since", "occ", "repeats", "raised_at", "last_occ")

    def __init__(self, rule: _Compiled) -> None:
        self.rule = rule
        self.active = False
        self.holds = False  # condition result at the last evaluation
        self.since: float | None = None  # duration timer start
        self.occ: list[float] | None = None  # occurrence times within the repeat window
        self.repeats = 0
        self.raised_at: float | None = None
        self.last_occ: float | None = None


_Pred = Callable[[_View], bool]


class _Compiled:
    __slots__ = ("rule", "id", "test", "clear", "momentary", "timed", "for_s", "repeat", "quiet_clear",
                 "value_of", "props", "needs_seen", "needs_rate")

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.id = rule.id
        cond = rule.condition
        self.test = _compile(cond)
        self.quiet_clear = rule.repeat is not None and rule.clear_condition is None
        clear = rule.clear_condition if rule.clear_condition is not None else default_clear(cond)
        self.clear = _compile(clear)
        self.momentary = _has(cond, Event)
        has_stale = _has(cond, Stale) or _has(clear, Stale)
        self.for_s = float(rule.for_s)
        self.repeat = rule.repeat
        self.timed = has_stale or self.for_s > 0 or self.quiet_clear
        self.props = _props(cond)
        self.needs_seen = has_stale
        self.needs_rate = _has(cond, RateOfChange) or _has(clear, RateOfChange)
        first = self.props[0] if self.props else None
        self.value_of: Callable[[_View], _Any] = (
            (lambda v: v.raw.get(first)) if first is not None else (lambda v: v.event))


def _has(c: Condition, kind: type) -> bool:
    if isinstance(c, kind):
        return True
    if isinstance(c, (All, Any)):
        return any(_has(x, kind) for x in c.conditions)
    if isinstance(c, Not):
        return _has(c.condition, kind)
    return False


def _props(c: Condition) -> list[str]:
    if isinstance(c, (Threshold, RateOfChange, Stale)):
        return [c.property]
    if isinstance(c, (All, Any)):
        return [p for x in c.conditions for p in _props(x)]
    if isinstance(c, Not):
        return _props(c.condition)
    return []


def default_clear(c: Condition) -> Condition:
    """The clear condition derived from a raise condition (see the module docstring)."""
    if isinstance(c, Threshold):
        if c.clear_below is not None:
            return Threshold(property=c.property, op="<", value=c.clear_below)
        if c.clear_above is not None:
            return Threshold(property=c.property, op=">", value=c.clear_above)
        return Threshold(property=c.property, op=INVERSE_OP[c.op], value=c.value)
    if isinstance(c, RateOfChange):
        return c.model_copy(update={"op": INVERSE_OP[c.op]})
    if isinstance(c, Event):
        states = sorted({"inactive" if s == "active" else "active" for s in c.states})
        return Event(events=c.events, states=states)
    if isinstance(c, All):
        return Any([default_clear(x) for x in c.conditions])
    if isinstance(c, Any):
        return All([default_clear(x) for x in c.conditions])
    if isinstance(c, Not):
        return c.condition
    return Not(c)  # Stale → a fresh reading


def _compile(c: Condition) -> _Pred:
    if isinstance(c, Threshold):
        prop, fn, val = c.property, _OPS[c.op], c.value
        if isinstance(val, bool):
            def t_bool(v: _View) -> bool:
                b = _to_bool(v.raw.get(prop))
                return b is not None and fn(b, val)
            return t_bool
        if isinstance(val, str):
            want = val.strip()
            def t_text(v: _View) -> bool:
                r = v.raw.get(prop)
                return r is not None and fn(str(r).strip(), want)
            return t_text
        num = float(val)
        def t_num(v: _View) -> bool:
            x = v.num.get(prop)
            return x is not None and fn(x, num)
        return t_num
    if isinstance(c, RateOfChange):
        prop, fn, val, per, ab = c.property, _OPS[c.op], c.value, c.per_s, c.absolute
        def t_rate(v: _View) -> bool:
            r = v.rate.get(prop) if v.rate else None
            if r is None:
                return False
            r *= per
            return fn(abs(r) if ab else r, val)
        return t_rate
    if isinstance(c, Stale):
        prop, after = c.property, c.after_s
        def t_stale(v: _View) -> bool:
            return v.now - (v.seen.get(prop, v.first_seen) if v.seen else v.first_seen) >= after
        return t_stale
    if isinstance(c, Event):
        names, states = frozenset(c.events), frozenset(c.states)
        def t_event(v: _View) -> bool:
            e = v.event
            return e is not None and e in names and (v.event_state or "active") in states
        return t_event
    if isinstance(c, All):
        parts = tuple(_compile(x) for x in c.conditions)
        return lambda v: all(p(v) for p in parts)
    if isinstance(c, Any):
        parts = tuple(_compile(x) for x in c.conditions)
        return lambda v: any(p(v) for p in parts)
    if isinstance(c, Not):
        inner = _compile(c.condition)
        return lambda v: not inner(v)
    raise TypeError(f"unknown condition {c!r}")


def _top(states: list[_State]) -> _State | None:
    """The raised level with the highest severity (the first such rule on a tie)."""
    best: _State | None = None
    for st in states:
        if best is None or SEVERITY_RANK[st.rule.rule.severity] > SEVERITY_RANK[best.rule.rule.severity]:
            best = st
    return best


# -- the engine -------------------------------------------------------------------------------

RulesSource = Callable[[int], list[Rule]] | Mapping[int, list[Rule]]


class RuleEngine:
    """Evaluates rules per device and returns raise / clear (/ repeat) signals (IOT-5).

    ``rules_for_device`` is a callable ``device_id → [Rule]`` or a mapping (missing device → no
    rules). It is asked once per device (on its first message) and cached; call
    :meth:`invalidate` after rule changes. Disabled rules (``enabled=False``) are skipped.
    Not thread-safe: drive it from one thread / task (or hold a lock around calls).
    """

    def __init__(self, rules_for_device: RulesSource, clock: Clock | None = None, *,
                 emit_repeats: bool = False) -> None:
        self._source = rules_for_device
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.emit_repeats = emit_repeats
        self._views: dict[int, _View] = {}
        self._compiled: dict[str, _Compiled] = {}  # rule JSON → compiled rule (shared across devices)
        self._by_obj: dict[int, _Compiled] = {}  # id(rule) → compiled: rule lists are shared, skip the JSON key
        self._timed: dict[int, list[_State]] = {}  # device → states that need tick()

    # -- rules ----------------------------------------------------------------------------

    def _rules_of(self, device_id: int) -> list[Rule]:
        src = self._source
        rules = src(device_id) if callable(src) else src.get(device_id, [])
        return [r for r in (rules or []) if r.enabled]

    def _compile_rule(self, rule: Rule) -> _Compiled:
        comp = self._by_obj.get(id(rule))
        if comp is not None and comp.rule is rule:
            return comp
        key = rule.model_dump_json()
        comp = self._compiled.get(key)
        if comp is None:
            comp = self._compiled[key] = _Compiled(rule)
        if comp.rule is rule:
            self._by_obj[id(rule)] = comp
        return comp

    def _states(self, device_id: int, view: _View) -> list[_State]:
        states = view.states
        if states is None:
            states = view.states = [_State(self._compile_rule(r)) for r in self._rules_of(device_id)]
            self._index_timed(device_id, states)
            if any(s.rule.needs_seen for s in states):
                view.seen = view.seen if view.seen is not None else {}
            else:
                view.seen = None
            if any(s.rule.needs_rate for s in states):
                view.rate = view.rate if view.rate is not None else {}
                view.prev = view.prev if view.prev is not None else {}
            else:
                view.rate = view.prev = None
        return states

    def _index_timed(self, device_id: int, states: list[_State]) -> None:
        timed = [s for s in states if s.rule.timed]
        if timed:
            self._timed[device_id] = timed
        else:
            self._timed.pop(device_id, None)

    def invalidate(self, device_id: int | None = None) -> None:
        """Re-read the rules of one device (or all) now. State of rules whose id and definition
        are unchanged is kept (an active alarm stays active); state of removed or changed rules
        is dropped without a signal (the alarm layer should close alarms of removed rules)."""
        if device_id is None:
            self._by_obj.clear()  # a reload brings new rule objects; do not keep the old ones alive
        ids = [device_id] if device_id is not None else list(self._views)
        for d in ids:
            view = self._views.get(d)
            if view is None or view.states is None:
                continue
            old = {s.rule.id: s for s in view.states}
            view.states = None
            new = self._states(d, view)
            for i, s in enumerate(new):
                o = old.get(s.rule.id)
                if o is not None and o.rule is s.rule:
                    new[i] = o
            self._index_timed(d, new)
        if device_id is None:
            live = {id(s.rule) for v in self._views.values() for s in (v.states or [])}
            self._compiled = {k: c for k, c in self._compiled.items() if id(c) in live}

    def touch(self, device_id: int, at: float | None = None) -> None:
        """Start watching a device before its first message (e.g. at registration or start-up),
        so ``Stale`` timers run for a device that never reports. No-op for a known device."""
        if device_id not in self._views:
            now = self.clock.now() if at is None else at
            self._states(device_id, self._views.setdefault(device_id, _View(now)))

    def forget(self, device_id: int) -> None:
        """Drop everything about a device (decommissioned)."""
        self._views.pop(device_id, None)
        self._timed.pop(device_id, None)

    # -- evaluation -------------------------------------------------------------------------

    def on_message(self, device_id: int, msg: DeviceMessage, at: float | None = None) -> list[Signal]:
        """Feed one message of a device; returns the signals it caused (often none)."""
        now = self.clock.now() if at is None else at
        view = self._views.get(device_id)
        if view is None:
            view = self._views[device_id] = _View(now)
        view.now = now
        states = self._states(device_id, view)
        seen, prev = view.seen, view.prev
        for k, raw in msg.properties.items():
            view.raw[k] = raw
            if seen is not None:
                seen[k] = now
            x = to_number(raw)
            if x is None:
                view.num.pop(k, None)
                continue
            view.num[k] = x
            if prev is not None:
                p = prev.get(k)
                if p is not None and now > p[1]:
                    view.rate[k] = (x - p[0]) / (now - p[1])
                prev[k] = (x, now)
        if msg.event:
            view.event = msg.event.strip().lower()
            view.event_state = msg.event_state
        out: list[Signal] = []
        try:
            for st in states:
                self._eval(device_id, st, view, now, out, True)
        finally:
            view.event = view.event_state = None
        return self._fold(view, out) if out else out

    def tick(self, now: float | None = None) -> list[Signal]:
        """Advance time: raise due durations, stale values, quiet repeat windows."""
        now = self.clock.now() if now is None else now
        out: list[Signal] = []
        for device_id, states in self._timed.items():
            view = self._views[device_id]
            if now < view.now:
                continue  # never evaluate backwards in time
            view.now = now
            mine: list[Signal] = []
            for st in states:
                self._eval(device_id, st, view, now, mine, False)
            if mine:
                out.extend(self._fold(view, mine))
        return out

    def _fold(self, view: _View, signals: list[Signal]) -> list[Signal]:
        """Turn per-rule raise/clear of rules sharing an alarm type (severity levels) into one
        alarm's raise / severity / clear (see the module docstring)."""
        touched = {s.alarm_type for s in signals if s.action in ("raise", "clear")}
        if not touched:
            return signals
        groups: dict[str, list[_State]] = {}
        for st in view.states or ():
            t = st.rule.rule.alarm_type
            if t in touched and not st.rule.momentary:  # a vendor event is momentary: never a level
                groups.setdefault(t, []).append(st)
        levelled = {t for t, g in groups.items() if len(g) > 1}
        if not levelled:
            return signals  # the common case: one rule per alarm type
        level_ids = {st.rule.id for t in levelled for st in groups[t]}
        out: list[Signal] = []
        per_type: dict[str, list[Signal]] = {}
        for s in signals:
            if s.rule_id in level_ids and s.action in ("raise", "clear"):
                per_type.setdefault(s.alarm_type, []).append(s)
            elif s.action == "clear" and s.alarm_type in levelled and any(st.active for st in groups[s.alarm_type]):
                continue  # an event's "inactive" does not end an alarm whose levels still hold
            else:
                out.append(s)
        for t, sigs in per_type.items():
            g = groups[t]
            changed = {s.rule_id: s for s in sigs}
            after = [st for st in g if st.active]
            before = [st for st in g if (st.active and changed.get(st.rule.id) is None)
                      or (not st.active and st.rule.id in changed and changed[st.rule.id].action == "clear")]
            top_b, top_a = _top(before), _top(after)
            if top_b is None and top_a is not None:
                out.append(changed[top_a.rule.id])
            elif top_a is None and top_b is not None:
                out.append(changed[top_b.rule.id])
            elif top_a is not None and top_b is not None:
                old, new = top_b.rule.rule.severity, top_a.rule.rule.severity
                if old == new:
                    continue
                if SEVERITY_RANK[new] > SEVERITY_RANK[old]:
                    reason = f"升级：规则 {top_a.rule.id} 触发（{old} → {new}）"
                else:
                    reason = f"降级：规则 {top_b.rule.id} 已恢复，{top_a.rule.id} 仍成立（{old} → {new}）"
                r = top_a.rule.rule
                out.append(Signal(sigs[0].device_id, r.id, t, new, "severity", sigs[0].at,
                                  top_a.rule.value_of(view), reason))
        return out

    def _eval(self, device_id: int, st: _State, view: _View, now: float, out: list[Signal], msg: bool) -> None:
        c = st.rule
        holds = c.test(view)
        edge = holds and (not st.holds or (msg and c.momentary))
        st.holds = holds and not c.momentary  # a momentary condition is false again after its message
        if st.active:
            if c.quiet_clear:
                cleared = st.last_occ is not None and now - st.last_occ >= c.repeat.within_s and not edge
            else:
                cleared = c.clear(view)
            if cleared:
                st.active = False
                st.since = None
                st.occ = None
                st.repeats = 0
                st.raised_at = None
                out.append(self._signal(device_id, st, view, "clear", now, "clear condition met"))
                return
            if edge:
                st.last_occ = now
                st.repeats += 1
                if self.emit_repeats:
                    out.append(self._signal(device_id, st, view, "repeat", now, "condition met again",
                                            st.repeats))
            return
        rep = c.repeat
        if rep is not None:
            if edge:
                occ = st.occ if st.occ is not None else []
                occ.append(now)
                horizon = now - rep.within_s
                while occ and occ[0] <= horizon:
                    occ.pop(0)
                st.occ = occ
                st.last_occ = now
                if len(occ) >= rep.count:
                    self._raise(device_id, st, view, now, out,
                                f"{len(occ)} times within {rep.within_s:g}s")
            return
        if not holds:
            st.since = None
            return
        if c.for_s <= 0:
            if msg or not c.momentary:
                self._raise(device_id, st, view, now, out, "condition met")
            return
        if st.since is None:
            st.since = now
        if now - st.since >= c.for_s:
            self._raise(device_id, st, view, now, out, f"held for {now - st.since:g}s")

    def _raise(self, device_id: int, st: _State, view: _View, now: float, out: list[Signal], reason: str) -> None:
        st.active = True
        st.raised_at = now
        st.repeats = 0
        st.occ = None
        st.since = None
        out.append(self._signal(device_id, st, view, "raise", now, reason))

    @staticmethod
    def _signal(device_id: int, st: _State, view: _View, action: str, now: float, reason: str,
                count: int = 0) -> Signal:
        r = st.rule.rule
        return Signal(device_id, r.id, r.alarm_type, r.severity, action, now, st.rule.value_of(view), reason, count)

    # -- inspection -----------------------------------------------------------------------------

    def active(self, device_id: int | None = None) -> list[tuple[int, str]]:
        """(device_id, rule_id) of every raised alarm (of one device)."""
        if device_id is None:
            self._by_obj.clear()  # a reload brings new rule objects; do not keep the old ones alive
        ids = [device_id] if device_id is not None else list(self._views)
        return [(d, s.rule.id) for d in ids if d in self._views
                for s in (self._views[d].states or []) if s.active]

    def value(self, device_id: int, prop: str) -> _Any:
        view = self._views.get(device_id)
        return None if view is None else view.raw.get(prop)

    def __len__(self) -> int:
        return len(self._views)

    # -- restart ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, _Any]:
        """All state as a JSON-serialisable dict; times relative to the snapshot (negative = past)."""
        base = self.clock.now()

        def rel(t: float | None) -> float | None:
            return None if t is None else t - base

        devices: dict[str, _Any] = {}
        for d, v in self._views.items():
            rules = {}
            for s in v.states or []:
                if not (s.active or s.holds or s.since is not None or s.occ or s.last_occ is not None):
                    continue
                rules[s.rule.id] = {"active": s.active, "holds": s.holds, "since": rel(s.since),
                                    "occ": [t - base for t in s.occ] if s.occ else None, "repeats": s.repeats,
                                    "raised_at": rel(s.raised_at), "last_occ": rel(s.last_occ),
                                    "def": s.rule.rule.model_dump(mode="json")}
            devices[str(d)] = {
                "raw": {k: _jsonable(x) for k, x in v.raw.items()},
                "seen": {k: t - base for k, t in (v.seen or {}).items()},
                "rate": dict(v.rate or {}),
                "prev": {k: [x, t - base] for k, (x, t) in (v.prev or {}).items()},
                "first_seen": v.first_seen - base,
                "now": v.now - base,
                "rules": rules,
            }
        return {"version": SNAPSHOT_VERSION, "wall_time": time.time(), "devices": devices}

    @classmethod
    def restore(cls, snapshot: Mapping[str, _Any], rules_for_device: RulesSource, clock: Clock | None = None,
                *, elapsed_s: float = 0.0, emit_repeats: bool = False) -> RuleEngine:
        """An engine continuing from ``snapshot`` (see the module docstring for ``elapsed_s``).

        Rule state is matched by rule id and kept only if the rule's definition is unchanged."""
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported rule snapshot version {snapshot.get('version')!r}")
        eng = cls(rules_for_device, clock, emit_repeats=emit_repeats)
        base = eng.clock.now() - float(elapsed_s)

        def ab(t: float | None) -> float | None:
            return None if t is None else t + base

        for key, d in snapshot.get("devices", {}).items():
            device_id = int(key)
            v = _View(d["first_seen"] + base)
            v.now = d["now"] + base
            v.raw = dict(d["raw"])
            for k, x in v.raw.items():
                n = to_number(x)
                if n is not None:
                    v.num[k] = n
            v.seen = {k: t + base for k, t in d["seen"].items()}
            v.rate = {k: float(r) for k, r in d["rate"].items()}
            v.prev = {k: (float(x), t + base) for k, (x, t) in d["prev"].items()}
            eng._views[device_id] = v
            saved = d.get("rules", {})
            for st in eng._states(device_id, v):
                s = saved.get(st.rule.id)
                if s is None or Rule.model_validate(s["def"]) != st.rule.rule:
                    continue
                st.active = s["active"]
                st.holds = s["holds"]
                st.since = ab(s["since"])
                st.occ = [t + base for t in s["occ"]] if s["occ"] else None
                st.repeats = s["repeats"]
                st.raised_at = ab(s["raised_at"])
                st.last_occ = ab(s["last_occ"])
        return eng


def _jsonable(x: _Any) -> _Any:
    """A vendor value as stored in a snapshot: JSON scalars and containers as they are, the rest
    as text (non-finite floats too)."""
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, (list, dict)):
        try:
            json.dumps(x, allow_nan=False)
            return x
        except (TypeError, ValueError):
            return str(x)
    return str(x)


# -- rule sets: scope precedence ----------------------------------------------------------------

def merge_rules(*layers: Iterable[Rule]) -> list[Rule]:
    """Combine rule layers by rule id, later layers overriding earlier ones (IOT-5 "per model,
    overridable per device or tag"): ``merge_rules(model_rules, tag_rules, device_rules)``.
    An override with ``enabled=False`` switches the inherited rule off."""
    out: dict[str, Rule] = {}
    for layer in layers:
        for r in layer:
            out[r.id] = r
    return list(out.values())


# -- helpers: common rules ------------------------------------------------------------------------

def threshold_rule(rule_id: str, alarm_type: str, prop: str, op: str, value: float, *,
                   severity: Severity = "warning", clear_at: float | None = None, for_s: float = 0.0,
                   scope: Scope | None = None) -> Rule:
    """A one-property threshold; ``clear_at`` is the hysteresis bound (below for >=/>, above for <=/<)."""
    kw: dict[str, _Any] = {}
    if clear_at is not None:
        kw["clear_below" if op in (">=", ">") else "clear_above"] = clear_at
    return Rule(id=rule_id, alarm_type=alarm_type, severity=severity, for_s=for_s, scope=scope or Scope(),
                condition=Threshold(property=prop, op=op, value=value, **kw))


def level_rules(rule_id: str, alarm_type: str, prop: str, op: str,
                levels: Iterable[tuple[float, Severity] | tuple[float, Severity, float | None]], *,
                for_s: float = 0.0) -> list[Rule]:
    """Severity levels of one alarm on one property: ``levels`` = ``[(value, severity[, clear_at]),
    …]``, e.g. ``level_rules("temp", "温度过高", "temperature", ">=", [(60, "warning", 55),
    (80, "critical", 75)])``. Rule ids ``<rule_id>:<severity>``; all share ``alarm_type`` so the
    engine escalates and de-escalates one alarm (see the module docstring)."""
    out = []
    for lv in levels:
        value, severity = lv[0], lv[1]
        clear_at = lv[2] if len(lv) > 2 else None
        out.append(threshold_rule(f"{rule_id}:{severity}", alarm_type, prop, op, value, severity=severity,
                                  clear_at=clear_at, for_s=for_s))
    if len({r.id for r in out}) != len(out):
        raise ValueError("each level needs its own severity")
    return out


def low_battery_rule(prop: str = "battery", pct: float = LOW_BATTERY_PCT, *, clear_at: float | None = None,
                     severity: Severity = "warning", rule_id: str = "low_battery") -> Rule:
    """Battery ≤ 20 % (default) → 低电量; clears above ``clear_at`` (default pct + 5)."""
    return threshold_rule(rule_id, "低电量", prop, "<=", pct, severity=severity,
                          clear_at=pct + 5 if clear_at is None else clear_at)


def weak_signal_rule(prop: str = "rsrp", dbm: float = WEAK_RSRP_DBM, *, clear_at: float | None = None,
                     for_s: float = 0.0, severity: Severity = "info", rule_id: str = "weak_signal") -> Rule:
    """RSRP < -110 dBm (default) → 信号弱; clears above ``clear_at`` (default dbm + 5)."""
    return threshold_rule(rule_id, "信号弱", prop, "<", dbm, severity=severity, for_s=for_s,
                          clear_at=dbm + 5 if clear_at is None else clear_at)


def status_rule(rule_id: str, alarm_type: str, prop: str, value: str, *, severity: Severity = "critical") -> Rule:
    """An enum property in an alarm state, e.g. smoke ``status == "smoke_alarm"``; clears when it
    changes to anything else."""
    return Rule(id=rule_id, alarm_type=alarm_type, severity=severity,
                condition=Threshold(property=prop, op="==", value=value))


def range_rules(properties: Iterable[Mapping[str, _Any]], *, severity: Severity = "warning",
                hysteresis_pct: float = 5.0, for_s: float = 0.0, skip: Iterable[str] = ()) -> list[Rule]:
    """Out-of-range rules from a product's property definitions (``{"identifier", "name",
    "min", "max", ...}`` as in ``cityops.devices.seed``): ``>= max`` → "<name>超上限" and
    ``< min`` → "<name>低于下限" (strictly below: a reading at a lower bound such as 0 %LEL is
    normal), each clearing ``hysteresis_pct`` % of the span inside the range.
    Rule ids: ``range:<identifier>:max`` / ``range:<identifier>:min``. Non-numeric properties and
    missing bounds are skipped (as are identifiers in ``skip``, e.g. "battery" when a dedicated
    low-battery rule is used)."""
    skipped = set(skip)
    out: list[Rule] = []
    for p in properties:
        ident = p.get("identifier")
        if not ident or ident in skipped or p.get("type", "number") not in ("number", "int", "float", "double"):
            continue
        lo, hi = to_number(p.get("min")), to_number(p.get("max"))
        name = p.get("name") or ident
        span = (hi - lo) if lo is not None and hi is not None and hi > lo else max(abs(hi or lo or 0.0), 1.0)
        gap = span * hysteresis_pct / 100.0
        if hi is not None:
            out.append(threshold_rule(f"range:{ident}:max", f"{name}超上限", ident, ">=", hi, severity=severity,
                                      clear_at=hi - gap, for_s=for_s))
        if lo is not None:
            out.append(threshold_rule(f"range:{ident}:min", f"{name}低于下限", ident, "<", lo, severity=severity,
                                      clear_at=lo + gap, for_s=for_s))
    return out


# Vendor event name → (alarm type, severity). OUR OWN MAPPING (IOT-5), compiled from the event
# identifiers of the reference products in cityops.devices.seed (CTWing / OneNET / IoTDA / Aliyun
# eventReport identifiers and Hikvision ISAPI eventType names); not taken from any vendor or
# standard document. Keys are matched case-insensitively.
VENDOR_EVENT_MAP: dict[str, tuple[str, str]] = {
    # smoke detector (CTWing)
    "smoke_alarm": ("烟雾报警", "critical"),
    "tamper": ("防拆报警", "warning"),
    "low_battery": ("低电量", "warning"),
    # manhole cover (CTWing)
    "illegal_move": ("井盖异动", "critical"),
    "tilt_alarm": ("井盖倾斜", "warning"),
    # waterlogging (OneNET)
    "high_level": ("积水超限", "critical"),
    # combustible gas
    "low_alarm": ("燃气低限报警", "warning"),
    "high_alarm": ("燃气高限报警", "critical"),
    # electrical fire monitoring (IoTDA)
    "leakage": ("漏电报警", "critical"),
    "over_temp": ("线缆超温", "critical"),
    # fire hydrant (IoTDA)
    "low_pressure": ("水压过低", "warning"),
    "knock_over": ("消火栓撞倒/漏水", "critical"),
    # litter bin, traffic, civil-defence environment
    "full": ("垃圾满溢", "warning"),
    "congestion": ("交通拥堵", "warning"),
    "immersion": ("水浸报警", "critical"),
    "door_open": ("防护门异常开启", "warning"),
    # Hikvision cameras / NVRs (ISAPI eventType)
    "vmd": ("移动侦测", "info"),
    "linedetection": ("越界侦测", "warning"),
    "fielddetection": ("区域入侵", "warning"),
    "videoloss": ("视频丢失", "warning"),
    "shelteralarm": ("视频遮挡", "warning"),
    "hdfull": ("硬盘满", "warning"),
    "hderror": ("硬盘错误", "critical"),
}

# GB/T 28181-style alarm codes (报警方式 1..7) → (alarm type, severity). OUR OWN MAPPING of the
# code list's labels to alarm types and severities (the severities are our choice).
GB28181_ALARM_METHODS: dict[int, tuple[str, str]] = {
    1: ("电话报警", "warning"),
    2: ("设备报警", "critical"),
    3: ("短信报警", "warning"),
    4: ("GPS报警", "warning"),
    5: ("视频报警", "warning"),
    6: ("设备故障报警", "critical"),
    7: ("其他报警", "info"),
}


def vendor_event_rules(events: Iterable[str] | None = None,
                       table: Mapping[str, tuple[str, str]] | None = None) -> list[Rule]:
    """One Event rule per vendor event name (rule id ``event:<name>``): an ``active`` event
    raises, the same event ``inactive`` clears. ``events`` limits it to a product's own events
    (e.g. ``[e["identifier"] for e in product["events"]]``); unknown names are skipped."""
    table = {k.lower(): v for k, v in (table or VENDOR_EVENT_MAP).items()}
    names = [e.lower() for e in events] if events is not None else list(table)
    out = []
    for n in names:
        if n in table:
            alarm_type, severity = table[n]
            out.append(Rule(id=f"event:{n}", alarm_type=alarm_type, severity=severity,
                            condition=Event(events=[n])))
    return out


def gb_alarm_rules() -> list[Rule]:
    """Event rules for GB/T 28181-style alarm codes: event names ``"gb28181:<n>"`` or the bare
    code ``"<n>"`` (rule id ``gb28181:<n>``) — align with whatever the GB connector emits."""
    return [Rule(id=f"gb28181:{code}", alarm_type=t, severity=sev,
                 condition=Event(events=[f"gb28181:{code}", str(code)]))
            for code, (t, sev) in GB28181_ALARM_METHODS.items()]


# re-exported for convenience
__all__ += ["Rule", "Threshold", "All", "Any", "Not", "RateOfChange", "Stale", "Event", "Repeat", "Scope"]
