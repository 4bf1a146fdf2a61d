"""The sweep's shortcuts for scale, held to the straightforward computation they replace.

At 100,000 assignments the sweep cannot afford to build every assignment's view: the
database picks the reminder candidates, counts timeliness per unit, and deadlines are only
resolved again when the calendar changed. Each shortcut is checked here against the plain
Python rule on generated data (``bench.generate``), over many days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bench.generate import DEFAULT_TODAY, Sizes, generate
from models.tables import Assignment, CalendarOverride, OutboxMessage, Plan
from services import day as sweep
from services.progress import progress_rows, unit_progress
from tracking import clock, progress, reminders, store
from tracking.settings import get_settings

SIZES = Sizes(plans=6, per_plan=40, units=8, seed=7)
# Working days from late January to December: every timeliness class and reminder kind occurs.
DAYS = [dt.date(2026, 1, 26) + dt.timedelta(days=7 * k + k % 5) for k in range(0, 46, 3)]


@pytest.fixture
def generated(clean_engine: Engine) -> Engine:
    generate(clean_engine, SIZES, migrate=False)
    return clean_engine


def test_sql_counts_equal_the_python_timeliness_on_every_day(generated: Engine) -> None:
    with Session(generated) as session:
        calendar = store.load_calendar(session)
        plans = store.list_plans(session)
        for day in [*DAYS, DEFAULT_TODAY]:
            counted = progress.unit_counts(session, day, calendar)
            for plan in plans:
                expected = unit_progress(store.plan_status(session, day, plan.code))
                got = counted.get(plan.id or 0, [])
                assert [(u.code, u.name, dict(u.counts)) for u in got] == [
                    (u.code, u.name, dict(u.counts)) for u in expected
                ], (day, plan.code)


def test_progress_rows_cover_every_plan_in_code_order(generated: Engine) -> None:
    with Session(generated) as session:
        rows = progress_rows(session, DEFAULT_TODAY)
        assert [r.plan_code for r in rows] == sorted(p.code for p in store.list_plans(session))
        total = sum(sum(u.counts.values()) for r in rows for u in r.units)
        counted = session.exec(
            select(Assignment).where(Assignment.state.not_in(["paused", "cancelled"]))  # type: ignore[attr-defined]
        ).all()
        assert total == len(counted)


def _reference_rows(session: Session, day: dt.date) -> Counter[tuple[str, int, str, str]]:
    """What the policy owes on ``day``, computed over every assignment without any filter."""
    calendar = store.load_calendar(session)
    settings = get_settings()
    contacts = reminders._contacts_by_department(session)
    owed: Counter[tuple[str, int, str, str]] = Counter()
    for plan in session.exec(select(Plan)).all():
        rows = session.exec(select(Assignment).where(Assignment.plan_id == plan.id)).all()
        notices = reminders.daily_notices(
            rows,
            reminders.cooperators_of(session, plan),
            plan.coordinator_department_id,
            day,
            calendar,
            reminders.Policy.of(plan),
            plan.event_date,
        )
        for row in reminders.outbox_rows(plan, notices, contacts, day, clock.now_utc(), settings):
            owed[(row["subject"], row["contact_id"], row["kind"], row["role"])] += 1
    return owed


def test_enqueued_rows_equal_the_unfiltered_policy_on_every_day(generated: Engine) -> None:
    kinds: Counter[str] = Counter()
    with Session(generated) as session:
        calendar = store.load_calendar(session)
        for day in DAYS:
            if not calendar.is_working_day(day):
                continue
            session.execute(text("DELETE FROM outbox"))
            reminders.enqueue_daily(session, day, clock.now_for(day), calendar, get_settings())
            session.commit()
            got = Counter(
                (r.subject, r.contact_id, r.kind.value, r.role)
                for r in session.exec(select(OutboxMessage)).all()
            )
            assert got == _reference_rows(session, day), day
            kinds.update(key[2] for key in got)
    # The comparison means something only if every daily kind actually occurred.
    assert {"upcoming", "due_today", "overdue", "escalation"} <= set(kinds)


def test_deadlines_are_resolved_again_only_when_the_calendar_changed(generated: Engine) -> None:
    assert sweep.recompute_all(generated) == 0  # generated data: resolved, but no basis yet
    with Session(generated) as session:
        bases = {p.deadlines_basis for p in session.exec(select(Plan)).all()}
        assert len(bases) == 1 and None not in bases
        # A day off written straight into the table (another tool, a restore): no store call.
        busiest = Counter(
            a.due for a in session.exec(select(Assignment)).all() if a.due is not None
        ).most_common(1)[0][0]
        session.add(CalendarOverride(day=busiest, working=False, name="Nghỉ đột xuất"))
        session.commit()
    moved = sweep.recompute_all(generated)
    assert moved > 0
    with Session(generated) as session:
        assert not session.exec(select(Assignment).where(Assignment.due == busiest)).all()
    assert sweep.recompute_all(generated) == 0  # …and then nothing more to do
    assert sweep.recompute_all(generated, force=True) == 0  # forcing finds nothing stale
