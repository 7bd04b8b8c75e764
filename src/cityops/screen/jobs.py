"""Placeholder: being written."""


def register(scheduler) -> None:
    return None
