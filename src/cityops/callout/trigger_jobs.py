"""Placeholder wired into registry.py; replaced by its owner in issue #6."""

from cityops.core.jobs import Scheduler


def register(scheduler: Scheduler) -> None:
    """No jobs yet."""
