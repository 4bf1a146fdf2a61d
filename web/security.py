"""Sessions, CSRF tokens and the guard middleware (body size, security headers).

The cookie is signed (Starlette's ``SessionMiddleware``: HttpOnly, SameSite=Lax, Secure on
every response to a request that came over HTTPS) and holds a random session token and a
random CSRF token. The token is only worth something while its row in ``web_sessions`` lives
(``tracking.accounts``): signing out, a new password or disabling the account deletes it, for
every process at once, and it ends at a fixed time after signing in however much it is used.
Every form carries the CSRF token in a hidden field and every POST handler calls
:func:`check_csrf` first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "giaoviec_session"


class CsrfError(Exception):
    """A POST without the session's CSRF token."""


class LoginRequired(Exception):
    """A page that needs a signed-in user was asked for without one."""


class Forbidden(Exception):
    """The user is signed in but may not do this; the message is for the user."""


def session_secret(secret: str) -> str:
    # Its own key, derived from the one secret: a session cookie never verifies as a link.
    return hmac.new(secret.encode(), b"giaoviec web session", hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (also for visitors not signed in)."""
    session: dict[str, Any] = request.session
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if (
        not isinstance(expected, str)
        or not submitted
        or not hmac.compare_digest(expected.encode(), submitted.encode())
    ):
        raise CsrfError


def start_session(request: Request, token: str) -> None:
    """Sign in: a fresh cookie with the session's token and a new CSRF token (nothing from
    before carries over)."""
    request.session.clear()
    request.session.update({"sid": token, "csrf": secrets.token_urlsafe(32)})


def session_token(request: Request) -> str | None:
    token = request.session.get("sid")
    return token if isinstance(token, str) else None


def end_session(request: Request) -> None:
    request.session.clear()


def flash(request: Request, text: str, kind: str = "ok") -> None:
    """A one-time notice shown on the next page (after a redirect)."""
    request.session["flash"] = {"kind": kind, "text": text}


def pop_flash(request: Request) -> dict[str, str] | None:
    value = request.session.pop("flash", None)
    return value if isinstance(value, dict) else None


def safe_next(target: str | None) -> str:
    """Only a path on this site: "//evil.example" or "https://…" would leave it after login."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# Nothing is loaded from elsewhere; styles only from our own file (no inline CSS either).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Link tokens are in URLs: never send them on as a Referer.
    (b"referrer-policy", b"no-referrer"),
)


BAD_REQUEST_PAGE = (
    '<!doctype html><html lang="vi"><meta charset="utf-8"><title>Yêu cầu không hợp lệ'
    "</title><p>Địa chỉ yêu cầu chứa ký tự không hợp lệ. Không có gì thay đổi.</p></html>"
).encode()


class BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """Adds the security headers, and refuses request bodies over ``max_body`` bytes.

    The size is checked on the declared Content-Length and again while the body streams in
    (a chunked upload has none), so a huge upload is cut off before it fills the disk.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        too_large_page: bytes,
        bad_request_page: bytes = BAD_REQUEST_PAGE,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.too_large_page = too_large_page
        self.bad_request_page = bad_request_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope):
            await self._refuse(send, 400, self.bad_request_page)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._refuse(send, 413, self.too_large_page)
            return
        started = False
        overflow = False
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen, overflow
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    overflow = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if overflow:
                # The app may turn the cut-off body into its own error page (FastAPI answers
                # 400 "error parsing the body"): the user gets the clear refusal instead.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._refuse(send, 413, self.too_large_page)
                return
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                if scope.get("scheme") == "https":
                    headers = [_secure_cookie(name, value) for name, value in headers]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, 413, self.too_large_page)

    async def _refuse(self, send: Send, status: int, page: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(page)).encode()),
                    (b"connection", b"close"),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": page})


def _secure_cookie(name: bytes, value: bytes) -> tuple[bytes, bytes]:
    """A cookie set over HTTPS is marked Secure: the browser never sends it over plain HTTP.

    The scheme is the request's as the app sees it: behind a reverse proxy, the one it
    forwards (``X-Forwarded-Proto``), believed only from ``GIAOVIEC_TRUSTED_PROXIES``.
    """
    if name.lower() == b"set-cookie" and b"; secure" not in value.lower():
        return name, value + b"; secure"
    return name, value


def _has_nul(scope: Scope) -> bool:
    # PostgreSQL refuses NUL in a query parameter (a 500 instead of an answer), and no name,
    # code or filter of this app can hold one.
    query = bytes(scope.get("query_string") or b"").lower()
    return "\x00" in str(scope.get("path", "")) or b"%00" in query or b"\x00" in query
