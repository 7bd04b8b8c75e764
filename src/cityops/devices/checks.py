"""Device metadata checks (IOT-1 设备元数据纠错).

Keeps a device's street ↔ address ↔ map point consistent and finds missing and duplicate
records. Each check yields at most one problem per device; `run_checks` turns problems
into findings (`metadata_findings`) with a proposed correction where one can be derived:

- `outside_district` (high): the point is outside 长宁区, also after WGS-84→GCJ-02; no proposal.
- `datum` (high): the point looks like WGS-84 stored as GCJ-02: the raw point is outside the
  district / the recorded street / the recorded grid while the converted point (≈500 m away
  in Shanghai) is inside; proposal: the converted point (and its street/grid if they differ).
- `point_street` (medium): the point lies outside the recorded street; proposal: the street
  at the point, its grid, and its street office as unit when the unit was the old office.
- `address_street` (medium): gazetteer names in the address belong to other streets;
  proposal: that street when unambiguous and not contradicted by the point.
- `grid` (low): grid missing, not in the device's street, or not where the point is;
  proposal: the grid at the point.
- `duplicate_imei` (high): the same IMEI on two devices; proposal: retire the newer one.
- `duplicate_nearby` (medium): the same device type within N m (default 3 m,
  CITYOPS_DEVICE_DUPLICATE_RADIUS_M); proposal: retire the newer one.
- `missing_fields` (medium, high without point or street): an in-service device lacks
  name/address/point/street/unit; proposal: street and grid from the point, the street
  office as unit, where known.

Precedence for the point: `outside_district`/`datum` first, then `point_street`, then
`grid`, so one wrong point gives one finding, not three. Proposals are never applied
automatically: a person accepts them (`cityops.devices.quality.accept`).

Every problem carries a fingerprint of the values the check read; a rejected finding is
not reopened while the fingerprint stays the same, and an open finding whose problem
disappeared (or changed) is superseded. Retired devices are not checked.

Speed: one query for the devices' columns, point-in-polygon over NumPy arrays with
prepared shapely geometries and STR-trees, a single regex pass over distinct addresses,
an STR-tree neighbour search for duplicates, and one query each for open and rejected
findings — no per-device queries (a full run over 100k devices takes seconds).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
import time
import unicodedata
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

import numpy as np
import shapely
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityops.core.db import Database, savepoint
from cityops.core.jobs import Scheduler
from cityops.core.timeutil import SHANGHAI, utcnow
from cityops.devices.models import DEVICE_TYPES, Device
from cityops.devices.quality_models import GazetteerEntry, MetadataFinding
from cityops.geo import coords, lookup, reference
from cityops.geo.models import Grid, ResponsibleUnit, Street

log = logging.getLogger(__name__)

# check → (label, default severity)
CHECKS: dict[str, tuple[str, str]] = {
    "outside_district": ("坐标在长宁区外", "high"),
    "datum": ("坐标系疑似错误（WGS-84）", "high"),
    "point_street": ("坐标不在登记街镇内", "medium"),
    "address_street": ("地址与街镇不一致", "medium"),
    "grid": ("责任网格缺失或不符", "low"),
    "duplicate_imei": ("IMEI 重复", "high"),
    "duplicate_nearby": ("疑似重复设备", "medium"),
    "missing_fields": ("必填信息缺失", "medium"),
}
CHECK_LABELS = {k: v[0] for k, v in CHECKS.items()}
DUPLICATE_CHECKS = ("duplicate_imei", "duplicate_nearby")
IN_SERVICE = ("active", "maintenance")  # statuses whose required fields must be complete
REQUIRED_LABELS = {"name": "名称", "address": "地址", "point": "坐标", "street_code": "所属街镇", "unit_id": "责任单位"}
DEFAULT_DUPLICATE_RADIUS_M = 3.0
PARTIAL_LIMIT = 500  # above this many devices a "partial" run checks everything (cheaper than many lookups)
SUPERSEDED_BY = "system:checks"


def duplicate_radius_m() -> float:
    """Same-type devices closer than this are reported as duplicates; the setting is the
    environment variable CITYOPS_DEVICE_DUPLICATE_RADIUS_M (metres, default 3)."""
    try:
        value = float(os.environ.get("CITYOPS_DEVICE_DUPLICATE_RADIUS_M", DEFAULT_DUPLICATE_RADIUS_M))
    except ValueError:
        return DEFAULT_DUPLICATE_RADIUS_M
    return value if value > 0 else DEFAULT_DUPLICATE_RADIUS_M


# -- reference data: shapes, gazetteer, offices ------------------------------------------------

class _Shapes:
    """Prepared street/grid/district geometries with vectorised lookups, built from the
    GeoIndex rows (so it follows boundary imports exactly when the index does)."""

    def __init__(self, index: lookup.GeoIndex):
        self.street_codes = np.array([r[0] for r in index.streets], dtype=object)
        self.grid_codes = np.array([r[0] for r in index.grids], dtype=object)
        sgeoms = [shapely.from_geojson(r[2]) for r in index.streets]
        ggeoms = [shapely.from_geojson(r[2]) for r in index.grids]
        for g in sgeoms + ggeoms:
            shapely.prepare(g)
        self.street_geom = dict(zip(self.street_codes, sgeoms))
        self.grid_geom = dict(zip(self.grid_codes, ggeoms))
        self._stree = shapely.STRtree(sgeoms)
        self._gtree = shapely.STRtree(ggeoms) if ggeoms else None
        self.outline = reference.district_outline()
        shapely.prepare(self.outline)

    @staticmethod
    def _first_hit(tree, codes: np.ndarray, pts: np.ndarray) -> np.ndarray:
        out = np.full(len(pts), None, dtype=object)
        if tree is None or len(pts) == 0:
            return out
        pi, gi = tree.query(pts, predicate="covered_by")
        if len(pi):
            first, at = np.unique(pi, return_index=True)
            out[first] = codes[gi[at]]
        return out

    def street_at(self, pts: np.ndarray) -> np.ndarray:
        return self._first_hit(self._stree, self.street_codes, pts)

    def grid_at(self, pts: np.ndarray) -> np.ndarray:
        return self._first_hit(self._gtree, self.grid_codes, pts)

    def in_district(self, pts: np.ndarray, street_at: np.ndarray) -> np.ndarray:
        if len(pts) == 0:
            return np.zeros(0, dtype=bool)
        return shapely.covers(self.outline, pts) | (street_at != None)  # noqa: E711 (object array)

    @staticmethod
    def _in(geoms: dict, recorded: np.ndarray, pts: np.ndarray) -> np.ndarray:
        """Is each point covered by its own recorded area (False where none is recorded)?"""
        out = np.zeros(len(pts), dtype=bool)
        for code in {c for c in recorded if c is not None}:
            geom = geoms.get(code)
            if geom is None:
                continue
            mask = recorded == code
            out[mask] = shapely.covers(geom, pts[mask])
        return out

    def in_street(self, recorded: np.ndarray, pts: np.ndarray) -> np.ndarray:
        return self._in(self.street_geom, recorded, pts)

    def in_grid(self, recorded: np.ndarray, pts: np.ndarray) -> np.ndarray:
        return self._in(self.grid_geom, recorded, pts)


_shapes_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_shapes_lock = threading.Lock()


def _shapes(session: Session) -> _Shapes:
    index = lookup.index_for(session)
    with _shapes_lock:
        shapes = _shapes_cache.get(index)
        if shapes is None:
            shapes = _shapes_cache[index] = _Shapes(index)
        return shapes


def normalise_address(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


class Gazetteer:
    """Finds gazetteer names in address text: leftmost-longest, non-overlapping, so that
    "延安西路" is not also read as "安西路". The streets' own names count as entries."""

    def __init__(self, pairs: Iterable[tuple[str, str]], street_names: dict[str, str]):
        names: dict[str, set[str]] = {}
        for name, code in pairs:
            names.setdefault(normalise_address(name), set()).add(code)
        for code, name in street_names.items():
            names.setdefault(normalise_address(name), set()).add(code)
        self.names = {n: frozenset(c) for n, c in names.items() if n}
        ordered = sorted(self.names, key=lambda n: (-len(n), n))
        self._re = re.compile("|".join(re.escape(n) for n in ordered)) if ordered else None
        self._cache: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {}

    def match(self, address: str) -> tuple[tuple[str, frozenset[str]], ...]:
        """The distinct names found, in order, each with its set of street codes."""
        hit = self._cache.get(address)
        if hit is not None:
            return hit
        found: list[tuple[str, frozenset[str]]] = []
        if self._re is not None:
            seen = set()
            for m in self._re.finditer(normalise_address(address)):
                if m.group(0) not in seen:
                    seen.add(m.group(0))
                    found.append((m.group(0), self.names[m.group(0)]))
        result = tuple(found)
        if len(self._cache) < 200_000:
            self._cache[address] = result
        return result


