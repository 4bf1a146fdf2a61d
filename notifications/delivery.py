"""Delivery: claim due outbox rows, send each through its channel, record what happened.

Each message's outcome is committed on its own, right after its send, so a crash re-sends at
most the message that was in flight (its lease runs out and the next run takes it again).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.message
import email.utils
import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from models.enums import Channel, DeliveryStatus
from models.tables import Contact, OutboxMessage
from notifications.apprise_adapter import DeliveryResult, Outcome, email_url, send_one
from notifications.compose import compose
from tracking import reminders, store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from notifications.templates import Rendered
    from notifications.zalo import ZaloAccount
    from tracking.calendar import WorkCalendar
    from tracking.settings import Settings

logger = logging.getLogger(__name__)

_CHAT_CHANNELS = frozenset({Channel.ZALO, Channel.ZNS})


@dataclasses.dataclass
class DeliveryReport:
    """What one delivery run did, by final status of each message it handled."""

    counts: Counter[str] = dataclasses.field(default_factory=Counter)

    @property
    def handled(self) -> int:
        return sum(self.counts.values())


def deliver(
    engine: Engine,
    settings: Settings,
    now: dt.datetime,
    batch_size: int = 50,
    max_messages: int | None = None,
) -> DeliveryReport:
    """Send everything that is due at ``now``; returns how each message ended."""
    report = DeliveryReport()
    lease = dt.timedelta(seconds=settings.delivery_lease_seconds)
    with Session(engine, expire_on_commit=False) as session:
        calendar = store.load_calendar(session)
        while max_messages is None or report.handled < max_messages:
            room = (
                batch_size
                if max_messages is None
                else min(batch_size, max_messages - report.handled)
            )
            token, batch = reminders.claim(session, now, room, lease)
            if not batch:
                break
            for message in batch:
                status = _deliver_one(session, message, token, now, calendar, settings)
                report.counts[status.value] += 1
    return report


def _deliver_one(
    session: Session,
    message: OutboxMessage,
    token: str,
    now: dt.datetime,
    calendar: WorkCalendar,
    settings: Settings,
) -> DeliveryStatus:
    if not reminders.still_relevant(session, message):
        reminders.cancel_moot(session, message, token, now)
        return DeliveryStatus.CANCELLED
    contact = session.get(Contact, message.contact_id)
    assert contact is not None
    try:
        rendered = compose(session, message, calendar)
        result = send(message, contact, rendered, settings)
    except Exception as exc:  # a bug must not stop the other messages of the run
        logger.exception("delivery of outbox message %s failed", message.id)
        result = DeliveryResult(Outcome.TRANSIENT, f"lỗi nội bộ: {type(exc).__name__}")
    outcome = judge(message, result, now, settings)
    reminders.finish(session, message, token, outcome, now)
    return outcome.status


def judge(
    message: OutboxMessage, result: DeliveryResult, now: dt.datetime, settings: Settings
) -> reminders.Outcome:
    """The outbox status a send result leads to, and whether the message falls back to email.

    A timeout after sending is final ("unknown") on Zalo, where a second copy cannot be told
    apart; email retries it, since a duplicate email is better than a lost one.
    """
    chat = message.channel in _CHAT_CHANNELS
    if result.outcome is Outcome.SENT:
        return reminders.Outcome(DeliveryStatus.SENT, None, result.detail or "đã gửi")
    if result.outcome is Outcome.PERMANENT:
        return reminders.Outcome(DeliveryStatus.FAILED, None, result.detail, fall_back=chat)
    if result.outcome is Outcome.UNKNOWN and chat:
        return reminders.Outcome(DeliveryStatus.UNKNOWN, None, result.detail)
    if result.outcome is Outcome.DEFERRED:
        later = result.not_before or now + dt.timedelta(hours=1)
        return reminders.Outcome(DeliveryStatus.PENDING, later.astimezone(dt.UTC), result.detail)
    if message.attempts >= settings.delivery_max_attempts:
        detail = f"{result.detail} (đã thử {message.attempts} lần)"
        return reminders.Outcome(DeliveryStatus.FAILED, None, detail, fall_back=chat)
    wait = reminders.backoff(message.attempts, settings.delivery_backoff_seconds)
    return reminders.Outcome(DeliveryStatus.PENDING, now + wait, result.detail)


# --- channels ---------------------------------------------------------------------------


def send(
    message: OutboxMessage, contact: Contact, rendered: Rendered, settings: Settings
) -> DeliveryResult:
    if message.channel is Channel.EMAIL:
        return _send_email(message, contact, rendered, settings)
    if message.channel is Channel.ZALO:
        from notifications.zalo import send_oa_message

        return send_oa_message(_zalo_account(settings), contact.zalo_user_id or "", rendered.chat)
    if message.channel is Channel.ZNS:
        return _send_zns(message, contact, rendered, settings)
    url = contact.apprise_urls[message.target]
    return send_one(url, title=rendered.subject, body=rendered.text, body_format="text")


def _send_email(
    message: OutboxMessage, contact: Contact, rendered: Rendered, settings: Settings
) -> DeliveryResult:
    assert contact.email is not None
    if not settings.smtp_host:
        path = write_eml(message, contact, rendered, settings)
        return DeliveryResult(Outcome.SENT, f"ghi tệp {path.name} (chưa cấu hình SMTP)")
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    port = settings.smtp_port or {"ssl": 465, "starttls": 587}.get(settings.smtp_security, 25)
    url = email_url(
        settings.smtp_host,
        port,
        settings.smtp_user,
        password,
        settings.sender_address,
        settings.smtp_from_name,
        settings.smtp_security,
        contact.email,
    )
    return send_one(url, title=rendered.subject, body=rendered.html, body_format="html")


def write_eml(
    message: OutboxMessage, contact: Contact, rendered: Rendered, settings: Settings
) -> Path:
    """The embedded default: the email as a file a new user can open and read."""
    mail = email.message.EmailMessage()
    mail["Subject"] = rendered.subject
    mail["From"] = email.utils.formataddr((settings.smtp_from_name, settings.sender_address))
    mail["To"] = email.utils.formataddr((contact.name, contact.email or ""))
    mail["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC))
    mail["Message-ID"] = email.utils.make_msgid(idstring=f"giaoviec-{message.id}")
    mail.set_content(rendered.text)
    mail.add_alternative(rendered.html, subtype="html")
    folder = settings.outbox_folder / message.day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{message.id:06d}-{message.kind.value}-{contact.id}.eml"
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(bytes(mail))
    temporary.replace(path)  # never a half-written file
    chat = path.with_suffix(".txt")
    chat.write_text(rendered.chat, encoding="utf-8")
    return path


def _send_zns(
    message: OutboxMessage, contact: Contact, rendered: Rendered, settings: Settings
) -> DeliveryResult:
    from notifications.zalo import send_zns

    data = {"tieu_de": rendered.subject[:100], "noi_dung": rendered.chat[:400]}
    return send_zns(
        _zalo_account(settings),
        contact.phone or "",
        settings.zalo_zns_template_id or "",
        data,
        tracking_id=f"giaoviec-{message.id}",
    )


_accounts: dict[str, ZaloAccount] = {}


def _zalo_account(settings: Settings) -> ZaloAccount:
    """The Official Account from settings; tokens live in a file store under home."""
    from notifications.zalo import FileTokenStore, ZaloAccount, ZaloConfig, register_account

    assert settings.zalo_oa_id and settings.zalo_app_id and settings.zalo_secret_key
    key = f"{settings.zalo_oa_id}:{settings.home}:{settings.zalo_oa_base}"
    account = _accounts.get(key)
    if account is None:
        config = ZaloConfig(
            app_id=settings.zalo_app_id,
            secret_key=settings.zalo_secret_key.get_secret_value(),
            oa_base=settings.zalo_oa_base,
            business_base=settings.zalo_business_base,
            oauth_base=settings.zalo_oauth_base,
        )
        store_folder = settings.home / "zalo"
        account = ZaloAccount(settings.zalo_oa_id, config, FileTokenStore(store_folder))
        register_account(account)
        _accounts[key] = account
    return account
