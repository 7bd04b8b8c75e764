"""Idempotent load of the maintained systems and their modules (SYS-*) and of the 19
machine-room hardware lines expanded into 54 individual assets (HW).

Only missing rows are added; rows already present keep the operators' edits.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.catalog.models import Asset, HardwareLine, Module, System


@lru_cache
def systems_file() -> list[dict]:
    return json.loads(resources.files("cityops.catalog.data").joinpath("systems.json").read_text("utf-8"))


@lru_cache
def hardware_file() -> dict:
    return json.loads(resources.files("cityops.catalog.data").joinpath("hardware.json").read_text("utf-8"))


def asset_tag(line_seq: int, unit: int) -> str:
    return f"CN-HW-{line_seq:02d}-{unit:03d}"


def load(session: Session) -> dict[str, int]:
    added = {"systems": 0, "modules": 0, "hardware_lines": 0, "assets": 0}
    _load_systems(session, added)
    _load_hardware(session, added)
    return added


def _load_systems(session: Session, added: dict[str, int]) -> None:
    systems = {s.code: s for s in session.scalars(select(System))}
    for spec in systems_file():
        system = systems.get(spec["code"])
        if system is None:
            system = System(code=spec["code"], seq=spec["seq"], name=spec["name"], owner="",
                            criticality=spec["criticality"], description="")
            session.add(system)
            session.flush()
            added["systems"] += 1
        have = set(session.scalars(select(Module.seq).where(Module.system_id == system.id)))
        for m in spec["modules"]:
            if m["seq"] not in have:
                # A module starts as critical as its system; operators refine it later.
                session.add(Module(system_id=system.id, seq=m["seq"], section=m["section"], name=m["name"],
                                   owner="", criticality=spec["criticality"], health_check_url="", notes=""))
                added["modules"] += 1
    session.flush()


def _load_hardware(session: Session, added: dict[str, int]) -> None:
    spec = hardware_file()
    start, end = date.fromisoformat(spec["warranty_start"]), date.fromisoformat(spec["warranty_end"])
    lines = {ln.seq: ln for ln in session.scalars(select(HardwareLine))}
    tags = set(session.scalars(select(Asset.asset_tag)))
    for row in spec["lines"]:
        line = lines.get(row["seq"])
        if line is None:
            line = HardwareLine(seq=row["seq"], product=row["product"], model=row["model"],
                                quantity=row["quantity"], unit=row["unit"], location=spec["location"])
            session.add(line)
            session.flush()
            added["hardware_lines"] += 1
        for n in range(1, row["quantity"] + 1):
            tag = asset_tag(row["seq"], n)
            if tag not in tags:
                session.add(Asset(asset_tag=tag, line_id=line.id, name=row["product"], model=row["model"],
                                  serial=None, location=spec["location"], status="in_service",
                                  warranty_start=start, warranty_end=end))
                added["assets"] += 1
    session.flush()
