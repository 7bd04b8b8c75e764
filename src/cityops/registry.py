"""Wiring: every domain's routers and background jobs, in one place."""

from __future__ import annotations

from fastapi import APIRouter

from cityops.core.jobs import Scheduler


def routers() -> list[APIRouter]:
    from cityops.audit.api import router as audit_api
    from cityops.callout.api import router as callout_api
    from cityops.callout.pages import router as callout_pages
    from cityops.callout.campaign_api import router as callout_campaign_api
    from cityops.callout.campaign_pages import router as callout_campaign_pages
    from cityops.callout.template_api import router as callout_template_api
    from cityops.callout.template_pages import router as callout_template_pages
    from cityops.callout.line_api import router as callout_line_api
    from cityops.callout.line_pages import router as callout_line_pages
    from cityops.callout.stats_api import router as callout_stats_api
    from cityops.callout.stats_pages import router as callout_stats_pages
    from cityops.auth.api import router as auth_api
    from cityops.catalog.api import router as catalog_api
    from cityops.catalog.pages import router as catalog_pages
    from cityops.devices.api import router as devices_api
    from cityops.devices.sync_api import router as sync_api
    from cityops.devices.sync_pages import router as sync_pages
    from cityops.devices.quality_api import router as quality_api
    from cityops.devices.quality_pages import router as quality_pages
    from cityops.devices.transfer_api import router as transfer_api
    from cityops.devices.transfer_pages import router as transfer_pages
    from cityops.devices.pages import router as devices_pages
    from cityops.ingest.api import router as ingest_api
    from cityops.monitoring.api import router as monitoring_api
    from cityops.monitoring.pages import router as monitoring_pages
    from cityops.monitoring.rules_api import router as rules_api
    from cityops.monitoring.rules_pages import router as rules_pages
    from cityops.geo.api import router as geo_api
    from cityops.web.pages import router as console
    from cityops.duty.api import router as duty_api
    from cityops.duty.pages import router as duty_pages
    from cityops.notify.api import router as notify_api
    from cityops.notify.pages import router as notify_pages
    from cityops.events.routing_api import router as routing_api
    from cityops.events.routing_pages import router as routing_pages
    from cityops.events.api import router as events_api
    from cityops.events.pages import router as events_pages
    from cityops.events.sla_api import router as sla_api
    from cityops.events.sla_pages import router as sla_pages
    from cityops.events.stats_api import router as stats_api
    from cityops.events.stats_pages import router as stats_pages
    from cityops.events.intake_api import router as intake_api
    from cityops.events.intake_pages import router as intake_pages
    from cityops.events.watch_api import router as watch_api
    from cityops.events.watch_pages import router as watch_pages
    from cityops.dispatch.api import router as dispatch_api
    from cityops.dispatch.pages import router as dispatch_pages
    from cityops.dispatch.hooks import router as dispatch_hooks
    from cityops.open311.api import router as open311_api
    from cityops.open311.pages import router as open311_pages
    from cityops.duty.home_pages import api as ops_home_api
    from cityops.duty.home_pages import router as ops_home_pages
    from cityops.inspections.probe_api import router as probe_api
    from cityops.inspections.probe_pages import router as probe_pages
    from cityops.inspections.finding_api import router as finding_api
    from cityops.inspections.finding_pages import router as finding_pages
    from cityops.inspections.checklist_api import router as checklist_api
    from cityops.inspections.checklist_pages import router as checklist_pages
    from cityops.inspections.plan_api import router as plan_api
    from cityops.inspections.plan_pages import router as plan_pages
    from cityops.visits.api import router as visits_api
    from cityops.visits.pages import router as visits_pages
    from cityops.servicedesk.api import router as servicedesk_api
    from cityops.servicedesk.pages import router as servicedesk_pages
    from cityops.servicedesk.fault_api import router as fault_api
    from cityops.servicedesk.fault_pages import router as fault_pages
    from cityops.maintenance.api import router as maintenance_api
    from cityops.maintenance.pages import router as maintenance_pages
    from cityops.screen.api import router as screen_api
    from cityops.screen.stream import router as screen_stream
    from cityops.screen.pages import router as screen_pages
    from cityops.screen.display_pages import router as screen_display_pages
    from cityops.screen.mode_api import router as screen_mode_api
    from cityops.screen.mode_pages import router as screen_mode_pages
    from cityops.screen.tour_api import router as screen_tour_api
    from cityops.screen.tour_pages import router as screen_tour_pages

    return [auth_api, audit_api, geo_api, catalog_api, transfer_api, quality_api, sync_api, rules_api, devices_api,
            ingest_api, monitoring_api, console, catalog_pages, transfer_pages, quality_pages, sync_pages, rules_pages,
            devices_pages, monitoring_pages, duty_api, notify_api, duty_pages, notify_pages, sla_api, sla_pages,
            routing_api, routing_pages, events_api, events_pages, dispatch_api, dispatch_pages, dispatch_hooks,
            open311_api, open311_pages, stats_api, stats_pages, intake_api, intake_pages, watch_api, watch_pages,
            callout_api, callout_pages, callout_campaign_api, callout_campaign_pages, callout_template_api,
            callout_template_pages, callout_line_api, callout_line_pages, callout_stats_api, callout_stats_pages,
            ops_home_api, ops_home_pages, probe_api, probe_pages, finding_api, finding_pages, checklist_api, checklist_pages,
            plan_api, plan_pages, visits_api, visits_pages, servicedesk_api, servicedesk_pages, fault_api,
            fault_pages, maintenance_api, maintenance_pages, screen_api, screen_stream, screen_pages, screen_display_pages, screen_mode_api,
            screen_mode_pages, screen_tour_api, screen_tour_pages]


