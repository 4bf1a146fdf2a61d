"""The assignment lifecycle (which action may move which state) and derived timeliness."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING

from models.enums import AssignmentState as S
from models.enums import Timeliness as T
from models.errors import InvalidInput

if TYPE_CHECKING:
    from tracking.calendar import WorkCalendar

DUE_SOON_WORKING_DAYS = 3


class Action(StrEnum):
    START = "start"
    SUBMIT = "submit"
    CONFIRM = "confirm"
    RETURN = "return"
    BLOCK = "block"
    UNBLOCK = "unblock"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    EXTEND = "extend"  # changes the due date, not the state


OPEN_STATES = frozenset({S.NOT_STARTED, S.IN_PROGRESS, S.SUBMITTED, S.BLOCKED, S.PAUSED})
CLOSED_STATES = frozenset({S.DONE, S.CANCELLED})

# action -> (states it may start from, state it leads to; None keeps the state)
TRANSITIONS: dict[Action, tuple[frozenset[S], S | None]] = {
    Action.START: (frozenset({S.NOT_STARTED}), S.IN_PROGRESS),
    # A unit may report its work done without having said it started.
    Action.SUBMIT: (frozenset({S.NOT_STARTED, S.IN_PROGRESS}), S.SUBMITTED),
    Action.CONFIRM: (frozenset({S.SUBMITTED}), S.DONE),
    Action.RETURN: (frozenset({S.SUBMITTED}), S.IN_PROGRESS),
    Action.BLOCK: (frozenset({S.NOT_STARTED, S.IN_PROGRESS}), S.BLOCKED),
    Action.UNBLOCK: (frozenset({S.BLOCKED}), S.IN_PROGRESS),
    Action.PAUSE: (frozenset({S.NOT_STARTED, S.IN_PROGRESS, S.BLOCKED}), S.PAUSED),
    Action.RESUME: (frozenset({S.PAUSED}), S.IN_PROGRESS),
    Action.CANCEL: (OPEN_STATES, S.CANCELLED),
    Action.EXTEND: (OPEN_STATES, None),
}

STATE_LABELS: dict[S, str] = {
    S.NOT_STARTED: "Chưa bắt đầu",
    S.IN_PROGRESS: "Đang thực hiện",
    S.SUBMITTED: "Chờ xác nhận",
    S.DONE: "Hoàn thành",
    S.BLOCKED: "Vướng mắc",
    S.PAUSED: "Tạm dừng",
    S.CANCELLED: "Đã hủy",
}

TIMELINESS_LABELS: dict[T, str] = {
    T.DONE_ON_TIME: "Hoàn thành đúng hạn",
    T.DONE_LATE: "Hoàn thành quá hạn",
    T.OPEN_IN_TIME: "Trong hạn",
    T.DUE_SOON: "Sắp đến hạn",
    T.OVERDUE: "Quá hạn",
    T.NO_DEADLINE: "Chưa có thời hạn",
}

ACTION_LABELS: dict[Action, str] = {
    Action.START: "bắt đầu",
    Action.SUBMIT: "báo cáo hoàn thành",
    Action.CONFIRM: "xác nhận hoàn thành",
    Action.RETURN: "trả lại",
    Action.BLOCK: "báo vướng mắc",
    Action.UNBLOCK: "gỡ vướng mắc",
    Action.PAUSE: "tạm dừng",
    Action.RESUME: "tiếp tục",
    Action.CANCEL: "hủy",
    Action.EXTEND: "gia hạn",
}


class IllegalTransition(InvalidInput):
    """An action that the assignment's current state does not allow."""

    def __init__(self, action: Action, state: S) -> None:
        self.action = action
        self.state = state
        super().__init__(
            f"Không thể {ACTION_LABELS[action]} nhiệm vụ đang ở trạng thái “{STATE_LABELS[state]}”."
        )


def next_state(state: S, action: Action) -> S:
    """The state ``action`` leads to from ``state``; raises ``IllegalTransition``."""
    allowed_from, target = TRANSITIONS[action]
    if state not in allowed_from:
        raise IllegalTransition(action, state)
    return state if target is None else target


def is_late(
    state: S, due: dt.date | None, today: dt.date, submitted_on: dt.date | None = None
) -> bool:
    """The one definition of late for open work, used by timeliness and by the at-risk notes.

    Work handed in for confirmation is judged by its submission day: submitted on time, it is
    not late however long the coordinator takes to confirm it.
    """
    if due is None or state in (S.DONE, S.CANCELLED, S.PAUSED):
        return False
    if state is S.SUBMITTED and submitted_on is not None:
        return submitted_on > due
    return today > due


def missed_the_event(due: dt.date | None, event_date: dt.date | None, today: dt.date) -> bool:
    """Work due on or before the event, once the event has passed (if still open, it was not
    done in time for the event). The rule of docs/plan-file.md ("After the event"): such work
    gets no more reminders, one ``event_passed`` notice, and reports say so."""
    return due is not None and event_date is not None and due <= event_date < today


def timeliness(
    state: S,
    due: dt.date | None,
    today: dt.date,
    calendar: WorkCalendar,
    *,
    completed_on: dt.date | None = None,
    submitted_on: dt.date | None = None,
) -> T | None:
    """The Government Office's class of one assignment; None for cancelled or paused work.

    Done work is judged by the day its accepted result was submitted. Submitted work awaiting
    confirmation is judged by its submission day, so a unit is not counted late for the time
    the coordinator takes to confirm.
    """
    if state in (S.CANCELLED, S.PAUSED):
        return None
    if state is S.DONE:
        if due is None or completed_on is None or completed_on <= due:
            return T.DONE_ON_TIME
        return T.DONE_LATE
    if due is None:
        return T.NO_DEADLINE
    if is_late(state, due, today, submitted_on):
        return T.OVERDUE
    if state is S.SUBMITTED and submitted_on is not None:
        return T.OPEN_IN_TIME
    if calendar.working_days_between(today, due) <= DUE_SOON_WORKING_DAYS:
        return T.DUE_SOON
    return T.OPEN_IN_TIME
