"""Delivery: claim due outbox rows, send each through its channel, record what happened.

Each message's outcome is committed on its own, right after its send. Emails go out through
``settings.delivery_concurrency`` sender threads (k), each with its own SMTP connection
reused across messages; the main thread composes, hands an email to a free sender and
records outcomes as they come back, and sends chat messages itself, one at a time as before.
At most k emails are ever sent and not yet recorded, so a crash re-sends at most k messages
(their lease runs out and the next run takes them again); with k = 1 it is the one in flight.

A run that finds its SMTP server down or too slow (unreachable, a timeout, 421) sends no more
email: the emails it has claimed and not yet sent are postponed (pending again after a
backoff, no attempt counted) and later claims leave email out; other channels go on. So a
slow server costs at most the k emails in flight, each sent twice at most, not every email
of the run. Before each send the run checks that its lease still holds and extends it when
half of it has passed, so a long batch to a slow server is never taken over and sent twice
by the next run.

A server that refuses giaoviec's own settings (a wrong SMTP password, a refused sender,
TLS) halts email the same way, but the messages are *held*: pending again at once, with no
attempt counted, and a delivery alert (``tracking.outbox``) is raised for the operator until
a later run gets an email through. A run tries each message at most once, whatever the
backoff: a message due again within the run waits for the next one.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import email.message
import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from models.enums import Channel, DeliveryStatus
from models.tables import Contact, OutboxMessage
from notifications import mail as mailer
from notifications.apprise_adapter import (
    DeliveryResult,
    Outcome,
    SmtpLink,
    send_one,
)
from notifications.compose import compose, preload
from tracking import clock, links, outbox, reminders, store
from tracking.private import write_private

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
    # Why the run stopped sending email, when it did (the SMTP server failed).
    email_halted: str | None = None
    # The server refused our login or set-up: the operator must fix the settings (the
    # messages stay queued and a delivery alert is raised).
    setup_failed: str | None = None

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
    run = _Run(settings, now)
    senders = concurrent.futures.ThreadPoolExecutor(
        settings.delivery_concurrency, thread_name_prefix="giaoviec-smtp"
    )
    try:
        with Session(engine, expire_on_commit=False) as session:
            run.loop(session, senders, batch_size, max_messages)
    finally:
        senders.shutdown(wait=True)
        run.close_links()
    return run.report


_InFlight = tuple[OutboxMessage, str]  # the message and the token of its claim


class _Run:
    """One delivery run: the claim loop in the calling thread, emails sent by the pool."""

    def __init__(self, settings: Settings, now: dt.datetime) -> None:
        self.settings = settings
        self.now = now
        self.report = DeliveryReport()
        self.lease = dt.timedelta(seconds=settings.delivery_lease_seconds)
        self.in_flight: dict[concurrent.futures.Future[DeliveryResult], _InFlight] = {}
        self._local = threading.local()
        self._links: list[SmtpLink] = []
        self._links_lock = threading.Lock()
        # Every message this run has claimed: a run makes at most one attempt per message.
        self.tried: set[int] = set()
        self.email_delivered = False  # an email went through the SMTP server in this run

    # --- the calling thread ---------------------------------------------------------

    def loop(
        self,
        session: Session,
        senders: concurrent.futures.Executor,
        batch_size: int,
        max_messages: int | None,
    ) -> None:
        calendar = store.load_calendar(session)
        try:
            while max_messages is None or self._taken() < max_messages:
                room = (
                    batch_size
                    if max_messages is None
                    else min(batch_size, max_messages - self._taken())
                )
                exclude = (Channel.EMAIL,) if self.report.email_halted else ()
                token, batch = reminders.claim(session, self.now, room, self.lease, exclude)
                again = [m for m in batch if m.id in self.tried]
                if again:
                    # Due again within the same run (a retry time not after ``now``): give
                    # them back for the next run instead of trying them over and over.
                    self._give_back(session, token, again)
                    batch = [m for m in batch if m.id not in self.tried]
                if not batch:
                    break
                self.tried.update(m.id for m in batch if m.id is not None)
                self._batch(session, senders, calendar, token, batch)
        except BaseException:
            # Emails already sent get their outcome recorded if the database still answers;
            # if not, the error that stopped the run is the one the operator sees.
            with contextlib.suppress(Exception):
                session.rollback()
                self._collect(session, block=True, until=0)
            raise
        self._collect(session, block=True, until=0)
        if self.email_delivered and not self.report.setup_failed:
            if outbox.clear_alert(session, Channel.EMAIL):
                logger.warning("SMTP server accepts our messages again: delivery alert cleared")
            session.commit()

    def _give_back(self, session: Session, token: str, messages: list[OutboxMessage]) -> None:
        wait = reminders.backoff(1, self.settings.delivery_backoff_seconds)
        detail = "hoãn sang lượt gửi sau (mỗi lượt chỉ thử một lần)"
        reminders.postpone(session, messages, token, self.now + wait, detail, self.now)

    def _taken(self) -> int:
        return self.report.handled + len(self.in_flight)

    def _batch(
        self,
        session: Session,
        senders: concurrent.futures.Executor,
        calendar: WorkCalendar,
        token: str,
        batch: list[OutboxMessage],
    ) -> None:
        queue = collections.deque(batch)
        renewed = time.monotonic()
        rows = preload(session, batch)  # held until the batch is done (see preload)
        public_url = links.link_settings().public_url
        postponed: list[OutboxMessage] = []
        while queue:
            if time.monotonic() - renewed > self.lease.total_seconds() / 2:
                queue = self._renew(session, token, queue)
                renewed = time.monotonic()
                if not queue:
                    break
            message = queue.popleft()
            if message.channel is Channel.EMAIL and self.report.email_halted:
                postponed.append(message)
                continue
            if not reminders.still_relevant(session, message):
                reminders.cancel_moot(session, message, token, self.now)
                self.report.counts[DeliveryStatus.CANCELLED.value] += 1
                continue
            contact = session.get(Contact, message.contact_id)
            assert contact is not None
            try:
                rendered = compose(session, message, calendar, public_url=public_url)
            except Exception as exc:  # a bug must not stop the other messages of the run
                logger.exception("composing outbox message %s failed", message.id)
                self._record(session, message, token, _internal_error(exc))
                continue
            if message.channel is Channel.EMAIL and self.settings.smtp_host:
                self._collect(session, block=False)
                if self.report.email_halted:  # a result that just came back says stop
                    postponed.append(message)
                    continue
                future = senders.submit(self._send_email, message, contact, rendered)
                self.in_flight[future] = (message, token)
                # At most k emails sent and not yet recorded: wait for a sender to be free.
                self._collect(session, block=True, until=self.settings.delivery_concurrency - 1)
            else:
                self._record(
                    session,
                    message,
                    token,
                    _send_guarded(message, contact, rendered, self.settings),
                )
        self._collect(session, block=True, until=0)
        del rows
        postponed.extend(m for m in queue if m.channel is Channel.EMAIL)
        if postponed:
            self._postpone(session, token, postponed)

    def _renew(
        self, session: Session, token: str, queue: collections.deque[OutboxMessage]
    ) -> collections.deque[OutboxMessage]:
        """Extend the lease of what this batch has left; drop what another run took over."""
        mine = [m for m, t in self.in_flight.values() if t == token]
        ids = [m.id for m in [*queue, *mine] if m.id is not None]
        # Leases run on the real clock (see reminders.claim), whatever day ``now`` replays.
        held = reminders.renew(session, token, ids, clock.now_utc() + self.lease)
        lost = [m for m in queue if m.id not in held]
        if lost:
            logger.warning(
                "lease lost on %d outbox message(s) (taken over by another run): not sent here",
                len(lost),
            )
        return collections.deque(m for m in queue if m.id in held)

    def _postpone(self, session: Session, token: str, messages: list[OutboxMessage]) -> None:
        reason = self.report.email_halted or ""
        wait = reminders.backoff(1, self.settings.delivery_backoff_seconds)
        if self.report.setup_failed:
            # Due again at once: the next run (the schedule's, or the operator's right after
            # the fix) tries one login; this run takes no more email (email_halted).
            wait = dt.timedelta(0)
            detail = f"giữ lại, chưa gửi: cấu hình SMTP cần sửa ({reason})"
        else:
            detail = f"hoãn, chưa gửi: máy chủ SMTP lỗi trong lượt này ({reason})"
        count = reminders.postpone(session, messages, token, self.now + wait, detail, self.now)
        self.report.counts[DeliveryStatus.PENDING.value] += count

    def _collect(self, session: Session, *, block: bool, until: int = 0) -> None:
        """Record the outcomes of finished sends; with ``block``, wait until at most
        ``until`` emails are still in flight."""
        while self.in_flight:
            done = [f for f in self.in_flight if f.done()]
            if not done:
                if not block or len(self.in_flight) <= until:
                    return
                finished, _ = concurrent.futures.wait(
                    self.in_flight, return_when=concurrent.futures.FIRST_COMPLETED
                )
                done = list(finished)
            for future in done:
                message, token = self.in_flight.pop(future)
                result = future.result()  # _send_email never raises
                if result.server_failed and not self.report.email_halted:
                    self.report.email_halted = result.detail
                    logger.warning(
                        "SMTP server failed (%s): no more email in this run", result.detail
                    )
                if result.setup_failed:
                    self._hold(session, message, token, result)
                    continue
                self.email_delivered = self.email_delivered or result.sent
                self._record(session, message, token, result)
            if not block:
                return

    def _hold(
        self, session: Session, message: OutboxMessage, token: str, result: DeliveryResult
    ) -> None:
        """The server refused our login or set-up: not this message's fault. It stays queued
        (its attempt not counted), the operator is alerted, and no more email goes out in
        this run (``email_halted``)."""
        if not self.report.setup_failed:
            self.report.setup_failed = result.detail
            logger.error(
                "SMTP server refused our settings (%s): email kept queued until they are fixed "
                "(GIAOVIEC_SMTP_*); see `giaoviec outbox`",
                result.detail,
            )
        outbox.raise_alert(session, Channel.EMAIL, result.detail, self.now)
        session.commit()
        self._postpone(session, token, [message])

    def _record(
        self, session: Session, message: OutboxMessage, token: str, result: DeliveryResult
    ) -> None:
        outcome = judge(message, result, self.now, self.settings)
        reminders.finish(session, message, token, outcome, self.now)
        self.report.counts[outcome.status.value] += 1

    # --- sender threads -----------------------------------------------------------

    def _send_email(
        self, message: OutboxMessage, contact: Contact, rendered: Rendered
    ) -> DeliveryResult:
        link: SmtpLink | None = getattr(self._local, "link", None)
        if link is None:
            link = self._local.link = SmtpLink()
            with self._links_lock:
                self._links.append(link)
        try:
            return _send_email(message, contact, rendered, self.settings, link)
        except Exception as exc:
            logger.exception("delivery of outbox message %s failed", message.id)
            return _internal_error(exc)

    def close_links(self) -> None:
        for link in self._links:
            link.close()


def _internal_error(exc: Exception) -> DeliveryResult:
    return DeliveryResult(Outcome.TRANSIENT, f"lỗi nội bộ: {type(exc).__name__}")


def _send_guarded(
    message: OutboxMessage, contact: Contact, rendered: Rendered, settings: Settings
) -> DeliveryResult:
    try:
        return send(message, contact, rendered, settings)
    except Exception as exc:  # a bug must not stop the other messages of the run
        logger.exception("delivery of outbox message %s failed", message.id)
        return _internal_error(exc)


def judge(
    message: OutboxMessage, result: DeliveryResult, now: dt.datetime, settings: Settings
) -> reminders.Outcome:
    """The outbox status a send result leads to, and whether the message falls back to email.

    A timeout after sending is final ("unknown") on Zalo, where a second copy cannot be told
    apart; email retries it, since a duplicate email is better than a lost one. A server that
    cannot be reached is not the message's fault: such a message is given up only after the
    usual number of attempts AND ``delivery_give_up_hours`` of waiting, so an outage of a
    few hours costs no reminder.
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
    waited = now - message.created_at
    patient = (
        result.outcome is Outcome.TRANSIENT
        and result.server_failed
        and waited < dt.timedelta(hours=settings.delivery_give_up_hours)
    )
    if message.attempts >= settings.delivery_max_attempts and not patient:
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
    if message.channel in _CHAT_CHANNELS and not _chat_configured(message.channel, settings):
        # Queued while Zalo was configured, sent after it was removed: the email copy goes.
        return DeliveryResult(
            Outcome.PERMANENT, f"{message.channel.value} không còn được cấu hình: chuyển sang email"
        )
    if message.channel is Channel.ZALO:
        from notifications.zalo import send_oa_message

        return send_oa_message(_zalo_account(settings), contact.zalo_user_id or "", rendered.chat)
    if message.channel is Channel.ZNS:
        return _send_zns(message, contact, rendered, settings)
    url = contact.apprise_urls[message.target]
    return send_one(url, title=rendered.subject, body=rendered.text, body_format="text")


