"""Checklist photos (ROOM-1): JPEG or PNG only (checked by content, not by name), at most 10 MB,
stored under `var/uploads/checklists/` with a random name and served back to logged-in staff."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from cityops.core.errors import Conflict, Invalid, NotFound
from cityops.core.timeutil import utcnow
from cityops.inspections.checklist_models import ChecklistPhoto

MAX_BYTES = 10 * 1024 * 1024
_KINDS = ((b"\xff\xd8\xff", "image/jpeg", ".jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", ".png"))


def photo_dir(var_dir: Path) -> Path:
    return Path(var_dir) / "uploads" / "checklists"


def sniff(data: bytes) -> tuple[str, str]:
    for magic, content_type, ext in _KINDS:
        if data.startswith(magic):
            return content_type, ext
    raise Invalid("照片只接受 JPEG 或 PNG 格式")


def save_photo(session: Session, *, var_dir: Path, filename: str, data: bytes, actor: str = "",
               run_id: int | None = None, now: datetime | None = None) -> ChecklistPhoto:
    if not data:
        raise Invalid("照片文件为空")
    if len(data) > MAX_BYTES:
        raise Invalid(f"照片不能超过 10 MB（收到 {len(data) / 1024 / 1024:.1f} MB）")
    content_type, ext = sniff(data)
    if run_id is not None:
        from cityops.inspections.checklist_service import get_run

        if get_run(session, run_id).state != "draft":
            raise Conflict(f"巡检记录 {run_id} 已提交，不能再添加照片")
    folder = photo_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stored = uuid.uuid4().hex + ext
    (folder / stored).write_bytes(data)
    photo = ChecklistPhoto(run_id=run_id, filename=Path(filename or "photo").name[:200], content_type=content_type,
                           size=len(data), sha256=hashlib.sha256(data).hexdigest(), stored_name=stored,
                           uploaded_by=actor, uploaded_at=now or utcnow())
    session.add(photo)
    session.flush()
    return photo


def get_photo(session: Session, photo_id: int) -> ChecklistPhoto:
    p = session.get(ChecklistPhoto, photo_id)
    if p is None:
        raise NotFound(f"照片 {photo_id} 不存在")
    return p


def photo_path(var_dir: Path, photo: ChecklistPhoto) -> Path:
    path = photo_dir(var_dir) / photo.stored_name
    if not path.is_file():
        raise NotFound(f"照片 {photo.id} 的文件已不在服务器上")
    return path
