"""Test servers that misbehave for a while: SMTP that defers or stalls, Zalo that fails.

They extend the loopback servers of ``tests/smtp_server.py`` and ``tests/zalo_fake.py``
(unchanged) with outages that start and end on command, and count what they did, so an
outage test can say how many retries, timeouts and duplicates a run cost.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from tests.smtp_server import SmtpTestServer
from tests.zalo_fake import OA_PATH, FakeZalo, RecordedRequest

if TYPE_CHECKING:
    from aiosmtpd.smtp import Envelope


class FlakySmtp(SmtpTestServer):
    """An SMTP server that can answer 451 to the next N recipients and stall the next messages.

    A stalled message is kept (counted as received) before its reply is held back, as a real
    server that queued it and then answered too late: that is what makes a timeout ambiguous.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._flaky = threading.Lock()
        self._defer_left = 0
        self._stall_left = 0
        self._stall_until = 0.0
        self._stall_seconds = 0.0
        self.deferred = 0  # 451 replies given
        self.stalled = 0  # messages kept but answered late

    def defer_next(self, count: int) -> None:
        """Answer ``451 4.3.0`` to the next ``count`` RCPT commands, whoever they are for."""
        with self._flaky:
            self._defer_left = count

    def stall_next(self, count: int, seconds: float) -> None:
        """Hold the answer to the next ``count`` messages' DATA for ``seconds``."""
        with self._flaky:
            self._stall_left, self._stall_seconds = count, seconds

    def stall_for(self, window: float, seconds: float) -> None:
        """Hold the answer to every message received in the next ``window`` seconds."""
        with self._flaky:
            self._stall_until, self._stall_seconds = time.monotonic() + window, seconds

    def _reply_for(self, address: str) -> str | None:
        with self._flaky:
            if self._defer_left > 0:
                self._defer_left -= 1
                self.deferred += 1
                return "451 4.3.0 Mailbox busy, try again later"
        return super()._reply_for(address)

    def _store(self, envelope: Envelope) -> float:
        delay = super()._store(envelope)
        with self._flaky:
            if self._stall_left > 0 or time.monotonic() < self._stall_until:
                self._stall_left = max(self._stall_left - 1, 0)
                self.stalled += 1
                return self._stall_seconds
        return delay


def _oa_user(request: RecordedRequest) -> str | None:
    body = request.json if isinstance(request.json, dict) else {}
    recipient = body.get("recipient")
    user = recipient.get("user_id") if isinstance(recipient, dict) else None
    return user if isinstance(user, str) else None


def _oa_text(request: RecordedRequest) -> str:
    body = request.json if isinstance(request.json, dict) else {}
    message = body.get("message")
    text = message.get("text") if isinstance(message, dict) else None
    return text if isinstance(text, str) else ""


class FlakyZalo(FakeZalo):
    """FakeZalo whose HTTP errors and per-recipient errors can be lifted again, with per-user
    slow answers (read timeouts) and a record of every OA message Zalo really accepted."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._slow_users: dict[str, float] = {}
        self.accepted: Counter[tuple[str, str]] = Counter()  # (user_id, text) → times accepted

    def heal(self, path: str = OA_PATH) -> None:
        """Stop answering ``path`` with the HTTP status set by ``set_status``."""
        with self._lock:
            self._statuses.pop(path, None)

    def clear_error(self, recipient: str) -> None:
        with self._lock:
            self._errors.pop(recipient, None)

    def slow_user(self, user_id: str, seconds: float) -> None:
        """Accept OA messages to ``user_id`` but answer only after ``seconds`` (0: at once)."""
        with self._lock:
            if seconds:
                self._slow_users[user_id] = seconds
            else:
                self._slow_users.pop(user_id, None)

    def requests_for(self, user_id: str) -> int:
        return sum(1 for r in self.requests_to(OA_PATH) if _oa_user(r) == user_id)

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any] | None, float]:
        status, answer, delay = super()._handle(request)
        user = _oa_user(request) if request.path == OA_PATH else None
        with self._lock:
            if user is not None:
                delay = max(delay, self._slow_users.get(user, 0.0))
                if status == 200 and answer is not None and answer.get("error") == 0:
                    # Accepted by "Zalo": the follower gets it, whether or not the answer
                    # reaches the sender in time.
                    self.accepted[(user, _oa_text(request))] += 1
        return status, answer, delay
