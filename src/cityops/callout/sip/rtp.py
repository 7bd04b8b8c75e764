"""RTP (RFC 3550) packets for G.711 prompts and RFC 4733 telephone-event DTMF reception."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from cityops.callout.g711 import ENCODERS

SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
DTMF_EVENTS = "0123456789*#ABCD"


@dataclass
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes


def build_packet(payload_type: int, seq: int, timestamp: int, ssrc: int, payload: bytes,
                 marker: bool = False) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | payload_type,
                         seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc)
    return header + payload


def parse_packet(data: bytes) -> RtpPacket | None:
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack("!H", data[offset + 2:offset + 4])[0]
    end = len(data)
    if b0 & 0x20 and end > offset:  # padding
        end -= data[-1]
    if offset > end:
        return None
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), data[offset:end])


def prompt_frames(pcm: bytes | None, codec: str, min_ms: int = 0) -> list[bytes]:
    """Encoded 20 ms payloads for 8 kHz 16-bit PCM; silence pads the last frame and, when the
    prompt is shorter, fills up to `min_ms`."""
    pcm = pcm or b""
    frame_bytes = SAMPLES_PER_PACKET * 2
    frames = max(-(-len(pcm) // frame_bytes), -(-min_ms // 20))
    pcm = pcm.ljust(frames * frame_bytes, b"\x00")
    encoded = ENCODERS[codec](pcm)
    return [encoded[i:i + SAMPLES_PER_PACKET] for i in range(0, len(encoded), SAMPLES_PER_PACKET)]


@dataclass
class DtmfEvent:
    digit: str
    end: bool
    volume: int
    duration: int


def parse_dtmf(payload: bytes) -> DtmfEvent | None:
    """One RFC 4733 named event (event, E bit, volume, duration); None for non-DTMF events."""
    if len(payload) < 4:
        return None
    event, flags, duration = struct.unpack("!BBH", payload[:4])
    if event >= len(DTMF_EVENTS):
        return None
    return DtmfEvent(DTMF_EVENTS[event], bool(flags & 0x80), flags & 0x3F, duration)


@dataclass
class DtmfCollector:
    """Digits from telephone-event packets. One key press is one RTP timestamp; the sender repeats
    the end packet (usually three times), so a digit is counted once per (ssrc, timestamp)."""

    digits: str = ""
    _done: set[tuple[int, int]] = field(default_factory=set)

    def feed(self, packet: RtpPacket) -> str | None:
        event = parse_dtmf(packet.payload)
        if event is None or not event.end:
            return None
        key = (packet.ssrc, packet.timestamp)
        if key in self._done:
            return None
        self._done.add(key)
        self.digits += event.digit
        return event.digit
