"""Bulk device import and export as CSV and XLSX — the sheets operators actually exchange
with vendors, carriers and street offices (IOT-1 device metadata correction, IOT-2 new
device onboarding).

Layout: one device per row, Chinese column headers (``COLUMNS``); the English field names
are accepted as headers too, and headers match regardless of spaces, case, full-width
brackets and a trailing unit in brackets ("上报周期（秒）", "经度(GCJ-02)").

Import is two steps:

* ``plan_import`` is the dry run. Every row gets the action it would take — ``create``,
  ``update`` (with a field diff against the stored device) or ``unchanged`` — or its
  errors. Rows are keyed on (接入平台, 平台设备ID) = (platform, external_id), the vendor's
  own id. Row numbers are the sheet's own (header on row 1 → first device on row 2).
* ``apply_import`` writes the valid rows through ``devices.service`` (``create_device`` /
  ``update_device``), so every change has its ``DeviceVersion`` (source ``import``) and its
  audit entries; error rows are skipped. Applying the same file again changes nothing.

Cell semantics for a device that exists: an empty cell keeps the stored value; ``-`` or
``（清空）`` clears an optional field. A new device needs 设备名称, 产品型号 and 平台设备ID;
platform, type and vendor default to the product's. When coordinates are given without a
street the street and grid come from the point (as ``create_device`` does).

Speed: reference tables are read once, stored devices are fetched in a few ``IN`` batches
keyed on the file's ids (never a query per row), so a 5,000-row dry run takes about a second
(XLSX parsing included). The apply is bounded by the service's per-device writes (device,
version, audit chain: about 8 statements per new device) — on the 2-core CI machine about
9 s for 5,000 new devices on SQLite and 25 s on PostgreSQL; unchanged rows cost nothing.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import IO, Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from cityops.audit import service as audit
from cityops.core.errors import Invalid
from cityops.devices import service
from cityops.devices.models import (DEVICE_TYPES, LIFECYCLE, LIFECYCLE_LABELS, TAG_CATEGORIES, Device, DeviceVersion,
                                    Product, Tag, device_tags)
from cityops.geo import lookup
from cityops.geo.models import Grid, ResponsibleUnit, Street

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                 "pdf": "application/pdf",
                 "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
EXPORT_BATCH = 2000
MAX_IMPORT_ROWS = 20_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
CLEAR = frozenset({"-", "—", "（清空）", "(清空)", "<清空>", "[清空]"})
TAG_SPLIT = re.compile(r"[,，、;；\n]+")
_IN_CHUNK = 500


@dataclass(frozen=True)
class Column:
    field: str
    header: str
    aliases: tuple[str, ...] = ()


# The sheet, in export order. `field` is the file's field name (also accepted as a header).
COLUMNS: tuple[Column, ...] = (
    Column("code", "设备编号", ("编号", "设备代码", "device_code")),
    Column("name", "设备名称", ("名称", "device_name")),
    Column("product", "产品型号", ("产品", "产品编码", "产品代码", "product_code")),
    Column("device_type", "设备类型", ("类型", "type")),
    Column("vendor", "厂商", ("厂家", "生产厂商", "供应商")),
    Column("platform", "接入平台", ("平台", "物联网平台")),
    Column("external_id", "平台设备ID", ("平台设备编号", "设备ID", "外部编号", "deviceid")),
    Column("imei", "IMEI"),
    Column("iccid", "ICCID"),
    Column("address", "地址", ("安装地址", "设备地址", "安装位置")),
    Column("lon", "经度", ("longitude", "lng")),
    Column("lat", "纬度", ("latitude",)),
    Column("street", "街镇", ("街道", "所属街镇", "街道/镇", "street_code")),
    Column("grid", "网格", ("责任网格", "网格编号", "grid_code")),
    Column("unit", "责任单位", ("unit_code", "unit_name")),
    Column("install_date", "安装日期", ("安装时间",)),
    Column("status", "状态", ("设备状态", "生命周期")),
    Column("parent", "上级设备", ("父设备", "所属网关", "parent_code")),
    Column("report_interval_s", "上报周期(秒)", ("上报周期", "上报间隔", "report_interval")),
    Column("tags", "标签", ("设备标签",)),
)
LABELS = {c.field: c.header for c in COLUMNS}
# Diff labels for model fields that are not file fields of the same name.
FIELD_LABELS = {**LABELS, "product_id": LABELS["product"], "street_code": LABELS["street"],
                "grid_code": LABELS["grid"], "unit_id": LABELS["unit"], "parent_id": LABELS["parent"]}
TYPE_LABELS = DEVICE_TYPES
CATEGORY_BY_NAME = {**{k: k for k in TAG_CATEGORIES}, **{v: k for k, v in TAG_CATEGORIES.items()}, "场景": "scenario",
                    "单位": "unit"}
_LENGTHS = {"code": 32, "name": 128, "vendor": 64, "platform": 32, "external_id": 128, "imei": 32, "iccid": 32,
            "address": 256}


def _m(zh: str, en: str) -> str:
    """Operators read Chinese; integrators and logs read English: messages carry both."""
    return f"{zh} / {en}"


def norm_header(h: Any) -> str:
    s = unicodedata.normalize("NFKC", str(h or "")).replace("\ufeff", "").replace("\u200b", "")
    return re.sub(r"[\s_\-*]", "", s.casefold())


_HEADER_INDEX: dict[str, str] = {}
for _c in COLUMNS:
    for _name in (_c.field, _c.header, *_c.aliases):
        _HEADER_INDEX.setdefault(norm_header(_name), _c.field)


def match_header(h: Any) -> str | None:
    """The file field a header names (spaces, case, full-width forms and a bracketed unit ignored)."""
    key = norm_header(h)
    if not key:
        return None
    if key in _HEADER_INDEX:
        return _HEADER_INDEX[key]
    bare = re.sub(r"\(.*?\)", "", key)
    return _HEADER_INDEX.get(bare)


# -- reading files -----------------------------------------------------------------------

@dataclass
class Sheet:
    """The parsed upload: which file field each header maps to and the data rows, each with
    its row number as the operator sees it in the sheet."""

    columns: dict[str, str]  # field → header as written in the file
    rows: list[tuple[int, dict[str, Any]]]
    ignored: list[str] = field(default_factory=list)
    header_row: int = 1
    fmt: str = ""
    filename: str = ""


def _fmt_of(data: bytes, filename_or_fmt: str) -> str:
    name = (filename_or_fmt or "").strip().lower()
    if data[:4] == b"PK\x03\x04":
        return "xlsx"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise Invalid(_m("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV",
                         "legacy .xls is not supported; save the sheet as .xlsx or CSV"))
    if name in FORMATS:
        return name
    if name.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    return "csv"


def decode_text(data: bytes) -> str:
    """UTF-8 with or without BOM, UTF-16 (Excel's "Unicode text"), else GB18030 (a superset of
    GBK, what Chinese Excel writes for "CSV (逗号分隔)")."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise Invalid(_m("无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV",
                         "cannot decode the file; save it as UTF-8 or GBK CSV")) from exc


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    text = decode_text(data)
    first = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first.count)
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException …
        raise Invalid(_m("不是有效的 xlsx 文件", "not a valid .xlsx workbook") + f": {exc}") from exc
    try:
        if not wb.worksheets:
            return
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # some writers store a wrong sheet size; read what is there
        for row in ws.iter_rows(values_only=True):
            yield list(row)
    finally:
        wb.close()


