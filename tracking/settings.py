"""Settings from the environment (``GIAOVIEC_*``), read once per process."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_path
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.dates import parse_date

MIN_BACKOFF_SECONDS = 5.0


class SettingsError(ValueError):
    """A GIAOVIEC_* variable with a value that cannot be used; the message is Vietnamese and
    names every such variable."""


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
    delivery_max_attempts: int = Field(default=6, ge=1, le=100)
    # Doubles with each attempt, with jitter. At least MIN_BACKOFF_SECONDS: with 0 a failing
    # message was due again at once and one run retried it 150 000 times in ten minutes.
    delivery_backoff_seconds: float = Field(default=60.0, ge=MIN_BACKOFF_SECONDS, le=86400)
    delivery_lease_seconds: float = Field(default=300.0, ge=1)
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
    """The settings of this process; raises :class:`SettingsError` for a bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(settings_problems(exc)) from None


def settings_problems(exc: ValidationError) -> str:
    """The Vietnamese message for bad GIAOVIEC_* values (each variable and what it needs)."""
    lines = ["Cấu hình không hợp lệ:"]
    for error in exc.errors():
        name = "GIAOVIEC_" + "_".join(str(part) for part in error["loc"]).upper()
        lines.append(f"  {name}: {_problem(error)}")
    return "\n".join(lines)


def _problem(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    given = error.get("input")
    if kind == "greater_than_equal":
        return f"phải từ {ctx.get('ge')} trở lên (đang là {given})"
    if kind == "greater_than":
        return f"phải lớn hơn {ctx.get('gt')} (đang là {given})"
    if kind == "less_than_equal":
        return f"phải không quá {ctx.get('le')} (đang là {given})"
    if kind == "less_than":
        return f"phải nhỏ hơn {ctx.get('lt')} (đang là {given})"
    if kind in ("int_parsing", "int_from_float"):
        return f"phải là số nguyên (đang là “{given}”)"
    if kind == "float_parsing":
        return f"phải là số (đang là “{given}”)"
    if kind == "bool_parsing":
        return f"phải là true hoặc false (đang là “{given}”)"
    if kind == "literal_error":
        return f"phải là một trong {ctx.get('expected')} (đang là “{given}”)"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"giá trị “{given}” không dùng được"
