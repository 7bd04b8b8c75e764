"""Inspections (OPS-1, ROOM-1..3): automated probes, manual checklists, inspection plans and
the findings they raise."""
