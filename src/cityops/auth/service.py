"""Users: creation, authentication, roles and street scoping (SVC-3)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityops.audit import service as audit
from cityops.auth.models import ROLES, User
from cityops.auth.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.geo.models import Street

# Roles that see personal data (phone numbers) unmasked: they call people.
PII_ROLES = frozenset({"admin", "manager", "duty"})


def check_password_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise Invalid(f"密码至少需要 {MIN_LENGTH} 个字符")
    if password.isdigit() or password.isalpha():
        raise Invalid("密码须同时包含字母和数字或符号")


def create_user(session: Session, *, username: str, role: str, password: str, display_name: str = "",
                street_code: str | None = None, phone: str | None = None, email: str | None = None) -> User:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise Invalid("用户名须为 1-64 个字符，且不能含空格")
    if role not in ROLES:
        raise Invalid(f"未知角色 {role!r}；可选角色：{'、'.join(ROLES)}")
    if role == "street":
        if not street_code:
            raise Invalid("街镇用户须填写街道编码")
        if session.get(Street, street_code) is None:
            raise Invalid(f"未知的街道编码 {street_code!r}")
    elif street_code:
        raise Invalid("只有街镇用户才能绑定街道")
    check_password_strength(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户 {username!r} 已存在")
    user = User(username=username, role=role, display_name=display_name or username, street_code=street_code,
                phone=phone, email=email, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username))
    if not verify_password(user.password_hash if user else None, password):
        return None
    if not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    audit.record(session, "auth.login", "users", str(user.id), after={"username": user.username})
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在")
    return user


def list_users(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
    total = session.scalar(select(func.count(User.id))) or 0
    rows = session.scalars(select(User).order_by(User.username).limit(limit).offset(offset)).all()
    return list(rows), total


def update_user(session: Session, user_id: int, *, role: str | None = None, display_name: str | None = None,
                street_code: str | None = None, phone: str | None = None, email: str | None = None,
                active: bool | None = None) -> User:
    user = get_user(session, user_id)
    new_role = role or user.role
    new_street = street_code if street_code is not None else user.street_code
    if new_role not in ROLES:
        raise Invalid(f"未知角色 {new_role!r}")
    if new_role == "street":
        if not new_street or session.get(Street, new_street) is None:
            raise Invalid("街镇用户须填写有效的街道编码")
    else:
        new_street = None
    user.role, user.street_code = new_role, new_street
    if display_name is not None:
        user.display_name = display_name
    if phone is not None:
        user.phone = phone or None
    if email is not None:
        user.email = email or None
    if active is not None:
        user.active = active
    session.flush()
    return user


def set_password(session: Session, user_id: int, password: str) -> None:
    check_password_strength(password)
    user = get_user(session, user_id)
    user.password_hash = hash_password(password)
    audit.record(session, "auth.password_set", "users", str(user.id))
