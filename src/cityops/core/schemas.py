"""Pydantic base for API output: times as ISO 8601 with offset (Asia/Shanghai)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

from cityops.core.timeutil import local


def iso(dt: datetime | None) -> str | None:
    return local(dt).isoformat() if dt else None


LocalTime = Annotated[datetime, PlainSerializer(iso, return_type=str)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)
