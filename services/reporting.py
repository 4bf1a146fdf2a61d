"""The weekly report (data, recipients, enqueued through the outbox), the overdue list and the
run summaries the Prefect UI shows.

No Prefect here: the tasks and flows call these functions, and tests can too. The words
are Vietnamese (what the coordinator reads); the column names are the Government Office's.
The weekly email itself is ``tracking.reports``' summary, the same as the Excel report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from sqlmodel import Session, col, select

from models.dates import format_vn, weekday_date
from models.enums import ReminderKind, Timeliness
from models.tables import Contact, OutboxMessage, Plan
from services.progress import PlanProgress, UnitProgress, totals, unit_progress
from tracking import clock, reminders, store
from tracking.calendar import WorkCalendar
from tracking.settings import Settings
from tracking.status import TIMELINESS_LABELS
from tracking.store import AssignmentView

UNIT_COLUMN = "Đơn vị"
TOTAL_LABEL = "Tổng cộng"
# The Government Office's split, in its usual order (the enum's order).
TIMELINESS_ORDER: tuple[Timeliness, ...] = tuple(Timeliness)
COLUMNS: tuple[str, ...] = (UNIT_COLUMN, *(TIMELINESS_LABELS[t] for t in TIMELINESS_ORDER))

_DELIVERY_LABELS = {
    "sent": "đã gửi",
    "pending": "gửi lại sau",
    "failed": "thất bại",
    "unknown": "không rõ kết quả",
    "cancelled": "không cần gửi",
}


@dataclasses.dataclass(frozen=True)
class OverdueItem:
    code: str
    title: str
    lead_name: str
    due: dt.date
    working_days_late: int


@dataclasses.dataclass(frozen=True)
class Recipient:
    contact_id: int
    name: str
    email: str


@dataclasses.dataclass(frozen=True)
class WeeklyReport:
    """What the coordinator of one plan receives on Monday morning, and who that is. The
    email itself is an outbox row (``notifications.compose.weekly_report`` words it)."""

    progress: PlanProgress
    overdue: tuple[OverdueItem, ...]
    recipients: tuple[Recipient, ...]
    enqueued: int = 0  # outbox rows added (none when this day's report was already there)


# --- progress ---------------------------------------------------------------------------


def progress_table(units: Sequence[UnitProgress]) -> list[dict[str, str | int]]:
    """Rows for a Prefect table artifact: one per unit, then the total."""
    rows: list[dict[str, str | int]] = [_row(unit.name, unit.counts) for unit in units]
    rows.append(_row(TOTAL_LABEL, totals(units)))
    return rows


def _row(label: str, counts: Mapping[Timeliness, int]) -> dict[str, str | int]:
    row: dict[str, str | int] = {UNIT_COLUMN: label}
    for timeliness in TIMELINESS_ORDER:
        row[TIMELINESS_LABELS[timeliness]] = counts.get(timeliness, 0)
    return row


def overdue_items(
    views: Iterable[AssignmentView], day: dt.date, calendar: WorkCalendar
) -> tuple[OverdueItem, ...]:
    """Overdue assignments, the longest overdue first."""
    items = [
        OverdueItem(
            view.code,
            view.title,
            view.lead_name,
            view.due,
            calendar.working_days_between(view.due, day),
        )
        for view in views
        if view.timeliness is Timeliness.OVERDUE and view.due is not None
    ]
    return tuple(sorted(items, key=lambda item: (-item.working_days_late, item.code)))


# --- the weekly report ------------------------------------------------------------------


def enqueue_weekly_reports(
    session: Session, day: dt.date, settings: Settings
) -> list[WeeklyReport]:
    """For each live plan: the weekly report put in the outbox for the coordinator's contacts
    (the delivery sends it, with the Excel report attached, and records each outcome), and the
    table per unit and the overdue list for the Prefect UI."""
    calendar = store.load_calendar(session)
    reports = []
    for plan in store.list_plans(session):
        if plan.activated_at is None:  # its contacts may still be placeholders
            continue
        views = store.plan_status(session, day, plan.code)
        enqueued = reminders.enqueue_weekly(
            session, plan, day, clock.now_for(day), calendar, settings
        )
        reports.append(
            WeeklyReport(
                progress=PlanProgress(plan.code, plan.title, day, unit_progress(views)),
                overdue=overdue_items(views, day, calendar),
                recipients=coordinator_recipients(session, plan),
                enqueued=enqueued.added,
            )
        )
    return reports


def weekly_outcomes(session: Session, day: dt.date) -> list[tuple[str, str, str, str | None]]:
    """(address, plan code, delivery status, last error) of every weekly report of ``day``."""
    rows = session.exec(
        select(OutboxMessage, Contact, Plan)
        .join(Contact, col(Contact.id) == col(OutboxMessage.contact_id))
        .join(Plan, col(Plan.id) == col(OutboxMessage.plan_id))
        .where(OutboxMessage.kind == ReminderKind.WEEKLY_REPORT)
        .where(OutboxMessage.day == day)
        .where(col(OutboxMessage.fallback_of_id).is_(None))
        .order_by(col(OutboxMessage.id))
    )
    return [
        (contact.email or contact.name, plan.code, message.status.value, message.last_error)
        for message, contact, plan in rows
    ]


def coordinator_recipients(session: Session, plan: Plan) -> tuple[Recipient, ...]:
    """The coordinator unit's contacts marked ``is_coordinator`` (all of them if none is),
    as the reminder policy picks them; only those with an email address."""
    if plan.coordinator_department_id is None:
        return ()
    contacts: list[Contact] = reminders.recipients(
        store.contacts_of(session, plan.coordinator_department_id), "coordinator"
    )
    return tuple(
        Recipient(contact.id, contact.name, contact.email)
        for contact in contacts
        if contact.email and contact.id is not None
    )


# --- words ------------------------------------------------------------------------------


def artifact_key(prefix: str, code: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) naming a plan."""
    text = unicodedata.normalize("NFKD", code.replace("đ", "d").replace("Đ", "D"))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return f"{prefix}-{slug}" if slug else prefix


