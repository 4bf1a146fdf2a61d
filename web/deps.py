"""What the routes share about a request: the app's context (database, clock, limits), the
signed-in user and the path parameters every router validates alike. Route modules import
these from here, never from :mod:`web.app` (the factory, which imports the routers)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Form
from fastapi import Path as PathParam
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.requests import Request

from models.web_tables import User
from tracking import accounts, db
from web.security import LoginRequired, check_csrf, end_session, session_token

MAX_FILES = 5  # evidence files in one submission

# An assignment id in a URL: the databases' INTEGER column; a larger number would make the
# database fail (PostgreSQL: out of range, SQLite: overflow) instead of answering "not found".
AssignmentId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]


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


# A route's context, as a FastAPI dependency: ``def page(request: Request, ctx: Ctx)``.
Ctx = Annotated[WebContext, Depends(ctx_of)]


def checked_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    """Every form a route accepts carries the session's CSRF token: checked before the route
    runs (a CsrfError becomes the "Biểu mẫu không hợp lệ" page)."""
    check_csrf(request, csrf_token)


# For a POST route: ``@router.post(path, dependencies=[CHECKED_CSRF])``.
CHECKED_CSRF = Depends(checked_csrf)