def _chat_configured(channel: Channel, settings: Settings) -> bool:
    return settings.zns_enabled if channel is Channel.ZNS else settings.zalo_enabled


def _send_email(
    message: OutboxMessage,
    contact: Contact,
    rendered: Rendered,
    settings: Settings,
    link: SmtpLink | None = None,
) -> DeliveryResult:
    mail = email_of(message, contact, rendered, settings)
    if not settings.smtp_host:
        path = write_eml(message, contact, rendered, settings, mail)
        return DeliveryResult(Outcome.SENT, f"ghi tệp {path.name} (chưa cấu hình SMTP)")
    return mailer.send(mail, settings, link)


def email_of(
    message: OutboxMessage, contact: Contact, rendered: Rendered, settings: Settings
) -> email.message.Message:
    """The email of one outbox message, the same whether it is sent or written to a file."""
    assert contact.email is not None
    return mailer.build(
        settings,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        to_name=contact.name,
        to_addr=contact.email,
        tag=str(message.id),
        attachments=rendered.attachments,
    )


def write_eml(
    message: OutboxMessage,
    contact: Contact,
    rendered: Rendered,
    settings: Settings,
    mail: email.message.Message | None = None,
) -> Path:
    """The embedded default: the email as a file a new user can open and read."""
    mail = mail or email_of(message, contact, rendered, settings)
    folder = settings.outbox_folder / message.day.isoformat()
    path = folder / f"{message.id:06d}-{message.kind.value}-{contact.id}.eml"
    mailer.write_eml(mail, path)
    write_private(path.with_suffix(".txt"), rendered.chat.encode("utf-8"))
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
    from notifications.zalo import FileTokenStore, ZaloAccount, ZaloConfig

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
        _accounts[key] = account
    return account
