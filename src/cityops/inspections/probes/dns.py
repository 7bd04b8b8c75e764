"""`dns` probe: resolve a name with dnspython at a given server (OPS-1)."""

from __future__ import annotations

import time
from typing import Any

from cityops.core.errors import Invalid
from cityops.inspections.probes import Opt, ProbeResult, elapsed_ms, split_host_port

LABEL = "DNS 解析"
TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "PTR", "SOA", "SRV")
OPTIONS = (
    Opt("server", "DNS 服务器（IP[:端口]，空为系统设置）", default=""),
    Opt("type", "记录类型", default="A", choices=TYPES),
    Opt("expect", "期望值（应出现在答案中）", default=""),
    Opt("tcp", "使用 TCP", type="bool", default=False),
)


def validate_target(target: str, opts: dict[str, Any]) -> None:
    if opts.get("server"):
        split_host_port(opts["server"], 53)
    if " " in target:
        raise Invalid(f"域名 {target!r} 无效")


def _text(rdata: Any) -> str:
    return rdata.to_text().strip('"').rstrip(".")


def check(target: str, opts: dict[str, Any], timeout_s: float) -> ProbeResult:
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.resolver

    start = time.monotonic()
    try:
        if opts["server"]:
            host, port = split_host_port(opts["server"], 53)
            query = dns.message.make_query(target, opts["type"])
            ask = dns.query.tcp if opts["tcp"] else dns.query.udp
            response = ask(query, host, timeout=timeout_s, port=port)
            if response.rcode() != dns.rcode.NOERROR:
                return ProbeResult(False, elapsed_ms(start), f"{target} 解析失败（{dns.rcode.to_text(response.rcode())}）",
                                   {"rcode": dns.rcode.to_text(response.rcode())})
            answers = [_text(r) for rrset in response.answer for r in rrset
                       if rrset.rdtype == dns.rdatatype.from_text(opts["type"])]
        else:
            resolver = dns.resolver.Resolver()
            answer = resolver.resolve(target, opts["type"], lifetime=timeout_s, tcp=opts["tcp"])
            answers = [_text(r) for r in answer]
    except dns.resolver.NXDOMAIN:
        return ProbeResult(False, elapsed_ms(start), f"{target} 不存在（NXDOMAIN）", {"rcode": "NXDOMAIN"})
    except (dns.exception.Timeout, TimeoutError):
        return ProbeResult(False, elapsed_ms(start), f"DNS 查询超时（{timeout_s:g} 秒）")
    except dns.resolver.NoAnswer:
        answers = []
    except (dns.exception.DNSException, OSError) as exc:
        return ProbeResult(False, elapsed_ms(start), f"DNS 查询失败（{type(exc).__name__}: {str(exc)[:120]}）")
    latency = elapsed_ms(start)
    data = {"answers": answers, "type": opts["type"]}
    if not answers:
        return ProbeResult(False, latency, f"{target} 没有 {opts['type']} 记录", data)
    expect = opts["expect"].rstrip(".")
    if expect and expect not in answers:
        return ProbeResult(False, latency, f"{target} 解析为 {'、'.join(answers)}，期望 {expect}", data)
    return ProbeResult(True, latency, f"{target} → {'、'.join(answers[:3])}，{latency:.0f} ms", data)
