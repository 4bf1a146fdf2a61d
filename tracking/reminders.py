"""The reminder policy and the outbox.

The policy decides who must hear about what on a given day; the outbox holds one row per
(subject, recipient, channel, kind, day). Its unique key makes enqueuing idempotent, and a
delivery run claims rows with a lease and records each outcome in its own commit, so a crash
never loses a message and re-sends at most the one that was in flight.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from models.enums import AssignmentState, Channel, DeliveryStatus, ReminderKind
from models.tables import (
    Activity,
    Assignment,
    AssignmentCooperator,
    Contact,
    Department,
    Dependency,
    OutboxMessage,
    Plan,
)
from tracking import clock
from tracking.labels import outcome_note
from tracking.status import Action, missed_the_event

if TYPE_CHECKING:
    from models.planfile import ReminderPolicySpec
    from tracking.calendar import WorkCalendar
    from tracking.settings import Settings

# Reminders about an assignment stop once the work is in the coordinator's hands or closed.
REMINDED_STATES = frozenset(
    {AssignmentState.NOT_STARTED, AssignmentState.IN_PROGRESS, AssignmentState.BLOCKED}
)
_DAILY_KINDS = frozenset(
    {ReminderKind.UPCOMING, ReminderKind.DUE_TODAY, ReminderKind.OVERDUE, ReminderKind.ESCALATION}
)
# A message asking the coordinator to act is moot once the work left the state it asked about
# (e.g. "please confirm" after the coordinator already confirmed on the web).
_MOOT_UNLESS: dict[ReminderKind, frozenset[AssignmentState]] = {
    ReminderKind.SUBMITTED: frozenset({AssignmentState.SUBMITTED}),
    ReminderKind.EVENT_PASSED: REMINDED_STATES,
    ReminderKind.PREREQUISITE_DONE: REMINDED_STATES,
}
_COPIED_KINDS = frozenset({ReminderKind.UPCOMING, ReminderKind.OVERDUE})


@dataclasses.dataclass(frozen=True)
class Policy:
    upcoming_days: frozenset[int]
    due_today: bool
    overdue_daily: bool
    escalate_after: int
    escalate_every: int
    copy_cooperating: bool
    quiet_start: dt.time
    quiet_end: dt.time

    @classmethod
    def of(cls, plan: Plan) -> Policy:
        from models.planfile import ReminderPolicySpec  # only commands that remind need it

        return cls.of_spec(ReminderPolicySpec.model_validate(plan.reminder_policy or {}))

    @classmethod
    def of_spec(cls, spec: ReminderPolicySpec) -> Policy:
        return cls(
            upcoming_days=frozenset(spec.upcoming_days),
            due_today=spec.due_today,
            overdue_daily=spec.overdue_daily,
            escalate_after=spec.escalate_after_days,
            escalate_every=spec.escalate_every_days,
            copy_cooperating=spec.copy_cooperating,
            quiet_start=dt.time.fromisoformat(spec.quiet_start),
            quiet_end=dt.time.fromisoformat(spec.quiet_end),
        )


@dataclasses.dataclass(frozen=True)
class Notice:
    """The policy's decision: a unit (in a role) must hear ``kind`` about ``assignment_id``."""

    kind: ReminderKind
    assignment_id: int
    department_id: int
    role: str  # lead, cooperating, head, coordinator
    is_copy: bool = False
    # The outbox day when it is not the day of enqueuing: a once-only notice keeps one fixed
    # day, so computing it again on a later day adds nothing.
    day: dt.date | None = None


class Reminded(Protocol):
    """What the daily policy reads of an assignment (an ORM row or a plain result row)."""

    @property
    def id(self) -> int | None: ...
    @property
    def plan_id(self) -> int: ...
    @property
    def lead_department_id(self) -> int: ...
    @property
    def due(self) -> dt.date | None: ...
    @property
    def state(self) -> AssignmentState: ...


