"""The database tables.

Timestamps are stored in UTC; calendar dates (deadlines, completion days) are plain dates in
Asia/Ho_Chi_Minh. Timeliness, risk and slack are derived by ``tracking`` and never stored.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, TypeDecorator, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from models.enums import (
    AssignmentState,
    Channel,
    DayUnit,
    DeadlineKind,
    DeliveryStatus,
    ReminderKind,
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant, always handed back as an aware UTC datetime.

    SQLite keeps no time zone and returns naive values; PostgreSQL returns them in the
    session's zone. Storing UTC and normalising on the way out makes both behave alike, so
    comparisons like "next attempt is due" mean the same thing on either database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store instants as aware datetimes")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _utc_column(nullable: bool = True) -> Any:
    return Column(UTCDateTime(), nullable=nullable)


def _enum_column(enum: type[StrEnum], index: bool = False) -> Any:
    # Stored as the value text, not a native enum type: adding a state later needs no
    # ALTER TYPE on PostgreSQL, and SQLite and PostgreSQL hold the same strings.
    values = SAEnum(
        enum, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]
    )
    return Column(values, nullable=False, index=index)


class Department(SQLModel, table=True):
    """A unit (đơn vị): a department, an office, a newspaper. Shared by every plan."""

    __tablename__ = "department"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=300)
    short_name: str | None = Field(default=None, max_length=100)


class Contact(SQLModel, table=True):
    """A person of a unit who receives reminders.

    Who owns which value (docs/plan-file.md, "Contacts: who owns what"): a plan file seeds a
    contact; the fields an operator set afterwards (``operator_fields``) are never changed by a
    load. Removed contacts are kept (``active`` false) so their outbox rows and history stay.
    """

    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    name: str = Field(max_length=200)
    # models.text.person_key(name): how people are matched (case, tone placement ignored).
    name_key: str = Field(default="", max_length=200, index=True)
    # The person_key of the name plan files list this contact under (kept when the operator
    # renames it, so a reload still finds the person); None for contacts no file names.
    file_key: str | None = Field(default=None, max_length=200)
    # Codes of the plans whose file lists this contact: a contact dropped by every file that
    # listed it (and never touched by an operator) is removed.
    plans: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    # The fields an operator set with `giaoviec contacts`: a plan load never changes them.
    operator_fields: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    active: bool = True  # False once removed: no reminders, no links
    # Part of every one-click link made for this contact; bumped when the contact is removed
    # or moves to another unit, which revokes every link made before.
    generation: int = 0
    role: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    zalo_user_id: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    apprise_urls: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    is_head: bool = False
    is_coordinator: bool = False


class Plan(SQLModel, table=True):
    """A Kế hoạch: the document whose duties become assignments."""

    __tablename__ = "plan"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=100, unique=True, index=True)
    number: str | None = Field(default=None, max_length=100)
    title: str = Field(max_length=500)
    issuer: str = Field(max_length=300)
    issued_date: dt.date | None = None
    issued_place: str | None = Field(default=None, max_length=100)
    event_name: str | None = Field(default=None, max_length=500)
    event_date: dt.date | None = None
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    window_text: str | None = Field(default=None, max_length=200)
    place: str | None = Field(default=None, max_length=500)
    delegates: int | None = None
    coordinator_department_id: int | None = Field(default=None, foreign_key="department.id")
    source_path: str | None = Field(default=None, max_length=1000)
    source_sha256: str | None = Field(default=None, max_length=64)
    legal_bases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    loaded_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))
    # Reminders go out only once the plan is activated (its contacts are real by then).
    activated_at: dt.datetime | None = Field(default=None, sa_column=_utc_column())
    reminder_policy: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    # The calendar (``WorkCalendar.basis``) the due dates were last resolved under: the daily
    # sweep resolves a plan again only when the calendar changed since.
    deadlines_basis: str | None = Field(default=None, max_length=64)
    # A new plan loaded in batches (``store.load_plan`` with ``commit_every``) is true until
    # its last batch commits: reads ignore it meanwhile, so people see it whole or not at all.
    loading: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})


class Assignment(SQLModel, table=True):
    """One duty of a plan: exactly one lead unit, any number of cooperating units."""

    __tablename__ = "assignment"
    __table_args__ = (UniqueConstraint("plan_id", "code", name="uq_assignment_plan_code"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    code: str = Field(max_length=64)
    position: int = 0  # order in the plan file, for stable listings
    title: str = Field(max_length=1000)
    detail: str | None = None
    source: str | None = Field(default=None, max_length=1000)  # where in the document
    lead_department_id: int = Field(foreign_key="department.id", index=True)

    # The deadline rule, as written in the plan file.
    deadline_kind: DeadlineKind = Field(
        default=DeadlineKind.NONE, sa_column=_enum_column(DeadlineKind)
    )
    deadline_date: dt.date | None = None
    deadline_offset: int | None = None
    deadline_unit: DayUnit = Field(default=DayUnit.WORKING, sa_column=_enum_column(DayUnit))
    deadline_after_id: int | None = Field(default=None, foreign_key="assignment.id")

    # The rule's result, and the due date in force (differs after an extension).
    original_due: dt.date | None = None
    due: dt.date | None = Field(default=None, index=True)
    extended_by: str | None = Field(default=None, max_length=200)
    extended_at: dt.datetime | None = Field(default=None, sa_column=_utc_column())

    state: AssignmentState = Field(
        default=AssignmentState.NOT_STARTED, sa_column=_enum_column(AssignmentState, index=True)
    )
    state_reason: str | None = None  # blocker, return, pause or cancel reason in force
    started_at: dt.datetime | None = Field(default=None, sa_column=_utc_column())
    submitted_at: dt.datetime | None = Field(default=None, sa_column=_utc_column())
    submitted_by: str | None = Field(default=None, max_length=200)
    submission_note: str | None = None
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    confirmed_at: dt.datetime | None = Field(default=None, sa_column=_utc_column())
    confirmed_by: str | None = Field(default=None, max_length=200)
    completed_on: dt.date | None = None  # the day the accepted work was submitted

    version: int = 1  # bumped by every change; guards against lost updates
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))


class AssignmentCooperator(SQLModel, table=True):
    """A cooperating unit (đơn vị phối hợp) of an assignment."""

    __tablename__ = "assignment_cooperator"

    assignment_id: int = Field(foreign_key="assignment.id", primary_key=True)
    department_id: int = Field(foreign_key="department.id", primary_key=True)


class Dependency(SQLModel, table=True):
    """``assignment_id`` cannot finish before ``prerequisite_id``."""

    __tablename__ = "dependency"

    assignment_id: int = Field(foreign_key="assignment.id", primary_key=True)
    prerequisite_id: int = Field(foreign_key="assignment.id", primary_key=True, index=True)


class Activity(SQLModel, table=True):
    """Append-only history: who changed what, when, from what to what, and why."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_assignment_at", "assignment_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id")
    actor: str = Field(max_length=200)
    action: str = Field(max_length=50)
    field: str | None = Field(default=None, max_length=50)
    from_value: str | None = None
    to_value: str | None = None
    note: str | None = None


