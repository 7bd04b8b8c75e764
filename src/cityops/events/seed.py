"""The city-event classification tree (IOT-6): Shanghai city-management categories in
three levels (大类/小类/细类). Loading is idempotent: codes already present are left as
operators edited them; only missing ones are added."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.events.models import EventCategory

# (大类, [(小类, [(细类, default severity)])]); codes follow list order: 01, 0101, 010101 …
TREE: list[tuple[str, list[tuple[str, list[tuple[str, str]]]]]] = [
    ("市容环境", [
        ("环境卫生", [("暴露垃圾", "warning"), ("积存垃圾渣土", "warning"), ("垃圾箱房满溢", "warning"),
                  ("道路不洁", "info"), ("水域不洁", "info"), ("动物尸体", "warning")]),
        ("乱张贴乱涂写", [("乱张贴", "info"), ("乱涂写乱刻画", "info"), ("违规散发小广告", "info")]),
        ("占道与堆物", [("占道堆物", "warning"), ("乱晾晒", "info"), ("建筑垃圾偷倒", "major")]),
        ("户外设施", [("户外广告破损", "warning"), ("店招店牌安全隐患", "major"), ("景观灯光故障", "info")]),
    ]),
    ("街面秩序", [
        ("违规经营", [("无证设摊", "warning"), ("跨门营业", "warning"), ("占道洗车", "info"),
                  ("占道废品收购", "info")]),
        ("车辆停放", [("非机动车乱停放", "info"), ("共享单车堆积", "info"), ("机动车违停占道", "warning"),
                  ("僵尸车", "info")]),
        ("工地管理", [("工地夜间违规施工", "warning"), ("渣土车未密闭", "warning"), ("工地扬尘", "warning")]),
    ]),
    ("设施管理", [
        ("井盖", [("井盖缺失", "critical"), ("井盖破损", "major"), ("井盖异动", "major"), ("井盖响动", "info")]),
        ("道路设施", [("道路破损", "major"), ("人行道板松动", "warning"), ("护栏损坏", "warning"),
                  ("交通标志损坏", "warning")]),
        ("照明设施", [("路灯故障", "warning"), ("路灯杆倾斜", "major"), ("电箱门未关", "warning")]),
        ("公共设施", [("公共座椅损坏", "info"), ("公厕设施损坏", "warning"), ("消火栓损坏漏水", "major")]),
        ("绿化设施", [("树木倒伏", "major"), ("绿地毁损", "info"), ("行道树枝条过低", "info")]),
    ]),
    ("防汛防台", [
        ("道路积水", [("道路积水", "major"), ("下立交积水", "critical"), ("小区积水", "major")]),
        ("河道水务", [("河道水位超警", "critical"), ("泵站故障", "critical"), ("河道堤防渗漏", "major")]),
        ("台风灾害", [("高空坠物隐患", "major"), ("临时构筑物倒塌", "critical"), ("广告牌摇晃", "major")]),
    ]),
    ("消防安全", [
        ("火灾报警", [("烟雾报警", "critical"), ("可燃物温度异常", "major"), ("电气火灾报警", "critical")]),
        ("消防通道", [("消防通道堵塞", "major"), ("消防车通道占用", "major"), ("安全出口锁闭", "major")]),
        ("消防设施", [("消防栓水压异常", "major"), ("灭火器缺失过期", "warning"), ("飞线充电", "major")]),
    ]),
    ("燃气安全", [
        ("燃气报警", [("燃气泄漏报警", "critical"), ("可燃气体浓度超标", "critical")]),
        ("燃气设施", [("燃气管线占压", "major"), ("燃气表具损坏", "warning"), ("瓶装气违规使用", "major")]),
    ]),
    ("民防设施", [
        ("民防工程", [("民防工程水浸", "major"), ("防护门异常开启", "major"), ("民防工程违规占用", "warning"),
                  ("民防工程通风故障", "warning")]),
        ("警报设施", [("防空警报器故障", "major")]),
    ]),
    ("环境保护", [
        ("噪声污染", [("噪声扰民", "warning"), ("社会生活噪声", "info"), ("施工噪声", "warning")]),
        ("大气污染", [("油烟扰民", "warning"), ("露天焚烧", "major"), ("异味扰民", "warning")]),
        ("水污染", [("污水直排", "major"), ("河道油污", "major")]),
    ]),
]


def rows() -> list[dict]:
    """The tree as flat rows (code, name, level, parent code, severity), parents first."""
    out: list[dict] = []
    for i, (big, mids) in enumerate(TREE, 1):
        c1 = f"{i:02d}"
        out.append({"code": c1, "name": big, "level": 1, "parent": None, "severity": "warning"})
        for j, (mid, leaves) in enumerate(mids, 1):
            c2 = f"{c1}{j:02d}"
            out.append({"code": c2, "name": mid, "level": 2, "parent": c1, "severity": "warning"})
            for k, (leaf, sev) in enumerate(leaves, 1):
                out.append({"code": f"{c2}{k:02d}", "name": leaf, "level": 3, "parent": c2, "severity": sev})
    return out


def load(session: Session) -> dict[str, int]:
    by_code = {c.code: c for c in session.scalars(select(EventCategory))}
    added = 0
    for r in rows():
        if r["code"] in by_code:
            continue
        parent = by_code.get(r["parent"]) if r["parent"] else None
        cat = EventCategory(code=r["code"], name=r["name"], level=r["level"],
                            parent_id=parent.id if parent else None, default_severity=r["severity"], enabled=True)
        session.add(cat)
        session.flush()
        by_code[cat.code] = cat
        added += 1
    return {"event_categories": added}
