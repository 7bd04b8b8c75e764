"""The classification tree seed (IOT-6): three levels, stable codes, idempotent."""

from sqlalchemy import func, select

from cityops.events import seed
from cityops.events.models import EventCategory


def test_seed_three_levels(db):
    with db.session() as s:
        cats = list(s.scalars(select(EventCategory)))
    by_id = {c.id: c for c in cats}
    levels = {c.level for c in cats}
    assert levels == {1, 2, 3}
    leaves = [c for c in cats if c.level == 3]
    assert 60 <= len(leaves) <= 100
    for c in cats:
        if c.level == 1:
            assert c.parent_id is None and len(c.code) == 2
        else:
            parent = by_id[c.parent_id]
            assert parent.level == c.level - 1 and c.code.startswith(parent.code) and len(c.code) == 2 * c.level
    names = {c.name for c in cats}
    for expected in ("市容环境", "暴露垃圾", "无证设摊", "井盖缺失", "下立交积水", "烟雾报警", "燃气泄漏报警",
                     "民防工程水浸", "油烟扰民"):
        assert expected in names
    assert {c.code: c.name for c in cats}["01"] == "市容环境"


def test_seed_is_idempotent_and_keeps_edits(db):
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(EventCategory))
        cat = s.scalar(select(EventCategory).where(EventCategory.code == "010101"))
        cat.name = "暴露垃圾（已改名）"
    with db.session() as s:
        assert seed.load(s) == {"event_categories": 0}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(EventCategory)) == before
        assert s.scalar(select(EventCategory.name).where(EventCategory.code == "010101")) == "暴露垃圾（已改名）"
