"""The store: the database operations every interface (CLI, web, flows) calls.

Each public function takes an open session and leaves committing to the caller
(``tracking.db.session_scope``), so one user action is one transaction. Every change writes an
``Activity`` row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from models.dates import format_vn
from models.enums import (
    AssignmentState,
    Channel,
    DayUnit,
    DeadlineKind,
    DeliveryStatus,
    Timeliness,
)
from models.tables import (
    Activity,
    Assignment,
    AssignmentCooperator,
    CalendarOverride,
    Contact,
    Department,
    Dependency,
    OutboxMessage,
    Plan,
)
from tracking import clock, reminders, schedule
from tracking.calendar import WorkCalendar
from tracking.settings import get_settings
from tracking.status import ACTION_LABELS, Action, next_state, timeliness

if TYPE_CHECKING:
    # Plan files are parsed only by the commands that load them: read commands start
    # faster without YAML and the plan-file models (see bench/startup.py).
    from models.planfile import AssignmentSpec, ContactSpec, PlanFile
    from tracking.planio import CheckedPlan


class NotFound(LookupError):
    """No such plan, assignment or unit; the message is for the user (Vietnamese)."""


class InvalidAction(ValueError):
    """An action the rules refuse (missing reason, bad date…); the message is for the user."""


class ConcurrentUpdate(RuntimeError):
    """Someone else changed the assignment between reading and writing it."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Nhiệm vụ {code} vừa được người khác cập nhật; hãy tải lại rồi thử lại.")


# --- calendar ---------------------------------------------------------------------------


def load_calendar(session: Session) -> WorkCalendar:
    rows = session.exec(select(CalendarOverride)).all()
    return WorkCalendar(
        overrides={row.day: row.working for row in rows},
        override_names={row.day: row.name for row in rows},
    )


def set_calendar_override(
    session: Session, day: dt.date, working: bool, name: str, actor: str
) -> None:
    """Mark ``day`` as a working day or a day off, then move every plan's deadlines to match."""
    row = session.get(CalendarOverride, day)
    before = None if row is None else row.working
    if row is None:
        session.add(CalendarOverride(day=day, working=working, name=name))
    else:
        row.working, row.name = working, name
    _record(
        session,
        None,
        None,
        actor,
        "calendar_override",
        field="working",
        old=None if before is None else str(before),
        new=str(working),
        note=f"{day.isoformat()}: {name}",
    )
    session.flush()
    calendar = load_calendar(session)
    for plan in session.exec(select(Plan)).all():
        recompute_deadlines(session, plan, calendar, actor)


# --- loading a plan ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoadResult:
    plan_id: int
    plan_code: str
    created: bool
    assignments_added: int
    assignments_updated: int
    assignments_removed: int


# A new plan loaded with ``commit_every`` commits this many assignments at a time: SQLite has
# one writer, and the web's actions wait for it (issue 14.8: 82k duties held it for 139 s).
LOAD_BATCH = 200


def load_plan(
    session: Session, checked: CheckedPlan, actor: str, commit_every: int | None = None
) -> LoadResult:
    """Create or update the plan of a checked file: loading the same file twice changes nothing.

    Plan, units and assignments are matched by their codes. An assignment that disappeared
    from the file is cancelled, never deleted, so its history stays.

    With ``commit_every``, a *new* plan is written in batches, each committed on ``session``,
    so no write lock is held for long; the plan is marked ``loading`` until the last step and
    reads ignore it meanwhile, so it appears whole or not at all. A load killed half-way
    leaves a plan still loading, which the next load of the file completes. An update of a
    plan already loaded stays one transaction (the caller's), all or nothing.
    """
    if commit_every is not None and _needs_batches(session, checked.spec.plan.code):
        return _load_new_plan_in_batches(session, checked, actor, commit_every)
    spec = checked.spec
    units = _upsert_units(session, spec)
    plan, created = _upsert_plan(session, spec, checked, units)
    existing = {
        a.code: a for a in session.exec(select(Assignment).where(Assignment.plan_id == plan.id))
    }
    added = updated = 0
    by_code: dict[str, Assignment] = {}
    for position, item in enumerate(spec.assignments):
        row = existing.get(item.code)
        if row is None:
            row = _new_assignment(session, plan, item, position, units, actor)
            added += 1
        elif _update_assignment(session, row, item, position, units, actor):
            updated += 1
        by_code[item.code] = row
    session.flush()
    _link_assignments(session, spec, by_code, units, checked.prerequisites)
    removed = _cancel_missing(session, existing, by_code, actor)
    return _finish_load(session, checked, actor, plan, created, added, updated, removed)


