"""Approximate street areas and responsibility grids (IOT-1).

No public street-level boundaries exist for Changning, so until an operator imports real
ones the platform partitions the district outline: a Voronoi cell per street around its
approximate point, clipped to the outline; grids are a Voronoi split of each street around
k-means centres. Everything generated here is labelled `approximate` wherever it shows.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Point, mapping, shape
from shapely.geometry.base import BaseGeometry

# Degrees → km around Shanghai's latitude (31.2°N), for area figures only.
KM_PER_DEG_LAT = 110.95
KM_PER_DEG_LON = 94.88


def area_km2(geom: BaseGeometry) -> float:
    return round(geom.area * KM_PER_DEG_LAT * KM_PER_DEG_LON, 3)


def to_geojson(geom: BaseGeometry) -> dict:
    return mapping(geom)


def from_geojson(obj: dict) -> BaseGeometry:
    return shape(obj)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the areal parts of a clip result (drop slivers that became lines/points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def voronoi_cells(points: list[tuple[float, float]], clip: BaseGeometry) -> list[BaseGeometry]:
    """One cell per input point (same order), clipped to `clip`."""
    if len(points) == 1:
        return [clip]
    envelope = clip.envelope.buffer(0.05)
    diagram = shapely.voronoi_polygons(MultiPoint(points), extend_to=envelope)
    cells = list(diagram.geoms)
    out = []
    for x, y in points:
        p = Point(x, y)
        cell = next((c for c in cells if c.covers(p)), None)
        if cell is None:  # only when two points coincide
            raise ValueError(f"no Voronoi cell for point {x},{y}")
        out.append(_polygonal(cell.intersection(clip)))
    return out


def partition_streets(outline: BaseGeometry, points: list[tuple[float, float]]) -> list[BaseGeometry]:
    return voronoi_cells(points, outline)


def allocate(total: int, areas: list[float], minimum: int = 2) -> list[int]:
    """Split `total` grids over streets by area (largest remainder), at least `minimum` each."""
    n = len(areas)
    if total < minimum * n:
        raise ValueError("too few grids for the minimum per street")
    counts = [minimum] * n
    rest = total - minimum * n
    whole = sum(areas) or 1.0
    shares = [rest * a / whole for a in areas]
    for i, s in enumerate(shares):
        counts[i] += int(s)
    left = total - sum(counts)
    order = sorted(range(n), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    for i in order[:left]:
        counts[i] += 1
    return counts


def _sample_inside(geom: BaseGeometry, n: int = 400) -> np.ndarray:
    """A regular lattice of points inside the polygon (deterministic)."""
    minx, miny, maxx, maxy = geom.bounds
    step = max((maxx - minx), (maxy - miny)) / np.sqrt(n * 2)
    xs = np.arange(minx + step / 2, maxx, step)
    ys = np.arange(miny + step / 2, maxy, step)
    gx, gy = np.meshgrid(xs, ys)
    pts = shapely.points(gx.ravel(), gy.ravel())
    inside = shapely.contains(geom, pts)
    coords = np.column_stack([gx.ravel()[inside], gy.ravel()[inside]])
    if len(coords) == 0:
        c = geom.representative_point()
        coords = np.array([[c.x, c.y]])
    return coords


def kmeans_centres(geom: BaseGeometry, k: int, iterations: int = 25) -> list[tuple[float, float]]:
    pts = _sample_inside(geom)
    if len(pts) <= k:
        return [tuple(p) for p in pts]
    # Farthest-point initialisation: deterministic and spread out.
    centres = [pts[0]]
    for _ in range(1, k):
        d = np.min(np.linalg.norm(pts[:, None, :] - np.array(centres)[None, :, :], axis=2), axis=1)
        centres.append(pts[int(np.argmax(d))])
    c = np.array(centres)
    for _ in range(iterations):
        labels = np.argmin(np.linalg.norm(pts[:, None, :] - c[None, :, :], axis=2), axis=1)
        new = np.array([pts[labels == i].mean(axis=0) if np.any(labels == i) else c[i] for i in range(k)])
        if np.allclose(new, c):
            break
        c = new
    # Order west→east, north→south so grid numbers read naturally on a map.
    return sorted(((float(x), float(y)) for x, y in c), key=lambda p: (-round(p[1], 3), p[0]))


def split_street(geom: BaseGeometry, k: int) -> list[BaseGeometry]:
    cells = voronoi_cells(kmeans_centres(geom, k), geom)
    return [c for c in cells if not c.is_empty]
