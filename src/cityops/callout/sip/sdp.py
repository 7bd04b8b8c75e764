"""SDP offer/answer for one audio stream (RFC 4566/3264): we offer PCMA, PCMU and telephone-event
(RFC 4733) and take the first codec of the answer that we support."""

from __future__ import annotations

from dataclasses import dataclass

from cityops.callout.g711 import PAYLOAD_TYPES

DTMF_PT = 101
_CODEC_BY_PT = {pt: name for name, pt in PAYLOAD_TYPES.items()}


def build_offer(local_ip: str, rtp_port: int, session_id: int) -> str:
    lines = [
        "v=0",
        f"o=cityops {session_id} {session_id} IN IP4 {local_ip}",
        "s=cityops",
        f"c=IN IP4 {local_ip}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {PAYLOAD_TYPES['PCMA']} {PAYLOAD_TYPES['PCMU']} {DTMF_PT}",
        f"a=rtpmap:{PAYLOAD_TYPES['PCMA']} PCMA/8000",
        f"a=rtpmap:{PAYLOAD_TYPES['PCMU']} PCMU/8000",
        f"a=rtpmap:{DTMF_PT} telephone-event/8000",
        f"a=fmtp:{DTMF_PT} 0-15",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return "\r\n".join(lines) + "\r\n"


@dataclass
class MediaAnswer:
    ip: str
    port: int
    codec: str  # "PCMA" | "PCMU"
    payload_type: int
    dtmf_pt: int | None


def parse_answer(sdp: str) -> MediaAnswer | None:
    """The remote audio address, the chosen G.711 codec and the telephone-event payload type.
    None when the body has no usable audio stream (port 0 or no G.711)."""
    session_ip = media_ip = None
    port = 0
    pts: list[int] = []
    rtpmap: dict[int, str] = {}
    in_audio = False
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("c=") and len(line.split()) >= 3:
            ip = line.split()[2].split("/")[0]
            if in_audio:
                media_ip = ip
            else:
                session_ip = ip
        elif line.startswith("m="):
            parts = line[2:].split()
            in_audio = parts[0] == "audio" and not port
            if in_audio and len(parts) >= 3:
                port = int(parts[1])
                pts = [int(p) for p in parts[3:] if p.isdigit()]
        elif in_audio and line.startswith("a=rtpmap:"):
            pt, _, enc = line[len("a=rtpmap:"):].partition(" ")
            if pt.isdigit():
                rtpmap[int(pt)] = enc.split("/")[0]
    ip = media_ip or session_ip
    if not ip or not port:
        return None
    dtmf_pt = next((pt for pt, enc in rtpmap.items() if enc.lower() == "telephone-event"), None)
    for pt in pts:
        codec = rtpmap.get(pt) or _CODEC_BY_PT.get(pt)
        if codec and codec.upper() in PAYLOAD_TYPES:
            return MediaAnswer(ip, port, codec.upper(), pt, dtmf_pt)
    return None
