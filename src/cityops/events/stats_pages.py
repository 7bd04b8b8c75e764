"""Console (IOT-6, SYS-DISPATCH, issue #5 items 8-9): 事件统计 — tables, charts and exports — and
事件地图, the events over the district outline and street boundaries (no tile server)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cityops.auth.deps import DbSession
from cityops.core.errors import Invalid
from cityops.events import lifecycle, service, stats
from cityops.events.models import SEVERITIES, SOURCE_KINDS
from cityops.events.pages import SEVERITY_LABELS, SOURCE_LABELS
from cityops.events.sla_models import STEP_LABELS
from cityops.events.stats_api import (
    download,
    labelled,
    make_filters,
    parse_since,
    period,
)
from cityops.geo import service as geo
from cityops.web.shell import ConsoleUser, console_user, render

router = APIRouter(include_in_schema=False)
User_ = Annotated[ConsoleUser, Depends(console_user)]


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _choices(session, user: ConsoleUser) -> dict:
    return {"categories": [c for c in service.list_categories(session) if c.level < 3],
            "streets": geo.list_streets(session, scope=user.street_scope), "sources": SOURCE_KINDS,
            "source_labels": SOURCE_LABELS, "severities": SEVERITIES, "severity_labels": SEVERITY_LABELS,
            "states": lifecycle.STATES, "state_labels": lifecycle.STATE_LABELS, "step_labels": STEP_LABELS}


@router.get("/console/events/stats")
def stats_page(request: Request, session: DbSession, user: User_, date_from: str = "", date_to: str = "",
               street: str = "", category: str = "", source: str = ""):
    """Counts, on-time rates and durations for a period, as tables and charts, with exports."""
    d0, d1 = period(_date(date_from), _date(date_to))
    error = ""
    try:
        f = make_filters(d0, d1, street, category, source, user.street_scope)
    except Invalid as exc:
        error = exc.detail
        d0, d1 = period(None, None)
        f = make_filters(d0, d1, None, None, None, user.street_scope)
        street = category = source = ""
    rep = labelled(stats.report(session, f))
    filters = {"date_from": d0.isoformat(), "date_to": d1.isoformat(), "street": street, "category": category,
               "source": source}
    charts = {"days": [r["day"] for r in rep["by_day"]], "day_events": [r["events"] for r in rep["by_day"]],
              "day_reports": [r["reports"] for r in rep["by_day"]],
              "categories": [[r["name"], r["events"]] for r in rep["by_category_top"]],
              "streets": [[r["name"], r["events"]] for r in rep["by_street"]],
              "steps": [[r["label"], None if r["rate"] is None else round(r["rate"] * 100, 1), r["total"]]
                        for r in rep["by_step"]],
              "units": [[r["unit_name"], None if r["rate"] is None else round(r["rate"] * 100, 1), r["total"]]
                        for r in rep["by_unit"][:20]]}
    overall = sum(r["on_time"] for r in rep["by_step"]), sum(r["total"] for r in rep["by_step"])
    return render(request, "events/stats.html", user, "event_stats", rep=rep, filters=filters, charts=charts,
                  query={k: v for k, v in filters.items() if v}, error=error,
                  overall_rate=overall[0] / overall[1] if overall[1] else None, **_choices(session, user))


@router.get("/console/events/stats/export")
def stats_export(session: DbSession, user: User_, fmt: Annotated[str, Query(alias="format")] = "xlsx",
                 table: str | None = None, date_from: str = "", date_to: str = "", street: str = "",
                 category: str = "", source: str = ""):
    """The page's download buttons: the same sheets as /api/v1/events/stats/export."""
    if fmt not in ("csv", "xlsx"):
        raise Invalid("导出格式 format 应为 csv 或 xlsx")
    f = make_filters(_date(date_from), _date(date_to), street, category, source, user.street_scope)
    return download(session, fmt, table or None, labelled(stats.report(session, f)))


@router.get("/console/events/map")
def map_page(request: Request, session: DbSession, user: User_, state: str = "open", severity: str = "",
             category: str = "", street: str = "", since: str = ""):
    """Located events coloured by severity; a click opens a popup linking to the event."""
    error = ""
    try:
        fc = stats.map_features(session, state=None if state in ("", "all") else state, category=category or None,
                                street=street or None, since=parse_since(since), severity=severity or None,
                                scope=user.street_scope)
    except Invalid as exc:
        error = exc.detail
        state, severity, category, street, since = "open", "", "", "", ""
        fc = stats.map_features(session, state="open", scope=user.street_scope)
    for feat in fc["features"]:
        feat["properties"]["severity_label"] = SEVERITY_LABELS.get(feat["properties"]["severity"], "")
    district = geo.get_district(session)
    outline = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": district.name},
                                                           "geometry": json.loads(district.outline)}]}
    counts = {s: sum(1 for x in fc["features"] if x["properties"]["severity"] == s) for s in SEVERITIES}
    return render(request, "events/map.html", user, "event_map", points=fc, outline=outline,
                  streets_fc=geo.feature_collection(geo.list_streets(session), "street"), counts=counts,
                  filters={"state": state, "severity": severity, "category": category, "street": street,
                           "since": since}, error=error, **_choices(session, user))
