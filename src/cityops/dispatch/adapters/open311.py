"""Open311 GeoReport v2 client (IOT-7 / SYS-DISPATCH): the district smart-dispatch platform
modelled as an Open311 endpoint, JSON format.

    POST {base}/requests.json                  form-encoded: service_code, lat, long,
                                               address_string, description, media_url,
                                               api_key, jurisdiction_id, attribute[...]
    GET  {base}/requests/{id}.json             one request (a one-element array)
    GET  {base}/tokens/{token}.json            when POST answered a token instead of an id
    GET  {base}/servicerequestupdates.json     mySociety extension: updates since start_date

The spec's `status` is only open/closed; the finer state comes from the update statuses of
the mySociety "additional states" (IN_PROGRESS, FIXED, NOT_COUNCILS_RESPONSIBILITY, …) and,
for a single request, from the non-standard `extended_attributes.detailed_status` when the
platform sends it. lat/long are WGS-84 by the spec; our coordinates are GCJ-02, so they are
converted unless the platform is configured as GCJ-02.

The idempotency key travels twice: as `attribute[idempotency_key]` (survives proxies that
drop unknown headers) and as the `Idempotency-Key` header.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, Field, SecretStr

from cityops.dispatch.adapters.base import (
    DispatchError,
    ExternalState,
    ExternalStatus,
    PermanentError,
    RetryableError,
    SubmitResult,
    Update,
    WorkOrder,
)

log = logging.getLogger(__name__)

# Update / detailed statuses (case-insensitive) → our state. Unknown open-ish values fall back
# to the standard open/closed meaning.
STATE_OF: dict[str, ExternalState] = {
    "open": ExternalState.ACCEPTED,
    "confirmed": ExternalState.ACCEPTED,
    "action_scheduled": ExternalState.ACCEPTED,
    "investigating": ExternalState.IN_PROGRESS,
    "in_progress": ExternalState.IN_PROGRESS,
    "fixed": ExternalState.DISPOSED,
    "not_councils_responsibility": ExternalState.RETURNED,
    "internal_referral": ExternalState.RETURNED,
    "duplicate": ExternalState.CLOSED,
    "no_further_action": ExternalState.CLOSED,
    "closed": ExternalState.CLOSED,
}


class Settings(BaseModel):
    base_url: str = Field(..., description="GeoReport v2 endpoint, e.g. https://…/open311/v2")
    api_key: SecretStr
    jurisdiction_id: str | None = None
    timeout_s: float = Field(10.0, gt=0, le=120)
    datum: Literal["wgs84", "gcj02"] = "wgs84"  # what the platform expects in lat/long
    send_idempotency_header: bool = True


def _w3c(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("aware datetime needed")
    return value.isoformat()


def parse_time(value: Any) -> datetime | None:
    """A W3C datetime ("…Z" or "…+08:00"); None when missing or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def state_of(raw_status: str, detailed: str | None = None) -> ExternalState:
    for value in (detailed, raw_status):
        if value and value.strip().lower() in STATE_OF:
            return STATE_OF[value.strip().lower()]
    return ExternalState.ACCEPTED


