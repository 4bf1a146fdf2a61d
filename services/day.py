"""The day: working day? deadlines resolved again, the day's reminders enqueued, delivery.

The daily-sweep flow runs these same steps, each as a task (``tasks/database.py``);
``giaoviec sweep`` and ``giaoviec simulate`` call them directly, so replaying a plan exercises
exactly the code the schedules run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import or_
from sqlmodel import Session, col, select

from models.tables import Plan
from notifications.delivery import DeliveryReport, deliver
from tracking import clock, reminders, store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracking.settings import Settings

SWEEP_ACTOR = "giaoviec"
# Plans resolved per transaction: few commits, yet memory stays flat at any number of plans.
_PLANS_PER_COMMIT = 50


@dataclasses.dataclass(frozen=True)
class SweepResult:
    day: dt.date
    working_day: bool
    deadlines_moved: int
    enqueued: reminders.Enqueued
    delivery: DeliveryReport | None


def recompute_all(engine: Engine, *, force: bool = False) -> int:
    """Resolve deadlines again where the calendar changed since they were resolved.

    Every change of a plan's own inputs (its file, event date, an extension, an override
    entered through giaoviec) resolves its deadlines at once; what can change behind its back
    is the calendar (a new ``holidays`` release, an override written by another tool), which
    ``WorkCalendar.basis`` captures. ``force`` resolves every plan regardless. One commit per
    plan keeps memory flat, and a crash leaves the rest for the next run.
    """
    with Session(engine, expire_on_commit=False) as session:
        calendar = store.load_calendar(session)
        basis = calendar.basis()
        query = select(Plan).order_by(col(Plan.id))
        if not force:
            stale = or_(col(Plan.deadlines_basis).is_(None), col(Plan.deadlines_basis) != basis)
            query = query.where(stale)
        plan_ids = [p.id for p in session.exec(query)]
        session.expunge_all()
        moved = 0
        for start in range(0, len(plan_ids), _PLANS_PER_COMMIT):
            chunk = plan_ids[start : start + _PLANS_PER_COMMIT]
            plans = list(session.exec(select(Plan).where(col(Plan.id).in_(chunk))))
            moved += store.recompute_plans(session, plans, calendar, SWEEP_ACTOR)
            session.commit()
            session.expunge_all()
    return moved


def enqueue_day(engine: Engine, day: dt.date, settings: Settings) -> reminders.Enqueued:
    with Session(engine, expire_on_commit=False) as session:
        calendar = store.load_calendar(session)
        result = reminders.enqueue_daily(session, day, clock.now_for(day), calendar, settings)
        session.commit()
    return result


def day_off_reason(engine: Engine, day: dt.date) -> str | None:
    """Why ``day`` is a day off (Vietnamese: "Chủ nhật", "Tết Nguyên đán"…), None on a working
    day: the question every run of the day asks first."""
    with Session(engine) as session:
        return store.load_calendar(session).day_off_name(day)


def is_working_day(engine: Engine, day: dt.date) -> bool:
    return day_off_reason(engine, day) is None


def sweep_day(
    engine: Engine, day: dt.date, settings: Settings, *, send: bool = True
) -> SweepResult:
    """The daily sweep: nothing on a day off; otherwise deadlines, reminders, delivery."""
    if not is_working_day(engine, day):
        return SweepResult(day, False, 0, reminders.NOTHING, None)
    moved = recompute_all(engine)
    enqueued = enqueue_day(engine, day, settings)
    report = deliver(engine, settings, clock.now_for(day)) if send else None
    return SweepResult(day, True, moved, enqueued, report)