_gazetteer_cache: dict[frozenset, Gazetteer] = {}


def gazetteer(session: Session) -> Gazetteer:
    pairs = frozenset(session.execute(select(GazetteerEntry.name, GazetteerEntry.street_code)
                                      .where(GazetteerEntry.active.is_(True))))
    streets = {c: n for c, n in session.execute(select(Street.code, Street.name))}
    key = pairs | {("street", c, n) for c, n in streets.items()}
    g = _gazetteer_cache.get(key)
    if g is None:
        _gazetteer_cache.clear()
        g = _gazetteer_cache[key] = Gazetteer(pairs, streets)
    return g


@dataclass
class Reference:
    shapes: _Shapes
    gazetteer: Gazetteer
    street_names: dict[str, str]
    grid_street: dict[str, str]
    grid_names: dict[str, str]
    offices: dict[str, int]  # street code → street office unit id

    @classmethod
    def load(cls, session: Session) -> Reference:
        streets = {c: n for c, n in session.execute(select(Street.code, Street.name))}
        grids = session.execute(select(Grid.code, Grid.street_code, Grid.name)).all()
        offices = {s: i for i, s in session.execute(
            select(ResponsibleUnit.id, ResponsibleUnit.street_code)
            .where(ResponsibleUnit.kind == "street_office", ResponsibleUnit.street_code.is_not(None),
                   ResponsibleUnit.active.is_(True)).order_by(ResponsibleUnit.id.desc()))}
        return cls(_shapes(session), gazetteer(session), streets, {g.code: g.street_code for g in grids},
                   {g.code: g.name for g in grids}, offices)

    def street_label(self, code: str | None) -> str:
        return self.street_names.get(code, code) if code else "（无）"

    def grid_label(self, code: str | None) -> str:
        return self.grid_names.get(code, code) if code else "（无）"