def _finish_load(
    session: Session,
    checked: CheckedPlan,
    actor: str,
    plan: Plan,
    created: bool,
    added: int,
    updated: int,
    removed: int,
) -> LoadResult:
    if created or added or updated or removed:
        _record(
            session,
            plan.id,
            None,
            actor,
            "plan_loaded",
            new=checked.sha256,
            note=f"{checked.path}: +{added} ~{updated} -{removed}",
        )
    session.flush()
    recompute_deadlines(session, plan, load_calendar(session), actor)
    assert plan.id is not None
    return LoadResult(plan.id, plan.code, created, added, updated, removed)


def _needs_batches(session: Session, code: str) -> bool:
    """A plan not there yet, or one a killed batched load left loading."""
    found = session.exec(select(Plan.loading).where(Plan.code == code)).first()
    return found is None or bool(found)


def _load_new_plan_in_batches(
    session: Session, checked: CheckedPlan, actor: str, batch: int
) -> LoadResult:
    spec = checked.spec
    units = _upsert_units(session, spec)
    plan, _ = _upsert_plan(session, spec, checked, units)
    plan.loading = True
    session.commit()
    assert plan.id is not None
    existing = {
        a.code: a for a in session.exec(select(Assignment).where(Assignment.plan_id == plan.id))
    }
    by_code: dict[str, Assignment] = {}
    for position, item in enumerate(spec.assignments):
        row = existing.get(item.code)  # written by a load killed after this batch
        if row is None:
            row = _new_assignment(session, plan, item, position, units, actor)
        else:  # the file may have changed since the killed load
            _update_assignment(session, row, item, position, units, actor)
        by_code[item.code] = row
        if (position + 1) % batch == 0:
            session.commit()
    session.commit()
    items = spec.assignments
    _clear_links(session, [a.id for a in by_code.values()])
    for start in range(0, len(items), batch):
        _add_links(session, items[start : start + batch], by_code, units, checked.prerequisites)
        session.commit()
    # The last transaction: deadlines resolved, the plan appears whole. Nothing is flushed
    # until the caller commits, so the write lock is held for that flush only, not for the
    # whole plan's deadline computation.
    with session.no_autoflush:
        removed = _cancel_missing(session, existing, by_code, actor)
        recompute_deadlines(session, plan, load_calendar(session), actor)
        _record(
            session,
            plan.id,
            None,
            actor,
            "plan_loaded",
            new=checked.sha256,
            note=f"{checked.path}: +{len(by_code)} ~0 -{removed}",
        )
        plan.loading = False
    # "created" for the person loading: a resumed load still finishes creating the plan.
    return LoadResult(plan.id, plan.code, True, len(by_code), 0, removed)


def _upsert_units(session: Session, spec: PlanFile) -> dict[str, Department]:
    codes = [u.code for u in spec.units]
    found = {
        d.code: d for d in session.exec(select(Department).where(col(Department.code).in_(codes)))
    }
    coordinator = spec.plan.coordinator
    for unit in spec.units:
        dept = found.get(unit.code)
        if dept is None:
            dept = Department(code=unit.code, name=unit.name, short_name=unit.short_name)
            session.add(dept)
            found[unit.code] = dept
        else:
            dept.name, dept.short_name = unit.name, unit.short_name
        session.flush()
        _upsert_contacts(session, dept, unit.contacts, is_coordinator_unit=unit.code == coordinator)
    return found


def _upsert_contacts(
    session: Session, dept: Department, contacts: Sequence[ContactSpec], is_coordinator_unit: bool
) -> None:
    # Matched by name within the unit: contacts added later by other means are kept.
    existing = {
        c.name: c for c in session.exec(select(Contact).where(Contact.department_id == dept.id))
    }
    for spec in contacts:
        contact = existing.get(spec.name)
        values = spec.model_dump()
        values["is_coordinator"] = spec.is_coordinator and is_coordinator_unit
        if contact is None:
            assert dept.id is not None
            session.add(Contact(department_id=dept.id, **values))
        else:
            for key, value in values.items():
                setattr(contact, key, value)


