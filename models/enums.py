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