def parse_upload(data: bytes, filename_or_fmt: str = "") -> Sheet:
    """Read an uploaded CSV (UTF-8 with/without BOM, GBK/GB18030, UTF-16) or XLSX (first
    sheet) into a `Sheet`. The header is the first row, within the first ten, that names at
    least two known columns (a title row above it is allowed). (IOT-1, IOT-2)"""
    if not data:
        raise Invalid(_m("文件为空", "the file is empty"))
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(_m(f"文件超过 {MAX_UPLOAD_BYTES // 2**20} MB", f"the file exceeds "
                         f"{MAX_UPLOAD_BYTES // 2**20} MB"))
    fmt = _fmt_of(data, filename_or_fmt)
    raw = _xlsx_rows(data) if fmt == "xlsx" else _csv_rows(data)
    columns: dict[str, str] = {}
    positions: dict[str, int] = {}
    ignored: list[str] = []
    header_row = 0
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, cells in enumerate(raw, start=1):
        if not header_row:
            fields = [match_header(c) for c in cells]
            if sum(1 for f in fields if f) >= 2:
                header_row = number
                for i, (cell, f) in enumerate(zip(cells, fields, strict=True)):
                    title = str(cell).strip() if cell is not None else ""
                    if f and f not in positions:
                        positions[f], columns[f] = i, title
                    elif title:
                        ignored.append(title)
            elif number >= 10:
                break
            continue
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            continue
        values = {f: (cells[i] if i < len(cells) else None) for f, i in positions.items()}
        rows.append((number, values))
        if len(rows) > MAX_IMPORT_ROWS:
            raise Invalid(_m(f"一次最多导入 {MAX_IMPORT_ROWS} 行，请拆分文件",
                             f"at most {MAX_IMPORT_ROWS} rows per file; split the file"))
    if not header_row:
        raise Invalid(_m("找不到表头行（应包含 设备名称、平台设备ID 等列）",
                         "no header row found (expected columns such as 设备名称, 平台设备ID)"))
    if "external_id" not in columns:
        raise Invalid(_m("缺少“平台设备ID”列", "the 平台设备ID (external_id) column is missing"),
                      columns=list(columns.values()))
    if "platform" not in columns and "product" not in columns:
        raise Invalid(_m("需要“接入平台”或“产品型号”列来确定设备所在平台",
                         "a 接入平台 (platform) or 产品型号 (product) column is needed to key the devices"))
    name = filename_or_fmt if filename_or_fmt not in FORMATS else ""
    return Sheet(columns=columns, rows=rows, ignored=ignored, header_row=header_row, fmt=fmt, filename=name)


def sheet_from_dicts(records: Iterable[dict[str, Any]]) -> Sheet:
    """Rows given as dicts (headers or field names as keys); `_row` may give the row number."""
    columns: dict[str, str] = {}
    rows = []
    for i, rec in enumerate(records, start=2):
        values = {}
        for key, value in rec.items():
            if key == "_row":
                continue
            f = match_header(key)
            if f:
                columns.setdefault(f, str(key))
                values[f] = value
        rows.append((int(rec.get("_row", i)), values))
    return Sheet(columns=columns, rows=rows)


# -- cell values -------------------------------------------------------------------------

def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, date):
        return v.isoformat()
    s = str(v).replace("\u200b", "").strip()
    if s.startswith('="') and s.endswith('"'):  # ="861234567890123", the CSV way to keep digits as text
        s = s[2:-1].strip()
    return s


def _date(v: Any) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, int | float) and 20000 <= v <= 80000:  # an Excel serial day number
        return date(1899, 12, 30) + timedelta(days=int(v))
    s = unicodedata.normalize("NFKC", _text(v))
    m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?", s) or \
        re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s)
    if not m:
        raise ValueError(s)
    return date(int(m[1]), int(m[2]), int(m[3]))


def _int(v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    f = float(_text(v))
    if not f.is_integer():
        raise ValueError(v)
    return int(f)


# -- the plan ----------------------------------------------------------------------------

@dataclass
class RowError:
    row: int
    field: str
    column: str
    value: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "column": self.column, "value": self.value,
                "message": self.message}


@dataclass
class PlanRow:
    row: int
    platform: str = ""
    external_id: str = ""
    code: str = ""
    name: str = ""
    action: str = "error"  # create | update | unchanged | error
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    want: dict[str, Any] = field(default_factory=dict)  # model fields the file sets (None = clear)
    tags: list[int] | None = None  # tag ids the file sets; None = keep
    parent_ref: str = ""
    parent_row: int | None = None  # the parent is created by that row of the same file
    device_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # what apply passes to the service
    tags_change: tuple[list[str], list[str]] | None = None
    diff: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.platform}/{self.external_id}"

    def error(self, fld: str, message: str, value: Any = "", column: str | None = None) -> None:
        self.errors.append(RowError(self.row, fld, column or LABELS.get(fld, fld), _text(value), message))

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "action": self.action, "key": self.key if self.external_id else "",
                "code": self.code, "name": self.name, "device_id": self.device_id,
                "errors": [e.as_dict() for e in self.errors], "warnings": self.warnings, "diff": self.diff}


@dataclass
class ImportPlan:
    rows: list[PlanRow]
    columns: dict[str, str]
    ignored_columns: list[str]
    filename: str = ""
    fmt: str = ""
    header_row: int = 1

    @property
    def counts(self) -> dict[str, int]:
        c = {"rows": len(self.rows), "create": 0, "update": 0, "unchanged": 0, "error": 0}
        for r in self.rows:
            c[r.action] += 1
        c["warnings"] = sum(1 for r in self.rows if r.warnings)
        return c

    @property
    def errors(self) -> list[RowError]:
        return [e for r in self.rows for e in r.errors]

    def report(self, *, limit: int = 200, offset: int = 0, include_unchanged: bool = False) -> dict[str, Any]:
        """The dry-run report: counts, every error, and a page of the rows that would change
        or fail (unchanged rows only on request) with their diffs."""
        listed = [r for r in self.rows if include_unchanged or r.action != "unchanged"]
        page = listed[offset:offset + limit]
        return {"filename": self.filename, "format": self.fmt, "header_row": self.header_row,
                "columns": self.columns, "ignored_columns": self.ignored_columns, "counts": self.counts,
                "errors": [e.as_dict() for e in self.errors],
                "rows": [r.as_dict() for r in page], "rows_total": len(listed), "limit": limit, "offset": offset,
                "truncated": offset + len(page) < len(listed)}


