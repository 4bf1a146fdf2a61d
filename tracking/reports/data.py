"""The status report as plain data: what the Excel report and the weekly email both show.

Rows are the store's ``AssignmentView`` (so the figures are exactly those of
``giaoviec status``) with the words a reader needs: unit names, a status text and the notes
(extension, blocker or return reason, risk, days overdue). Groups follow the plan: lead units
in the order their first assignment appears in it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from sqlmodel import Session, col, select

from models.dates import format_vn
from models.enums import AssignmentState, Timeliness
from models.numbering import citable_number
from models.numbering import roman as roman
from models.tables import Assignment, Department, Plan
from tracking import store
from tracking.calendar import WorkCalendar
from tracking.reminders import REMINDED_STATES
from tracking.status import STATE_LABELS, TIMELINESS_LABELS, missed_the_event
from tracking.store import AssignmentView

# The Government Office's split, in its usual order (the enum's order).
TIMELINESS_ORDER: tuple[Timeliness, ...] = tuple(Timeliness)

# Text colours (RGB hex) shared by the Excel report and the email; bold marks what must be
# seen on a grey print-out too (see ``TIMELINESS_BOLD``).
TIMELINESS_COLORS: dict[Timeliness, str] = {
    Timeliness.DONE_ON_TIME: "1E7B34",
    Timeliness.DONE_LATE: "B45309",
    Timeliness.OPEN_IN_TIME: "1F3A8A",
    Timeliness.DUE_SOON: "B45309",
    Timeliness.OVERDUE: "C00000",
    Timeliness.NO_DEADLINE: "595959",
}
TIMELINESS_BOLD = frozenset({Timeliness.OVERDUE, Timeliness.DUE_SOON})
UNTRACKED_COLOR = "595959"  # paused or cancelled: no timeliness

COLUMNS: tuple[str, ...] = (
    "STT",
    "Nhiệm vụ",
    "Đơn vị chủ trì",
    "Đơn vị phối hợp",
    "Thời hạn",
    "Ngày hoàn thành",
    "Tình trạng",
    "Ghi chú",
)
TRACKED_LABEL = "Tổng số nhiệm vụ được theo dõi"
LEAD_GROUP = "Nhiệm vụ chủ trì"
COOPERATING_GROUP = "Nhiệm vụ phối hợp"


@dataclasses.dataclass(frozen=True)
class PlanHeading:
    """What the title block says about the plan."""

    id: int
    code: str
    number: str | None
    title: str
    issuer: str
    coordinator: str | None  # the coordinating unit's full name
    event_name: str | None
    event_date: dt.date | None
    window_text: str | None
    place: str | None

    @property
    def number_line(self) -> str:
        """``(Kế hoạch số 12/KH-UBND của Ủy ban nhân dân tỉnh An Giang)``."""
        if self.number:
            return f"(Kèm theo Kế hoạch số {self.number} của {self.issuer})"
        return f"(Kèm theo Kế hoạch của {self.issuer})"

    @property
    def event_line(self) -> str:
        what = "Ngày diễn ra Hội nghị" if self.event_name else "Ngày diễn ra"
        if self.event_date is not None:
            return f"{what}: {format_vn(self.event_date)}"
        if self.window_text:
            return f"{what}: chưa ấn định ({self.window_text})"
        return f"{what}: chưa ấn định"


@dataclasses.dataclass(frozen=True)
class ReportRow:
    view: AssignmentView
    lead_name: str
    cooperating_names: tuple[str, ...]
    status: str  # "Đang thực hiện\n(quá hạn)"
    notes: tuple[str, ...]

    @property
    def note(self) -> str:
        return "\n".join(self.notes)


@dataclasses.dataclass(frozen=True)
class RowGroup:
    """A group header row and its rows: a lead unit, or a unit's lead/cooperating work."""

    label: str
    code: str | None
    rows: tuple[ReportRow, ...]

    @property
    def heading(self) -> str:
        """``Sở Tài chính: 2 nhiệm vụ``: the group row's text."""
        return f"{self.label}: {len(self.rows)} nhiệm vụ"


