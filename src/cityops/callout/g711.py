"""G.711 μ-law (PCMU) and A-law (PCMA) for 8 kHz telephone audio (ITU-T G.711), vectorised with
numpy. Written here rather than taken from `audioop`, which Python 3.13 removed.

PCM is 16-bit signed little-endian mono bytes; encoded audio is one byte per sample.
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84
_CLIP = 32635


def _pcm(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32)


def _segment(magnitude: np.ndarray, start: int) -> np.ndarray:
    """Index of the highest set bit above `start` (0..7), the chord of the companding curve."""
    seg = np.zeros(magnitude.shape, dtype=np.int32)
    for s in range(1, 8):
        seg[magnitude >= (1 << (start + s))] = s
    return seg


def encode_ulaw(pcm: bytes) -> bytes:
    x = _pcm(pcm)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    seg = _segment(mag, 7)
    mantissa = (mag >> (seg + 3)) & 0x0F
    return (~(sign | (seg << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def decode_ulaw(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    seg = (u >> 4) & 0x07
    mag = (((u & 0x0F) << 3) + _BIAS) << seg
    return np.where(u & 0x80, _BIAS - mag, mag - _BIAS).astype("<i2").tobytes()


def encode_alaw(pcm: bytes) -> bytes:
    x = _pcm(pcm) >> 3  # A-law works on 13 bits
    sign = np.where(x >= 0, 0x80, 0)
    mag = np.minimum(np.where(x < 0, -x - 1, x), 0x0FFF)
    seg = _segment(mag, 4)
    mantissa = np.where(seg == 0, mag >> 1, mag >> seg) & 0x0F
    return ((sign | (seg << 4) | mantissa) ^ 0x55).astype(np.uint8).tobytes()


def decode_alaw(data: bytes) -> bytes:
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    seg = (a >> 4) & 0x07
    mantissa = a & 0x0F
    mag = np.where(seg == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, mag, -mag).astype("<i2").tobytes()


ENCODERS = {"PCMU": encode_ulaw, "PCMA": encode_alaw}
DECODERS = {"PCMU": decode_ulaw, "PCMA": decode_alaw}
PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}
