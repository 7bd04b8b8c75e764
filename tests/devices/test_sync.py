"""Upstream device sync (IOT-4 设备升级维护), service level, against the carrier simulator
served over real HTTP (uvicorn on a free port): pull → diff → change set → apply / reject /
roll back, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cityops.audit.context import acting_as
from cityops.audit.models import AuditEntry
from cityops.core.errors import Conflict
from cityops.devices import service, sync
from cityops.devices.models import Device, DeviceVersion
from cityops.devices.quality_models import MetadataFinding
from cityops.devices.seed import PRODUCTS
from cityops.devices.sync_models import ChangeItem, ChangeSet
from cityops.ingest import service as ingest
from cityops.ingest.models import PendingDevice
from cityops.sim.carrier_api import SETTINGS_FOR_SYNC, CarrierPlatform, free_port, serve

TOKEN = "carrier-secret-token"
SMOKE_KEY, MANHOLE_KEY = "15012345", "15023456"  # the seeded CTWing models' productIds
HUAYANG = (121.4201, 31.2221)
JIANGSU = (121.4302, 31.2213)


def seeded_points(code: str) -> list[tuple[str, str]]:
    spec = next(p for p in PRODUCTS if p["code"] == code)
    return [(x["identifier"], x["name"]) for x in spec["properties"]]


@pytest.fixture
def carrier():
    """A CTWing-like platform whose models match the seeded ones, served in a thread."""
    p = CarrierPlatform(token=TOKEN)
    p.add_product(SMOKE_KEY, "NB烟感", model="HM-608PH-NB", properties=seeded_points("SMOKE-NB-CTW"))
    p.add_product(MANHOLE_KEY, "NB井盖", model="TPS-JG200", properties=seeded_points("MANHOLE-NB-CTW"))
    with serve(p) as url:
        p.url = url
        yield p


def settings_for(url: str, **extra) -> dict:
    return {"base_url": url, "token": TOKEN, **SETTINGS_FOR_SYNC, "retries": 2, "backoff_s": 0.01,
            "timeout_s": 3, **extra}


@pytest.fixture
def conn_id(db, carrier):
    with acting_as("admin1"), db.session() as s:
        conn = ingest.create_connection(s, kind="ctwing", name="电信AEP-长宁")
        sync.configure_source(s, conn.id, settings=settings_for(carrier.url))
        return conn.id


def plan(db, conn_id, **kw):
    with acting_as("admin1"), db.session() as s:
        cs = sync.plan_sync(s, conn_id, **kw)
        return None if cs is None else cs.id


def apply(db, cs_id, actor="admin1"):
    with acting_as(actor), db.session() as s:
        return sync.apply(s, cs_id, actor).summary


def items(db, cs_id) -> list[ChangeItem]:
    with db.session() as s:
        return sync.change_items(s, cs_id)


def change_set(db, cs_id) -> ChangeSet:
    with db.session() as s:
        return sync.get_change_set(s, cs_id)


def device(db, external_id) -> Device | None:
    with db.session() as s:
        return service.find_device(s, "ctwing", external_id)


def two_smoke_detectors(carrier):
    carrier.add_device("ctw-0001", product_id=SMOKE_KEY, name="华阳路101弄烟感", imei="861234567890001",
                       address="华阳路101弄", longitude=HUAYANG[0], latitude=HUAYANG[1], floor="3F")
    carrier.add_device("ctw-0002", product_id=SMOKE_KEY, name="愚园路800号烟感", imei="861234567890002",
                       address="愚园路800号", longitude=JIANGSU[0], latitude=JIANGSU[1], floor="1F")


def synced(db, carrier, conn_id) -> int:
    two_smoke_detectors(carrier)
    cs_id = plan(db, conn_id)
    assert apply(db, cs_id)["errors"] == 0
    return cs_id


def test_new_upstream_devices_are_created_with_a_sync_version(db, carrier, conn_id):
    """IOT-4: a device that appears upstream → create item → applied → registered, placed on
    the map, with a version whose source is "sync" and whose reason names the change set."""
    two_smoke_detectors(carrier)
    cs_id = plan(db, conn_id)
    cs = change_set(db, cs_id)
    assert cs.state == "proposed" and cs.trigger == "manual" and cs.created_by == "admin1"
    assert cs.summary["create"] == 2 and cs.summary["upstream_devices"] == 2 and cs.summary["retire"] == 0
    created = items(db, cs_id)
    assert [i.action for i in created] == ["create", "create"]
    assert created[0].after["name"] == "华阳路101弄烟感" and created[0].after["extra"] == {"floor": "3F"}
    assert device(db, "ctw-0001") is None, "nothing changes before the set is applied"

    summary = apply(db, cs_id)
    assert summary["applied"] == 2 and summary["errors"] == 0
    d = device(db, "ctw-0001")
    assert d.name == "华阳路101弄烟感" and d.imei == "861234567890001" and d.status == "active"
    assert d.street_code == "310105001" and d.extra == {"floor": "3F"}
    with db.session() as s:
        assert d.connection_id == conn_id and service.get_product(s, d.product_id).code == "SMOKE-NB-CTW"
        (v,) = service.versions(s, d.id)
        assert v.source == "sync" and v.reason == f"同步变更集 #{cs_id}" and v.actor == "admin1"
    assert change_set(db, cs_id).state == "applied" and all(i.applied for i in items(db, cs_id))
    with db.session() as s:  # IOT-1: the metadata checks ran on the synced devices (no responsible unit yet)
        found = s.scalars(select(MetadataFinding.check).where(MetadataFinding.device_id == d.id)).all()
        assert "missing_fields" in found
    assert plan(db, conn_id) is None, "a second pull finds nothing new"


def test_upstream_metadata_changes_and_a_renamed_field(db, carrier, conn_id):
    """A field the vendor renamed (same value, new key) is recorded as a rename; changed
    metadata comes with before/after; runtime fields (lastOnlineTime) are not metadata."""
    synced(db, carrier, conn_id)
    carrier.rename_field("floor", "installFloor")
    carrier.update_device("ctw-0002", address="愚园路802号", deviceName="愚园路802号烟感", lastOnlineTime=1)
    cs_id = plan(db, conn_id)
    cs = change_set(db, cs_id)
    assert cs.summary["update"] == 2 and cs.summary["renamed_fields"] == 2
    first, second = items(db, cs_id)
    assert first.details["renamed"] == [{"from": "extra.floor", "to": "extra.installFloor", "value": "3F"}]
    assert first.before == {"extra": {"floor": "3F"}} and first.after == {"extra": {"installFloor": "3F"}}
    assert second.before["address"] == "愚园路800号" and second.after["address"] == "愚园路802号"
    assert second.after["name"] == "愚园路802号烟感"
    apply(db, cs_id)
    assert device(db, "ctw-0001").extra == {"installFloor": "3F"}
    assert device(db, "ctw-0002").address == "愚园路802号"


def test_a_property_added_to_a_model_bumps_the_product_version(db, carrier, conn_id):
    """A model gains a point upstream and renames another: product_update item → applied →
    the product's version goes up; our units and normal ranges of the kept points stay."""
    with db.session() as s:
        before = service.product_by_code(s, "SMOKE-NB-CTW")
        version, battery = before.version, next(p for p in before.properties if p["identifier"] == "battery")
    carrier.add_property(SMOKE_KEY, "co_ppm", "一氧化碳浓度", data_type="int", unit="ppm")
    carrier.rename_property(SMOKE_KEY, "rsrp", "signal_rsrp")
    cs_id = plan(db, conn_id)
    (item,) = items(db, cs_id)
    assert item.action == "product_update" and item.product_key == SMOKE_KEY
    assert item.details["added"] == [{"identifier": "co_ppm", "name": "一氧化碳浓度"}]
    assert item.details["renamed"] == [{"from": "rsrp", "to": "signal_rsrp", "name": "信号强度"}]
    assert change_set(db, cs_id).summary["renamed_fields"] == 1
    apply(db, cs_id)
    with db.session() as s:
        p = service.product_by_code(s, "SMOKE-NB-CTW")
        assert p.version == version + 1
        props = {x["identifier"]: x for x in p.properties}
        assert props["co_ppm"]["type"] == "number" and props["co_ppm"]["unit"] == "ppm"
        assert props["battery"] == battery and "rsrp" not in props
        assert props["signal_rsrp"]["unit"] == "dBm" and props["signal_rsrp"]["min"] == -115


