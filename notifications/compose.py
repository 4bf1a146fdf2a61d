"""From an outbox row to the words of its message: the context the templates render."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlmodel import Session, col, select

from models.enums import AssignmentState, ReminderKind
from models.numbering import citable_number
from models.tables import (
    Activity,
    Assignment,
    AssignmentCooperator,
    Contact,
    Department,
    OutboxMessage,
    Plan,
)
from notifications.templates import (
    CHAT_LIMIT,
    Attachment,
    ItemLine,
    MessageContext,
    Rendered,
    addressed_title,
    render,
    shorten,
)
from tracking import clock, links
from tracking.calendar import WorkCalendar
from tracking.store import DUE_CORRECTED


class _Unset(enum.Enum):
    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET


def compose(
    session: Session,
    message: OutboxMessage,
    calendar: WorkCalendar,
    *,
    public_url: str | _Unset | None = _UNSET,
) -> Rendered:
    """``public_url``: GIAOVIEC_PUBLIC_URL read once by a caller composing many messages
    (reading the environment through pydantic costs more than rendering a message)."""
    if message.kind is ReminderKind.WEEKLY_REPORT:
        return weekly_report(session, message)
    return render(context_for(session, message, calendar, public_url=public_url))


def weekly_report(session: Session, message: OutboxMessage) -> Rendered:
    """The weekly report as of the message's day: ``tracking.reports``' summary (the words of
    the Excel report itself) with the workbook attached; the chat gets the text, shortened."""
    from tracking.reports.data import collect_status
    from tracking.reports.summary import summary_from_report
    from tracking.reports.xlsx import report_filename, workbook_bytes, workbook_for

    plan = session.get(Plan, message.plan_id)
    assert plan is not None
    status = collect_status(session, message.day, plan.code)
    name = report_filename(status)
    subject, html, text = summary_from_report(status, attachment_name=name)
    workbook = workbook_bytes(workbook_for(status))
    return Rendered(
        subject=subject,
        text=text,
        html=html,
        chat=shorten(text, CHAT_LIMIT),
        attachments=(Attachment(name, workbook),),
    )


def preload(session: Session, messages: Sequence[OutboxMessage]) -> list[Any]:
    """Load every row that composing ``messages`` reads, in five queries, and return them.

    The session's identity map holds rows only weakly: the caller keeps the returned list
    while composing, so each ``session.get`` is answered from memory instead of by a query.
    """
    rows: list[Any] = []

    def load(table: Any, ids: Iterable[int | None]) -> list[Any]:
        wanted = sorted(i for i in ids if i is not None)
        found = list(session.exec(select(table).where(col(table.id).in_(wanted)))) if wanted else []
        rows.extend(found)
        return found

    plans = load(Plan, {m.plan_id for m in messages})
    load(Contact, {m.contact_id for m in messages})
    assignments = load(Assignment, {m.assignment_id for m in messages})
    load(Activity, {m.activity_id for m in messages})
    units = {m.department_id for m in messages}
    units |= {a.lead_department_id for a in assignments}
    units |= {p.coordinator_department_id for p in plans}
    load(Department, units)
    return rows


def context_for(
    session: Session,
    message: OutboxMessage,
    calendar: WorkCalendar,
    *,
    public_url: str | _Unset | None = _UNSET,
) -> MessageContext:
    plan = session.get(Plan, message.plan_id)
    contact = session.get(Contact, message.contact_id)
    unit = session.get(Department, message.department_id)
    assert plan is not None and contact is not None and unit is not None
    coordinator = (
        session.get(Department, plan.coordinator_department_id)
        if plan.coordinator_department_id
        else None
    )
    title = addressed_title(contact.role, unit.name, is_head=message.role == "head")
    base = MessageContext(
        kind=message.kind,
        day=message.day,
        plan_title=plan.title,
        plan_number=citable_number(plan.number),
        event_name=plan.event_name,
        event_date=plan.event_date,
        recipient_name=contact.name,
        recipient_unit=unit.name,
        role=message.role,
        is_copy=message.is_copy,
        coordinator_unit=coordinator.name if coordinator else None,
        recipient_role=" ".join(contact.role.split()) if contact.role else None,
        recipient_title=title,
    )
    if message.kind is ReminderKind.KICKOFF:
        return _with_items(session, base, plan, message.department_id)
    if message.assignment_id is None:
        return base
    row = session.get(Assignment, message.assignment_id)
    assert row is not None
    return _with_assignment(session, base, row, message, calendar, public_url)


def _with_assignment(
    session: Session,
    base: MessageContext,
    row: Assignment,
    message: OutboxMessage,
    calendar: WorkCalendar,
    public_url: str | _Unset | None,
) -> MessageContext:
    lead = session.get(Department, row.lead_department_id)
    assert lead is not None
    coops = session.exec(
        select(Department.name)
        .join(AssignmentCooperator, col(AssignmentCooperator.department_id) == col(Department.id))
        .where(AssignmentCooperator.assignment_id == row.id)
        .order_by(col(Department.id))
    ).all()
    left = overdue = None
    if row.due is not None:
        if message.day <= row.due:
            left = calendar.working_days_between(message.day, row.due)
        else:
            overdue = calendar.working_days_between(row.due, message.day)
    activity = session.get(Activity, message.activity_id) if message.activity_id else None
    fields: dict[str, Any] = {
        "code": row.code,
        "title": row.title,
        "detail": row.detail,
        "lead_unit": lead.name,
        "cooperating_units": tuple(coops),
        "due": row.due,
        "original_due": row.original_due,
        "working_days_left": left,
        "working_days_overdue": overdue,
        "actor": links.person_of(activity.actor) if activity else None,
        "reason": _reason(activity, row),
        "due_corrected": activity is not None and activity.action == DUE_CORRECTED,
        "note": row.submission_note if message.kind is ReminderKind.SUBMITTED else None,
    }
    if message.kind is ReminderKind.PREREQUISITE_DONE and activity and activity.assignment_id:
        prereq = session.get(Assignment, activity.assignment_id)
        if prereq is not None:
            fields["prerequisite_code"] = prereq.code
            fields["prerequisite_title"] = prereq.title
    if message.kind in _TOLD_WITH_STORY:
        fields.update(_story(session, row, message.day))
    fields["links"] = _links(session, row, message, public_url)
    return _replace(base, fields)


# Messages about work still open, which must say what already happened to it.
_TOLD_WITH_STORY = frozenset(
    {
        ReminderKind.DUE_TODAY,
        ReminderKind.OVERDUE,
        ReminderKind.ESCALATION,
        ReminderKind.EVENT_PASSED,
    }
)


def _story(session: Session, row: Assignment, day: dt.date) -> dict[str, Any]:
    """The last submission, and the return that followed it; the blocker in force.

    Read from the history up to the message's day (in Vietnam), so a message never states
    less than what happened: "submitted on 26/02, returned on 27/02 because …".
    """
    story: dict[str, Any] = {}
    history = session.exec(
        select(Activity)
        .where(Activity.assignment_id == row.id)
        .where(col(Activity.action).in_(["submit", "return", "block"]))
        .order_by(col(Activity.id))
    )
    for event in history:
        on = clock.local_day(event.at)
        if on > day:
            break
        if event.action == "submit":
            story = {"submitted_on": on}
        elif event.action == "return":
            story.update(returned_on=on, return_reason=event.note)
        elif row.state is AssignmentState.BLOCKED:
            story.update(blocked_on=on, blocked_reason=event.note or row.state_reason)
    return story


def _links(
    session: Session, row: Assignment, message: OutboxMessage, public_url: str | _Unset | None
) -> tuple[tuple[str, str], ...]:
    """One-click links for what this recipient may do; none without GIAOVIEC_PUBLIC_URL.

    Made when the message is sent, so a link's lifetime counts from the moment it arrives.
    """
    base_url = links.link_settings().public_url if isinstance(public_url, _Unset) else public_url
    kinds = links.kinds_for_message(message.kind, message.role, message.is_copy, row.state)
    if not base_url or not kinds or row.id is None:
        return ()
    contact = session.get(Contact, message.contact_id)
    if contact is None:
        return ()
    return links.action_links(
        row.id,
        message.contact_id,
        kinds,
        base_url,
        clock.now_utc(),
        generation=contact.generation,
    )


def _reason(activity: Activity | None, row: Assignment) -> str | None:
    if activity is None:
        return None
    if activity.action in ("block", "return", "extend", "due_corrected", "cancel", "pause"):
        return activity.note or row.state_reason
    return None


def _with_items(
    session: Session, base: MessageContext, plan: Plan, department_id: int
) -> MessageContext:
    rows = session.exec(
        select(Assignment).where(Assignment.plan_id == plan.id).order_by(col(Assignment.position))
    ).all()
    cooperating = set(
        session.exec(
            select(AssignmentCooperator.assignment_id).where(
                AssignmentCooperator.department_id == department_id
            )
        ).all()
    )
    items = tuple(
        ItemLine(
            a.code,
            a.title,
            a.due,
            "lead" if a.lead_department_id == department_id else "cooperating",
        )
        for a in rows
        if a.lead_department_id == department_id or a.id in cooperating
    )
    return _replace(base, {"items": items})


def _replace(base: MessageContext, fields: Mapping[str, Any]) -> MessageContext:
    return dataclasses.replace(base, **fields)
