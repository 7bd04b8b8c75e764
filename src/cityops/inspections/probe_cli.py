"""`cityops probe KIND TARGET` (OPS-1). INTERFACE STUB — the probes engineer replaces the body."""

from __future__ import annotations


def main(kind: str, target: str, options: tuple[str, ...], timeout: float) -> None:
    raise NotImplementedError