# -- problems ----------------------------------------------------------------------------

@dataclass
class Problem:
    device_id: int
    check: str
    message: str
    checked: dict[str, Any]
    proposed: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    severity: str = ""
    fingerprint: str = field(default="", init=False)

    def __post_init__(self):
        self.severity = self.severity or CHECKS[self.check][1]
        self.fingerprint = fingerprint(self.check, self.checked)

    @property
    def details(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "checked": self.checked, **self.extra}


def fingerprint(check: str, checked: dict[str, Any]) -> str:
    """A stable hash of the values a check read (repr of floats is exact and stable)."""
    body = repr((check, sorted(checked.items())))
    return hashlib.sha1(body.encode()).hexdigest()


COLUMNS = (Device.id, Device.code, Device.name, Device.device_type, Device.vendor, Device.imei, Device.address,
           Device.lon, Device.lat, Device.street_code, Device.grid_code, Device.unit_id, Device.status)


_POINT_FIELDS = ("lon", "lat", "street_code", "grid_code")
# The device fields each check reads: their values (plus, for duplicates, the other
# device's) make the fingerprint, and a decision is stale once any of them changed.
CHECKED_FIELDS: dict[str, tuple[str, ...]] = {
    "outside_district": _POINT_FIELDS, "datum": _POINT_FIELDS, "point_street": _POINT_FIELDS, "grid": _POINT_FIELDS,
    "address_street": ("address", "street_code", "lon", "lat"),
    "missing_fields": ("name", "address", "lon", "lat", "street_code", "unit_id", "status"),
    "duplicate_imei": ("imei", "status"),
    "duplicate_nearby": ("device_type", "lon", "lat", "status"),
}


