"""Prefect tasks that read and write giaoviec's database.

Thin wrappers over ``notifications.sweep`` and ``tracking.store``. Each opens the configured
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

from models.tables import Contact, Plan
from notifications import sweep
from tasks.reporting import (
    EmailContent,
    PlanProgress,
    Recipient,
    WeeklyReport,
    overdue_items,
    progress_rows,
    unit_progress,
)
from tracking import db, reminders, store
from tracking.reports.data import collect_status
from tracking.reports.summary import summary_from_report
from tracking.reports.xlsx import report_filename, workbook_bytes, workbook_for
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
    with Session(db.default_engine()) as session:
        return store.load_calendar(session).day_off_name(day)


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
    """For each live plan: the weekly summary email with the Excel report attached (the same
    day's data, read once), the table per unit, the overdue list, and who must receive it."""
    with Session(db.default_engine()) as session:
        calendar = store.load_calendar(session)
        reports = []
        for plan in store.list_plans(session):
            if plan.activated_at is None:  # its contacts may still be placeholders
                continue
            status = collect_status(session, day, plan.code)
            views = [row.view for row in status.rows]
            name = report_filename(status)
            subject, html, text = summary_from_report(status, attachment_name=name)
            workbook = workbook_bytes(workbook_for(status))
            reports.append(
                WeeklyReport(
                    progress=PlanProgress(plan.code, plan.title, day, unit_progress(views)),
                    overdue=overdue_items(views, day, calendar),
                    email=EmailContent(subject, text, html, name, workbook),
                    recipients=_coordinator_recipients(session, plan),
                )
            )
        return reports


def _coordinator_recipients(session: Session, plan: Plan) -> tuple[Recipient, ...]:
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
