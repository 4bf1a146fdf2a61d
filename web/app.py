"""The web dashboard and action pages: a FastAPI app rendered on the server (Jinja2).

Every page works without JavaScript and loads nothing from elsewhere. ``create_app`` takes the
database engine and the clock so tests (and `giaoviec web --today`) can inject them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tracking import accounts, clock, db, links
from tracking.evidence import megabytes
from tracking.settings import get_settings
from web import actions, auth, linkpages, pages
from web.config import WebSettings, web_settings
from web.deps import MAX_FILES, WebContext
from web.failures import Trouble, database_trouble, disk_trouble
from web.rendering import make_templates, message_page, trouble_page
from web.security import (
    SESSION_COOKIE,
    CsrfError,
    Forbidden,
    GuardMiddleware,
    LoginRequired,
    session_secret,
)

HERE = Path(__file__).parent
_FORM_ROOM = 1024 * 1024  # the other fields of a form, beside its files
logger = logging.getLogger(__name__)


def create_app(
    engine: Engine | None = None,
    today: Callable[[], dt.date] | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    settings = get_settings()
    web = web_settings()
    link_config = links.link_settings()
    app = FastAPI(title="giaoviec", docs_url=None, redoc_url=None, openapi_url=None)
    templates = make_templates()
    app.state.ctx = WebContext(
        engine=engine or db.default_engine(),
        today=today or clock.today,
        now=now or clock.now_utc,
        home=settings.home,
        max_evidence_bytes=settings.max_evidence_bytes,
        templates=templates,
        session_lifetime=dt.timedelta(hours=web.session_hours),
        throttle=_throttle_policy(web),
        hash_slots=accounts.hash_slots(web.login_hash_concurrency),
        hash_wait=web.login_queue_seconds,
    )
    for module in (pages, actions, auth, linkpages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _handlers(app)
    https = (link_config.public_url or "").lower().startswith("https://")
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(links.secret_key()),
        session_cookie=SESSION_COOKIE,
        # The browser may keep the cookie this long; the session itself ends on the server.
        max_age=int(web.session_hours * 3600),
        same_site="lax",
        https_only=https,
    )
    too_large = templates.get_template("message.html").render(
        title="Tệp quá lớn",
        message=(
            f"Dữ liệu gửi lên quá lớn: mỗi lần gửi tối đa {MAX_FILES} tệp, mỗi tệp tối đa "
            f"{megabytes(settings.max_evidence_bytes)}. Không có gì được lưu."
        ),
        user=None,
        request=None,
        flash=None,
    )
    app.add_middleware(
        GuardMiddleware,
        max_body=MAX_FILES * settings.max_evidence_bytes + _FORM_ROOM,
        too_large_page=too_large.encode(),
    )
    # Outermost: every layer sees the client's scheme and address, as forwarded by a trusted
    # reverse proxy (uvicorn's own proxy handling is off in `giaoviec web`: this is the one).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=_trusted(web.trusted_proxies))
    return app


def _trusted(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _throttle_policy(web: WebSettings) -> accounts.ThrottlePolicy:
    return accounts.ThrottlePolicy(
        account_failures=web.login_account_failures,
        address_failures=web.login_address_failures,
        window=dt.timedelta(minutes=web.login_window_minutes),
        lock=dt.timedelta(minutes=web.login_lock_minutes),
    )


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, _exc: CsrfError) -> Response:
        return message_page(
            request,
            "Biểu mẫu không hợp lệ",
            "Biểu mẫu đã hết hạn hoặc không được gửi từ trang này. "
            "Hãy tải lại trang rồi thử lại. Không có gì thay đổi.",
            403,
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return message_page(request, "Không có quyền", str(exc), 403)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return message_page(request, "Không tìm thấy", "Không tìm thấy trang này.", 404)
        if exc.status_code == 405:
            return message_page(request, "Không hợp lệ", "Thao tác không hợp lệ.", 405)
        return message_page(request, "Lỗi", "Yêu cầu không hợp lệ.", exc.status_code)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        trouble = database_trouble(exc)
        if trouble is None:
            raise exc
        return trouble_page(request, trouble, exc)

    @app.exception_handler(OSError)
    async def _disk(request: Request, exc: OSError) -> Response:
        if not disk_trouble(exc):
            raise exc
        return trouble_page(request, Trouble.DOWN, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> Response:
        return message_page(
            request, "Yêu cầu không hợp lệ", "Dữ liệu gửi lên không hợp lệ; hãy thử lại.", 400
        )


# --- uvicorn's access log ----------------------------------------------------------------

_LINK_PATH = re.compile(r"(/l/)[^/?\s\"]+")


class RedactLinkTokens(logging.Filter):
    """Access log lines show "/l/…" instead of a link's token: a token is a one-time key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LINK_PATH.sub(r"\1…", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True
