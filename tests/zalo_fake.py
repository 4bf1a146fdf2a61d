"""A local HTTP server that speaks the parts of Zalo's API that giaoviec uses.

Endpoints (paths as on the real hosts; one server stands in for all three):

* ``POST /v3.0/oa/message/cs`` — OA message to a follower (openapi.zalo.me)
* ``POST /message/template`` — ZNS template message (business.openapi.zalo.me)
* ``POST /v4/oa/access_token`` — token refresh (oauth.zaloapp.com)

Like the real API it answers HTTP 200 with a JSON ``error`` code, checks the ``access_token``
header (-216 unknown token, -124 expired token), the body fields, and for the refresh the
``secret_key`` header, ``app_id`` and ``grant_type``. A refresh token works once: using it
again is refused. Tests can expire the current token, make a recipient fail with a given
code, delay answers, answer with an HTTP status, and read every request.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

OA_PATH = "/v3.0/oa/message/cs"
ZNS_PATH = "/message/template"
OAUTH_PATH = "/v4/oa/access_token"

ERR_INVALID_TOKEN = -216
ERR_EXPIRED_TOKEN = -124
ERR_INVALID_PARAMS = -201
ERR_REFRESH_TOKEN = -14014
ERR_APP = -14002


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)


class FakeZalo:
    """Start with ``start()`` or as a context manager; ``base_url`` serves every endpoint."""

    def __init__(
        self,
        *,
        app_id: str = "3194528817201546713",
        secret_key: str = "fake-secret-key-Xq7Lm2",
        access_token: str = "fake-access-token-0",
        refresh_token: str = "fake-refresh-token-0",
    ) -> None:
        self.app_id = app_id
        self.secret_key = secret_key
        self._lock = threading.Lock()
        self._access_token: str | None = access_token
        self._refresh_token = refresh_token
        self._expired: set[str] = set()
        self._spent_refresh: set[str] = set()
        self._errors: dict[str, int] = {}
        self._delays: dict[str, float] = {}
        self._statuses: dict[str, int] = {}
        self._reject_every_token = False
        self._requests: list[RecordedRequest] = []
        self._counter = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            # A short poll interval makes stop() quick (shutdown waits for one poll).
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="zalo-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends pending delays at once
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "FakeZalo is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The settings that point giaoviec's Zalo OA and ZNS plugins at this stand-in."""
        values = {
            "OA_ID": "4318",
            "APP_ID": self.app_id,
            "SECRET_KEY": self.secret_key,
            "OA_BASE": self.base_url,
            "BUSINESS_BASE": self.base_url,
            "OAUTH_BASE": self.base_url,
        }
        return {f"GIAOVIEC_ZALO_{name}": value for name, value in values.items()}

    # ------------------------------------------------------------------ state and knobs

    @property
    def access_token(self) -> str | None:
        with self._lock:
            return self._access_token

    @property
    def refresh_token(self) -> str:
        with self._lock:
            return self._refresh_token

    def expire_access_token(self) -> None:
        """The current access token now answers -124 (expired) until refreshed."""
        with self._lock:
            if self._access_token is not None:
                self._expired.add(self._access_token)
            self._access_token = None

    def reject_every_token(self, on: bool = True) -> None:
        """Even freshly issued tokens are refused (a broken app registration)."""
        with self._lock:
            self._reject_every_token = on

    def set_error(self, recipient: str, code: int) -> None:
        """Answer this error code for an OA user_id or a ZNS phone (84…)."""
        with self._lock:
            self._errors[recipient] = code

    def set_delay(self, path: str, seconds: float) -> None:
        """Hold the answer for requests to ``path`` (the request is handled meanwhile)."""
        with self._lock:
            self._delays[path] = seconds

    def set_status(self, path: str, status: int) -> None:
        """Answer requests to ``path`` with this HTTP status and no JSON."""
        with self._lock:
            self._statuses[path] = status

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    @property
    def refresh_calls(self) -> int:
        return len(self.requests_to(OAUTH_PATH))

    # ------------------------------------------------------------------ request handling

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any] | None, float]:
        with self._lock:
            self._requests.append(request)
            delay = self._delays.get(request.path, 0.0)
            status = self._statuses.get(request.path)
            if status is not None:
                return status, None, delay
            if request.method != "POST":
                return 405, None, delay
            if request.path == OA_PATH:
                return 200, self._oa_message(request), delay
            if request.path == ZNS_PATH:
                return 200, self._zns_message(request), delay
            if request.path == OAUTH_PATH:
                return 200, self._refresh(request), delay
            return 404, None, delay

    def _token_error(self, request: RecordedRequest) -> dict[str, Any] | None:
        token = request.headers.get("access_token", "")
        if token and token in self._expired:
            return {"error": ERR_EXPIRED_TOKEN, "message": "Access token has expired"}
        if not token or token != self._access_token or self._reject_every_token:
            return {"error": ERR_INVALID_TOKEN, "message": "Access token is invalid"}
        return None

    def _oa_message(self, request: RecordedRequest) -> dict[str, Any]:
        error = self._token_error(request)
        if error:
            return error
        body = request.json if isinstance(request.json, dict) else {}
        user_id = (body.get("recipient") or {}).get("user_id")
        text = (body.get("message") or {}).get("text")
        if not isinstance(user_id, str) or not user_id or not isinstance(text, str) or not text:
            return {"error": ERR_INVALID_PARAMS, "message": "Parameters are invalid"}
        if user_id in self._errors:
            return {"error": self._errors[user_id], "message": "Failed"}
        return {
            "data": {"message_id": f"oa-msg-{next(self._counter)}", "user_id": user_id},
            "error": 0,
            "message": "Success",
        }

    def _zns_message(self, request: RecordedRequest) -> dict[str, Any]:
        error = self._token_error(request)
        if error:
            return error
        body = request.json if isinstance(request.json, dict) else {}
        phone = body.get("phone")
        valid = (
            isinstance(phone, str)
            and phone.isdigit()
            and isinstance(body.get("template_id"), str)
            and isinstance(body.get("template_data"), dict)
            and isinstance(body.get("tracking_id"), str)
        )
        if not valid:
            return {"error": ERR_INVALID_PARAMS, "message": "Parameters are invalid"}
        assert isinstance(phone, str)
        if not phone.startswith("84"):
            return {"error": -108, "message": "Phone number is invalid"}
        if phone in self._errors:
            return {"error": self._errors[phone], "message": "Failed"}
        return {
            "error": 0,
            "message": "Success",
            "data": {
                "msg_id": f"zns-{next(self._counter)}",
                "sent_time": "1710400000000",
                "quota": {"dailyQuota": "500", "remainingQuota": "499"},
            },
        }

    def _refresh(self, request: RecordedRequest) -> dict[str, Any]:
        if request.headers.get("secret_key") != self.secret_key:
            return {"error": ERR_APP, "error_name": "Invalid secret key"}
        form = request.form
        if form.get("app_id") != self.app_id or form.get("grant_type") != "refresh_token":
            return {"error": ERR_APP, "error_name": "Invalid parameter"}
        token = form.get("refresh_token", "")
        if token in self._spent_refresh or token != self._refresh_token:
            return {"error": ERR_REFRESH_TOKEN, "error_name": "Invalid refresh token"}
        number = next(self._counter)
        if self._access_token is not None:
            self._expired.add(self._access_token)
        self._spent_refresh.add(token)
        self._access_token = f"fake-access-token-{number}"
        self._refresh_token = f"fake-refresh-token-{number}"
        return {
            "access_token": self._access_token,
            "refresh_token": self._refresh_token,
            "expires_in": "90000",
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the SYNs of a burst of concurrent senders,
    # which then wait a second for the retransmission.
    request_queue_size = 64
    fake: FakeZalo

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (read-timeout tests) makes the late answer fail; not an error.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        content_type = headers.get("content-type", "")
        parsed_json: Any = None
        form: dict[str, str] = {}
        if "json" in content_type:
            with contextlib.suppress(ValueError):
                parsed_json = json.loads(body)
        elif "x-www-form-urlencoded" in content_type:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
        request = RecordedRequest(
            self.command, self.path.split("?")[0], headers, body, parsed_json, form
        )
        status, answer, delay = fake._handle(request)
        if delay and fake._stopping.wait(delay):
            return
        payload = json.dumps(answer).encode("utf-8") if answer is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextlib.contextmanager
def blackhole_base_url() -> Iterator[str]:
    """A loopback URL whose connections hang in the SYN queue, so connecting times out.

    The listener has a backlog of 0 and its only queue slot is taken and never accepted;
    Linux then drops further SYNs instead of refusing them.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", port))
            except OSError:
                filler.close()
                break
            fillers.append(filler)
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
