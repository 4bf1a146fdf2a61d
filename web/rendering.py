"""Pages: the Jinja2 environment, a page never cached, the message page and the 503 page the
error handlers of :mod:`web.app` and the routes share."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request

from models.dates import format_vn
from models.numbering import citable_number
from models.web_tables import User, UserRole
from tracking import accounts, outbox
from web import labels
from web.deps import ctx_of
from web.failures import Trouble, describe
from web.security import csrf_token, pop_flash

HERE = Path(__file__).parent

logger = logging.getLogger(__name__)


def make_templates() -> Jinja2Templates:
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
