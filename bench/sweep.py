"""The daily sweep at 10k and 100k assignments, beside its floor and the naive design.

Three ways to do one working day's sweep, each in its own child process on the same data:

* ``giaoviec`` — the sweep as the daily flow runs it, without Prefect's bookkeeping: deadlines
  resolved again for every plan, the reminder policy, the outbox enqueue, and the progress per
  unit (timeliness of every assignment).
* ``floor`` — the same outbox rows selected and inserted by ONE hand-written SQL statement
  (working-day arithmetic done beforehand in Python). It is the least any design must do; it
  skips the deadline and timeliness work, so the ratio to it is an upper bound on overhead.
* ``naive`` — one Prefect task per assignment (on a 1,000-assignment subset), beside the
  giaoviec flow with its three batched tasks on the same subset.

The outbox is emptied before each run, and the floor's rows are checked to be exactly the
rows giaoviec enqueues (a fingerprint of their keys), so the two do the same selection.

    python -m bench.sweep                       # 10k and 100k on SQLite
    python -m bench.sweep --postgres            # …and on PostgreSQL (database test_bench)
    python -m bench.sweep --sizes 1000 --repeat 1 --naive-subset 100   # the smoke test's size
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.common import (
    PG_DEFAULT,
    counting_statements,
    database_label,
    emit,
    fresh_database,
    machine,
    peak_rss_mb,
    run_child,
    summary,
    table,
)
from bench.generate import DEFAULT_TODAY, Sizes

_OPEN = ("not_started", "in_progress", "blocked")


# --- the child side: one variant, measured --------------------------------------------


def _engine(url: str) -> Any:
    from tracking import db

    return db.get_engine(url)


def _clear_outbox(engine: Any) -> None:
    from sqlalchemy import text

    with engine.begin() as connection:
        connection.execute(text("DELETE FROM outbox"))


def _fingerprint(engine: Any) -> tuple[int, str]:
    """How many outbox rows there are, and a digest of their keys: equal rows, equal digest."""
    from sqlalchemy import text

    with engine.connect() as connection:
        keys = sorted(
            f"{s}|{c}|{k}|{r}|{int(bool(x))}"
            for s, c, k, r, x in connection.execute(
                text("SELECT subject, contact_id, kind, role, is_copy FROM outbox")
            )
        )
    return len(keys), hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]


def run_giaoviec(url: str, day: dt.date) -> dict[str, Any]:
    from sqlmodel import Session

    from services import day as sweep
    from services.progress import progress_rows
    from tracking.settings import get_settings

    engine = _engine(url)
    _clear_outbox(engine)
    settings = get_settings()
    steps: dict[str, float] = {}
    rss_before = peak_rss_mb()
    with counting_statements(engine) as statements:
        started = time.perf_counter()
        moved = sweep.recompute_all(engine)
        steps["deadlines"] = time.perf_counter() - started
        enqueued = sweep.enqueue_day(engine, day, settings)
        steps["reminders"] = time.perf_counter() - started - steps["deadlines"]
        with Session(engine) as session:
            units = sum(len(p.units) for p in progress_rows(session, day))
        wall = time.perf_counter() - started
        steps["progress"] = wall - steps["deadlines"] - steps["reminders"]
    count, digest = _fingerprint(engine)
    return {
        "wall": wall,
        "steps": steps,
        "statements": statements[0],
        "peak_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "moved": moved,
        "enqueued": enqueued.added,
        "unit_rows": units,
        "rows": count,
        "digest": digest,
    }


def floor_statement(day: dt.date, dialect: str) -> str:
    """One INSERT … SELECT doing the policy's selection for ``day`` (default policy).

    The working-day arithmetic is done here, in Python, and written into the statement as the
    due dates that owe each kind today; the database does the rest in one pass.
    """
    from models.planfile import ReminderPolicySpec
    from tracking.calendar import WorkCalendar
    from tracking.reminders import Policy, daily_kinds

    calendar = WorkCalendar()
    policy = Policy.of_spec(ReminderPolicySpec())
    pairs: list[tuple[dt.date, str]] = []
    for back in range(-40, 400):
        due = day - dt.timedelta(days=back)
        pairs.extend((due, kind.value) for kind in daily_kinds(due, day, calendar, policy))
    literal = "DATE '{}'" if dialect == "postgresql" else "'{}'"
    values = ", ".join(f"({literal.format(d.isoformat())}, '{k}')" for d, k in pairs)
    # Open work for an event that has passed: one event_passed notice, dated the first working
    # day after the event (reminders.daily_notices); the events of the last 400 days.
    events = [day - dt.timedelta(days=back) for back in range(1, 400)]
    once = {e: calendar.add_working_days(e, 1) for e in events}
    afters = ", ".join(
        f"({literal.format(e.isoformat())}, {literal.format(once[e].isoformat())})" for e in events
    )
    opened = ", ".join(f"'{s}'" for s in _OPEN)
    # Who hears a notice: working staff (heads only when a unit has nobody else), heads for
    # escalations, the coordinating unit's coordinators: the same rule as reminders.recipients.
    return f"""
