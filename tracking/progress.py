"""How many assignments stand where, per plan and lead unit, counted by the database.

``tracking.status.timeliness`` decides one assignment in Python; the daily sweep and the
dashboards need only the counts, for every plan at once. Here the same rule is one SQL
``CASE`` and the database groups and counts, so a sweep over 100,000 assignments reads a few
thousand count rows instead of building 100,000 views. A test holds the two to each other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from models.enums import AssignmentState, Timeliness
from models.tables import Assignment, Department
from tracking.status import DUE_SOON_WORKING_DAYS

if TYPE_CHECKING:
    from tracking.calendar import WorkCalendar


@dataclasses.dataclass(frozen=True)
class UnitCounts:
    """One lead unit of one plan: how many of its assignments are in each class."""

    plan_id: int
    code: str
    name: str
    first_position: int  # units are listed in the order their first assignment appears
    counts: dict[Timeliness, int]


def timeliness_sql(today: dt.date, calendar: WorkCalendar) -> Any:
    """``tracking.status.timeliness`` as a SQL expression (NULL for paused or cancelled)."""
    a_state, due, done_on = col(Assignment.state), col(Assignment.due), col(Assignment.completed_on)
    # "Due soon" is at most N working days away: before the (N+1)th working day after today.
    soon_end = calendar.add_working_days(today, DUE_SOON_WORKING_DAYS + 1)
    return case(
        (a_state.in_([AssignmentState.CANCELLED, AssignmentState.PAUSED]), None),
        (
            a_state == AssignmentState.DONE,
            case(
                (
                    or_(due.is_(None), done_on.is_(None), done_on <= due),
                    Timeliness.DONE_ON_TIME.value,
                ),
                else_=Timeliness.DONE_LATE.value,
            ),
        ),
        (due.is_(None), Timeliness.NO_DEADLINE.value),
        (
            and_(a_state == AssignmentState.SUBMITTED, done_on.is_not(None)),
            case((done_on <= due, Timeliness.OPEN_IN_TIME.value), else_=Timeliness.OVERDUE.value),
        ),
        (due < today, Timeliness.OVERDUE.value),
        (due < soon_end, Timeliness.DUE_SOON.value),
        else_=Timeliness.OPEN_IN_TIME.value,
    )


def unit_counts(
    session: Session, today: dt.date, calendar: WorkCalendar, plan_ids: list[int] | None = None
) -> dict[int, list[UnitCounts]]:
    """Per plan id: its lead units in plan order, each with its counts per class."""
    inner = select(
        col(Assignment.plan_id).label("plan_id"),
        col(Assignment.lead_department_id).label("unit"),
        col(Assignment.position).label("position"),
        timeliness_sql(today, calendar).label("timeliness"),
    )
    if plan_ids is not None:
        inner = inner.where(col(Assignment.plan_id).in_(plan_ids))
    rows = inner.subquery()
    # One row per plan and unit, a column per class: the database does the counting and
    # Python only reads the result (a country's 1,000 plans give some 60,000 such rows).
    classes = list(Timeliness)
    grouped = (
        select(
            rows.c.plan_id,
            rows.c.unit,
            func.min(rows.c.position),
            *(func.sum(case((rows.c.timeliness == t.value, 1), else_=0)) for t in classes),
        )
        .group_by(rows.c.plan_id, rows.c.unit)
        .order_by(rows.c.plan_id, func.min(rows.c.position))
    )
    departments = session.exec(sqlmodel_select(Department))
    names = {d.id: (d.code, d.short_name or d.name) for d in departments}
    result: dict[int, list[UnitCounts]] = {}
    # Core rows, not ORM objects.
    for plan_id, unit, first, *counts in session.connection().execute(grouped):
        code, name = names[unit]
        found = {t: int(n) for t, n in zip(classes, counts, strict=True) if n}
        result.setdefault(plan_id, []).append(UnitCounts(plan_id, code, name, first, found))
    return result
