"""Settings from the environment (``GIAOVIEC_*``), read once per process."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_path
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.dates import parse_date


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GIAOVIEC_", extra="ignore")

    home: Path = Field(default_factory=lambda: user_data_path("giaoviec"))
    database_url: str | None = None
    today: dt.date | None = None  # replaying a plan: pretend it is this day
    user: str | None = None  # who acts from this shell, when --by is not given
    max_evidence_bytes: int = 20 * 1024 * 1024

    @field_validator("today", mode="before")
    @classmethod
    def _vn_or_iso(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            return parse_date(value)
        return value or None

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file under ``home`` (the embedded default)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'giaoviec.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