def test_a_new_model_is_proposed_before_its_devices(db, carrier, conn_id):
    """A device of a model the registry does not know: new_product item (device type guessed
    from the name, shown to the reviewer) then the create item; applying makes both."""
    carrier.add_product("15099999", "NB可燃气体探测器", model="GT-X1", properties=[("gas_lel", "可燃气体浓度")])
    carrier.add_device("ctw-gas-1", product_id="15099999", name="长宁路燃气监测", longitude=HUAYANG[0],
                       latitude=HUAYANG[1])
    cs_id = plan(db, conn_id)
    new_product, create = items(db, cs_id)
    assert new_product.action == "new_product" and create.action == "create"
    assert new_product.after["device_type"] == "gas" and new_product.details["device_type_source"] == "guessed"
    assert new_product.after["properties"][0]["identifier"] == "gas_lel"
    assert apply(db, cs_id)["errors"] == 0
    d = device(db, "ctw-gas-1")
    with db.session() as s:
        p = service.get_product(s, d.product_id)
        assert p.vendor_product_key == "15099999" and p.platform == "ctwing" and p.model_no == "GT-X1"
        assert d.device_type == "gas"


def test_a_model_of_unknown_type_blocks_until_configured(db, carrier, conn_id):
    """No device type can be told from the name: the items are blocked, applying fails them
    (nothing changes); once product_types names the type, applying a new pull works."""
    carrier.add_product("15077777", "XY-200", model="XY-200")
    carrier.add_device("ctw-x-1", product_id="15077777", name="某设备")
    cs_id = plan(db, conn_id)
    cs = change_set(db, cs_id)
    assert cs.summary["blocked"] == 1
    summary = apply(db, cs_id)
    assert summary == {**summary, "applied": 0, "errors": 2}
    assert change_set(db, cs_id).state == "failed" and device(db, "ctw-x-1") is None
    assert "product_types" in items(db, cs_id)[0].error
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, settings=settings_for(carrier.url, product_types={"15077777": "noise"}))
    cs_id = plan(db, conn_id)
    assert apply(db, cs_id)["errors"] == 0 and device(db, "ctw-x-1").device_type == "noise"


