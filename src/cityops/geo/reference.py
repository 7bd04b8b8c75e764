"""The district's reference data shipped with the package (../shared/data)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

TOTAL_GRIDS = 35  # 35 responsibility grids (责任网格), platform 1.0


@lru_cache
def streets_file() -> dict:
    return json.loads(resources.files("cityops.data").joinpath("changning_streets.json").read_text("utf-8"))


@lru_cache
def district_outline() -> BaseGeometry:
    fc = json.loads(resources.files("cityops.data").joinpath("changning_district.geojson").read_text("utf-8"))
    return shape(fc["features"][0]["geometry"]).buffer(0)


# District departments that receive city events; street offices are derived from the streets.
DEPARTMENTS = [
    ("DEPT-CYZX", "区城市运行管理中心"),
    ("DEPT-SJFZ", "区数据发展中心"),
    ("DEPT-LHSR", "区绿化和市容管理局"),
    ("DEPT-JGW", "区建设和管理委员会"),
    ("DEPT-SW", "区水务管理所"),
    ("DEPT-CGZF", "区城市管理行政执法局"),
    ("DEPT-FG", "区房屋管理局"),
    ("DEPT-STHJ", "区生态环境局"),
    ("DEPT-SCJG", "区市场监督管理局"),
    ("DEPT-YJGL", "区应急管理局"),
    ("DEPT-MF", "区民防办公室"),
    ("DEPT-XF", "区消防救援支队"),
    ("DEPT-GA", "公安长宁分局"),
]


def street_office_name(name: str, kind: str) -> str:
    return f"{name}人民政府" if kind == "镇" else f"{name}办事处"
