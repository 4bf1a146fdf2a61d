"""Settings from the environment (``GIAOVIEC_*``), read once per process."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.dates import parse_date


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GIAOVIEC_", extra="ignore")

    home: Path = Field(default_factory=lambda: user_data_path("giaoviec"))
    database_url: str | None = None
    today: dt.date | None = None  # replaying a plan: pretend it is this day
    user: str | None = None  # who acts from this shell, when --by is not given
    max_evidence_bytes: int = 20 * 1024 * 1024

    # Email. With no SMTP host, messages are written as .eml files under home/outbox instead.
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_from_name: str = "Ban Thi đua - Khen thưởng"
    smtp_security: Literal["none", "starttls", "ssl"] = "starttls"

    # Zalo Official Account (OA messages) and ZNS. Tokens live in a token store, never here.
    zalo_oa_id: str | None = None
    zalo_app_id: str | None = None
    zalo_secret_key: SecretStr | None = None
    zalo_zns_template_id: str | None = None
    zalo_oa_base: str = "https://openapi.zalo.me"
    zalo_business_base: str = "https://business.openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"

    # Delivery
    delivery_max_attempts: int = 6
    delivery_backoff_seconds: float = 60.0  # doubles with each attempt, with jitter
    delivery_lease_seconds: float = 300.0
    # Emails in flight at once, each sender thread with its own reused SMTP connection. Also
    # how many emails a crash can send twice at most (sent, outcome not yet committed).
    delivery_concurrency: int = Field(default=4, ge=1, le=64)
    # A message the server could not be reached for is given up (failed) only once it has
    # had delivery_max_attempts attempts AND waited this long since it was enqueued, so an
    # outage of a few hours loses nothing.
    delivery_give_up_hours: float = Field(default=24.0, ge=0)

    # Tests and demos: run these flows every N seconds instead of on their schedule, as JSON,
    # e.g. {"daily-sweep": 30, "deliver-outbox": 10} (`giaoviec serve` only).
    schedule_seconds: dict[str, float] = Field(default_factory=dict)

    @field_validator("today", mode="before")
    @classmethod
    def _vn_or_iso(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            return parse_date(value)
        return value or None

    @property
    def zalo_enabled(self) -> bool:
        return bool(self.zalo_oa_id and self.zalo_app_id and self.zalo_secret_key)

    @property
    def zns_enabled(self) -> bool:
        return self.zalo_enabled and bool(self.zalo_zns_template_id)

    @property
    def sender_address(self) -> str:
        """GIAOVIEC_SMTP_FROM, else the SMTP login when it is an address, else a local one."""
        if self.smtp_from:
            return self.smtp_from
        if self.smtp_user and "@" in self.smtp_user:
            return self.smtp_user
        return "giaoviec@localhost"

    @property
    def outbox_folder(self) -> Path:
        return self.home / "outbox"

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file under ``home`` (the embedded default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'giaoviec.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
