"""Lines (CALL-3): the voice gateways and IP phones calls go out through. Placeholder interface,
filled in by its owner in issue #6: `dial_targets` is what the SIP telephony adapter uses."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class GatewayTarget:
    """One SIP gateway the dialer may send calls to, with its free capacity in ports."""

    id: int
    name: str
    host: str
    port: int
    ports: int  # concurrent calls the gateway takes, as configured
    username: str | None = None
    password: str | None = None
    line_group: str = ""


def dial_targets(session: Session, line_group: str = "") -> list[GatewayTarget]:
    """Enabled, healthy gateways of `line_group` ("" = any), best first."""
    return []
