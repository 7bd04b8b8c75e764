"""Upstream device lists (IOT-4 设备升级维护): reading a vendor/carrier platform's devices and models.

A `DeviceListSource` adapter reads the upstream platform and returns plain
`UpstreamDevice` / `UpstreamProduct` records; `devices.sync` compares them with the
registry. Adapters never touch the database.

`http_json` reads a paged JSON HTTP API::

    GET {base_url}{devices_path}?page=1&size=100      Authorization: Bearer <token>
    → {"code": 0, "result": {"total": 2, "list": [{"deviceId": "…", "deviceName": "…", …}, …]}}

The field mapping says which upstream field (a dotted path) holds each of our fields;
every other top-level field of a record becomes the device's `extra` metadata (minus the
`ignore_fields`, which by default drop the usual runtime fields such as last-online times,
so that they do not show up as metadata changes on every pull).

Errors: timeouts, connection failures, HTTP 5xx and 429 are retried with exponential
backoff (`retries`, `backoff_s`); anything else (401/403, 404, a vendor error code, a body
that is not the expected JSON, a record without an id, a list that changed while it was
being paged through) raises `UpstreamError` at once with a message that says what to fix.
An adapter returns the complete list or raises: a partial list would look like removed
devices.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from cityops import __version__

DEVICE_FIELDS = ("external_id", "name", "product_key", "model", "imei", "address", "lon", "lat", "status")
PRODUCT_FIELDS = ("product_key", "name", "model", "properties", "property_identifier", "property_name",
                  "property_type", "property_unit")
DEFAULT_MAPPING = {"external_id": "deviceId", "name": "deviceName", "product_key": "productKey", "model": "model",
                   "imei": "imei", "address": "address", "lon": "longitude", "lat": "latitude", "status": "status"}
DEFAULT_PRODUCT_MAPPING = {"product_key": "productKey", "name": "productName", "model": "model",
                           "properties": "properties", "property_identifier": "identifier", "property_name": "name",
                           "property_type": "dataType", "property_unit": "unit"}
# Runtime state that vendor lists carry beside the metadata; it changes all the time.
DEFAULT_IGNORE = ["online", "onlineStatus", "online_status", "lastOnlineTime", "lastOfflineTime", "lastActiveTime",
                  "lastReportTime", "lastHeartbeat", "activeTime", "updateTime", "updatedAt", "gmtModified",
                  "rssi", "rsrp", "snr", "signal", "battery"]


class UpstreamError(Exception):
    """The upstream list could not be read. `status` is the upstream HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status


class Fetched(list):
    """A list of records with the adapter's warnings (e.g. a configured field that no record has)."""

    def __init__(self, items=(), warnings: list[str] | None = None):
        super().__init__(items)
        self.warnings = list(warnings or [])


@dataclass
class UpstreamDevice:
    """One device as the upstream platform lists it. `lon`/`lat` are GCJ-02 (converted by the
    adapter); `extra` is None when the source does not manage extra metadata; `status` is
    the upstream's own status word (the sync maps it to our lifecycle)."""

    external_id: str
    name: str = ""
    product_key: str = ""
    model: str = ""
    imei: str = ""
    address: str = ""
    lon: float | None = None
    lat: float | None = None
    extra: dict[str, Any] | None = field(default_factory=dict)
    status: str = ""


@dataclass
class UpstreamProduct:
    """One device model; `properties` are [{"identifier", "name", ("type", "unit")}]."""

    product_key: str
    name: str = ""
    model: str = ""
    properties: list[dict[str, Any]] = field(default_factory=list)


class DeviceListSource(Protocol):
    kind: ClassVar[str]
    label: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]  # secrets as SecretStr (the sync source stores them apart)

    def fetch(self, settings: Any) -> list[UpstreamDevice]:
        """Every device the upstream lists, or UpstreamError."""
        ...

    def fetch_products(self, settings: Any) -> list[UpstreamProduct]:
        """Every model the upstream lists ([] when the source has no product list), or UpstreamError."""
        ...


# -- http_json ---------------------------------------------------------------------------------