def checked_values(check: str, device) -> dict[str, Any]:
    """The values of `device` (a row or a Device) that `check` reads."""
    return {f: getattr(device, f) for f in CHECKED_FIELDS[check]}


def _street_change(ref: Reference, r, street: str, grid: str | None) -> dict[str, Any]:
    """Move a device to another street: its grid follows, and its unit too when the unit
    was the old street's office."""
    out: dict[str, Any] = {"street_code": street}
    if grid != r.grid_code:
        out["grid_code"] = grid
    old_office = ref.offices.get(r.street_code) if r.street_code else None
    new_office = ref.offices.get(street)
    if new_office and (r.unit_id is None or r.unit_id == old_office) and r.unit_id != new_office:
        out["unit_id"] = new_office
    return out


def _round(v: float) -> float:
    return round(float(v), 7)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def evaluate(rows: list, ref: Reference, radius_m: float) -> dict[tuple[int, str], Problem]:
    """All problems of the given device rows (columns as in COLUMNS). Duplicates are found
    among the rows only, so the caller passes every device that could be a duplicate."""
    problems: dict[tuple[int, str], Problem] = {}

    def add(p: Problem) -> None:
        problems[(p.device_id, p.check)] = p

    live = [r for r in rows if r.status != "retired"]
    located = _geometry(live, ref, add)
    _address(live, ref, located, add)
    _missing(live, ref, located, add)
    _duplicates(live, radius_m, add)
    return problems


