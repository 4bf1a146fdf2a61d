"""The web dashboard and action pages: a FastAPI app rendered on the server (Jinja2).

Every page works without JavaScript and loads nothing from elsewhere. ``create_app`` takes the
database engine and the clock so tests (and `giaoviec web --today`) can inject them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
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
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from models.dates import format_vn
from models.numbering import citable_number
from models.web_tables import User
from tracking import accounts, clock, db, links
from tracking.settings import get_settings
from web import labels
from web.security import (
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    CsrfError,
    Forbidden,
    GuardMiddleware,
    LoginRequired,
    csrf_token,
    end_session,
    pop_flash,
    session_secret,
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

    def session(self) -> AbstractContextManager[Session]:
        """One transaction: commits when the block ends, rolls back on any error."""
        return db.session_scope(self.engine)


def create_app(
    engine: Engine | None = None,
    today: Callable[[], dt.date] | None = None,
    now: Callable[[], dt.datetime] | None = None,
) -> FastAPI:
    settings = get_settings()
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
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=https,
    )
    too_large = templates.get_template("message.html").render(
        title="Tệp quá lớn",
        message=(
            f"Dữ liệu gửi lên quá lớn: mỗi lần gửi tối đa {MAX_FILES} tệp, mỗi tệp tối đa "
            f"{settings.max_evidence_bytes / 1e6:.0f} MB. Không có gì được lưu."
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
    return app


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
    """The signed-in, still active user whose password has not changed since signing in."""
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    user = session.get(User, uid)
    if (
        user is None
        or not user.active
        or request.session.get("fp") != accounts.session_fingerprint(user)
    ):
        end_session(request)
        return None
    return user


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
    response = ctx_of(request).templates.TemplateResponse(
        request, template, values, status_code=status_code
    )
    response.headers["cache-control"] = "no-store"
    return response


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
