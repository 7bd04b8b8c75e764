"""Imports every domain's models so that metadata (and Alembic) sees all tables."""

from cityops.audit import models as audit_models  # noqa: F401
from cityops.auth import models as auth_models  # noqa: F401
from cityops.callout import campaign_models as callout_campaign_models  # noqa: F401
from cityops.callout import line_models as callout_line_models  # noqa: F401
from cityops.callout import list_models as callout_list_models  # noqa: F401
from cityops.callout import stats_models as callout_stats_models  # noqa: F401
from cityops.callout import template_models as callout_template_models  # noqa: F401
from cityops.catalog import models as catalog_models  # noqa: F401
from cityops.devices import models as device_models  # noqa: F401
from cityops.dispatch import models as dispatch_models  # noqa: F401
from cityops.devices import quality_models as device_quality_models  # noqa: F401
from cityops.devices import sync_models as device_sync_models  # noqa: F401
from cityops.duty import models as duty_models  # noqa: F401
from cityops.events import sla_models as event_sla_models  # noqa: F401
from cityops.events import models as event_models  # noqa: F401
from cityops.events import routing_models as event_routing_models  # noqa: F401
from cityops.events import intake_models as event_intake_models  # noqa: F401
from cityops.events import watch_models as event_watch_models  # noqa: F401
from cityops.geo import models as geo_models  # noqa: F401
from cityops.inspections import finding_models as inspection_finding_models  # noqa: F401
from cityops.ingest import models as ingest_models  # noqa: F401
from cityops.maintenance import log_models as maintenance_log_models  # noqa: F401
from cityops.monitoring import models as monitoring_models  # noqa: F401
from cityops.notify import models as notify_models  # noqa: F401
from cityops.open311 import models as open311_models  # noqa: F401
from cityops.inspections import probe_models as inspection_probe_models  # noqa: F401
from cityops.inspections import checklist_models as inspection_checklist_models  # noqa: F401
from cityops.inspections import plan_models as inspection_plan_models  # noqa: F401
from cityops.inspections import room_models as inspection_room_models  # noqa: F401
from cityops.visits import models as visit_models  # noqa: F401
from cityops.servicedesk import models as servicedesk_models  # noqa: F401
from cityops.servicedesk import fault_models as fault_models  # noqa: F401
from cityops.maintenance import models as maintenance_models  # noqa: F401
from cityops.duty import roster_models as duty_roster_models  # noqa: F401
from cityops.catalog import hw_models as catalog_hw_models  # noqa: F401
from cityops.screen import display_models as screen_display_models  # noqa: F401
from cityops.screen import mode_models as screen_mode_models  # noqa: F401
from cityops.core.db import Base

metadata = Base.metadata
