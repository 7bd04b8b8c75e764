"""`cityops bench screen`: the big screen's panels at district scale (SYS-SCREEN, issue #8 point 4).

Target: every panel of `GET /api/v1/screen/panels/{name}` answers in < 200 ms (p95) with
100,000 devices, 1,000,000 city events and 10,000,000 call records in PostgreSQL, while 10
screens hold `/screen/stream` open.

Method. A new PostgreSQL database is migrated and given its reference data (`prepare_database`),
then bulk-loaded by COPY (ids assigned here, sequences moved past them after):

* devices over the ten streets, inside their grids (points sampled in the grid polygons, streets
  weighted as the simulated fleet weights them), with the fleet's product shares; ~95 % online
  with a recent `last_seen_at`, the rest offline; some `last_values`;
* alarms: an open `offline` alarm per offline device, vendor alarms on ~0.5 % of the rest
  (together ~5,500 per 100,000 devices, ~20 % acknowledged), and three cleared alarms per device
  over the past year;
* city events over the past year (~2,700 a day, so a few thousand today) on leaf categories of
  the seeded tree, sources mixed, street and grid from their point; each event moves through
  the lifecycle with random step durations (3 % rejected, 2 % merged, 4 % returned once and
  dispatched again), so old events are closed and recent ones spread over the open states; every
  step is an `event_transitions` row; each dispatch a work order (`dispatch_orders`) with the
  platform's updates on it (`dispatch_updates`: accepted, in progress, disposed or returned),
  the last 30 days' submissions in the outbox (sent) plus a dozen failed ones. These five
  tables are loaded without their secondary indexes and foreign keys, which are built and
  validated again after the load (and counted in its seconds);
* call records by `bench.callout_stats` (its chunk generator and COPY row format), over the
  last 1,000 days, then the rollups by `callout.stats.rebuild`;
* 30 days of online-rate history: today's rows from `monitoring.kpi_history.sample_online_rate`,
  the 29 days before copied from them with each day's rate moved by up to ±3 %; open
  inspection findings on three catalog systems; an on-duty roster for now; a disabled dispatch
  platform (the jobs must not call out during the run).

Then VACUUM ANALYZE. Seeding seconds are reported per part.

Measured. *Cold*: `panels.compute(session, name, street=None, now=...)` directly, no cache: what
a cache miss costs (also for the street with the most devices, fewer times). *Served*: the app
(`create_app`, jobs on as in production: scheduler with the screen's warm job, monitoring
runtime) under uvicorn on loopback; `screens` threads each hold `/screen/stream` (console
cookie) open and count the SSE panel events they get; one device alarm a second is raised as
the monitoring runtime raises one (commit, then `alarm.raise` on the bus), so the alarms and map
panels keep changing and the streams keep pushing; meanwhile 2 client threads send `requests`
GETs per panel (bearer token), panels interleaved. Then `GET /api/v1/screen/panels` and the
wall page `GET /screen` are timed while the screens are still connected. `panel_p95_ms` is the
worst panel's served p95; `ok` = it is under 200 ms, no request failed and every screen got
every panel.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cityops.bench.common import database as scratch_database
from cityops.bench.common import machine, pct, timed_ms

TARGET_P95_MS = 200.0
CHUNK = 200_000
DAY = 86_400.0
PASSWORD = "Bench-screen-0123"
AUDIT_KEY = "bench-audit-key"
SECRET_KEY = "bench-screen-secret-0123456789abcdef0123456789"

# Share of the devices per product: the simulated fleet's shares plus its cameras and crossroads
# equipment (sim/fleet.py places those separately).
EXTRA_SHARES = {"CAMERA-HIK": 6.0, "NVR-HIK": 0.4, "TRAFFIC-MQTT": 1.2, "GATEWAY-MQTT": 0.4}
SOURCES = (("hotline", 0.30), ("iot_alarm", 0.25), ("vision", 0.14), ("patrol", 0.12), ("citizen", 0.10),
           ("manual", 0.06), ("open311", 0.03))
NB_PLATFORMS = ("ctwing", "onenet")


# -- COPY -------------------------------------------------------------------------------------

def _ts(seconds: np.ndarray) -> list[str]:
    """Epoch seconds (NaN = none) → 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text, or COPY's NULL."""
    s = np.asarray(seconds, dtype=float)
    nan = np.isnan(s)
    us = np.where(nan, 0, s * 1e6).astype("int64").astype("datetime64[us]")
    out = np.char.replace(np.datetime_as_string(us, unit="us"), "T", " ").astype(object)
    out[nan] = "\\N"
    return out.tolist()


def _text(values: Any, n: int) -> list[str]:
    """One column as COPY text (tab, newline and backslash never occur in generated values)."""
    if isinstance(values, np.ndarray):
        if values.dtype == bool:
            return np.where(values, "t", "f").tolist()
        if values.dtype.kind in "iu":
            return values.astype(str).tolist()
        if values.dtype.kind == "f":
            out = values.astype(str).astype(object)
            out[np.isnan(values)] = "\\N"
            return out.tolist()
        values = values.tolist()
    if isinstance(values, list):
        return ["\\N" if v is None else str(v) for v in values]
    return [_scalar(values)] * n


def _scalar(v: Any) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False).replace("\\", "\\\\")
    if isinstance(v, datetime):
        return v.isoformat(" ")
    return str(v)


def _defaults(table: str, given: set[str]) -> dict[str, str]:
    """The model's Python-side defaults of the columns not given (COPY does not run them)."""
    from cityops.core.db import Base

    out = {}
    for c in Base.metadata.tables[table].columns:
        if c.name in given or c.default is None:
            if c.name not in given and not c.nullable and c.server_default is None and not c.primary_key:
                raise ValueError(f"{table}.{c.name} needs a value")
            continue
        out[c.name] = _scalar(c.default.arg(None) if c.default.is_callable else c.default.arg)
    return out


