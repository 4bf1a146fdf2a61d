"""Signing in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.requests import Request

from tracking import accounts
from web.app import ctx_of, current_user, render
from web.security import check_csrf, end_session, safe_next, start_session

router = APIRouter()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    with ctx_of(request).session() as session:
        if current_user(request, session) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None, "username": ""})


@router.post("/login")
def login(
    request: Request,
    csrf_token: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_csrf(request, csrf_token)
    with ctx_of(request).session() as session:
        user = accounts.authenticate(session, username, password)
        if user is None:
            return render(
                request,
                "login.html",
                {
                    "next": safe_next(next),
                    "error": "Tên đăng nhập hoặc mật khẩu không đúng.",
                    "username": username,
                },
                400,
            )
        assert user.id is not None
        start_session(request, user.id, accounts.session_fingerprint(user))
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    end_session(request)
    return RedirectResponse("/login", status_code=303)
