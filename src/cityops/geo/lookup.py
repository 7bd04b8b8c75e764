"""Point → street/grid lookup on prepared geometries in an STR-tree (IOT-1).

Built from the database once per process and rebuilt when boundaries change (checked
at most every few seconds), so a lookup is pure in-memory geometry.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.geo.models import APPROXIMATE, Grid, Street


@dataclass(frozen=True)
class Location:
    street_code: str | None
    street_name: str | None
    grid_code: str | None
    grid_name: str | None
    approximate: bool  # True when the answering boundary is the generated partition


class GeoIndex:
    def __init__(self, streets: list[tuple[str, str, str, str]], grids: list[tuple[str, str, str, str]]):
        """Each row: (code, name, GeoJSON geometry text, boundary_source)."""
        self.streets = streets
        self.grids = grids
        self._sgeoms = [shapely.from_geojson(r[2]) for r in streets]
        self._ggeoms = [shapely.from_geojson(r[2]) for r in grids]
        for g in self._sgeoms + self._ggeoms:
            shapely.prepare(g)
        self._stree = shapely.STRtree(self._sgeoms)
        self._gtree = shapely.STRtree(self._ggeoms) if self._ggeoms else None

    def _hit(self, tree, geoms, point) -> int | None:
        if tree is None:
            return None
        for i in tree.query(point):
            if geoms[i].covers(point):
                return int(i)
        return None

    def locate(self, lon: float, lat: float) -> Location:
        point = shapely.Point(lon, lat)
        si = self._hit(self._stree, self._sgeoms, point)
        gi = self._hit(self._gtree, self._ggeoms, point)
        s = self.streets[si] if si is not None else None
        g = self.grids[gi] if gi is not None else None
        approx = any(r is not None and r[3] == APPROXIMATE for r in (s, g))
        return Location(s[0] if s else None, s[1] if s else None, g[0] if g else None, g[1] if g else None, approx)

    def locate_many(self, lons: np.ndarray, lats: np.ndarray) -> list[str | None]:
        """Street codes for many points at once (bulk checks such as IOT-1 metadata audits)."""
        points = shapely.points(lons, lats)
        pidx, sidx = self._stree.query(points, predicate="within")
        out: list[str | None] = [None] * len(points)
        for p, s in zip(pidx, sidx, strict=True):
            if out[p] is None:
                out[p] = self.streets[s][0]
        return out


def _version(session: Session) -> tuple:
    s = session.execute(select(func.count(Street.code), func.max(Street.boundary_updated_at))).one()
    g = session.execute(select(func.count(Grid.code), func.sum(Grid.area_km2))).one()
    return tuple(s) + tuple(g)


def build(session: Session) -> GeoIndex:
    streets = session.execute(select(Street.code, Street.name, Street.boundary, Street.boundary_source)
                              .order_by(Street.code)).all()
    grids = session.execute(select(Grid.code, Grid.name, Grid.boundary, Grid.boundary_source)
                            .order_by(Grid.code)).all()
    return GeoIndex([tuple(r) for r in streets], [tuple(r) for r in grids])


class IndexCache:
    """The process's index for one database, rebuilt when the boundary version changes."""

    def __init__(self, check_every_s: float = 5.0):
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._index: GeoIndex | None = None
        self._version: tuple | None = None
        self._checked = 0.0

    def get(self, session: Session) -> GeoIndex:
        now = time.monotonic()
        with self._lock:
            if self._index is not None and now - self._checked < self.check_every_s:
                return self._index
            version = _version(session)
            if self._index is None or version != self._version:
                self._index, self._version = build(session), version
            self._checked = now
            return self._index

    def invalidate(self) -> None:
        with self._lock:
            self._index = None


_caches: dict[str, IndexCache] = {}


def index_for(session: Session) -> GeoIndex:
    url = str(session.get_bind().url)
    cache = _caches.setdefault(url, IndexCache())
    return cache.get(session)


def invalidate(session: Session) -> None:
    cache = _caches.get(str(session.get_bind().url))
    if cache:
        cache.invalidate()
