"""Helpers for the web tests: a loaded plan with accounts, clients, a real uvicorn, Chromium.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright's Python package;
Playwright's own browser downloads are never used. Tests skip with a clear reason when
``/usr/bin/chromium`` or the ``playwright`` package is missing.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import Engine

from models.web_tables import UserRole
from tests.conftest import BUILTIN_PLAN
from tracking import accounts, db, store
from tracking.planio import read_plan_file

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "web"
PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}

ANG = "an-giang-2024-hoi-nghi-thi-dua"
EVENT = dt.date(2024, 3, 15)
TODAY = dt.date(2024, 3, 4)  # Monday: 5 overdue, 2 due soon, 13 open in time
PASSWORD = "mat-khau-thu-nghiem"
SECRET = "k" * 48
# username -> (role, unit, display name)
USERS: dict[str, tuple[UserRole, str | None, str]] = {
    "tdkt": (UserRole.COORDINATOR, None, "Lê Văn C"),
    "stc": (UserRole.DEPARTMENT, "STC", "Bùi Thị K"),
    "vpubnd": (UserRole.DEPARTMENT, "VP-UBND", "Trần Thị B"),
    "lanhdao": (UserRole.VIEWER, None, "Lãnh đạo tỉnh"),
}
# Not yet in tests/conftest.py's TABLES: the web tests empty them themselves.
WEB_TABLES = ("login_throttle", "web_sessions", "used_links", "users")


# Test accounts are hashed with cheap argon2 parameters: the real ones cost 0.25 s a hash.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@contextmanager
def web_world(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, event_date: dt.date | None = EVENT
) -> Iterator[Engine]:
    """The An Giang plan with accounts, a fixed secret; the web tables emptied afterwards."""
    monkeypatch.setenv("GIAOVIEC_SECRET_KEY", SECRET)
    monkeypatch.delenv("GIAOVIEC_PUBLIC_URL", raising=False)
    monkeypatch.setattr(accounts, "_hasher", lambda: CHEAP_HASHER)
    clean_web_tables(engine)
    load_an_giang(engine, event_date)
    try:
        yield engine
    finally:
        clean_web_tables(engine)


def clean_web_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in WEB_TABLES:
            connection.execute(text(f"DELETE FROM {table}"))


def load_an_giang(engine: Engine, event_date: dt.date | None = EVENT) -> None:
    """The built-in plan with its conference date, and one account per role."""
    with db.session_scope(engine) as session:
        store.load_plan(session, read_plan_file(BUILTIN_PLAN), "kiem-thu")
        if event_date is not None:
            store.set_event_date(session, ANG, event_date, "kiem-thu")
        for username, (role, unit, name) in USERS.items():
            accounts.create_user(session, username, PASSWORD, role, unit, name)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(client: Any, username: str, password: str = PASSWORD) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password, "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def http_client(app: Any) -> Any:
    """Starlette's TestClient, imported without its notice about httpx2 (httpx works)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*httpx2")
        from starlette.testclient import TestClient
    return TestClient(app, base_url="http://testserver")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    port = free_port()
    # proxy_headers off, as in `giaoviec web`: the app applies GIAOVIEC_TRUSTED_PROXIES itself.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run this test")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright Python package is not installed")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; never a browser Playwright downloads."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    """Keep a full-page screenshot under test-artifacts/web/ for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