class CalendarOverride(SQLModel, table=True):
    """An operator's correction of the public-sector calendar for one day."""

    __tablename__ = "calendar_override"

    day: dt.date = Field(primary_key=True)
    working: bool
    name: str = Field(max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient on one channel: the unit of delivery.

    The unique key makes enqueuing idempotent: computing the same day twice, or a retried
    sweep, adds nothing. ``subject`` names what the message is about: an assignment for the
    daily reminders ("a:17"), the action that caused it for event messages ("e:345"), or a
    plan and unit for kickoff ("p:3:u:5").
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint(
            "subject", "contact_id", "channel", "target", "kind", "day", name="uq_outbox_key"
        ),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=64)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    channel: Channel = Field(sa_column=_enum_column(Channel))
    target: int = 0  # which of the contact's extra Apprise URLs (0 for other channels)
    kind: ReminderKind = Field(sa_column=_enum_column(ReminderKind))
    day: dt.date
    plan_id: int = Field(foreign_key="plan.id", index=True)
    assignment_id: int | None = Field(default=None, foreign_key="assignment.id", index=True)
    department_id: int = Field(foreign_key="department.id")
    role: str = Field(max_length=20)  # lead, cooperating, head, coordinator
    is_copy: bool = False  # a cooperating unit's copy, marked as such in the text
    activity_id: int | None = Field(default=None, foreign_key="activity.id")
    fallback_of_id: int | None = Field(default=None, foreign_key="outbox.id")

    status: DeliveryStatus = Field(
        default=DeliveryStatus.PENDING, sa_column=_enum_column(DeliveryStatus)
    )
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(sa_column=_utc_column(False))
    lease_until: dt.datetime | None = Field(default=None, sa_column=_utc_column())
    claimed_by: str | None = Field(default=None, max_length=100)
    sent_at: dt.datetime | None = Field(default=None, sa_column=_utc_column())
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=_utc_column(False))


class DeliveryAlert(SQLModel, table=True):
    """A delivery problem only the operator can fix, one row per channel while it lasts.

    Raised when the server refuses our login or set-up (SMTP 535, a sender it will not take,
    TLS): the messages are kept queued, and the CLI and the web show this until a send on
    the channel succeeds again.
    """

    __tablename__ = "delivery_alert"

    channel: str = Field(primary_key=True, max_length=20)
    detail: str = Field(max_length=1000)
    since: dt.datetime = Field(sa_column=_utc_column(False))
    last_seen: dt.datetime = Field(sa_column=_utc_column(False))
