"""The simulated device fleet of Changning (IOT-2): what is installed where, and its registration.

`plan_fleet(seed, size)` is pure and deterministic (`random.Random(seed)`, no database): a few
thousand devices over the district's 10 streets, with the reference products' shares of a real
deployment — many NB-IoT smoke detectors and manhole covers, fewer hydrants, gas and
electrical-fire detectors, ~150 cameras behind ~10 NVRs (parent topology), traffic counters
behind an edge gateway at main crossroads, civil-defence works sensors, noise meters around
龙之梦. Points are sampled inside the street polygons (GCJ-02; the approximate partition of
`cityops.geo.partition`, the same one the geo seed stores), addresses use the gazetteer's roads
of the device's own street, so the IOT-1 metadata checks find nothing to correct. External ids
follow each vendor's style; NB-IoT devices carry an IMEI (15 digits, valid Luhn) and an ICCID.

About 1 % of the fleet is left unregistered on purpose (their reports show up as "pending
onboarding") and about 0.5 % sends a malformed push now and then (dead letters have content).

`register_fleet(db, fleet)` creates one connection per platform (reused by name) and registers
the devices in one transaction with one version each (idempotent: skips (platform, external_id)
pairs that exist), tagged with their application scenarios.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select

from cityops.audit.context import acting_as, current_actor
from cityops.core.db import Database
from cityops.core.errors import Invalid
from cityops.devices import service as devices
from cityops.devices.models import DEVICE_TYPES, Device, DeviceVersion, Product, Tag
from cityops.devices.seed import PRODUCTS
from cityops.geo import lookup, partition, reference
from cityops.geo.models import ResponsibleUnit
from cityops.ingest import service as ingest
from cityops.ingest.models import Connection

log = logging.getLogger(__name__)

LONGZHIMENG = (121.417, 31.219)  # 长宁龙之梦购物中心, 长宁路1018号 (GCJ-02)
LONGZHIMENG_TAG_RADIUS_M = 500.0
MIN_SPACING_M = 6.0  # same-type devices never closer (the metadata checks flag < 3 m as duplicates)

# Rough resident shares used to spread devices over the streets (not statistics): denser
# old neighbourhoods get more devices per km² than the airport side of 新泾镇/程家桥.
STREET_WEIGHTS = {
    "310105001": 6.5,  # 华阳路街道
    "310105002": 4.5,  # 江苏路街道
    "310105004": 6.5,  # 新华路街道
    "310105005": 7.5,  # 周家桥街道
    "310105006": 8.5,  # 天山路街道
    "310105008": 9.0,  # 仙霞新村街道
    "310105009": 7.5,  # 虹桥街道
    "310105010": 3.5,  # 程家桥街道
    "310105011": 7.0,  # 北新泾街道
    "310105102": 12.0,  # 新泾镇
}

# Share of the fleet (after cameras/NVRs and crossroads equipment) per product.
SHARES = {
    "SMOKE-NB-CTW": 40.0,
    "MANHOLE-NB-CTW": 22.0,
    "BIN-ALIYUN": 8.0,
    "WATER-ONENET": 4.0,
    "GAS-ONENET": 4.0,
    "ELEC-IOTDA": 4.0,
    "HYDRANT-IOTDA": 4.0,
    "CIVIL-STUDIO": 2.5,
    "NOISE-ALIYUN": 1.5,
}
CAMERA_SHARE = 0.05
CAMERAS_PER_NVR = 15
CROSSROADS_SHARE = 0.007  # crossroads with a gateway and 2–4 counters, per fleet device

SCENARIO_BY_TYPE = {
    "water_level": "防汛",
    "smoke": "消防",
    "hydrant": "消防",
    "electrical_fire": "消防",
    "gas": "燃气安全",
    "civil_defence": "民防",
    "garbage_bin": "市容",
    "traffic_counter": "交通",
    "noise": "环境",
}
LONGZHIMENG_TAG = "龙之梦"

# Who answers for a device type: a department code, or None for the street office.
UNIT_BY_TYPE = {
    "smoke": None,
    "manhole": "DEPT-JGW",
    "water_level": "DEPT-SW",
    "gas": "DEPT-YJGL",
    "electrical_fire": "DEPT-XF",
    "hydrant": "DEPT-XF",
    "garbage_bin": "DEPT-LHSR",
    "noise": "DEPT-STHJ",
    "traffic_counter": "DEPT-GA",
    "gateway": "DEPT-JGW",
    "civil_defence": "DEPT-MF",
    "camera": "DEPT-GA",
    "nvr": "DEPT-GA",
}

CONNECTION_NAMES = {
    "ctwing": "模拟-中国电信CTWing",
    "onenet": "模拟-中国移动OneNET",
    "onenet_studio": "模拟-中国移动OneNET Studio",
    "iotda": "模拟-华为云IoTDA",
    "aliyun": "模拟-阿里云IoT",
    "hikvision": "模拟-海康威视报警推送",
    "mqtt_json": "模拟-MQTT设备接入",
}
PLATFORMS = tuple(CONNECTION_NAMES)
HTTP_PLATFORMS = tuple(p for p in PLATFORMS if p != "mqtt_json")
CTWING_TENANT = "2000172"
NB_TACS = ("86475104", "86706205", "86888103", "86916104")  # NB-IoT module type allocation codes
ICCID_PREFIX = {"ctwing": "898611", "iotda": "898611", "onenet": "898604"}  # telecom / mobile issuers
HIK_OUIS = ("44:19:b6", "c0:56:e3", "bc:ad:28", "28:57:be")
DIRECTIONS = (("东", "e"), ("南", "s"), ("西", "w"), ("北", "n"))


@dataclass(frozen=True)
class SimDevice:
    """One simulated device: its identity on its platform, where it is and what it is.

    `wire` holds the platform identity the wire builders need (productId, dev_id, pk/dn,
    ip/channel, MQTT product/device …)."""

    key: str  # stable within a plan: "sim-00042"
    product_code: str
    device_type: str
    platform: str
    product_key: str  # the vendor's productId / productKey
    external_id: str  # what the connector reports as external_id
    name: str
    address: str
    lon: float
    lat: float
    street_code: str
    unit_code: str
    install_date: date
    imei: str = ""
    iccid: str = ""
    parent_key: str | None = None
    tags: tuple[str, ...] = ()
    registered: bool = True
    malformed: bool = False  # sends a malformed push now and then
    wire: dict[str, Any] = field(default_factory=dict)


# -- helpers ---------------------------------------------------------------------------------

def luhn_digit(body: str) -> str:
    """The Luhn check digit for a string of digits (IMEI, ICCID)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will sit to the right of this one
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_digit(number[:-1]) == number[-1]


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance in metres (equirectangular; good enough within the district)."""
    dx = (lon2 - lon1) * partition.KM_PER_DEG_LON * 1000
    dy = (lat2 - lat1) * partition.KM_PER_DEG_LAT * 1000
    return math.hypot(dx, dy)


@dataclass(frozen=True)
class StreetArea:
    code: str
    name: str
    geom: BaseGeometry
    roads: tuple[str, ...]
    areas: tuple[str, ...]  # residential estates (新村) usable in addresses
    crossings: tuple[tuple[str, str], ...]  # road pairs both listed for the street


@lru_cache
def street_areas() -> tuple[StreetArea, ...]:
    """The 10 streets with the approximate polygons the geo seed stores and the gazetteer's
    road and estate names for each."""
    from cityops.devices.gazetteer_seed import entries

    specs = reference.streets_file()["streets"]
    cells = partition.partition_streets(reference.district_outline(), [tuple(s["approx_point"]) for s in specs])
    names: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in entries():
        for street_name in e["streets"]:
            names[street_name][e.get("kind", "road")].append(e["name"])
    out = []
    for spec, cell in zip(specs, cells, strict=True):
        shapely.prepare(cell)
        roads = tuple(r for r in names[spec["name"]]["road"] if r.endswith(("路", "道")))
        crossings = tuple((a, b) for i, a in enumerate(roads) for b in roads[i + 1:])
        estates = tuple(a for a in names[spec["name"]]["area"] if a.endswith("村"))  # 天山新村, 新泾一村 …
        out.append(StreetArea(spec["code"], spec["name"], cell, roads, estates, crossings))
    return tuple(out)


def _crossing(a: str, b: str) -> str:
    """"长宁路" + "凯旋路" → "长宁路凯旋路口"."""
    return f"{a}{b}口"


class _Planner:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.streets = street_areas()
        self.by_code = {s.code: s for s in self.streets}
        self.devices: list[SimDevice] = []
        self.used_ids: set[str] = set()
        self.used_imeis: set[str] = set()
        self._cells: dict[str, dict[tuple[int, int], list[tuple[float, float]]]] = defaultdict(dict)

    # identities
    def unique(self, make) -> str:
        for _ in range(1000):
            value = make()
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value
        raise RuntimeError("could not draw a unique id")

    def imei(self) -> str:
        while True:
            body = self.rng.choice(NB_TACS) + f"{self.rng.randrange(10**6):06d}"
            imei = body + luhn_digit(body)
            if imei not in self.used_imeis:
                self.used_imeis.add(imei)
                return imei

    def iccid(self, platform: str) -> str:
        body = ICCID_PREFIX.get(platform, "898600") + f"{self.rng.randrange(10**13):013d}"
        return body + luhn_digit(body)

    # places
    def street(self) -> StreetArea:
        return self.rng.choices(self.streets, weights=[STREET_WEIGHTS.get(s.code, 5.0) for s in self.streets])[0]

    def _free(self, kind: str, x: float, y: float) -> bool:
        cells = self._cells[kind]
        cx, cy = int(x * 2000), int(y * 2000)  # ~50 m cells
        for i in (-1, 0, 1):
            for j in (-1, 0, 1):
                for px, py in cells.get((cx + i, cy + j), ()):
                    if metres(x, y, px, py) < MIN_SPACING_M:
                        return False
        return True

    def _take(self, kind: str, x: float, y: float) -> None:
        self._cells[kind].setdefault((int(x * 2000), int(y * 2000)), []).append((x, y))

    def point(self, street: StreetArea, kind: str, near: tuple[float, float] | None = None,
              radius_m: float = 0.0) -> tuple[float, float]:
        """A point inside the street (near a centre when given), at least MIN_SPACING_M from
        every other device of the same kind."""
        minx, miny, maxx, maxy = street.geom.bounds
        for attempt in range(5000):
            if near is not None and attempt < 2000:
                r = radius_m * math.sqrt(self.rng.random())
                a = self.rng.uniform(0, 2 * math.pi)
                x = near[0] + r * math.cos(a) / (partition.KM_PER_DEG_LON * 1000)
                y = near[1] + r * math.sin(a) / (partition.KM_PER_DEG_LAT * 1000)
            else:
                x, y = self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy)
            x, y = round(x, 6), round(y, 6)
            if shapely.contains_xy(street.geom, x, y) and self._free(kind, x, y):
                self._take(kind, x, y)
                return x, y
        raise RuntimeError(f"no room for another {kind} in {street.name}")

    def road_no(self, street: StreetArea) -> str:
        return f"{self.rng.choice(street.roads)}{self.rng.randint(1, 1600)}号"

    def home(self, street: StreetArea) -> str:
        """A flat: "仙霞路300弄12号602室" or "天山新村23号402室"."""
        floor, room = self.rng.randint(1, 7), self.rng.randint(1, 4)
        if street.areas and self.rng.random() < 0.3:
            return f"{self.rng.choice(street.areas)}{self.rng.randint(1, 60)}号{floor}0{room}室"
        lane = self.rng.randint(1, 150) * 10
        return f"{self.rng.choice(street.roads)}{lane}弄{self.rng.randint(1, 40)}号{floor}0{room}室"

    def crossing(self, street: StreetArea) -> str:
        return _crossing(*self.rng.choice(street.crossings))

    def install_date(self) -> date:
        return date(2019, 1, 1) + timedelta(days=self.rng.randrange(6 * 365))

    # devices
    def add(self, product_code: str, street: StreetArea, lon: float, lat: float, *, name: str, address: str,
            external_id: str, wire: dict[str, Any], imei: str = "", iccid: str = "",
            parent_key: str | None = None) -> SimDevice:
        spec = PRODUCT_SPECS[product_code]
        dtype = spec["device_type"]
        tags = [SCENARIO_BY_TYPE[dtype]] if dtype in SCENARIO_BY_TYPE else []
        if metres(lon, lat, *LONGZHIMENG) <= LONGZHIMENG_TAG_RADIUS_M:
            tags.append(LONGZHIMENG_TAG)
        unit = UNIT_BY_TYPE.get(dtype) or f"ST-{street.code}"
        d = SimDevice(key=f"sim-{len(self.devices) + 1:05d}", product_code=product_code, device_type=dtype,
                      platform=spec["platform"], product_key=spec["vendor_product_key"], external_id=external_id,
                      name=name[:128], address=address, lon=lon, lat=lat, street_code=street.code, unit_code=unit,
                      install_date=self.install_date(), imei=imei, iccid=iccid, parent_key=parent_key,
                      tags=tuple(tags), wire=wire)
        self.devices.append(d)
        return d


PRODUCT_SPECS = {p["code"]: p for p in PRODUCTS}


def _allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """At least one per key, the rest by weight (largest remainder)."""
    keys = list(weights)
    counts = {k: 1 for k in keys}
    rest = max(0, total - len(keys))
    whole = sum(weights.values())
    shares = {k: rest * weights[k] / whole for k in keys}
    for k in keys:
        counts[k] += int(shares[k])
    left = total - sum(counts.values())
    for k in sorted(keys, key=lambda k: shares[k] - int(shares[k]), reverse=True)[:max(0, left)]:
        counts[k] += 1
    return counts


# -- per product ------------------------------------------------------------------------------

def _ctwing(p: _Planner, code: str) -> None:
    street = p.street()
    dtype = PRODUCT_SPECS[code]["device_type"]
    lon, lat = p.point(street, dtype)
    if dtype == "smoke":
        address = p.home(street)
        name = f"{address}烟感"
    else:
        address = f"{p.road_no(street)}门前" if p.rng.random() < 0.6 else f"{p.crossing(street)}{p.rng.choice('东南西北')}侧"
        name = f"{address}{p.rng.choice(('污水', '雨水', '电力', '通信', '燃气'))}井盖"
    device_id = p.unique(lambda: f"{p.rng.getrandbits(128):032x}")
    pid = PRODUCT_SPECS[code]["vendor_product_key"]
    p.add(code, street, lon, lat, name=name, address=address, external_id=device_id, imei=p.imei(),
          iccid=p.iccid("ctwing"),
          wire={"product_id": pid, "tenant_id": CTWING_TENANT, "decoder": PRODUCT_SPECS[code]["decoder"]})


def _onenet(p: _Planner, code: str) -> None:
    street = p.street()
    dtype = PRODUCT_SPECS[code]["device_type"]
    lon, lat = p.point(street, dtype)
    if dtype == "water_level":
        address = p.crossing(street) if p.rng.random() < 0.6 else f"{p.road_no(street)}（低洼路段）"
        name = f"{address}积水监测"
    else:
        address = f"{p.road_no(street)}（{p.rng.choice(('餐饮店后厨', '社区食堂', '菜场', '燃气调压站'))}）"
        name = f"{address}可燃气体探测器"
    dev_id = p.unique(lambda: str(p.rng.randint(520_000_000, 699_999_999)))
    p.add(code, street, lon, lat, name=name, address=address, external_id=dev_id, imei=p.imei(),
          iccid=p.iccid("onenet"), wire={"dev_id": int(dev_id)})


def _iotda(p: _Planner, code: str) -> None:
    street = p.street()
    spec = PRODUCT_SPECS[code]
    dtype = spec["device_type"]
    lon, lat = p.point(street, dtype)
    pid = spec["vendor_product_key"]
    imei = iccid = ""
    if dtype == "hydrant":
        address = f"{p.road_no(street)}{p.rng.choice(('东', '西', '南', '北'))}侧人行道"
        name = f"{address}消火栓"
        imei, iccid = p.imei(), p.iccid("iotda")
        node = imei
        service = "WaterPressure"
    else:
        address = f"{p.road_no(street)}{p.rng.choice(('配电间', '地下室配电箱', '商铺配电箱', '楼道电表箱'))}"
        name = f"{address}电气火灾监控"
        node = p.unique(lambda: f"ARCM300{p.rng.randrange(10**8):08d}")
        service = "ElectricalFire"
    device_id = f"{pid}_{node}"
    p.add(code, street, lon, lat, name=name, address=address, external_id=device_id, imei=imei, iccid=iccid,
          wire={"product_id": pid, "node_id": node, "service_id": service})


def _aliyun(p: _Planner, code: str, near_longzhimeng: bool = False) -> None:
    spec = PRODUCT_SPECS[code]
    dtype = spec["device_type"]
    if near_longzhimeng:
        street = next(s for s in p.streets if s.code == "310105001")  # 华阳路街道
        lon, lat = p.point(street, dtype, near=LONGZHIMENG, radius_m=350)
        spot = p.rng.choice(("北广场", "南门", "东侧", "西侧", "停车场入口", "屋顶"))
        address = f"长宁路1018号龙之梦购物中心{spot}" if p.rng.random() < 0.6 else p.road_no(street)
    else:
        street = p.street()
        lon, lat = p.point(street, dtype)
        address = p.road_no(street)
        if dtype == "garbage_bin":
            address += p.rng.choice(("垃圾箱房", "道路果壳箱", "小区垃圾厢房"))
    pk = spec["vendor_product_key"]
    prefix = "LJTU10" if dtype == "garbage_bin" else "ZSN200"
    dn = p.unique(lambda: f"{prefix}{p.rng.getrandbits(32):08X}")
    name = f"{address}{'垃圾桶满溢监测' if dtype == 'garbage_bin' else '噪声监测'}"
    p.add(code, street, lon, lat, name=name, address=address, external_id=f"{pk}/{dn}",
          wire={"product_key": pk, "device_name": dn})


def _studio(p: _Planner, code: str) -> None:
    street = p.street()
    lon, lat = p.point(street, "civil_defence")
    address = f"{p.road_no(street)}地下民防工程"
    dn = p.unique(lambda: f"MF{p.rng.randrange(10**8):08d}")
    p.add(code, street, lon, lat, name=f"{address}{p.rng.choice(('环境监测', '防护门监测'))}", address=address,
          external_id=dn, wire={"product_id": PRODUCT_SPECS[code]["vendor_product_key"], "device_name": dn})


def _cameras(p: _Planner, n_cameras: int, n_nvrs: int) -> None:
    per = [n_cameras // n_nvrs + (1 if i < n_cameras % n_nvrs else 0) for i in range(n_nvrs)]
    for i, count in enumerate(per):
        street = p.street()
        lon, lat = p.point(street, "nvr")
        ip = p.unique(lambda: f"10.105.{16 + i}.{p.rng.randint(2, 250)}")
        mac = ":".join([p.rng.choice(HIK_OUIS)] + [f"{p.rng.randrange(256):02x}" for _ in range(3)])
        address = f"{p.road_no(street)}弱电间"
        nvr = p.add("NVR-HIK", street, lon, lat, name=f"{street.name}视频监控NVR-{i + 1:02d}", address=address,
                    external_id=ip, wire={"ip": ip, "channel": None, "mac": mac})
        for ch in range(1, count + 1):
            clon, clat = p.point(street, "camera", near=(lon, lat), radius_m=600)
            where = p.crossing(street) if p.rng.random() < 0.5 else p.road_no(street)
            kind = p.rng.choice(("枪机", "球机", "半球"))
            p.add("CAMERA-HIK", street, clon, clat, name=f"{where}{kind}", address=where,
                  external_id=f"{ip}:{ch}", parent_key=nvr.key,
                  wire={"ip": ip, "channel": ch, "mac": mac, "channel_name": f"Camera {ch:02d}"})


def _crossroads(p: _Planner, n: int) -> None:
    for _ in range(n):
        street = p.street()
        a, b = p.rng.choice(street.crossings)
        where = _crossing(a, b)
        lon, lat = p.point(street, "gateway")
        gw_id = p.unique(lambda: f"eg200-{p.rng.getrandbits(24):06x}")
        gw = p.add("GATEWAY-MQTT", street, lon, lat, name=f"{where}边缘网关", address=where, external_id=gw_id,
                   wire={"product": "gateway", "device": gw_id})
        for label, suffix in p.rng.sample(DIRECTIONS, p.rng.randint(2, 4)):
            clon, clat = p.point(street, "traffic_counter", near=(lon, lat), radius_m=60)
            dev = p.unique(lambda: f"tc-{p.rng.getrandbits(24):06x}-{suffix}")
            p.add("TRAFFIC-MQTT", street, clon, clat, name=f"{where}{label}进口流量检测", address=where,
                  external_id=dev, parent_key=gw.key, wire={"product": "traffic", "device": dev})


def plan_fleet(seed: int, size: int = 3000) -> list[SimDevice]:
    """A deterministic fleet of about `size` devices for Changning (IOT-2); same seed, same fleet."""
    if size < 20:
        raise ValueError("a fleet needs at least 20 devices (one of every product and a camera group)")
    p = _Planner(seed)
    n_cameras = max(2, round(size * CAMERA_SHARE))
    n_nvrs = max(1, round(n_cameras / CAMERAS_PER_NVR))
    n_cross = max(1, round(size * CROSSROADS_SHARE))
    _cameras(p, n_cameras, n_nvrs)
    _crossroads(p, n_cross)
    rest = size - len(p.devices)
    counts = _allocate(rest, SHARES)
    for code, n in counts.items():
        platform = PRODUCT_SPECS[code]["platform"]
        for i in range(n):
            if platform == "ctwing":
                _ctwing(p, code)
            elif platform == "onenet":
                _onenet(p, code)
            elif platform == "iotda":
                _iotda(p, code)
            elif platform == "aliyun":
                _aliyun(p, code, near_longzhimeng=code == "NOISE-ALIYUN" and i < max(1, round(n * 0.4)))
            elif platform == "onenet_studio":
                _studio(p, code)
    fleet = p.devices
    # Leave ~1 % unregistered and make ~0.5 % misbehave: leaf devices of the bigger HTTP product
    # groups, so every platform keeps registered, well-behaved devices even in a small fleet.
    per_product = Counter(d.product_code for d in fleet)
    parents = {d.parent_key for d in fleet if d.parent_key}
    candidates: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(fleet):
        if d.platform in HTTP_PLATFORMS and d.key not in parents and per_product[d.product_code] >= 5:
            candidates[d.platform].append(i)
    for group in candidates.values():
        p.rng.shuffle(group)
    n_unreg = max(1, round(size * 0.01))
    n_bad = max(1, round(size * 0.005))
    platforms = sorted(candidates)
    p.rng.shuffle(platforms)
    picked: list[int] = []
    turn = 0
    while len(picked) < n_unreg + n_bad and any(candidates.values()):  # round robin over the platforms
        group = candidates[platforms[turn % len(platforms)]]
        turn += 1
        if group:
            picked.append(group.pop())
    for i in picked[:n_unreg]:
        fleet[i] = replace(fleet[i], registered=False)
    for i in picked[n_unreg:]:
        fleet[i] = replace(fleet[i], malformed=True)
    return fleet


# -- registration -----------------------------------------------------------------------------

@dataclass
class ConnectionInfo:
    id: int
    kind: str
    name: str
    push_path: str  # with ?token= for kinds that cannot sign
    settings: dict[str, Any]  # plain values, secrets included (the sim signs with them)


@dataclass
class FleetSetup:
    """What the runner needs: the connections and the registered devices' ids."""

    connections: dict[str, ConnectionInfo]  # platform → connection
    device_ids: dict[str, int]  # SimDevice.key → device id (registered devices)
    created: int = 0
    existing: int = 0
    unregistered: int = 0
    base_url: str | None = None

    def push_url(self, platform: str) -> str:
        path = self.connections[platform].push_path
        return (self.base_url or "").rstrip("/") + path