def _upsert_plan(
    session: Session, spec: PlanFile, checked: CheckedPlan, units: dict[str, Department]
) -> tuple[Plan, bool]:
    p, event = spec.plan, spec.plan.event
    values: dict[str, Any] = {
        "number": p.number,
        "title": p.title,
        "issuer": p.issuer,
        "issued_date": p.issued_date,
        "issued_place": p.issued_place,
        "legal_bases": list(p.legal_bases),
        "event_name": event.name,
        "window_start": event.window_start,
        "window_end": event.window_end,
        "window_text": event.window_text,
        "place": event.place,
        "delegates": event.delegates,
        "coordinator_department_id": units[p.coordinator].id,
        "reminder_policy": spec.reminders.model_dump(),
        "source_path": checked.path,
        "source_sha256": checked.sha256,
    }
    plan = session.exec(select(Plan).where(Plan.code == p.code)).first()
    created = plan is None
    if plan is None:
        plan = Plan(code=p.code, event_date=event.date, **values)
        session.add(plan)
    else:
        if plan.source_sha256 != checked.sha256:
            plan.loaded_at = clock.now_utc()
        for key, value in values.items():
            setattr(plan, key, value)
        # A date set with `plan set-event-date` survives reloading a file that has none.
        if event.date is not None:
            plan.event_date = event.date
    session.flush()
    return plan, created


def _rule_values(item: AssignmentSpec) -> dict[str, Any]:
    d = item.deadline
    if d is None:
        return {
            "deadline_kind": DeadlineKind.NONE,
            "deadline_date": None,
            "deadline_offset": None,
            "deadline_unit": DayUnit.WORKING,
        }
    unit = DayUnit.CALENDAR if d.calendar_days else DayUnit.WORKING
    if d.date is not None:
        return {
            "deadline_kind": DeadlineKind.DATE,
            "deadline_date": d.date,
            "deadline_offset": None,
            "deadline_unit": unit,
        }
    if d.event is not None:
        return {
            "deadline_kind": DeadlineKind.EVENT,
            "deadline_date": None,
            "deadline_offset": d.event,
            "deadline_unit": unit,
        }
    return {
        "deadline_kind": DeadlineKind.AFTER,
        "deadline_date": None,
        "deadline_offset": d.days or 0,
        "deadline_unit": unit,
    }


def _assignment_values(
    item: AssignmentSpec, position: int, units: dict[str, Department]
) -> dict[str, Any]:
    return {
        "position": position,
        "title": item.title,
        "detail": item.detail,
        "source": item.source,
        "lead_department_id": units[item.lead].id,
        **_rule_values(item),
    }


def _new_assignment(
    session: Session,
    plan: Plan,
    item: AssignmentSpec,
    position: int,
    units: dict[str, Department],
    actor: str,
) -> Assignment:
    assert plan.id is not None
    row = Assignment(plan_id=plan.id, code=item.code, **_assignment_values(item, position, units))
    session.add(row)
    session.flush()
    _record(session, plan.id, row.id, actor, "created", note=item.title)
    return row


def _update_assignment(
    session: Session,
    row: Assignment,
    item: AssignmentSpec,
    position: int,
    units: dict[str, Department],
    actor: str,
) -> bool:
    changed = False
    for key, value in _assignment_values(item, position, units).items():
        old = getattr(row, key)
        if old != value:
            setattr(row, key, value)
            changed = True
            if key != "position":
                _record(
                    session,
                    row.plan_id,
                    row.id,
                    actor,
                    "plan_updated",
                    field=key,
                    old=_text(old),
                    new=_text(value),
                )
    if changed:
        row.version += 1
        row.updated_at = clock.now_utc()
    return changed


def _link_assignments(
    session: Session,
    spec: PlanFile,
    by_code: dict[str, Assignment],
    units: dict[str, Department],
    prerequisites: dict[str, set[str]],
) -> None:
    _clear_links(session, [a.id for a in by_code.values()])
    _add_links(session, spec.assignments, by_code, units, prerequisites)


def _clear_links(session: Session, ids: list[int | None]) -> None:
    session.execute(
        delete(AssignmentCooperator).where(col(AssignmentCooperator.assignment_id).in_(ids))
    )
    session.execute(delete(Dependency).where(col(Dependency.assignment_id).in_(ids)))


