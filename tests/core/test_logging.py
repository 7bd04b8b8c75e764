"""Structured logs: one JSON object per line; the libraries that log every HTTP call at INFO
(httpx in the outbox, the probes and the demo's simulated fleet) are kept to warnings unless
the service runs at DEBUG."""

from __future__ import annotations

import json
import logging

import pytest

from cityops.core import logging as cityops_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in cityops_logging.CHATTY}
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def test_http_client_chatter_is_quiet_unless_debugging(restore_logging, capsys):
    cityops_logging.setup("INFO", as_json=True)
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/ingest/1 \"HTTP/1.1 200 OK\"")
    logging.getLogger("httpx").warning("connection pool full")
    logging.getLogger("cityops.test").info("工单已推送", extra={"order": 7})
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [(x["logger"], x["msg"]) for x in lines] == [("httpx", "connection pool full"),
                                                         ("cityops.test", "工单已推送")]
    assert lines[1]["order"] == 7 and lines[1]["level"] == "info"

    cityops_logging.setup("DEBUG", as_json=True)
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)
