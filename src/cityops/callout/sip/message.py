"""Parsing and building SIP messages (RFC 3261 §7), enough for a UAC over UDP."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
            "c": "content-type"}
_TAG = re.compile(r";\s*tag=([^;>\s]+)", re.IGNORECASE)
_URI = re.compile(r"<([^>]+)>")


@dataclass
class SipMessage:
    start_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.start_line.split()[1])

    @property
    def method(self) -> str:
        return self.start_line.split()[0]

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def cseq(self) -> tuple[int, str]:
        num, _, method = (self.get("cseq") or "0 ?").partition(" ")
        return int(num), method.strip()

    @property
    def to_tag(self) -> str | None:
        m = _TAG.search(self.get("to") or "")
        return m.group(1) if m else None

    @property
    def branch(self) -> str | None:
        m = re.search(r"branch=([^;,\s]+)", self.get("via") or "")
        return m.group(1) if m else None


def parse(data: bytes) -> SipMessage | None:
    text = data.decode("utf-8", errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    if not lines or not lines[0]:
        return None
    msg = SipMessage(lines[0].strip())
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and msg.headers:  # folded continuation line
            k, v = msg.headers[-1]
            msg.headers[-1] = (k, v + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip().lower()
        msg.headers.append((_COMPACT.get(name, name), value.strip()))
    length = msg.get("content-length")
    msg.body = body[: int(length)] if length and length.isdigit() else body
    return msg


def build(start_line: str, headers: list[tuple[str, str]], body: str = "") -> bytes:
    lines = [start_line] + [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def contact_uri(value: str | None) -> str | None:
    """The URI inside a Contact header (`<sip:...>` or bare)."""
    if not value:
        return None
    m = _URI.search(value)
    return m.group(1) if m else value.split(";")[0].strip()
