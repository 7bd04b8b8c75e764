"""Device run-state monitoring (IOT-5).

`liveness` is the pure in-memory engine that decides online / offline / silent / never-seen
from message arrival times with a deadline heap; `clock` gives it its notion of time.
Nothing here touches the database or HTTP; the app wires it to ingest and the bus.
"""

from cityops.monitoring.clock import Clock, ManualClock, MonotonicClock
from cityops.monitoring.liveness import (
    NEVER_SEEN,
    OFFLINE,
    ONLINE,
    SILENT,
    STATES,
    LivenessEngine,
    LivenessLoop,
    Transition,
    bus_publisher,
)

__all__ = [
    "Clock", "ManualClock", "MonotonicClock", "LivenessEngine", "LivenessLoop", "Transition",
    "bus_publisher", "STATES", "ONLINE", "OFFLINE", "SILENT", "NEVER_SEEN",
]
