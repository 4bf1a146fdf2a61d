"""One day's work, without Prefect: deadlines, the reminder policy, delivery.

The Prefect flows run these same steps as tasks; ``giaoviec sweep`` and ``giaoviec simulate``
call them directly, so replaying a plan exercises exactly the code the schedules run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from models.tables import Plan
from notifications.delivery import DeliveryReport, deliver
from tracking import clock, reminders, store

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracking.settings import Settings

SWEEP_ACTOR = "giaoviec"


@dataclasses.dataclass(frozen=True)
class SweepResult:
    day: dt.date
    working_day: bool
    deadlines_moved: int
    enqueued: reminders.Enqueued
    delivery: DeliveryReport | None


def recompute_all(engine: Engine) -> int:
    """Resolve every plan's deadlines again (calendar overrides may have changed)."""
    with Session(engine, expire_on_commit=False) as session:
        calendar = store.load_calendar(session)
        moved = sum(
            store.recompute_deadlines(session, plan, calendar, SWEEP_ACTOR)
            for plan in session.exec(select(Plan))
        )
        session.commit()
    return moved


def enqueue_day(engine: Engine, day: dt.date, settings: Settings) -> reminders.Enqueued:
    with Session(engine, expire_on_commit=False) as session:
        calendar = store.load_calendar(session)
        result = reminders.enqueue_daily(session, day, clock.now_for(day), calendar, settings)
        session.commit()
    return result


def is_working_day(engine: Engine, day: dt.date) -> bool:
    with Session(engine) as session:
        return store.load_calendar(session).is_working_day(day)


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
