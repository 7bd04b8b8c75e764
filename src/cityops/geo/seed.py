"""Idempotent load of the district, its 10 streets, 35 approximate grids and the
responsible units (IOT-1). Existing rows are never overwritten."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.geo import partition, reference
from cityops.geo.models import District, Grid, ResponsibleUnit, Street


def load(session: Session) -> dict[str, int]:
    added = {"streets": 0, "grids": 0, "units": 0}
    data = reference.streets_file()
    outline = reference.district_outline()
    d = data["district"]
    if session.get(District, d["code"]) is None:
        session.add(District(code=d["code"], name=d["name"], outline=json.dumps(partition.to_geojson(outline))))
        session.flush()
    specs = data["streets"]
    if session.scalar(select(func.count(Street.code))) == 0:
        cells = partition.partition_streets(outline, [tuple(s["approx_point"]) for s in specs])
        for spec, cell in zip(specs, cells, strict=True):
            session.add(Street(code=spec["code"], name=spec["name"], kind=spec["kind"], district_code=d["code"],
                               approx_lon=spec["approx_point"][0], approx_lat=spec["approx_point"][1],
                               boundary=json.dumps(partition.to_geojson(cell)), area_km2=partition.area_km2(cell)))
            added["streets"] += 1
        session.flush()
    if session.scalar(select(func.count(Grid.code))) == 0:
        added["grids"] = generate_grids(session)
    added["units"] = _load_units(session)
    return added


def generate_grids(session: Session, total: int = reference.TOTAL_GRIDS) -> int:
    """Approximate grids for every street, allocated by area (only when no grid exists)."""
    streets = list(session.scalars(select(Street).order_by(Street.code)))
    geoms = [partition.from_geojson(json.loads(s.boundary)) for s in streets]
    counts = partition.allocate(total, [g.area for g in geoms])
    n = 0
    for street, geom, k in zip(streets, geoms, counts, strict=True):
        n += replace_approximate_grids(session, street, geom, k)
    return n


def replace_approximate_grids(session: Session, street: Street, geom, k: int) -> int:
    for old in session.scalars(select(Grid).where(Grid.street_code == street.code)):
        session.delete(old)
    session.flush()
    cells = partition.split_street(geom, k)
    for i, cell in enumerate(cells, start=1):
        session.add(Grid(code=f"{street.code}-{i:02d}", name=f"{street.name}第{i}网格", street_code=street.code,
                         seq=i, boundary=json.dumps(partition.to_geojson(cell)), area_km2=partition.area_km2(cell)))
    session.flush()
    return len(cells)


def _load_units(session: Session) -> int:
    have = set(session.scalars(select(ResponsibleUnit.code)))
    n = 0
    for street in session.scalars(select(Street).order_by(Street.code)):
        code = f"ST-{street.code}"
        if code not in have:
            session.add(ResponsibleUnit(code=code, name=reference.street_office_name(street.name, street.kind),
                                        kind="street_office", street_code=street.code))
            n += 1
    for code, name in reference.DEPARTMENTS:
        if code not in have:
            session.add(ResponsibleUnit(code=code, name=name, kind="department"))
            n += 1
    session.flush()
    return n
