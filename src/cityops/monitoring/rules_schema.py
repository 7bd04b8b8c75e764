"""Rule definitions of the device rule evaluator (IOT-5), as pydantic models.

Everything here is plain data that round-trips through JSON (``Rule.model_dump(mode="json")`` /
``Rule.model_validate(...)``) so rules can be stored per product (model) and overridden per
tag or device later. The evaluator lives in :mod:`cityops.monitoring.rules`.

Conditions (discriminated on ``kind``):

* ``Threshold(property, op, value, clear_below=None, clear_above=None)`` — compare the latest
  value of a property. Numbers may arrive as strings ("80", "23.5") and are coerced; a value
  that is not numeric never satisfies a numeric comparison (neither the raise nor the clear
  side). ``==`` / ``!=`` against a string value compare text (e.g. smoke ``status ==
  "smoke_alarm"``); against a bool compare truthiness ("1", "true", 1, True …).
  ``clear_below`` / ``clear_above`` give hysteresis: ``>= 80, clear_below=70`` raises at ≥ 80
  and clears only at < 70.
* ``All([...])`` / ``Any([...])`` / ``Not(condition)`` — AND / OR / NOT across properties.
* ``RateOfChange(property, op, value, per_s=1, absolute=False)`` — (v₂ − v₁) / (t₂ − t₁) × per_s
  between the two latest numeric samples of a property (engine clock time).
* ``Stale(property, after_s)`` — no new reading of the property for ``after_s`` (checked on
  messages and on ``tick``; the timer starts at the first message the engine sees from the
  device if the property was never reported).
* ``Event(events, states=["active"])`` — the message being evaluated carries one of the vendor
  event names (case-insensitive) in one of the given states; a message without an
  ``event_state`` counts as ``active``. Events are momentary: they only hold for the message
  that carries them.

Severity levels (IOT-5 "severity escalates and de-escalates"): rules of one device that share an
``alarm_type`` are the levels of one alarm, e.g. ``temperature >= 60 → warning`` and
``temperature >= 80 → critical`` (see :func:`cityops.monitoring.rules.level_rules`). The alarm
takes the highest severity among its currently raised rules.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Op = Literal[">=", ">", "<=", "<", "==", "!="]
Severity = Literal["info", "warning", "major", "critical"]
# Lowest to highest; the same order as cityops.monitoring.models.SEVERITIES (alarms).
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "major": 2, "critical": 3}
INVERSE_OP: dict[str, str] = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!=", "!=": "=="}


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(_Base):
    kind: Literal["threshold"] = "threshold"
    property: str
    op: Op = ">="
    value: Union[bool, float, str]  # noqa: UP007 — order matters: bool before float
    clear_below: float | None = None  # hysteresis for >= / >: clear only when value < clear_below
    clear_above: float | None = None  # hysteresis for <= / <: clear only when value > clear_above

    @model_validator(mode="before")
    @classmethod
    def _numeric_text(cls, data: object) -> object:
        # stored/hand-written rules may carry "80" for an ordering comparison: take it as 80
        if isinstance(data, dict) and data.get("op", ">=") in (">=", ">", "<=", "<") and isinstance(
                data.get("value"), str):
            try:
                data = {**data, "value": float(data["value"].strip())}
            except ValueError:
                pass
        return data

    @model_validator(mode="after")
    def _check(self) -> Threshold:
        if isinstance(self.value, str) and self.op not in ("==", "!="):
            raise ValueError(f"文本值只能用 == / != 比较，不能用 {self.op}")
        if self.clear_below is not None:
            if self.op not in (">=", ">"):
                raise ValueError("clear_below 要求 op 为 >= 或 >")
            if not isinstance(self.value, float) or self.clear_below > self.value:
                raise ValueError("clear_below 必须是不高于触发值（value）的数字")
        if self.clear_above is not None:
            if self.op not in ("<=", "<"):
                raise ValueError("clear_above 要求 op 为 <= 或 <")
            if not isinstance(self.value, float) or self.clear_above < self.value:
                raise ValueError("clear_above 必须是不低于触发值（value）的数字")
        return self


class RateOfChange(_Base):
    kind: Literal["rate"] = "rate"
    property: str
    op: Op = ">="
    value: float
    per_s: float = Field(1.0, gt=0)  # 60 → change per minute, 3600 → per hour
    absolute: bool = False  # compare |rate|


class Stale(_Base):
    kind: Literal["stale"] = "stale"
    property: str
    after_s: float = Field(gt=0)


class Event(_Base):
    kind: Literal["event"] = "event"
    events: list[str] = Field(min_length=1)
    states: list[Literal["active", "inactive"]] = Field(default_factory=lambda: ["active"])

    @field_validator("events")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [e.strip().lower() for e in v]


class All(_Base):
    kind: Literal["all"] = "all"
    conditions: list[Condition] = Field(min_length=1)

    def __init__(self, conditions: list[Condition] | None = None, **kw: object) -> None:
        if conditions is not None:
            kw["conditions"] = conditions
        super().__init__(**kw)


class Any(_Base):  # noqa: A001 — the brief's name; shadows typing.Any inside this module only
    kind: Literal["any"] = "any"
    conditions: list[Condition] = Field(min_length=1)

    def __init__(self, conditions: list[Condition] | None = None, **kw: object) -> None:
        if conditions is not None:
            kw["conditions"] = conditions
        super().__init__(**kw)


class Not(_Base):
    kind: Literal["not"] = "not"
    condition: Condition

    def __init__(self, condition: Condition | None = None, **kw: object) -> None:
        if condition is not None:
            kw["condition"] = condition
        super().__init__(**kw)


Condition = Annotated[Union[Threshold, RateOfChange, Stale, Event, All, Any, Not],  # noqa: UP007
                      Field(discriminator="kind")]


class Repeat(_Base):
    count: int = Field(ge=1)
    within_s: float = Field(gt=0)


class Scope(_Base):
    """Where a rule is defined: on a product (model), a tag, or one device (IOT-5).

    The engine does not resolve scopes itself (it asks ``rules_for_device``); the database
    overrides are resolved by :class:`cityops.monitoring.rule_table.RuleTable` (device > tag >
    product override > product defaults). Informational only: it does not change evaluation.
    """

    level: Literal["model", "tag", "device"] = "model"
    key: str | int | None = None  # product code, tag name, or device id


class Rule(_Base):
    id: str
    alarm_type: str
    severity: Severity = "warning"
    condition: Condition
    for_s: float = Field(0.0, ge=0)  # must hold continuously this long before raising
    repeat: Repeat | None = None  # or: must become true `count` times within `within_s`
    clear_condition: Condition | None = None  # default: derived from the condition (hysteresis aware)
    scope: Scope = Field(default_factory=Scope)
    enabled: bool = True  # a device/tag override with enabled=False switches a model rule off

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.for_s and self.repeat is not None:
            raise ValueError("for_s 和 repeat 只能二选一，不能同时使用")
        if self.for_s and _has_event(self.condition):
            raise ValueError("厂商事件是瞬时的：for_s 永远不会到期，请改用 repeat")
        return self


def _has_event(c: object) -> bool:
    if isinstance(c, Event):
        return True
    if isinstance(c, (All, Any)):
        return any(_has_event(x) for x in c.conditions)
    if isinstance(c, Not):
        return _has_event(c.condition)
    return False


for _m in (All, Any, Not, Rule):
    _m.model_rebuild()