def _add_links(
    session: Session,
    items: Sequence[AssignmentSpec],
    by_code: dict[str, Assignment],
    units: dict[str, Department],
    prerequisites: dict[str, set[str]],
) -> None:
    for item in items:
        row = by_code[item.code]
        assert row.id is not None
        for coop in item.cooperating:
            dept_id = units[coop].id
            assert dept_id is not None
            session.add(AssignmentCooperator(assignment_id=row.id, department_id=dept_id))
        for need in sorted(prerequisites[item.code]):
            prereq_id = by_code[need].id
            assert prereq_id is not None
            session.add(Dependency(assignment_id=row.id, prerequisite_id=prereq_id))
        after = item.deadline.after if item.deadline else None
        row.deadline_after_id = by_code[after].id if after else None


def _cancel_missing(
    session: Session, existing: dict[str, Assignment], kept: dict[str, Assignment], actor: str
) -> int:
    removed = 0
    for code, row in existing.items():
        if code in kept or row.state in (AssignmentState.DONE, AssignmentState.CANCELLED):
            continue
        _record(
            session,
            row.plan_id,
            row.id,
            actor,
            Action.CANCEL.value,
            field="state",
            old=row.state.value,
            new=AssignmentState.CANCELLED.value,
            note="không còn trong tệp kế hoạch",
        )
        row.state = AssignmentState.CANCELLED
        row.state_reason = "không còn trong tệp kế hoạch"
        row.version += 1
        removed += 1
    return removed


# --- deadlines --------------------------------------------------------------------------


def recompute_deadlines(session: Session, plan: Plan, calendar: WorkCalendar, actor: str) -> int:
    """Resolve every deadline rule of ``plan`` again; returns how many due dates moved."""
    return recompute_plans(session, [plan], calendar, actor)


def recompute_plans(
    session: Session, plans: Sequence[Plan], calendar: WorkCalendar, actor: str
) -> int:
    """``recompute_deadlines`` for several plans with two queries in all, not two per plan."""
    by_plan: dict[int, list[Assignment]] = {p.id: [] for p in plans if p.id is not None}
    if not by_plan:
        return 0
    query = select(Assignment).where(col(Assignment.plan_id).in_(list(by_plan)))
    for row in session.exec(query):
        by_plan[row.plan_id].append(row)
    prerequisites = _prerequisites_of_plans(session, list(by_plan))
    basis = calendar.basis()
    moved = 0
    for plan in plans:
        rows = by_plan.get(plan.id or 0, [])
        moved += _resolve_plan(session, plan, rows, prerequisites, calendar, actor)
        plan.deadlines_basis = basis
    return moved


def _resolve_plan(
    session: Session,
    plan: Plan,
    rows: list[Assignment],
    all_prerequisites: dict[int, set[int]],
    calendar: WorkCalendar,
    actor: str,
) -> int:
    by_id = {r.id: r for r in rows if r.id is not None}
    prerequisites = {key: all_prerequisites.get(key, set()) for key in by_id}
    order = schedule.topological_order(list(by_id), prerequisites)
    rules = {i: _rule_of(r) for i, r in by_id.items()}
    fixed = {i: r.due for i, r in by_id.items() if r.extended_at is not None and r.due}
    due = schedule.resolve_all(order, rules, plan.event_date, calendar, fixed)
    moved = 0
    for key in order:
        row, rule = by_id[key], rules[key]
        base = due.get(rule.after) if rule.after is not None else None
        original = schedule.resolve_rule(rule, plan.event_date, base, calendar)
        if row.original_due != original:
            row.original_due = original
        if row.due != due[key]:
            _record(
                session,
                plan.id,
                row.id,
                actor,
                "due_recomputed",
                field="due",
                old=_text(row.due),
                new=_text(due[key]),
            )
            row.due = due[key]
            row.version += 1
            moved += 1
    return moved


def _prerequisites_of_plans(session: Session, plan_ids: list[int]) -> dict[int, set[int]]:
    # Plain (assignment, prerequisite) pairs: no ORM objects for a table this size.
    query = (
        select(Dependency.assignment_id, Dependency.prerequisite_id)
        .join(Assignment, col(Assignment.id) == col(Dependency.assignment_id))
        .where(col(Assignment.plan_id).in_(plan_ids))
    )
    result: dict[int, set[int]] = {}
    for assignment_id, prerequisite_id in session.execute(query):
        result.setdefault(assignment_id, set()).add(prerequisite_id)
    return result


def _rule_of(row: Assignment) -> schedule.Rule[int]:
    return schedule.Rule(
        row.deadline_kind,
        row.deadline_date,
        row.deadline_offset,
        row.deadline_unit,
        row.deadline_after_id,
    )