def _geometry(rows: list, ref: Reference, add) -> dict[int, tuple[str | None, str | None]]:
    """Point checks; returns the (street, grid) at each device's point for the other checks."""
    pts_rows = [r for r in rows if r.lon is not None and r.lat is not None
                and math.isfinite(r.lon) and math.isfinite(r.lat)]
    if not pts_rows:
        return {}
    sh = ref.shapes
    x = np.fromiter((r.lon for r in pts_rows), float, len(pts_rows))
    y = np.fromiter((r.lat for r in pts_rows), float, len(pts_rows))
    cx, cy = coords.wgs84_to_gcj02(x, y)
    raw, conv = shapely.points(x, y), shapely.points(cx, cy)
    st_raw, st_conv = sh.street_at(raw), sh.street_at(conv)
    gr_raw, gr_conv = sh.grid_at(raw), sh.grid_at(conv)
    in_d, in_d_conv = sh.in_district(raw, st_raw), sh.in_district(conv, st_conv)
    rec_st = np.array([r.street_code for r in pts_rows], dtype=object)
    rec_gr = np.array([r.grid_code for r in pts_rows], dtype=object)
    raw_in_st, conv_in_st = sh.in_street(rec_st, raw), sh.in_street(rec_st, conv)
    raw_in_gr, conv_in_gr = sh.in_grid(rec_gr, raw), sh.in_grid(rec_gr, conv)
    grid_ok = np.array([g is not None and ref.grid_street.get(g) == s for g, s in zip(rec_gr, rec_st)], dtype=bool)
    has_st = rec_st != None  # noqa: E711
    suspicious = ~in_d | (has_st & (~raw_in_st | ~grid_ok | ~raw_in_gr))
    shift = coords.distance_m(x, y, cx, cy)
    located = dict(zip((r.id for r in pts_rows), zip(st_raw.tolist(), gr_raw.tolist())))
    grid_in = (lambda g, s: g if g is not None and ref.grid_street.get(g) == s else None)
    for k in np.nonzero(suspicious)[0]:
        r = pts_rows[k]
        conv_pt = [_round(cx[k]), _round(cy[k])]
        extra = {"located_street": st_raw[k], "located_grid": gr_raw[k], "converted": conv_pt,
                 "shift_m": round(float(shift[k]), 1)}
        checked = checked_values("datum", r)  # the same fields for every point check
        here = f"（{r.lon:.6f}, {r.lat:.6f}）"
        if not in_d[k]:
            if in_d_conv[k]:
                proposed: dict[str, Any] = {"lon": conv_pt[0], "lat": conv_pt[1]}
                target = st_conv[k]
                if target and target != r.street_code:
                    proposed.update(_street_change(ref, r, target, grid_in(gr_conv[k], target)))
                elif target and gr_conv[k] != r.grid_code and grid_in(gr_conv[k], target):
                    proposed["grid_code"] = gr_conv[k]
                add(Problem(r.id, "datum", f"坐标{here}位于长宁区范围外，按 WGS-84→GCJ-02 换算（偏移约 "
                            f"{shift[k]:.0f} 米）后位于{ref.street_label(target)}，疑似将 GPS 原始坐标（WGS-84）"
                            f"当作 GCJ-02 录入。", checked, proposed, {**extra, "reason": "outside_district"}))
            else:
                add(Problem(r.id, "outside_district", f"坐标{here}位于长宁区范围外，换算坐标系后仍在区外，"
                            f"请现场核实设备位置。", checked, {}, extra))
            continue
        if r.street_code is None:
            continue  # missing_fields reports it, with the street at the point as proposal
        if not raw_in_st[k]:
            if conv_in_st[k]:
                proposed = {"lon": conv_pt[0], "lat": conv_pt[1]}
                g = grid_in(gr_conv[k], r.street_code)
                if g and g != r.grid_code and not conv_in_gr[k]:
                    proposed["grid_code"] = g
                add(Problem(r.id, "datum", f"坐标{here}不在登记的{ref.street_label(r.street_code)}内（位于"
                            f"{ref.street_label(st_raw[k])}），按 WGS-84→GCJ-02 换算（偏移约 {shift[k]:.0f} 米）后"
                            f"落在登记街镇内，疑似坐标系错误。", checked, proposed, {**extra, "reason": "street"}))
            elif st_raw[k] is not None:
                proposed = _street_change(ref, r, st_raw[k], grid_in(gr_raw[k], st_raw[k]))
                add(Problem(r.id, "point_street", f"坐标{here}位于{ref.street_label(st_raw[k])}，与登记的"
                            f"{ref.street_label(r.street_code)}不一致。", checked, proposed, extra))
            else:
                add(Problem(r.id, "point_street", f"坐标{here}不在任何街镇范围内，与登记的"
                            f"{ref.street_label(r.street_code)}不一致。", checked, {}, extra))
            continue
        here_grid = grid_in(gr_raw[k], r.street_code)
        proposal = {"grid_code": here_grid} if here_grid and here_grid != r.grid_code else {}
        if r.grid_code is None:
            add(Problem(r.id, "grid", f"未登记责任网格；坐标位于{ref.grid_label(here_grid)}。", checked, proposal,
                        {**extra, "reason": "missing"}))
        elif not grid_ok[k]:
            add(Problem(r.id, "grid", f"登记的网格 {ref.grid_label(r.grid_code)} 不属于登记的"
                        f"{ref.street_label(r.street_code)}；坐标位于{ref.grid_label(here_grid)}。", checked, proposal,
                        {**extra, "reason": "not_in_street"}))
        elif not raw_in_gr[k]:
            if conv_in_gr[k] and conv_in_st[k]:
                add(Problem(r.id, "datum", f"坐标{here}不在登记的{ref.grid_label(r.grid_code)}内，按 WGS-84→GCJ-02 "
                            f"换算（偏移约 {shift[k]:.0f} 米）后落在登记网格内，疑似坐标系错误。", checked,
                            {"lon": conv_pt[0], "lat": conv_pt[1]}, {**extra, "reason": "grid"}))
            else:
                add(Problem(r.id, "grid", f"坐标位于{ref.grid_label(here_grid)}，与登记的"
                            f"{ref.grid_label(r.grid_code)}不一致。", checked, proposal,
                            {**extra, "reason": "point_elsewhere"}))
    return located


