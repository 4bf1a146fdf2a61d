"""The store: the database operations every interface (CLI, web, flows) calls.

Each public function takes an open session and leaves committing to the caller
(``tracking.db.session_scope``), so one user action is one transaction. Every change writes an
``Activity`` row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from models.dates import check_date, format_vn, in_calendar_range
from models.enums import (
    AssignmentState,
    Channel,
    DayUnit,
    DeadlineKind,
    DeliveryStatus,
    Timeliness,
)
from models.errors import ConflictError, InvalidInput, NotFoundError
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
from tracking.calendar import OutOfRange, WorkCalendar
from tracking.settings import get_settings
from tracking.status import ACTION_LABELS, CLOSED_STATES, Action, next_state, timeliness

if TYPE_CHECKING:
    # Plan files are parsed only by the commands that load them: read commands start
    # faster without YAML and the plan-file models (see bench/startup.py).
    from models.planfile import AssignmentSpec, ContactSpec, PlanFile
    from tracking.planio import CheckedPlan


_log = logging.getLogger(__name__)


class NotFound(NotFoundError):
    """No such plan, assignment or unit; the message is for the user (Vietnamese)."""


class InvalidAction(InvalidInput):
    """An action the rules refuse (missing reason, bad date…); the message is for the user."""


class ConcurrentUpdate(ConflictError):
    """Someone else changed the assignment between reading and writing it."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Nhiệm vụ {code} vừa được người khác cập nhật; hãy tải lại rồi thử lại.")


# --- calendar ---------------------------------------------------------------------------


def load_calendar(session: Session) -> WorkCalendar:
    # An override outside the calendar's years (stored before they were refused) can never be
    # consulted; skipped, it cannot make every command that counts days fail.
    rows = [r for r in session.exec(select(CalendarOverride)).all() if in_calendar_range(r.day)]
    return WorkCalendar(
        overrides={row.day: row.working for row in rows},
        override_names={row.day: row.name for row in rows},
    )


def set_calendar_override(
    session: Session, day: dt.date, working: bool, name: str, actor: str
) -> None:
    """Mark ``day`` as a working day or a day off, then move every plan's deadlines to match."""
    _check_entered(day)
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
        _recompute_or_refuse(session, plan, calendar, actor)


# --- loading a plan ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoadResult:
    plan_id: int
    plan_code: str
    created: bool
    assignments_added: int
    assignments_updated: int
    assignments_removed: int
    contacts: ContactChanges = dataclasses.field(default_factory=lambda: ContactChanges())


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
    contacts = sync_plan_contacts(session, spec, units, actor)
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
    return _finish_load(session, checked, actor, plan, created, (added, updated, removed), contacts)


def _finish_load(
    session: Session,
    checked: CheckedPlan,
    actor: str,
    plan: Plan,
    created: bool,
    counts: tuple[int, int, int],
    contacts: ContactChanges,
) -> LoadResult:
    added, updated, removed = counts
    if created or added or updated or removed:
        _record_load(session, checked, actor, plan, (added, updated, removed))
    session.flush()
    # The file's own dates were checked (planio); the stored event date may differ from it.
    _recompute_or_refuse(session, plan, load_calendar(session), actor)
    assert plan.id is not None
    return LoadResult(plan.id, plan.code, created, added, updated, removed, contacts)


def _record_load(
    session: Session, checked: CheckedPlan, actor: str, plan: Plan, counts: tuple[int, int, int]
) -> None:
    """The history row of a load: which file, and how many assignments it added, changed and
    cancelled."""
    added, updated, removed = counts
    _record(
        session,
        plan.id,
        None,
        actor,
        "plan_loaded",
        new=checked.sha256,
        note=f"{checked.path}: +{added} ~{updated} -{removed}",
    )


def _needs_batches(session: Session, code: str) -> bool:
    """A plan not there yet, or one a killed batched load left loading."""
    found = session.exec(select(Plan.loading).where(Plan.code == code)).first()
    return found is None or bool(found)