def test_a_device_removed_upstream_is_retired_after_review_only(db, carrier, conn_id):
    """auto_apply applies a set with new devices at once, but a set that retires waits for a
    person; applying retires (status → retired), never deletes."""
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, auto_apply=True)
    two_smoke_detectors(carrier)
    first = plan(db, conn_id)
    assert change_set(db, first).state == "applied" and device(db, "ctw-0002") is not None
    carrier.remove_device("ctw-0002")
    cs_id = plan(db, conn_id)
    cs = change_set(db, cs_id)
    assert cs.state == "proposed" and cs.summary["retire"] == 1 and "含设备退役" in cs.note
    (item,) = items(db, cs_id)
    assert item.action == "retire" and item.before == {"status": "active"} and item.after == {"status": "retired"}
    assert device(db, "ctw-0002").status == "active"
    apply(db, cs_id)
    d = device(db, "ctw-0002")
    assert d is not None and d.status == "retired"
    assert plan(db, conn_id) is None, "a retired device missing upstream is not retired again"


def test_rollback_restores_metadata_and_keeps_the_history(db, carrier, conn_id):
    """Rollback restores every applied item's before-values (street included) through
    update_device (source "sync-rollback"): the versions of the change and of its undoing
    stay; devices the set created are retired, not deleted."""
    synced(db, carrier, conn_id)
    carrier.update_device("ctw-0001", deviceName="华阳路101弄3楼烟感", longitude=JIANGSU[0], latitude=JIANGSU[1])
    carrier.add_device("ctw-0003", product_id=MANHOLE_KEY, name="天山路井盖", longitude=121.398, latitude=31.213)
    cs_id = plan(db, conn_id)
    apply(db, cs_id)
    moved = device(db, "ctw-0001")
    assert moved.name == "华阳路101弄3楼烟感" and moved.street_code == "310105002"
    with acting_as("manager1"), db.session() as s:
        cs = sync.rollback(s, cs_id, "manager1", note="上游数据有误")
        assert cs.state == "rolled_back" and cs.rolled_back_by == "manager1"
    d = device(db, "ctw-0001")
    assert (d.name, d.lon, d.lat, d.street_code) == ("华阳路101弄烟感", HUAYANG[0], HUAYANG[1], "310105001")
    with db.session() as s:
        vs = service.versions(s, d.id)
        assert [(v.version, v.source) for v in vs] == [(3, "sync-rollback"), (2, "sync"), (1, "sync")]
        assert vs[0].reason == f"回滚同步变更集 #{cs_id}" and vs[0].actor == "manager1"
    created = device(db, "ctw-0003")
    assert created is not None and created.status == "retired"
    with pytest.raises(Conflict):
        with db.session() as s:
            sync.rollback(s, cs_id)
    # The upstream still differs: the next pull proposes it again, reactivation included, for review only.
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, auto_apply=True)
    again = plan(db, conn_id, trigger="schedule")
    assert change_set(db, again).state == "proposed" and change_set(db, again).summary["reactivate"] == 1
    assert "含已退役设备的恢复" in change_set(db, again).note