def _prerequisite_map(session: Session, by_id: dict[int, Any]) -> dict[int, set[int]]:
    result: dict[int, set[int]] = {key: set() for key in by_id}
    if not by_id:
        return result
    deps = session.exec(select(Dependency).where(col(Dependency.assignment_id).in_(list(by_id))))
    for dep in deps:
        result[dep.assignment_id].add(dep.prerequisite_id)
    return result


def set_event_date(
    session: Session, plan_ref: str, event_date: dt.date | None, actor: str
) -> tuple[Plan, int]:
    """Set or change the event date; every relative deadline moves with it."""
    plan = get_plan(session, plan_ref)
    if plan.event_date != event_date:
        _record(
            session,
            plan.id,
            None,
            actor,
            "event_date_set",
            field="event_date",
            old=_text(plan.event_date),
            new=_text(event_date),
        )
        plan.event_date = event_date
    session.flush()
    moved = recompute_deadlines(session, plan, load_calendar(session), actor)
    return plan, moved


def activate_plan(
    session: Session, plan_ref: str, actor: str, today: dt.date, now: dt.datetime | None = None
) -> tuple[Plan, reminders.Enqueued | None]:
    """Put a plan live: from now on its reminders go out, starting with each unit's list.

    Activating twice does nothing the second time (None instead of the kickoff counts).
    """
    plan = get_plan(session, plan_ref)
    if plan.activated_at is not None:
        return plan, None
    moment = now or clock.now_for(today)
    plan.activated_at = moment
    _record(
        session,
        plan.id,
        None,
        actor,
        "plan_activated",
        field="activated_at",
        new=moment.isoformat(),
    )
    session.flush()
    kickoff = reminders.enqueue_kickoff(
        session, plan, today, moment, load_calendar(session), get_settings()
    )
    return plan, kickoff


# --- lookups ----------------------------------------------------------------------------


def get_plan(session: Session, ref: str | None) -> Plan:
    """A plan by code or id; with no reference, the only plan there is."""
    if ref is None:
        plans = list(session.exec(select(Plan).where(col(Plan.loading).is_(False)).limit(2)))
        if len(plans) == 1:
            return plans[0]
        raise NotFound(
            "Chưa có kế hoạch nào." if not plans else "Có nhiều kế hoạch: hãy chỉ rõ --plan."
        )
    query = select(Plan).where(Plan.code == ref)
    plan = session.exec(query).first()
    if plan is None and ref.isdigit():
        plan = session.get(Plan, int(ref))
    if plan is None:
        raise NotFound(f"Không tìm thấy kế hoạch “{ref}”.")
    if plan.loading:
        raise NotFound(
            f"Kế hoạch “{plan.code}” đang được nạp (hoặc lần nạp trước bị ngắt): "
            "hãy chờ nạp xong, hoặc nạp lại tệp kế hoạch."
        )
    return plan


def get_assignment(session: Session, ref: str) -> Assignment:
    """By id, by code when only one plan has it, or as ``plan-code/CODE``."""
    ref = ref.strip()
    if ref.isdigit():
        row = session.get(Assignment, int(ref))
        if row is not None:
            return row
    plan_code, _, code = ref.rpartition("/")
    query = select(Assignment).where(Assignment.code == code)
    if plan_code:
        query = query.join(Plan).where(Plan.code == plan_code)
    rows = list(session.exec(query.limit(2)))
    if len(rows) == 1:
        return rows[0]
    if rows:
        raise NotFound(f"Mã “{ref}” có ở nhiều kế hoạch: hãy ghi dạng MÃ-KẾ-HOẠCH/{code}.")
    raise NotFound(f"Không tìm thấy nhiệm vụ “{ref}”.")


def get_department(session: Session, code: str) -> Department:
    dept = session.exec(select(Department).where(Department.code == code)).first()
    if dept is None:
        raise NotFound(f"Không tìm thấy đơn vị “{code}”.")
    return dept


def get_department_by_id(session: Session, department_id: int) -> Department:
    dept = session.get(Department, department_id)
    if dept is None:
        raise NotFound(f"Không tìm thấy đơn vị #{department_id}.")
    return dept


# --- actions ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ActionRequest:
    action: Action
    actor: str
    note: str | None = None
    reason: str | None = None
    new_due: dt.date | None = None
    evidence: Sequence[str] = ()
    expected_version: int | None = None  # the version the user saw, if known


NEEDS_REASON = frozenset({Action.RETURN, Action.BLOCK, Action.CANCEL, Action.PAUSE, Action.EXTEND})


