"""The simulated Changning fleet (IOT-2): deterministic plan, realistic shares and places,
vendor-style identities, idempotent registration on SQLite and PostgreSQL."""

import re
from collections import Counter

import pytest
import shapely
from sqlalchemy import func, select

from cityops.devices import checks
from cityops.devices.models import Device, DeviceVersion
from cityops.geo import reference
from cityops.ingest.models import Connection
from cityops.sim.fleet import (CONNECTION_NAMES, LONGZHIMENG, HTTP_PLATFORMS, luhn_digit, luhn_ok, metres,
                               plan_fleet, register_fleet, street_areas)

STREETS = {s["code"] for s in reference.streets_file()["streets"]}


@pytest.fixture(scope="module")
def fleet():
    return plan_fleet(2024)


def test_same_seed_same_fleet_other_seed_other_fleet(fleet):
    assert plan_fleet(2024) == fleet
    other = plan_fleet(2025)
    assert other != fleet
    assert {d.external_id for d in other}.isdisjoint({d.external_id for d in fleet if d.platform == "ctwing"})


def test_luhn():
    assert luhn_digit("49015420323751") == "8"  # the classic IMEI example 490154203237518
    assert luhn_ok("490154203237518") and not luhn_ok("490154203237519")


def test_shares_of_a_real_deployment(fleet):
    assert len(fleet) == 3000
    by_type = Counter(d.device_type for d in fleet)
    assert by_type["smoke"] > 1000 and by_type["manhole"] > 500
    assert by_type["smoke"] > by_type["manhole"] > by_type["garbage_bin"] > by_type["hydrant"]
    for few in ("hydrant", "gas", "electrical_fire", "water_level"):
        assert 60 <= by_type[few] <= 200, few
    assert 140 <= by_type["camera"] <= 160 and 8 <= by_type["nvr"] <= 12
    assert by_type["traffic_counter"] >= 2 * by_type["gateway"] >= 30
    assert 40 <= by_type["civil_defence"] <= 120 and by_type["noise"] >= 30
    assert set(by_type) == {"smoke", "manhole", "water_level", "gas", "electrical_fire", "hydrant", "garbage_bin",
                            "noise", "traffic_counter", "civil_defence", "camera", "gateway", "nvr"}
    assert set(Counter(d.platform for d in fleet)) == set(CONNECTION_NAMES)
    unreg = sum(not d.registered for d in fleet)
    bad = sum(d.malformed for d in fleet)
    assert unreg == 30 and bad == 15 and not any(d.malformed and not d.registered for d in fleet)
    assert {d.platform for d in fleet if not d.registered} == set(HTTP_PLATFORMS)


def test_topology(fleet):
    by_key = {d.key: d for d in fleet}
    cameras = [d for d in fleet if d.device_type == "camera"]
    assert all(by_key[c.parent_key].device_type == "nvr" for c in cameras)
    per_nvr = Counter(c.parent_key for c in cameras)
    assert len(per_nvr) == sum(d.device_type == "nvr" for d in fleet) and max(per_nvr.values()) <= 16
    for c in cameras:  # an NVR reports its channels as "{its ip}:{channel}"
        assert c.external_id == f"{by_key[c.parent_key].external_id}:{c.wire['channel']}"
    counters = [d for d in fleet if d.device_type == "traffic_counter"]
    assert all(by_key[c.parent_key].device_type == "gateway" for c in counters)
    assert all(d.parent_key is None for d in fleet if d.device_type not in ("camera", "traffic_counter"))


def test_places_cover_every_street_inside_its_polygon(fleet):
    by_street = Counter(d.street_code for d in fleet)
    assert set(by_street) == STREETS
    assert min(by_street.values()) >= 100
    assert set(Counter(d.street_code for d in fleet if d.device_type == "smoke")) == STREETS
    geoms = {s.code: s.geom for s in street_areas()}
    outline = reference.district_outline()
    for d in fleet:
        assert shapely.contains_xy(geoms[d.street_code], d.lon, d.lat), d
        assert shapely.contains_xy(outline, d.lon, d.lat)
    minx, miny, maxx, maxy = outline.bounds
    assert 121.2 < minx < maxx < 121.5 and 31.1 < miny < maxy < 31.3  # GCJ-02 lon/lat of Changning, not swapped


def test_names_and_addresses_use_the_streets_roads(fleet):
    roads = {s.code: s.roads + s.areas for s in street_areas()}
    for d in fleet:
        assert d.name and len(d.name) <= 128 and d.address
        assert any(r in d.address for r in roads[d.street_code]) or "龙之梦" in d.address, d
    homes = [d.address for d in fleet if d.device_type == "smoke"]
    assert all(re.fullmatch(r".+?(\d+弄)?\d+号\d0\d室", a) for a in homes)
    assert sum("弄" in a for a in homes) > len(homes) / 2


