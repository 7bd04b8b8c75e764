"""Wire builders for the device simulator (IOT-2): the exact bytes a carrier platform would
push, signed and encrypted as it does. Written from the vendors' documents independently of
the connectors' parsers, so simulator runs and tests are real round trips.

Every builder returns `Wire` = (body, headers, query).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from datetime import datetime

Wire = tuple[bytes, dict[str, str], dict[str, str]]

JSON_HEADERS = {"content-type": "application/json"}


def ms(ts: datetime | int | float | None) -> int:
    """Epoch milliseconds from a datetime, a number of ms, or now."""
    if ts is None:
        return int(time.time() * 1000)
    if isinstance(ts, datetime):
        return int(ts.timestamp() * 1000)
    return int(ts)


def nonce(n: int = 8) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


def md5_b64(token: str, nonce: str, msg: bytes) -> str:
    """OneNET's signature: base64(md5(token + nonce + msg))."""
    return base64.b64encode(hashlib.md5(token.encode() + nonce.encode() + msg).digest()).decode()


def aes_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()