def act(
    session: Session,
    ref: str,
    request: ActionRequest,
    today: dt.date,
    now: dt.datetime | None = None,
) -> Assignment:
    """Apply one lifecycle action to one assignment, record it, and enqueue who must know.

    The write is conditional on the version read, so two people acting at once can never
    both win: the second gets ``ConcurrentUpdate``. The messages it causes are outbox rows in
    the same transaction: they exist exactly when the action does.
    """
    row = get_assignment(session, ref)
    action = request.action
    if action in NEEDS_REASON and not (request.reason or "").strip():
        raise InvalidAction(f"Cần ghi lý do khi {ACTION_LABELS[action]} (--reason).")
    if request.expected_version is not None and request.expected_version != row.version:
        raise ConcurrentUpdate(row.code)
    new_state = next_state(row.state, action)
    changes = _changes_for(row, request, new_state, today)
    version, old_state, old_due = row.version, row.state, row.due
    result = session.execute(
        update(Assignment)
        .where(col(Assignment.id) == row.id, col(Assignment.version) == version)
        .values(**changes, version=version + 1, updated_at=clock.now_utc())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentUpdate(row.code)
    activity = _record_action(session, row, request, old_state, old_due, new_state, changes)
    session.flush()
    session.refresh(row)
    plan = session.get(Plan, row.plan_id)
    assert plan is not None
    calendar = load_calendar(session)
    if action is Action.EXTEND:
        recompute_deadlines(session, plan, calendar, request.actor)
    reminders.enqueue_event(
        session,
        plan,
        row,
        action,
        activity,
        today,
        now or clock.now_for(today),
        calendar,
        get_settings(),
    )
    return row


def _changes_for(
    row: Assignment, request: ActionRequest, new_state: AssignmentState, today: dt.date
) -> dict[str, Any]:
    now = clock.now_utc()
    action = request.action
    changes: dict[str, Any] = {"state": new_state}
    if action is Action.START or (action is Action.SUBMIT and row.started_at is None):
        changes["started_at"] = now
    if action is Action.SUBMIT:
        changes.update(
            submitted_at=now,
            submitted_by=request.actor,
            submission_note=request.note,
            completed_on=today,
            state_reason=None,
        )
        if request.evidence:
            changes["evidence"] = [*row.evidence, *request.evidence]
    elif action is Action.CONFIRM:
        changes.update(confirmed_at=now, confirmed_by=request.actor)
    elif action is Action.RETURN:
        changes.update(completed_on=None, state_reason=request.reason)
    elif action in (Action.BLOCK, Action.PAUSE, Action.CANCEL):
        changes["state_reason"] = request.reason
    elif action in (Action.UNBLOCK, Action.RESUME):
        changes["state_reason"] = None
    elif action is Action.EXTEND:
        changes.update(_extension(row, request, today, now))
    return changes


def _extension(
    row: Assignment, request: ActionRequest, today: dt.date, now: dt.datetime
) -> dict[str, Any]:
    new_due = request.new_due
    if new_due is None:
        raise InvalidAction("Cần ghi hạn mới khi gia hạn (--to NGÀY).")
    if row.due is not None and new_due <= row.due:
        raise InvalidAction(f"Hạn mới phải sau hạn hiện tại {format_vn(row.due)}.")
    if new_due < today:
        raise InvalidAction("Hạn mới không được ở trong quá khứ.")
    return {"due": new_due, "extended_by": request.actor, "extended_at": now}


def _record_action(
    session: Session,
    row: Assignment,
    request: ActionRequest,
    old_state: AssignmentState,
    old_due: dt.date | None,
    new_state: AssignmentState,
    changes: dict[str, Any],
) -> Activity:
    note = "\n".join(part for part in (request.reason, request.note) if part) or None
    if request.action is Action.EXTEND:
        main = _record(
            session,
            row.plan_id,
            row.id,
            request.actor,
            request.action.value,
            field="due",
            old=_text(old_due),
            new=_text(changes["due"]),
            note=note,
        )
    else:
        main = _record(
            session,
            row.plan_id,
            row.id,
            request.actor,
            request.action.value,
            field="state",
            old=old_state.value,
            new=new_state.value,
            note=note,
        )
    for name in request.evidence:
        _record(
            session,
            row.plan_id,
            row.id,
            request.actor,
            "evidence_added",
            field="evidence",
            new=name,
        )
    return main


# --- reading ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AssignmentView:
    """One assignment with everything derived for today: what every listing shows."""

    id: int
    plan_code: str
    code: str
    title: str
    lead: str
    lead_name: str
    cooperating: list[str]
    original_due: dt.date | None
    due: dt.date | None
    state: AssignmentState
    timeliness: Timeliness | None
    critical: bool
    slack: int | None
    at_risk: str | None
    completed_on: dt.date | None
    extended: bool
    prerequisites: list[str]

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("original_due", "due", "completed_on"):
            data[key] = data[key].isoformat() if data[key] else None
        data["state"] = self.state.value
        data["timeliness"] = self.timeliness.value if self.timeliness else None
        return data


def plan_status(
    session: Session,
    today: dt.date,
    plan_ref: str | None = None,
    department: str | None = None,
) -> list[AssignmentView]:
    """Every assignment of the plan(s), derived for ``today``, filtered by a unit if asked."""
    plans = (
        [get_plan(session, plan_ref)]
        if plan_ref
        else list(session.exec(select(Plan).order_by(Plan.code)))
    )
    calendar = load_calendar(session)
    dept_filter = get_department(session, department).id if department else None
    views: list[AssignmentView] = []
    for plan in plans:
        views.extend(_plan_views(session, plan, calendar, today, dept_filter))
    return views


def _plan_views(
    session: Session, plan: Plan, calendar: WorkCalendar, today: dt.date, dept_filter: int | None
) -> list[AssignmentView]:
    rows = list(
        session.exec(
            select(Assignment)
            .where(Assignment.plan_id == plan.id)
            .order_by(col(Assignment.position))
        )
    )
    by_id = {r.id: r for r in rows if r.id is not None}
    prerequisites = _prerequisite_map(session, by_id)
    order = schedule.topological_order(list(by_id), prerequisites)
    due = {i: r.due for i, r in by_id.items()}
    path = schedule.critical_path(order, due, prerequisites, plan.event_date, calendar)
    states = {i: r.state for i, r in by_id.items()}
    labels = {i: r.code for i, r in by_id.items()}
    risk = schedule.at_risk(order, due, prerequisites, states, today, labels)
    units = _department_codes(session)
    coops = _cooperators(session, list(by_id))
    critical = set(path.path)
    views = []
    for row in rows:
        assert row.id is not None
        if (
            dept_filter is not None
            and row.lead_department_id != dept_filter
            and dept_filter not in coops.get(row.id, [])
        ):
            continue
        lead_code, lead_name = units[row.lead_department_id]
        views.append(
            AssignmentView(
                id=row.id,
                plan_code=plan.code,
                code=row.code,
                title=row.title,
                lead=lead_code,
                lead_name=lead_name,
                cooperating=[units[d][0] for d in coops.get(row.id, [])],
                original_due=row.original_due,
                due=row.due,
                state=row.state,
                timeliness=timeliness(
                    row.state,
                    row.due,
                    today,
                    calendar,
                    completed_on=row.completed_on,
                    submitted_on=row.completed_on,
                ),
                critical=row.id in critical,
                slack=path.slack.get(row.id),
                at_risk=risk.get(row.id),
                completed_on=row.completed_on,
                extended=row.extended_at is not None,
                prerequisites=sorted(labels[p] for p in prerequisites.get(row.id, ())),
            )
        )
    return views


def _department_codes(session: Session) -> dict[int, tuple[str, str]]:
    return {
        d.id: (d.code, d.short_name or d.name)
        for d in session.exec(select(Department))
        if d.id is not None
    }


def _cooperators(session: Session, ids: list[int]) -> dict[int, list[int]]:
    result: dict[int, list[int]] = {}
    if not ids:
        return result
    rows = session.exec(
        select(AssignmentCooperator).where(col(AssignmentCooperator.assignment_id).in_(ids))
    )
    for row in rows:
        result.setdefault(row.assignment_id, []).append(row.department_id)
    for deps in result.values():
        deps.sort()
    return result


def history(session: Session, assignment_id: int) -> list[Activity]:
    query = (
        select(Activity).where(Activity.assignment_id == assignment_id).order_by(col(Activity.id))
    )
    return list(session.exec(query))


def list_plans(session: Session) -> list[Plan]:
    """The plans people may see: not one still loading."""
    query = select(Plan).where(col(Plan.loading).is_(False)).order_by(Plan.code)
    return list(session.exec(query))


def count_assignments(session: Session, plan: Plan) -> int:
    query = select(func.count()).select_from(Assignment).where(Assignment.plan_id == plan.id)
    return session.exec(query).one()


def contacts_of(session: Session, department_id: int) -> list[Contact]:
    return list(
        session.exec(
            select(Contact).where(Contact.department_id == department_id).order_by(col(Contact.id))
        )
    )


# --- activity ---------------------------------------------------------------------------


def _record(
    session: Session,
    plan_id: int | None,
    assignment_id: int | None,
    actor: str,
    action: str,
    *,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
    note: str | None = None,
) -> Activity:
    activity = Activity(
        at=clock.now_utc(),
        plan_id=plan_id,
        assignment_id=assignment_id,
        actor=actor,
        action=action,
        field=field,
        from_value=old,
        to_value=new,
        note=note,
    )
    session.add(activity)
    return activity


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value.value if hasattr(value, "value") else value)