def _copy(con, table: str, columns: dict[str, Any]) -> int:
    """COPY the rows given as columns (name → array, list or one value for all rows)."""
    n = max(len(v) for v in columns.values() if isinstance(v, (list, np.ndarray)))
    names = list(columns)
    fixed = _defaults(table, set(names))
    for start in range(0, n, CHUNK):
        k = min(CHUNK, n - start)
        cols = [_text(v[start:start + k] if isinstance(v, (list, np.ndarray)) else v, k) for v in columns.values()]
        cols += [[v] * k for v in fixed.values()]
        data = "".join("\t".join(row) + "\n" for row in zip(*cols, strict=True)).encode()
        with con.transaction():
            con.execute("SET LOCAL TIME ZONE 'UTC'")
            with con.cursor().copy(f"COPY {table} ({', '.join(names + list(fixed))}) FROM STDIN") as cp:
                cp.write(data)
    return n


@contextmanager
def _bulk_load(con, tables: tuple[str, ...]):
    """Load without the tables' secondary indexes and foreign keys, then build the indexes and
    add (and so validate) the keys again from their own DDL, as PostgreSQL's "Populating a
    Database" advises: a sorted index build and one join per key are far faster than millions
    of B-tree inserts and per-row key checks. Primary keys and unique constraints stay."""
    indexes = con.execute("""SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
                             AND tablename = ANY(%s) AND indexname NOT IN (SELECT conname FROM pg_constraint)""",
                          [list(tables)]).fetchall()
    keys = con.execute("""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                          WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)""", [list(tables)]).fetchall()
    for table, name, _ in keys:
        con.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        con.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        for _, sql in indexes:
            con.execute(sql)
        for table, name, sql in keys:
            con.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {sql}')


def _next_id(con, table: str) -> int:
    return int(con.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0])


def _bump(con, table: str) -> None:
    con.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))")


# -- what the data is spread over ---------------------------------------------------------------

class _Ref:
    """Reference rows the seed draws from: grids, products, leaf categories, units."""

    def __init__(self, session):
        from sqlalchemy import select

        from cityops.devices.models import Product
        from cityops.events.models import EventCategory
        from cityops.geo.models import Grid, ResponsibleUnit, Street

        self.streets = {c: n for c, n in session.execute(select(Street.code, Street.name))}
        self.grids = session.execute(select(Grid.code, Grid.street_code, Grid.boundary)).all()
        self.products = {p.code: p for p in session.scalars(select(Product))}
        for p in self.products.values():
            session.expunge(p)
        parents = set(session.scalars(select(EventCategory.parent_id).where(EventCategory.parent_id.is_not(None))))
        self.leaves = [(c.id, c.name, c.default_severity) for c in session.scalars(
            select(EventCategory).where(EventCategory.enabled.is_(True)).order_by(EventCategory.code))
            if c.id not in parents]
        self.units_by_street = defaultdict(list)
        self.units = []
        for uid, street in session.execute(select(ResponsibleUnit.id, ResponsibleUnit.street_code)):
            self.units.append(uid)
            self.units_by_street[street].append(uid)

    def points(self, rng: np.random.Generator, n: int):
        """n points inside the district's grids: (lon, lat, street codes, grid codes), shuffled."""
        import shapely

        from cityops.sim.fleet import STREET_WEIGHTS

        geoms = [shapely.from_geojson(b) for _, _, b in self.grids]
        street_area = defaultdict(float)
        for (_, street, _), g in zip(self.grids, geoms, strict=True):
            street_area[street] += g.area
        w = np.array([STREET_WEIGHTS.get(street, 5.0) * g.area / street_area[street]
                      for (_, street, _), g in zip(self.grids, geoms, strict=True)])
        counts = rng.multinomial(n, w / w.sum())
        lon, lat, streets, grids = [], [], [], []
        for (code, street, _), g, k in zip(self.grids, geoms, counts, strict=True):
            minx, miny, maxx, maxy = g.bounds
            got = 0
            while got < k:
                m = max(64, int((k - got) * 1.6))
                xs, ys = rng.uniform(minx, maxx, m), rng.uniform(miny, maxy, m)
                inside = shapely.contains_xy(g, xs, ys)
                xs, ys = xs[inside][:k - got], ys[inside][:k - got]
                lon.append(xs)
                lat.append(ys)
                got += len(xs)
            streets += [street] * k
            grids += [code] * k
        order = rng.permutation(n)
        return (np.concatenate(lon)[order].round(6), np.concatenate(lat)[order].round(6),
                np.array(streets, dtype=object)[order], np.array(grids, dtype=object)[order])


# -- devices and alarms -------------------------------------------------------------------------

def _last_values(rng: np.random.Generator, product) -> str:
    vals = {}
    for p in product.properties or []:
        if p.get("type") == "number" and p.get("min") is not None and p.get("max") is not None:
            vals[p["identifier"]] = round(float(rng.uniform(p["min"], p["max"])), 1)
        if len(vals) == 2:
            break
    return json.dumps(vals)