class _Reference:
    """Products, streets, grids, units and tags, read once per plan."""

    def __init__(self, session: Session):
        self.products = {p.code: p for p in session.scalars(select(Product))}
        self.products_by_id = {p.id: p for p in self.products.values()}
        self.products_by_model: dict[str, list[Product]] = defaultdict(list)
        for p in self.products.values():
            for k in {p.model_no, p.name}:
                if k:
                    self.products_by_model[norm_header(k)].append(p)
        self.streets = {s.code: s for s in session.scalars(select(Street))}
        self.street_names: dict[str, list[str]] = defaultdict(list)
        for s in self.streets.values():
            self.street_names[s.name].append(s.code)
            short = re.sub(r"(街道|镇)$", "", s.name)
            if short != s.name:
                self.street_names[short].append(s.code)
        self.grids = {g.code: g for g in session.scalars(select(Grid))}
        self.grid_names = {g.name: g.code for g in self.grids.values()}
        self.units = {u.id: u for u in session.scalars(select(ResponsibleUnit))}
        self.unit_codes = {u.code.casefold(): u.id for u in self.units.values()}
        self.unit_names: dict[str, list[int]] = defaultdict(list)
        for u in self.units.values():
            self.unit_names[u.name].append(u.id)
        self.tags = {t.id: t for t in session.scalars(select(Tag))}
        self.tag_keys = {(t.category, t.name): t.id for t in self.tags.values()}
        self.tags_by_name: dict[str, list[int]] = defaultdict(list)
        for t in self.tags.values():
            self.tags_by_name[t.name].append(t.id)
        self.geo = lookup.index_for(session)
        from cityops.connectors.registry import kinds

        self.platforms = {k.casefold(): k for k in kinds()}
        for p in self.products.values():
            if p.platform:
                self.platforms.setdefault(p.platform.casefold(), p.platform)
        self.known_platforms = set(self.platforms) | {
            p.casefold() for p in session.scalars(select(Device.platform).distinct())}

    def product(self, value: str) -> Product | None:
        p = self.products.get(value) or next((q for c, q in self.products.items() if c.casefold() == value.casefold()),
                                            None)
        if p is None:
            hits = self.products_by_model.get(norm_header(value), [])
            p = hits[0] if len(hits) == 1 else None
        return p

    def street(self, value: str) -> str | None:
        if value in self.streets:
            return value
        hits = self.street_names.get(value, [])
        return hits[0] if len(hits) == 1 else None

    def unit(self, value: str) -> tuple[int | None, str]:
        if value.casefold() in self.unit_codes:
            return self.unit_codes[value.casefold()], ""
        hits = self.unit_names.get(value, [])
        if len(hits) > 1:
            return None, "ambiguous"
        return (hits[0], "") if hits else (None, "unknown")

    def tag(self, item: str) -> int | None:
        item = unicodedata.normalize("NFKC", item).strip()
        if ":" in item:
            cat, name = (s.strip() for s in item.split(":", 1))
            category = CATEGORY_BY_NAME.get(cat.casefold(), CATEGORY_BY_NAME.get(cat))
            if category:
                return self.tag_keys.get((category, name))
        if ("scenario", item) in self.tag_keys:
            return self.tag_keys[("scenario", item)]
        hits = self.tags_by_name.get(item, [])
        return hits[0] if len(hits) == 1 else None

    def tag_label(self, tag_id: int) -> str:
        t = self.tags[tag_id]
        return t.name if t.category == "scenario" else f"{TAG_CATEGORIES.get(t.category, t.category)}:{t.name}"

    def unit_label(self, unit_id: int | None) -> str:
        if unit_id is None:
            return ""
        u = self.units.get(unit_id)
        if u is None:
            return str(unit_id)
        return u.name if len(self.unit_names[u.name]) == 1 else u.code