class HttpJsonSettings(BaseModel):
    """Settings of the `http_json` source. Paths in `items_field`, `total_field` and the
    mappings are dotted (e.g. "result.list", "location.lng")."""

    base_url: str
    token: SecretStr | None = None  # sent as "Authorization: Bearer …"
    devices_path: str = "/devices"
    products_path: str = "/products"  # "" when the platform has no product list
    page_param: str = "page"
    size_param: str = "size"
    first_page: int = Field(1, ge=0, le=1)
    page_size: int = Field(100, ge=1, le=1000)
    max_pages: int = Field(1000, ge=1, le=100_000)
    query: dict[str, str] = Field(default_factory=dict)  # extra query parameters (tenant, product filter …)
    items_field: str = "items"  # "" when the body itself is the list
    total_field: str = "total"  # "" when the platform gives no total (paging stops at a short page)
    code_field: str = ""  # e.g. "code": the body carries a vendor status code …
    ok_codes: list[Any] = Field(default_factory=lambda: [0, "0", 200, "200", "success", "SUCCESS"])
    message_field: str = "msg"  # … and this message when it is not OK
    timeout_s: float = Field(10.0, gt=0, le=300)
    retries: int = Field(3, ge=0, le=10)
    backoff_s: float = Field(0.5, ge=0, le=60)
    verify_tls: bool = True
    mapping: dict[str, str] = Field(default_factory=dict)  # our field → upstream path; merged over the defaults
    product_mapping: dict[str, str] = Field(default_factory=dict)
    extra_fields: list[str] | None = None  # None: every unmapped field; []: extra metadata is not synced
    ignore_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE))
    coord_system: Literal["gcj02", "wgs84", "bd09"] = "gcj02"

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")) or len(value) < 10:
            raise ValueError("base_url 必须是 http:// 或 https:// 开头的网址")
        return value

    @field_validator("devices_path", "products_path")
    @classmethod
    def _path(cls, value: str) -> str:
        value = value.strip()
        return "/" + value.lstrip("/") if value else ""

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(DEVICE_FIELDS)
        if unknown:
            raise ValueError(f"未知的映射字段 {sorted(unknown)}；可用字段：{'、'.join(DEVICE_FIELDS)}")
        return value

    @field_validator("product_mapping")
    @classmethod
    def _product_mapping(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(PRODUCT_FIELDS)
        if unknown:
            raise ValueError(f"未知的映射字段 {sorted(unknown)}；可用字段：{'、'.join(PRODUCT_FIELDS)}")
        return value

    def device_map(self) -> dict[str, str]:
        return {**DEFAULT_MAPPING, **self.mapping}

    def product_map(self) -> dict[str, str]:
        return {**DEFAULT_PRODUCT_MAPPING, **self.product_mapping}


_MISSING = object()


def dig(record: Any, path: str, default: Any = None) -> Any:
    """The value at a dotted path of nested dicts, or `default`."""
    if not path:
        return record
    node = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Baidu BD-09 → GCJ-02 (the published inverse of Baidu's offset)."""
    x_pi = math.pi * 3000.0 / 180.0
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * x_pi)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * x_pi)
    return z * math.cos(theta), z * math.sin(theta)


def to_gcj02(lon: float, lat: float, system: str) -> tuple[float, float]:
    if system == "wgs84":
        from cityops.geo.coords import wgs84_to_gcj02

        lon, lat = wgs84_to_gcj02(lon, lat)
    elif system == "bd09":
        lon, lat = bd09_to_gcj02(lon, lat)
    return round(float(lon), 7), round(float(lat), 7)