WITH owed(due, kind) AS (VALUES {values}),
live AS (
  SELECT a.id, a.plan_id, a.lead_department_id, p.coordinator_department_id, owed.kind
  FROM assignment a
  JOIN plan p ON p.id = a.plan_id AND p.activated_at IS NOT NULL
  JOIN owed ON owed.due = a.due
  WHERE a.state IN ({opened})
    -- work for an event that has passed gets no reminder (reminders.missed_the_event)
    AND NOT (p.event_date IS NOT NULL AND a.due <= p.event_date AND p.event_date < :day)
),
after_event(event_date, once) AS (VALUES {afters}),
passed AS (
  SELECT a.id, a.plan_id, a.lead_department_id, p.coordinator_department_id, e.once
  FROM assignment a
  JOIN plan p ON p.id = a.plan_id AND p.activated_at IS NOT NULL
  JOIN after_event e ON e.event_date = p.event_date
  WHERE a.state IN ({opened}) AND a.due <= p.event_date
),
staff AS (SELECT c.id, c.department_id FROM contact c WHERE NOT c.is_head OR NOT EXISTS
  (SELECT 1 FROM contact o WHERE o.department_id = c.department_id AND NOT o.is_head)),
heads AS (SELECT c.id, c.department_id FROM contact c WHERE c.is_head OR NOT EXISTS
  (SELECT 1 FROM contact o WHERE o.department_id = c.department_id AND o.is_head)),
coordinators AS (SELECT c.id, c.department_id FROM contact c WHERE c.is_coordinator OR NOT EXISTS
  (SELECT 1 FROM contact o WHERE o.department_id = c.department_id AND o.is_coordinator)),
notices(assignment_id, plan_id, department_id, contact_id, kind, role, is_copy, day) AS (
  SELECT l.id, l.plan_id, l.lead_department_id, s.id, l.kind, 'lead', false, :day
    FROM live l JOIN staff s ON s.department_id = l.lead_department_id
    WHERE l.kind <> 'escalation'
  UNION ALL
  SELECT l.id, l.plan_id, ac.department_id, s.id, l.kind, 'cooperating', true, :day
    FROM live l JOIN assignment_cooperator ac ON ac.assignment_id = l.id
    JOIN staff s ON s.department_id = ac.department_id
    WHERE l.kind IN ('upcoming', 'overdue')
  UNION ALL
  SELECT l.id, l.plan_id, l.lead_department_id, h.id, l.kind, 'head', false, :day
    FROM live l JOIN heads h ON h.department_id = l.lead_department_id
    WHERE l.kind = 'escalation'
  UNION ALL
  SELECT l.id, l.plan_id, l.coordinator_department_id, k.id, l.kind, 'coordinator', false, :day
    FROM live l JOIN coordinators k ON k.department_id = l.coordinator_department_id
    WHERE l.kind = 'escalation' AND l.lead_department_id <> l.coordinator_department_id
  UNION ALL
  SELECT x.id, x.plan_id, x.lead_department_id, s.id, 'event_passed', 'lead', false, x.once
    FROM passed x JOIN staff s ON s.department_id = x.lead_department_id
  UNION ALL
  SELECT x.id, x.plan_id, x.coordinator_department_id, k.id, 'event_passed', 'coordinator',
    false, x.once
    FROM passed x JOIN coordinators k ON k.department_id = x.coordinator_department_id
    WHERE x.lead_department_id <> x.coordinator_department_id
)
INSERT INTO outbox (subject, contact_id, channel, target, kind, day, plan_id, assignment_id,
  department_id, role, is_copy, status, attempts, next_attempt_at, created_at)
SELECT 'a:' || n.assignment_id, n.contact_id, 'email', 0, n.kind, n.day, n.plan_id,
  n.assignment_id, n.department_id, n.role, n.is_copy, 'pending', 0, :now, :now