def daily_notices(
    assignments: Iterable[Reminded],
    cooperators: dict[int, list[int]],
    coordinator_id: int | None,
    today: dt.date,
    calendar: WorkCalendar,
    policy: Policy,
    event_date: dt.date | None,
) -> Iterator[Notice]:
    """What the daily sweep owes on ``today``: upcoming, due today, overdue, escalations.

    Once the event has passed, open work that was due for it gets, instead, one
    ``EVENT_PASSED`` notice (to its lead unit, and to the coordinator who decides what becomes
    of it), dated the first working day after the event so that later days add nothing.
    """
    if not calendar.is_working_day(today):
        return
    for row in assignments:
        if row.state not in REMINDED_STATES or row.due is None or row.id is None:
            continue
        if missed_the_event(row.due, event_date, today):
            assert event_date is not None
            once = calendar.add_working_days(event_date, 1)
            yield Notice(
                ReminderKind.EVENT_PASSED, row.id, row.lead_department_id, "lead", day=once
            )
            if coordinator_id is not None and coordinator_id != row.lead_department_id:
                yield Notice(
                    ReminderKind.EVENT_PASSED, row.id, coordinator_id, "coordinator", day=once
                )
            continue
        for kind in daily_kinds(row.due, today, calendar, policy):
            if kind is ReminderKind.ESCALATION:
                yield Notice(kind, row.id, row.lead_department_id, "head")
                # The coordinator's own work: its head already hears it as the unit's head.
                if coordinator_id is not None and coordinator_id != row.lead_department_id:
                    yield Notice(kind, row.id, coordinator_id, "coordinator")
                continue
            yield Notice(kind, row.id, row.lead_department_id, "lead")
            if kind in _COPIED_KINDS and policy.copy_cooperating:
                for dept in cooperators.get(row.id, []):
                    yield Notice(kind, row.id, dept, "cooperating", is_copy=True)


def daily_kinds(
    due: dt.date, today: dt.date, calendar: WorkCalendar, policy: Policy
) -> list[ReminderKind]:
    if today < due:
        left = calendar.working_days_between(today, due)
        return [ReminderKind.UPCOMING] if left in policy.upcoming_days else []
    if today == due:
        return [ReminderKind.DUE_TODAY] if policy.due_today else []
    late = calendar.working_days_between(due, today)
    kinds = [ReminderKind.OVERDUE] if policy.overdue_daily else []
    since = late - policy.escalate_after
    if since >= 0 and since % policy.escalate_every == 0:
        kinds.append(ReminderKind.ESCALATION)
    return kinds


# --- from notices to outbox rows --------------------------------------------------------


def channels_of(contact: Contact, settings: Settings) -> list[tuple[Channel, int]]:
    """The (channel, target) pairs a contact is reached on, given what is configured.

    One personal channel per contact, so nobody gets each reminder twice: Zalo when the
    contact follows the Official Account, else ZNS to the phone, else email. A permanent Zalo
    failure falls back to email. Extra Apprise URLs set by the operator always get a copy.
    """
    found: list[tuple[Channel, int]] = []
    if contact.zalo_user_id and settings.zalo_enabled:
        found.append((Channel.ZALO, 0))
    elif contact.phone and settings.zns_enabled:
        found.append((Channel.ZNS, 0))
    elif contact.email:
        found.append((Channel.EMAIL, 0))
    found.extend((Channel.APPRISE, i) for i in range(len(contact.apprise_urls)))
    return found


def recipients(contacts: Sequence[Contact], role: str) -> list[Contact]:
    """Who in a unit hears a notice: heads for escalations, coordinators for the coordinator's
    notices, otherwise the working staff (the head only when the unit lists nobody else)."""
    if role == "head":
        chosen = [c for c in contacts if c.is_head]
    elif role == "coordinator":
        chosen = [c for c in contacts if c.is_coordinator]
    else:
        chosen = [c for c in contacts if not c.is_head]
    return chosen or list(contacts)


@dataclasses.dataclass(frozen=True)
class Enqueued:
    considered: int  # rows the policy asked for
    new_ids: tuple[int, ...]  # rows that were new (the rest were already there)

    @property
    def added(self) -> int:
        return len(self.new_ids)

    def __add__(self, other: Enqueued) -> Enqueued:
        return Enqueued(self.considered + other.considered, self.new_ids + other.new_ids)


NOTHING = Enqueued(0, ())


