"""The web's own settings (``GIAOVIEC_*``): sessions, sign-in throttling, trusted proxies.

Read when the app is created; documented in docs/web.md.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GIAOVIEC_", extra="ignore")

    # A session ends this long after signing in, however much it is used (a working day).
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Failed sign-ins before a lock-out: per account name, and per client address (an address
    # guessing many names, or an office behind one NAT address: hence the larger number).
    login_account_failures: int = Field(default=5, ge=1)
    login_address_failures: int = Field(default=30, ge=1)
    # Failures are counted within this window; a key over its limit is locked this long.
    login_window_minutes: float = Field(default=15.0, gt=0)
    login_lock_minutes: float = Field(default=15.0, gt=0)
    # argon2 checks one process runs at once (64 MiB each): bounds memory and CPU under a burst.
    login_hash_concurrency: int = Field(default=2, ge=1, le=64)
    # How long a sign-in waits for a free check before "busy" (503). Generous: a burst of
    # logins queues (each check ~0.25 s of a core) rather than failing; memory stays bounded.
    login_queue_seconds: float = Field(default=120.0, gt=0)
    # Addresses whose X-Forwarded-Proto / X-Forwarded-For are believed (the reverse proxy),
    # comma-separated IPs or networks, "*" for any; uvicorn's own proxy handling is turned off.
    trusted_proxies: str = "127.0.0.1"


def web_settings() -> WebSettings:
    return WebSettings()