def delivery_text(counts: Mapping[str, int]) -> str:
    """``đã gửi 12 · gửi lại sau 1``, or a sentence when nothing was due."""
    if not any(counts.values()):
        return "không có tin nào đến lượt gửi"
    return " · ".join(
        f"{_DELIVERY_LABELS.get(status, status)} {count}"
        for status, count in sorted(counts.items())
        if count
    )


def markdown_table(units: Sequence[UnitProgress]) -> str:
    rows = progress_table(units)
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|",
    ]
    lines.extend("| " + " | ".join(_md(row[c]) for c in COLUMNS) + " |" for row in rows)
    return "\n".join(lines)


def _md(value: str | int) -> str:
    return str(value).replace("|", "\\|")


def sweep_markdown(
    day: dt.date,
    moved: int,
    added: int,
    considered: int,
    delivered: Mapping[str, int],
    plans: Sequence[PlanProgress],
) -> str:
    """The daily sweep's summary, for the Prefect UI."""
    lines = [
        f"# Quét hằng ngày — {weekday_date(day)}",
        "",
        f"- Thời hạn được tính lại: {moved}",
        f"- Nhắc việc mới vào hàng đợi: {added} (đã có từ trước: {considered - added})",
        f"- Kết quả gửi: {delivery_text(delivered)}",
    ]
    for plan in plans:
        counts = totals(plan.units)
        lines += [
            "",
            f"## {plan.plan_title}",
            "",
            f"Quá hạn: **{counts.get(Timeliness.OVERDUE, 0)}** · "
            f"Sắp đến hạn: **{counts.get(Timeliness.DUE_SOON, 0)}** · "
            f"Tổng số nhiệm vụ được theo dõi: {sum(counts.values())}",
            "",
            markdown_table(plan.units),
        ]
    return "\n".join(lines) + "\n"


def day_off_markdown(day: dt.date, reason: str) -> str:
    return (
        f"# Quét hằng ngày — {weekday_date(day)}\n\n"
        f"Hôm nay là ngày nghỉ ({reason}): không tính nhắc việc, không gửi tin.\n"
    )


# --- the weekly report ------------------------------------------------------------------


def weekly_markdown(report: WeeklyReport) -> str:
    """The weekly report as the Prefect UI shows it: the table per unit and the overdue list."""
    progress = report.progress
    lines = [
        f"# Báo cáo tuần — {weekday_date(progress.day)}",
        "",
        f"## {progress.plan_title}",
        "",
        markdown_table(progress.units),
        "",
        f"Nhiệm vụ quá hạn: **{len(report.overdue)}**",
        "",
        *(
            f"- **{_md(item.code)}**: {_md(item.title)} (chủ trì: {_md(item.lead_name)}; hạn "
            f"{format_vn(item.due)}; quá hạn {item.working_days_late} ngày làm việc)"
            for item in report.overdue
        ),
    ]
    return "\n".join(lines) + "\n"