def enqueue(
    session: Session,
    plan: Plan,
    notices: Iterable[Notice],
    day: dt.date,
    not_before: dt.datetime,
    settings: Settings,
    subject_of: Any = None,
    activity_id: int | None = None,
) -> Enqueued:
    """Turn notices into outbox rows; rows that already exist are left alone."""
    rows = outbox_rows(
        plan,
        notices,
        _contacts_by_department(session),
        day,
        not_before,
        settings,
        subject_of=subject_of,
        activity_id=activity_id,
    )
    return Enqueued(len(rows), tuple(insert_ignoring_duplicates(session, rows)))


def outbox_rows(
    plan: Plan,
    notices: Iterable[Notice],
    contacts: dict[int, list[Contact]],
    day: dt.date,
    not_before: dt.datetime,
    settings: Settings,
    *,
    subject_of: Any = None,
    activity_id: int | None = None,
) -> list[dict[str, Any]]:
    """One outbox row per recipient and channel of each notice (not yet inserted)."""
    rows: list[dict[str, Any]] = []
    created = clock.now_utc()
    # Who and how, per unit and role, worked out once: a sweep has thousands of notices
    # for a few dozen units.
    addresses: dict[tuple[int, str], list[tuple[int | None, str, int]]] = {}
    for notice in notices:
        subject = subject_of(notice) if subject_of else f"a:{notice.assignment_id}"
        key = (notice.department_id, notice.role)
        if key not in addresses:
            addresses[key] = [
                (contact.id, channel.value, target)
                for contact in recipients(contacts.get(notice.department_id, []), notice.role)
                for channel, target in channels_of(contact, settings)
            ]
        for contact_id, channel, target in addresses[key]:
            rows.append(
                {
                    "subject": subject,
                    "contact_id": contact_id,
                    "channel": channel,
                    "target": target,
                    "kind": notice.kind.value,
                    "day": notice.day or day,
                    "plan_id": plan.id,
                    "assignment_id": notice.assignment_id or None,
                    "department_id": notice.department_id,
                    "role": notice.role,
                    "is_copy": notice.is_copy,
                    "activity_id": activity_id,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": not_before,
                    "created_at": created,
                }
            )
    return rows


def insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT … ON CONFLICT DO NOTHING on the outbox key; returns the ids of the new rows.

    One statement compiled once and run over all rows ("insertmanyvalues" batches them with
    RETURNING on both databases): building a multi-row VALUES clause per chunk instead costs
    more in SQL compilation than the database spends inserting.
    """
    if not rows:
        return []
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = OutboxMessage.__table__  # type: ignore[attr-defined]
    statement = insert(table).on_conflict_do_nothing().returning(table.c.id)
    return list(session.connection().execute(statement, rows).scalars())


def _contacts_by_department(session: Session) -> dict[int, list[Contact]]:
    found: dict[int, list[Contact]] = {}
    # Removed contacts hear nothing (store.deactivate_contact).
    for contact in session.exec(
        select(Contact).where(col(Contact.active)).order_by(col(Contact.id))
    ):
        found.setdefault(contact.department_id, []).append(contact)
    return found


def cooperators_of(session: Session, plan: Plan) -> dict[int, list[int]]:
    query = (
        select(AssignmentCooperator)
        .join(Assignment, col(Assignment.id) == col(AssignmentCooperator.assignment_id))
        .where(Assignment.plan_id == plan.id)
    )
    found: dict[int, list[int]] = {}
    for row in session.exec(query):
        found.setdefault(row.assignment_id, []).append(row.department_id)
    return found


# --- when a message may go out ----------------------------------------------------------


def send_time(moment: dt.datetime, calendar: WorkCalendar, policy: Policy) -> dt.datetime:
    """``moment``, or the next time outside quiet hours on a working day (in UTC)."""
    local = moment.astimezone(clock.VN_TZ)
    day = local.date()
    if calendar.is_working_day(day) and policy.quiet_end <= local.time() < policy.quiet_start:
        return moment
    if not (calendar.is_working_day(day) and local.time() < policy.quiet_end):
        day = calendar.add_working_days(day, 1)
    opening = dt.datetime.combine(day, policy.quiet_end, tzinfo=clock.VN_TZ)
    return opening.astimezone(dt.UTC)


# --- the three ways messages are enqueued -----------------------------------------------


def enqueue_daily(
    session: Session, today: dt.date, now: dt.datetime, calendar: WorkCalendar, settings: Settings
) -> Enqueued:
    """The sweep's share: every activated plan's reminders for ``today``.

    The database narrows the assignments down to the candidates (open work due before the
    furthest upcoming reminder, so overdue work included) in one query for all plans; the
    policy then decides exactly, in Python, plan by plan. Statements do not grow with the
    number of plans, and memory holds the candidates only, not every assignment.
    """
    if not calendar.is_working_day(today):
        return NOTHING
    plans = {p.id: p for p in session.exec(select(Plan).where(_LIVE_PLAN))}
    if not plans:
        return NOTHING
    policies = {plan_id: Policy.of(plan) for plan_id, plan in plans.items()}
    furthest = max((max(p.upcoming_days, default=0) for p in policies.values()), default=0)
    horizon = calendar.add_working_days(today, furthest + 1)
    candidates = _candidates(session, horizon)
    cooperators = _candidate_cooperators(session, horizon)
    contacts = _contacts_by_department(session)
    rows: list[dict[str, Any]] = []
    for plan_id, group in itertools.groupby(candidates, key=lambda r: r.plan_id):
        plan, policy = plans[plan_id], policies[plan_id]
        notices = daily_notices(
            group,
            cooperators,
            plan.coordinator_department_id,
            today,
            calendar,
            policy,
            plan.event_date,
        )
        not_before = send_time(now, calendar, policy)
        rows.extend(outbox_rows(plan, notices, contacts, today, not_before, settings))
    return Enqueued(len(rows), tuple(insert_ignoring_duplicates(session, rows)))


_LIVE_PLAN = col(Plan.activated_at).is_not(None)


def _candidate_filter(horizon: dt.date) -> Any:
    return and_(
        _LIVE_PLAN,
        col(Assignment.state).in_(list(REMINDED_STATES)),
        col(Assignment.due).is_not(None),
        col(Assignment.due) < horizon,
    )


def _candidates(session: Session, horizon: dt.date) -> list[Reminded]:
    # Plain rows with the four columns the policy reads: building ORM objects for tens of
    # thousands of candidates would cost more than the whole query.
    query = (
        sa_select(
            col(Assignment.id),
            col(Assignment.plan_id),
            col(Assignment.lead_department_id),
            col(Assignment.due),
            col(Assignment.state),
        )
        .join(Plan, col(Plan.id) == col(Assignment.plan_id))
        .where(_candidate_filter(horizon))
        .order_by(col(Assignment.plan_id), col(Assignment.position), col(Assignment.id))
    )
    return list(session.connection().execute(query))


def _candidate_cooperators(session: Session, horizon: dt.date) -> dict[int, list[int]]:
    query = (
        select(AssignmentCooperator.assignment_id, AssignmentCooperator.department_id)
        .join(Assignment, col(Assignment.id) == col(AssignmentCooperator.assignment_id))
        .join(Plan, col(Plan.id) == col(Assignment.plan_id))
        .where(_candidate_filter(horizon))
        .order_by(col(AssignmentCooperator.assignment_id), col(AssignmentCooperator.department_id))
    )
    found: dict[int, list[int]] = {}
    for assignment_id, department_id in session.connection().execute(query):
        found.setdefault(assignment_id, []).append(department_id)
    return found


def enqueue_kickoff(
    session: Session,
    plan: Plan,
    today: dt.date,
    now: dt.datetime,
    calendar: WorkCalendar,
    settings: Settings,
) -> Enqueued:
    """Each lead and cooperating unit gets the list of its assignments, once per plan."""
    units: dict[int, str] = {}
    for row in session.exec(select(Assignment).where(Assignment.plan_id == plan.id)):
        if row.state is not AssignmentState.CANCELLED:
            units.setdefault(row.lead_department_id, "lead")
    for coops in cooperators_of(session, plan).values():
        for dept in coops:
            units.setdefault(dept, "cooperating")
    notices = [Notice(ReminderKind.KICKOFF, 0, dept, "lead") for dept in sorted(units)]
    return enqueue(
        session,
        plan,
        notices,
        today,
        send_time(now, calendar, Policy.of(plan)),
        settings,
        subject_of=lambda n: f"p:{plan.id}:u:{n.department_id}",
    )


def enqueue_weekly(
    session: Session,
    plan: Plan,
    day: dt.date,
    now: dt.datetime,
    calendar: WorkCalendar,
    settings: Settings,
) -> Enqueued:
    """The weekly report of ``plan`` for ``day``, to the coordinator's contacts: an outbox row
    like every other message (sent by the delivery, recorded in the history), once per day."""
    if plan.activated_at is None or plan.coordinator_department_id is None:
        return NOTHING
    notices = [Notice(ReminderKind.WEEKLY_REPORT, 0, plan.coordinator_department_id, "coordinator")]
    return enqueue(
        session,
        plan,
        notices,
        day,
        send_time(now, calendar, Policy.of(plan)),
        settings,
        subject_of=lambda _: f"w:{plan.id}",
    )


def event_notices(
    session: Session, row: Assignment, action: Action, coordinator_id: int | None
) -> list[Notice]:
    """Who must hear about an action at once (blocker, submission, decision).

    Each notice names the assignment it is about; ``enqueue_event`` gives each its own outbox
    subject, so the notices of one action never collide on the outbox key.
    """
    assert row.id is not None
    to_coordinator = {
        Action.BLOCK: ReminderKind.BLOCKED,
        Action.UNBLOCK: ReminderKind.UNBLOCKED,
        Action.SUBMIT: ReminderKind.SUBMITTED,
    }
    if action in to_coordinator:
        if coordinator_id is None:
            return []
        return [Notice(to_coordinator[action], row.id, coordinator_id, "coordinator")]
    kinds = {
        Action.CONFIRM: ReminderKind.CONFIRMED,
        Action.RETURN: ReminderKind.RETURNED,
        Action.EXTEND: ReminderKind.EXTENDED,
    }
    if action not in kinds:
        return []
    notices = [Notice(kinds[action], row.id, row.lead_department_id, "lead")]
    if action is Action.CONFIRM:
        notices.extend(
            Notice(ReminderKind.PREREQUISITE_DONE, dependent_id, lead_id, "lead")
            for dependent_id, lead_id in ready_dependents(session, row.id)
        )
    return notices


def ready_dependents(session: Session, assignment_id: int) -> list[tuple[int, int]]:
    """(id, lead unit) of the open dependents of ``assignment_id`` whose prerequisites are now
    all done: the ones that can start. A dependent still waiting on another open prerequisite
    hears nothing yet; it hears once, when its last one is confirmed."""
    dependents = list(
        session.exec(
            select(Assignment.id, Assignment.lead_department_id)
            .join(Dependency, col(Dependency.assignment_id) == col(Assignment.id))
            .where(Dependency.prerequisite_id == assignment_id)
            .where(col(Assignment.state).in_(list(REMINDED_STATES)))
            .order_by(col(Assignment.position), col(Assignment.id))
        )
    )
    if not dependents:
        return []
    waiting = set(
        session.exec(
            select(Dependency.assignment_id)
            .join(Assignment, col(Assignment.id) == col(Dependency.prerequisite_id))
            .where(col(Dependency.assignment_id).in_([d for d, _ in dependents]))
            .where(col(Assignment.state) != AssignmentState.DONE)
            .where(col(Assignment.state) != AssignmentState.CANCELLED)
        )
    )
    return [(d, lead) for d, lead in dependents if d is not None and d not in waiting]


def event_subject(activity_id: int | None, notice: Notice) -> str:
    """The outbox subject of a message caused by an action: the action and the assignment the
    message is about (one confirmation can tell one unit about several dependents)."""
    return f"e:{activity_id}:a:{notice.assignment_id}"


def enqueue_event(
    session: Session,
    plan: Plan,
    row: Assignment,
    action: Action,
    activity: Activity,
    today: dt.date,
    now: dt.datetime,
    calendar: WorkCalendar,
    settings: Settings,
) -> Enqueued:
    """Messages an action causes, in the action's own transaction: never lost, never twice."""
    if plan.activated_at is None:
        return NOTHING
    notices = event_notices(session, row, action, plan.coordinator_department_id)
    return enqueue(
        session,
        plan,
        notices,
        today,
        send_time(now, calendar, Policy.of(plan)),
        settings,
        subject_of=lambda notice: event_subject(activity.id, notice),
        activity_id=activity.id,
    )


