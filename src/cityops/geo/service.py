"""Streets, grids, responsible units and point lookup (IOT-1).

`scope` arguments carry the caller's street (street-role users); None = whole district.
Rows outside the scope behave as if they did not exist.
"""

from __future__ import annotations

import json
from typing import Any

from shapely.geometry import shape
from shapely.validation import make_valid
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.geo import lookup, partition, reference
from cityops.geo.models import APPROXIMATE, IMPORTED, District, Grid, ResponsibleUnit, Street
from cityops.geo.seed import replace_approximate_grids

UNIT_KINDS = ("street_office", "department", "enterprise")


def _in_scope(street_code: str | None, scope: str | None) -> bool:
    return scope is None or street_code == scope


def get_district(session: Session) -> District:
    d = session.scalar(select(District))
    if d is None:
        raise NotFound(f"行政区 {reference.streets_file()['district']['code']} 不存在")
    return d


def list_streets(session: Session, *, scope: str | None = None) -> list[Street]:
    q = select(Street).order_by(Street.code)
    if scope:
        q = q.where(Street.code == scope)
    return list(session.scalars(q))


def get_street(session: Session, code: str, *, scope: str | None = None) -> Street:
    street = session.get(Street, code)
    if street is None or not _in_scope(code, scope):
        raise NotFound(f"街镇 {code} 不存在")
    return street


def list_grids(session: Session, *, street: str | None = None, scope: str | None = None) -> list[Grid]:
    q = select(Grid).order_by(Grid.code)
    if scope:
        q = q.where(Grid.street_code == scope)
    if street:
        q = q.where(Grid.street_code == street)
    return list(session.scalars(q))


def get_grid(session: Session, code: str, *, scope: str | None = None) -> Grid:
    grid = session.get(Grid, code)
    if grid is None or not _in_scope(grid.street_code, scope):
        raise NotFound(f"网格 {code} 不存在")
    return grid


def feature_collection(rows: list[Street] | list[Grid], kind: str) -> dict[str, Any]:
    """GeoJSON for maps; every feature says whether its boundary is approximate."""
    features = []
    for r in rows:
        props = {"code": r.code, "name": r.name, "kind": kind, "area_km2": r.area_km2,
                 "boundary_source": r.boundary_source, "approximate": r.boundary_source == APPROXIMATE}
        if isinstance(r, Grid):
            props["street_code"] = r.street_code
        else:
            props["approx_point"] = [r.approx_lon, r.approx_lat]
        features.append({"type": "Feature", "id": r.code, "properties": props, "geometry": json.loads(r.boundary)})
    return {"type": "FeatureCollection", "features": features}


def locate(session: Session, lon: float, lat: float) -> lookup.Location:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise Invalid("经度须在 ±180 以内，纬度须在 ±90 以内")
    return lookup.index_for(session).locate(lon, lat)


# -- GeoJSON import ------------------------------------------------------------------

def _features(doc: Any) -> list[dict]:
    if not isinstance(doc, dict):
        raise Invalid("GeoJSON 须为对象")
    if doc.get("type") == "Feature":
        return [doc]
    if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise Invalid("GeoJSON 须为 Feature 或 FeatureCollection")
    if not doc["features"]:
        raise Invalid("FeatureCollection 中没有要素（features）")
    return doc["features"]


def _area_geometry(feature: dict, label: str):
    try:
        geom = shape(feature.get("geometry") or {})
    except Exception as exc:
        raise Invalid(f"{label}：无法读取几何图形（{exc}）") from exc
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise Invalid(f"{label}：几何类型须为 Polygon 或 MultiPolygon，而不是 {geom.geom_type}")
    if not geom.is_valid:
        geom = make_valid(geom)
        geom = partition._polygonal(geom)
    if geom.is_empty:
        raise Invalid(f"{label}：几何图形为空")
    minx, miny, maxx, maxy = geom.bounds
    if not (73 <= minx and maxx <= 136 and 3 <= miny and maxy <= 54):
        raise Invalid(f"{label}：坐标不是中国境内的经纬度（应为 GCJ-02 坐标）")
    outline = reference.district_outline()
    if geom.intersection(outline).area < 0.5 * geom.area:
        raise Invalid(f"{label}：位于长宁区内的面积不足一半")
    return geom


def _prop(props: dict, *names: str) -> str | None:
    for n in names:
        v = props.get(n)
        if v not in (None, ""):
            return str(v).strip()
    return None


def import_streets(session: Session, doc: Any) -> dict[str, Any]:
    """Replace street boundaries with real ones. Features match a street by `code`
    (also `adcode`, `street_code`) or by `name`. Approximate grids of a changed street are
    regenerated inside its new boundary; imported grids are kept."""
    streets = {s.code: s for s in session.scalars(select(Street))}
    by_name = {s.name: s for s in streets.values()}
    updated = []
    for i, f in enumerate(_features(doc), start=1):
        props = f.get("properties") or {}
        code = _prop(props, "code", "street_code", "adcode")
        name = _prop(props, "name", "street_name")
        street = streets.get(code or "") or by_name.get(name or "")
        if street is None:
            raise Invalid(f"第 {i} 个要素：没有与 code={code!r} name={name!r} 匹配的街镇")
        geom = _area_geometry(f, f"第 {i} 个要素（{street.name}）")
        street.boundary = json.dumps(partition.to_geojson(geom))
        street.boundary_source = IMPORTED
        street.boundary_updated_at = utcnow()
        street.area_km2 = partition.area_km2(geom)
        updated.append(street.code)
        grids = list_grids(session, street=street.code)
        if not grids or all(g.boundary_source == APPROXIMATE for g in grids):
            replace_approximate_grids(session, street, geom, max(len(grids), 2))
    session.flush()
    lookup.invalidate(session)
    return {"updated": updated, "count": len(updated)}


def import_grids(session: Session, doc: Any) -> dict[str, Any]:
    """Load real grids. Each feature needs `code` and `name`; its street comes from
    `street_code` or from where the grid's interior point lies. Imported grids of a street
    replace that street's approximate ones."""
    features = _features(doc)
    idx = lookup.index_for(session)
    parsed = []
    seen: set[str] = set()
    for i, f in enumerate(features, start=1):
        props = f.get("properties") or {}
        code = _prop(props, "code", "grid_code")
        name = _prop(props, "name", "grid_name")
        if not code or not name:
            raise Invalid(f"第 {i} 个要素：网格须有属性 code 和 name")
        if code in seen:
            raise Invalid(f"第 {i} 个要素：网格编码 {code!r} 出现了两次")
        seen.add(code)
        geom = _area_geometry(f, f"第 {i} 个要素（{code}）")
        street_code = _prop(props, "street_code")
        if street_code is None:
            p = geom.representative_point()
            street_code = idx.locate(p.x, p.y).street_code
        if street_code is None or session.get(Street, street_code) is None:
            raise Invalid(f"第 {i} 个要素（{code}）：无法判断其所属街镇")
        parsed.append((code, name, street_code, geom))
    for street_code in {p[2] for p in parsed}:
        for g in session.scalars(select(Grid).where(Grid.street_code == street_code,
                                                    Grid.boundary_source == APPROXIMATE)):
            session.delete(g)
    session.flush()
    for n, (code, name, street_code, geom) in enumerate(parsed, start=1):
        grid = session.get(Grid, code)
        if grid is None:
            grid = Grid(code=code, seq=n, street_code=street_code, name=name, boundary="")
            session.add(grid)
        grid.name, grid.street_code = name, street_code
        grid.boundary = json.dumps(partition.to_geojson(geom))
        grid.boundary_source = IMPORTED
        grid.area_km2 = partition.area_km2(geom)
    session.flush()
    lookup.invalidate(session)
    return {"imported": [p[0] for p in parsed], "count": len(parsed)}


# -- responsible units -----------------------------------------------------------------

def list_units(session: Session, *, scope: str | None = None, kind: str | None = None,
               street: str | None = None) -> list[ResponsibleUnit]:
    q = select(ResponsibleUnit).order_by(ResponsibleUnit.kind.desc(), ResponsibleUnit.code)
    if scope:  # a street sees its own office and the district departments
        q = q.where(or_(ResponsibleUnit.street_code == scope, ResponsibleUnit.street_code.is_(None)))
    if kind:
        q = q.where(ResponsibleUnit.kind == kind)
    if street:
        q = q.where(ResponsibleUnit.street_code == street)
    return list(session.scalars(q))


def get_unit(session: Session, unit_id: int, *, scope: str | None = None) -> ResponsibleUnit:
    unit = session.get(ResponsibleUnit, unit_id)
    if unit is None or (scope and unit.street_code not in (None, scope)):
        raise NotFound(f"责任单位 {unit_id} 不存在")
    return unit


def _check_unit(session: Session, kind: str | None, street_code: str | None) -> None:
    if kind is not None and kind not in UNIT_KINDS:
        raise Invalid(f"未知的单位类型 {kind!r}；可选类型：{'、'.join(UNIT_KINDS)}")
    if street_code and session.get(Street, street_code) is None:
        raise Invalid(f"未知的街镇编码 {street_code!r}")


def create_unit(session: Session, **fields: Any) -> ResponsibleUnit:
    _check_unit(session, fields.get("kind"), fields.get("street_code"))
    if session.scalar(select(ResponsibleUnit.id).where(ResponsibleUnit.code == fields["code"])):
        raise Conflict(f"单位编码 {fields['code']!r} 已存在")
    unit = ResponsibleUnit(**fields)
    session.add(unit)
    session.flush()
    return unit


def update_unit(session: Session, unit_id: int, **fields: Any) -> ResponsibleUnit:
    unit = get_unit(session, unit_id)
    _check_unit(session, fields.get("kind"), fields.get("street_code"))
    for k, v in fields.items():
        setattr(unit, k, v)
    session.flush()
    return unit
