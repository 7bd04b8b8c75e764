"""Scenario templates (CALL-1): what a campaign of each of the seven scenarios starts from —
script, calling windows, retry policy, attempts, priority, caller ID / line group, triggers.

`effective(session, scenario)` is the one place the dialer, the campaign service and the
triggers read a scenario's settings from. Defaults come from code (`scenarios.SCENARIOS`,
`script.DEFAULT_SCRIPTS`, `dialer.DEFAULT_RETRY`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from cityops.callout.scenarios import SCENARIOS, Window
from cityops.callout.script import DEFAULT_SCRIPTS, Script
from cityops.core.errors import Invalid

DEFAULT_RETRY = {"no_answer": 30, "busy": 10, "unreachable": 60, "failed": 15}


@dataclass
class Template:
    scenario: str
    label: str
    script: Script | None
    windows: tuple[Window, ...]
    retry_policy: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RETRY))
    max_attempts: int = 3
    priority: str = "normal"
    caller_id: str = ""
    line_group: str = ""
    triggers: dict[str, Any] = field(default_factory=dict)


def default(scenario: str) -> Template:
    sc = SCENARIOS.get(scenario)
    if sc is None:
        raise Invalid(f"未知场景 {scenario!r}", allowed=list(SCENARIOS))
    return Template(scenario=sc.code, label=sc.label, script=DEFAULT_SCRIPTS.get(sc.code), windows=sc.windows,
                    priority="highest" if sc.public_safety else "normal")


def effective(session: Session, scenario: str) -> Template:
    """The scenario's template as configured (code defaults until an operator changes it)."""
    return default(scenario)