def _address(rows: list, ref: Reference, located: dict, add) -> None:
    gz = ref.gazetteer
    todo = [r for r in rows if r.address and r.street_code]
    for r in todo:
        matches = gz.match(r.address)
        if not matches:
            continue
        union = frozenset().union(*(codes for _, codes in matches))
        if r.street_code in union:
            continue
        inter = frozenset.intersection(*(codes for _, codes in matches))
        cands = inter or union
        here, here_grid = located.get(r.id, (None, None))
        target = None
        if len(cands) == 1 and here in (None, *cands):
            target = next(iter(cands))
        elif here in cands:
            target = here
        proposed: dict[str, Any] = {}
        if target:
            grid = here_grid if here == target and ref.grid_street.get(here_grid) == target else None
            proposed = _street_change(ref, r, target, grid)
        names = "、".join(n for n, _ in matches)
        belongs = "、".join(sorted(ref.street_label(c) for c in cands))
        msg = (f"地址“{_short(r.address)}”中的“{names}”属于{belongs}，与登记的{ref.street_label(r.street_code)}"
               f"不一致。")
        if not target:
            msg += ("坐标也在登记街镇内，请核对地址。" if here == r.street_code
                    else "无法确定应归属的街镇，请人工核实。")
        add(Problem(r.id, "address_street", msg,
                    checked_values("address_street", r), proposed,
                    {"matches": [[n, sorted(c)] for n, c in matches], "candidates": sorted(cands),
                     "located_street": here}))


def _missing(rows: list, ref: Reference, located: dict, add) -> None:
    for r in rows:
        if r.status not in IN_SERVICE:
            continue
        missing = [f for f, empty in (("name", not (r.name or "").strip()), ("address", not (r.address or "").strip()),
                                      ("point", r.lon is None or r.lat is None), ("street_code", not r.street_code),
                                      ("unit_id", r.unit_id is None)) if empty]
        if not missing:
            continue
        proposed: dict[str, Any] = {}
        street = r.street_code
        if not street and r.id in located and located[r.id][0]:
            street, grid = located[r.id]
            proposed["street_code"] = street
            if grid and ref.grid_street.get(grid) == street and grid != r.grid_code:
                proposed["grid_code"] = grid
        if r.unit_id is None and street and ref.offices.get(street):
            proposed["unit_id"] = ref.offices[street]
        severity = "high" if {"point", "street_code"} & set(missing) else "medium"
        add(Problem(r.id, "missing_fields", f"在用设备缺少必填信息：{'、'.join(REQUIRED_LABELS[m] for m in missing)}。",
                    checked_values("missing_fields", r), proposed, {"missing": missing}, severity))


def _duplicates(rows: list, radius_m: float, add) -> None:
    by_imei: dict[str, list] = {}
    for r in rows:
        if r.imei:
            by_imei.setdefault(r.imei, []).append(r)
    for imei, group in by_imei.items():
        if len(group) < 2:
            continue
        group.sort(key=lambda r: r.id)
        keeper = group[0]
        for r in group[1:]:
            add(Problem(r.id, "duplicate_imei", f"IMEI {imei} 与设备 {keeper.code}（{keeper.name}）重复，"
                        f"疑似同一设备重复登记；建议核实后退役其中一条。",
                        {**checked_values("duplicate_imei", r), "other_id": keeper.id, "other_imei": keeper.imei},
                        {"status": "retired"}, {"other_device_id": keeper.id, "other_code": keeper.code}))
    pts_rows = [r for r in rows if r.lon is not None and r.lat is not None]
    if len(pts_rows) < 2:
        return
    mx, my = coords.local_metres([r.lon for r in pts_rows], [r.lat for r in pts_rows])
    tree_pts = shapely.points(mx, my)
    tree = shapely.STRtree(tree_pts)
    a, b = tree.query(tree_pts, predicate="dwithin", distance=radius_m)
    partner: dict[int, tuple[int, float]] = {}  # row index → (oldest same-type neighbour index, distance)
    for i, j in zip(a.tolist(), b.tolist()):
        ri, rj = pts_rows[i], pts_rows[j]
        if rj.id >= ri.id or ri.device_type != rj.device_type:
            continue
        if i not in partner or pts_rows[partner[i][0]].id > rj.id:
            partner[i] = (j, float(math.hypot(mx[i] - mx[j], my[i] - my[j])))
    for i, (j, dist) in partner.items():
        r, other = pts_rows[i], pts_rows[j]
        label = DEVICE_TYPES.get(r.device_type, r.device_type)
        add(Problem(r.id, "duplicate_nearby", f"与同类设备 {other.code}（{label}）相距 {dist:.1f} 米，疑似重复登记；"
                    f"建议核实后退役其中一条。",
                    {**checked_values("duplicate_nearby", r), "other_id": other.id, "other_lon": other.lon,
                     "other_lat": other.lat},
                    {"status": "retired"}, {"other_device_id": other.id, "other_code": other.code,
                                            "distance_m": round(dist, 2)}))