class HttpJsonSource:
    """A paged JSON HTTP API with bearer-token auth (see the module docstring)."""

    kind: ClassVar[str] = "http_json"
    label: ClassVar[str] = "JSON HTTP 设备清单接口"
    Settings: ClassVar[type[BaseModel]] = HttpJsonSettings

    def __init__(self, transport: httpx.BaseTransport | None = None, sleep=time.sleep):
        self._transport = transport
        self._sleep = sleep

    # -- HTTP --

    def _client(self, s: HttpJsonSettings) -> httpx.Client:
        headers = {"Accept": "application/json", "User-Agent": f"cityops-sync/{__version__}"}
        if s.token is not None and s.token.get_secret_value():
            headers["Authorization"] = f"Bearer {s.token.get_secret_value()}"
        return httpx.Client(timeout=httpx.Timeout(s.timeout_s), headers=headers, verify=s.verify_tls,
                            transport=self._transport, follow_redirects=False)

    def _get(self, client: httpx.Client, s: HttpJsonSettings, url: str, params: dict[str, Any]) -> Any:
        attempts = s.retries + 1
        last = ""
        for attempt in range(attempts):
            if attempt:
                self._sleep(min(s.backoff_s * 2 ** (attempt - 1), 30.0))
            try:
                r = client.get(url, params=params)
            except httpx.TimeoutException:
                last = f"{s.timeout_s:g} 秒内无应答"
                continue
            except httpx.TransportError as exc:
                last = f"无法连接（{type(exc).__name__}: {exc}）"
                continue
            if r.status_code >= 500 or r.status_code == 429:
                last = f"HTTP {r.status_code}"
                retry_after = _number(r.headers.get("retry-after"))
                if r.status_code == 429 and retry_after and attempt + 1 < attempts:
                    self._sleep(min(retry_after, 30.0))
                continue
            if r.status_code in (401, 403):
                raise UpstreamError(f"{url} 拒绝了访问凭据（HTTP {r.status_code}）；请检查 API 令牌（token）",
                                    r.status_code)
            if r.status_code == 404:
                raise UpstreamError(f"{url} 不存在（HTTP 404）；请检查 base_url 和路径", 404)
            if r.status_code != 200:
                raise UpstreamError(f"{url} 返回 HTTP {r.status_code}：{r.text[:200]}", r.status_code)
            try:
                body = r.json()
            except ValueError:
                raise UpstreamError(f"{url} 返回的不是 JSON（content-type "
                                    f"{r.headers.get('content-type', '?')!r}）：{r.text[:120]!r}") from None
            if s.code_field:
                code = dig(body, s.code_field, _MISSING)
                if code is not _MISSING and code not in s.ok_codes:
                    raise UpstreamError(f"{url}：平台返回错误 {code!r}："
                                        f"{dig(body, s.message_field, '') or '无错误说明'}")
            return body
        raise UpstreamError(f"{url} 尝试 {attempts} 次后仍失败：{last}")

    def _pages(self, s: HttpJsonSettings, path: str, what: str) -> list[dict[str, Any]]:
        """Every record of a paged list; raises when the list changed while it was read."""
        url = s.base_url + path
        records: list[dict[str, Any]] = []
        total: int | None = None
        with self._client(s) as client:
            for n in range(s.max_pages):
                page = s.first_page + n
                params = {**s.query, s.page_param: page, s.size_param: s.page_size}
                body = self._get(client, s, url, params)
                items = dig(body, s.items_field, _MISSING) if s.items_field else body
                if items is _MISSING or items is None:
                    items = []  # some platforms drop the list on an empty page
                if not isinstance(items, list):
                    raise UpstreamError(f"{url}：{s.items_field or '响应体'} 不是{what}列表；"
                                        "请检查 items_field")
                for i, item in enumerate(items):
                    if not isinstance(item, dict):
                        raise UpstreamError(f"{url} 第 {page} 页：第 {i + 1} 项不是 JSON 对象")
                records.extend(items)
                if s.total_field:
                    raw_total = dig(body, s.total_field, None)
                    page_total = _number(raw_total)
                    if page_total is None:
                        raise UpstreamError(f"{url}：{s.total_field!r} 处没有数字；请设置 total_field"
                                            "（平台不提供总数时设为 \"\"）")
                    if total is not None and int(page_total) != total:
                        raise UpstreamError(f"{url}：读取期间{what}列表发生了变化（总数 {total} → "
                                            f"{int(page_total)}）；下次运行时将重新读取")
                    total = int(page_total)
                    if len(records) >= total or not items:
                        break
                elif len(items) < s.page_size:
                    break
            else:
                raise UpstreamError(f"{url}：{what}超过 {s.max_pages} 页；请调大 max_pages 或 page_size")
        if total is not None and len(records) != total:
            raise UpstreamError(f"{url}：读取到 {len(records)} 条{what}，但平台给出的总数为 {total}；"
                                "列表在读取期间发生了变化，或分页设置有误")
        return records

    # -- records --

    def _device(self, s: HttpJsonSettings, m: dict[str, str], record: dict[str, Any], i: int) -> UpstreamDevice:
        def get(key: str) -> Any:
            return dig(record, m[key]) if m.get(key) else None

        external_id = _text(get("external_id"))
        if not external_id:
            raise UpstreamError(f"第 {i + 1} 条设备记录没有 {m.get('external_id')!r} 字段（映射 external_id）；"
                                f"该记录的字段：{', '.join(sorted(record))[:200]}")
        lon, lat = _number(get("lon")), _number(get("lat"))
        if lon is None or lat is None or (lon == 0 and lat == 0):
            lon = lat = None
        else:
            lon, lat = to_gcj02(lon, lat, s.coord_system)
        extra: dict[str, Any] | None
        if s.extra_fields is None:
            used = {path.split(".")[0] for path in m.values() if path}
            extra = {k: v for k, v in record.items() if k not in used and k not in s.ignore_fields}
        elif s.extra_fields:
            extra = {}
            for path in s.extra_fields:
                value = dig(record, path, _MISSING)
                if value is not _MISSING:
                    extra[path] = value
        else:
            extra = None
        return UpstreamDevice(external_id=external_id, name=_text(get("name")), product_key=_text(get("product_key")),
                              model=_text(get("model")), imei=_text(get("imei")), address=_text(get("address")),
                              lon=lon, lat=lat, extra=extra, status=_text(get("status")))

    def fetch(self, settings: HttpJsonSettings) -> list[UpstreamDevice]:
        m = settings.device_map()
        out, seen = [], set()
        records = self._pages(settings, settings.devices_path, "设备")
        for i, record in enumerate(records):
            d = self._device(settings, m, record, i)
            if d.external_id in seen:
                raise UpstreamError(f"设备 {d.external_id!r} 出现了两次；列表在读取期间发生了变化，"
                                    "或分页设置有误（请检查 page_param/first_page）")
            seen.add(d.external_id)
            out.append(d)
        warnings = []
        if records:  # a field someone mapped on purpose that no record has any more was likely renamed
            for ours, path in sorted(settings.mapping.items()):
                if path and ours != "external_id" and all(dig(r, path, _MISSING) is _MISSING for r in records):
                    warnings.append(f"上游记录中已没有映射字段 {path}（{ours}），可能已被改名；请检查字段映射")
        return Fetched(out, warnings)

    def fetch_products(self, settings: HttpJsonSettings) -> list[UpstreamProduct]:
        if not settings.products_path:
            return []
        m = settings.product_map()
        out: dict[str, UpstreamProduct] = {}
        for i, record in enumerate(self._pages(settings, settings.products_path, "产品型号")):
            key = _text(dig(record, m["product_key"]))
            if not key:
                raise UpstreamError(f"第 {i + 1} 条型号记录没有 {m['product_key']!r} 字段"
                                    "（product_mapping 的 product_key）")
            props = []
            raw_props = dig(record, m["properties"]) if m.get("properties") else None
            for p in raw_props if isinstance(raw_props, list) else []:
                if not isinstance(p, dict):
                    continue
                ident = _text(dig(p, m["property_identifier"]))
                if not ident:
                    continue
                prop = {"identifier": ident, "name": _text(dig(p, m["property_name"])) if m.get("property_name")
                        else ""}
                for ours in ("type", "unit"):
                    value = _text(dig(p, m.get(f"property_{ours}", ""))) if m.get(f"property_{ours}") else ""
                    if value:
                        prop[ours] = value
                props.append(prop)
            out[key] = UpstreamProduct(product_key=key, name=_text(dig(record, m["name"])) if m.get("name") else "",
                                       model=_text(dig(record, m["model"])) if m.get("model") else "",
                                       properties=props)
        return list(out.values())


SOURCES: dict[str, DeviceListSource] = {HttpJsonSource.kind: HttpJsonSource()}


def kinds() -> list[str]:
    return sorted(SOURCES)


def get(kind: str) -> DeviceListSource:
    try:
        return SOURCES[kind]
    except KeyError:
        raise KeyError(f"unknown device-list adapter {kind!r}; adapters: {', '.join(kinds())}") from None


def describe_errors(exc: ValidationError) -> str:
    """Every problem of a settings validation in one line ("field: message; …")."""
    def msg(e: Any) -> str:
        text = e["msg"]
        return text.removeprefix("Value error, ") if e.get("type") == "value_error" else text

    return "；".join(f"{'.'.join(str(x) for x in e['loc']) or 'settings'}：{msg(e)}" for e in exc.errors())


def parse_settings(kind: str, settings: dict[str, Any]) -> BaseModel:
    """The adapter's settings model, or ValueError with every problem in one message."""
    try:
        return get(kind).Settings.model_validate(settings or {})
    except ValidationError as exc:
        raise ValueError(f"{kind} 设置有误：{describe_errors(exc)}") from exc
