"""Enumerations shared by tables, schemas and interfaces."""

from __future__ import annotations

from enum import StrEnum


class AssignmentState(StrEnum):
    """Lifecycle state of an assignment (stored)."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"  # chờ xác nhận: waits for the coordinator
    DONE = "done"  # confirmed by the coordinator
    BLOCKED = "blocked"  # vướng mắc, with a reason
    PAUSED = "paused"
    CANCELLED = "cancelled"


class Timeliness(StrEnum):
    """The Government Office's split; derived from state, dates and today, never stored."""

    DONE_ON_TIME = "done_on_time"
    DONE_LATE = "done_late"
    OPEN_IN_TIME = "open_in_time"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    NO_DEADLINE = "no_deadline"


class DeadlineKind(StrEnum):
    """How an assignment's due date is found."""

    NONE = "none"
    DATE = "date"  # an absolute date
    EVENT = "event"  # N days before (negative) or after (positive) the event date
    AFTER = "after"  # N days after a prerequisite's due date


class DayUnit(StrEnum):
    WORKING = "working"
    CALENDAR = "calendar"


class ReminderKind(StrEnum):
    """What a message is about; the reminder policy decides who gets which, and when."""

    KICKOFF = "kickoff"  # a plan goes live: each unit gets its list
    UPCOMING = "upcoming"  # N working days before the due date
    DUE_TODAY = "due_today"
    OVERDUE = "overdue"  # every working day while overdue
    ESCALATION = "escalation"  # to the unit's head and the coordinator
    BLOCKED = "blocked"  # a unit reported a blocker → coordinator
    SUBMITTED = "submitted"  # a unit reported done → coordinator, to confirm
    CONFIRMED = "confirmed"  # → the lead unit
    RETURNED = "returned"  # → the lead unit
    EXTENDED = "extended"  # → the lead unit
    PREREQUISITE_DONE = "prerequisite_done"  # → lead units of the dependents: you can start
    UNBLOCKED = "unblocked"  # a unit's blocker was lifted → coordinator
    # the event was held while work due for it is still open: no more reminders; → the lead
    # unit and the coordinator (who decides: cancel, or accept it late)
    EVENT_PASSED = "event_passed"
    # Monday: the plan's progress with the Excel report attached → the coordinator. Its words
    # are tracking.reports' weekly summary, the same as the Excel report's.
    WEEKLY_REPORT = "weekly_report"


class Channel(StrEnum):
    EMAIL = "email"
    ZALO = "zalo"  # Zalo Official Account message to a follower
    ZNS = "zns"  # Zalo notification service: template message to a phone number
    APPRISE = "apprise"  # any other Apprise URL the operator set on a contact


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its time (not_before / next_attempt_at)
    SENDING = "sending"  # claimed by a delivery run until lease_until
    SENT = "sent"
    FAILED = "failed"  # permanent failure, or retries exhausted
    UNKNOWN = "unknown"  # timed out after sending: may have arrived; never resent blindly
    CANCELLED = "cancelled"  # no longer relevant (work done, plan cancelled) before sending