def _parse_row(ref: _Reference, number: int, raw: dict[str, Any]) -> PlanRow:
    """One row's cells → the model fields it sets, with per-cell errors."""
    r = PlanRow(number)
    cells = {f: _text(v) for f, v in raw.items()}
    want = r.want

    def given(f: str) -> bool:
        return bool(cells.get(f))

    def cleared(f: str) -> bool:
        return cells.get(f) in CLEAR

    for f, limit in _LENGTHS.items():
        if len(cells.get(f, "")) > limit:
            r.error(f, _m(f"超过 {limit} 个字符", f"longer than {limit} characters"), cells[f][:40] + "…")
            cells[f] = ""
    for f in ("external_id", "iccid", "imei"):
        v = raw.get(f)
        if isinstance(v, float) and abs(v) >= 1e15:
            r.error(f, _m("以数字格式保存，已丢失末尾数字；请把该列设为文本后重新填写",
                          "saved as a number and lost its last digits; format the column as text"), v)
            cells[f] = ""

    r.code = "" if cleared("code") else cells.get("code", "")
    r.name = cells.get("name", "")
    r.external_id = cells.get("external_id", "")
    if not r.external_id or cleared("external_id"):
        r.error("external_id", _m("平台设备ID不能为空", "external_id (the vendor's device id) is required"))
        r.external_id = ""
    if given("name"):
        if cleared("name"):
            r.error("name", _m("设备名称不能清空", "the name cannot be cleared"), cells["name"])
        else:
            want["name"] = r.name

    product = None
    if given("product"):
        product = ref.product(cells["product"])
        if product is None:
            r.error("product", _m(f"未知产品型号“{cells['product']}”", f"unknown product {cells['product']!r}"),
                    cells["product"])
        else:
            want["product_id"] = product.id

    platform = cells.get("platform", "")
    if platform and not cleared("platform"):
        platform = ref.platforms.get(platform.casefold(), platform)
        if platform.casefold() not in ref.known_platforms:
            r.warnings.append(_m(f"接入平台“{platform}”不在已知平台中", f"platform {platform!r} is not a known "
                                                                   "connector"))
    else:
        platform = product.platform if product else ""
        if not platform and "product" not in {e.field for e in r.errors}:
            r.error("platform", _m("无法确定接入平台（请填写接入平台或产品型号）",
                                   "platform missing (give 接入平台 or a product that names one)"))
    r.platform = platform
    if platform:
        want["platform"] = platform

    if given("device_type"):
        v = cells["device_type"]
        t = _device_type(v)
        if t is None:
            r.error("device_type", _m(f"未知设备类型“{v}”", f"unknown device type {v!r}"), v)
        else:
            want["device_type"] = t
            if product and product.device_type != t:
                r.warnings.append(_m(f"设备类型与产品型号（{TYPE_LABELS.get(product.device_type)}）不一致",
                                     f"device type differs from the product's ({product.device_type})"))
    for f in ("vendor", "address", "iccid"):
        if given(f):
            want[f] = "" if cleared(f) else cells[f]
    if given("iccid") and not cleared("iccid") and not re.fullmatch(r"[0-9]{18,20}[0-9A-Fa-f]?", cells["iccid"]):
        r.error("iccid", _m("ICCID 应为 19–20 位数字", "ICCID must be 19–20 digits"), cells["iccid"])
    if given("imei"):
        v = cells["imei"]
        if cleared("imei"):
            want["imei"] = ""
        elif not re.fullmatch(r"\d{15}", v):
            hint = "（Excel 科学计数法？请设为文本）" if re.search(r"[eE][+]", v) else ""
            r.error("imei", _m(f"IMEI 应为 15 位数字{hint}", "IMEI must be 15 digits"), v)
        else:
            want["imei"] = v

    _parse_coordinates(r, ref, cells, raw)

    if given("street"):
        if cleared("street"):
            want["street_code"] = None
        else:
            code = ref.street(cells["street"])
            if code is None:
                r.error("street", _m(f"未知街镇“{cells['street']}”", f"unknown street {cells['street']!r}"),
                        cells["street"])
            else:
                want["street_code"] = code
    if given("grid"):
        if cleared("grid"):
            want["grid_code"] = None
        else:
            v = cells["grid"]
            code = v if v in ref.grids else ref.grid_names.get(v)
            if code is None:
                r.error("grid", _m(f"未知网格“{v}”", f"unknown grid {v!r}"), v)
            else:
                want["grid_code"] = code
    if given("unit"):
        if cleared("unit"):
            want["unit_id"] = None
        else:
            uid, why = ref.unit(cells["unit"])
            if uid is None:
                msg = (_m(f"责任单位名称“{cells['unit']}”不唯一，请填写单位编码",
                          "unit name is ambiguous; use its code")
                       if why == "ambiguous" else
                       _m(f"未知责任单位“{cells['unit']}”", f"unknown responsible unit {cells['unit']!r}"))
                r.error("unit", msg, cells["unit"])
            else:
                want["unit_id"] = uid
    if given("install_date"):
        if cleared("install_date"):
            want["install_date"] = None
        else:
            try:
                d = _date(raw["install_date"])
                if not (date(1990, 1, 1) <= d <= date.today() + timedelta(days=366)):
                    raise ValueError(d)
                want["install_date"] = d
            except (ValueError, TypeError):
                r.error("install_date", _m("安装日期格式应为 YYYY-MM-DD", "install date must be YYYY-MM-DD"),
                        cells["install_date"])
    if given("status"):
        st = _status(cells["status"])
        if st is None:
            r.error("status", _m(f"未知状态“{cells['status']}”（可选：{'、'.join(LIFECYCLE_LABELS.values())}）",
                                 f"unknown status {cells['status']!r}; one of {', '.join(LIFECYCLE)}"),
                    cells["status"])
        else:
            want["status"] = st
    if given("report_interval_s"):
        if cleared("report_interval_s"):
            want["report_interval_s"] = None
        else:
            try:
                n = _int(raw["report_interval_s"])
                if not 10 <= n <= 7 * 86400:
                    raise ValueError(n)
                want["report_interval_s"] = n
            except (ValueError, TypeError):
                r.error("report_interval_s", _m("上报周期应为 10 至 604800 之间的整数秒",
                                                "report interval must be whole seconds between 10 and 604800"),
                        cells["report_interval_s"])
    if given("parent"):
        if cleared("parent"):
            want["parent_id"] = None
        else:
            r.parent_ref = cells["parent"]
    if given("tags"):
        if cleared("tags"):
            r.tags = []
        else:
            ids: list[int] = []
            for item in TAG_SPLIT.split(cells["tags"]):
                if not item.strip():
                    continue
                tid = ref.tag(item)
                if tid is None:
                    r.error("tags", _m(f"未知标签“{item.strip()}”", f"unknown tag {item.strip()!r}"), item)
                elif tid not in ids:
                    ids.append(tid)
            r.tags = sorted(ids, key=lambda i: (ref.tags[i].category, ref.tags[i].name))
    return r


def _device_type(v: str) -> str | None:
    if v in DEVICE_TYPES:
        return v
    for key, label in DEVICE_TYPES.items():
        if v == label or v in label.split("/") or v.casefold() == key.casefold():
            return key
    return None


def _status(v: str) -> str | None:
    for key, label in LIFECYCLE_LABELS.items():
        if v.casefold() == key or v == label:
            return key
    return {"在役": "active", "正常": "active", "退役": "retired", "维护": "maintenance", "维修中": "maintenance",
            "规划中": "planned", "待安装": "planned"}.get(v)


def _parse_coordinates(r: PlanRow, ref: _Reference, cells: dict[str, str], raw: dict[str, Any]) -> None:
    lon_s, lat_s = cells.get("lon", ""), cells.get("lat", "")
    if not lon_s and not lat_s:
        return
    if lon_s in CLEAR and lat_s in CLEAR:
        r.want["lon"] = r.want["lat"] = None
        return
    if not lon_s or not lat_s or lon_s in CLEAR or lat_s in CLEAR:
        r.error("lon,lat", _m("经度和纬度须同时填写", "give both longitude and latitude"), f"{lon_s},{lat_s}",
                f"{LABELS['lon']},{LABELS['lat']}")
        return
    try:
        lon, lat = float(raw["lon"] if isinstance(raw["lon"], int | float) else lon_s), \
            float(raw["lat"] if isinstance(raw["lat"], int | float) else lat_s)
    except ValueError:
        r.error("lon,lat", _m("经纬度应为数字（十进制度）", "longitude/latitude must be decimal degrees"),
                f"{lon_s},{lat_s}", f"{LABELS['lon']},{LABELS['lat']}")
        return
    value, column = f"{lon_s},{lat_s}", f"{LABELS['lon']},{LABELS['lat']}"
    if 73 <= lat <= 136 and 3 <= lon <= 54:
        r.error("lon,lat", _m("经纬度疑似填反（经度约 121.4，纬度约 31.2）",
                              "longitude and latitude look swapped (Changning: lon ≈ 121.4, lat ≈ 31.2)"),
                value, column)
        return
    bad = False
    if not -180 <= lon <= 180:
        r.error("lon", _m("经度超出 ±180 范围", "longitude out of range ±180"), lon_s)
        bad = True
    if not -90 <= lat <= 90:
        r.error("lat", _m("纬度超出 ±90 范围", "latitude out of range ±90"), lat_s)
        bad = True
    if bad:
        return
    if not (73 <= lon <= 136 and 3 <= lat <= 54):
        r.error("lon,lat", _m("坐标不在中国境内（应为 GCJ-02 经纬度）", "point is outside China (GCJ-02 expected)"),
                value, column)
        return
    r.want["lon"], r.want["lat"] = lon, lat


