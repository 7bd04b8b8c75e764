"""Reference products (物模型) of the device types in use in Changning, and the tag sets for
application scenarios and responsible units (IOT-2, IOT-3). Idempotent; never overwrites."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityops.devices.models import Product, Tag
from cityops.geo.models import ResponsibleUnit


def _p(identifier, name, type_="number", unit="", min_=None, max_=None):
    return {"identifier": identifier, "name": name, "type": type_, "unit": unit, "min": min_, "max": max_}


def _e(identifier, name, severity):
    return {"identifier": identifier, "name": name, "severity": severity}


PRODUCTS = [
    dict(code="SMOKE-NB-CTW", name="NB-IoT 独立式光电感烟探测器", device_type="smoke", vendor="海曼科技",
         platform="ctwing", vendor_product_key="15012345", model_no="HM-608PH-NB", report_interval_s=4 * 3600,
         decoder="smoke-v1",
         properties=[_p("status", "烟雾状态", "enum"), _p("battery", "电量", unit="%", min_=20, max_=100),
                     _p("temperature", "温度", unit="°C", min_=-10, max_=55), _p("rsrp", "信号强度", unit="dBm",
                                                                                  min_=-115, max_=-40)],
         events=[_e("smoke_alarm", "烟雾报警", "critical"), _e("low_battery", "低电量", "warning"),
                 _e("tamper", "防拆报警", "warning"), _e("self_test", "自检", "info")]),
    dict(code="MANHOLE-NB-CTW", name="NB-IoT 智能井盖监测终端", device_type="manhole", vendor="拓普索尔",
         platform="ctwing", vendor_product_key="15023456", model_no="TPS-JG200", report_interval_s=12 * 3600,
         decoder="manhole-v1",
         properties=[_p("status", "井盖状态", "enum"), _p("tilt", "倾角", unit="°", min_=0, max_=15),
                     _p("battery", "电量", unit="%", min_=20, max_=100)],
         events=[_e("illegal_move", "井盖异动", "critical"), _e("tilt_alarm", "倾斜报警", "warning")]),
    dict(code="WATER-ONENET", name="道路积水监测仪", device_type="water_level", vendor="中移物联",
         platform="onenet", vendor_product_key="528811", model_no="CM-WL100", report_interval_s=600,
         properties=[_p("water_level", "积水深度", unit="cm", min_=0, max_=15), _p("battery", "电量", unit="%",
                                                                                 min_=20, max_=100)],
         events=[_e("high_level", "积水超限", "critical"), _e("recovered", "积水消退", "info")]),
    dict(code="GAS-ONENET", name="可燃气体探测器", device_type="gas", vendor="汉威科技", platform="onenet",
         vendor_product_key="528822", model_no="HW-JT-CH4", report_interval_s=1800,
         properties=[_p("gas_lel", "可燃气体浓度", unit="%LEL", min_=0, max_=10)],
         events=[_e("low_alarm", "低限报警", "warning"), _e("high_alarm", "高限报警", "critical")]),
    dict(code="ELEC-IOTDA", name="电气火灾监控探测器", device_type="electrical_fire", vendor="安科瑞",
         platform="iotda", vendor_product_key="64f1a2b3c4d5e6", model_no="ARCM300", report_interval_s=300,
         properties=[_p("leakage_ma", "剩余电流", unit="mA", min_=0, max_=300),
                     _p("cable_temp", "线缆温度", unit="°C", min_=-10, max_=70),
                     _p("voltage", "电压", unit="V", min_=198, max_=242), _p("current", "电流", unit="A", min_=0,
                                                                            max_=63)],
         events=[_e("leakage", "漏电报警", "critical"), _e("over_temp", "超温报警", "critical"),
                 _e("short_circuit", "短路", "critical"), _e("overload", "过载", "warning")]),
    dict(code="HYDRANT-IOTDA", name="室外消火栓水压监测", device_type="hydrant", vendor="华为生态伙伴",
         platform="iotda", vendor_product_key="64f1a2b3c4d5f7", model_no="XHS-P100", report_interval_s=3600,
         properties=[_p("pressure", "水压", unit="MPa", min_=0.14, max_=1.0), _p("battery", "电量", unit="%",
                                                                               min_=20, max_=100)],
         events=[_e("low_pressure", "水压过低", "warning"), _e("knock_over", "撞倒/漏水", "critical")]),
    dict(code="BIN-ALIYUN", name="垃圾桶满溢监测", device_type="garbage_bin", vendor="环卫物联", platform="aliyun",
         vendor_product_key="a1BinSensor", model_no="LJT-U10", report_interval_s=1800,
         properties=[_p("fill_pct", "满溢度", unit="%", min_=0, max_=85), _p("distance", "距离", unit="cm"),
                     _p("tilt", "倾角", unit="°", min_=0, max_=30)],
         events=[_e("full", "满溢", "warning"), _e("emptied", "已清运", "info")]),
    dict(code="NOISE-ALIYUN", name="环境噪声监测仪", device_type="noise", vendor="声望", platform="aliyun",
         vendor_product_key="a1NoiseMeter", model_no="ZS-N200", report_interval_s=300,
         properties=[_p("laeq", "等效声级", unit="dB(A)", min_=30, max_=70)], events=[]),
    dict(code="TRAFFIC-MQTT", name="路口交通流量检测器", device_type="traffic_counter", vendor="交通科技",
         platform="mqtt_json", vendor_product_key="traffic", model_no="JT-TC8", report_interval_s=300,
         properties=[_p("vehicles", "车流量", unit="辆/5min"), _p("avg_speed", "平均车速", unit="km/h", min_=5)],
         events=[_e("congestion", "拥堵", "warning")]),
    dict(code="CIVIL-STUDIO", name="民防工程环境监测", device_type="civil_defence", vendor="中移物联",
         platform="onenet_studio", vendor_product_key="Q7civil", model_no="MF-ENV3", report_interval_s=900,
         properties=[_p("temperature", "温度", unit="°C", min_=0, max_=35), _p("humidity", "湿度", unit="%RH",
                                                                              min_=20, max_=85),
                     _p("water_immersion", "水浸", "bool"), _p("door_open", "防护门开启", "bool")],
         events=[_e("immersion", "水浸报警", "critical"), _e("door_open", "防护门异常开启", "warning")]),
    dict(code="CAMERA-HIK", name="网络摄像机", device_type="camera", vendor="海康威视", platform="hikvision",
         vendor_product_key="DS-2CD3T46", model_no="DS-2CD3T46WDV3", report_interval_s=300,
         properties=[],
         events=[_e("VMD", "移动侦测", "info"), _e("linedetection", "越界侦测", "warning"),
                 _e("fielddetection", "区域入侵", "warning"), _e("videoloss", "视频丢失", "warning"),
                 _e("shelteralarm", "遮挡报警", "warning")]),
    dict(code="NVR-HIK", name="网络硬盘录像机", device_type="nvr", vendor="海康威视", platform="hikvision",
         vendor_product_key="DS-7932N", model_no="DS-7932N-R4", report_interval_s=300, properties=[],
         events=[_e("hdfull", "硬盘满", "warning"), _e("hderror", "硬盘错误", "critical")]),
    dict(code="GATEWAY-MQTT", name="边缘物联网关", device_type="gateway", vendor="交通科技", platform="mqtt_json",
         vendor_product_key="gateway", model_no="EG-200", report_interval_s=120, properties=[], events=[]),
]

SCENARIOS = [("防汛", "#1f77b4"), ("消防", "#d62728"), ("市容", "#2ca02c"), ("民防", "#8c564b"),
             ("龙之梦", "#9467bd"), ("燃气安全", "#ff7f0e"), ("交通", "#17becf"), ("环境", "#7f7f7f")]


def load(session: Session) -> dict[str, int]:
    added = {"products": 0, "tags": 0}
    have = set(session.scalars(select(Product.code)))
    for spec in PRODUCTS:
        if spec["code"] not in have:
            session.add(Product(**spec))
            added["products"] += 1
    tags = {(c, n) for c, n in session.execute(select(Tag.category, Tag.name))}
    for name, color in SCENARIOS:
        if ("scenario", name) not in tags:
            session.add(Tag(category="scenario", name=name, color=color))
            added["tags"] += 1
    for unit in session.scalars(select(ResponsibleUnit).order_by(ResponsibleUnit.code)):
        if ("unit", unit.name) not in tags:
            session.add(Tag(category="unit", name=unit.name, unit_id=unit.id))
            added["tags"] += 1
    session.flush()
    return added
