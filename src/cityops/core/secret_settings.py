"""Settings of a pluggable integration (a connector, a channel, a dispatch platform) kept as
plain JSON in the database, validated by the integration's own pydantic model; fields typed
`SecretStr` are secrets: never shown back, and the mask given back on edit keeps the value."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from cityops.core.errors import Invalid

MASK = "******"


def secret_fields(model: type[BaseModel]) -> set[str]:
    return {name for name, f in model.model_fields.items()
            if f.annotation is SecretStr or "SecretStr" in str(f.annotation)}


def validate(model: type[BaseModel], settings: dict[str, Any], *, what: str,
             previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validated settings as storable JSON (secrets in clear: the database is the secret
    store). With `previous`, a secret left out or given as the mask keeps its old value."""
    merged = dict(settings)
    for key in secret_fields(model):
        if previous and merged.get(key) in (None, "", MASK) and previous.get(key):
            merged[key] = previous[key]
    try:
        parsed = model.model_validate(merged)
    except ValidationError as exc:
        # pydantic prefixes a validator's own (Chinese) text with "Value error, "; people read it.
        raise Invalid(f"{what} 的设置无效", errors=[{"loc": list(e["loc"]), "msg": e["msg"].removeprefix("Value error, ")}
                                                for e in exc.errors()]) from None
    out = {}
    for name in model.model_fields:
        value = getattr(parsed, name)
        out[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return out


def public(model: type[BaseModel], settings: dict[str, Any]) -> dict[str, Any]:
    """Settings as shown to people and the API: secrets replaced by the mask."""
    secrets = secret_fields(model)
    return {k: ((MASK if v else None) if k in secrets else v) for k, v in settings.items()}
