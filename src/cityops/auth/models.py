"""Users and roles (SVC-3, SYS-SEC)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cityops.audit.mixin import Audited
from cityops.core.db import Base
from cityops.core.timeutil import utcnow

ROLES = ("admin", "manager", "duty", "technician", "street", "auditor")
ROLE_LABELS = {
    "admin": "系统管理员",
    "manager": "项目经理",
    "duty": "值班人员",
    "technician": "技术支持",
    "street": "街镇用户",
    "auditor": "审计员",
}


class User(Audited, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    role: Mapped[str] = mapped_column(String(16))
    street_code: Mapped[str | None] = mapped_column(ForeignKey("streets.code"), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    email: Mapped[str | None] = mapped_column(String(128), default=None)
    password_hash: Mapped[str] = mapped_column(String(256), info={"audit": False})
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None, info={"audit": False})
