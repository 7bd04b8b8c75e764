"""Shared helpers for the city-event tests (IOT-6)."""

from __future__ import annotations

from sqlalchemy import select

from cityops.geo.models import Street
from cityops.geo.service import locate


def street_point(session, index: int = 0) -> tuple[str, float, float]:
    """A street code and a point inside it (its approximate centre, checked by lookup)."""
    streets = list(session.scalars(select(Street).order_by(Street.code)))
    for s in streets[index:] + streets[:index]:
        loc = locate(session, s.approx_lon, s.approx_lat)
        if loc.street_code == s.code:
            return s.code, s.approx_lon, s.approx_lat
    raise AssertionError("no street whose approximate point lies inside it")


def offset_m(lon: float, lat: float, east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    import math

    return lon + east_m / (111_320 * math.cos(math.radians(lat))), lat + north_m / 111_320