def _load_new_plan_in_batches(
    session: Session, checked: CheckedPlan, actor: str, batch: int
) -> LoadResult:
    spec = checked.spec
    units = _upsert_units(session, spec)
    contacts = sync_plan_contacts(session, spec, units, actor)
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
        _record_load(session, checked, actor, plan, (len(by_code), 0, removed))
        plan.loading = False
    # "created" for the person loading: a resumed load still finishes creating the plan.
    return LoadResult(plan.id, plan.code, True, len(by_code), 0, removed, contacts)


def _upsert_units(session: Session, spec: PlanFile) -> dict[str, Department]:
    codes = [u.code for u in spec.units]
    found = {
        d.code: d for d in session.exec(select(Department).where(col(Department.code).in_(codes)))
    }
    for unit in spec.units:
        dept = found.get(unit.code)
        if dept is None:
            dept = Department(code=unit.code, name=unit.name, short_name=unit.short_name)
            session.add(dept)
            found[unit.code] = dept
        else:
            dept.name, dept.short_name = unit.name, unit.short_name
    session.flush()
    return found


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
    """Resolve every deadline rule of ``plan`` again; returns how many due dates moved.

    Raises ``OutOfRange`` (changing nothing) when a deadline would leave the calendar's years.
    """
    return _recompute(session, [plan], calendar, actor, skip_out_of_range=False)


def recompute_plans(
    session: Session, plans: Sequence[Plan], calendar: WorkCalendar, actor: str
) -> int:
    """``recompute_deadlines`` for several plans with two queries in all, not two per plan.

    For the daily sweep: a plan whose deadlines cannot be counted (a date beyond the
    calendar's years stored by an older version) keeps its dates, with a warning in the log,
    and the other plans go on; it is tried again at the next sweep.
    """
    return _recompute(session, plans, calendar, actor, skip_out_of_range=True)


def _recompute(
    session: Session,
    plans: Sequence[Plan],
    calendar: WorkCalendar,
    actor: str,
    *,
    skip_out_of_range: bool,
) -> int:
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
        try:
            # Every date is counted before any row changes: a failure leaves the plan as it was.
            moved += _resolve_plan(session, plan, rows, prerequisites, calendar, actor)
        except OutOfRange as exc:
            if not skip_out_of_range:
                raise
            _log.warning("deadlines of plan %s not recomputed: %s", plan.code, exc)
            continue
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
    originals = {key: _original_due(rules[key], plan, due, calendar) for key in order}
    moved = 0
    for key in order:
        row, original = by_id[key], originals[key]
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


def _original_due(
    rule: schedule.Rule[int], plan: Plan, due: dict[int, dt.date | None], calendar: WorkCalendar
) -> dt.date | None:
    """The date the rule itself gives (what an extension is compared with)."""
    base = due.get(rule.after) if rule.after is not None else None
    return schedule.resolve_rule(rule, plan.event_date, base, calendar)


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
    if event_date is not None:
        _check_entered(event_date)
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
    moved = _recompute_or_refuse(session, plan, load_calendar(session), actor)
    return plan, moved


def _check_entered(day: dt.date) -> None:
    """A date a person entered must be one the calendar can count (models.dates.check_date);
    the interfaces parse with it already, this holds for every other caller too."""
    try:
        check_date(day)
    except ValueError as exc:
        raise InvalidAction(_sentence(str(exc))) from exc


