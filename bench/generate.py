"""Realistic synthetic data: N plans × M assignments over a year, for the benchmarks.

The shape follows real provincial plans: ~60 shared units with two or three contacts each
(a head, working staff, a coordinator in the coordinating unit); each plan has an event
date somewhere in the year, deadlines counted from it in working days (most), absolute dates,
"N working days after a prerequisite", or none yet; a dependency DAG inside each plan; up to
three cooperating units. States follow the deadlines as of ``today``: work due long ago is
mostly confirmed, a few late items are still open, future work is mostly not started.

Rows go in with Core ``executemany`` in batches, so generating 100,000 assignments takes
seconds, not the minutes the ORM would; due dates are resolved with the application's own
calendar and schedule code, so a sweep on the generated data finds nothing to move unless
the calendar changes.

    python -m bench.generate --url sqlite:///bench.db --plans 1000 --per-plan 100
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import random
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from models.enums import AssignmentState, DayUnit, DeadlineKind
from models.tables import (
    Activity,
    Assignment,
    AssignmentCooperator,
    Contact,
    Department,
    Dependency,
    Plan,
)
from tracking import db, schedule
from tracking.calendar import WorkCalendar

# The day the data is "as of": a Wednesday, a working day with reminders of every kind due.
DEFAULT_TODAY = dt.date(2026, 6, 10)
_BATCH = 5_000
_YEAR = 2026


@dataclasses.dataclass(frozen=True)
class Sizes:
    plans: int = 1_000
    per_plan: int = 100
    units: int = 60
    seed: int = 20261124

    @property
    def assignments(self) -> int:
        return self.plans * self.per_plan


@dataclasses.dataclass
class _Ids:
    """Primary keys are assigned here, so rows can reference each other before inserting."""

    department: int = 0
    contact: int = 0
    plan: int = 0
    assignment: int = 0
    activity: int = 0

    def next(self, table: str) -> int:
        value: int = getattr(self, table) + 1
        setattr(self, table, value)
        return value


def generate(
    engine: Engine, sizes: Sizes, today: dt.date = DEFAULT_TODAY, *, migrate: bool = True
) -> dict[str, int]:
    """Fill an empty database; returns the number of rows written per table."""
    if migrate:
        db.migrate(engine)
    rng = random.Random(sizes.seed)
    calendar = WorkCalendar()
    ids = _Ids()
    now = dt.datetime.combine(today, dt.time(0, 30), tzinfo=dt.UTC)
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        units = _departments(sizes, ids)
        connection.execute(insert(Department), units)
        contacts = list(_contacts(units, ids))
        connection.execute(insert(Contact), contacts)
        counts.update(department=len(units), contact=len(contacts))
        coordinator = units[0]["id"]
        plans = [_plan(p, rng, ids, coordinator, now) for p in range(sizes.plans)]
        connection.execute(insert(Plan), plans)
        counts["plan"] = len(plans)
        buffers: dict[Any, list[dict[str, Any]]] = {
            Assignment: [],
            Dependency: [],
            AssignmentCooperator: [],
            Activity: [],
        }
        for plan in plans:
            for table, rows in _plan_rows(plan, sizes, rng, ids, calendar, today, now).items():
                buffers[table].extend(rows)
            # Parents before children: assignments of this batch go in before their links.
            if len(buffers[Assignment]) >= _BATCH:
                _flush(connection, buffers, counts)
        _flush(connection, buffers, counts)
        _advance_sequences(connection)
    return counts


def _advance_sequences(connection: Any) -> None:
    """Ids were given explicitly; PostgreSQL's sequences must learn where they now stand."""
    if connection.dialect.name != "postgresql":
        return
    from sqlalchemy import text

    for table in ("department", "contact", "plan", "assignment", "activity"):
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            )
        )


def _flush(
    connection: Any, buffers: dict[Any, list[dict[str, Any]]], counts: dict[str, int]
) -> None:
    for table, rows in buffers.items():
        if rows:
            connection.execute(insert(table), rows)
            counts[table.__tablename__] = counts.get(table.__tablename__, 0) + len(rows)
            rows.clear()


def _departments(sizes: Sizes, ids: _Ids) -> list[dict[str, Any]]:
    rows = []
    for n in range(sizes.units):
        key = ids.next("department")
        name = "Văn phòng UBND tỉnh" if n == 0 else f"Sở Ngành số {n:02d}"
        rows.append({"id": key, "code": f"U{n:03d}", "name": name, "short_name": None})
    return rows


def _contacts(units: list[dict[str, Any]], ids: _Ids) -> Iterator[dict[str, Any]]:
    for unit in units:
        code = unit["code"].lower()
        people = [("Trưởng phòng", True, False), ("Chuyên viên", False, False)]
        if unit is units[0]:
            people.append(("Ban Thi đua - Khen thưởng", False, True))
        for k, (role, head, coordinator) in enumerate(people):
            yield {
                "id": ids.next("contact"),
                "department_id": unit["id"],
                "name": f"{role} {unit['code']}",
                "role": role,
                "email": f"{code}.{k}@bench.gov.vn",
                "zalo_user_id": None,
                "phone": None,
                "apprise_urls": [],
                "is_head": head,
                "is_coordinator": coordinator,
            }


def _plan(
    n: int, rng: random.Random, ids: _Ids, coordinator: int, now: dt.datetime
) -> dict[str, Any]:
    event = dt.date(_YEAR, 1, 15) + dt.timedelta(days=rng.randrange(0, 330))
    return {
        "id": ids.next("plan"),
        "code": f"kh-{n:05d}",
        "number": f"{n}/KH-UBND",
        "title": f"Kế hoạch tổ chức sự kiện số {n}",
        "issuer": "Ủy ban nhân dân tỉnh",
        "event_name": f"Sự kiện số {n}",
        "event_date": event,
        "coordinator_department_id": coordinator,
        "legal_bases": [],
        "loaded_at": now,
        "activated_at": now,
        "reminder_policy": {},
    }


