"""The dispatch platform simulator itself (IOT-7 / SYS-DISPATCH): seeded, scalable time,
manual stepping, Open311 validation answers."""

from __future__ import annotations

import httpx

from cityops.sim.dispatch import DispatchSim, serve

from .conftest import API_KEY


def _post(url: str, **fields) -> httpx.Response:
    base = {"api_key": API_KEY, "service_code": "DUMP", "description": "暴露垃圾", "lat": "31.22",
            "long": "121.41", "attribute[street_code]": "310105005"}
    return httpx.post(url + "/requests.json", data={**base, **fields}, timeout=2)


def test_real_time_scale_waits_until_advanced():
    sim = DispatchSim(api_key=API_KEY, time_scale=1.0, return_rate=0.0)  # minutes per step
    with serve(sim) as server:
        answer = _post(server.url, **{"attribute[idempotency_key]": "K1"})
        assert answer.status_code == 201
        sr_id = answer.json()[0]["service_request_id"]
        order = sim.orders[sr_id]
        assert order.unit_name == "周家桥街道办事处" and order.detailed_status == "open"
        for expected in ("ACTION_SCHEDULED", "IN_PROGRESS", "FIXED"):
            sim.advance(sr_id)
            assert order.detailed_status == expected
        assert order.status == "closed" and order.steps == []
        got = httpx.get(f"{server.url}/requests/{sr_id}.json", timeout=2).json()[0]
        assert got["status"] == "closed" and got["agency_responsible"] == "周家桥街道办事处"
        assert got["media_url"] == f"{server.url}/media/{sr_id}/result.png"
        assert _post(server.url, **{"attribute[idempotency_key]": "K1"}).status_code == 200  # existing order


def test_same_seed_same_story():
    def story(seed: int) -> list[tuple[str, str]]:
        sim = DispatchSim(api_key=API_KEY, seed=seed, time_scale=1.0, return_rate=0.5)
        out = []
        for n in range(6):
            order, created = sim.create({"service_code": "X", "attribute[street_code]": "310105001"}, f"K{n}")
            assert created
            out += [(status, text) for _, status, text in order.steps]
        return out

    assert story(7) == story(7)
    assert story(7) != story(8)
    assert {s for s, _ in story(7)} >= {"FIXED", "NOT_COUNCILS_RESPONSIBILITY"}  # both outcomes occur


def test_open311_validation_answers():
    sim = DispatchSim(api_key=API_KEY, time_scale=1.0)
    with serve(sim) as server:
        missing = _post(server.url, lat="", long="")
        assert missing.status_code == 400 and "lat/long" in missing.json()[0]["description"]
        bad = _post(server.url, lat="north")
        assert bad.status_code == 400 and bad.json() == [{"code": 400, "description": "lat/long 无效"}]
        assert _post(server.url, api_key="").status_code == 403
        assert httpx.get(f"{server.url}/servicerequestupdates.json", params={"start_date": "yesterday"},
                         timeout=2).status_code == 400
        assert httpx.get(f"{server.url}/media/NOPE/result.png", timeout=2).status_code == 404
        assert sim.orders == {}