def _recompute_or_refuse(session: Session, plan: Plan, calendar: WorkCalendar, actor: str) -> int:
    """``recompute_deadlines`` after a person's change, refusing the change (the caller's
    transaction rolls back) when a deadline it moves would leave the calendar's years."""
    try:
        return recompute_deadlines(session, plan, calendar, actor)
    except OutOfRange as exc:
        raise InvalidAction(
            _sentence(
                f"Không đổi được: một thời hạn của kế hoạch {plan.code} sẽ rơi vào {exc.landing}"
            )
        ) from exc


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


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
    from models.text import clean

    ref = clean(ref)  # a code pasted with a zero-width space or NBSP still names the plan
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
    from models.text import clean

    ref = clean(ref)
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
    from models.text import clean

    code = clean(code)
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
        raise InvalidAction(f"Cần ghi lý do khi {ACTION_LABELS[action]}.", field="reason")
    if request.expected_version is not None and request.expected_version != row.version:
        raise ConcurrentUpdate(row.code)
    new_state = next_state(row.state, action)
    calendar = load_calendar(session)
    changes = _changes_for(row, request, new_state, today, calendar)
    version, old_state, old_due = row.version, row.state, row.due
    result = session.execute(
        update(Assignment)
        .where(col(Assignment.id) == row.id, col(Assignment.version) == version)
        .values(**changes, version=version + 1, updated_at=clock.now_utc())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConcurrentUpdate(row.code)
    moment = now or clock.now_for(today)
    activity = _record_action(
        session, row, request, old_state, old_due, new_state, changes, at=moment
    )
    session.flush()
    session.refresh(row)
    plan = session.get(Plan, row.plan_id)
    assert plan is not None
    if action is Action.EXTEND:
        _recompute_or_refuse(session, plan, calendar, request.actor)
    reminders.enqueue_event(
        session,
        plan,
        row,
        action,
        activity,
        today,
        moment,
        calendar,
        get_settings(),
    )
    return row


def _changes_for(
    row: Assignment,
    request: ActionRequest,
    new_state: AssignmentState,
    today: dt.date,
    calendar: WorkCalendar,
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
        changes.update(_extension(row, request, now, calendar))
    return changes


def check_new_due(new_due: dt.date | None, current: dt.date | None, calendar: WorkCalendar) -> None:
    """The one rule for a due date a person sets (extension or correction), whatever the
    interface: a working day the calendar knows, other than the current one.

    A day off is refused, not moved: the coordinator sees the working day proposed and
    decides (moving it silently would grant a day more or less than they chose). Any other
    date is accepted, earlier ones and past ones too, so a mistake can always be corrected.
    """
    if new_due is None:
        raise InvalidAction("Cần ghi hạn mới khi gia hạn.", field="new_due")
    _check_entered(new_due)
    if new_due == current:
        raise InvalidAction(f"Hạn mới trùng hạn hiện tại {format_vn(current)}.")
    day_off = calendar.day_off_name(new_due)
    if day_off is not None:
        proposed = calendar.next_working_day(new_due)
        raise InvalidAction(
            f"Hạn mới {format_vn(new_due)} là ngày nghỉ ({day_off}): thời hạn phải là ngày "
            f"làm việc. Đề nghị chọn ngày làm việc kế tiếp {format_vn(proposed)}."
        )


def _extension(
    row: Assignment, request: ActionRequest, now: dt.datetime, calendar: WorkCalendar
) -> dict[str, Any]:
    check_new_due(request.new_due, row.due, calendar)
    if request.new_due == row.original_due:
        # Back to the date the plan's rule gives: the extension is undone, and the deadline
        # follows its rule again (it moves with the event date, like any other).
        return {"due": request.new_due, "extended_by": None, "extended_at": None}
    return {"due": request.new_due, "extended_by": request.actor, "extended_at": now}


def _record_action(
    session: Session,
    row: Assignment,
    request: ActionRequest,
    old_state: AssignmentState,
    old_due: dt.date | None,
    new_state: AssignmentState,
    changes: dict[str, Any],
    *,
    at: dt.datetime | None = None,
) -> Activity:
    """The action's history rows, dated ``at``: the moment of the day the action was taken
    on, so a replayed day's history (and what messages say happened when) is that day's."""
    note = "\n".join(part for part in (request.reason, request.note) if part) or None
    if request.action is Action.EXTEND:
        main = _record(
            session,
            row.plan_id,
            row.id,
            request.actor,
            _due_change_kind(old_due, changes["due"]),
            field="due",
            old=_text(old_due),
            new=_text(changes["due"]),
            note=note,
            at=at,
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
            at=at,
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
            at=at,
        )
    return main


DUE_CORRECTED = "due_corrected"


def _due_change_kind(old_due: dt.date | None, new_due: dt.date) -> str:
    """How the history names a new due date: an extension, or (earlier than before) the
    correction of a mistake, e.g. undoing an extension to a wrong year."""
    if old_due is not None and new_due < old_due:
        return DUE_CORRECTED
    return Action.EXTEND.value


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
    states = {i: r.state for i, r in by_id.items()}
    closed = [i for i, state in states.items() if state in CLOSED_STATES]
    path = schedule.critical_path(
        order, due, prerequisites, plan.event_date, calendar, today=today, closed=closed
    )
    labels = {i: r.code for i, r in by_id.items()}
    submitted_on = {i: r.completed_on for i, r in by_id.items()}
    risk = schedule.at_risk(order, due, prerequisites, states, today, labels, submitted_on)
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
    """A unit's contacts who receive messages (removed ones are kept, but hear nothing)."""
    query = select(Contact).where(Contact.department_id == department_id, col(Contact.active))
    return list(session.exec(query.order_by(col(Contact.id))))


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
    at: dt.datetime | None = None,
) -> Activity:
    activity = Activity(
        at=at or clock.now_utc(),
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


def contact_views(
    session: Session, department: str | None = None, include_removed: bool = False
) -> list[dict[str, Any]]:
    """The contacts who receive messages (removed ones only when asked), unit by unit."""
    query = select(Contact, Department).join(
        Department, col(Department.id) == col(Contact.department_id)
    )
    if not include_removed:
        query = query.where(col(Contact.active))
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
            "set_by_operator": sorted(c.operator_fields),
            "active": c.active,
        }
        for c, dept in rows
    ]


