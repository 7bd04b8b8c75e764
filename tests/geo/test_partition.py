"""Approximate street partition and grids (IOT-1): pure geometry, no database."""

import shapely

from cityops.geo import partition, reference


def _streets():
    specs = reference.streets_file()["streets"]
    outline = reference.district_outline()
    return specs, outline, partition.partition_streets(outline, [tuple(s["approx_point"]) for s in specs])


def test_ten_streets_tile_the_district():
    specs, outline, cells = _streets()
    assert len(cells) == 10
    union = shapely.union_all(cells)
    assert abs(union.area - outline.area) / outline.area < 1e-6, "cells cover the outline"
    overlap = sum(c.area for c in cells) - union.area
    assert overlap < 1e-9, "cells do not overlap"


def test_each_cell_holds_its_own_reference_point():
    specs, _, cells = _streets()
    for spec, cell in zip(specs, cells):
        assert cell.covers(shapely.Point(*spec["approx_point"])), spec["name"]


def test_district_area_is_close_to_official_figure():
    # Changning's official land area is about 38.3 km².
    assert 35 < partition.area_km2(reference.district_outline()) < 41


def test_allocation_gives_35_grids_with_at_least_two_each():
    counts = partition.allocate(35, [1, 1, 2, 2, 3, 3, 4, 7, 3, 9])
    assert sum(counts) == 35 and min(counts) >= 2
    assert counts[-1] == max(counts)


def test_split_street_tiles_the_street_deterministically():
    _, _, cells = _streets()
    street = cells[7]
    parts = partition.split_street(street, 4)
    again = partition.split_street(street, 4)
    assert len(parts) == 4
    assert all(a.equals(b) for a, b in zip(parts, again))
    assert abs(shapely.union_all(parts).area - street.area) / street.area < 1e-6
