"""Dispatch platform adapters (IOT-7 / SYS-DISPATCH); see `base` and `registry`."""