# --- contacts: who owns what ------------------------------------------------------------
#
# The rule (docs/plan-file.md, "Contacts: who owns what"): a plan file seeds contacts and keeps
# the values only it ever set up to date; a field an operator set with `giaoviec contacts` is
# the operator's from then on and no load changes it (a load whose file says otherwise reports
# it); coordinator rights are never taken away by a load; a contact that every file listing it
# dropped is removed unless an operator touched it. Removing a contact (or moving it to
# another unit) stops its messages, queued ones included, and revokes its links.

_CONTACT_FIELDS = ("role", "email", "zalo_user_id", "phone", "is_head", "is_coordinator")
# What a plan file says about a person, compared field by field on each load.
_FILE_FIELDS = ("name", *_CONTACT_FIELDS, "apprise_urls")

CONTACT_FIELD_LABELS = {
    "name": "họ tên",
    "role": "chức vụ",
    "email": "email",
    "zalo_user_id": "Zalo",
    "phone": "điện thoại",
    "apprise_urls": "địa chỉ Apprise",
    "is_head": "lãnh đạo đơn vị",
    "is_coordinator": "điều phối",
    "department": "đơn vị",
}


@dataclasses.dataclass(frozen=True)
class ContactNote:
    """What a load left as it was against its file's word, for the operator to read."""

    department: str
    name: str
    text: str

    def __str__(self) -> str:
        return f"{self.name} ({self.department}): {self.text}"


