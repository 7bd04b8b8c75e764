"""Which rules apply to which device (IOT-5): the product's default rules, looked up by the
rule engine through `RuleTable.rules_for`. Loaded from the database by the monitoring
runtime at start and on every refresh.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.devices.models import Device, Product
from cityops.monitoring.rules import (low_battery_rule, range_rules, status_rule, vendor_event_rules,
                                      weak_signal_rule)
from cityops.monitoring.rules_schema import Rule

# Enum readings that mean an alarm, per device type (the decoders report them as a property).
STATUS_ALARMS = {"smoke": [("status", "smoke_alarm", "烟雾报警")], "manhole": [("status", "illegal_move", "井盖异动")]}


def product_rules(device_type: str, properties: list[dict], events: list[dict]) -> list[Rule]:
    """The default rules of a product (IOT-5): its normal ranges, low battery, weak signal,
    alarm states of enum readings and its vendor-reported events."""
    ids = {p.get("identifier") for p in properties}
    rules = range_rules(properties, skip=("battery", "rsrp"))
    if "battery" in ids:
        rules.append(low_battery_rule())
    if "rsrp" in ids:
        rules.append(weak_signal_rule())
    for prop, value, alarm_type in STATUS_ALARMS.get(device_type, []):
        rules.append(status_rule(f"status:{value}", alarm_type, prop, value))
    rules += vendor_event_rules([e["identifier"] for e in events if e.get("identifier")])
    return rules


class RuleTable:
    """Effective rules per device. Replaced as a whole on load, so readers on other threads
    always see one consistent table."""

    def __init__(self) -> None:
        self._by_product: dict[int, list[Rule]] = {}
        self._device_product: dict[int, int] = {}

    def load(self, session: Session) -> None:
        by_product = {pid: product_rules(dtype, props or [], events or [])
                      for pid, dtype, props, events in session.execute(
                          select(Product.id, Product.device_type, Product.properties, Product.events))}
        device_product = dict(session.execute(select(Device.id, Device.product_id)).all())
        self._by_product, self._device_product = by_product, device_product

    def knows(self, device_id: int) -> bool:
        return device_id in self._device_product

    def rules_for(self, device_id: int) -> list[Rule]:
        return self._by_product.get(self._device_product.get(device_id, -1), [])