def test_rollback_refuses_to_overwrite_a_later_edit_unless_forced(db, carrier, conn_id):
    synced(db, carrier, conn_id)
    carrier.update_device("ctw-0001", address="华阳路103弄")
    cs_id = plan(db, conn_id)
    apply(db, cs_id)
    d = device(db, "ctw-0001")
    with acting_as("tech"), db.session() as s:
        service.update_device(s, d.id, address="华阳路103弄2号", reason="现场核实")
    with pytest.raises(Conflict, match="address"):
        with db.session() as s:
            sync.rollback(s, cs_id)
    assert change_set(db, cs_id).state == "applied"
    with db.session() as s:
        sync.rollback(s, cs_id, force=True)
    assert device(db, "ctw-0001").address == "华阳路101弄"
    assert plan(db, conn_id, trigger="schedule") is None, "rolled-back changes are not proposed again on schedule"
    assert change_set(db, plan(db, conn_id)).state == "proposed", "a manual pull shows them again"


def test_apply_twice_is_refused_and_so_are_other_wrong_transitions(db, carrier, conn_id):
    two_smoke_detectors(carrier)
    cs_id = plan(db, conn_id)
    apply(db, cs_id)
    with db.session() as s:
        with pytest.raises(Conflict, match="applied"):
            sync.apply(s, cs_id)
        with pytest.raises(Conflict):
            sync.reject(s, cs_id)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DeviceVersion)) == 2, "applied once only"
    carrier.update_device("ctw-0001", address="变了")
    other = plan(db, conn_id)
    with db.session() as s:
        sync.reject(s, other, "admin1", note="不采纳")
    with db.session() as s:
        with pytest.raises(Conflict, match="rejected"):
            sync.apply(s, other)
        with pytest.raises(Conflict):
            sync.rollback(s, other)
    assert plan(db, conn_id, trigger="schedule") is None, "a rejected change is not proposed again on schedule"


def test_an_item_changed_since_the_pull_fails_alone(db, carrier, conn_id):
    """Between pull and apply someone edits a device: that item fails with a reason, the
    others are applied."""
    synced(db, carrier, conn_id)
    carrier.update_device("ctw-0001", address="华阳路105弄")
    carrier.update_device("ctw-0002", address="愚园路805号")
    cs_id = plan(db, conn_id)
    with db.session() as s:
        service.update_device(s, device(db, "ctw-0001").id, address="手工改过")
    summary = apply(db, cs_id)
    assert summary["applied"] == 1 and summary["errors"] == 1
    first, second = items(db, cs_id)
    assert not first.applied and "address" in first.error and second.applied
    assert device(db, "ctw-0001").address == "手工改过" and device(db, "ctw-0002").address == "愚园路805号"


def test_upstream_down_or_refusing_gives_a_failed_set_and_no_changes(db, carrier, conn_id):
    two_smoke_detectors(carrier)
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, settings=settings_for(f"http://127.0.0.1:{free_port()}", retries=1))
    cs_id = plan(db, conn_id)
    cs = change_set(db, cs_id)
    assert cs.state == "failed" and "无法连接" in cs.error and "尝试 2 次" in cs.error
    assert items(db, cs_id) == [] and device(db, "ctw-0001") is None
    with db.session() as s:
        source = sync.get_source(s, conn_id)
        assert source.failures == 1 and source.last_outcome == "failed" and "无法连接" in source.last_error
    # on schedule the same failure is counted, not written down again every minute
    assert plan(db, conn_id, trigger="schedule") == cs_id
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, settings=settings_for(carrier.url, token="wrong-token"))
    cs = change_set(db, plan(db, conn_id))
    assert cs.state == "failed" and "拒绝了访问凭据（HTTP 401）" in cs.error
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == 0


