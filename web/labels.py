"""Vietnamese words and colour classes the pages use.

The history wording and its lines are shared with the terminal (``tracking.labels``); the
colours are the Government Office's: green done on time, blue open in time, orange done late
or due soon, red overdue, grey not started or without a deadline.
"""

from __future__ import annotations

import datetime as dt

from models.dates import FIRST_DAY, LAST_DAY, weekday_date
from models.enums import AssignmentState, Timeliness

# Re-exported: the templates read them as labels.ACTION_BUTTONS and so on.
from tracking.labels import ACTION_BUTTONS as ACTION_BUTTONS
from tracking.labels import ACTION_TEXT as ACTION_TEXT
from tracking.labels import FIELD_TEXT as FIELD_TEXT
from tracking.labels import change_text as change_text
from tracking.labels import local_time as local_time
from tracking.labels import value_text as value_text
from tracking.status import STATE_LABELS, TIMELINESS_LABELS, Action
from tracking.store import NEEDS_REASON as NEEDS_REASON  # what needs a reason: the store's rule

# The date inputs' bounds: the browser's hint of the range the server enforces (models.dates).
DATE_MIN = FIRST_DAY.isoformat()
DATE_MAX = LAST_DAY.isoformat()

# Severity order, worst first: the order of the counters and of "sort by timeliness".
TIMELINESS_ORDER: tuple[Timeliness, ...] = (
    Timeliness.OVERDUE,
    Timeliness.DUE_SOON,
    Timeliness.OPEN_IN_TIME,
    Timeliness.NO_DEADLINE,
    Timeliness.DONE_LATE,
    Timeliness.DONE_ON_TIME,
)

TIMELINESS_CLASS: dict[Timeliness, str] = {
    Timeliness.DONE_ON_TIME: "t-green",
    Timeliness.OPEN_IN_TIME: "t-blue",
    Timeliness.DONE_LATE: "t-orange",
    Timeliness.DUE_SOON: "t-orange",
    Timeliness.OVERDUE: "t-red",
    Timeliness.NO_DEADLINE: "t-grey",
}

STATE_CLASS: dict[AssignmentState, str] = {
    AssignmentState.NOT_STARTED: "s-grey",
    AssignmentState.IN_PROGRESS: "s-blue",
    AssignmentState.SUBMITTED: "s-cyan",
    AssignmentState.DONE: "s-green",
    AssignmentState.BLOCKED: "s-red",
    AssignmentState.PAUSED: "s-grey",
    AssignmentState.CANCELLED: "s-grey s-strike",
}


# What each action asks for: a reason (required), a new date, evidence files.

REASON_LABELS: dict[Action, str] = {
    Action.RETURN: "Lý do trả lại",
    Action.BLOCK: "Nội dung vướng mắc",
    Action.CANCEL: "Lý do hủy",
    Action.PAUSE: "Lý do tạm dừng",
    Action.EXTEND: "Lý do gia hạn",
}


def timeliness_label(value: Timeliness | None) -> str:
    return "—" if value is None else TIMELINESS_LABELS[value]


def timeliness_class(value: Timeliness | None) -> str:
    return "t-grey" if value is None else TIMELINESS_CLASS[value]


def state_label(value: AssignmentState) -> str:
    return STATE_LABELS[value]


def long_date(day: dt.date | None) -> str:
    """ "Thứ Sáu, 15/03/2024": the weekday matters to people planning a working week."""
    if day is None:
        return "—"
    return weekday_date(day)