def _errors(response: httpx.Response) -> str:
    """The Open311 error list ([{code, description}]) as one line, or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    items = body if isinstance(body, list) else [body]
    parts = [f"{e.get('code', '')} {e.get('description', '')}".strip() for e in items if isinstance(e, dict)]
    return "; ".join(p for p in parts if p) or response.text[:200]


class Adapter:
    kind: ClassVar[str] = "open311"
    label: ClassVar[str] = "Open311 GeoReport v2 派单平台"
    Settings: ClassVar[type[BaseModel]] = Settings

    def __init__(self, settings: Settings):
        self.settings = settings

    # -- HTTP --

    def _url(self, path: str) -> str:
        return self.settings.base_url.rstrip("/") + "/" + path

    def _call(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        from cityops.core import http

        response = http.call(method, self._url(path), timeout_s=self.settings.timeout_s, what=what,
                             retryable=RetryableError, permanent=PermanentError, describe=_errors, **kwargs)
        try:
            return response.json()
        except ValueError as exc:  # a proxy's HTML page with 200
            raise RetryableError(f"{what}: answer is not JSON", status_code=response.status_code) from exc

    def _query(self, **extra: Any) -> dict[str, Any]:
        params = {k: v for k, v in extra.items() if v is not None}
        if self.settings.jurisdiction_id:
            params["jurisdiction_id"] = self.settings.jurisdiction_id
        return params

    # -- the three calls --

    def form(self, order: WorkOrder) -> dict[str, str]:
        """The POST requests.json fields for `order` (public so the outbox can show what it sent)."""
        fields: dict[str, str] = {
            "service_code": order.category_code,
            "description": f"{order.title}\n{order.description}".strip(),
            "api_key": self.settings.api_key.get_secret_value(),
            **self._query(),
        }
        if order.lon is not None and order.lat is not None:
            lon, lat = order.lon, order.lat
            if self.settings.datum == "wgs84":
                from cityops.geo.coords import gcj02_to_wgs84

                lon, lat = gcj02_to_wgs84(lon, lat)
            fields["lat"], fields["long"] = f"{float(lat):.7f}", f"{float(lon):.7f}"
        if order.address:
            fields["address_string"] = order.address
        if order.attachments:
            fields["media_url"] = order.attachments[0]  # the spec carries one; all go in an attribute
        attributes = {
            "idempotency_key": order.idempotency_key,
            "event_no": order.event_no,
            "category_name": order.category_name,
            "title": order.title,
            "street_code": order.street_code,
            "unit_code": order.unit_code,
            "severity": order.severity,
            "reported_at": _w3c(order.reported_at) if order.reported_at else None,
            "attachments": "\n".join(order.attachments) if order.attachments else None,
            "callback_url": order.callback_url,
        }
        fields.update({f"attribute[{k}]": str(v) for k, v in attributes.items() if v})
        return fields

    def submit(self, work_order: WorkOrder) -> SubmitResult:
        headers = {"Idempotency-Key": work_order.idempotency_key} if self.settings.send_idempotency_header else {}
        what = f"Open311 submit {work_order.event_no}"
        body = self._call("POST", "requests.json", what=what, data=self.form(work_order), headers=headers)
        first = self._first(body, what)
        external_id = first.get("service_request_id")
        if not external_id and first.get("token"):
            external_id = self._resolve_token(str(first["token"]), what)
        if not external_id:
            raise RetryableError(f"{what}: no service_request_id in the answer", detail={"answer": first})
        return SubmitResult(external_id=str(external_id), notice=first.get("service_notice"), raw=first)

    def _resolve_token(self, token: str, what: str) -> str | None:
        # The platform queued the request; resubmitting with the same key is safe if it is not ready.
        body = self._call("GET", f"tokens/{token}.json", what=f"{what} (token)", params=self._query())
        return self._first(body, what).get("service_request_id")

    def status(self, external_id: str) -> ExternalStatus:
        what = f"Open311 status {external_id}"
        item = self._first(self._call("GET", f"requests/{external_id}.json", what=what, params=self._query()), what)
        raw_status = str(item.get("status") or "")
        extended = item.get("extended_attributes") if isinstance(item.get("extended_attributes"), dict) else {}
        state = state_of(raw_status, extended.get("detailed_status"))
        media = item.get("media_url")
        return ExternalStatus(
            external_id=str(item.get("service_request_id") or external_id), state=state, raw_status=raw_status,
            text=item.get("status_notes") or None, unit_code=extended.get("agency_code"),
            unit_name=item.get("agency_responsible") or None, updated_at=parse_time(item.get("updated_datetime")),
            expected_at=parse_time(item.get("expected_datetime")), photos=[media] if media else [], raw=item)

    def updates(self, since: datetime) -> list[Update]:
        what = "Open311 servicerequestupdates"
        params = self._query(start_date=_w3c(since), api_key=self.settings.api_key.get_secret_value())
        body = self._call("GET", "servicerequestupdates.json", what=what, params=params)
        if isinstance(body, dict):  # FixMyStreet wraps the list; some servers do not
            body = body.get("service_requests_updates", body.get("service_request_updates", []))
        if not isinstance(body, list):
            raise RetryableError(f"{what}: answer is not a list of updates")
        out = [u for u in (self._update(item) for item in body if isinstance(item, dict)) if u is not None]
        return sorted(out, key=lambda u: u.at)

    def callback_update(self, payload: dict[str, Any]) -> Update:
        """A callback carries one update in the servicerequestupdates shape."""
        if not isinstance(payload, dict):
            raise ValueError("callback body is not a JSON object")
        update = self._update(payload)
        if update is None:
            raise ValueError("callback lacks update_id, service_request_id or a readable updated_datetime")
        return update

    def _update(self, item: dict[str, Any]) -> Update | None:
        at = parse_time(item.get("updated_datetime"))
        if at is None or not item.get("service_request_id") or not item.get("update_id"):
            log.warning("Open311 update without id or time skipped: %s", item.get("update_id"))
            return None
        photos: list[str | bytes] = [m for m in item.get("media_urls") or [] if m]
        if item.get("media_url") and item["media_url"] not in photos:
            photos.insert(0, item["media_url"])
        raw_status = str(item.get("status") or "")
        return Update(update_id=str(item["update_id"]), external_id=str(item["service_request_id"]),
                      state=state_of(raw_status), raw_status=raw_status, at=at,
                      text=item.get("description") or None, photos=photos, unit_code=item.get("agency_code"),
                      unit_name=item.get("agency_responsible"), raw=item)

    @staticmethod
    def _first(body: Any, what: str) -> dict[str, Any]:
        """Open311 answers single objects as one-element arrays."""
        if isinstance(body, list) and body and isinstance(body[0], dict):
            return body[0]
        if isinstance(body, dict):
            return body
        raise RetryableError(f"{what}: unexpected answer shape")


__all__ = ["STATE_OF", "Adapter", "DispatchError", "Settings", "parse_time", "state_of"]
