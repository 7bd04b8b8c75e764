"""Seed of the road/place → street gazetteer of Changning (IOT-1).

The data live in `cityops/data/changning_gazetteer.json`: one entry per name, with every
street the road runs through (a road crossing several streets lists them all, and the
note says which section lies where). Streets are named, not coded, so the file reads
like the district's own lists.

`load(session)` is idempotent: it adds the (name, street) pairs that do not exist yet and
never touches existing rows — an entry an operator deactivated stays deactivated, and
operator edits survive upgrades.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.devices.quality_models import GAZETTEER_KINDS, GazetteerEntry
from cityops.geo.models import Street

DATA_FILE = "changning_gazetteer.json"


@lru_cache
def entries() -> list[dict]:
    """The seed entries: [{"name", "kind", "streets": [street names], "note"}]."""
    doc = json.loads(resources.files("cityops.data").joinpath(DATA_FILE).read_text("utf-8"))
    return doc["entries"]


def load(session: Session) -> dict[str, int]:
    streets = {name: code for code, name in session.execute(select(Street.code, Street.name))}
    if not streets:  # streets come first (geo seed); nothing to attach names to yet
        return {"gazetteer": 0}
    have = set(session.execute(select(GazetteerEntry.name, GazetteerEntry.street_code)))
    added = 0
    for spec in entries():
        kind = spec.get("kind", "road")
        if kind not in GAZETTEER_KINDS:
            raise ValueError(f"gazetteer seed: unknown kind {kind!r} for {spec['name']}")
        for street_name in spec["streets"]:
            code = streets.get(street_name)
            if code is None:
                raise ValueError(f"gazetteer seed: unknown street {street_name!r} for {spec['name']}")
            if (spec["name"], code) in have:
                continue
            session.add(GazetteerEntry(name=spec["name"], street_code=code, kind=kind, note=spec.get("note", ""),
                                       source="seed", active=True))
            have.add((spec["name"], code))
            added += 1
    session.flush()
    return {"gazetteer": added}
