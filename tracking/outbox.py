"""The operator's side of the outbox: delivery alerts and putting failed messages back.

An alert (``DeliveryAlert``) says that a channel cannot deliver anything until the operator
fixes its settings (the SMTP server refused our login): ``notifications.delivery`` raises it
and clears it; the CLI (`giaoviec outbox`) and the web (:func:`alert_banner`) show it.
:func:`requeue` is `giaoviec outbox requeue`: failed messages of a day or a kind become
pending again, e.g. those that failed before a wrong setting was fixed (the unique key of the
outbox keeps the day's sweep from enqueuing them a second time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_, exists, func, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from models.enums import Channel, DeliveryStatus, ReminderKind
from models.tables import Activity, DeliveryAlert, OutboxMessage

# What may be put back: a failed message, or one whose fate is unknown (a timeout after
# sending: the operator who checked that it did not arrive may send it again).
REQUEUEABLE = (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN)


# --- alerts -------------------------------------------------------------------------------


def raise_alert(session: Session, channel: Channel, detail: str, now: dt.datetime) -> None:
    """Record (or refresh) the alert of ``channel``; the caller commits."""
    alert = session.get(DeliveryAlert, channel.value)
    if alert is None:
        session.add(
            DeliveryAlert(channel=channel.value, detail=detail[:1000], since=now, last_seen=now)
        )
    else:
        alert.detail, alert.last_seen = detail[:1000], now
        session.add(alert)


def clear_alert(session: Session, channel: Channel) -> bool:
    """The channel delivers again: drop its alert; the caller commits. True if there was one."""
    alert = session.get(DeliveryAlert, channel.value)
    if alert is None:
        return False
    session.delete(alert)
    return True


@dataclasses.dataclass(frozen=True)
class AlertView:
    channel: str
    detail: str
    since: dt.datetime
    last_seen: dt.datetime
    waiting: int  # messages of the channel kept queued (pending) meanwhile

    @property
    def text(self) -> str:
        """The banner's sentence (Vietnamese, for the CLI and the web)."""
        label = "email" if self.channel == Channel.EMAIL.value else self.channel
        since = self.since.astimezone(_VN).strftime("%H:%M %d/%m/%Y")
        return (
            f"Không gửi được {label} từ {since}: {self.detail}. {self.waiting} tin đang được "
            "giữ trong hàng đợi và sẽ tự gửi khi cấu hình được sửa (biến GIAOVIEC_SMTP_*)."
        )


_VN = dt.timezone(dt.timedelta(hours=7))


def delivery_alerts(session: Session) -> list[AlertView]:
    """Every open alert, oldest first, with how many messages wait behind it."""
    alerts = session.exec(select(DeliveryAlert).order_by(col(DeliveryAlert.since))).all()
    views: list[AlertView] = []
    for alert in alerts:
        waiting = session.exec(
            select(func.count())
            .select_from(OutboxMessage)
            .where(col(OutboxMessage.channel) == Channel(alert.channel))
            .where(col(OutboxMessage.status).in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
        ).one()
        views.append(
            AlertView(alert.channel, alert.detail, alert.since, alert.last_seen, int(waiting))
        )
    return views


def alert_banner(session: Session) -> str | None:
    """One line for the top of the dashboard and every web page, or None when all is well.

    The web calls this (``web/templates/_delivery_alert.html`` shows it)."""
    views = delivery_alerts(session)
    return " ".join(view.text for view in views) or None


# --- requeue ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Requeued:
    count: int  # messages made pending again
    skipped: int  # failed chat messages whose email copy (fallback) already exists


def requeue(
    session: Session,
    *,
    day: dt.date | None,
    kind: ReminderKind | None,
    status: DeliveryStatus,
    now: dt.datetime,
    actor: str,
) -> Requeued:
    """Make the ``status`` messages of ``day`` and/or ``kind`` pending again, due at ``now``,
    with their attempts reset; one history row each. The caller commits.

    A failed Zalo message that already fell back to email is left alone: sending it again
    would reach the person twice.
    """
    if status not in REQUEUEABLE:
        raise ValueError(f"cannot requeue {status.value} messages")
    if day is None and kind is None:
        raise ValueError("requeue needs a day or a kind")
    fallback = aliased(OutboxMessage)
    chosen = and_(
        col(OutboxMessage.status) == status,
        *([col(OutboxMessage.day) == day] if day is not None else []),
        *([col(OutboxMessage.kind) == kind] if kind is not None else []),
    )
    has_copy = exists().where(col(fallback.fallback_of_id) == col(OutboxMessage.id))
    rows = session.exec(select(OutboxMessage).where(chosen).order_by(col(OutboxMessage.id))).all()
    copied = set(session.exec(select(OutboxMessage.id).where(chosen, has_copy)).all())
    count = 0
    for row in rows:
        if row.id in copied:
            continue
        result = session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == row.id, col(OutboxMessage.status) == status)
            .values(
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                claimed_by=None,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]  # changed meanwhile
            continue
        count += 1
        session.add(
            Activity(
                at=now,
                plan_id=row.plan_id,
                assignment_id=row.assignment_id,
                actor=actor,
                action="message_requeued",
                field="outbox",
                to_value=str(row.id),
                note=(
                    f"{row.kind.value} · {row.channel.value} · đưa lại vào hàng đợi "
                    f"(trước đó: {status.value}, {row.last_error or 'không rõ lỗi'})"
                )[:2000],
            )
        )
    return Requeued(count, len(copied))
