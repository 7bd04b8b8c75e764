"""Job `callout.dial` (CALL-1): one dialer pass every 5 s, one process at a time (singleton).

`settings.callout_telephony` picks the adapter: "sim" dials through the simulator (records carry
adapter "sim"); "sip" (the default) dials through the voice gateways of the line registry
(`lines.dial_targets`). With "sip" and no usable gateway the pass dials nothing, leaves the tasks
pending and logs one warning per hour, so a missing gateway is visible without flooding the log.
SIP calls run in the process's `dialer.CallPool`: the pass claims tasks and returns; the calls
end (and are stored) in the pool's threads, their results show in the next pass's counts."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy.orm import Session

from cityops.callout import dialer, lines
from cityops.callout.sip_telephony import SipTelephony
from cityops.callout.telephony import SimTelephony, Telephony
from cityops.core.db import Database
from cityops.core.jobs import Scheduler
from cityops.core.settings import get_settings
from cityops.core.timeutil import utcnow

INTERVAL_S = 5
NO_GATEWAY_WARN_EVERY_S = 3600
_SIM = SimTelephony(seed=0)
_last_warning: float | None = None
_POOL: dialer.CallPool | None = None
_POOL_LOCK = threading.Lock()

log = logging.getLogger(__name__)


def telephony(settings, session: Session) -> Telephony | None:
    """The adapter the settings ask for; None when it is SIP and no gateway is configured."""
    if settings.callout_telephony == "sim":
        return _SIM
    if not lines.dial_targets(session, ""):
        return None
    return SipTelephony(targets=lines.dial_targets, local_ip=settings.callout_local_ip, var_dir=settings.var_dir)


def run(db: Database, now: datetime | None = None, settings=None) -> dict[str, int]:
    settings = settings or get_settings()
    with db.session() as s:
        tel = telephony(settings, s)
    if tel is None:
        _warn_no_gateway()
        return {}
    pool = _call_pool() if getattr(tel, "concurrent", False) else None
    return dialer.run_due(db, telephony=tel, now=now or utcnow(), pool=pool)


def _call_pool() -> dialer.CallPool:
    """The process's calls in flight; a pass hands its calls over and returns at once."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = dialer.CallPool()
        return _POOL


def _warn_no_gateway() -> None:
    global _last_warning
    if _last_warning is None or time.monotonic() - _last_warning >= NO_GATEWAY_WARN_EVERY_S:
        _last_warning = time.monotonic()
        log.warning("callout: no voice gateway configured; call tasks stay pending "
                    "(add one under 线路状态, or set CITYOPS_CALLOUT_TELEPHONY=sim for the simulator)")


def register(scheduler: Scheduler) -> None:
    scheduler.register("callout.dial", INTERVAL_S, lambda db: run(db, settings=scheduler.settings),
                       singleton=True, initial_delay_s=15)
