"""The seven outbound-call scenarios (CALL-1, CALL-4) with the defaults the compliance gate
uses: calling windows in Asia/Shanghai (empty = no window) and whether the scenario is a
public-safety broadcast exempt from do-not-call and the daily cap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

Window = tuple[time, time]
DAYTIME: tuple[Window, ...] = ((time(9), time(12)), (time(14), time(20)))
WORKING: tuple[Window, ...] = ((time(8, 30), time(12)), (time(13, 30), time(18)))


@dataclass(frozen=True)
class Scenario:
    code: str
    label: str
    windows: tuple[Window, ...]
    public_safety: bool = False


SCENARIOS: dict[str, Scenario] = {s.code: s for s in (
    Scenario("hotline_callback", "热线回访", DAYTIME),
    Scenario("emergency", "应急指挥", (), public_safety=True),
    Scenario("workorder_reminder", "工单催告", WORKING),
    # Duty checks and IoT alerts call staff on duty around the clock.
    Scenario("duty_check", "值守保障", ()),
    Scenario("iot_alert", "物联感知", ()),
    Scenario("notice", "信息提醒", DAYTIME),
    Scenario("street_app", "街镇应用", DAYTIME),
)}
LABELS = {code: s.label for code, s in SCENARIOS.items()}