@dataclasses.dataclass(frozen=True)
class ContactChanges:
    """What a plan load did to contacts; ``kept`` lists what it left against its file."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    kept: tuple[ContactNote, ...] = ()


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "(trống)"
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, list):
        return f"{len(value)} địa chỉ"
    return f"“{value}”"


def sync_plan_contacts(
    session: Session, spec: PlanFile, units: dict[str, Department], actor: str
) -> ContactChanges:
    """Bring the contacts a plan file lists into the store under the ownership rule above."""
    from models.text import person_key

    plan_code = spec.plan.code
    everyone = list(session.exec(select(Contact).order_by(col(Contact.id))))
    unit_codes = {d.id: d.code for d in session.exec(select(Department))}
    listed: set[int] = set()  # id() of the rows this file lists
    added = updated = 0
    notes: list[ContactNote] = []
    for unit in spec.units:
        dept = units[unit.code]
        assert dept.id is not None
        coordinating = unit.code == spec.plan.coordinator
        for item in unit.contacts:
            key = person_key(item.name)
            row = _file_match(everyone, dept.id, key, plan_code)
            if row is None:
                row = Contact(
                    department_id=dept.id,
                    name_key=key,
                    file_key=key,
                    plans=[plan_code],
                    **_file_values(item, coordinating),
                )
                session.add(row)
                everyone.append(row)
                added += 1
                _record(session, None, None, actor, "contact_added", field=unit.code, new=row.name)
            else:
                found = _apply_file(row, item, coordinating, plan_code, dept.id, unit.code)
                if found.changed:
                    updated += 1
                    _record(
                        session,
                        None,
                        None,
                        actor,
                        "contact_updated",
                        field=unit.code,
                        new=row.name,
                        note=", ".join(found.changed),
                    )
                notes.extend(found.notes)
            listed.add(id(row))
    removed = 0
    for row in everyone:
        if id(row) in listed or plan_code not in row.plans:
            continue
        row.plans = [code for code in row.plans if code != plan_code]
        if row.plans or not row.active:
            continue
        unit_code = unit_codes.get(row.department_id, "?")
        if row.operator_fields:
            notes.append(
                ContactNote(
                    unit_code,
                    row.name,
                    "không còn trong tệp kế hoạch nhưng đã được sửa bằng lệnh nên vẫn giữ; "
                    "gỡ bằng `giaoviec contacts remove`.",
                )
            )
            continue
        deactivate_contact(session, row, unit_code, actor, "không còn trong tệp kế hoạch")
        removed += 1
    session.flush()
    return ContactChanges(added, updated, removed, tuple(notes))


def _file_values(item: ContactSpec, coordinating: bool) -> dict[str, Any]:
    values = item.model_dump(include=set(_FILE_FIELDS))
    # The flag means "staff of the coordinating unit": only that unit's people get it.
    values["is_coordinator"] = item.is_coordinator and coordinating
    return values


def _file_match(everyone: list[Contact], dept_id: int, key: str, plan_code: str) -> Contact | None:
    """The stored contact a file entry names: by the name the files know it under, then by
    its current name, in the unit (the active one first); else one an operator moved out of
    this unit."""

    def best(rows: list[Contact]) -> Contact | None:
        return sorted(rows, key=lambda c: (not c.active, c.id or 0))[0] if rows else None

    here = [c for c in everyone if c.department_id == dept_id]
    return (
        best([c for c in here if c.file_key == key])
        or best([c for c in here if c.name_key == key])
        or best(
            [
                c
                for c in everyone
                if c.file_key == key and plan_code in c.plans and "department" in c.operator_fields
            ]
        )
    )


@dataclasses.dataclass
class _Applied:
    changed: list[str] = dataclasses.field(default_factory=list)
    notes: list[ContactNote] = dataclasses.field(default_factory=list)


def _apply_file(
    row: Contact,
    item: ContactSpec,
    coordinating: bool,
    plan_code: str,
    dept_id: int,
    unit_code: str,
) -> _Applied:
    """Apply a file entry to its stored contact, field by field, as the ownership rule says."""
    from models.text import person_key

    result = _Applied()

    def keep(text: str) -> None:
        result.notes.append(ContactNote(unit_code, row.name, text))

    if plan_code not in row.plans:
        row.plans = [*row.plans, plan_code]
    if row.file_key is None:
        row.file_key = person_key(item.name)
    if not row.active:
        if "active" in row.operator_fields:
            keep(
                "đã được gỡ bằng lệnh `giaoviec contacts remove`; tệp kế hoạch vẫn ghi "
                "người này — không khôi phục."
            )
            return result
        row.active = True  # dropped by the files earlier, listed again now
        result.changed.append("active")
    if row.department_id != dept_id:  # moved out of the file's unit by an operator
        keep(f"đã được chuyển sang đơn vị khác bằng lệnh; tệp kế hoạch vẫn ghi ở {unit_code}.")
    # The plan whose file seeded the contact (the first still listing it) keeps it up to date;
    # another plan's file sharing the unit never changes it, so loads of two plans (or the
    # built-in plan at every `init`) cannot flip a value back and forth.
    seeder = row.plans[0]
    for field, value in _file_values(item, coordinating).items():
        current = getattr(row, field)
        if value == current:
            continue
        label = CONTACT_FIELD_LABELS[field]
        # A file that leaves a field out does not disagree with a value set elsewhere.
        silent = value is None or value is False or value == []
        if field in row.operator_fields:
            if not silent:
                keep(
                    f"giữ {label} {_shown(current)} do người vận hành đã đặt; "
                    f"tệp kế hoạch ghi {_shown(value)}."
                )
            continue
        if field == "is_coordinator":
            # Rights to confirm are given by the file of any plan the unit coordinates, and
            # never withdrawn by a load (another plan's file may simply not know the person);
            # only `contacts set --not-coordinator` withdraws them.
            if current and coordinating:
                keep(
                    "giữ quyền điều phối; tệp kế hoạch không ghi quyền này "
                    "(bỏ bằng `giaoviec contacts set … --not-coordinator`)."
                )
            if current:
                continue
        elif seeder != plan_code:
            if not silent:
                keep(
                    f"giữ {label} {_shown(current)} theo tệp của kế hoạch {seeder}; "
                    f"tệp này ghi {_shown(value)}."
                )
            continue
        setattr(row, field, value)
        if field == "name":
            row.name_key = person_key(value)
        result.changed.append(field)
    return result


def deactivate_contact(
    session: Session, contact: Contact, unit_code: str, actor: str, reason: str
) -> int:
    """Remove a contact: no more messages, queued ones cancelled, every link it got revoked.

    The row stays (its outbox rows and history point at it). Returns how many queued messages
    were cancelled.
    """
    contact.active = False
    contact.generation += 1
    cancelled = _cancel_queued(session, contact, reason)
    _record(
        session,
        None,
        None,
        actor,
        "contact_removed",
        field=unit_code,
        old=contact.name,
        note=f"{reason}; hủy {cancelled} tin đang chờ gửi",
    )
    return cancelled


def _cancel_queued(session: Session, contact: Contact, reason: str) -> int:
    # Rows already claimed by a delivery run are stopped there (reminders.still_relevant).
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.contact_id) == contact.id,
            col(OutboxMessage.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error=f"người nhận {reason}"[:1000])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _find_contact(
    session: Session, dept: Department, name: str, include_removed: bool = False
) -> Contact | None:
    """A unit's contact by name, compared as people are (models.text.person_key)."""
    from models.text import person_key

    query = select(Contact).where(
        Contact.department_id == dept.id, Contact.name_key == person_key(name)
    )
    if not include_removed:
        query = query.where(col(Contact.active))
    rows = session.exec(query.order_by(col(Contact.active).desc(), col(Contact.id))).all()
    return rows[0] if rows else None


