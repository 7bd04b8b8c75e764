"""The 7×24 service desk (OPS-3) and fault handling (OPS-4): tickets with SLA and escalation,
fault grades, fault records and briefs."""