def _seed_devices(con, ref: _Ref, rng: np.random.Generator, n: int, now_s: float) -> dict[str, np.ndarray]:
    from cityops.devices.models import DEVICE_TYPES
    from cityops.sim.fleet import SHARES

    shares = {**SHARES, **EXTRA_SHARES}
    codes = [c for c in shares if c in ref.products]
    p = np.array([shares[c] for c in codes])
    pick = rng.choice(len(codes), n, p=p / p.sum())
    prods = [ref.products[codes[i]] for i in pick]
    lon, lat, street, grid = ref.points(rng, n)
    first = _next_id(con, "devices")
    ids = np.arange(first, first + n)
    interval = np.array([pr.report_interval_s for pr in prods], dtype=float)
    status = np.where(rng.random(n) < 0.99, "active", "maintenance")
    online = rng.random(n) < 0.95
    # Online: heard within half an interval (the runtime keeps them online); offline: silent for days.
    seen = np.where(online, now_s - rng.uniform(0, 0.5, n) * interval, now_s - rng.uniform(1, 20, n) * DAY)
    imei = [f"86{rng.integers(10**12, 10**13)}" if pr.platform in NB_PLATFORMS else "" for pr in prods]
    has_values = rng.random(n) < 0.6
    last_values = [_last_values(rng, pr) if h else "{}" for pr, h in zip(prods, has_values, strict=True)]
    installed = (np.datetime64("2023-01-01") + rng.integers(0, 1300, n)).astype(str)
    _copy(con, "devices", {
        "id": ids, "code": [f"CN-IOT-{i:06d}" for i in ids],
        "name": [f"{DEVICE_TYPES.get(pr.device_type, pr.device_type)}-{i}" for pr, i in zip(prods, ids, strict=True)],
        "product_id": np.array([pr.id for pr in prods]), "device_type": [pr.device_type for pr in prods],
        "vendor": [pr.vendor for pr in prods], "platform": [pr.platform for pr in prods],
        "external_id": [f"scr{i:07d}" for i in ids], "imei": imei,
        "address": [f"{ref.streets[s]}测试点{i}号" for s, i in zip(street, ids, strict=True)],
        "lon": lon, "lat": lat, "street_code": street.tolist(), "grid_code": grid.tolist(),
        "install_date": installed.tolist(), "status": status, "online": online,
        "last_seen_at": _ts(seen), "last_data_at": _ts(seen), "last_values": last_values,
    })
    _bump(con, "devices")
    return {"ids": ids, "online": online, "seen": seen, "interval": interval,
            "product": np.array([pr.code for pr in prods], dtype=object)}


def _alarm_types(ref: _Ref) -> dict[str, list[tuple[str, str]]]:
    """product code → [(alarm type, severity)] from the product's events (warnings and worse)."""
    return {code: [(e["name"], e["severity"]) for e in (p.events or []) if e.get("severity") in
                   ("warning", "major", "critical")] or [("数据异常", "warning")]
            for code, p in ref.products.items()}


