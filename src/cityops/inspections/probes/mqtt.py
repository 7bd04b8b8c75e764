"""`mqtt` probe: subscribe to a unique topic, publish to it and time the round trip (OPS-1)."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from cityops.inspections.probes import Opt, ProbeResult, elapsed_ms, split_host_port

LABEL = "MQTT 消息服务"
OPTIONS = (Opt("username", "用户名", default=""), Opt("password", "密码", default="", secret=True),
           Opt("topic_prefix", "测试主题前缀", default="cityops/probe"), Opt("qos", "QoS", type="int", default=1))


def validate_target(target: str, opts: dict[str, Any]) -> None:
    split_host_port(target, 1883)
    if opts.get("qos", 1) not in (0, 1, 2):
        from cityops.core.errors import Invalid

        raise Invalid("QoS 只能是 0、1 或 2")


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    import paho.mqtt.client as mqtt

    host, port = split_host_port(target, 1883)
    topic = f"{opts['topic_prefix'].rstrip('/')}/{secrets.token_hex(8)}"
    payload = secrets.token_hex(8).encode()
    connected, subscribed, received = threading.Event(), threading.Event(), threading.Event()
    state: dict[str, Any] = {}

    def on_connect(client, _userdata, _flags, reason_code, _props):
        state["rc"] = str(reason_code)
        if not reason_code.is_failure:
            client.subscribe(topic, qos=opts["qos"])
        connected.set()

    def on_message(_client, _userdata, msg):
        if msg.payload == payload:
            state["rtt"] = elapsed_ms(state["sent"])
            received.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"cityops-probe-{secrets.token_hex(4)}")
    client.on_connect = on_connect
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_message = on_message
    if opts["username"]:
        client.username_pw_set(opts["username"], opts["password"] or None)
    start = time.monotonic()
    deadline = start + timeout_s
    try:
        client.connect(host, port, keepalive=max(5, int(timeout_s) + 5))
    except OSError as exc:
        from cityops.inspections.probes import net_reason

        return ProbeResult(False, elapsed_ms(start), f"MQTT {host}:{port} {net_reason(exc)}")
    client.loop_start()
    try:
        if not connected.wait(max(0, deadline - time.monotonic())):
            return ProbeResult(False, elapsed_ms(start), f"MQTT 连接超时（{timeout_s:g} 秒）")
        if state.get("rc") != "Success":
            return ProbeResult(False, elapsed_ms(start), f"MQTT 连接被拒绝（{state.get('rc')}）")
        if not subscribed.wait(max(0, deadline - time.monotonic())):
            return ProbeResult(False, elapsed_ms(start), "MQTT 订阅超时")
        state["sent"] = time.monotonic()
        client.publish(topic, payload, qos=opts["qos"])
        if not received.wait(max(0, deadline - time.monotonic())):
            return ProbeResult(False, elapsed_ms(start), f"MQTT 消息未在 {timeout_s:g} 秒内回环")
    finally:
        client.disconnect()
        client.loop_stop()
    rtt = state["rtt"]
    return ProbeResult(True, rtt, f"MQTT 发布/订阅回环 {rtt:.0f} ms", {"round_trip_ms": round(rtt, 1),
                                                                      "connect_ms": round(elapsed_ms(start) - rtt, 1)})