# -- runs --------------------------------------------------------------------------------

def _chunks(items: list, n: int = 900):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _load_rows(session: Session, ids: Iterable[int] | None) -> list:
    if ids is None:
        return list(session.execute(select(*COLUMNS).order_by(Device.id)))
    rows = []
    for chunk in _chunks(sorted(set(ids))):
        rows.extend(session.execute(select(*COLUMNS).where(Device.id.in_(chunk))))
    return rows


def _partners(session: Session, rows: list, radius_m: float, referenced: dict[int, set[int]]) -> set[int]:
    """Devices that may be duplicates of these rows: same IMEI, same type nearby, or named
    by an open duplicate finding."""
    found: set[int] = set()
    live = [r for r in rows if r.status != "retired"]
    imeis = sorted({r.imei for r in live if r.imei})
    for chunk in _chunks(imeis):
        found.update(session.scalars(select(Device.id).where(Device.imei.in_(chunk), Device.status != "retired")))
    dlat = radius_m / 111_000 * 1.5
    dlon = dlat / math.cos(math.radians(31.2))
    boxes = [and_(Device.device_type == r.device_type, Device.lon.between(r.lon - dlon, r.lon + dlon),
                  Device.lat.between(r.lat - dlat, r.lat + dlat))
             for r in live if r.lon is not None and r.lat is not None]
    for chunk in _chunks(boxes, 100):
        found.update(session.scalars(select(Device.id).where(Device.status != "retired", or_(*chunk))))
    for r in rows:
        found.update(referenced.get(r.id, ()))
    return found


def _expand(session: Session, ids: set[int], radius_m: float) -> set[int] | None:
    """The devices to evaluate so that duplicate checks see every possible partner; None
    when the closure grows past PARTIAL_LIMIT (then a full run is cheaper)."""
    referenced: dict[int, set[int]] = {}
    for device_id, details in session.execute(select(MetadataFinding.device_id, MetadataFinding.details).where(
            MetadataFinding.state == "open", MetadataFinding.check.in_(DUPLICATE_CHECKS))):
        other = (details or {}).get("other_device_id")
        if other is not None:
            referenced.setdefault(device_id, set()).add(int(other))
            referenced.setdefault(int(other), set()).add(device_id)
    seen, frontier = set(ids), set(ids)
    while frontier:
        if len(seen) > PARTIAL_LIMIT:
            return None
        new = _partners(session, _load_rows(session, frontier), radius_m, referenced) - seen
        seen |= new
        frontier = new
    return seen


def run_checks(session: Session, device_ids: Iterable[int] | None = None, *,
               duplicate_radius: float | None = None) -> dict[str, Any]:
    """Run every check on the given devices (None = all), open findings for new problems,
    keep those still true, supersede those whose problem disappeared or changed, and
    never reopen a rejected finding for the same unchanged data (IOT-1).

    Returns a summary: devices checked, problems, opened, kept, superseded, suppressed
    (rejected before), per-check counts of open problems, seconds."""
    started = time.perf_counter()
    radius = duplicate_radius or duplicate_radius_m()
    ids: set[int] | None = None if device_ids is None else {int(i) for i in device_ids}
    if ids is not None and not ids:
        return _summary(0, {}, 0, 0, 0, 0, started)
    if ids is not None:
        ids = _expand(session, ids, radius) if len(ids) <= PARTIAL_LIMIT else None
    rows = _load_rows(session, ids)
    ref = Reference.load(session)
    problems = evaluate(rows, ref, radius)
    opened, kept, superseded, suppressed = _write(session, [r.id for r in rows], problems, full=ids is None)
    return _summary(len(rows), problems, opened, kept, superseded, suppressed, started)


def _summary(n, problems, opened, kept, superseded, suppressed, started) -> dict[str, Any]:
    by_check: dict[str, int] = {}
    for _, check in problems:
        by_check[check] = by_check.get(check, 0) + 1
    return {"devices": n, "problems": len(problems), "opened": opened, "kept": kept, "superseded": superseded,
            "suppressed": suppressed, "by_check": by_check, "seconds": round(time.perf_counter() - started, 3)}


