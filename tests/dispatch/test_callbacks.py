"""Signed callbacks from the dispatch simulator (IOT-7): HMAC-SHA256 over the raw body in
`X-Signature`, verified with `cityops.dispatch.signing`."""

from __future__ import annotations

import json

from cityops.dispatch import signing
from cityops.sim.dispatch import RESULT_TEXTS

from .conftest import SECRET, order


def test_callbacks_are_signed_and_verify(adapter, sim, receiver):
    sr = adapter.submit(order(callback_url=receiver.url))
    assert sim.orders[sr.external_id].callback_url == receiver.url
    assert sim.wait_for(lambda: len(receiver.received) == 3, 5)
    statuses = []
    for body, headers in receiver.received:
        assert signing.verify(SECRET, body, headers["x-signature"])
        payload = json.loads(body)
        assert payload["service_request_id"] == sr.external_id
        assert payload["idempotency_key"] == "EV-20261125-0001#1" and payload["event_no"] == "EV-20261125-0001"
        statuses.append(payload["status"])
    assert statuses == ["ACTION_SCHEDULED", "IN_PROGRESS", "FIXED"]
    assert json.loads(receiver.received[-1][0])["description"] in RESULT_TEXTS
    # the simulator files its record after the receiver has answered: wait for the third
    assert sim.wait_for(lambda: len(sim.callbacks) == 3, 5)
    assert [c.status_code for c in sim.callbacks] == [200, 200, 200]


def test_tampered_body_or_wrong_secret_fails(adapter, sim, receiver):
    adapter.submit(order(callback_url=receiver.url))
    assert sim.wait_for(lambda: len(receiver.received) >= 1, 3)
    body, headers = receiver.received[0]
    signature = headers["x-signature"]
    tampered = body.replace(b"ACTION_SCHEDULED", b"FIXED")
    assert tampered != body
    assert not signing.verify(SECRET, tampered, signature)
    assert not signing.verify("another-secret", body, signature)
    assert not signing.verify(SECRET, body, None) and not signing.verify(SECRET, body, "")
    assert signing.verify(SECRET, body, "sha256=" + signature.upper())


def test_unreachable_callback_is_retried_and_recorded(adapter, sim):
    sim.return_rate = 1.0
    adapter.submit(order(callback_url="http://127.0.0.1:9/nowhere"))
    assert sim.wait_for(lambda: len(sim.callbacks) == 2, 5)
    assert all(c.status_code is None and c.error and c.attempts == sim.callback_attempts for c in sim.callbacks)
    assert sim.callbacks[-1].payload["status"] == "NOT_COUNCILS_RESPONSIBILITY"
