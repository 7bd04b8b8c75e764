"""What `cityops demo` adds on top of the reference data: an admin account and demo
contacts, all clearly fictional. Later issues add simulators here."""

from __future__ import annotations

import secrets
import string

from sqlalchemy import select

from cityops.audit.context import acting_as
from cityops.auth import service as users
from cityops.auth.models import User
from cityops.core.db import Database
from cityops.geo.models import ResponsibleUnit


def generate_password(length: int = 16) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def prepare_demo(db: Database) -> str | None:
    """Returns the new admin password, or None when the admin already existed."""
    password = None
    with acting_as("system:demo"), db.session() as s:
        if s.scalar(select(User.id).where(User.username == "admin")) is None:
            password = generate_password()
            users.create_user(s, username="admin", role="admin", password=password, display_name="系统管理员（演示）")
        for i, unit in enumerate(s.scalars(select(ResponsibleUnit).order_by(ResponsibleUnit.code)), start=1):
            if not unit.contact_name:
                # 021-5555xxxx is not an assigned Shanghai range: demo data must not ring a real phone.
                unit.contact_name = "演示联系人"
                unit.contact_phone = f"021-5555{i:04d}"
                unit.duty_phone = f"021-5556{i:04d}"
    return password