def _chunks(items: list, n: int = _IN_CHUNK) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _load_devices(session: Session, *, external_ids: Iterable[str] = (), codes: Iterable[str] = (),
                  ids: Iterable[int] = ()) -> list[Device]:
    """Stored devices in a few IN batches (with their tags), never one query per row."""
    out: dict[int, Device] = {}
    for column, values in ((Device.external_id, external_ids), (Device.code, codes), (Device.id, ids)):
        values = sorted({v for v in values if v not in (None, "")})
        for chunk in _chunks(values):
            for d in session.scalars(select(Device).where(column.in_(chunk)).options(selectinload(Device.tags))):
                out[d.id] = d
    return list(out.values())


def _display(ref: _Reference, fld: str, value: Any, codes: dict[int, str]) -> Any:
    if value is None:
        return ""
    if fld == "product_id":
        p = ref.products_by_id.get(value)
        return p.code if p else value
    if fld == "street_code":
        s = ref.streets.get(value)
        return f"{s.name}（{value}）" if s else value
    if fld == "unit_id":
        return ref.unit_label(value)
    if fld == "parent_id":
        return codes.get(value, value)
    if fld == "status":
        return LIFECYCLE_LABELS.get(value, value)
    if fld == "device_type":
        return TYPE_LABELS.get(value, value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def plan_import(session: Session, rows: Sheet | Iterable[dict[str, Any]]) -> ImportPlan:
    """The dry run (IOT-1, IOT-2): what each row would do, or why it cannot. Reads only."""
    sheet = rows if isinstance(rows, Sheet) else sheet_from_dicts(rows)
    ref = _Reference(session)
    prows = [_parse_row(ref, number, values) for number, values in sheet.rows]

    # Duplicates within the file: every occurrence is an error (which one is right is unknowable).
    by_key: dict[tuple[str, str], list[PlanRow]] = defaultdict(list)
    by_code: dict[str, list[PlanRow]] = defaultdict(list)
    for r in prows:
        if r.external_id and r.platform:
            by_key[(r.platform, r.external_id)].append(r)
        if r.code:
            by_code[r.code].append(r)
    for (platform, ext), group in by_key.items():
        if len(group) > 1:
            others = "、".join(str(g.row) for g in group)
            for r in group:
                r.error("external_id", _m(f"接入平台+平台设备ID 在文件中重复（第 {others} 行）",
                                          f"duplicate platform/external_id {platform}/{ext} in the file (rows "
                                          f"{others.replace('、', ', ')})"), ext)
    for code, group in by_code.items():
        if len(group) > 1:
            others = "、".join(str(g.row) for g in group)
            for r in group:
                r.error("code", _m(f"设备编号在文件中重复（第 {others} 行）",
                                   f"duplicate code {code} in the file (rows {others.replace('、', ', ')})"), code)

    # Stored devices the file names: by key, by code, and the parents it refers to.
    parent_keys = {r.parent_ref.split("/", 1)[1] for r in prows if "/" in r.parent_ref}
    devices = _load_devices(session, external_ids=[r.external_id for r in prows] + list(parent_keys),
                            codes=[r.code for r in prows] + [r.parent_ref for r in prows if r.parent_ref])
    stored_by_key = {(d.platform, d.external_id): d for d in devices}
    stored_by_code = {d.code: d for d in devices}
    stored_by_id = {d.id: d for d in devices}

    file_by_key = {k: g[0] for k, g in by_key.items() if len(g) == 1}
    file_by_code = {c: g[0] for c, g in by_code.items() if len(g) == 1}

    for r in prows:
        d = stored_by_key.get((r.platform, r.external_id)) if r.external_id else None
        if d is not None:
            r.device_id = d.id
            if r.code and r.code != d.code:
                r.error("code", _m(f"设备编号与系统中该设备的编号 {d.code} 不一致（编号不能通过导入修改）",
                                   f"code differs from the stored device's {d.code} (codes cannot be changed by "
                                   "import)"), r.code)
            r.code = d.code
        elif r.code and r.code in stored_by_code:
            other = stored_by_code[r.code]
            r.error("code", _m(f"设备编号已属于设备 {other.platform}/{other.external_id}"
                               "（接入平台+平台设备ID 不能通过导入修改）",
                               f"code belongs to device {other.platform}/{other.external_id} (platform/external_id "
                               "cannot be changed by import)"), r.code)
        if d is None:  # a new device needs what create_device needs
            if not r.want.get("name"):
                r.error("name", _m("新设备缺少设备名称", "a new device needs a name"))
            if "product_id" not in r.want and "product" not in {e.field for e in r.errors}:
                r.error("product", _m("新设备缺少产品型号", "a new device needs a product"))

    # Parents: a stored device (by code or platform/external_id) or a device created by another row.
    for r in prows:
        if not r.parent_ref:
            continue
        ref_ = r.parent_ref
        target_row: PlanRow | None = None
        target_dev: Device | None = None
        if ref_ in stored_by_code:
            target_dev = stored_by_code[ref_]
        elif ref_ in file_by_code:
            target_row = file_by_code[ref_]
        elif "/" in ref_:
            platform, ext = ref_.split("/", 1)
            platform = ref.platforms.get(platform.strip().casefold(), platform.strip())
            key = (platform, ext.strip())
            target_row = file_by_key.get(key)
            target_dev = stored_by_key.get(key)
        if target_row is not None and target_row.device_id is not None:
            target_dev, target_row = stored_by_id[target_row.device_id], None
        if target_dev is None and target_row is None:
            r.error("parent", _m(f"找不到上级设备“{ref_}”（填写设备编号或 接入平台/平台设备ID）",
                                 f"parent {ref_!r} not found (give its code or platform/external_id)"), ref_)
        elif target_row is r or (target_dev is not None and target_dev.id == r.device_id):
            r.error("parent", _m("设备不能是自己的上级设备", "a device cannot be its own parent"), ref_)
        elif target_dev is not None:
            r.want["parent_id"] = target_dev.id
        else:
            r.parent_row = target_row.row

    _check_cycles(session, prows, stored_by_id)
    # A row whose parent row fails fails too (repeat: failures cascade down a chain).
    by_row = {r.row: r for r in prows}
    changed = True
    while changed:
        changed = False
        for r in prows:
            if r.parent_row is not None and not r.errors and by_row[r.parent_row].errors:
                r.error("parent", _m(f"上级设备所在的第 {r.parent_row} 行有错误", f"the parent's row {r.parent_row} "
                                     "has errors"), r.parent_ref)
                changed = True

    # IMEI used by another device or row: a warning (metadata checks decide what to do, IOT-1).
    imeis: dict[str, PlanRow] = {}
    for r in prows:
        imei = r.want.get("imei")
        if imei and imei in imeis:
            r.warnings.append(_m(f"IMEI 与第 {imeis[imei].row} 行相同", f"same IMEI as row {imeis[imei].row}"))
        elif imei:
            imeis[imei] = r
    if imeis:
        for chunk in _chunks(sorted(imeis)):
            for dev_id, code, imei in session.execute(select(Device.id, Device.code, Device.imei)
                                                      .where(Device.imei.in_(chunk))):
                r = imeis[imei]
                if r.device_id != dev_id:
                    r.warnings.append(_m(f"IMEI 已被设备 {code} 使用", f"IMEI already used by device {code}"))

    codes = {d.id: d.code for d in devices}
    for r in prows:
        if r.errors:
            r.action = "error"
            continue
        if r.device_id is None:
            _plan_create(ref, r, codes)
        else:
            _plan_update(ref, r, stored_by_id[r.device_id], codes)
    return ImportPlan(rows=prows, columns=sheet.columns, ignored_columns=sheet.ignored, filename=sheet.filename,
                      fmt=sheet.fmt, header_row=sheet.header_row)


def _check_cycles(session: Session, prows: list[PlanRow], stored: dict[int, Device]) -> None:
    """No device may become its own ancestor, through stored parents or rows of the file.
    A node is ("dev", id) for a stored device (whether or not a row updates it) or
    ("row", n) for a device that row n creates."""
    row_of_device = {r.device_id: r for r in prows if r.device_id is not None}
    by_row = {r.row: r for r in prows}
    parent_cache = {i: d.parent_id for i, d in stored.items()}

    def stored_parent(dev_id: int) -> int | None:
        if dev_id not in parent_cache:
            parent_cache[dev_id] = session.scalar(select(Device.parent_id).where(Device.id == dev_id))
        return parent_cache[dev_id]

    def node_of(r: PlanRow) -> tuple[str, int]:
        return ("dev", r.device_id) if r.device_id is not None else ("row", r.row)

    def desired(r: PlanRow) -> tuple[str, int] | None:
        if r.parent_row is not None:
            return node_of(by_row[r.parent_row])
        if "parent_id" in r.want:
            return ("dev", r.want["parent_id"]) if r.want["parent_id"] is not None else None
        if r.device_id is not None:
            p = stored_parent(r.device_id)
            return ("dev", p) if p is not None else None
        return None

    def up(node: tuple[str, int]) -> tuple[str, int] | None:
        kind, ident = node
        if kind == "row":
            return desired(by_row[ident])
        if ident in row_of_device:
            return desired(row_of_device[ident])
        p = stored_parent(ident)
        return ("dev", p) if p is not None else None

    for r in prows:
        if r.parent_row is None and r.want.get("parent_id") is None:
            continue
        start = node_of(r)
        node, seen = desired(r), set()
        while node is not None and node not in seen and len(seen) < 1000:
            if node == start:
                r.error("parent", _m("上级设备关系形成环路", "the parent chain loops back to this device"),
                        r.parent_ref)
                break
            seen.add(node)
            node = up(node)


def _place(ref: _Reference, f: dict[str, Any]) -> Any:
    """Street and grid from the point, as the service does (IOT-1); returns the location."""
    if f.get("lon") is None or f.get("lat") is None:
        return None
    return ref.geo.locate(f["lon"], f["lat"])


def _street_checks(ref: _Reference, r: PlanRow, final: dict[str, Any], loc) -> None:
    grid = final.get("grid_code")
    if grid and final.get("street_code") and ref.grids[grid].street_code != final["street_code"]:
        r.error("grid", _m(f"网格 {grid} 不属于街镇 {ref.streets[final['street_code']].name}",
                           f"grid {grid} is not in street {final['street_code']}"), grid)
    if loc is not None:
        if loc.street_code is None:
            r.warnings.append(_m("坐标不在长宁区范围内", "the point lies outside Changning district"))
        elif final.get("street_code") and loc.street_code != final["street_code"]:
            r.warnings.append(_m(f"坐标位于{loc.street_name}，与所填街镇不一致",
                                 f"the point lies in {loc.street_code}, not in {final['street_code']}"))


def _plan_create(ref: _Reference, r: PlanRow, codes: dict[int, str]) -> None:
    f = dict(r.want)
    product = ref.products_by_id[f["product_id"]]
    f.setdefault("device_type", product.device_type)
    f.setdefault("vendor", product.vendor)
    if f.get("grid_code") and not f.get("street_code"):
        f["street_code"] = ref.grids[f["grid_code"]].street_code
    loc = _place(ref, f)
    if loc is not None:
        if not f.get("street_code"):
            f["street_code"] = loc.street_code
        if not f.get("grid_code") and f.get("street_code") == loc.street_code:
            f["grid_code"] = loc.grid_code
    _street_checks(ref, r, f, loc)
    if r.errors:
        r.action = "error"
        return
    r.fields = {k: v for k, v in f.items() if v is not None}
    r.action = "create"
    r.diff = [{"field": k, "label": FIELD_LABELS.get(k, k), "old": "", "new": _display(ref, k, v, codes)}
              for k, v in r.fields.items() if k != "platform"]
    if r.parent_row is not None:
        r.diff.append({"field": "parent_id", "label": FIELD_LABELS["parent_id"], "old": "",
                       "new": f"{r.parent_ref}（第 {r.parent_row} 行新建）"})
    if r.tags:
        r.tags_change = ([], [ref.tag_label(t) for t in r.tags])
        r.diff.append({"field": "tags", "label": LABELS["tags"], "old": "", "new": "、".join(r.tags_change[1])})


def _same(fld: str, old: Any, new: Any) -> bool:
    """Equal for the purpose of a diff: coordinates within 1e-9° (≈0.1 mm; Excel keeps ~15
    significant digits, so a round trip through .xlsx may drop the 17th)."""
    if fld in ("lon", "lat") and old is not None and new is not None:
        return abs(old - new) < 1e-9
    return old == new


def _plan_update(ref: _Reference, r: PlanRow, d: Device, codes: dict[int, str]) -> None:
    want = dict(r.want)
    want.pop("platform", None)  # part of the key
    grid_street = ref.grids[want["grid_code"]].street_code if want.get("grid_code") else None
    if grid_street and "street_code" not in want and grid_street != d.street_code:
        want["street_code"] = grid_street
    changes = {k: v for k, v in want.items() if not _same(k, getattr(d, k), v)}
    final = {k: getattr(d, k) for k in ("lon", "lat", "street_code", "grid_code")} | \
        {k: v for k, v in want.items() if k in ("lon", "lat", "street_code", "grid_code")}
    moved = "lon" in changes or "lat" in changes
    loc = _place(ref, final) if (moved or "street_code" in want) else None
    if moved and "street_code" not in want and loc is not None and loc.street_code \
            and loc.street_code != d.street_code:
        # update_device moves the street with the point; say so in the diff
        final["street_code"] = changes["street_code"] = loc.street_code
        if "grid_code" not in want:
            final["grid_code"] = loc.grid_code
    if final["street_code"] != d.street_code and "grid_code" not in want and final["grid_code"] \
            and ref.grids[final["grid_code"]].street_code != final["street_code"]:
        # the old grid belongs to the old street: take the point's grid if it is in the new street
        final["grid_code"] = loc.grid_code if loc is not None and loc.street_code == final["street_code"] else None
    if final["grid_code"] != d.grid_code:
        changes["grid_code"] = final["grid_code"]
    if moved:  # pass the street explicitly so the service does not second-guess the plan
        changes.setdefault("street_code", final["street_code"])
    _street_checks(ref, r, final, loc if (moved or "street_code" in changes) else None)
    if r.errors:
        r.action = "error"
        return
    if r.parent_row is not None:
        changes["parent_id"] = None  # filled with the new device's id at apply
    r.fields = changes
    current_tags = sorted(d.tags, key=lambda t: (t.category, t.name))
    if r.tags is not None and [t.id for t in current_tags] != r.tags:
        r.tags_change = ([ref.tag_label(t.id) for t in current_tags], [ref.tag_label(t) for t in r.tags])
    for k, v in changes.items():
        old = getattr(d, k)
        if k == "parent_id" and r.parent_row is not None:
            new = f"{r.parent_ref}（第 {r.parent_row} 行新建）"
        elif _same(k, old, v):
            continue
        else:
            new = _display(ref, k, v, codes)
        r.diff.append({"field": k, "label": FIELD_LABELS.get(k, k), "old": _display(ref, k, old, codes), "new": new})
    if r.tags_change:
        r.diff.append({"field": "tags", "label": LABELS["tags"], "old": "、".join(r.tags_change[0]),
                       "new": "、".join(r.tags_change[1])})
    r.action = "update" if r.diff else "unchanged"
    if r.action == "unchanged":
        r.fields = {}


# -- applying ----------------------------------------------------------------------------

def _depth(r: PlanRow, by_row: dict[int, PlanRow]) -> int:
    n, seen = 0, set()
    while r.parent_row is not None and r.row not in seen:
        seen.add(r.row)
        r = by_row[r.parent_row]
        n += 1
    return n


def _free_codes(session: Session, n: int, taken: set[str]) -> list[str]:
    """`n` device codes in the service's CN-IOT-###### series that no device and no row uses."""
    if n == 0:
        return []
    out: list[str] = []
    start = int(service.next_codes(session, 1)[0].rsplit("-", 1)[1])
    while len(out) < n:
        batch = [f"CN-IOT-{i:06d}" for i in range(start, start + (n - len(out)) + 50)]
        start += len(batch)
        used = set()
        for chunk in _chunks(batch):
            used |= set(session.scalars(select(Device.code).where(Device.code.in_(chunk))))
        out.extend(c for c in batch if c not in used and c not in taken)
    return out[:n]


def apply_import(session: Session, plan: ImportPlan, reason: str = "") -> dict[str, int]:
    """Write the plan's creates and updates through devices.service, source "import" (IOT-1,
    IOT-2): a DeviceVersion and audit entries per changed device; error rows are skipped.
    The caller's transaction commits (or rolls back) the lot."""
    reason = (reason or "").strip()[:200] or f"批量导入 {plan.filename}".strip()
    by_row = {r.row: r for r in plan.rows}
    todo = sorted((r for r in plan.rows if r.action in ("create", "update")), key=lambda r: _depth(r, by_row))
    counts = {"created": 0, "updated": 0, "unchanged": sum(1 for r in plan.rows if r.action == "unchanged"),
              "skipped": sum(1 for r in plan.rows if r.action == "error")}
    tags = {t.id: t for t in session.scalars(select(Tag))}
    stored = {d.id: d for d in _load_devices(session, ids=[r.device_id for r in todo if r.device_id]
                                             + [r.fields.get("parent_id") for r in todo if r.fields.get("parent_id")])}
    new_codes = iter(_free_codes(session, sum(1 for r in todo if r.action == "create" and not r.code),
                                 {r.code for r in plan.rows if r.code}))
    # The service validates with session.get(); keep the reference rows alive in the identity
    # map (it holds them weakly) so those are dictionary look-ups, not a SELECT per row.
    keep = [*session.scalars(select(Product)), *session.scalars(select(Street)), *session.scalars(select(Grid)),
            *session.scalars(select(ResponsibleUnit)), *tags.values(), *stored.values()]
    last_version: dict[int, DeviceVersion] = {}

    def _track(_session, instance) -> None:
        if isinstance(instance, DeviceVersion):
            last_version[instance.device_id] = instance
        elif isinstance(instance, Device) and instance.id is None:
            set_committed_value(instance, "tags", [])  # a new device has none: no lazy load for its snapshot

    event.listen(session, "transient_to_pending", _track)
    created: dict[int, Device] = {}
    touched: list[int] = []
    parents = {r.parent_row for r in todo if r.parent_row is not None}
    try:
        for r in todo:
            f = dict(r.fields)
            if r.parent_row is not None:
                f["parent_id"] = created[r.parent_row].id
            try:
                if r.action == "create":
                    d = service.create_device(session, name=f.pop("name"), product_id=f.pop("product_id"),
                                              external_id=r.external_id, platform=f.pop("platform", None),
                                              code=r.code or next(new_codes), reason=reason, source="import", **f)
                    if r.tags:
                        d.tags = [tags[t] for t in r.tags]
                        _amend(last_version[d.id], d, r.tags_change)
                    counts["created"] += 1
                    if r.row in parents:
                        created[r.row] = d
                else:
                    d = stored[r.device_id]
                    before = d.version
                    if r.tags_change:  # set first, so the service's version snapshot has them
                        d.tags = [tags[t] for t in r.tags]
                    if f:
                        service.update_device(session, d.id, reason=reason, source="import", **f)
                    if r.tags_change and d.version != before:
                        _amend(last_version[d.id], d, r.tags_change)
                    elif r.tags_change:  # only the tags changed: a version of its own, as tag_devices does
                        d.version += 1
                        session.flush()
                        service._version(session, d, {"tags": [r.tags_change[0], r.tags_change[1]]}, reason,
                                         "import")
                    counts["updated"] += 1
                last_version.pop(d.id, None)
                touched.append(d.id)
            except Exception as exc:
                detail = getattr(exc, "detail", "") or str(exc)
                raise Invalid(_m(f"第 {r.row} 行写入失败，整个导入已撤销：{detail}",
                                 f"row {r.row} failed, the whole import was rolled back: {detail}"),
                              row=r.row) from exc
        session.flush()
    finally:
        event.remove(session, "transient_to_pending", _track)
        del keep
    from cityops.devices.checks import check_devices

    check_devices(session, touched)  # IOT-1: metadata checks run on import
    audit.record(session, "import", "devices", plan.filename or "", after={**counts, "reason": reason,
                                                                          "rows": len(plan.rows)})
    return counts


def _amend(version: DeviceVersion, device: Device, tags_change) -> None:
    """Fold the row's tag change into the version the service just wrote (one version per row)."""
    version.changes = {**version.changes, "tags": [tags_change[0] or None, tags_change[1]]}
    version.snapshot = {**version.snapshot, "tags": sorted(f"{t.category}:{t.name}" for t in device.tags)}


# -- export ------------------------------------------------------------------------------

class _ExportRef:
    def __init__(self, session: Session):
        self.products = dict(session.execute(select(Product.id, Product.code)).all())
        self.streets = dict(session.execute(select(Street.code, Street.name)).all())
        units = session.execute(select(ResponsibleUnit.id, ResponsibleUnit.code, ResponsibleUnit.name)).all()
        names = defaultdict(int)
        for _, _, name in units:
            names[name] += 1
        self.units = {i: (name if names[name] == 1 else code) for i, code, name in units}


_EXPORT_COLS = (Device.id, Device.code, Device.name, Device.product_id, Device.device_type, Device.vendor,
                Device.platform, Device.external_id, Device.imei, Device.iccid, Device.address, Device.lon, Device.lat,
                Device.street_code, Device.grid_code, Device.unit_id, Device.install_date, Device.status,
                Device.parent_id, Device.report_interval_s)


def iter_rows(session: Session, **filters: Any) -> Iterator[list[Any]]:
    """Export rows (typed values) in `EXPORT_BATCH` keyset pages, ordered by code; only plain
    columns are read, so memory stays flat however many devices match (IOT-1)."""
    ref = _ExportRef(session)
    base = service.device_query(**filters).with_only_columns(*_EXPORT_COLS).order_by(Device.code)
    last = None
    while True:
        stmt = base if last is None else base.where(Device.code > last)
        batch = session.execute(stmt.limit(EXPORT_BATCH)).all()
        if not batch:
            return
        ids = [b.id for b in batch]
        tag_map: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for chunk in _chunks(ids):
            for dev_id, cat, name in session.execute(
                    select(device_tags.c.device_id, Tag.category, Tag.name)
                    .join(Tag, Tag.id == device_tags.c.tag_id).where(device_tags.c.device_id.in_(chunk))):
                tag_map[dev_id].append((cat, name))
        parent_ids = sorted({b.parent_id for b in batch if b.parent_id})
        parents: dict[int, str] = {}
        for chunk in _chunks(parent_ids):
            parents.update(session.execute(select(Device.id, Device.code).where(Device.id.in_(chunk))).all())
        for b in batch:
            tags = sorted(tag_map.get(b.id, []))
            yield [b.code, b.name, ref.products.get(b.product_id, ""), TYPE_LABELS.get(b.device_type, b.device_type),
                   b.vendor, b.platform, b.external_id, b.imei, b.iccid, b.address, b.lon, b.lat,
                   ref.streets.get(b.street_code, b.street_code or ""), b.grid_code or "",
                   ref.units.get(b.unit_id, "") if b.unit_id else "", b.install_date,
                   LIFECYCLE_LABELS.get(b.status, b.status), parents.get(b.parent_id, "") if b.parent_id else "",
                   b.report_interval_s,
                   "、".join(n if c == "scenario" else f"{TAG_CATEGORIES.get(c, c)}:{n}" for c, n in tags)]
        last = batch[-1].code
        if len(batch) < EXPORT_BATCH:
            return


_TEXT_DIGITS = {COLUMNS.index(c) for c in COLUMNS if c.field in ("external_id", "imei", "iccid")}


def _csv_cell(i: int, v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    if i in _TEXT_DIGITS and isinstance(v, str) and len(v) >= 11 and v.isdigit():
        return "\t" + v  # a leading tab keeps Excel from turning a long number into 8.6E+14 (stripped on import)
    return v


def iter_csv(session: Session, **filters: Any) -> Iterator[bytes]:
    """UTF-8 CSV with a BOM (so Excel opens it as UTF-8), one chunk per batch."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([c.header for c in COLUMNS])
    yield ("\ufeff" + buf.getvalue()).encode("utf-8")
    buf.seek(0)
    buf.truncate()
    for n, row in enumerate(iter_rows(session, **filters), start=1):
        w.writerow([_csv_cell(i, v) for i, v in enumerate(row)])
        if n % 500 == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode("utf-8")


def write_xlsx(session: Session, out: IO[bytes], **filters: Any) -> int:
    """An XLSX workbook in openpyxl's write-only mode (rows go to a temporary file as they
    come, not into memory); returns the number of devices written."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("设备台账")
    widths = {"code": 16, "name": 28, "product": 16, "external_id": 24, "imei": 18, "iccid": 22, "address": 36,
              "street": 12, "grid": 14, "unit": 22, "install_date": 12, "parent": 16, "tags": 28}
    for i, c in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = widths.get(c.field, 11)
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for c in COLUMNS:
        cell = WriteOnlyCell(ws, value=c.header)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    date_col = [c.field for c in COLUMNS].index("install_date")
    n = 0
    for row in iter_rows(session, **filters):
        if row[date_col] is not None:
            cell = WriteOnlyCell(ws, value=row[date_col])
            cell.number_format = "yyyy-mm-dd"
            row[date_col] = cell
        ws.append(row)
        n += 1
    wb.save(out)
    return n


def export_devices(session: Session, fmt: str = "csv", **filters: Any) -> bytes:
    """The devices matching `filters` (those of `service.device_query`) as CSV or XLSX bytes
    (IOT-1). For very large exports stream `iter_csv` / `write_xlsx` to a file instead."""
    if fmt not in FORMATS:
        raise Invalid(_m(f"不支持的格式“{fmt}”", f"unknown format {fmt!r}; one of {', '.join(FORMATS)}"))
    if fmt == "csv":
        return b"".join(iter_csv(session, **filters))
    buf = io.BytesIO()
    write_xlsx(session, buf, **filters)
    return buf.getvalue()