def test_vendor_style_identities(fleet):
    patterns = {
        "ctwing": r"[0-9a-f]{32}",
        "onenet": r"\d{9}",
        "iotda": r"64f1a2b3c4d5(e6|f7)_[0-9A-Z]+",
        "aliyun": r"a1(BinSensor|NoiseMeter)/[A-Z0-9]+",
        "hikvision": r"10\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d{1,2})?",
        "onenet_studio": r"MF\d{8}",
        "mqtt_json": r"(tc-[0-9a-f]{6}-[ensw]|eg200-[0-9a-f]{6})",
    }
    for d in fleet:
        assert re.fullmatch(patterns[d.platform], d.external_id), d
    assert len({(d.platform, d.external_id) for d in fleet}) == len(fleet)
    iotda = [d for d in fleet if d.platform == "iotda"]
    assert all(d.external_id == f"{d.wire['product_id']}_{d.wire['node_id']}" for d in iotda)
    assert all(d.external_id == f"{d.wire['product_key']}/{d.wire['device_name']}" for d in fleet
               if d.platform == "aliyun")


def test_nb_iot_devices_have_valid_unique_imeis(fleet):
    nb = [d for d in fleet if d.device_type in ("smoke", "manhole", "water_level", "gas", "hydrant")]
    assert all(re.fullmatch(r"\d{15}", d.imei) and luhn_ok(d.imei) for d in nb)
    assert all(len(d.iccid) == 20 and d.iccid.startswith("8986") and luhn_ok(d.iccid) for d in nb)
    imeis = [d.imei for d in fleet if d.imei]
    assert len(imeis) == len(set(imeis)) == len(nb)
    assert not any(d.imei for d in fleet if d.device_type in ("camera", "nvr", "traffic_counter", "noise"))


def test_scenario_tags(fleet):
    want = {"water_level": "防汛", "smoke": "消防", "hydrant": "消防", "electrical_fire": "消防", "gas": "燃气安全",
            "civil_defence": "民防", "garbage_bin": "市容", "traffic_counter": "交通"}
    for d in fleet:
        if d.device_type in want:
            assert want[d.device_type] in d.tags
        near = metres(d.lon, d.lat, *LONGZHIMENG) <= 500
        assert ("龙之梦" in d.tags) == near
    noise_near = [d for d in fleet if d.device_type == "noise" and "龙之梦" in d.tags]
    assert len(noise_near) >= 10


def test_small_fleet_still_has_every_platform():
    small = plan_fleet(7, 60)
    assert len(small) == 60
    registered_ok = {d.platform for d in small if d.registered and not d.malformed}
    assert registered_ok == set(CONNECTION_NAMES)
    assert sum(not d.registered for d in small) == 1 and sum(d.malformed for d in small) == 1
    with pytest.raises(ValueError):
        plan_fleet(7, 5)


def test_registration_is_idempotent(db):
    fleet = plan_fleet(99, 300)
    first = register_fleet(db, fleet)
    registered = [d for d in fleet if d.registered]
    assert first.created == len(registered) and first.existing == 0 and first.unregistered == 3
    assert set(first.connections) == set(CONNECTION_NAMES)
    assert first.connections["ctwing"].push_path.startswith(f"/ingest/{first.connections['ctwing'].id}?token=")
    assert "?token=" not in first.connections["onenet"].push_path and first.connections["onenet"].settings["token"]
    assert len(first.connections["onenet_studio"].settings["aes_key"]) == 16
    assert first.connections["ctwing"].settings["decoders"] == {"15012345": "smoke-v1", "15023456": "manhole-v1"}

    again = register_fleet(db, fleet)
    assert again.created == 0 and again.existing == len(registered)
    assert again.device_ids == first.device_ids
    assert {k: c.id for k, c in again.connections.items()} == {k: c.id for k, c in first.connections.items()}
    assert again.connections["onenet"].settings["token"] == first.connections["onenet"].settings["token"]

    by_key = {d.key: d for d in fleet}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == len(registered)
        assert s.scalar(select(func.count()).select_from(DeviceVersion)) == len(registered)
        names = set(s.scalars(select(Connection.name)))
        assert names >= set(CONNECTION_NAMES.values())
        devices = {d.extra["sim_key"]: d for d in s.scalars(select(Device))}
        for key, dev in devices.items():
            plan = by_key[key]
            assert (dev.platform, dev.external_id, dev.imei) == (plan.platform, plan.external_id, plan.imei)
            assert dev.street_code == plan.street_code and dev.grid_code and dev.unit_id
            assert dev.code.startswith("CN-IOT-") and dev.version == 1 and dev.status == "active"
            assert sorted(t.name for t in dev.tags) == sorted(plan.tags)
            if plan.parent_key:
                assert dev.parent_id == first.device_ids[plan.parent_key]
        v = s.scalars(select(DeviceVersion).limit(1)).one()
        assert v.actor == "system:sim" and v.changes["external_id"][0] is None and v.snapshot["code"]
        # the fleet's metadata is clean: nothing for the IOT-1 checks to correct
        summary = checks.run_checks(s)
        assert summary["problems"] == 0, summary["by_check"]