def _existing_contact(session: Session, dept: Department, name: str) -> Contact:
    contact = _find_contact(session, dept, name)
    if contact is None:
        raise NotFound(f"Đơn vị {dept.code} không có người nhận “{name}”.")
    return contact


def _checked_name(name: str) -> str:
    from models.planfile import ContactSpec

    try:
        return ContactSpec.model_validate({"name": name}).name
    except ValidationError as exc:
        raise InvalidAction(f"Họ tên không hợp lệ: {name!r}.") from exc


def _mark_operator(contact: Contact, *fields: str) -> None:
    contact.operator_fields = sorted({*contact.operator_fields, *fields})


def set_contact(
    session: Session, department: str, name: str, changes: dict[str, Any], actor: str
) -> bool:
    """Add or update a unit's contact (matched by name, as people are); True when added.

    The fields set here are the operator's from now on: no plan load changes them. Setting a
    removed contact brings it back (its old links stay revoked).
    """
    from models.planfile import ContactSpec
    from models.text import clean, person_key

    dept = get_department(session, clean(department))
    existing = _find_contact(session, dept, name, include_removed=True)
    current = existing.model_dump(include=set(_CONTACT_FIELDS)) if existing else {}
    try:
        checked = ContactSpec.model_validate({"name": name, **current, **changes})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        shown = changes.get(field, name if field == "name" else None)
        raise InvalidAction(f"Giá trị không hợp lệ ở trường {field}: {shown!r}") from exc
    values = checked.model_dump(include=set(_CONTACT_FIELDS))
    contact = existing
    if contact is None:
        assert dept.id is not None
        contact = Contact(
            department_id=dept.id, name=checked.name, name_key=person_key(checked.name), **values
        )
        session.add(contact)
        _mark_operator(contact, "name", *changes)
    else:
        for key, value in values.items():
            setattr(contact, key, value)
        _mark_operator(contact, *changes)
        if not contact.active:
            contact.active = True
            _mark_operator(contact, "active")
    _record(
        session,
        None,
        None,
        actor,
        "contact_set",
        field=dept.code,
        new=contact.name,
        note=", ".join(sorted(changes)),
    )
    session.flush()
    return existing is None


