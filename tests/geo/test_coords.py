"""WGS-84 ↔ GCJ-02 conversion used to spot coordinates in the wrong datum (IOT-1)."""

import numpy as np
import pytest

from cityops.geo.coords import distance_m, gcj02_to_wgs84, local_metres, out_of_china, wgs84_to_gcj02


def test_forward_matches_the_published_reference_vector():
    # The widely used coordtransform/eviltransform reference: Tiananmen, WGS-84 → GCJ-02.
    lon, lat = wgs84_to_gcj02(116.404, 39.915)
    assert lon == pytest.approx(116.41024449916938, abs=1e-12)
    assert lat == pytest.approx(39.91640428150164, abs=1e-12)


def test_offset_in_changning_is_about_500_m_east_south():
    w = (121.40, 31.21)
    g = wgs84_to_gcj02(*w)
    assert 400 < distance_m(*w, *g) < 600
    assert g[0] > w[0] and g[1] < w[1]  # GCJ-02 lies east and a little south of WGS-84 here


@pytest.mark.parametrize("lon,lat", [(121.4222, 31.2181), (121.3318, 31.1778), (121.4395, 31.2440),
                                     (116.404, 39.915), (113.26, 23.13), (87.6, 43.8)])
def test_inverse_round_trips_below_1e_7_degrees(lon, lat):
    w = gcj02_to_wgs84(lon, lat)
    back = wgs84_to_gcj02(*w)
    assert abs(back[0] - lon) < 1e-7 and abs(back[1] - lat) < 1e-7


def test_iteration_beats_the_one_step_approximation():
    # coordtransform's gcj02towgs84(116.404, 39.915) = (116.39775550083061, 39.91359571849836)
    # is a single step; its round trip is off by more than 1e-7°, the iteration's is not.
    one_step = (116.39775550083061, 39.91359571849836)
    assert max(abs(a - b) for a, b in zip(wgs84_to_gcj02(*one_step), (116.404, 39.915))) > 1e-7
    w = gcj02_to_wgs84(116.404, 39.915)
    assert max(abs(a - b) for a, b in zip(wgs84_to_gcj02(*w), (116.404, 39.915))) < 1e-9


def test_vectorised_matches_scalar():
    rng = np.random.default_rng(5)
    lons, lats = 121.33 + rng.random(500) * 0.11, 31.17 + rng.random(500) * 0.08
    gx, gy = wgs84_to_gcj02(lons, lats)
    for i in (0, 17, 499):
        assert (gx[i], gy[i]) == pytest.approx(wgs84_to_gcj02(float(lons[i]), float(lats[i])), abs=1e-12)
    wx, wy = gcj02_to_wgs84(gx, gy)
    assert np.max(np.abs(wx - lons)) < 1e-7 and np.max(np.abs(wy - lats)) < 1e-7


def test_outside_china_is_unchanged():
    assert out_of_china(2.35, 48.85) and not out_of_china(121.4, 31.2)
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(-74.0, 40.7) == (-74.0, 40.7)
    gx, gy = wgs84_to_gcj02(np.array([2.35, 121.4]), np.array([48.85, 31.2]))
    assert gx[0] == 2.35 and gx[1] != 121.4


def test_distances():
    # 0.001° of latitude is about 111 m anywhere
    assert distance_m(121.4, 31.2, 121.4, 31.201) == pytest.approx(111.2, abs=0.5)
    x, y = local_metres([121.4, 121.401], [31.2, 31.2])
    assert float(x[1] - x[0]) == pytest.approx(distance_m(121.4, 31.2, 121.401, 31.2), rel=1e-3)
