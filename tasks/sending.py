"""Prefect tasks that talk to the outside world: the outbox delivery and the weekly email.

These are the only tasks with retries (exponential backoff with jitter, in the decorator):
a mail server or Zalo that is briefly unreachable is worth waiting for. Retrying never sends
a message twice:

- ``deliver_outbox_task`` hands every message to ``notifications.delivery.deliver``, which
  claims outbox rows with a lease and commits each outcome on its own; a retried run only
  finds what is still due. Per-message retries are the outbox's own business (its backoff),
  so a retry of this task only covers errors of the run itself (the database went away).
- ``send_weekly_report_task`` sends to one recipient, so a retry re-sends only to the
  recipient whose send failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.message
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from notifications import mail
from notifications.apprise_adapter import DeliveryResult, Outcome
from notifications.delivery import DeliveryReport, deliver
from tasks.reporting import EmailContent, Recipient, artifact_key
from tracking import db
from tracking.settings import Settings, get_settings

XLSX = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# 10 s, 20 s, 40 s (±50 %): a database or network hiccup, not an outage.
_DELIVERY_RETRIES = 3
# 1, 2, 4, 8 minutes (±50 %) for the weekly email: an SMTP server restarting.
_REPORT_RETRIES = 4


class TransientSendError(RuntimeError):
    """The send may work later: raised so that Prefect retries the task."""


@dataclasses.dataclass(frozen=True)
class SendResult:
    contact_id: int
    sent: bool
    detail: str


@task(
    name="deliver-outbox",
    cache_policy=NO_CACHE,
    retries=_DELIVERY_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
)
def deliver_outbox_task(now: dt.datetime, max_messages: int | None = None) -> DeliveryReport:
    """Send everything in the outbox that is due at ``now``."""
    return deliver(db.default_engine(), get_settings(), now, max_messages=max_messages)


@task(
    name="send-weekly-report",
    cache_policy=NO_CACHE,
    retries=_REPORT_RETRIES,
    retry_delay_seconds=exponential_backoff(backoff_factor=60),
    retry_jitter_factor=0.5,
)
def send_weekly_report_task(
    content: EmailContent, recipient: Recipient, day: dt.date, plan_code: str
) -> SendResult:
    """Email the weekly report (and its Excel file) to one recipient, or write it as an .eml
    file when no SMTP host is set.

    A temporary failure (or an interrupted SMTP transaction: a duplicate email is better than
    a lost one) raises, so Prefect tries again; a permanent refusal is returned as not sent.
    """
    settings = get_settings()
    if not settings.smtp_host:
        path = write_report_eml(content, recipient, day, plan_code, settings)
        return SendResult(recipient.contact_id, True, f"ghi tệp {path.name} (chưa cấu hình SMTP)")
    result = _smtp_send(content, recipient, settings)
    if result.outcome in (Outcome.TRANSIENT, Outcome.UNKNOWN, Outcome.DEFERRED):
        raise TransientSendError(f"{recipient.email}: {result.detail}")
    return SendResult(recipient.contact_id, result.outcome is Outcome.SENT, result.detail)


def _smtp_send(content: EmailContent, recipient: Recipient, settings: Settings) -> DeliveryResult:
    return mail.send(report_email(content, recipient, settings), settings)


def report_email(
    content: EmailContent, recipient: Recipient, settings: Settings
) -> email.message.Message:
    """The weekly report's email, the same whether it is sent or written to a file."""
    attachments = []
    if content.attachment is not None and content.attachment_name:
        attachments.append(
            mail.Attachment(content.attachment_name, content.attachment, subtype=XLSX)
        )
    return mail.build(
        settings,
        subject=content.subject,
        text=content.text,
        html=content.html,
        to_name=recipient.name,
        to_addr=recipient.email,
        tag=f"weekly-{recipient.contact_id}",
        attachments=attachments,
    )


def write_report_eml(
    content: EmailContent, recipient: Recipient, day: dt.date, plan_code: str, settings: Settings
) -> Path:
    """The embedded default, like ``notifications.delivery.write_eml``: a file to open.

    The name depends only on the day, plan and recipient, so running the report again
    rewrites the same file instead of adding a second one.
    """
    folder = settings.outbox_folder / day.isoformat()
    path = folder / f"{artifact_key('bao-cao-tuan', plan_code)}-{recipient.contact_id}.eml"
    return mail.write_eml(report_email(content, recipient, settings), path)