def _rule(rng: random.Random, position: int, earlier: list[int]) -> schedule.Rule[int]:
    roll = rng.random()
    if roll < 0.55 or (roll < 0.8 and not earlier):
        return schedule.Rule(DeadlineKind.EVENT, None, -rng.randrange(0, 60), DayUnit.WORKING)
    if roll < 0.75:
        return schedule.Rule(
            DeadlineKind.AFTER, None, rng.randrange(1, 15), DayUnit.WORKING, rng.choice(earlier)
        )
    if roll < 0.92:
        day = dt.date(_YEAR, 1, 5) + dt.timedelta(days=rng.randrange(0, 350))
        return schedule.Rule(DeadlineKind.DATE, day)
    return schedule.Rule()


def _state(rng: random.Random, due: dt.date | None, today: dt.date) -> AssignmentState:
    """States as a real plan has them on ``today``: past work mostly confirmed."""
    roll = rng.random()
    if roll < 0.01:
        return AssignmentState.CANCELLED
    if roll < 0.02:
        return AssignmentState.PAUSED
    if due is not None and due < today - dt.timedelta(days=14):
        return _pick(rng, [(0.9, AssignmentState.DONE), (0.05, AssignmentState.SUBMITTED)])
    if due is not None and due < today:
        return _pick(rng, [(0.6, AssignmentState.DONE), (0.2, AssignmentState.SUBMITTED)])
    return _pick(
        rng,
        [
            (0.45, AssignmentState.NOT_STARTED),
            (0.4, AssignmentState.IN_PROGRESS),
            (0.03, AssignmentState.BLOCKED),
        ],
    )


def _pick(rng: random.Random, weighted: list[tuple[float, AssignmentState]]) -> AssignmentState:
    roll, total = rng.random(), 0.0
    for weight, state in weighted:
        total += weight
        if roll < total:
            return state
    return AssignmentState.IN_PROGRESS  # the rest: started, still open (late ones: overdue)


def _plan_rows(
    plan: dict[str, Any],
    sizes: Sizes,
    rng: random.Random,
    ids: _Ids,
    calendar: WorkCalendar,
    today: dt.date,
    now: dt.datetime,
) -> dict[Any, list[dict[str, Any]]]:
    keys: list[int] = []
    rules: dict[int, schedule.Rule[int]] = {}
    prerequisites: dict[int, set[int]] = {}
    for _ in range(sizes.per_plan):
        key = ids.next("assignment")
        rule = _rule(rng, len(keys), keys[-20:])
        rules[key] = rule
        chosen = set(rng.sample(keys[-20:], k=min(len(keys), rng.choice([0, 0, 1, 1, 2]))))
        if rule.after is not None:
            chosen.add(rule.after)
        prerequisites[key] = chosen
        keys.append(key)
    due = schedule.resolve_all(keys, rules, plan["event_date"], calendar)
    assignments: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    coops: list[dict[str, Any]] = []
    for position, key in enumerate(keys):
        rule, state = rules[key], _state(rng, due[key], today)
        lead = rng.randrange(1, sizes.units + 1)
        done = state in (AssignmentState.DONE, AssignmentState.SUBMITTED)
        finished = (due[key] or today) - dt.timedelta(days=rng.randrange(-3, 6))
        assignments.append(
            {
                "id": key,
                "plan_id": plan["id"],
                "code": f"NV-{position + 1:03d}",
                "position": position,
                "title": f"Nhiệm vụ {position + 1} của {plan['title'].lower()}",
                "detail": None,
                "source": f"Mục V, ý {position + 1}",
                "lead_department_id": lead,
                "deadline_kind": rule.kind,
                "deadline_date": rule.date,
                "deadline_offset": rule.offset,
                "deadline_unit": rule.unit,
                "deadline_after_id": rule.after,
                "original_due": due[key],
                "due": due[key],
                "state": state,
                "state_reason": "Chờ kinh phí" if state is AssignmentState.BLOCKED else None,
                "submitted_at": now if done else None,
                "completed_on": min(finished, today) if state is AssignmentState.DONE else None,
                "evidence": [],
                "version": 1,
                "updated_at": now,
            }
        )
        deps.extend(
            {"assignment_id": key, "prerequisite_id": p} for p in sorted(prerequisites[key])
        )
        for unit in rng.sample(range(1, sizes.units + 1), k=rng.choice([0, 1, 1, 2, 3])):
            if unit != lead:
                coops.append({"assignment_id": key, "department_id": unit})
        activities.append(
            {
                "id": ids.next("activity"),
                "at": now,
                "plan_id": plan["id"],
                "assignment_id": key,
                "actor": "bench",
                "action": "created",
                "note": None,
            }
        )
    return {
        Assignment: assignments,
        Dependency: deps,
        AssignmentCooperator: coops,
        Activity: activities,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="database URL (an empty database)")
    parser.add_argument("--plans", type=int, default=Sizes.plans)
    parser.add_argument("--per-plan", type=int, default=Sizes.per_plan)
    parser.add_argument("--units", type=int, default=Sizes.units)
    parser.add_argument("--seed", type=int, default=Sizes.seed)
    args = parser.parse_args()
    sizes = Sizes(args.plans, args.per_plan, args.units, args.seed)
    started = time.perf_counter()
    counts = generate(db.get_engine(args.url), sizes)
    elapsed = time.perf_counter() - started
    print(f"generated in {elapsed:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
