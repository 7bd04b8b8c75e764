"""Visits and receptions (VISIT-1): the visit calendar, pre-visit inspection, change freeze and
the visit record."""