def test_retries_with_backoff_then_succeeds_and_timeouts_are_clear(db, carrier, conn_id):
    two_smoke_detectors(carrier)
    carrier.fail_next = 2  # two 503s, then answers
    cs_id = plan(db, conn_id)
    assert change_set(db, cs_id).state == "proposed"
    assert sum(1 for r in carrier.requests if r.startswith("GET /devices")) == 3
    carrier.fail_next = 10
    failed = change_set(db, plan(db, conn_id))
    assert failed.state == "failed" and "HTTP 503" in failed.error
    carrier.fail_next = 0
    carrier.delay_s = 0.5
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, settings=settings_for(carrier.url, timeout_s=0.1, retries=0))
    slow = change_set(db, plan(db, conn_id))
    assert slow.state == "failed" and "0.1 秒内无应答" in slow.error


def test_paging_reads_every_page_and_mapping_errors_are_clear(db, carrier, conn_id):
    for n in range(5):
        carrier.add_device(f"ctw-p{n}", product_id=MANHOLE_KEY, name=f"井盖{n}")
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, settings=settings_for(carrier.url, page_size=2))
    cs_id = plan(db, conn_id)
    assert change_set(db, cs_id).summary["create"] == 5
    assert {r for r in carrier.requests if r.startswith("GET /devices")} == {
        "GET /devices?page=1&size=2", "GET /devices?page=2&size=2", "GET /devices?page=3&size=2"}
    mapping = {**SETTINGS_FOR_SYNC["mapping"], "external_id": "devId"}
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, settings=settings_for(carrier.url, mapping=mapping))
    cs = change_set(db, plan(db, conn_id))
    assert cs.state == "failed" and "没有 'devId' 字段（映射 external_id）" in cs.error


def test_identical_pulls_make_one_set_and_a_newer_pull_supersedes(db, carrier, conn_id):
    two_smoke_detectors(carrier)
    first = plan(db, conn_id)
    assert plan(db, conn_id) == first
    carrier.add_device("ctw-0009", product_id=SMOKE_KEY, name="新烟感")
    second = plan(db, conn_id)
    assert second != first
    assert change_set(db, first).state == "superseded" and change_set(db, second).summary["create"] == 3
    with db.session() as s:
        with pytest.raises(Conflict, match="superseded"):
            sync.apply(s, first)


def test_status_moves_only_the_way_the_upstream_can_know(db, carrier, conn_id):
    """status_map turns the vendor's words into our lifecycle; a device listed as deleted is
    retired (a retire item); a device under maintenance here is not made active by the vendor."""
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, settings=settings_for(carrier.url, status_map={"DELETED": "retired",
                                                                                          "ONLINE": "active"}))
    synced(db, carrier, conn_id)
    with db.session() as s:
        service.update_device(s, device(db, "ctw-0002").id, status="maintenance", reason="维修")
    carrier.update_device("ctw-0001", deviceStatus="DELETED")
    carrier.update_device("ctw-0002", deviceStatus="ONLINE")
    cs_id = plan(db, conn_id)
    (item,) = items(db, cs_id)
    assert item.action == "retire" and item.external_id == "ctw-0001" and "DELETED" in item.details["reason"]


