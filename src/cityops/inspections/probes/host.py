"""`host` probe: CPU, memory and the fullest filesystem of a host, agent-less (OPS-1).

`mode=node_exporter` scrapes `/metrics` twice (CPU is a counter, so its use is the busy share
between the two scrapes); `mode=ssh` runs one command through paramiko and parses it (CPU here
is the 1-minute load per core). Thresholds are percentages.

SSH host keys are pinned as OpenSSH's `StrictHostKeyChecking=accept-new` does: a probe with a
`host_key` fingerprint (SHA256:…, as `ssh-keygen -lf` prints it) refuses any other key before a
password or key is offered; a probe without one accepts the first key of a successful check and
the service pins it (`ProbeResult.learned`)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from cityops.core.errors import Invalid
from cityops.inspections.probes import Opt, ProbeResult, elapsed_ms, net_reason, split_host_port

LABEL = "主机资源"
OPTIONS = (
    Opt("mode", "采集方式", default="node_exporter", choices=("node_exporter", "ssh")),
    Opt("cpu_max", "CPU 上限 %", type="float", default=90.0),
    Opt("mem_max", "内存上限 %", type="float", default=90.0),
    Opt("disk_max", "磁盘上限 %", type="float", default=90.0),
    Opt("username", "SSH 用户名", default="root"),
    Opt("password", "SSH 密码", default="", secret=True),
    Opt("key_file", "SSH 私钥文件路径", default=""),
    Opt("host_key", "SSH 主机密钥指纹（SHA256:…；留空则首次连接成功后自动登记）", default=""),
)
SSH_COMMAND = "cat /proc/loadavg /proc/meminfo; nproc; df -P"
_SKIP_FS = {"tmpfs", "devtmpfs", "squashfs", "ramfs", "proc", "sysfs", "overlay"}
_SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


def _pinned_key(opts: dict[str, Any]) -> str:
    return (opts.get("host_key") or "").strip()


def validate_target(target: str, opts: dict[str, Any]) -> None:
    if opts.get("mode", "node_exporter") == "node_exporter":
        if not target.startswith(("http://", "https://")):
            raise Invalid("node_exporter 方式的目标应为 /metrics 的 URL")
    else:
        split_host_port(target, 22)
        pinned = _pinned_key(opts)
        if pinned and not _FINGERPRINT.match(pinned):
            raise Invalid("SSH 主机密钥指纹应形如 SHA256:后接 43 个字符（ssh-keygen -lf 的输出）")
    for name in ("cpu_max", "mem_max", "disk_max"):
        if name in opts and not 0 < opts[name] <= 100:
            raise Invalid(f"{name} 应在 0–100 之间")


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            try:
                value = float(m.group(3))
            except ValueError:
                continue
            out.setdefault(m.group(1), []).append((dict(_LABEL.findall(m.group(2) or "")), value))
    return out


def _cpu(metrics) -> tuple[float, float]:
    total = idle = 0.0
    for labels, v in metrics.get("node_cpu_seconds_total", []):
        total += v
        if labels.get("mode") in ("idle", "iowait"):
            idle += v
    return total, idle


def usage_from_metrics(first: str, second: str) -> dict[str, float]:
    a, b = parse_metrics(first), parse_metrics(second)
    (t1, i1), (t2, i2) = _cpu(a), _cpu(b)
    if t2 <= t1:
        raise ValueError("node_cpu_seconds_total 缺失或未增长")
    mem = {name: b[name][0][1] for name in ("node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes") if name in b}
    if len(mem) < 2:
        raise ValueError("缺少 node_memory_MemTotal_bytes / MemAvailable_bytes")
    avail = {lb.get("mountpoint"): v for lb, v in b.get("node_filesystem_avail_bytes", [])}
    disks = {}
    for lb, size in b.get("node_filesystem_size_bytes", []):
        mp = lb.get("mountpoint")
        if lb.get("fstype") in _SKIP_FS or size <= 0 or mp not in avail:
            continue
        disks[mp] = 100 * (1 - avail[mp] / size)
    return _usage(100 * (1 - (i2 - i1) / (t2 - t1)),
                  100 * (1 - mem["node_memory_MemAvailable_bytes"] / mem["node_memory_MemTotal_bytes"]), disks)


def usage_from_ssh(text: str) -> dict[str, float]:
    lines = text.splitlines()
    load1 = float(lines[0].split()[0])
    meminfo = {}
    cores = None
    disks = {}
    in_df = False
    for line in lines[1:]:
        parts = line.split()
        if in_df and len(parts) >= 6 and parts[4].endswith("%"):
            if parts[0] not in _SKIP_FS:
                disks[" ".join(parts[5:])] = float(parts[4][:-1])
        elif line.startswith("Filesystem"):
            in_df = True
        elif ":" in line and len(parts) >= 2:
            meminfo[parts[0].rstrip(":")] = float(parts[1])
        elif len(parts) == 1 and parts[0].isdigit():
            cores = int(parts[0])
    if "MemTotal" not in meminfo or "MemAvailable" not in meminfo:
        raise ValueError("/proc/meminfo 缺少 MemTotal/MemAvailable")
    return _usage(100 * load1 / (cores or 1), 100 * (1 - meminfo["MemAvailable"] / meminfo["MemTotal"]), disks)


def _usage(cpu: float, mem: float, disks: dict[str, float]) -> dict[str, Any]:
    fullest = max(disks.items(), key=lambda kv: kv[1]) if disks else (None, 0.0)
    return {"cpu_pct": round(cpu, 1), "mem_pct": round(mem, 1), "disk_pct": round(fullest[1], 1),
            "disk_mount": fullest[0]}


def _scrape(url: str, timeout_s: float) -> str:
    r = httpx.get(url, timeout=timeout_s, trust_env=False)
    r.raise_for_status()
    return r.text


class HostKeyMismatch(Exception):
    def __init__(self, pinned: str, seen: str):
        super().__init__(f"{pinned} != {seen}")
        self.pinned, self.seen = pinned, seen


def _ssh(target: str, opts: dict[str, Any], timeout_s: float) -> tuple[str, str]:
    """Run SSH_COMMAND; returns (output, the host key's fingerprint)."""
    import paramiko

    pinned = _pinned_key(opts)
    seen: list[str] = []

    class Pinned(paramiko.MissingHostKeyPolicy):
        # No known_hosts file is loaded, so paramiko asks this for every key, before authenticating.
        def missing_host_key(self, client, hostname, key):
            seen.append(key.fingerprint)  # "SHA256:…", as ssh-keygen -lf prints it
            if pinned and seen[-1] != pinned:
                raise HostKeyMismatch(pinned, seen[-1])

    host, port = split_host_port(target, 22)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(Pinned())
    try:
        client.connect(host, port=port, username=opts["username"], password=opts["password"] or None,
                       key_filename=opts["key_file"] or None, timeout=timeout_s, banner_timeout=timeout_s,
                       auth_timeout=timeout_s, allow_agent=False, look_for_keys=False)
        _in, out, _err = client.exec_command(SSH_COMMAND, timeout=timeout_s)
        return out.read().decode(errors="replace"), seen[-1]
    finally:
        client.close()


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    start = time.monotonic()
    learned: dict[str, Any] = {}
    try:
        if opts["mode"] == "ssh":
            text, host_key = _ssh(target, opts, timeout_s)
            usage = usage_from_ssh(text)
            if not _pinned_key(opts):
                learned["host_key"] = host_key
        else:
            first = _scrape(target, timeout_s)
            time.sleep(min(1.0, timeout_s / 4))  # CPU needs two samples of its counters
            left = timeout_s - (time.monotonic() - start)
            if left <= 0:
                return ProbeResult(False, elapsed_ms(start), f"采集超时（{timeout_s:g} 秒）")
            usage = usage_from_metrics(first, _scrape(target, left))
    except (ValueError, IndexError) as exc:
        return ProbeResult(False, elapsed_ms(start), f"无法解析主机指标（{exc}）")
    except httpx.HTTPStatusError as exc:
        return ProbeResult(False, elapsed_ms(start), f"指标接口返回 HTTP {exc.response.status_code}")
    except httpx.HTTPError as exc:
        return ProbeResult(False, elapsed_ms(start), f"无法采集指标（{type(exc).__name__}: {str(exc)[:120]}）")
    except HostKeyMismatch as exc:
        return ProbeResult(False, elapsed_ms(start), f"SSH 主机密钥与登记的指纹不符（登记 {exc.pinned}，实际 {exc.seen}），"
                           "未发送口令：主机可能重装或被冒充，核实后在巡检项中更新指纹", {"host_key": exc.seen})
    except Exception as exc:  # paramiko's SSHException, AuthenticationException, socket errors
        reason = net_reason(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {str(exc)[:120]}"
        return ProbeResult(False, elapsed_ms(start), f"SSH 采集失败（{reason}）")
    latency = elapsed_ms(start)
    over = [f"{label} {usage[key]:.0f}% > {opts[limit]:g}%" for key, limit, label in
            (("cpu_pct", "cpu_max", "CPU"), ("mem_pct", "mem_max", "内存"), ("disk_pct", "disk_max", "磁盘"))
            if usage[key] > opts[limit]]
    summary = f"CPU {usage['cpu_pct']:.0f}%，内存 {usage['mem_pct']:.0f}%，磁盘 {usage['disk_pct']:.0f}%"
    if usage["disk_mount"]:
        summary += f"（{usage['disk_mount']}）"
    if over:
        return ProbeResult(False, latency, f"超过阈值：{'；'.join(over)}", usage, learned)
    return ProbeResult(True, latency, summary, usage, learned)
