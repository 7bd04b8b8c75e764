"""WGS-84 ↔ GCJ-02 coordinate conversion (IOT-1).

Devices are stored in GCJ-02 (the datum of every map service in mainland China). GPS
receivers and many vendor platforms report WGS-84, which in Shanghai lands about 500 m
away (mostly west-north-west of the GCJ-02 position); the metadata checks use this module
to spot a device whose coordinates were recorded in the wrong datum.

The forward transform is the standard public GCJ-02 offset formula (Krasovsky 1940
ellipsoid, the widely used "eviltransform"/coordtransform constants); reference value:
wgs84_to_gcj02(116.404, 39.915) == (116.41024449916938, 39.91640428150164). There is no
closed-form inverse, so gcj02_to_wgs84 iterates the forward transform until the
round trip is within 1e-9° (well under the 1e-7° promised).

Every function works on plain floats and on NumPy arrays (vectorised for bulk checks).
Points outside China are returned unchanged, as GCJ-02 defines.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

A = 6378245.0  # Krasovsky 1940 semi-major axis (m)
EE = 0.00669342162296594323  # its first eccentricity squared
EARTH_RADIUS_M = 6371008.8  # mean radius, for distances
INVERSE_TOLERANCE_DEG = 1e-9
INVERSE_MAX_ITERATIONS = 30

Num = TypeVar("Num", float, np.ndarray)


def out_of_china(lon, lat):
    """True where GCJ-02 does not apply (a coarse rectangle, as the standard code uses)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    out = (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)
    return bool(out) if out.ndim == 0 else out


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point (degrees)."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (A / sqrtmagic * np.cos(radlat) * math.pi)
    return dlon, dlat


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def wgs84_to_gcj02(lon, lat):
    """WGS-84 (GPS) → GCJ-02. Floats in, floats out; arrays in, arrays out."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _offset(x, y)
    outside = out_of_china(x, y)
    gx = np.where(outside, x, x + dlon)
    gy = np.where(outside, y, y + dlat)
    return _out(gx, gy, scalar)


def gcj02_to_wgs84(lon, lat, *, tolerance: float = INVERSE_TOLERANCE_DEG):
    """GCJ-02 → WGS-84 by fixed-point iteration: w ← w − (gcj(w) − target), until the
    forward transform of the answer matches the input within `tolerance` degrees."""
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    tx, ty = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    tx, ty = np.broadcast_arrays(tx, ty)
    wx, wy = tx.copy(), ty.copy()
    for _ in range(INVERSE_MAX_ITERATIONS):
        gx, gy = wgs84_to_gcj02(wx, wy)
        ex, ey = np.asarray(gx) - tx, np.asarray(gy) - ty
        wx, wy = wx - ex, wy - ey
        if np.all(np.abs(ex) < tolerance) and np.all(np.abs(ey) < tolerance):
            break
    outside = out_of_china(tx, ty)
    wx = np.where(outside, tx, wx)
    wy = np.where(outside, ty, wy)
    return _out(wx, wy, scalar)


def distance_m(lon1, lat1, lon2, lat2):
    """Great-circle (haversine) distance in metres; floats or arrays."""
    scalar = all(np.ndim(v) == 0 for v in (lon1, lat1, lon2, lat2))
    p1, p2 = np.radians(np.asarray(lat1, dtype=float)), np.radians(np.asarray(lat2, dtype=float))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    return float(d) if scalar else d


def local_metres(lon, lat, origin_lat: float = 31.2):
    """Equirectangular projection to metres around `origin_lat` (good to ~0.1 % across a
    district): for neighbour searches where metres matter and degrees do not."""
    k = math.cos(math.radians(origin_lat))
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return np.radians(lon) * EARTH_RADIUS_M * k, np.radians(lat) * EARTH_RADIUS_M