def test_the_scheduled_job_pulls_due_sources_and_records_failures(db, carrier, conn_id):
    from cityops.core.jobs import Scheduler

    scheduler = Scheduler(db)
    sync.register(scheduler)
    assert scheduler.jobs["devices.upstream_sync"].interval_s == 60
    two_smoke_detectors(carrier)
    with acting_as("admin1"), db.session() as s:
        sync.configure_source(s, conn_id, interval_s=3600, auto_apply=True)
        other = ingest.create_connection(s, kind="onenet", name="OneNET", settings={"token": "x"})
        sync.configure_source(s, other.id, settings=settings_for(f"http://127.0.0.1:{free_port()}", retries=0))
        disabled = ingest.create_connection(s, kind="aliyun", name="阿里云")
        sync.configure_source(s, disabled.id, settings=settings_for(carrier.url), enabled=False)
    assert scheduler.run_once("devices.upstream_sync") == "ok"
    with db.session() as s:
        assert device(db, "ctw-0001").status == "active", "auto-applied"
        cs = s.scalars(select(ChangeSet).where(ChangeSet.connection_id == conn_id)).one()
        assert cs.trigger == "schedule" and cs.created_by == "system:sync" and cs.decided_by == "system:sync"
        (v,) = service.versions(s, device(db, "ctw-0001").id)
        assert v.actor == "system:sync" and v.source == "sync"
        assert sync.get_source(s, other.id).last_outcome == "failed"
        assert sync.find_source(s, disabled.id).last_run_at is None
        assert sync.due_sources(s) == [], "nothing is due again before its interval"


def test_sources_keep_their_token_and_reject_unknown_settings(db, carrier, conn_id):
    from cityops.core.errors import Invalid

    with acting_as("admin1"), db.session() as s:
        source = sync.get_source(s, conn_id)
        assert source.secret == TOKEN and "token" not in source.settings
        assert sync.public_settings(source)["token"] == "******"
        sync.configure_source(s, conn_id, settings={**settings_for(carrier.url), "token": "******",
                                                    "page_size": 50})
        assert source.secret == TOKEN and source.settings["page_size"] == 50
        with pytest.raises(Invalid, match="未知的同步源设置：pagesize"):
            sync.configure_source(s, conn_id, settings={"base_url": carrier.url, "pagesize": 5})
        with pytest.raises(Invalid, match="base_url"):
            sync.configure_source(s, conn_id, settings={"base_url": "ftp://x"})
        with pytest.raises(Invalid, match="status_map"):
            sync.configure_source(s, conn_id, settings={"base_url": carrier.url, "status_map": {"x": "gone"}})
        with pytest.raises(Invalid, match="interval_s"):
            sync.configure_source(s, conn_id, interval_s=5)
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "sync_sources")).all()
        assert entries and all(TOKEN not in str(e.after) and TOKEN not in str(e.before) for e in entries)


def test_a_pending_device_is_onboarded_by_the_sync(db, carrier, conn_id):
    """A device that reported before it was registered: the sync registers it and its held
    messages become its own."""
    from cityops.ingest.message import DeviceMessage

    with db.session() as s:
        conn = ingest.get_connection(s, conn_id)
        ingest.ingest(s, conn, [DeviceMessage(external_id="ctw-0001", kind="telemetry",
                                              properties={"battery": 90})])
    two_smoke_detectors(carrier)
    apply(db, plan(db, conn_id))
    d = device(db, "ctw-0001")
    with db.session() as s:
        pending = s.scalars(select(PendingDevice).where(PendingDevice.external_id == "ctw-0001")).one()
        assert pending.state == "onboarded" and pending.device_id == d.id
        assert [m.device_id for m in ingest.recent_messages(s, d.id)] == [d.id]


def test_extra_diff_and_property_diff_units():
    diff = sync.extra_diff({"floor": "3F", "a": 1, "same": "x", "same2": "x"},
                           {"level": "3F", "a": 2, "n1": "x", "n2": "x"})
    assert diff["renamed"] == [{"from": "floor", "to": "level", "value": "3F"}]
    assert diff["changed"] == {"a": [1, 2]} and set(diff["removed"]) == {"same", "same2"}
    merged, d = sync.property_diff([{"identifier": "t", "name": "温度", "unit": "°C"}],
                                   [{"identifier": "temp", "name": "温度"}, {"identifier": "h", "name": "湿度",
                                                                           "type": "float"}])
    assert d["renamed"] == [{"from": "t", "to": "temp", "name": "温度"}]
    assert merged == [{"identifier": "temp", "name": "温度", "unit": "°C"},
                      {"identifier": "h", "name": "湿度", "type": "number", "unit": "", "min": None, "max": None}]
    assert sync.guess_device_type("NB-IoT 智能井盖") == "manhole" and sync.guess_device_type("XY-200") is None
