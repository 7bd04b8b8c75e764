"""Device registry: products, devices, versions, topology, tags (IOT-1..IOT-4)."""

import pytest
from sqlalchemy import select

from cityops.audit.context import acting_as
from cityops.audit.models import AuditEntry
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.devices import service
from cityops.devices.models import DeviceVersion

HUAYANG = (121.420, 31.222)


def _product(s, code="SMOKE-NB-CTW"):
    return service.product_by_code(s, code)


def test_reference_products_cover_changning_device_types(db):
    with db.session() as s:
        types = {p.device_type for p in service.list_products(s)}
    assert {"smoke", "manhole", "water_level", "gas", "electrical_fire", "hydrant", "garbage_bin", "noise",
            "traffic_counter", "civil_defence", "camera"} <= types


def test_create_places_device_by_its_point_and_versions_it(db):
    with acting_as("zhang"), db.session() as s:
        d = service.create_device(s, name="华阳路100号烟感", product_id=_product(s).id, external_id="ctw-1",
                                  lon=HUAYANG[0], lat=HUAYANG[1], imei="861234567890123")
        assert d.code.startswith("CN-IOT-") and d.platform == "ctwing" and d.device_type == "smoke"
        assert d.street_code == "310105001" and d.grid_code.startswith("310105001-")
        did = d.id
    with acting_as("li"), db.session() as s:
        service.update_device(s, did, address="长宁路100号", reason="现场核实地址")
    with db.session() as s:
        vs = service.versions(s, did)
        assert [v.version for v in vs] == [2, 1]
        assert vs[0].actor == "li" and vs[0].reason == "现场核实地址"
        assert vs[0].changes == {"address": ["", "长宁路100号"]}
        assert vs[1].actor == "zhang" and vs[1].source == "manual"
        audit = s.scalars(select(AuditEntry).where(AuditEntry.entity == "devices")).all()
        assert any(e.action == "update" and e.after.get("address") == "长宁路100号" for e in audit)


def test_moving_a_device_updates_street_and_grid(db):
    with db.session() as s:
        d = service.create_device(s, name="井盖", product_id=_product(s, "MANHOLE-NB-CTW").id, external_id="mh-1",
                                  lon=HUAYANG[0], lat=HUAYANG[1])
        service.update_device(s, d.id, lon=121.352, lat=31.215, reason="迁移")
        assert d.street_code == "310105102" and d.grid_code.startswith("310105102-")


def test_validation(db):
    with db.session() as s:
        pid = _product(s).id
        service.create_device(s, name="a", product_id=pid, external_id="dup")
        with pytest.raises(Conflict):
            service.create_device(s, name="b", product_id=pid, external_id="dup")
        bad = [dict(imei="123"), dict(lon=121.4), dict(lon=500.0, lat=31.0), dict(status="lost"),
               dict(street_code="999"), dict(unit_id=99999), dict(report_interval_s=1)]
        for i, fields in enumerate(bad):
            with pytest.raises(Invalid):
                service.create_device(s, name="x", product_id=pid, external_id=f"bad-{i}", **fields)
        with pytest.raises(NotFound):
            service.get_device(s, 999999)


def test_topology_refuses_cycles(db):
    with db.session() as s:
        nvr = service.create_device(s, name="NVR", product_id=_product(s, "NVR-HIK").id, external_id="10.0.0.1:0")
        cam = service.create_device(s, name="cam", product_id=_product(s, "CAMERA-HIK").id, external_id="10.0.0.1:1",
                                    parent_id=nvr.id)
        assert [c.id for c in service.children(s, nvr.id)] == [cam.id]
        with pytest.raises(Invalid):
            service.update_device(s, nvr.id, parent_id=cam.id)
        with pytest.raises(Invalid):
            service.update_device(s, nvr.id, parent_id=nvr.id)


def test_street_scope_hides_other_streets_devices(db):
    with db.session() as s:
        d = service.create_device(s, name="x", product_id=_product(s).id, external_id="s1", lon=HUAYANG[0],
                                  lat=HUAYANG[1])
        assert service.get_device(s, d.id, scope="310105001").id == d.id
        with pytest.raises(NotFound):
            service.get_device(s, d.id, scope="310105004")
        rows, total = service.list_devices(s, scope="310105004")
        assert total == 0


def test_bulk_tagging_by_filter_versions_each_device(db):
    """IOT-3: tags drive filters and statistics; bulk tagging records a version per device."""
    with db.session() as s:
        pid = _product(s).id
        for i in range(5):
            service.create_device(s, name=f"烟感{i}", product_id=pid, external_id=f"t{i}", lon=HUAYANG[0],
                                  lat=HUAYANG[1])
        service.create_device(s, name="远处", product_id=pid, external_id="far", lon=121.352, lat=31.215)
        fire = next(t for t in service.list_tags(s, category="scenario") if t.name == "消防")
        assert service.tag_devices(s, fire.id, street="310105001") == 5
        assert service.tag_devices(s, fire.id, street="310105001") == 0  # idempotent
        rows, total = service.list_devices(s, tag_ids=[fire.id])
        assert total == 5
        assert service.counts_by(s, "street_code", tag_ids=[fire.id]) == {"310105001": 5}
        with pytest.raises(Invalid):
            service.tag_devices(s, fire.id)  # no filter: refuse to tag everything
        assert service.tag_devices(s, fire.id, remove=True, device_ids=[rows[0].id]) == 1
        n = s.scalar(select(DeviceVersion).where(DeviceVersion.device_id == rows[0].id,
                                                 DeviceVersion.source == "tagging").limit(1))
        assert n is not None


def test_product_upgrade_bumps_version(db):
    """IOT-4: a model's definition changes (new fields) → product version goes up."""
    with db.session() as s:
        p = _product(s)
        v = p.version
        props = p.properties + [{"identifier": "co_ppm", "name": "一氧化碳", "unit": "ppm"}]
        service.update_product(s, p.id, properties=props)
        assert p.version == v + 1
        service.update_product(s, p.id, properties=props)
        assert p.version == v + 1  # unchanged definition, same version
