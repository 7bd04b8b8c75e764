"""Device metadata checks and corrections (IOT-1 设备元数据纠错).

A fleet of a few hundred devices is created through devices.service on the (approximate)
street and grid boundaries of the database: most are clean, some carry a planted error of
every kind. run_checks must find every planted error and nothing on the clean devices;
decisions (accept / reject), supersession, duplicates on partial runs, scores and the
nightly job are checked on top of it. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
import random
import time
from collections import namedtuple
from dataclasses import dataclass, field

import numpy as np
import pytest
import shapely
from sqlalchemy import select

from cityops.audit.context import acting_as
from cityops.audit.models import AuditEntry
from cityops.core.errors import Conflict, Invalid
from cityops.core.jobs import Scheduler
from cityops.devices import checks, gazetteer_seed, quality, service
from cityops.devices.models import Device
from cityops.devices.quality_models import GazetteerEntry, MetadataFinding
from cityops.geo import coords, reference
from cityops.geo.models import Grid, ResponsibleUnit, Street

INSET = 0.0004  # keep test points ~40 m inside their polygons
M_PER_DEG_LON = 111_320 * math.cos(math.radians(31.2))


@dataclass
class Fleet:
    expected: dict[int, set[str]] = field(default_factory=dict)  # device id → planted checks
    ids: dict[str, int] = field(default_factory=dict)  # label → device id
    clean: list[int] = field(default_factory=list)
    info: dict[str, dict] = field(default_factory=dict)  # label → facts for assertions
    offices: dict[str, int] = field(default_factory=dict)

    def expected_pairs(self) -> set[tuple[int, str]]:
        return {(i, c) for i, cs in self.expected.items() for c in cs}


def _exclusive_roads(session) -> dict[str, list[str]]:
    """Per street, gazetteer names that belong to that street only."""
    streets_of: dict[str, set[str]] = {}
    for name, code in session.execute(select(GazetteerEntry.name, GazetteerEntry.street_code)
                                      .where(GazetteerEntry.active.is_(True))):
        streets_of.setdefault(name, set()).add(code)
    out: dict[str, list[str]] = {}
    for name, codes in sorted(streets_of.items()):
        if len(codes) == 1 and name.endswith("路"):
            out.setdefault(next(iter(codes)), []).append(name)
    return out


def build_fleet(session, per_grid: int = 8, seed: int = 11) -> Fleet:
    gazetteer_seed.load(session)
    fleet = Fleet()
    rnd = random.Random(seed)
    products = {p.device_type: p for p in service.list_products(session)}
    types = sorted(products)
    streets = {s.code: s for s in session.scalars(select(Street).order_by(Street.code))}
    sgeom = {c: shapely.from_geojson(s.boundary) for c, s in streets.items()}
    grids = list(session.scalars(select(Grid).order_by(Grid.code)))
    ggeom = {g.code: shapely.from_geojson(g.boundary) for g in grids}
    grids_of: dict[str, list[str]] = {}
    for g in grids:
        grids_of.setdefault(g.street_code, []).append(g.code)
    grid_street = {g.code: g.street_code for g in grids}
    fleet.offices = {u.street_code: u.id for u in session.scalars(
        select(ResponsibleUnit).where(ResponsibleUnit.kind == "street_office"))}
    roads = _exclusive_roads(session)
    assert set(roads) == set(streets), "every street needs a road of its own in the seed gazetteer"
    taken: list[tuple[float, float]] = []
    counter = iter(range(1, 10_000))

    def far_enough(lon, lat, metres=12.0):
        return all(math.hypot((lon - x) * M_PER_DEG_LON, (lat - y) * 111_000) >= metres for x, y in taken)

    def pick(grid: str) -> tuple[float, float]:
        inner = ggeom[grid].buffer(-INSET)
        minx, miny, maxx, maxy = inner.bounds
        for _ in range(10_000):
            lon, lat = round(rnd.uniform(minx, maxx), 6), round(rnd.uniform(miny, maxy), 6)
            if inner.contains(shapely.Point(lon, lat)) and far_enough(lon, lat):
                taken.append((lon, lat))
                return lon, lat
        raise AssertionError(f"no free point in {grid}")

    def address(street: str) -> str:
        return f"长宁区{rnd.choice(roads[street])}{rnd.randint(1, 999)}号"

    def make(label: str | None, device_type: str | None = None, expect: set[str] | None = None, **fields) -> Device:
        n = next(counter)
        device_type = device_type or types[n % len(types)]
        fields.setdefault("name", f"测试设备{n:04d}")
        d = service.create_device(session, product_id=products[device_type].id, external_id=f"qa-{n}", **fields)
        if label:
            fleet.ids[label] = d.id
        if expect:
            fleet.expected[d.id] = set(expect)
        elif label is None:
            fleet.clean.append(d.id)
        return d

    # -- clean devices: points inside their grid, street/grid from the point, matching addresses
    for g in grids:
        for _ in range(per_grid):
            lon, lat = pick(g.code)
            t = types[len(fleet.clean) % len(types)]
            d = make(None, t, lon=lon, lat=lat, address=address(g.street_code), unit_id=fleet.offices[g.street_code],
                     imei=f"86{next(counter):013d}" if t in ("smoke", "manhole") else "")
            assert (d.street_code, d.grid_code) == (g.street_code, g.code)

    codes = sorted(streets)
    S, T = codes[1], codes[9]  # 江苏路街道, 新泾镇: far apart

    # 1. outside the district, also after datum conversion (the Bund)
    make("outside", expect={"outside_district"}, lon=121.4900, lat=31.2400, street_code=S,
         grid_code=grids_of[S][0], address=address(S), unit_id=fleet.offices[S])

    # 2. WGS-84 stored as GCJ-02, raw point outside the district, converted inside
    outline = reference.district_outline()
    found = None
    for g in grids:
        inner = ggeom[g.code].buffer(-INSET)
        minx, miny, maxx, maxy = inner.bounds
        for lon in np.arange(minx, maxx, 0.0007):
            for lat in np.arange(miny, maxy, 0.0007):
                p = shapely.Point(lon, lat)
                w = coords.gcj02_to_wgs84(float(lon), float(lat))
                if inner.contains(p) and not outline.buffer(0.0005).contains(shapely.Point(*w)):
                    found = (g.code, (float(lon), float(lat)), w)
                    break
            if found:
                break
        if found:
            break
    assert found, "no grid near the district edge"
    g, true_pt, wgs = found
    make("datum_outside", expect={"datum"}, lon=wgs[0], lat=wgs[1], street_code=grid_street[g], grid_code=g,
         address=address(grid_street[g]), unit_id=fleet.offices[grid_street[g]])
    fleet.info["datum_outside"] = {"true": true_pt}

    # 3. WGS-84 stored as GCJ-02 near a street boundary: the raw point falls in the neighbour street
    found = None
    for g in grids:
        inner = ggeom[g.code].buffer(-INSET)
        minx, miny, maxx, maxy = inner.bounds
        for lon in np.arange(minx, maxx, 0.0005):
            for lat in np.arange(miny, maxy, 0.0005):
                if not inner.contains(shapely.Point(lon, lat)):
                    continue
                w = coords.gcj02_to_wgs84(float(lon), float(lat))
                other = [c for c, geom in sgeom.items()
                         if c != g.street_code and geom.buffer(-INSET).contains(shapely.Point(*w))]
                if other:
                    found = (g.code, (float(lon), float(lat)), w, other[0])
                    break
            if found:
                break
        if found:
            break
    assert found, "no street boundary for the datum case"
    g, true_pt, wgs, raw_street = found
    make("datum_street", expect={"datum"}, lon=wgs[0], lat=wgs[1], street_code=grid_street[g], grid_code=g,
         address=address(grid_street[g]), unit_id=fleet.offices[grid_street[g]])
    fleet.info["datum_street"] = {"true": true_pt, "raw_street": raw_street}

    # 3b. the same inside one street: the raw point falls in another grid of the recorded street
    found = None
    for g in grids:
        inner = ggeom[g.code].buffer(-INSET)
        minx, miny, maxx, maxy = inner.bounds
        for lon in np.arange(minx, maxx, 0.0005):
            for lat in np.arange(miny, maxy, 0.0005):
                if not inner.contains(shapely.Point(lon, lat)):
                    continue
                w = shapely.Point(*coords.gcj02_to_wgs84(float(lon), float(lat)))
                other = [c for c in grids_of[g.street_code] if c != g.code and ggeom[c].buffer(-INSET).contains(w)]
                if other:
                    found = (g.code, (float(lon), float(lat)), (w.x, w.y))
                    break
            if found:
                break
        if found:
            break
    assert found, "no grid boundary for the datum case"
    g, true_pt, wgs = found
    make("datum_grid", expect={"datum"}, lon=wgs[0], lat=wgs[1], street_code=grid_street[g], grid_code=g,
         address=address(grid_street[g]), unit_id=fleet.offices[grid_street[g]])
    fleet.info["datum_grid"] = {"true": true_pt}

    # 4. point in T, recorded street S (and the converted point is not in S either)
    lon, lat = pick(grids_of[T][0])
    assert not sgeom[S].covers(shapely.Point(*coords.wgs84_to_gcj02(lon, lat)))
    make("point_street", expect={"point_street"}, lon=lon, lat=lat, street_code=S, address=address(S),
         unit_id=fleet.offices[S])
    fleet.info["point_street"] = {"street": T, "grid": grids_of[T][0]}

    # 5a. address names a road of T only; recorded S; no point (planned) → propose T
    make("address_nopoint", expect={"address_street"}, status="planned", street_code=S,
         address=f"长宁区{roads[T][0]}88号", unit_id=fleet.offices[S])
    fleet.info["address_nopoint"] = {"street": T}
    # 5b. address names a road of T, point and street say S → finding without proposal
    lon, lat = pick(grids_of[S][1])
    make("address_conflict", expect={"address_street"}, lon=lon, lat=lat, address=f"长宁区{roads[T][0]}99号",
         unit_id=fleet.offices[S])
    fleet.info["address_conflict"] = {"other_road": roads[T][1] if len(roads[T]) > 1 else roads[T][0]}

    # 6. grid missing
    gm = grids_of[codes[3]][0]
    lon, lat = pick(gm)
    d = make("grid_missing", expect={"grid"}, lon=lon, lat=lat, address=address(codes[3]),
             unit_id=fleet.offices[codes[3]])
    service.update_device(session, d.id, grid_code=None, reason="test: grid lost")
    fleet.info["grid_missing"] = {"grid": gm}
    # 7. grid of another street
    gw = grids_of[codes[4]][0]
    lon, lat = pick(gw)
    make("grid_wrong_street", expect={"grid"}, lon=lon, lat=lat, street_code=codes[4], grid_code=grids_of[codes[5]][0],
         address=address(codes[4]), unit_id=fleet.offices[codes[4]])
    fleet.info["grid_wrong_street"] = {"grid": gw}

    # 8. the same IMEI on two devices far apart: the newer one is reported
    imei = "869999000011111"
    for label, grid, expect in (("imei_a", grids_of[codes[6]][0], None), ("imei_b", grids_of[codes[7]][0],
                                                                           {"duplicate_imei"})):
        lon, lat = pick(grid)
        make(label, "smoke", expect=expect, lon=lon, lat=lat, imei=imei, address=address(grid_street[grid]),
             unit_id=fleet.offices[grid_street[grid]])
    # 9. same type 1 m apart; controls: another type at the same spot, the same type 8 m away
    grid = grids_of[codes[8]][0]
    lon, lat = pick(grid)
    street = grid_street[grid]
    common = dict(address=address(street), unit_id=fleet.offices[street])
    make("near_a", "manhole", lon=lon, lat=lat, **common)
    make("near_b", "manhole", expect={"duplicate_nearby"}, lon=round(lon + 1.0 / M_PER_DEG_LON, 7), lat=lat, **common)
    make("near_other_type", "gas", lon=lon, lat=lat, **common)
    make("near_far", "manhole", lon=round(lon - 8.0 / M_PER_DEG_LON, 7), lat=lat, **common)

    # 10. missing fields of in-service devices
    gmf = grids_of[codes[0]][0]
    lon, lat = pick(gmf)
    make("missing_unit", expect={"missing_fields"}, lon=lon, lat=lat, address="")
    fleet.info["missing_unit"] = {"street": codes[0]}
    gms = grids_of[codes[2]][0]
    lon, lat = pick(gms)
    d = make("missing_street", expect={"missing_fields"}, lon=lon, lat=lat, address=address(codes[2]),
             unit_id=fleet.offices[codes[2]])
    service.update_device(session, d.id, street_code=None, grid_code=None, reason="test: street lost")
    fleet.info["missing_street"] = {"street": codes[2], "grid": gms}
    make("missing_point", expect={"missing_fields"}, street_code=codes[5], address=address(codes[5]),
         unit_id=fleet.offices[codes[5]])

    # controls: a retired device with a bad point, a planned device without a point
    make("retired_bad", status="retired", lon=121.49, lat=31.24, street_code=S, address=address(S),
         unit_id=fleet.offices[S])
    make("planned_nopoint", status="planned", street_code=codes[6], address=address(codes[6]),
         unit_id=fleet.offices[codes[6]])
    session.flush()
    return fleet


@pytest.fixture
def fleet(db) -> Fleet:
    with acting_as("tester"), db.session() as s:
        return build_fleet(s)


def open_pairs(session) -> set[tuple[int, str]]:
    return set(session.execute(select(MetadataFinding.device_id, MetadataFinding.check)
                               .where(MetadataFinding.state == "open")))


def finding_of(session, device_id: int, check: str, state: str = "open") -> MetadataFinding:
    return session.scalars(select(MetadataFinding).where(MetadataFinding.device_id == device_id,
                                                         MetadataFinding.check == check,
                                                         MetadataFinding.state == state)
                           .order_by(MetadataFinding.id.desc())).first()


def test_run_checks_finds_every_planted_error_and_nothing_on_clean_devices(db, fleet):
    """IOT-1: every kind of planted error is found, once, and the ~300 clean devices and the
    controls (retired, planned, other type at the same spot, same type 8 m away) are not."""
    assert len(fleet.clean) >= 250
    with acting_as("tester"), db.session() as s:
        summary = checks.run_checks(s)
        assert summary["opened"] == len(fleet.expected_pairs()) == summary["problems"]
        assert open_pairs(s) == fleet.expected_pairs()
        assert set(summary["by_check"]) == set(checks.CHECKS)  # every check found its planted error
        # a second run changes nothing
        again = checks.run_checks(s)
        assert (again["opened"], again["superseded"], again["kept"]) == (0, 0, len(fleet.expected_pairs()))


def test_proposals_are_derived_where_possible(db, fleet):
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        ids, info, offices = fleet.ids, fleet.info, fleet.offices
        assert finding_of(s, ids["outside"], "outside_district").proposed == {}
        for label in ("datum_outside", "datum_street", "datum_grid"):
            f = finding_of(s, ids[label], "datum")
            assert f.severity == "high" and "WGS-84" in f.message
            assert f.proposed["lon"] == pytest.approx(info[label]["true"][0], abs=1e-6)
            assert f.proposed["lat"] == pytest.approx(info[label]["true"][1], abs=1e-6)
            assert "street_code" not in f.proposed  # the recorded street was right
            assert 400 < f.details["shift_m"] < 600
        assert finding_of(s, ids["datum_street"], "datum").details["located_street"] == info["datum_street"][
            "raw_street"]
        assert finding_of(s, ids["datum_grid"], "datum").details["reason"] == "grid"
        f = finding_of(s, ids["point_street"], "point_street")
        assert f.proposed == {"street_code": info["point_street"]["street"], "grid_code": info["point_street"]["grid"],
                              "unit_id": offices[info["point_street"]["street"]]}
        f = finding_of(s, ids["address_nopoint"], "address_street")
        assert f.proposed == {"street_code": info["address_nopoint"]["street"],
                              "unit_id": offices[info["address_nopoint"]["street"]]}
        f = finding_of(s, ids["address_conflict"], "address_street")
        assert f.proposed == {} and "请核对地址" in f.message
        assert finding_of(s, ids["grid_missing"], "grid").proposed == {"grid_code": info["grid_missing"]["grid"]}
        assert finding_of(s, ids["grid_wrong_street"], "grid").proposed == {
            "grid_code": info["grid_wrong_street"]["grid"]}
        f = finding_of(s, ids["imei_b"], "duplicate_imei")
        assert f.proposed == {"status": "retired"} and f.details["other_device_id"] == ids["imei_a"]
        f = finding_of(s, ids["near_b"], "duplicate_nearby")
        assert f.proposed == {"status": "retired"} and f.details["other_device_id"] == ids["near_a"]
        assert f.details["distance_m"] == pytest.approx(1.0, abs=0.05)
        f = finding_of(s, ids["missing_unit"], "missing_fields")
        assert f.proposed == {"unit_id": offices[info["missing_unit"]["street"]]}
        assert "地址" in f.message and "责任单位" in f.message and f.severity == "medium"
        f = finding_of(s, ids["missing_street"], "missing_fields")
        assert f.proposed == {"street_code": info["missing_street"]["street"],
                              "grid_code": info["missing_street"]["grid"]}
        f = finding_of(s, ids["missing_point"], "missing_fields")
        assert f.proposed == {} and f.severity == "high" and "坐标" in f.message


def test_accept_applies_the_correction_with_a_version_and_audit(db, fleet):
    """IOT-1: accepting writes the change through update_device: a DeviceVersion with source
    "correction" and the finding id in the reason, and audit entries for device and finding."""
    ids = fleet.ids
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        picked = {label: finding_of(s, ids[label], check).id for label, check in
                  (("datum_street", "datum"), ("point_street", "point_street"), ("missing_unit", "missing_fields"),
                   ("near_b", "duplicate_nearby"), ("grid_missing", "grid"))}
    with acting_as("wang"), db.session() as s:
        result = quality.accept(s, list(picked.values()), note="现场核实")
    assert sorted(result["accepted"]) == sorted(picked.values()) and result["skipped"] == []
    with db.session() as s:
        d = s.get(Device, ids["datum_street"])
        assert (d.lon, d.lat) == pytest.approx(fleet.info["datum_street"]["true"], abs=1e-6)
        d = s.get(Device, ids["point_street"])
        assert (d.street_code, d.grid_code) == (fleet.info["point_street"]["street"],
                                                fleet.info["point_street"]["grid"])
        assert s.get(Device, ids["near_b"]).status == "retired"
        for label, fid in picked.items():
            v = service.versions(s, ids[label])[0]
            assert v.source == "correction" and v.actor == "wang"
            assert v.reason.startswith(f"元数据纠错 #{fid}: ") and "现场核实" in v.reason
            f = s.get(MetadataFinding, fid)
            assert (f.state, f.decided_by, f.decision_note) == ("accepted", "wang", "现场核实")
            assert f.decided_at is not None
        audit = s.scalars(select(AuditEntry).where(AuditEntry.entity == "devices",
                                                   AuditEntry.entity_id == str(ids["datum_street"]),
                                                   AuditEntry.action == "update")).all()
        assert any(a.actor == "wang" and "lon" in (a.after or {}) for a in audit)
        assert s.scalars(select(AuditEntry).where(AuditEntry.entity == "metadata_findings",
                                                  AuditEntry.entity_id == str(picked["point_street"]),
                                                  AuditEntry.action == "update")).first() is not None
        # accept re-checks the devices at once: what was corrected is gone, what is left shows
        left = {(d, c) for d, c in open_pairs(s) if d in {ids[label] for label in picked}}
        assert left == {(ids["point_street"], "address_street"), (ids["missing_unit"], "missing_fields")}
        # the address still names a road of the old street; the address is still missing
        assert finding_of(s, ids["point_street"], "address_street").proposed == {}
        assert finding_of(s, ids["missing_unit"], "missing_fields").message == "在用设备缺少必填信息：地址。"
    with acting_as("tester"), db.session() as s:
        assert checks.run_checks(s)["opened"] == 0


def test_findings_without_a_proposal_cannot_be_accepted(db, fleet):
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        outside = finding_of(s, fleet.ids["outside"], "outside_district").id
        datum = finding_of(s, fleet.ids["datum_street"], "datum").id
    with acting_as("wang"), db.session() as s:
        with pytest.raises(Invalid, match=f"#{outside}"):
            quality.accept(s, [datum, outside])
    with db.session() as s:  # nothing of the batch was applied
        assert s.get(MetadataFinding, datum).state == "open"
        assert service.versions(s, fleet.ids["datum_street"])[0].source != "correction"


def test_decided_findings_cannot_be_decided_again(db, fleet):
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        fid = finding_of(s, fleet.ids["outside"], "outside_district").id
        quality.reject(s, [fid], "已核实：设备在区外临时存放")
    with acting_as("tester"), db.session() as s:
        with pytest.raises(Conflict):
            quality.reject(s, [fid])


def test_rejected_findings_are_not_reopened_for_the_same_data(db, fleet):
    """IOT-1: a rejection is remembered by the fingerprint of the checked values; when the
    data change, the check may report again."""
    did = fleet.ids["address_conflict"]
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        f = finding_of(s, did, "address_street")
        quality.reject(s, [f.id], "地址为历史门牌，无误")
    with acting_as("tester"), db.session() as s:
        summary = checks.run_checks(s)
        assert summary["suppressed"] == 1 and summary["opened"] == 0
        assert finding_of(s, did, "address_street") is None
        assert s.get(MetadataFinding, f.id).state == "rejected"
        # same data, partial run: still not reopened
        assert checks.check_devices(s, [did])["opened"] == 0
    with acting_as("tester"), db.session() as s:
        service.update_device(s, did, address=f"长宁区{fleet.info['address_conflict']['other_road']}7号")
        checks.check_devices(s, [did])
        reopened = finding_of(s, did, "address_street")
        assert reopened is not None and reopened.id != f.id


def test_findings_fixed_by_hand_are_superseded(db, fleet):
    did = fleet.ids["grid_missing"]
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        f = finding_of(s, did, "grid")
    with acting_as("li"), db.session() as s:
        service.update_device(s, did, grid_code=fleet.info["grid_missing"]["grid"], reason="补录网格")
        summary = checks.check_devices(s, [did])
        assert summary["superseded"] == 1 and summary["opened"] == 0
    with db.session() as s:
        f = s.get(MetadataFinding, f.id)
        assert f.state == "superseded" and f.decided_by == checks.SUPERSEDED_BY and f.decided_at is not None
        assert service.versions(s, did)[0].source == "manual"


def test_partial_runs_see_duplicate_partners(db, fleet):
    """Re-checking one device also settles the duplicate findings it takes part in."""
    ids = fleet.ids
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        near = finding_of(s, ids["near_b"], "duplicate_nearby").id
        dup = finding_of(s, ids["imei_b"], "duplicate_imei").id
    with acting_as("tester"), db.session() as s:
        a = s.get(Device, ids["near_a"])
        service.update_device(s, a.id, lon=round(a.lon + 40 / M_PER_DEG_LON, 7))  # the older one moved away
        checks.check_devices(s, [a.id])
        assert s.get(MetadataFinding, near).state == "superseded"
        service.update_device(s, ids["imei_a"], imei="869999000022222")
        checks.check_devices(s, [ids["imei_a"]])
        assert s.get(MetadataFinding, dup).state == "superseded"
    with acting_as("tester"), db.session() as s:
        # a new device right next to another one of its type is reported on creation
        b = s.get(Device, ids["near_far"])
        c = service.create_device(s, name="新装井盖", product_id=b.product_id, external_id="qa-new", lon=b.lon,
                                  lat=round(b.lat + 1.5 / 111_000, 7), address=b.address, unit_id=b.unit_id)
        checks.check_devices(s, [c.id])
        assert finding_of(s, c.id, "duplicate_nearby").details["other_device_id"] == b.id


def test_accept_skips_findings_whose_device_changed_since(db, fleet):
    did = fleet.ids["point_street"]
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        fid = finding_of(s, did, "point_street").id
        # the address changes; the point check read only the point, street and grid: still valid
        service.update_device(s, did, address="长宁区某路1号")
        # the point moves (without a re-check): the proposal is stale
        d = s.get(Device, did)
        service.update_device(s, did, lon=d.lon + 0.0001, street_code=d.street_code)
    with acting_as("wang"), db.session() as s:
        result = quality.accept(s, [fid])
        assert result["accepted"] == [] and result["skipped"][0]["id"] == fid
        assert s.get(MetadataFinding, fid).state == "superseded"  # the re-check replaced it
        assert finding_of(s, did, "point_street") is not None


def test_quality_scores_follow_the_documented_formula(db, fleet):
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        scores = quality.quality_scores(s)
        devices = s.execute(select(Device.id, Device.street_code, Device.vendor)
                            .where(Device.status != "retired")).all()
        worst: dict[int, str] = {}
        for device_id, sev in s.execute(select(MetadataFinding.device_id, MetadataFinding.severity)
                                        .where(MetadataFinding.state == "open")):
            if device_id not in worst or ("high", "medium", "low").index(sev) < ("high", "medium", "low").index(
                    worst[device_id]):
                worst[device_id] = sev
        w = quality.SEVERITY_WEIGHTS
        for row in scores["streets"]:
            mine = [d for d in devices if (d.street_code or "") == row["key"]]
            assert row["devices"] == len(mine)
            penalty = sum(w[worst[d.id]] for d in mine if d.id in worst)
            assert row["score"] == pytest.approx(round(100 * (1 - penalty / len(mine)), 1))
            assert row["clean"] == sum(1 for d in mine if d.id not in worst)
        assert len([r for r in scores["streets"] if r["key"]]) == 10
        assert sum(r["devices"] for r in scores["vendors"]) == len(devices) == scores["overall"]["devices"]
        assert 0 < scores["overall"]["score"] < 100 and "penalty" in scores["formula"]
        scoped = quality.quality_scores(s, scope="310105001")
        assert [r["key"] for r in scoped["streets"]] == ["310105001"]
        assert scoped["overall"]["devices"] == sum(1 for d in devices if d.street_code == "310105001")


def test_gazetteer_edits_change_the_address_check(db, fleet):
    did = fleet.ids["address_conflict"]
    with acting_as("tester"), db.session() as s:
        checks.run_checks(s)
        d = s.get(Device, did)
        name = next(n for n, _ in checks.gazetteer(s).match(d.address) if n.endswith("路"))
        # the operator learns the road also runs through the device's street
        quality.add_gazetteer(s, name=name, street_codes=[d.street_code], note="东段")
        # both devices whose address names that road with this street recorded are settled
        assert checks.run_checks(s)["superseded"] == 2
        assert finding_of(s, did, "address_street") is None
        assert finding_of(s, fleet.ids["address_nopoint"], "address_street") is None
        with pytest.raises(Conflict):
            quality.add_gazetteer(s, name=name, street_codes=[d.street_code])
        entry = s.scalars(select(GazetteerEntry).where(GazetteerEntry.name == name,
                                                       GazetteerEntry.street_code == d.street_code)).one()
        quality.deactivate_gazetteer(s, entry.id)
        assert checks.run_checks(s)["opened"] == 2
        # the seed loader never reactivates or duplicates
        assert gazetteer_seed.load(s) == {"gazetteer": 0}


def test_gazetteer_matching_prefers_the_longest_name():
    gz = checks.Gazetteer([("安西路", "A"), ("延安西路", "B"), ("延安西路", "C"), ("长宁路", "D")],
                          {"S": "华阳路街道"})
    assert [n for n, _ in gz.match("长宁区延安西路 1000 号")] == ["延安西路"]
    assert [n for n, _ in gz.match("安西路12号（近长宁路）")] == ["安西路", "长宁路"]
    assert gz.match("华阳路街道某小区")[0] == ("华阳路街道", frozenset({"S"}))
    assert gz.match("ＦＵＬＬ宽度　长宁路") == (("长宁路", frozenset({"D"})),)  # NFKC, spaces


def test_nightly_job_is_registered_and_runs(db, fleet):
    scheduler = Scheduler(db)
    checks.register(scheduler)
    job = scheduler.jobs[checks.JOB_NAME]
    assert job.interval_s == 24 * 3600 and 0 < job.initial_delay_s <= 24 * 3600
    assert scheduler.run_once(checks.JOB_NAME) == "ok"
    with db.session() as s:
        assert open_pairs(s) == fleet.expected_pairs()
        actors = set(s.scalars(select(AuditEntry.actor).where(AuditEntry.entity == "metadata_findings")))
        assert actors == {"system:metadata-checks"}


def test_evaluating_100k_devices_is_fast(db):
    """IOT-1 at district scale: 100k devices (street, grid and address consistent with the
    point) are evaluated in seconds, without touching the database per device."""
    if db.is_postgres:
        pytest.skip("pure in-memory evaluation; once is enough")
    with acting_as("tester"), db.session() as s:
        gazetteer_seed.load(s)
        s.flush()
        ref = checks.Reference.load(s)
        roads = _exclusive_roads(s)
    rng = np.random.default_rng(3)
    n = 220_000
    x, y = 121.33 + rng.random(n) * 0.11, 31.177 + rng.random(n) * 0.067
    pts = shapely.points(x, y)
    st, gr = ref.shapes.street_at(pts), ref.shapes.grid_at(pts)
    keep = np.nonzero((st != None) & (gr != None))[0][:100_000]  # noqa: E711
    assert len(keep) == 100_000
    Row = namedtuple("Row", [c.key for c in checks.COLUMNS])
    types = sorted(checks.DEVICE_TYPES)
    rows = [Row(i + 1, f"P{i}", f"设备{i}", types[i % len(types)], "厂商", "", f"{roads[st[k]][i % len(roads[st[k]])]}{i}号",
                float(x[k]), float(y[k]), st[k], gr[k], 1, "active") for i, k in enumerate(keep)]
    started = time.perf_counter()
    problems = checks.evaluate(rows, ref, 3.0)
    elapsed = time.perf_counter() - started
    assert elapsed < 30, f"evaluating 100k devices took {elapsed:.1f} s"
    kinds = {c for _, c in problems}
    assert kinds <= {"duplicate_nearby"}  # only chance neighbours of the same type within 3 m
    assert len(problems) < 1000
