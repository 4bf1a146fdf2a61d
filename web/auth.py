"""Signing in and out.

Signing in is throttled per account name and per client address, with the counters in the
database so every web process agrees (``tracking.accounts.sign_in``); signing out deletes the
session on the server, so a copy of the cookie is worth nothing afterwards.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from tracking import accounts
from web.deps import CHECKED_CSRF, Ctx, client_address, current_user
from web.rendering import BUSY_SECONDS, message_page, render
from web.security import end_session, safe_next, session_token, start_session

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: Ctx, next: Annotated[str | None, Query()] = None) -> Response:
    with ctx.session() as session:
        if current_user(request, session) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None, "username": ""})


@router.post("/login", dependencies=[CHECKED_CSRF])
def login(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    now = ctx.now()

    def refused(error: str, status: int) -> Response:
        context = {"next": safe_next(next), "error": error, "username": username}
        return render(request, "login.html", context, status)

    try:
        user = accounts.sign_in(
            ctx.engine,
            username,
            password,
            client_address(request),
            now,
            ctx.throttle,
            ctx.hash_slots,
            ctx.hash_wait,
        )
    except accounts.LockedOut as exc:
        response = refused(str(exc), 429)
        response.headers["retry-after"] = str(int((exc.until - now).total_seconds()) + 1)
        return response
    except accounts.HashBusy:
        response = message_page(
            request, "Hệ thống đang bận", "Hệ thống đang bận, hãy thử lại sau ít giây.", 503
        )
        response.headers["retry-after"] = str(BUSY_SECONDS)
        return response
    if user is None:
        return refused("Tên đăng nhập hoặc mật khẩu không đúng.", 400)
    with ctx.session() as session:
        token = accounts.start_session(session, user, now, ctx.session_lifetime)
    start_session(request, token)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout", dependencies=[CHECKED_CSRF])
def logout(request: Request, ctx: Ctx) -> Response:
    token = session_token(request)
    if token is not None:
        with ctx.session() as session:
            accounts.end_session(session, token)
    end_session(request)
    return RedirectResponse("/login", status_code=303)
