"""iCalendar feeds: every assignment deadline, and the event itself, as all-day events.

A unit adds the file (or, later, the web feed) to its own calendar and sees its deadlines next
to its meetings. Choices:

- Each deadline is an all-day event: ``DTSTART;VALUE=DATE`` on the due day and ``DTEND`` the
  next day (RFC 5545: the end is exclusive), ``TRANSP:TRANSPARENT`` so a deadline does not
  make anyone look busy. The event day itself is opaque: people are at the conference.
- No VTIMEZONE. A VTIMEZONE is needed for every ``TZID`` a calendar uses, and this one uses
  none: dates (``VALUE=DATE``) are "floating" days, the same calendar day wherever the reader
  is, which is exactly what a Vietnamese deadline is. The only date-times are DTSTAMP and
  LAST-MODIFIED, which RFC 5545 requires in UTC. ``X-WR-TIMEZONE:Asia/Ho_Chi_Minh`` still
  tells Google and Apple calendars which zone the feed belongs to.
- UIDs are stable (``assignment-<id>@giaoviec``, ``plan-<id>-event@giaoviec``): importing a
  newer file, or refreshing a subscription, moves an event instead of adding a second one.
  ``SEQUENCE`` is the assignment's version (bumped by every change) and ``DTSTAMP`` /
  ``LAST-MODIFIED`` the time of its latest recorded activity, so the same data gives the same
  bytes (a web feed can use them as an ETag) and any change gives a newer revision.
- Assignments without a due date yet (the event date is not set) and cancelled ones are left
  out; done ones stay, with their state in the description.
- No ``METHOD``: the file is a published calendar, not a scheduling message (with a METHOD,
  DTSTAMP would have to be the time the file was made).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from icalendar import Calendar, Event
from sqlalchemy import func
from sqlmodel import Session, col, select

from models.dates import format_vn, in_calendar_range
from models.enums import AssignmentState
from models.numbering import citable_number
from models.tables import Activity, Assignment, Department, Plan
from tracking import clock, store
from tracking.status import STATE_LABELS
from tracking.store import AssignmentView

PRODID = "-//giaoviec//Theo doi nhiem vu ke hoach//VI"
TIMEZONE = "Asia/Ho_Chi_Minh"
UID_DOMAIN = "giaoviec"
# Where an assignment's web page will be, under the base URL (the web pages are not built yet).
ASSIGNMENT_PATH = "/assignments/{id}"
ONE_DAY = dt.timedelta(days=1)


def assignment_uid(assignment_id: int) -> str:
    return f"assignment-{assignment_id}@{UID_DOMAIN}"


def event_uid(plan_id: int) -> str:
    return f"plan-{plan_id}-event@{UID_DOMAIN}"


def build_calendar(
    session: Session,
    plan_ref: str | None,
    department: str | None,
    *,
    base_url: str | None = None,
    today: dt.date | None = None,
) -> bytes:
    """The .ics file of a plan (every plan when ``plan_ref`` is None).

    With ``department`` (a unit code), only that unit's lead and cooperating assignments,
    and the event itself. ``base_url`` adds each assignment's web page as ``URL``. ``today``
    is only handed to ``store.plan_status``: the file shows nothing derived from it (no
    "overdue"), so it changes when the data does, not every day. Raises ``store.NotFound``
    for an unknown plan or unit.
    """
    plans = [store.get_plan(session, plan_ref)] if plan_ref else store.list_plans(session)
    unit = store.get_department(session, department) if department else None
    day = clock.today(today)
    names = {d.code: d.name for d in session.exec(select(Department))}
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _calendar_name(plans, unit))
    calendar.add("x-wr-timezone", TIMEZONE)
    calendar.add("x-wr-caldesc", "Thời hạn các nhiệm vụ được giao trong kế hoạch (giaoviec).")
    for plan in plans:
        if plan.event_date is not None and in_calendar_range(plan.event_date):
            calendar.add_component(_event_of_plan(session, plan))
        views = store.plan_status(session, day, plan.code, department)
        rows = _assignments(session, [v.id for v in views])
        stamps = _latest_activity(session, [v.id for v in views])
        for view in views:
            if view.due is None or view.state is AssignmentState.CANCELLED:
                continue
            if not in_calendar_range(view.due):
                continue  # stored by an older version (31/12/9999): no use in a diary, no crash
            row = rows[view.id]
            stamp = stamps.get(view.id) or row.updated_at
            calendar.add_component(_deadline_event(view, row, plan, names, stamp, unit, base_url))
    data: bytes = calendar.to_ical()
    return data


def _calendar_name(plans: Sequence[Plan], unit: Department | None) -> str:
    whose = f" — {unit.short_name or unit.name}" if unit else ""
    if len(plans) == 1:
        return f"Nhiệm vụ{whose}: {plans[0].title}"
    return f"Nhiệm vụ{whose} (giaoviec)"


def _deadline_event(
    view: AssignmentView,
    row: Assignment,
    plan: Plan,
    names: Mapping[str, str],
    stamp: dt.datetime,
    unit: Department | None,
    base_url: str | None,
) -> Event:
    assert view.due is not None
    lines = [row.detail.strip() if row.detail else view.title, ""]
    if unit is not None:
        role = "chủ trì" if view.lead == unit.code else "phối hợp"
        lines.append(f"Vai trò của {unit.short_name or unit.name}: {role}")
    lines.append(f"Đơn vị chủ trì: {names.get(view.lead, view.lead_name)}")
    cooperating = ", ".join(names.get(code, code) for code in view.cooperating)
    lines.append(f"Đơn vị phối hợp: {cooperating or '—'}")
    lines.append(f"Tình trạng: {STATE_LABELS[view.state]}")
    if view.extended:
        original = format_vn(view.original_due) if view.original_due else "chưa có"
        lines.append(f"Gia hạn đến {format_vn(view.due)}, hạn ban đầu {original}")
    lines.append(f"Kế hoạch: {plan.title}")
    event = Event()
    event.add("uid", assignment_uid(view.id))
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    event.add("sequence", max(row.version - 1, 0))
    event.add("dtstart", view.due)
    event.add("dtend", view.due + ONE_DAY)
    event.add("summary", f"[{view.code}] {view.title}")
    event.add("description", "\n".join(lines))
    event.add("transp", "TRANSPARENT")
    if base_url:
        event.add("url", base_url.rstrip("/") + ASSIGNMENT_PATH.format(id=view.id))
    return event


def _event_of_plan(session: Session, plan: Plan) -> Event:
    assert plan.id is not None and plan.event_date is not None
    stamp, changes = _plan_stamp(session, plan)
    lines = [
        plan.title,
        plan.issuer
        + (f", Kế hoạch số {number}" if (number := citable_number(plan.number)) else ""),
    ]
    if plan.delegates:
        lines.append(f"Số đại biểu dự kiến: {plan.delegates}")
    event = Event()
    event.add("uid", event_uid(plan.id))
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    event.add("sequence", changes)
    event.add("dtstart", plan.event_date)
    event.add("dtend", plan.event_date + ONE_DAY)
    event.add("summary", plan.event_name or plan.title)
    event.add("description", "\n".join(lines))
    if plan.place:
        event.add("location", plan.place)
    event.add("transp", "OPAQUE")
    return event


def _assignments(session: Session, ids: list[int]) -> dict[int, Assignment]:
    if not ids:
        return {}
    rows = session.exec(select(Assignment).where(col(Assignment.id).in_(ids)))
    return {row.id: row for row in rows if row.id is not None}


def _latest_activity(session: Session, ids: list[int]) -> dict[int, dt.datetime]:
    if not ids:
        return {}
    query = (
        select(Activity.assignment_id, func.max(Activity.at))
        .where(col(Activity.assignment_id).in_(ids))
        .group_by(col(Activity.assignment_id))
    )
    return {
        assignment_id: _utc(at)
        for assignment_id, at in session.exec(query)
        if assignment_id is not None and at is not None
    }


def _plan_stamp(session: Session, plan: Plan) -> tuple[dt.datetime, int]:
    """When the plan itself last changed (loaded, event date set); how often the date moved."""
    latest = session.exec(
        select(func.max(Activity.at)).where(
            Activity.plan_id == plan.id, col(Activity.assignment_id).is_(None)
        )
    ).one()
    changes = session.exec(
        select(func.count())
        .select_from(Activity)
        .where(Activity.plan_id == plan.id, Activity.action == "event_date_set")
    ).one()
    return _utc(latest) if latest is not None else plan.loaded_at, max(changes - 1, 0)


def _utc(moment: dt.datetime) -> dt.datetime:
    # func.max() keeps the column type, so values come back aware; be safe with naive ones.
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
