"""The catalog seed: the ten maintained systems with their modules (SYS-*) and the 19
hardware lines expanded into 54 assets (HW), loaded idempotently."""

from datetime import date

from sqlalchemy import func, select

from cityops.catalog import seed
from cityops.catalog.models import Asset, HardwareLine, Module, System

MODULE_COUNTS = {"SYS-DUTY": 6, "SYS-MOBILE": 4, "SYS-EYE": 8, "SYS-VISION": 25, "SYS-DISPATCH": 5,
                 "SYS-SCREEN": 4, "SYS-SEC": 8, "SYS-GOV": 2, "SYS-SAFE": 3, "SYS-LZM": 3}


def _count(s, model) -> int:
    return s.scalar(select(func.count()).select_from(model))


def test_ten_systems_in_seed_order_with_their_module_counts(db):
    """SYS-DUTY … SYS-LZM: seed order, names and the number of modules per system."""
    with db.session() as s:
        systems = list(s.scalars(select(System).order_by(System.seq)))
        assert [x.code for x in systems] == list(MODULE_COUNTS)
        assert {x.code: len(x.modules) for x in systems} == MODULE_COUNTS
        assert [x.name for x in systems][3] == "智能视觉中枢(扩容)"
        assert systems[7].name == "政务服务可视化系统（两网融合）"
        assert _count(s, Module) == 68
        high = {x.code for x in systems if x.criticality == "high"}
        assert high == {"SYS-DISPATCH", "SYS-EYE", "SYS-VISION", "SYS-SEC"}
        assert all(x.owner == "" for x in systems)


def _modules(s, code):
    return list(s.scalars(select(Module).join(System).where(System.code == code).order_by(Module.seq)))


def test_vision_hub_keeps_25_rows_and_their_groups(db):
    """SYS-VISION: rows 1-7 AI视觉中枢升级, 8-23 the 16 scene algorithms, 24 the big screen, 25 the API."""
    with db.session() as s:
        rows = _modules(s, "SYS-VISION")
        assert [m.seq for m in rows] == list(range(1, 26))
        assert {m.section for m in rows[:7]} == {"AI视觉中枢升级"}
        assert {m.section for m in rows[7:23]} == {"场景算法"}
        assert rows[7].name == "暴露垃圾" and rows[22].name == "重点区域监测"
        assert rows[20].name == "安全施工(工地人员行为规范)"
        assert rows[23].section == rows[23].name == "“AI视觉自动预警系统”大屏"
        assert rows[24].section == "对外接口服务"
        assert all(m.health_check_url == "" for m in rows)


def test_city_eye_lists_system_integration_twice(db):
    """SYS-EYE: the seed lists 系统对接 at rows 5 and 7; both are kept."""
    with db.session() as s:
        rows = _modules(s, "SYS-EYE")
        assert [m.seq for m in rows if m.name == "系统对接"] == [5, 7]


def test_security_platform_groups_and_empty_rows(db):
    """SYS-SEC groups (舆qing written as 舆情); SYS-GOV, SYS-SAFE, SYS-LZM skip the seed's empty rows."""
    with db.session() as s:
        sec = _modules(s, "SYS-SEC")
        assert [m.section for m in sec] == ["安全建设"] * 4 + ["安全运营"] * 3 + ["安全舆情"]
        assert sec[-1].name == "舆情数据服务"
        assert [(m.seq, m.name) for m in _modules(s, "SYS-GOV")] == [(1, "数据管理"), (4, "可视化管理")]
        assert [m.seq for m in _modules(s, "SYS-SAFE")] == [1, 4, 6]
        assert [(m.seq, m.name) for m in _modules(s, "SYS-LZM")] == [
            (1, "餐饮企业管理"), (3, "周边交通及噪音监测"), (4, "民防工程监测")]
        assert all(m.section == "" for m in _modules(s, "SYS-DUTY"))


def test_19_hardware_lines_expand_into_54_assets(db):
    """HW: 19 lines, models as the seed spells them, one asset per unit, warranty = SVC-4 period."""
    with db.session() as s:
        lines = list(s.scalars(select(HardwareLine).order_by(HardwareLine.seq)))
        assert len(lines) == 19 and sum(ln.quantity for ln in lines) == 54
        assert (lines[0].product, lines[0].model, lines[0].quantity) == ("高性能转发节点", "SC200-VCI-MTH(A）", 4)
        assert (lines[8].product, lines[8].quantity) == ("边缘节点接入终端", 10)
        assert (lines[17].model, lines[17].quantity) == ("T-28", 12)
        assert (lines[18].model, lines[18].quantity) == ("SMG1000-D40", 12)
        assert {ln.unit for ln in lines} == {"台"} and {ln.location for ln in lines} == {"长宁区城运机房"}
        assets = list(s.scalars(select(Asset).order_by(Asset.asset_tag)))
        assert len(assets) == 54
        assert [a.asset_tag for a in assets[:4]] == [f"CN-HW-01-00{i}" for i in range(1, 5)]
        phones = [a for a in assets if a.asset_tag.startswith("CN-HW-18-")]
        assert len(phones) == 12 and phones[-1].asset_tag == "CN-HW-18-012"
        a = assets[0]
        assert (a.name, a.model, a.location, a.status, a.serial) == (
            "高性能转发节点", "SC200-VCI-MTH(A）", "长宁区城运机房", "in_service", None)
        assert {(x.warranty_start, x.warranty_end) for x in assets} == {(date(2026, 5, 1), date(2027, 4, 30))}


def test_reload_adds_nothing_and_keeps_operator_edits(db):
    """Idempotent seed (SYS-*, HW): a second load adds nothing and never overwrites an edit."""
    with db.session() as s:
        a = s.scalar(select(Asset).where(Asset.asset_tag == "CN-HW-09-003"))
        a.serial = "ETG16-SN-0003"
        s.get(System, s.scalar(select(System.id).where(System.code == "SYS-EYE"))).owner = "张工"
    with db.session() as s:
        assert seed.load(s) == {"systems": 0, "modules": 0, "hardware_lines": 0, "assets": 0}
    with db.session() as s:
        assert s.scalar(select(Asset.serial).where(Asset.asset_tag == "CN-HW-09-003")) == "ETG16-SN-0003"
        assert s.scalar(select(System.owner).where(System.code == "SYS-EYE")) == "张工"


def test_reload_restores_only_missing_rows(db):
    """A module or asset that is missing is added back; nothing else is touched (SYS-LZM, HW)."""
    with db.session() as s:
        s.delete(_modules(s, "SYS-LZM")[1])
        s.delete(s.scalar(select(Asset).where(Asset.asset_tag == "CN-HW-19-012")))
    with db.session() as s:
        assert seed.load(s) == {"systems": 0, "modules": 1, "hardware_lines": 0, "assets": 1}
    with db.session() as s:
        assert _count(s, Module) == 68 and _count(s, Asset) == 54
        assert [m.seq for m in _modules(s, "SYS-LZM")] == [1, 3, 4]