FROM notices n WHERE true
ON CONFLICT DO NOTHING
"""


def run_floor(url: str, day: dt.date) -> dict[str, Any]:
    from sqlalchemy import bindparam, text

    from models.tables import UTCDateTime
    from tracking import clock

    engine = _engine(url)
    _clear_outbox(engine)
    rss_before = peak_rss_mb()
    with counting_statements(engine) as statements:
        # Timed from the same point as giaoviec's sweep: working out the owed due dates on
        # the calendar (which builds its holiday table) is part of the selection.
        started = time.perf_counter()
        statement = text(floor_statement(day, engine.dialect.name)).bindparams(
            bindparam("now", type_=UTCDateTime()), bindparam("day")
        )
        with engine.begin() as connection:
            connection.execute(statement, {"day": day, "now": clock.now_for(day)})
        wall = time.perf_counter() - started
    count, digest = _fingerprint(engine)
    return {
        "wall": wall,
        "statements": statements[0],
        "peak_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        "rows": count,
        "digest": digest,
    }


def run_naive(url: str, day: dt.date) -> dict[str, Any]:
    """One Prefect task per assignment: each reads its row and enqueues its own reminders."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from sqlmodel import Session, select

    from models.tables import Assignment, Plan
    from services import day as sweep
    from tracking import clock, reminders, store
    from tracking.settings import get_settings

    engine = _engine(url)
    _clear_outbox(engine)
    settings = get_settings()

    @task(cache_policy=NO_CACHE)
    def remind_one(assignment_id: int) -> int:
        with Session(engine) as session:
            row = session.get(Assignment, assignment_id)
            assert row is not None
            plan = session.get(Plan, row.plan_id)
            assert plan is not None
            calendar = store.load_calendar(session)
            policy = reminders.Policy.of(plan)
            notices = reminders.daily_notices(
                [row],
                reminders.cooperators_of(session, plan),
                plan.coordinator_department_id,
                day,
                calendar,
                policy,
                plan.event_date,
            )
            now = reminders.send_time(clock.now_for(day), calendar, policy)
            added = reminders.enqueue(session, plan, notices, day, now, settings).added
            session.commit()
            return added

    @flow
    def naive_sweep(ids: list[int]) -> int:
        sweep.recompute_all(engine)
        return sum(remind_one(i) for i in ids)

    @flow
    def warm_up() -> int:
        return 0

    with Session(engine) as session:
        ids = [i for i in session.exec(select(Assignment.id)) if i is not None]
    warm_up()  # starts the ephemeral API server: not part of the figure
    started = time.perf_counter()
    naive_sweep(ids)
    wall = time.perf_counter() - started
    count, digest = _fingerprint(engine)
    return {
        "wall": wall,
        "tasks": len(ids),
        "peak_mb": peak_rss_mb(),
        "rows": count,
        "digest": digest,
    }


