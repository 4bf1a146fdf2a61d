"""Prefect tasks that read and write giaoviec's database.

One-liners over ``services`` (and ``tracking.store``). Each opens the configured
engine itself (``tracking.db.default_engine``), so a task runs the same in-process, in a served
deployment's subprocess, or on a worker on another machine.

``cache_policy=NO_CACHE`` on all of them: their results depend on the database, not on their
arguments, so a cached result would be wrong. Running one twice is safe anyway: the outbox's
unique key makes enqueuing idempotent, and activating a plan twice does nothing the second time.
No retries here: a database error is not something waiting a minute fixes within one run;
the next scheduled run starts over.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlmodel import Session

from services import day as sweep
from services.progress import PlanProgress, progress_rows
from services.reporting import WeeklyReport, enqueue_weekly_reports, weekly_outcomes
from tracking import db, reminders, store
from tracking.settings import get_settings

SYSTEM_ACTOR = sweep.SWEEP_ACTOR


@dataclasses.dataclass(frozen=True)
class Activation:
    plan_code: str
    newly_activated: bool  # False when the plan was already live: nothing was enqueued
    enqueued: int


@task(name="day-off", cache_policy=NO_CACHE)
def day_off_task(day: dt.date) -> str | None:
    """Why ``day`` is a day off (Vietnamese), or None on a working day."""
    return sweep.day_off_reason(db.default_engine(), day)


@task(name="recompute-deadlines", cache_policy=NO_CACHE)
def recompute_deadlines_task() -> int:
    """Resolve every plan's deadlines again; returns how many moved."""
    return sweep.recompute_all(db.default_engine())


@task(name="enqueue-reminders", cache_policy=NO_CACHE)
def enqueue_reminders_task(day: dt.date) -> reminders.Enqueued:
    """Put ``day``'s reminders in the outbox; rows already there are left alone."""
    return sweep.enqueue_day(db.default_engine(), day, get_settings())


@task(name="activate-plan", cache_policy=NO_CACHE)
def activate_plan_task(plan: str, day: dt.date, actor: str = SYSTEM_ACTOR) -> Activation:
    """Put a plan live and enqueue each unit's kickoff list (once per plan)."""
    with db.session_scope() as session:
        row, kickoff = store.activate_plan(session, plan, actor, day)
        code = row.code
    if kickoff is None:
        return Activation(code, False, 0)
    return Activation(code, True, kickoff.added)


@task(name="progress-per-unit", cache_policy=NO_CACHE)
def progress_rows_task(day: dt.date) -> list[PlanProgress]:
    """Every plan's counts per lead unit, in the Government Office's split, as of ``day``."""
    with Session(db.default_engine()) as session:
        return progress_rows(session, day)


@task(name="weekly-reports", cache_policy=NO_CACHE)
def weekly_reports_task(day: dt.date) -> list[WeeklyReport]:
    """Each live plan's weekly report, put in the outbox (``services.reporting``)."""
    with db.session_scope() as session:
        return enqueue_weekly_reports(session, day, get_settings())


@task(name="weekly-report-outcomes", cache_policy=NO_CACHE)
def weekly_outcomes_task(day: dt.date) -> list[tuple[str, str, str, str | None]]:
    """(address, plan code, delivery status, last error) of every weekly report of ``day``."""
    with Session(db.default_engine()) as session:
        return weekly_outcomes(session, day)
