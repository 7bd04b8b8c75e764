"""Settings from the environment (`CITYOPS_*`)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    var_dir: Path = Path("./var")
    database_url: str = ""  # empty: SQLite file under var_dir
    mqtt_url: str | None = None
    public_url: str = ""  # the console's address as people reach it; makes links in notifications absolute
    mqtt_client_id: str = ""  # empty: cityops-<host>-<role>; every worker needs its own
    asr_model_dir: str = ""  # a local speech-recognition (Vosk) model; empty: key presses only (CALL-1)
    # Outbound calls: "sip" dials the configured voice gateways; "sim" the telephony simulator
    # (the demo). With "sip" and no gateway configured, nothing is dialled.
    callout_telephony: str = "sip"
    callout_local_ip: str = "127.0.0.1"  # the address gateways reach us at for SIP and RTP
    callout_retention_days: int = 1095  # call records and dialogue steps; statistics are kept (CALL-2)
    probe_retention_days: int = 90  # automated inspection results (OPS-1)
    # True only in `cityops demo`: the guided tour may inject simulated scenarios (VISIT-2).
    # A production instance refuses them, so a tour never writes into live data.
    demo_mode: bool = False
    # The demo instance's address (e.g. http://ops-demo:8100). On a live instance the presenter
    # page then opens the scenario steps there instead of only refusing them (VISIT-2).
    tour_demo_url: str = ""
    # Signing keys. Unset: generated once and kept in var_dir (mode 0600), so
    # tokens and the audit chain survive restarts without a key in the environment.
    secret_key: SecretStr | None = None
    audit_key: SecretStr | None = None
    token_ttl_minutes: int = 60
    login_max_failures: int = 5
    login_window_seconds: int = 300
    log_level: str = "INFO"
    log_json: bool = True
    role: str = "all"  # api | worker | scheduler | all
    jobs_enabled: bool = True
    cookie_secure: bool = False

    @field_validator("tour_demo_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        parts = urlsplit(v)
        if v and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ValueError("CITYOPS_TOUR_DEMO_URL must be an http:// or https:// address, e.g. http://ops-demo:8100")
        return v

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.var_dir / 'cityops.db').resolve()}"

    def _key(self, value: SecretStr | None, filename: str) -> str:
        if value is not None:
            return value.get_secret_value()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        path = self.var_dir / filename
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()

    def signing_key(self) -> str:
        return self._key(self.secret_key, "secret.key")

    def audit_signing_key(self) -> str:
        return self._key(self.audit_key, "audit.key")


@lru_cache
def get_settings() -> Settings:
    return Settings()