# --- outbox and contacts ----------------------------------------------------------------


def outbox_rows(
    session: Session,
    ids: Sequence[int] | None = None,
    status: DeliveryStatus | None = None,
    day: dt.date | None = None,
    limit: int | None = None,
) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(col(OutboxMessage.id))
    if ids is not None:
        if not ids:
            return []
        query = query.where(col(OutboxMessage.id).in_(list(ids)))
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if day is not None:
        query = query.where(OutboxMessage.day == day)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def outbox_view(session: Session, row: OutboxMessage) -> dict[str, Any]:
    """One outbox row as listings show it: who, about what, on which channel, how it went."""
    contact = session.get(Contact, row.contact_id)
    unit = session.get(Department, row.department_id)
    assignment = session.get(Assignment, row.assignment_id) if row.assignment_id else None
    return {
        "id": row.id,
        "day": row.day.isoformat(),
        "kind": row.kind.value,
        "channel": row.channel.value,
        "recipient": contact.name if contact else None,
        "address": _address(contact, row),
        "department": unit.code if unit else None,
        "role": row.role,
        "copy": row.is_copy,
        "assignment": assignment.code if assignment else None,
        "status": row.status.value,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.next_attempt_at else None,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "last_error": row.last_error,
    }


def _address(contact: Contact | None, row: OutboxMessage) -> str | None:
    # Extra Apprise URLs may carry tokens: they are named by position, never shown.
    if contact is None:
        return None
    if row.channel is Channel.EMAIL:
        return contact.email
    if row.channel is Channel.ZALO:
        return f"zalo:{contact.zalo_user_id}"
    if row.channel is Channel.ZNS:
        return f"zns:{contact.phone}"
    return f"apprise #{row.target + 1}"


