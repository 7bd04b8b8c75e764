"""Placeholder: the engineer who owns this file replaces it."""

from cityops.core.jobs import Scheduler


def register(scheduler: Scheduler) -> None:
    pass
