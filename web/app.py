"""The web dashboard and action pages: a FastAPI app rendered on the server (Jinja2).

Every page works without JavaScript and loads nothing from elsewhere. ``create_app`` takes the
database engine and the clock so tests (and `giaoviec web --today`) can inject them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from models.dates import format_vn
from models.numbering import citable_number
from models.web_tables import User, UserRole
from tracking import accounts, clock, db, links, outbox
from tracking.evidence import megabytes
from tracking.settings import get_settings
from web import labels
from web.config import WebSettings, web_settings
from web.failures import Trouble, database_trouble, describe, disk_trouble
from web.security import (
    SESSION_COOKIE,
    CsrfError,
    Forbidden,
    GuardMiddleware,
    LoginRequired,
    csrf_token,
    end_session,
    pop_flash,
    session_secret,
    session_token,
)

HERE = Path(__file__).parent
MAX_FILES = 5  # evidence files in one submission
_FORM_ROOM = 1024 * 1024  # the other fields of a form, beside its files

# An assignment id in a URL: the databases' INTEGER column; a larger number would make the
# database fail (PostgreSQL: out of range, SQLite: overflow) instead of answering "not found".
AssignmentId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WebContext:
    """What every route needs: the database, the clock and the limits."""

    engine: Engine
    today: Callable[[], dt.date]
    now: Callable[[], dt.datetime]
    home: Path
    max_evidence_bytes: int
    templates: Jinja2Templates
    session_lifetime: dt.timedelta
    throttle: accounts.ThrottlePolicy
    # argon2 checks this process runs at once (64 MiB each): shared by every worker thread.
    hash_slots: threading.Semaphore
    hash_wait: float  # seconds a sign-in waits for a slot before "busy"

    def session(self) -> AbstractContextManager[Session]:
        """One transaction: commits when the block ends, rolls back on any error."""
        return db.session_scope(self.engine)


def create_app(
    engine: Engine | None = None,
    today: Callable[[], dt.date] | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    settings = get_settings()
    web = web_settings()
    link_config = links.link_settings()
    app = FastAPI(title="giaoviec", docs_url=None, redoc_url=None, openapi_url=None)
    templates = _templates()
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
    from web import actions, auth, linkpages, pages

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


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["vn_date"] = format_vn
    env.filters["citable_number"] = citable_number
    env.filters["long_date"] = labels.long_date
    env.filters["local_time"] = labels.local_time
    env.globals.update(
        timeliness_label=labels.timeliness_label,
        timeliness_class=labels.timeliness_class,
        state_label=labels.state_label,
        state_class=lambda state: labels.STATE_CLASS[state],
        role_label=lambda role: accounts.ROLE_LABELS[role],
        csrf_token=csrf_token,
    )
    return templates


def ctx_of(request: Request) -> WebContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, WebContext)
    return ctx


def current_user(request: Request, session: Session) -> User | None:
    """The user of the request's live session: signed in, not signed out since, not expired,
    account still active (checked in the database on every request)."""
    token = session_token(request)
    if token is None:
        return None
    user = accounts.session_user(session, token, ctx_of(request).now())
    if user is None:
        end_session(request)
    return user


def client_address(request: Request) -> str:
    """The client's IP (a trusted proxy's X-Forwarded-For already applied)."""
    return request.client.host if request.client else "unknown"


def require_user(request: Request, session: Session) -> User:
    user = current_user(request, session)
    if user is None:
        raise LoginRequired
    return user


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """A page, never cached: it may hold a CSRF token or a unit's private data."""
    values = {"request": request, "flash": pop_flash(request), "user": None, **context}
    values.setdefault("delivery_alert", _delivery_alert(request, values["user"]))
    response = ctx_of(request).templates.TemplateResponse(
        request, template, values, status_code=status_code
    )
    response.headers["cache-control"] = "no-store"
    return response


def _delivery_alert(request: Request, user: User | None) -> str | None:
    """The operator's alert (mail held: the SMTP server refused the login), for coordinators.

    Read on every page a coordinator opens — one query on a table that is empty while all is
    well — so the banner appears as soon as delivery raises it and goes once it clears.
    """
    if user is None or user.role is not UserRole.COORDINATOR:
        return None
    try:
        with ctx_of(request).session() as session:
            return outbox.alert_banner(session)
    except SQLAlchemyError:  # the page itself says what is wrong with the database
        return None


def message_page(
    request: Request, title: str, message: str, status_code: int, user: User | None = None
) -> HTMLResponse:
    return render(
        request, "message.html", {"title": title, "message": message, "user": user}, status_code
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


BUSY_SECONDS = 5  # Retry-After for a database busy with a long write
DOWN_SECONDS = 300  # Retry-After for maintenance


def trouble_page(request: Request, trouble: Trouble, exc: BaseException) -> Response:
    """503: try again shortly (busy), or the maintenance page (damaged, full, unreachable)."""
    if trouble is Trouble.BUSY:
        logger.warning("database busy: %s", describe(exc))
        title, seconds = "Hệ thống đang bận", BUSY_SECONDS
        text = (
            "Hệ thống đang bận, hãy thử lại sau ít giây. "
            "Thao tác vừa rồi chưa được ghi nhận; không có gì thay đổi."
        )
    else:
        logger.error("database or disk unavailable: %s", describe(exc))
        title, seconds = "Hệ thống đang bảo trì", DOWN_SECONDS
        text = (
            "Hệ thống tạm ngừng phục vụ do sự cố lưu trữ dữ liệu (cơ sở dữ liệu hoặc ổ đĩa). "
            "Bộ phận kỹ thuật đã được báo qua nhật ký hệ thống; hãy thử lại sau ít phút. "
            "Thao tác vừa rồi chưa được ghi nhận."
        )
    # No database read here: the page must render while the database is unusable.
    page = (
        ctx_of(request)
        .templates.get_template("message.html")
        .render(title=title, message=text, user=None, request=request, flash=None)
    )
    return HTMLResponse(
        page,
        status_code=503,
        headers={"retry-after": str(seconds), "cache-control": "no-store"},
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
