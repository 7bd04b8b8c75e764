"""Bring a database to a usable state: schema migrated, reference data present (idempotent)."""

from __future__ import annotations

import logging

from cityops.audit.context import acting_as
from cityops.core import migrate
from cityops.core.db import Database

log = logging.getLogger(__name__)


def prepare_database(db: Database) -> None:
    migrate.upgrade(db)
    load_reference_data(db)


def load_reference_data(db: Database) -> dict[str, int]:
    """Streets, grids, units, the systems catalog and the hardware list; rows already
    present are left as the operators edited them."""
    from cityops.catalog import seed as catalog_seed
    from cityops.devices import gazetteer_seed
    from cityops.devices import seed as device_seed
    from cityops.events import seed as event_seed
    from cityops.events.intake import seed_intake
    from cityops.events.routing import seed_routing
    from cityops.events.sla import seed_sla
    from cityops.geo import seed as geo_seed
    from cityops.inspections.checklist_seed import seed_checklists
    from cityops.servicedesk import escalation as desk_escalation
    from cityops.servicedesk import fault_grades
    from cityops.servicedesk import sla as desk_sla
    from cityops.screen.modes import seed_defaults as seed_screen_modes

    counts: dict[str, int] = {}
    with acting_as("system:seed"), db.session() as session:
        counts.update(geo_seed.load(session))
        counts.update(gazetteer_seed.load(session))
        counts.update(catalog_seed.load(session))
        counts.update(device_seed.load(session))
        counts.update(event_seed.load(session))
        counts["sla_policies"] = seed_sla(session)
        counts["routing_rules"] = seed_routing(session)
        counts["intake_policies"] = seed_intake(session)
        counts["servicedesk_sla_targets"] = desk_sla.seed(session)
        counts["servicedesk_escalation_policies"] = desk_escalation.seed(session)
        counts["fault_grades"] = fault_grades.seed_grades(session)
        counts["checklist_templates"] = seed_checklists(session)
        counts["screen_modes"] = seed_screen_modes(session)  # 防汛防台, 节假日保障: inactive until switched on
    if any(counts.values()):
        log.info("reference data loaded", extra={"added": counts})
    return counts