# --- delivery bookkeeping ---------------------------------------------------------------


def claim(
    session: Session,
    now: dt.datetime,
    limit: int,
    lease: dt.timedelta,
    exclude: Iterable[Channel] = (),
    wall: dt.datetime | None = None,
) -> tuple[str, list[OutboxMessage]]:
    """Lease up to ``limit`` messages that are due (or whose lease ran out) to this run.

    The UPDATE repeats the conditions, so two runs can never lease the same row: on
    PostgreSQL SKIP LOCKED also keeps them from waiting on each other. ``exclude`` leaves
    channels out (a run that found its SMTP server down stops claiming email).

    ``now`` decides what is due and may be simulated (``--today``); leases are about real
    processes, so they run on the real clock (``wall``, the present unless a test says
    otherwise): replaying a day can take back what a killed run of that day left leased.
    """
    wall = wall or clock.now_utc()
    token = uuid.uuid4().hex
    skipped = list(exclude)
    due = or_(
        and_(
            col(OutboxMessage.status) == DeliveryStatus.PENDING,
            col(OutboxMessage.next_attempt_at) <= now,
        ),
        and_(
            col(OutboxMessage.status) == DeliveryStatus.SENDING,
            col(OutboxMessage.lease_until) < wall,
        ),
    )
    if skipped:
        due = and_(due, col(OutboxMessage.channel).not_in(skipped))
    query = select(OutboxMessage.id).where(due).order_by(col(OutboxMessage.id)).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.exec(query))
    if not ids:
        session.commit()
        return token, []
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), due)
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=wall + lease,
            claimed_by=token,
            attempts=OutboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    claimed = session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.claimed_by == token)
        .where(col(OutboxMessage.status) == DeliveryStatus.SENDING)
        .order_by(col(OutboxMessage.id))
    )
    return token, list(claimed)