def run_batched_flow(url: str, day: dt.date) -> dict[str, Any]:
    """giaoviec's design under Prefect: the sweep's three batched tasks in one flow."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from sqlmodel import Session

    from services import day as sweep
    from services.progress import progress_rows
    from tracking.settings import get_settings

    engine = _engine(url)
    _clear_outbox(engine)

    @task(cache_policy=NO_CACHE)
    def deadlines() -> int:
        return sweep.recompute_all(engine)

    @task(cache_policy=NO_CACHE)
    def remind() -> int:
        return sweep.enqueue_day(engine, day, get_settings()).added

    @task(cache_policy=NO_CACHE)
    def progress() -> int:
        with Session(engine) as session:
            return sum(len(p.units) for p in progress_rows(session, day))

    @flow
    def batched_sweep() -> None:
        deadlines()
        remind()
        progress()

    @flow
    def warm_up() -> int:
        return 0

    warm_up()
    started = time.perf_counter()
    batched_sweep()
    wall = time.perf_counter() - started
    count, digest = _fingerprint(engine)
    return {"wall": wall, "tasks": 3, "peak_mb": peak_rss_mb(), "rows": count, "digest": digest}


_VARIANTS: dict[str, Callable[[str, dt.date], dict[str, Any]]] = {
    "giaoviec": run_giaoviec,
    "floor": run_floor,
    "naive": run_naive,
    "batched-flow": run_batched_flow,
}


# --- the parent side: data, repetitions, the tables --------------------------------------


def _prefect_env(home: Path) -> dict[str, str]:
    return {
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": "",
        # A loaded 2-core machine can take longer than the default 20 s to start it.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }


def _prepare(url: str, sizes: Sizes) -> float:
    from bench.generate import generate
    from tracking import db

    fresh_database(url)
    started = time.perf_counter()
    engine = db.get_engine(url)
    generate(engine, sizes)
    elapsed = time.perf_counter() - started
    engine.dispose()  # the next fresh_database may delete the file under it
    db.get_engine.cache_clear()
    return elapsed


def _repeat(variant: str, url: str, repeat: int, env: dict[str, str]) -> list[dict[str, Any]]:
    args = ["--variant", variant, "--url", url, "--day", DEFAULT_TODAY.isoformat()]
    return [run_child("sweep", args, env) for _ in range(repeat)]


def _check_same_rows(results: Iterable[dict[str, Any]]) -> str:
    digests = {(r["rows"], r["digest"]) for r in results}
    if len(digests) != 1:
        raise SystemExit(f"the variants enqueued different rows: {digests}")
    rows, _ = digests.pop()
    return f"{rows:,} outbox rows, identical in every variant"


def bench_scale(url: str, total: int, repeat: int, env: dict[str, str]) -> str:
    sizes = Sizes(plans=max(1, total // 100), per_plan=min(100, total))
    generated = _prepare(url, sizes)
    # The first sweep after loading resolves every plan's deadlines (no calendar basis stored
    # yet), as after a calendar change; later days find nothing stale. Both are shown.
    first = _repeat("giaoviec", url, 1, env)[0]
    ours = _repeat("giaoviec", url, repeat, env)
    floor = _repeat("floor", url, repeat, env)
    same = _check_same_rows([*ours, *floor])
    ours_wall, floor_wall = summary([r["wall"] for r in ours]), summary([r["wall"] for r in floor])
    steps = {k: summary([r["steps"][k] for r in ours])["median"] for k in ours[0]["steps"]}
    rows = [
        [
            "giaoviec sweep, a typical day",
            ours_wall["median"],
            ours_wall["min"],
            ours_wall["max"],
            max(r["peak_mb"] for r in ours),
            ours[0]["statements"],
            ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()),
        ],
        [
            "giaoviec, first sweep / calendar changed",
            first["wall"],
            first["wall"],
            first["wall"],
            first["peak_mb"],
            first["statements"],
            ", ".join(f"{k} {v:.2f} s" for k, v in first["steps"].items()),
        ],
        [
            "floor: one SQL statement",
            floor_wall["median"],
            floor_wall["min"],
            floor_wall["max"],
            max(r["peak_mb"] for r in floor),
            floor[0]["statements"],
            "selection + insert only",
        ],
    ]
    title = (
        f"Daily sweep, {sizes.assignments:,} assignments ({sizes.plans:,} plans) on "
        f"{database_label(url)}: {same}; ratio to the floor "
        f"{ours_wall['median'] / floor_wall['median']:.1f}×; data generated in {generated:.1f} s; "
        f"{repeat} runs each"
    )
    header = ["variant", "median s", "min s", "max s", "peak RSS MB", "SQL statements", "steps"]
    return table(title, header, rows)


def bench_naive(url: str, subset: int, env: dict[str, str]) -> str:
    sizes = Sizes(plans=max(1, subset // 100), per_plan=min(100, subset))
    _prepare(url, sizes)
    naive = run_child(
        "sweep", ["--variant", "naive", "--url", url, "--day", DEFAULT_TODAY.isoformat()], env
    )
    batched = run_child(
        "sweep",
        ["--variant", "batched-flow", "--url", url, "--day", DEFAULT_TODAY.isoformat()],
        env,
    )
    same = _check_same_rows([naive, batched])
    rows = [
        [
            "giaoviec: 3 batched tasks in one flow",
            batched["wall"],
            batched["tasks"],
            batched["peak_mb"],
        ],
        ["naive: one Prefect task per assignment", naive["wall"], naive["tasks"], naive["peak_mb"]],
    ]
    title = (
        f"Sweep under Prefect, {sizes.assignments:,}-assignment subset on {database_label(url)}: "
        f"{same}; naive / batched = {naive['wall'] / batched['wall']:.0f}×"
    )
    return table(title, ["design", "wall s", "task runs", "peak RSS MB"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=sorted(_VARIANTS))
    parser.add_argument("--url")
    parser.add_argument("--day", default=DEFAULT_TODAY.isoformat())
    parser.add_argument(
        "--sizes", default="10000,100000", help="total assignments, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-subset", type=int, default=1000)
    parser.add_argument(
        "--postgres", nargs="?", const=PG_DEFAULT, help="also run on this PostgreSQL URL"
    )
    parser.add_argument(
        "--sqlite-dir", help="where the SQLite files go (default: a temporary folder)"
    )
    args = parser.parse_args()
    if args.child:
        emit(_VARIANTS[args.variant](args.url, dt.date.fromisoformat(args.day)))
        return
    print(f"Machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="giaoviec-bench-") as scratch:
        folder = Path(args.sqlite_dir or scratch)
        env = {**_prefect_env(Path(scratch)), "GIAOVIEC_HOME": str(Path(scratch) / "home")}
        urls = [f"sqlite:///{folder / 'bench-sweep.db'}"]
        if args.postgres:
            urls.append(args.postgres)
        for url in urls:
            for total in (int(s) for s in args.sizes.split(",")):
                print(bench_scale(url, total, args.repeat, env), flush=True)
            print(bench_naive(url, args.naive_subset, env), flush=True)
    os.environ.pop("GIAOVIEC_HOME", None)


if __name__ == "__main__":
    main()
