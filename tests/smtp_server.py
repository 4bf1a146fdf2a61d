"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd running in a thread.

It keeps every accepted message (parsed, plus its envelope), can refuse a recipient with a
permanent (550) or temporary (451) reply, can hold back its answer to DATA (timeouts) or to
RCPT (a send caught in the middle, before the message went out), and can be stopped and
started again on the same port (outages). With ``user``/``password`` it offers
AUTH PLAIN/LOGIN without TLS and accepts only those credentials.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

if TYPE_CHECKING:
    from types import TracebackType

    from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: envelope sender and recipients, parsed message, raw bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SmtpTestServer:
    """Start with ``start()`` or as a context manager; ``port`` stays the same across restarts."""

    def __init__(
        self, *, user: str | None = None, password: str | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.host = host
        self.port = free_port(host)
        self._user = user
        self._password = password
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._replies: dict[str, str] = {}
        self._data_delay = 0.0
        self._holding = False
        self.held = 0  # RCPT commands whose answer was held back, since the start
        self._logins: list[tuple[str, bool]] = []
        self._controller: Controller | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._controller is not None:
            return self
        options: dict[str, Any] = {}
        if self._user is not None:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=5.0, **options
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ behaviour

    def env(self) -> dict[str, str]:
        """The settings that point a ``giaoviec`` command at this server (plain SMTP)."""
        return {
            "GIAOVIEC_SMTP_HOST": self.host,
            "GIAOVIEC_SMTP_PORT": str(self.port),
            "GIAOVIEC_SMTP_SECURITY": "none",
            "GIAOVIEC_SMTP_FROM": "tdkt@example.gov.vn",
        }

    def reject(
        self, address: str, code: int = 550, text: str = "5.1.1 Mailbox unavailable"
    ) -> None:
        """Answer RCPT TO for ``address`` with a permanent failure."""
        with self._lock:
            self._replies[address.lower()] = f"{code} {text}"

    def defer(self, address: str, code: int = 451, text: str = "4.3.0 Try again later") -> None:
        """Answer RCPT TO for ``address`` with a temporary failure."""
        self.reject(address, code, text)

    def accept_all(self) -> None:
        with self._lock:
            self._replies.clear()
            self._data_delay = 0.0

    def delay_data(self, seconds: float) -> None:
        """Wait this long before answering the end of DATA (the message is kept anyway)."""
        with self._lock:
            self._data_delay = seconds

    def hold_recipients(self) -> None:
        """Hold every answer to RCPT until ``release_recipients``: the sender waits in the
        middle of a send, and a sender killed meanwhile never gets to DATA (nothing received).
        Past the client's read timeout the sender gives up on its own."""
        with self._lock:
            self._holding = True

    def release_recipients(self) -> None:
        with self._lock:
            self._holding = False

    def _hold(self) -> bool:
        with self._lock:
            return self._holding

    # ------------------------------------------------------------------ what arrived

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def logins(self) -> list[tuple[str, bool]]:
        """(login, accepted) for every AUTH attempt."""
        with self._lock:
            return list(self._logins)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._logins.clear()

    # ------------------------------------------------------------------ internals

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        ok = login == self._user and data.password.decode("utf-8", "replace") == self._password
        with self._lock:
            self._logins.append((login, ok))
        # handled=False: aiosmtpd itself answers 235 or 535 (with True it would stay silent).
        return AuthResult(success=ok, handled=False)

    def _reply_for(self, address: str) -> str | None:
        with self._lock:
            return self._replies.get(address.lower())

    def _store(self, envelope: Envelope) -> float:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        received = ReceivedMessage(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=parsed,
            raw=raw,
        )
        with self._lock:
            self._messages.append(received)
            return self._data_delay


class _Handler:
    """aiosmtpd handler hooks (called on the server's event loop thread)."""

    def __init__(self, server: SmtpTestServer) -> None:
        self._server = server

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self._server._hold():
            with self._server._lock:
                self._server.held += 1
            while self._server._hold():
                await asyncio.sleep(0.05)
        reply = self._server._reply_for(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        delay = self._server._store(envelope)
        if delay:
            await asyncio.sleep(delay)
        return "250 Message accepted for delivery"