def _connection_settings(kind: str, fleet: list[SimDevice]) -> dict[str, Any]:
    if kind == "ctwing":
        return {"decoders": {d.wire["product_id"]: d.wire["decoder"] for d in fleet
                             if d.platform == "ctwing" and d.wire.get("decoder")}}
    if kind == "onenet":
        return {"token": secrets.token_urlsafe(18)}
    if kind == "onenet_studio":
        return {"token": secrets.token_urlsafe(18), "aes_key": secrets.token_hex(8)}  # secure mode
    return {}


def _ensure_connections(session, fleet: list[SimDevice]) -> dict[str, Connection]:
    out = {}
    for kind, name in CONNECTION_NAMES.items():
        conn = session.scalar(select(Connection).where(Connection.name == name))
        wanted = _connection_settings(kind, fleet)
        if conn is None:
            conn = ingest.create_connection(session, kind=kind, name=name, settings=wanted, created_by="system:sim")
        elif conn.kind != kind:
            raise Invalid(f"connection {name!r} exists with kind {conn.kind!r}, expected {kind!r}")
        elif kind == "ctwing":
            have = dict(conn.settings.get("decoders") or {})
            if any(have.get(k) != v for k, v in wanted["decoders"].items()):
                ingest.update_connection(session, conn.id, settings={"decoders": {**have, **wanted["decoders"]}})
        out[kind] = conn
    return out


