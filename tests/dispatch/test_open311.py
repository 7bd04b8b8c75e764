"""The Open311 GeoReport v2 adapter against the dispatch simulator over real HTTP
(IOT-7 / SYS-DISPATCH): submit, idempotent resubmit, status, updates, returned orders,
error classification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cityops.dispatch.adapters import registry
from cityops.dispatch.adapters.base import ExternalState, PermanentError, RetryableError
from cityops.dispatch.adapters.open311 import Adapter, Settings, state_of
from cityops.geo.coords import gcj02_to_wgs84
from cityops.sim.dispatch import RESULT_TEXTS, RETURN_REASONS, UNROUTABLE

from .conftest import API_KEY, order


def test_submit_sends_open311_form_and_routes_to_street_office(adapter, sim):
    result = adapter.submit(order())
    placed = sim.orders[result.external_id]
    assert "华阳路街道办事处" in result.notice
    f = placed.fields
    assert f["service_code"] == "SMOKE" and f["api_key"] == API_KEY
    assert f["jurisdiction_id"] == "changning.sh.gov.cn"
    lon, lat = gcj02_to_wgs84(121.420, 31.222)  # Open311 lat/long are WGS-84, ours GCJ-02
    assert float(f["long"]) == pytest.approx(lon, abs=1e-6) and float(f["lat"]) == pytest.approx(lat, abs=1e-6)
    assert abs(float(f["long"]) - 121.420) > 0.003  # really converted (~500 m in Shanghai)
    assert f["address_string"] == "长宁区华阳路101弄3号楼"
    assert f["description"].startswith("华阳路101弄3号楼烟感报警\n")
    assert f["media_url"] == "https://cityops.example/media/a.jpg"
    assert placed.attributes["attachments"].splitlines()[1] == "https://cityops.example/media/b.jpg"
    assert placed.attributes["event_no"] == "EV-20261125-0001"
    assert placed.attributes["severity"] == "major"
    assert placed.attributes["reported_at"] == "2026-11-25T02:00:00+00:00"
    assert placed.key == "EV-20261125-0001#1"
    assert (placed.unit_code, placed.unit_name) == ("ST-310105001", "华阳路街道办事处")


def test_gcj02_platform_gets_coordinates_unchanged(server, sim):
    adapter = Adapter(Settings(base_url=server.url, api_key=API_KEY, datum="gcj02"))
    sr = adapter.submit(order())
    assert float(sim.orders[sr.external_id].fields["long"]) == pytest.approx(121.420)


def test_resubmit_with_same_key_returns_same_order(adapter, sim):
    first = adapter.submit(order("EV-1#1"))
    again = adapter.submit(order("EV-1#1"))
    other = adapter.submit(order("EV-2#1"))
    assert again.external_id == first.external_id != other.external_id
    assert "已存在" in again.notice
    assert len(sim.orders) == 2
    assert sim.submissions["EV-1#1"] == 2 and sim.submissions["EV-2#1"] == 1


def test_lost_answer_then_retry_creates_no_second_order(adapter, sim):
    sim.fail("timeout")  # the platform creates the order, the answer comes after the client gave up
    with pytest.raises(RetryableError, match="timed out"):
        adapter.submit(order("EV-9#1"))
    assert len(sim.orders) == 1
    retry = adapter.submit(order("EV-9#1"))
    assert retry.external_id == sim.order_for_key("EV-9#1").id
    assert len(sim.orders) == 1 and sim.submissions["EV-9#1"] == 2


def test_idempotency_key_travels_as_attribute_without_header(server, sim):
    adapter = Adapter(Settings(base_url=server.url, api_key=API_KEY, send_idempotency_header=False))
    a = adapter.submit(order("EV-3#1"))
    b = adapter.submit(order("EV-3#1"))
    assert a.external_id == b.external_id and len(sim.orders) == 1


def test_status_moves_to_disposed_with_result_and_photo(adapter, sim):
    sr = adapter.submit(order(unit_code="DEPT-XF"))
    first = adapter.status(sr.external_id)
    assert first.raw_status == "open" and first.state in (ExternalState.ACCEPTED, ExternalState.IN_PROGRESS)
    assert sim.wait_for(lambda: adapter.status(sr.external_id).state is ExternalState.DISPOSED, 5)
    done = adapter.status(sr.external_id)
    assert done.raw_status == "closed" and done.text in RESULT_TEXTS
    assert (done.unit_code, done.unit_name) == ("DEPT-XF", "区消防救援支队")  # unit code wins over street
    assert done.updated_at.utcoffset() == timedelta(hours=8)
    photo = httpx.get(done.photos[0], timeout=2)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    assert photo.content.startswith(b"\x89PNG")


def test_updates_since_a_time(adapter, sim):
    t0 = datetime.now(UTC)
    sr = adapter.submit(order())
    assert sim.wait_for(lambda: sim.orders[sr.external_id].status == "closed", 5)
    mine = [u for u in adapter.updates(t0) if u.external_id == sr.external_id]
    assert [u.state for u in mine] == [ExternalState.ACCEPTED, ExternalState.IN_PROGRESS, ExternalState.DISPOSED]
    assert [u.raw_status for u in mine] == ["ACTION_SCHEDULED", "IN_PROGRESS", "FIXED"]
    assert mine[0].at <= mine[1].at <= mine[2].at and mine[0].at >= t0
    assert all(u.unit_name == "华阳路街道办事处" and u.unit_code == "ST-310105001" for u in mine)
    assert mine[2].text in RESULT_TEXTS and mine[2].photos[0].endswith(f"/media/{sr.external_id}/result.png")
    assert len({u.update_id for u in mine}) == 3
    later = adapter.updates(mine[1].at)  # start_date is inclusive
    assert [u.update_id for u in later] == [mine[1].update_id, mine[2].update_id]
    assert adapter.updates(datetime.now(UTC) + timedelta(seconds=1)) == []


def test_returned_by_unit(adapter, sim):
    sim.return_rate = 1.0
    sr = adapter.submit(order())
    assert sim.wait_for(lambda: adapter.status(sr.external_id).state is ExternalState.RETURNED, 5)
    st = adapter.status(sr.external_id)
    assert st.raw_status == "closed" and st.raw["extended_attributes"]["detailed_status"] == "NOT_COUNCILS_RESPONSIBILITY"
    assert st.text.startswith("华阳路街道办事处退回：") and st.text.split("：", 1)[1] in RETURN_REASONS
    assert ExternalState.RETURNED.label == "已退回" and ExternalState.RETURNED.final


def test_unroutable_order_is_returned(adapter, sim):
    sr = adapter.submit(order(street_code=None, unit_code="DEPT-NOPE"))
    assert "待人工分派" in sr.notice
    assert sim.wait_for(lambda: adapter.status(sr.external_id).state is ExternalState.RETURNED, 3)
    assert adapter.status(sr.external_id).text == UNROUTABLE


@pytest.mark.parametrize("mode,status", [("500", 500), ("503", 503)])
def test_server_errors_are_retryable(adapter, sim, mode, status):
    sim.fail(mode)
    with pytest.raises(RetryableError) as err:
        adapter.submit(order())
    assert err.value.status_code == status and err.value.retryable
    assert sim.orders == {}  # nothing created by a refused call
    assert adapter.submit(order()).external_id  # next call goes through


def test_random_failure_rate_fails_calls_retryably(adapter, sim):
    sim.failure_rate = 1.0
    sim.slow_s = 0.8
    for _ in range(3):
        with pytest.raises(RetryableError):
            adapter.updates(datetime.now(UTC))
    assert len(sim.failures_served) == 3 and set(sim.failures_served) <= {"500", "503", "timeout"}


def test_platform_down_then_back(adapter, sim, server):
    sr = adapter.submit(order())
    sim.down = True
    with pytest.raises(RetryableError) as err:
        adapter.status(sr.external_id)
    assert err.value.status_code == 503 and "维护" in str(err.value)
    sim.down = False
    server.stop()  # unreachable: connection refused
    with pytest.raises(RetryableError, match="connection failed"):
        adapter.submit(order("EV-5#1"))
    server.start()
    assert adapter.status(sr.external_id).external_id == sr.external_id
    assert adapter.submit(order("EV-5#1")).external_id != sr.external_id


def test_permanent_errors(server, adapter):
    wrong_key = Adapter(Settings(base_url=server.url, api_key="wrong"))
    with pytest.raises(PermanentError) as err:
        wrong_key.submit(order())
    assert err.value.status_code == 403 and "api_key" in str(err.value) and not err.value.retryable
    with pytest.raises(PermanentError) as err:
        adapter.status("CN-NO-SUCH")
    assert err.value.status_code == 404
    elsewhere = Adapter(Settings(base_url=server.url, api_key=API_KEY, jurisdiction_id="xuhui.sh.gov.cn"))
    with pytest.raises(PermanentError, match="jurisdiction_id"):
        elsewhere.submit(order())
    with pytest.raises(PermanentError, match="service_code"):
        adapter.submit(order(category_code=""))


def test_non_json_answer_is_retryable():
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from cityops.sim.serve import serve_app

    proxy = FastAPI()

    @proxy.get("/requests/{sr}.json")
    def page(sr: str):
        return HTMLResponse("<html>网关维护</html>")

    with serve_app(proxy, lifespan="off") as url, pytest.raises(RetryableError, match="not JSON"):
        Adapter(Settings(base_url=url, api_key="k")).status("X1")


def test_registry_and_status_mapping(server):
    adapter = registry.create("open311", {"base_url": server.url, "api_key": API_KEY})
    assert isinstance(adapter, Adapter) and "open311" in registry.kinds()
    assert "secret" not in repr(adapter.settings) and API_KEY not in repr(adapter.settings)
    with pytest.raises(KeyError):
        registry.get("fax")
    assert state_of("closed", "FIXED") is ExternalState.DISPOSED
    assert state_of("closed") is ExternalState.CLOSED and state_of("open") is ExternalState.ACCEPTED
    assert state_of("investigating") is ExternalState.IN_PROGRESS


def test_work_order_validation():
    with pytest.raises(ValueError, match="idempotency"):
        order(key=" ")
    with pytest.raises(ValueError, match="coordinates or an address"):
        order(lon=None, lat=None, address=None)
    with pytest.raises(ValueError, match="together"):
        order(lon=None)


def test_concurrent_resubmits_make_one_order(adapter, sim):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(lambda _: adapter.submit(order("EV-7#1")).external_id, range(6)))
    assert len(ids) == 1 and len(sim.orders) == 1 and sim.submissions["EV-7#1"] == 6


def test_token_answer_is_resolved():
    from fastapi import FastAPI

    from cityops.sim.serve import serve_app

    queued = FastAPI()

    @queued.post("/requests.json")
    def create():
        return [{"token": "T-123"}]  # the spec lets a platform answer a token and assign the id later

    @queued.get("/tokens/{token}.json")
    def token(token: str):
        return [{"service_request_id": "CN-77", "token": token}] if token == "T-123" else []

    with serve_app(queued, lifespan="off") as url:
        assert Adapter(Settings(base_url=url, api_key="k")).submit(order()).external_id == "CN-77"


def test_api_key_is_not_logged(adapter, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="httpx"):
        adapter.updates(datetime.now(UTC))
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "servicerequestupdates.json" in logged and "api_key=***" in logged and API_KEY not in logged