@dataclasses.dataclass(frozen=True)
class SummaryLine:
    timeliness: Timeliness
    label: str
    count: int
    share: float  # of the tracked assignments; 0.0 when none is tracked


@dataclasses.dataclass(frozen=True)
class Summary:
    lines: tuple[SummaryLine, ...]
    tracked: int  # assignments with a timeliness (all but paused and cancelled)
    untracked: int  # paused or cancelled: listed in the table, not counted

    def count(self, timeliness: Timeliness) -> int:
        return next(line.count for line in self.lines if line.timeliness is timeliness)

    @property
    def untracked_note(self) -> str | None:
        if not self.untracked:
            return None
        return f"Không tính {self.untracked} nhiệm vụ tạm dừng hoặc đã hủy."


@dataclasses.dataclass(frozen=True)
class UnitSection:
    """One unit's own page: its lead work, then the work it cooperates on."""

    code: str
    name: str
    short_name: str
    groups: tuple[RowGroup, ...]
    summary: Summary  # of its lead assignments, as in the main table's split

    @property
    def rows(self) -> tuple[ReportRow, ...]:
        return tuple(row for group in self.groups for row in group.rows)


@dataclasses.dataclass(frozen=True)
class StatusReport:
    plan: PlanHeading
    today: dt.date
    groups: tuple[RowGroup, ...]  # one per lead unit, in plan order
    summary: Summary
    units: tuple[UnitSection, ...]  # every lead or cooperating unit, in plan order

    @property
    def rows(self) -> tuple[ReportRow, ...]:
        return tuple(row for group in self.groups for row in group.rows)

    @property
    def as_of_line(self) -> str:
        return f"Tình hình thực hiện đến ngày {format_vn(self.today)}"


# --- words for one assignment -------------------------------------------------------------


def status_text(view: AssignmentView) -> str:
    """The state, and the timeliness when it adds something: ``Đang thực hiện\\n(quá hạn)``."""
    if view.timeliness is None:
        return STATE_LABELS[view.state]
    if view.state is AssignmentState.DONE:
        return TIMELINESS_LABELS[view.timeliness]
    return f"{STATE_LABELS[view.state]}\n({TIMELINESS_LABELS[view.timeliness].lower()})"


_REASON_PREFIX: dict[AssignmentState, str] = {
    AssignmentState.BLOCKED: "Vướng mắc",
    AssignmentState.IN_PROGRESS: "Bị trả lại",  # the only reason an open state keeps
    AssignmentState.PAUSED: "Lý do tạm dừng",
    AssignmentState.CANCELLED: "Lý do hủy",
}


def notes_for(
    view: AssignmentView,
    reason: str | None,
    today: dt.date,
    calendar: WorkCalendar,
    event_date: dt.date | None = None,
) -> tuple[str, ...]:
    """Ghi chú: extension, the reason in force (blocker, return…), risk, days overdue, and
    work for the event still open once it has passed."""
    notes: list[str] = []
    missed = view.state in REMINDED_STATES and missed_the_event(view.due, event_date, today)
    if missed:
        assert event_date is not None
        notes.append(
            f"Không hoàn thành trước thời gian tổ chức ({format_vn(event_date)}); "
            "đã dừng nhắc việc, chờ đơn vị đầu mối quyết định"
        )
    if view.extended and view.due is not None:
        before = (
            f"hạn ban đầu {format_vn(view.original_due)}"
            if view.original_due
            else "trước đó chưa có thời hạn"
        )
        notes.append(f"Gia hạn đến {format_vn(view.due)}, {before}")
    prefix = _REASON_PREFIX.get(view.state)
    if prefix and reason and reason.strip():
        notes.append(f"{prefix}: {reason.strip()}")
    if view.at_risk:
        notes.append(f"Nguy cơ chậm: {view.at_risk}")
    if (
        view.timeliness is Timeliness.OVERDUE
        and not missed  # no longer "late by N days": the event it was for is over
        and view.state is not AssignmentState.SUBMITTED
        and view.due is not None
    ):
        late = calendar.working_days_between(view.due, today)
        notes.append(f"Quá hạn {late} ngày làm việc")
    return tuple(notes)