def remove_contact(session: Session, department: str, name: str, actor: str) -> tuple[Contact, int]:
    """The operator removes a contact; no plan load brings it back. Returns it and how many
    queued messages were cancelled."""
    from models.text import clean

    dept = get_department(session, clean(department))
    contact = _existing_contact(session, dept, name)
    _mark_operator(contact, "active")
    cancelled = deactivate_contact(session, contact, dept.code, actor, "đã được gỡ bằng lệnh")
    session.flush()
    return contact, cancelled


def rename_contact(
    session: Session, department: str, name: str, new_name: str, actor: str
) -> Contact:
    """Correct a contact's name; plan files still find the person under the old one."""
    from models.text import clean, person_key

    dept = get_department(session, clean(department))
    contact = _existing_contact(session, dept, name)
    cleaned = _checked_name(new_name)
    other = _find_contact(session, dept, cleaned)
    if other is not None and other.id != contact.id:
        raise InvalidAction(f"Đơn vị {dept.code} đã có người nhận “{other.name}”.")
    if cleaned == contact.name:
        return contact
    old = contact.name
    contact.name, contact.name_key = cleaned, person_key(cleaned)
    _mark_operator(contact, "name")
    _record(session, None, None, actor, "contact_renamed", field=dept.code, old=old, new=cleaned)
    session.flush()
    return contact


def move_contact(
    session: Session, department: str, name: str, new_department: str, actor: str
) -> tuple[Contact, int]:
    """Move a contact to another unit: the links it received act for its old unit, so they
    are revoked, and its queued messages (about the old unit's work) cancelled."""
    from models.text import clean

    dept = get_department(session, clean(department))
    target = get_department(session, clean(new_department))
    contact = _existing_contact(session, dept, name)
    if target.id == dept.id:
        return contact, 0
    if _find_contact(session, target, contact.name) is not None:
        raise InvalidAction(f"Đơn vị {target.code} đã có người nhận “{contact.name}”.")
    assert target.id is not None
    contact.department_id = target.id
    contact.generation += 1
    _mark_operator(contact, "department")
    cancelled = _cancel_queued(session, contact, f"đã chuyển sang đơn vị {target.code}")
    _record(
        session,
        None,
        None,
        actor,
        "contact_moved",
        field="department",
        old=dept.code,
        new=target.code,
        note=f"{contact.name}; hủy {cancelled} tin đang chờ gửi",
    )
    session.flush()
    return contact, cancelled