def _write(session: Session, device_ids: list[int], problems: dict[tuple[int, str], Problem],
           full: bool) -> tuple[int, int, int, int]:
    F = MetadataFinding
    open_q = select(F.id, F.device_id, F.check, F.fingerprint, F.severity, F.message, F.proposed).where(
        F.state == "open")
    rej_q = select(F.device_id, F.check, F.fingerprint).where(F.state == "rejected")
    if full:
        open_rows = list(session.execute(open_q))
        rejected = set(session.execute(rej_q))
    else:
        open_rows, rejected = [], set()
        for chunk in _chunks(device_ids):
            open_rows.extend(session.execute(open_q.where(F.device_id.in_(chunk))))
            rejected.update(session.execute(rej_q.where(F.device_id.in_(chunk))))
    kept: set[tuple[int, str]] = set()
    gone: dict[int, str] = {}  # finding id → decision note
    refresh: dict[int, Problem] = {}  # same data, but the message or proposal changed (reference data)
    for fid, device_id, check, fp, severity, message, proposed in open_rows:
        p = problems.get((device_id, check))
        if p is not None and p.fingerprint == fp:
            kept.add((device_id, check))
            if p.message[:512] != message or p.severity != severity or p.proposed != (proposed or {}):
                refresh[fid] = p
            continue
        gone[fid] = "问题已消失（数据已修正）" if p is None else "数据已变化，已按最新数据重新生成"
    now = utcnow()
    touched = sorted(set(gone) | set(refresh))
    for chunk in _chunks(touched):
        for f in session.scalars(select(F).where(F.id.in_(chunk))):
            if f.id in gone:
                f.state, f.decided_at, f.decided_by, f.decision_note = "superseded", now, SUPERSEDED_BY, gone[f.id]
            else:
                p = refresh[f.id]
                f.message, f.severity, f.proposed, f.details = p.message[:512], p.severity, p.proposed, p.details
    session.flush()  # frees the (device, check) slots of the partial unique index
    opened = suppressed = 0
    for key, p in problems.items():
        if key in kept:
            continue
        if (p.device_id, p.check, p.fingerprint) in rejected:
            suppressed += 1
            continue
        session.add(F(device_id=p.device_id, check=p.check, severity=p.severity, message=p.message[:512],
                      fingerprint=p.fingerprint, details=p.details, proposed=p.proposed, state="open",
                      created_at=now))
        opened += 1
    session.flush()
    return opened, len(kept), len(gone), suppressed


def check_devices(session: Session, ids: Iterable[int]) -> dict[str, Any] | None:
    """Re-check some devices after they were created, updated or imported (IOT-1).

    Never fails the caller's write: on PostgreSQL the checks run in a savepoint, so a
    clash with a concurrent run (the one-open-finding index) only loses this re-check;
    the nightly run catches up."""
    ids = [int(i) for i in ids if i is not None]
    if not ids:
        return None
    if session.get_bind().dialect.name != "postgresql":
        return run_checks(session, ids)
    try:
        with savepoint(session):
            return run_checks(session, ids)
    except IntegrityError:
        log.warning("metadata re-check skipped (concurrent run)", extra={"devices": len(ids)})
        return None


# -- nightly job -----------------------------------------------------------------------------

JOB_NAME = "devices.metadata_checks"
NIGHTLY_AT = (2, 30)  # local time (Asia/Shanghai)


def seconds_until(hour: int, minute: int, now: datetime | None = None) -> float:
    now = (now or utcnow()).astimezone(SHANGHAI)
    target = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    return (target - now).total_seconds()


def nightly(db: Database) -> dict[str, Any]:
    from cityops.audit.context import acting_as

    with acting_as("system:metadata-checks"), db.session() as session:
        summary = run_checks(session)
    log.info("device metadata checks", extra={"summary": summary})
    return summary


def register(scheduler: Scheduler) -> None:
    """The daily full run, first at 02:30 Shanghai time (IOT-1)."""
    scheduler.register(JOB_NAME, 24 * 3600, nightly, initial_delay_s=seconds_until(*NIGHTLY_AT))