def register_jobs(scheduler: Scheduler) -> None:
    from cityops.audit.jobs import register as audit_jobs
    from cityops.devices.checks import register as metadata_checks
    from cityops.devices.sync import register as upstream_sync
    from cityops.ingest.jobs import register as ingest_jobs
    from cityops.notify.jobs import register as notify_jobs
    from cityops.monitoring.kpi_history import register as kpi_history_jobs
    from cityops.dispatch.jobs import register as dispatch_jobs
    from cityops.events.intake_jobs import register as intake_jobs
    from cityops.events.watch_jobs import register as watch_jobs
    from cityops.callout.jobs import register as callout_dial_jobs
    from cityops.callout.campaign_jobs import register as callout_campaign_jobs
    from cityops.callout.trigger_jobs import register as callout_trigger_jobs
    from cityops.callout.data_jobs import register as callout_data_jobs
    from cityops.callout.line_jobs import register as callout_line_jobs
    from cityops.duty.jobs import register as duty_jobs
    from cityops.catalog.jobs import register as hardware_jobs
    from cityops.inspections.probe_jobs import register as probe_jobs
    from cityops.inspections.plan_jobs import register as plan_jobs
    from cityops.visits.jobs import register as visit_jobs
    from cityops.servicedesk.jobs import register as servicedesk_jobs
    from cityops.servicedesk.fault_jobs import register as fault_jobs
    from cityops.maintenance.jobs import register as maintenance_jobs
    from cityops.screen.jobs import register as screen_jobs
    from cityops.screen.mode_jobs import register as screen_mode_jobs

    audit_jobs(scheduler)
    ingest_jobs(scheduler)
    metadata_checks(scheduler)
    upstream_sync(scheduler)
    notify_jobs(scheduler)
    kpi_history_jobs(scheduler)
    dispatch_jobs(scheduler)
    intake_jobs(scheduler)
    watch_jobs(scheduler)
    callout_dial_jobs(scheduler)
    callout_campaign_jobs(scheduler)
    callout_trigger_jobs(scheduler)
    callout_data_jobs(scheduler)
    callout_line_jobs(scheduler)
    duty_jobs(scheduler)
    hardware_jobs(scheduler)
    probe_jobs(scheduler)
    plan_jobs(scheduler)
    visit_jobs(scheduler)
    servicedesk_jobs(scheduler)
    fault_jobs(scheduler)
    maintenance_jobs(scheduler)
    screen_jobs(scheduler)
    screen_mode_jobs(scheduler)