def _held(message: OutboxMessage, token: str) -> Any:
    """``message`` is still leased to the run holding ``token`` (not taken over, not done)."""
    return and_(
        col(OutboxMessage.id) == message.id,
        col(OutboxMessage.claimed_by) == token,
        col(OutboxMessage.status) == DeliveryStatus.SENDING,
    )


def still_relevant(session: Session, message: OutboxMessage) -> bool:
    """Whether a message still tells the truth when it is about to go out.

    A message to a contact removed or moved since it was queued is moot; so is a daily
    reminder whose assignment was submitted, closed or paused meanwhile, and a request to
    confirm work the coordinator already confirmed or returned.
    """
    contact = session.get(Contact, message.contact_id)
    if contact is None or not contact.active or contact.department_id != message.department_id:
        return False
    if message.assignment_id is None:
        return True
    if message.kind in _DAILY_KINDS:
        wanted = REMINDED_STATES
    elif message.kind in _MOOT_UNLESS:
        wanted = _MOOT_UNLESS[message.kind]
    else:
        return True
    row = session.get(Assignment, message.assignment_id)
    return row is not None and row.state in wanted


# The longest wait between two attempts: during a long outage attempts go on past the limit
# (see delivery.judge), and a server that is back must not wait days for its backlog.
MAX_BACKOFF_SECONDS = 3600.0


def backoff(attempts: int, base_seconds: float, rng: random.Random | None = None) -> dt.timedelta:
    """Exponential backoff with full jitter: up to base × 2^(attempts-1) (an hour at most),
    at least base/2."""
    ceiling = min(base_seconds * (2 ** min(max(attempts - 1, 0), 30)), MAX_BACKOFF_SECONDS)
    ceiling = max(ceiling, base_seconds / 2)
    return dt.timedelta(seconds=max(base_seconds / 2, (rng or random).uniform(0, ceiling)))


