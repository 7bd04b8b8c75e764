"""Tests of the notification channels (IOT-5 / OPS-3) against their simulators."""