def _seed_alarms(con, ref: _Ref, rng: np.random.Generator, dev: dict, now_s: float) -> dict[str, int]:
    types = _alarm_types(ref)
    ids, online, product = dev["ids"], dev["online"], dev["product"]
    rows: dict[str, list] = defaultdict(list)

    def add(device_ids, kinds, first, state, cleared=None):
        k = len(device_ids)
        rows["device_id"] += device_ids.tolist()
        rows["alarm_type"] += [t for t, _ in kinds]
        rows["severity"] += [s for _, s in kinds]
        rows["source"] += ["liveness" if t == "offline" else "vendor" for t, _ in kinds]
        rows["message"] += ["设备离线" if t == "offline" else f"{t}（bench）" for t, _ in kinds]
        rows["state"] += state.tolist()
        acked = np.where(state != "active", first + rng.exponential(900, k) + 30, np.nan)
        rows["first_at"] += _ts(first)
        rows["last_at"] += _ts(first if cleared is None else cleared)
        rows["acked_at"] += _ts(acked)
        rows["acked_by"] += np.where(state != "active", "duty1", "").tolist()
        rows["cleared_at"] += _ts(cleared if cleared is not None else np.full(k, np.nan))

    def ack_mix(k):
        return np.where(rng.random(k) < 0.2, "acknowledged", "active")

    off = ids[~online]
    add(off, [("offline", "major")] * len(off), now_s - rng.uniform(600, 20 * DAY, len(off)), ack_mix(len(off)))
    on = np.flatnonzero(online)
    hot = rng.choice(on, max(1, len(on) // 200), replace=False)
    kinds = [types[product[i]][rng.integers(len(types[product[i]]))] for i in hot]
    add(ids[hot], kinds, now_s - rng.exponential(DAY, len(hot)), ack_mix(len(hot)))
    active = len(rows["device_id"])
    hist = rng.integers(0, len(ids), 3 * len(ids))
    first = now_s - rng.uniform(DAY, 365 * DAY, len(hist))
    kinds = [("offline", "major") if rng.random() < 0.4 else types[product[i]][rng.integers(len(types[product[i]]))]
             for i in hist]
    add(ids[hist], kinds, first, np.full(len(hist), "cleared", dtype=object),
        cleared=first + rng.exponential(3 * 3600, len(hist)) + 60)
    rows["cleared_by"] = [""] * active + ["system"] * len(hist)
    _copy(con, "alarms", dict(rows))
    return {"alarms_active": active, "alarms_history": len(hist)}


# -- city events, transitions, work orders --------------------------------------------------------

def _lifecycle(rng: np.random.Generator, rep: np.ndarray, now_s: float) -> dict[str, np.ndarray]:
    """Per event: step times (NaN = not reached by now) and the state it is in now."""
    n = len(rep)
    acc = rep + rng.exponential(1800, n) + 60
    dis = acc + rng.exponential(3600, n) + 60
    ret = dis + rng.exponential(3 * 3600, n) + 600
    redis = ret + rng.exponential(3600, n) + 300
    u = rng.random(n)
    rejected, merged, returned = u < 0.03, (u >= 0.03) & (u < 0.05), (u >= 0.05) & (u < 0.09)
    merged[0] = False  # a merged report points at the event before it
    last_dis = np.where(returned, redis, dis)
    start = last_dis + rng.exponential(1800, n) + 60
    done = start + rng.lognormal(math.log(20 * 3600), 1.1, n)
    ver = done + rng.exponential(4 * 3600, n) + 300
    close = ver + rng.exponential(6 * 3600, n) + 300

    def upto(t, mask=None):
        ok = t <= now_s
        if mask is not None:
            ok &= mask
        return np.where(ok, t, np.nan)

    normal = ~(rejected | merged)
    t = {"acc": upto(acc, normal), "dis": upto(dis, normal), "ret": upto(ret, normal & returned),
         "redis": upto(redis, normal & returned), "start": upto(start, normal), "done": upto(done, normal),
         "ver": upto(ver, normal), "close": upto(close, normal), "reject": upto(acc, rejected)}
    # A returned event still waiting for its second dispatch has not started.
    waiting = returned & ~np.isnan(t["ret"]) & np.isnan(t["redis"])
    for k in ("start", "done", "ver", "close"):
        t[k] = np.where(waiting, np.nan, t[k])
    state = np.full(n, "reported", dtype=object)
    for key, name in (("acc", "accepted"), ("dis", "dispatched"), ("ret", "accepted"), ("redis", "dispatched"),
                      ("start", "in_progress"), ("done", "disposed"), ("ver", "verified"), ("close", "closed")):
        state[~np.isnan(t[key])] = name
    state[~np.isnan(t["reject"])] = "rejected"
    state[merged] = "merged"
    t.update(rep=rep, state=state, merged=merged, returned=returned)
    return t


def _numbers(rep: np.ndarray) -> list[str]:
    """CN<Beijing yyyymmdd>-<seq of the day> for events sorted by report time."""
    local_days = ((rep + 8 * 3600) // DAY).astype("int64")
    first_of_day = np.searchsorted(local_days, local_days, side="left")
    seq = np.arange(len(rep)) - first_of_day + 1
    days = local_days.astype("datetime64[D]").astype(str)
    width = max(4, len(str(int(seq.max())))) if len(seq) else 4
    return [f"CN{d.replace('-', '')}-{s:0{width}d}" for d, s in zip(days, seq, strict=True)]


EVENT_TABLES = ("city_events", "event_transitions", "dispatch_orders", "dispatch_updates", "dispatch_outbox")


def _seed_events(con, ref: _Ref, rng: np.random.Generator, n: int, now_s: float) -> dict[str, int]:
    with _bulk_load(con, EVENT_TABLES):
        return _load_events(con, ref, rng, n, now_s)


def _load_events(con, ref: _Ref, rng: np.random.Generator, n: int, now_s: float) -> dict[str, int]:
    rep = np.sort(rng.uniform(now_s - 365 * DAY, now_s - 60, n))
    t = _lifecycle(rng, rep, now_s)
    first = _next_id(con, "city_events")
    ids = np.arange(first, first + n)
    w = rng.dirichlet(np.full(len(ref.leaves), 0.7))
    cat = rng.choice(len(ref.leaves), n, p=w)
    sev_default = np.array([s for _, _, s in ref.leaves], dtype=object)[cat]
    bump = rng.random(n)
    severity = np.where(bump < 0.05, "critical", np.where(bump < 0.15, "major", sev_default))
    source = np.array([s for s, _ in SOURCES], dtype=object)[rng.choice(len(SOURCES), n, p=[p for _, p in SOURCES])]
    lon, lat, street, grid = ref.points(rng, n)
    units = [ref.units_by_street.get(s) or ref.units for s in street]
    unit = np.array([u[j % len(u)] for u, j in zip(units, rng.integers(0, 1000, n), strict=True)])
    names = np.array([nm for _, nm, _ in ref.leaves], dtype=object)[cat]
    numbers = _numbers(rep)
    closed_at = np.where(np.isnan(t["close"]), t["reject"], t["close"])
    dispatched = np.where(np.isnan(t["redis"]), t["dis"], t["redis"])
    accepted = np.where(np.isnan(t["ret"]), t["acc"], t["ret"])
    touched = np.nanmax(np.vstack([rep, accepted, dispatched, t["done"], t["ver"], closed_at]), axis=0)
    _copy(con, "city_events", {
        "id": ids, "number": numbers, "category_id": np.array([ref.leaves[c][0] for c in cat]),
        "title": [f"{nm}（{ref.streets[s]}）" for nm, s in zip(names, street, strict=True)],
        "lon": lon, "lat": lat, "street_code": street.tolist(), "grid_code": grid.tolist(),
        "address": [f"{ref.streets[s]}某路{j}号" for s, j in zip(street, rng.integers(1, 999, n), strict=True)],
        "severity": severity, "source_kind": source, "state": t["state"], "unit_id": unit,
        "merged_into_id": [int(i) - 1 if m else None for i, m in zip(ids, t["merged"], strict=True)],
        "report_count": 1, "created_by": "system", "reported_at": _ts(rep), "accepted_at": _ts(accepted),
        "dispatched_at": _ts(dispatched), "disposed_at": _ts(t["done"]), "verified_at": _ts(t["ver"]),
        "closed_at": _ts(closed_at), "updated_at": _ts(touched),
    })
    _bump(con, "city_events")
    transitions = _seed_transitions(con, ids, t)
    orders = _seed_orders(con, rng, ids, numbers, unit, t, now_s)
    return {"events": n, "event_transitions": transitions, **orders,
            "events_open": int(np.isin(t["state"], ["reported", "accepted", "dispatched", "in_progress",
                                                    "disposed", "verified"]).sum()),
            "events_today": int((rep >= _local_midnight(now_s)).sum())}


def _local_midnight(now_s: float) -> float:
    return (now_s + 8 * 3600) // DAY * DAY - 8 * 3600


STEPS = (("rep", "", "reported", "report"), ("acc", "reported", "accepted", "accept"),
         ("reject", "reported", "rejected", "reject"), ("dis", "accepted", "dispatched", "dispatch"),
         ("ret", "dispatched", "accepted", "return"), ("redis", "accepted", "dispatched", "dispatch"),
         ("start", "dispatched", "in_progress", "start"), ("done", "in_progress", "disposed", "dispose"),
         ("ver", "disposed", "verified", "verify"), ("close", "verified", "closed", "close"))
REASONS = {"reject": "重复上报，不予立案", "return": "不属于本单位职责范围，退回重派"}


def _seed_transitions(con, ids: np.ndarray, t: dict) -> int:
    event_id, frm, to, action, at, reason = [], [], [], [], [], []
    for key, a, b, act in STEPS:
        when = t[key]
        mask = ~np.isnan(when)
        k = int(mask.sum())
        event_id.append(ids[mask])
        at.append(when[mask])
        frm += [a] * k
        to += [b] * k
        action += [act] * k
        reason += [REASONS.get(act, "")] * k
    merged = np.flatnonzero(t["merged"])
    event_id.append(ids[merged])
    at.append(t["rep"][merged])
    frm += ["reported"] * len(merged)
    to += ["merged"] * len(merged)
    action += ["merge"] * len(merged)
    reason += [""] * len(merged)
    eid, when = np.concatenate(event_id), np.concatenate(at)
    order = np.argsort(when, kind="stable")
    return _copy(con, "event_transitions", {
        "event_id": eid[order], "from_state": np.array(frm, dtype=object)[order].tolist(),
        "to_state": np.array(to, dtype=object)[order].tolist(), "action": np.array(action, dtype=object)[order].tolist(),
        "actor": "system", "reason": np.array(reason, dtype=object)[order].tolist(), "at": _ts(when[order])})


# The platform's word on an order: it accepts it, starts, disposes (the order stays "disposed"
# while the event is verified and closed here) or returns it (dispatch/results.py).
ORDER_STATE = {"dispatched": "accepted", "in_progress": "in_progress", "disposed": "disposed",
               "verified": "disposed", "closed": "disposed"}


def _seed_orders(con, rng: np.random.Generator, ids, numbers, unit, t: dict, now_s: float) -> dict[str, int]:
    """A work order per dispatch (a second one after a return), every platform update the
    order got (`dispatch_updates`: accepted, in progress, disposed or returned), and the outbox
    of the last 30 days (sent) plus a dozen failed messages."""
    platform = int(con.execute("SELECT id FROM dispatch_platforms ORDER BY id LIMIT 1").fetchone()[0])
    state = t["state"]
    first = ~np.isnan(t["dis"])
    second = ~np.isnan(t["redis"])
    returned = ~np.isnan(t["ret"])
    idx = np.concatenate([np.flatnonzero(first), np.flatnonzero(second)])
    seq = np.concatenate([np.ones(first.sum(), dtype=int), np.full(second.sum(), 2)])
    created = np.concatenate([t["dis"][first], t["redis"][second]])
    current = np.concatenate([~returned[first], np.ones(second.sum(), dtype=bool)])
    ostate = np.array([ORDER_STATE.get(state[i], "accepted") if cur else "returned"
                       for i, cur in zip(idx, current, strict=True)], dtype=object)
    started = np.where(current, t["start"][idx], np.nan)
    done = np.where(current, t["done"][idx], np.nan)
    back = np.where(current, np.nan, t["ret"][idx])
    nxt = np.fmin(np.fmin(started, back), now_s)  # the platform accepts before anything else happens
    accepted = created + np.minimum(rng.exponential(600, len(idx)) + 30, (nxt - created) / 2)
    last = np.nanmax(np.vstack([accepted, started, done, back]), axis=0)
    order = np.argsort(created, kind="stable")
    idx, seq, created, ostate, accepted, started, done, back, last = (
        a[order] for a in (idx, seq, created, ostate, accepted, started, done, back, last))
    start = _next_id(con, "dispatch_orders")
    oid = np.arange(start, start + len(idx))
    external = np.array([f"GD{o:09d}" for o in oid], dtype=object)
    _copy(con, "dispatch_orders", {
        "id": oid, "event_id": ids[idx], "platform_id": platform, "seq": seq,
        "idempotency_key": [f"{numbers[i]}/{s}" for i, s in zip(idx, seq, strict=True)],
        "unit_id": unit[idx], "external_id": external, "state": ostate,
        "raw_status": ostate, "created_by": "system", "created_at": _ts(created), "submitted_at": _ts(created + 2),
        "last_update_at": _ts(last), "disposed_at": _ts(done),
        "result_text": np.where(np.isnan(done), "", "已处置完毕").tolist()})
    _bump(con, "dispatch_orders")

    rows: dict[str, list] = defaultdict(list)
    for name, when in (("accepted", accepted), ("in_progress", started), ("disposed", done), ("returned", back)):
        got = np.flatnonzero(~np.isnan(when))
        rows["update_id"] += [f"{e}:{name}" for e in external[got]]
        rows["order_id"] += oid[got].tolist()
        rows["event_id"] += ids[idx[got]].tolist()
        rows["external_id"] += external[got].tolist()
        rows["state"] += [name] * len(got)
        rows["text"] += [{"disposed": "已处置完毕", "returned": "不属于本单位职责"}.get(name, "")] * len(got)
        rows["at"].append(when[got])
    at = np.concatenate(rows.pop("at"))
    updates = _copy(con, "dispatch_updates", {
        **rows, "platform_id": platform, "source": "callback", "raw_status": rows["state"], "at": _ts(at),
        "received_at": _ts(at + 1.5), "outcome": "bench"})

    recent = np.flatnonzero(created >= now_s - 30 * DAY)
    failed = recent[-12:]
    sent_at = created[recent] + 2
    _copy(con, "dispatch_outbox", {
        "event_id": np.concatenate([ids[idx[recent]], ids[idx[failed]]]),
        "order_id": np.concatenate([oid[recent], oid[failed]]), "platform_id": platform,
        "action": ["submit"] * len(recent) + ["update"] * len(failed),
        "state": ["sent"] * len(recent) + ["failed"] * len(failed),
        "attempts": np.concatenate([np.ones(len(recent), dtype=int), np.full(len(failed), 8)]),
        "last_error": [""] * len(recent) + ["HTTP 503 平台维护中"] * len(failed),
        "last_status_code": [200] * len(recent) + [503] * len(failed),
        "created_at": _ts(np.concatenate([created[recent], created[failed] + 600])),
        "sent_at": _ts(np.concatenate([sent_at, np.full(len(failed), np.nan)]))})
    return {"work_orders": len(oid), "dispatch_updates": updates, "outbox": len(recent) + len(failed)}


# -- call records -------------------------------------------------------------------------------

def _seed_calls(con, rng: np.random.Generator, n: int, now_s: float) -> int:
    """n call records over the last 1,000 days (inside the 1,095-day retention), by the
    callout-stats bench's generator and loader."""
    from cityops.bench import callout_stats as cs

    cs.copy_records(con, n, rng, now_s - 1000 * DAY, now_s)
    return n


# -- the small things: platform, history, findings, roster, a user ------------------------------

def _seed_small(db, ref: _Ref, now: datetime) -> dict[str, int]:
    from cityops.audit.context import acting_as
    from cityops.auth import service as users
    from cityops.dispatch import service as dispatch
    from cityops.duty import service as duty
    from cityops.duty.models import Shift
    from cityops.inspections.finding_models import Finding

    with acting_as("bench"), db.session() as s:
        # Disabled: nothing listens at that address, and the jobs must not poll it during the run.
        dispatch.create_platform(s, name="城运智能派单平台", kind="open311", enabled=False, is_default=True,
                                 settings={"base_url": "http://127.0.0.1:9/open311", "api_key": "bench"})
        users.create_user(s, username="bench-screen", role="admin", password=PASSWORD, display_name="大屏基准")
        duty.create_team(s, code="centre", name="城运中心值班组")
        duty.create_team(s, code="support", name="技术支撑组")
        people = [duty.create_contact(s, name=n, phone=f"1380000{i:04d}", team_code=team)
                  for i, (n, team) in enumerate((("王值班", "centre"), ("李值班", "centre"), ("张技术", "support")))]
        s.flush()
        start = now - timedelta(hours=4)
        s.add_all([Shift(contact_id=people[0].id, team_code="centre", role="leader", starts_at=start,
                         ends_at=start + timedelta(hours=12)),
                   Shift(contact_id=people[1].id, team_code="centre", role="member", starts_at=start,
                         ends_at=start + timedelta(hours=12)),
                   Shift(contact_id=people[2].id, team_code="support", role="support", starts_at=start,
                         ends_at=start + timedelta(hours=24))])
        findings = [("SYS-EYE", "critical", "视频调阅服务无响应"), ("SYS-DISPATCH", "warning", "派单接口响应慢"),
                    ("SYS-DISPATCH", "warning", "回调队列积压"), ("SYS-MOBILE", "warning", "单兵终端存储将满")]
        for i, (system, sev, title) in enumerate(findings):
            s.add(Finding(key=f"bench:{i}", source="probe", severity=sev, title=title, system_code=system,
                          first_seen_at=now - timedelta(hours=i + 1), last_seen_at=now))
    return {"findings": len(findings), "shifts": 3}


def _seed_history(db, now: datetime) -> int:
    """30 days of daily online rates: today's rows sampled by the real sampler
    (`sample_online_rate`), the 29 days before copied from them with each day's rate moved by
    up to ±3 % (the seeded fleet has one online state; a real one moves)."""
    from sqlalchemy import func, select, text

    from cityops.core.timeutil import local
    from cityops.monitoring.kpi_history import sample_online_rate
    from cityops.monitoring.models import KpiOnlineDaily

    rng = np.random.default_rng(5)
    today = local(now).date()
    copy = text("""
        INSERT INTO kpi_online_daily (day, scope, dimension, key, devices, samples, device_samples, online_samples,
                                      last_slot)
        SELECT day - :back, scope, dimension, key, devices, samples, device_samples,
               least(device_samples, round(online_samples * :f)), last_slot - make_interval(days => :back)
        FROM kpi_online_daily WHERE day = :today""")
    with db.session() as s:
        sample_online_rate(s, now=now)
        for back in range(1, 30):
            s.execute(copy, {"back": back, "f": float(rng.uniform(0.97, 1.03)), "today": today})
        return int(s.scalar(select(func.count()).select_from(KpiOnlineDaily)))


def seed(url: str, *, devices: int, events: int, calls: int, now: datetime) -> dict[str, Any]:
    """Load the district into the migrated, reference-seeded database at `url`; seconds per part."""
    import psycopg

    from cityops.callout import stats
    from cityops.core.db import Database

    rng = np.random.default_rng(20261206)
    now_s = now.timestamp()
    db = Database(url)
    took: dict[str, float] = {}
    counts: dict[str, int] = {}

    def part(name, fn):
        t = time.perf_counter()
        out = fn()
        took[name] = round(time.perf_counter() - t, 1)
        if isinstance(out, dict):
            counts.update({k: v for k, v in out.items() if isinstance(v, int)})
        return out

    try:
        with db.session() as s:
            ref = _Ref(s)
        part("small", lambda: _seed_small(db, ref, now))
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
            dev = part("devices", lambda: _seed_devices(con, ref, rng, devices, now_s))
            part("alarms", lambda: _seed_alarms(con, ref, rng, dev, now_s))
            part("events", lambda: _seed_events(con, ref, rng, events, now_s))
            part("calls", lambda: {"calls": _seed_calls(con, rng, calls, now_s)})
        part("call_rollups", lambda: {"call_rollup_calls": _rebuild(db, stats)})
        part("online_history", lambda: {"kpi_rows": _seed_history(db, now)})
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
            part("vacuum_analyze", lambda: con.execute("VACUUM ANALYZE"))
    finally:
        db.dispose()
    counts["devices"] = devices
    return {"counts": counts, "seconds": took, "seed_s": round(sum(took.values()), 1)}


def _rebuild(db, stats) -> int:
    with db.session() as s:
        return int(stats.rebuild(s)["calls"])


def freshen(url: str) -> None:
    """Move the online devices' last report to the last half interval before now: seeding took
    minutes, and the monitoring runtime must find them online, as a running fleet would be."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
        con.execute("""UPDATE devices d SET last_seen_at = now() - random() * 0.5 * make_interval(
                           secs => coalesce(d.report_interval_s, p.report_interval_s)),
                       last_data_at = now() - random() * 0.5 * make_interval(
                           secs => coalesce(d.report_interval_s, p.report_interval_s))
                       FROM products p WHERE p.id = d.product_id AND d.online""")
        con.execute("VACUUM ANALYZE devices")


# -- measuring ----------------------------------------------------------------------------------

def cold(url: str, reps: int, street: str | None = None) -> dict[str, list[float]]:
    """Each panel computed `reps` times directly (no cache) for the district or one street."""
    from cityops.core.db import Database
    from cityops.core.timeutil import utcnow
    from cityops.screen import panels

    db = Database(url)
    out = {}
    try:
        with db.session() as s:
            for name in panels.PANELS:
                panels.compute(s, name, street=street, now=utcnow())  # plan caches and pool warm
                out[name] = timed_ms(lambda name=name: panels.compute(s, name, street=street, now=utcnow()), reps)
                s.rollback()
    finally:
        db.dispose()
    return out


def busiest_street(url: str) -> str | None:
    from sqlalchemy import func, select

    from cityops.core.db import Database
    from cityops.devices.models import Device

    db = Database(url)
    try:
        with db.session() as s:
            return s.scalar(select(Device.street_code).where(Device.street_code.is_not(None))
                            .group_by(Device.street_code).order_by(func.count().desc()).limit(1))
    finally:
        db.dispose()


class Screen(threading.Thread):
    """One connected wall screen: holds /screen/stream open and counts what arrives (SSE)."""

    def __init__(self, base: str, cookies: dict[str, str], street: str | None = None):
        super().__init__(daemon=True, name="bench-screen")
        self.base, self.cookies, self.street = base, cookies, street
        self.status: int | None = None
        self.events = 0
        self.pings = 0
        self.panels: set[str] = set()
        self.error = ""
        self.ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._task = self._loop.create_task(self._watch())
        self.ready.set()
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # reported, not raised: the figures say how far it got
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._loop.close()

    async def _watch(self) -> None:
        import httpx

        params = {"street": self.street} if self.street else {}
        async with httpx.AsyncClient(base_url=self.base, cookies=self.cookies,
                                     timeout=httpx.Timeout(30, read=None)) as c:
            async with c.stream("GET", "/screen/stream", params=params) as r:
                self.status = r.status_code
                if r.status_code != 200:
                    self.error = (await r.aread()).decode(errors="replace")[:200]
                    return
                event = ""
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "panel":
                        snap = json.loads(line[5:])
                        self.panels.add(snap["name"])
                        self.events += 1
                    elif line.startswith(":"):
                        self.pings += 1
                    elif not line:
                        event = ""

    def stop(self) -> None:
        self.ready.wait(5)
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self.join(10)


def _login(base: str) -> tuple[dict[str, str], dict[str, str]]:
    """(bearer headers, console cookies) for the bench user."""
    import httpx

    from cityops.auth.deps import SESSION_COOKIE

    r = httpx.post(base + "/api/v1/auth/token", data={"username": "bench-screen", "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    bearer = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = httpx.post(base + "/login", data={"username": "bench-screen", "password": PASSWORD, "next": "/screen"},
                   timeout=30, follow_redirects=False)
    cookie = r.cookies.get(SESSION_COOKIE)
    if r.status_code != 303 or not cookie:
        raise RuntimeError(f"console login failed: {r.status_code}")
    return bearer, {SESSION_COOKIE: cookie}


class Churn(threading.Thread):
    """The district keeps moving while the screens watch: one device alarm a second, raised as
    the monitoring runtime raises one (commit, then `alarm.raise` on the bus), so the alarms
    and map panels change and the streams have something to push."""

    def __init__(self, db, every_s: float = 1.0):
        super().__init__(daemon=True, name="bench-churn")
        self.db, self.every_s = db, every_s
        self.raised = 0
        self.error = ""
        self._halt = threading.Event()

    def run(self) -> None:
        from sqlalchemy import select

        from cityops.core.bus import bus
        from cityops.devices.models import Device
        from cityops.monitoring import service as mon

        try:
            with self.db.session() as s:
                ids = list(s.scalars(select(Device.id).where(Device.online.is_(True), Device.device_type == "smoke")
                                     .order_by(Device.id).limit(5000)))
            rng = np.random.default_rng(17)
            while ids and not self._halt.wait(self.every_s):
                device_id = int(ids[rng.integers(len(ids))])
                with self.db.session() as s:
                    alarm = mon.raise_alarm(s, device_id=device_id, alarm_type="低电量", severity="warning",
                                            source="vendor", message="低电量（bench）")
                    alarm_id = alarm.id
                bus.publish("alarm.raise", {"alarm_id": alarm_id, "device_id": device_id})
                self.raised += 1
        except Exception as exc:  # reported with the figures
            self.error = f"{type(exc).__name__}: {exc}"

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def served(url: str, var_dir: Path, *, screens: int, requests: int, clients: int = 2,
           settle_s: float = 60.0) -> dict[str, Any]:
    """The app under uvicorn with jobs on; `screens` live streams; panel GETs from `clients` threads."""
    import httpx

    from cityops.app import create_app
    from cityops.core.settings import Settings
    from cityops.screen import panels
    from cityops.sim.serve import serve_app

    settings = Settings(database_url=url, var_dir=var_dir, secret_key=SECRET_KEY, audit_key=AUDIT_KEY,
                        jobs_enabled=True, log_level="WARNING", log_json=False)
    app = create_app(settings, migrate=False)
    times: dict[str, list[float]] = {name: [] for name in panels.PANELS}
    errors: dict[str, int] = defaultdict(int)
    with serve_app(app, name="bench-screen") as base:
        bearer, cookies = _login(base)
        watchers = [Screen(base, cookies) for _ in range(screens)]
        for w in watchers:
            w.start()
        churn = Churn(app.state.ctx.db)
        churn.start()
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and not all(
                len(w.panels) == len(panels.PANELS) or w.error or w.status not in (None, 200) for w in watchers):
            time.sleep(0.2)
        initial_s = round(settle_s - (deadline - time.monotonic()), 1)
        work = [name for _ in range(requests) for name in panels.PANELS]
        lock = threading.Lock()

        def client():
            with httpx.Client(base_url=base, headers=bearer, timeout=60) as c:
                while True:
                    with lock:
                        if not work:
                            return
                        name = work.pop()
                    t = time.perf_counter()
                    r = c.get(f"/api/v1/screen/panels/{name}")
                    ms = (time.perf_counter() - t) * 1e3
                    ok = r.status_code == 200 and r.json().get("name") == name
                    with lock:
                        times[name].append(ms)
                        if not ok:
                            errors[name] += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - started
        with httpx.Client(base_url=base, headers=bearer, timeout=60) as c:
            all_ms = timed_ms(lambda: c.get("/api/v1/screen/panels").raise_for_status(), max(3, requests // 10))
        # The wall page itself (console cookie), while the screens are still connected.
        with httpx.Client(base_url=base, cookies=cookies, timeout=60) as c:
            c.get("/screen").raise_for_status()  # the template compiles once
            page_ms = timed_ms(lambda: c.get("/screen").raise_for_status(), max(3, requests // 10))
        churn.stop()
        time.sleep(1.5)  # the last alarms reach the streams
        for w in watchers:
            w.stop()
    app.state.ctx.db.dispose()
    return {"times": times, "errors": dict(errors), "elapsed_s": round(elapsed, 1), "all_ms": all_ms,
            "page_ms": page_ms, "initial_s": initial_s, "alarms_raised": churn.raised, "churn_error": churn.error,
            "screens": [{"status": w.status, "events": w.events, "panels": len(w.panels), "pings": w.pings,
                         "error": w.error} for w in watchers]}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def run(devices: int = 100_000, events: int = 1_000_000, calls: int = 10_000_000, screens: int = 10,
        requests: int = 200) -> dict[str, Any]:
    from cityops.audit import service as audit
    from cityops.bootstrap import prepare_database
    from cityops.core.db import Database
    from cityops.core.timeutil import utcnow
    from cityops.screen import panels

    audit.configure(AUDIT_KEY)
    now = utcnow()
    with tempfile.TemporaryDirectory() as tmp:
        url, drop = scratch_database("postgresql", Path(tmp))
        try:
            db = Database(url)
            prepare_database(db)
            db.dispose()
            seeded = seed(url, devices=devices, events=events, calls=calls, now=now)
            cold_ms = cold(url, max(3, min(requests, 20)))
            street = busiest_street(url)
            street_ms = cold(url, max(3, min(requests, 20) // 4), street)
            freshen(url)
            live = served(url, Path(tmp) / "var", screens=screens, requests=requests)
        finally:
            drop()
    per_panel = {}
    for name in panels.PANELS:
        ms = live["times"][name]
        per_panel[name] = {"p50_ms": _r(pct(ms, 0.5)), "p95_ms": _r(pct(ms, 0.95)), "max_ms": _r(max(ms, default=None)),
                           "requests": len(ms), "errors": live["errors"].get(name, 0),
                           "cold_p50_ms": _r(pct(cold_ms[name], 0.5)), "cold_p95_ms": _r(pct(cold_ms[name], 0.95))}
    street_cold = {name: {"p50_ms": _r(pct(ms, 0.5)), "p95_ms": _r(pct(ms, 0.95))} for name, ms in street_ms.items()}
    worst = max(per_panel, key=lambda k: per_panel[k]["p95_ms"] or 0)
    worst_cold = max(per_panel, key=lambda k: per_panel[k]["cold_p95_ms"] or 0)
    sse = [s["events"] for s in live["screens"]]
    live_ok = len(sse) == screens and all(s["status"] == 200 and s["panels"] == len(panels.PANELS)
                                          for s in live["screens"])
    errors = sum(p["errors"] for p in per_panel.values())
    p95 = per_panel[worst]["p95_ms"]
    return {
        "bench": "screen", "database": "postgresql", "devices": devices, "events": events, "calls": calls,
        "screens": screens, "requests": requests, "counts": seeded["counts"], "seed_s": seeded["seed_s"],
        "seed_parts_s": seeded["seconds"], "panels": per_panel, "panel_p95_ms": p95, "worst_panel": worst,
        "cold_p95_ms": per_panel[worst_cold]["cold_p95_ms"], "worst_cold_panel": worst_cold,
        "street_cold": {"street": street, "panels": street_cold},
        "all_panels_p95_ms": _r(pct(live["all_ms"], 0.95)), "page_p95_ms": _r(pct(live["page_ms"], 0.95)),
        "errors": errors, "alarms_raised_live": live["alarms_raised"],
        "sse_events": sum(sse), "sse_events_min_per_screen": min(sse, default=0),
        "sse_pings": sum(s["pings"] for s in live["screens"]), "screens_live": live_ok,
        "screen_errors": [s["error"] for s in live["screens"] if s["error"]][:3] + (
            [live["churn_error"]] if live["churn_error"] else []),
        "initial_panels_s": live["initial_s"], "measure_s": live["elapsed_s"],
        "target_ms": TARGET_P95_MS, "ok": p95 is not None and p95 < TARGET_P95_MS and errors == 0 and live_ok,
        "at": datetime.now(UTC).astimezone().isoformat(timespec="seconds"), "machine": machine(),
    }