def _ensure_tags(session, names: set[str]) -> dict[str, Tag]:
    tags = {t.name: t for t in session.scalars(select(Tag).where(Tag.category == "scenario"))}
    for name in sorted(names - set(tags)):
        tags[name] = devices.create_tag(session, category="scenario", name=name)
    return tags


def _existing(session, fleet: list[SimDevice]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    by_platform: dict[str, list[str]] = defaultdict(list)
    for d in fleet:
        by_platform[d.platform].append(d.external_id)
    for platform, ids in by_platform.items():
        for i in range(0, len(ids), 500):
            rows = session.execute(select(Device.external_id, Device.id).where(
                Device.platform == platform, Device.external_id.in_(ids[i:i + 500])))
            found.update({(platform, ext): did for ext, did in rows})
    return found


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, date) else v


def register_fleet(db: Database, fleet: list[SimDevice], base_url: str | None = None, *,
                   actor: str = "system:sim") -> FleetSetup:
    """Create the connections and register the fleet's devices (IOT-2). Idempotent.

    One transaction; devices that exist (same platform and external id) are left alone.
    Each new device gets its version 1 (who, why, every field), like `create_device`, but
    the batch is written with a handful of statements instead of several per device."""
    with acting_as(actor), db.session() as s:
        conns = _ensure_connections(s, fleet)
        products = {p.code: p for p in s.scalars(select(Product))}
        missing = sorted({d.product_code for d in fleet} - set(products))
        if missing:
            raise Invalid(f"reference products missing: {', '.join(missing)} (run `cityops db upgrade`)")
        tags = _ensure_tags(s, {t for d in fleet for t in d.tags})
        units = {code: uid for code, uid in s.execute(select(ResponsibleUnit.code, ResponsibleUnit.id))}
        existing = _existing(s, fleet)
        todo = [d for d in fleet if d.registered and (d.platform, d.external_id) not in existing]
        index = lookup.index_for(s)
        codes = iter(devices.next_codes(s, len(todo))) if todo else iter(())
        ids: dict[str, int] = {d.key: existing[(d.platform, d.external_id)] for d in fleet
                               if (d.platform, d.external_id) in existing}
        actor_name = current_actor(s).name
        parents = {d.parent_key for d in fleet if d.parent_key}
        created = 0
        for phase in ([d for d in todo if d.key in parents], [d for d in todo if d.key not in parents]):
            rows = []
            for d in phase:
                product = products[d.product_code]
                loc = index.locate(d.lon, d.lat)
                street = loc.street_code or d.street_code
                fields = {
                    "name": d.name, "product_id": product.id, "device_type": product.device_type,
                    "vendor": product.vendor, "platform": d.platform, "external_id": d.external_id,
                    "connection_id": conns[d.platform].id, "imei": d.imei, "iccid": d.iccid, "address": d.address,
                    "lon": d.lon, "lat": d.lat, "street_code": street,
                    "grid_code": loc.grid_code if loc.street_code == street else None,
                    "unit_id": units.get(d.unit_code), "install_date": d.install_date, "status": "active",
                    "parent_id": ids.get(d.parent_key) if d.parent_key else None,
                    "extra": {"simulated": True, "sim_key": d.key,
                              **({"mac": d.wire["mac"]} if "mac" in d.wire else {})},
                }
                device = Device(code=next(codes), **fields)
                device.tags = [tags[t] for t in d.tags]
                s.add(device)
                rows.append((d, device, fields))
            s.flush()
            for d, device, fields in rows:
                ids[d.key] = device.id
                changes = {k: [None, _plain(v)] for k, v in fields.items() if v not in (None, "", {}, [])}
                if d.tags:
                    changes["tags"] = [[], sorted(f"scenario:{t}" for t in d.tags)]
                s.add(DeviceVersion(device_id=device.id, version=1, actor=actor_name, reason="模拟设备登记（演示）",
                                    source="import", changes=changes, snapshot=devices.snapshot(device)))
            s.flush()
            created += len(rows)
        infos = {kind: ConnectionInfo(c.id, c.kind, c.name, ingest.push_path(c), dict(c.settings))
                 for kind, c in conns.items()}
    setup = FleetSetup(connections=infos, device_ids=ids, created=created,
                       existing=sum(1 for d in fleet if d.registered and (d.platform, d.external_id) in existing),
                       unregistered=sum(1 for d in fleet if not d.registered), base_url=base_url)
    log.info("simulated fleet registered", extra={"devices_created": setup.created, "existing": setup.existing,
                                                  "unregistered": setup.unregistered})
    return setup


def summary(fleet: list[SimDevice]) -> dict[str, Any]:
    """Counts per device type, platform and street (for logs and the demo banner)."""
    return {
        "devices": len(fleet),
        "by_type": dict(Counter(DEVICE_TYPES.get(d.device_type, d.device_type) for d in fleet)),
        "by_platform": dict(Counter(d.platform for d in fleet)),
        "by_street": dict(Counter(d.street_code for d in fleet)),
        "unregistered": sum(1 for d in fleet if not d.registered),
        "malformed": sum(1 for d in fleet if d.malformed),
    }
