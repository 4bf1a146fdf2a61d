"""What became of one send, in the words the outbox understands: shared by every channel
(the Apprise adapter for email, :mod:`notifications.zalo` for Zalo), so neither channel module
imports the other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    """What became of one send, as the outbox needs to know it."""

    SENT = "sent"
    # Not delivered; trying again later may work.
    TRANSIENT = "transient"
    # Not delivered and never will be on this channel; fall back to another (email).
    PERMANENT = "permanent"
    # Sent, but no answer came back: it may have been delivered. Do not blindly resend.
    UNKNOWN = "unknown"
    # Deliberately not sent now (ZNS at night); send at ``not_before``.
    DEFERRED = "deferred"


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of one send and why (``detail`` never contains a secret)."""

    outcome: Outcome
    detail: str
    provider_id: str | None = None
    not_before: datetime | None = None
    # The server itself failed (unreachable, or no answer in time), not this recipient: the
    # next message to the same server would most likely fail the same way.
    server_failed: bool = False
    # Our side of the link is wrong (the server refused the login, the sender address or the
    # TLS set-up): no message can go until the operator fixes the settings. Never the
    # message's fault, so it is kept queued (implies ``server_failed``).
    setup_failed: bool = False

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT
