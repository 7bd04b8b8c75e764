"""Connector tests (IOT-2): pure unit tests, no database."""