def renew(session: Session, token: str, ids: Sequence[int], lease_until: dt.datetime) -> set[int]:
    """Extend this run's lease on ``ids``; returns those it still holds (the others were
    taken over by another run after the lease ran out, and must not be sent by this one)."""
    if not ids:
        return set()
    held = and_(
        col(OutboxMessage.id).in_(list(ids)),
        col(OutboxMessage.claimed_by) == token,
        col(OutboxMessage.status) == DeliveryStatus.SENDING,
    )
    session.execute(
        update(OutboxMessage)
        .where(held)
        .values(lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    still = set(session.exec(select(OutboxMessage.id).where(held)))
    session.commit()
    return {i for i in still if i is not None}


def postpone(
    session: Session,
    messages: Sequence[OutboxMessage],
    token: str,
    next_attempt_at: dt.datetime,
    detail: str,
    now: dt.datetime,
) -> int:
    """Give claimed messages back unsent: pending again at ``next_attempt_at``, the attempt
    counted at claim taken back (they were not tried), one activity row each, one commit.
    Returns how many this run still held."""
    postponed = 0
    for message in messages:
        result = session.execute(
            update(OutboxMessage)
            .where(_held(message, token))
            .values(
                status=DeliveryStatus.PENDING,
                lease_until=None,
                attempts=OutboxMessage.attempts - 1,
                next_attempt_at=next_attempt_at,
                last_error=detail[:1000],
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        postponed += 1
        session.add(_outcome_activity(session, message, now, "message_postponed", detail))
    session.commit()
    return postponed


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    next_attempt_at: dt.datetime | None
    detail: str
    fall_back: bool = False


def finish(
    session: Session, message: OutboxMessage, token: str, outcome: Outcome, now: dt.datetime
) -> bool:
    """Record one message's outcome and its activity row; False if the lease was lost."""
    values: dict[str, Any] = {
        "status": outcome.status,
        "lease_until": None,
        "last_error": None if outcome.status is DeliveryStatus.SENT else outcome.detail[:1000],
    }
    if outcome.status is DeliveryStatus.SENT:
        values["sent_at"] = now
    if outcome.next_attempt_at is not None:
        values["next_attempt_at"] = outcome.next_attempt_at
    result = session.execute(
        update(OutboxMessage)
        .where(_held(message, token))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        return False
    action = f"message_{outcome.status.value}"
    session.add(_outcome_activity(session, message, now, action, outcome.detail))
    if outcome.fall_back:
        fall_back_to_email(session, message, now)
    session.commit()
    return True


def _outcome_activity(
    session: Session, message: OutboxMessage, now: dt.datetime, action: str, detail: str
) -> Activity:
    """The history row of what happened to one outbox message, naming its recipient."""
    contact = session.get(Contact, message.contact_id)
    unit = session.get(Department, message.department_id)
    note = outcome_note(
        message.kind.value,
        contact.name if contact else None,
        (unit.short_name or unit.name) if unit else None,
        message.channel.value,
        action,
        detail,
    )
    return Activity(
        at=now,
        plan_id=message.plan_id,
        assignment_id=message.assignment_id,
        actor="giaoviec",
        action=action,
        field="outbox",
        to_value=str(message.id),
        note=note[:2000],
    )


def fall_back_to_email(session: Session, message: OutboxMessage, now: dt.datetime) -> int:
    """A permanent Zalo failure: the same message goes to the contact's email instead."""
    contact = session.get(Contact, message.contact_id)
    if contact is None or not contact.email or message.channel is Channel.EMAIL:
        return 0
    # The same message in every respect but its channel and delivery bookkeeping.
    row = message.model_dump(exclude={"id", "lease_until", "claimed_by", "sent_at", "last_error"})
    row.update(
        channel=Channel.EMAIL,
        target=0,
        fallback_of_id=message.id,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    return len(insert_ignoring_duplicates(session, [row]))


def cancel_moot(session: Session, message: OutboxMessage, token: str, now: dt.datetime) -> bool:
    return finish(
        session, message, token, Outcome(DeliveryStatus.CANCELLED, None, "không còn cần nhắc"), now
    )