def contact_views(session: Session, department: str | None = None) -> list[dict[str, Any]]:
    query = select(Contact, Department).join(
        Department, col(Department.id) == col(Contact.department_id)
    )
    if department:
        query = query.where(Department.id == get_department(session, department).id)
    rows = session.exec(query.order_by(col(Department.code), col(Contact.id)))
    return [
        {
            "department": dept.code,
            "name": c.name,
            "role": c.role,
            "email": c.email,
            "zalo_user_id": c.zalo_user_id,
            "phone": c.phone,
            "extra_urls": len(c.apprise_urls),
            "is_head": c.is_head,
            "is_coordinator": c.is_coordinator,
        }
        for c, dept in rows
    ]


def set_contact(
    session: Session, department: str, name: str, changes: dict[str, Any], actor: str
) -> bool:
    """Add or update a unit's contact (matched by name); returns True when it was added."""
    dept = get_department(session, department)
    existing = session.exec(
        select(Contact).where(Contact.department_id == dept.id, Contact.name == name)
    ).first()
    current = existing.model_dump(include=set(_CONTACT_FIELDS)) if existing else {}
    try:
        from models.planfile import ContactSpec

        checked = ContactSpec.model_validate({"name": name, **current, **changes})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise InvalidAction(
            f"Giá trị không hợp lệ ở trường {field}: {changes.get(field)!r}"
        ) from exc
    values = checked.model_dump(include=set(_CONTACT_FIELDS))
    if existing is None:
        assert dept.id is not None
        session.add(Contact(department_id=dept.id, name=name, **values))
    else:
        for key, value in values.items():
            setattr(existing, key, value)
    _record(
        session,
        None,
        None,
        actor,
        "contact_set",
        field=dept.code,
        new=name,
        note=", ".join(sorted(changes)),
    )
    return existing is None


_CONTACT_FIELDS = ("role", "email", "zalo_user_id", "phone", "is_head", "is_coordinator")
