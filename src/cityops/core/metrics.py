"""Prometheus metrics: one registry per process, exposed at GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "cityops_http_requests_total", "HTTP requests served", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "cityops_http_request_seconds", "HTTP request latency", ["method", "route"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
JOB_RUNS = Counter("cityops_job_runs_total", "Background job runs", ["job", "outcome"], registry=REGISTRY)
JOB_SECONDS = Histogram("cityops_job_seconds", "Background job duration", ["job"], registry=REGISTRY)
LOGIN_FAILURES = Counter("cityops_login_failures_total", "Failed logins", registry=REGISTRY)
AUDIT_CHAIN_OK = Gauge("cityops_audit_chain_ok", "1 when the last audit-chain verification passed", registry=REGISTRY)
INGEST_MESSAGES = Counter("cityops_ingest_messages_total", "Device messages accepted", ["kind"], registry=REGISTRY)
INGEST_REJECTED = Counter("cityops_ingest_rejected_total", "Pushes rejected to the dead-letter store", ["kind"],
                          registry=REGISTRY)
