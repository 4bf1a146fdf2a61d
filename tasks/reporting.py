"""Progress per unit, the overdue list and the run summaries the Prefect UI shows.

No Prefect here: the tasks and flows call these pure functions, and tests can too. The words
are Vietnamese (what the coordinator reads); the column names are the Government Office's.
The weekly email itself is ``tracking.reports``' summary, the same as the Excel report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from sqlmodel import Session, select

from models.dates import format_vn
from models.enums import Timeliness
from models.tables import Plan
from tracking import progress, store
from tracking.calendar import WorkCalendar
from tracking.status import TIMELINESS_LABELS
from tracking.store import AssignmentView

UNIT_COLUMN = "Đơn vị"
TOTAL_LABEL = "Tổng cộng"
# The Government Office's split, in its usual order (the enum's order).
TIMELINESS_ORDER: tuple[Timeliness, ...] = tuple(Timeliness)
COLUMNS: tuple[str, ...] = (UNIT_COLUMN, *(TIMELINESS_LABELS[t] for t in TIMELINESS_ORDER))

_WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
_DELIVERY_LABELS = {
    "sent": "đã gửi",
    "pending": "gửi lại sau",
    "failed": "thất bại",
    "unknown": "không rõ kết quả",
    "cancelled": "không cần gửi",
}


@dataclasses.dataclass(frozen=True)
class UnitProgress:
    """How one lead unit's assignments stand today, in the Government Office's split."""

    code: str
    name: str
    counts: Mapping[Timeliness, int]

    def count(self, timeliness: Timeliness) -> int:
        return self.counts.get(timeliness, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclasses.dataclass(frozen=True)
class PlanProgress:
    plan_code: str
    plan_title: str
    day: dt.date
    units: tuple[UnitProgress, ...]


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


def unit_progress(views: Iterable[AssignmentView]) -> tuple[UnitProgress, ...]:
    """Counts per lead unit, units in the order their first assignment appears in the plan.

    Paused and cancelled work has no timeliness and is not counted (as in ``status``).
    """
    names: dict[str, str] = {}
    counts: dict[str, dict[Timeliness, int]] = {}
    for view in views:
        names.setdefault(view.lead, view.lead_name)
        unit = counts.setdefault(view.lead, {})
        if view.timeliness is not None:
            unit[view.timeliness] = unit.get(view.timeliness, 0) + 1
    return tuple(UnitProgress(code, names[code], counts[code]) for code in names)


def progress_rows(session: Session, day: dt.date) -> list[PlanProgress]:
    """Every plan's counts per lead unit as of ``day``, counted by the database at once."""
    calendar = store.load_calendar(session)
    counted = progress.unit_counts(session, day, calendar)
    plans = session.connection().execute(select(Plan.id, Plan.code, Plan.title).order_by(Plan.code))
    return [
        PlanProgress(
            code,
            title,
            day,
            tuple(UnitProgress(u.code, u.name, u.counts) for u in counted.get(plan_id, [])),
        )
        for plan_id, code, title in plans
    ]


def totals(units: Iterable[UnitProgress]) -> dict[Timeliness, int]:
    result: dict[Timeliness, int] = {}
    for unit in units:
        for key, value in unit.counts.items():
            result[key] = result.get(key, 0) + value
    return result


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


# --- words ------------------------------------------------------------------------------


def weekday_date(day: dt.date) -> str:
    """``Thứ Hai, 04/03/2024``."""
    return f"{_WEEKDAYS[day.weekday()]}, {format_vn(day)}"


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