def summarize(views: Iterable[AssignmentView]) -> Summary:
    counts = dict.fromkeys(TIMELINESS_ORDER, 0)
    untracked = 0
    for view in views:
        if view.timeliness is None:
            untracked += 1
        else:
            counts[view.timeliness] += 1
    tracked = sum(counts.values())
    lines = tuple(
        SummaryLine(t, TIMELINESS_LABELS[t], counts[t], counts[t] / tracked if tracked else 0.0)
        for t in TIMELINESS_ORDER
    )
    return Summary(lines, tracked, untracked)


# --- reading the store ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Unit:
    code: str
    name: str
    short_name: str


def collect_status(session: Session, today: dt.date, plan_ref: str | None) -> StatusReport:
    """The whole report of one plan (the only plan when ``plan_ref`` is None) for ``today``.

    Raises ``store.NotFound`` for an unknown plan, or several plans and no reference.
    """
    plan = store.get_plan(session, plan_ref)
    views = store.plan_status(session, today, plan.code)
    calendar = store.load_calendar(session)
    units = {
        d.code: _Unit(d.code, d.name, d.short_name or d.name)
        for d in session.exec(select(Department))
    }
    reasons = _reasons(session, plan)
    rows = {
        view.id: ReportRow(
            view=view,
            lead_name=units[view.lead].short_name,
            cooperating_names=tuple(units[c].short_name for c in view.cooperating),
            status=status_text(view),
            notes=notes_for(view, reasons.get(view.id), today, calendar, plan.event_date),
        )
        for view in views
    }
    lead_order = _ordered(view.lead for view in views)
    groups = tuple(
        RowGroup(units[code].name, code, tuple(rows[v.id] for v in views if v.lead == code))
        for code in lead_order
    )
    all_units = _ordered([*lead_order, *(c for v in views for c in v.cooperating)])
    sections = tuple(_section(units[code], views, rows) for code in all_units)
    return StatusReport(
        plan=_heading(session, plan),
        today=today,
        groups=groups,
        summary=summarize(views),
        units=sections,
    )


def _section(
    unit: _Unit, views: Sequence[AssignmentView], rows: Mapping[int, ReportRow]
) -> UnitSection:
    lead = [v for v in views if v.lead == unit.code]
    cooperating = [v for v in views if unit.code in v.cooperating]
    groups = tuple(
        RowGroup(label, None, tuple(rows[v.id] for v in chosen))
        for label, chosen in ((LEAD_GROUP, lead), (COOPERATING_GROUP, cooperating))
        if chosen
    )
    return UnitSection(unit.code, unit.name, unit.short_name, groups, summarize(lead))


def _ordered(codes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(codes))


def _reasons(session: Session, plan: Plan) -> dict[int, str | None]:
    query = select(Assignment.id, Assignment.state_reason).where(Assignment.plan_id == plan.id)
    return {
        assignment_id: reason
        for assignment_id, reason in session.exec(query.order_by(col(Assignment.id)))
        if assignment_id is not None
    }


def _heading(session: Session, plan: Plan) -> PlanHeading:
    assert plan.id is not None
    coordinator = (
        session.get(Department, plan.coordinator_department_id)
        if plan.coordinator_department_id is not None
        else None
    )
    return PlanHeading(
        id=plan.id,
        code=plan.code,
        number=citable_number(plan.number),
        title=plan.title,
        issuer=plan.issuer,
        coordinator=coordinator.name if coordinator else None,
        event_name=plan.event_name,
        event_date=plan.event_date,
        window_text=plan.window_text,
        place=plan.place,
    )
