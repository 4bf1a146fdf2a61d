"""The lifecycle state machine and the Government Office's timeliness split."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from models.enums import AssignmentState as S
from models.enums import Timeliness as T
from tracking.calendar import WorkCalendar
from tracking.status import TRANSITIONS, Action, IllegalTransition, next_state, timeliness

CAL = WorkCalendar()
DUE = dt.date(2024, 3, 15)  # Friday

LEGAL = {
    (S.NOT_STARTED, Action.START): S.IN_PROGRESS,
    (S.NOT_STARTED, Action.SUBMIT): S.SUBMITTED,
    (S.IN_PROGRESS, Action.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, Action.CONFIRM): S.DONE,
    (S.SUBMITTED, Action.RETURN): S.IN_PROGRESS,
    (S.NOT_STARTED, Action.BLOCK): S.BLOCKED,
    (S.IN_PROGRESS, Action.BLOCK): S.BLOCKED,
    (S.BLOCKED, Action.UNBLOCK): S.IN_PROGRESS,
    (S.NOT_STARTED, Action.PAUSE): S.PAUSED,
    (S.IN_PROGRESS, Action.PAUSE): S.PAUSED,
    (S.BLOCKED, Action.PAUSE): S.PAUSED,
    (S.PAUSED, Action.RESUME): S.IN_PROGRESS,
    **{
        (state, Action.CANCEL): S.CANCELLED
        for state in (S.NOT_STARTED, S.IN_PROGRESS, S.SUBMITTED, S.BLOCKED, S.PAUSED)
    },
    **{
        (state, Action.EXTEND): state
        for state in (S.NOT_STARTED, S.IN_PROGRESS, S.SUBMITTED, S.BLOCKED, S.PAUSED)
    },
}


@pytest.mark.parametrize(("state", "action"), list(itertools.product(S, Action)))
def test_every_state_and_action(state: S, action: Action) -> None:
    expected = LEGAL.get((state, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as caught:
            next_state(state, action)
        assert "Không thể" in str(caught.value)
    else:
        assert next_state(state, action) is expected


def test_transition_table_is_what_the_tests_expect() -> None:
    declared = {(s, a) for a, (sources, _) in TRANSITIONS.items() for s in sources}
    assert declared == set(LEGAL)


def test_closed_work_cannot_move() -> None:
    for action in Action:
        for state in (S.DONE, S.CANCELLED):
            with pytest.raises(IllegalTransition):
                next_state(state, action)


@pytest.mark.parametrize(
    ("state", "today", "completed", "expected"),
    [
        (S.DONE, DUE, DUE, T.DONE_ON_TIME),
        (S.DONE, DUE, dt.date(2024, 3, 18), T.DONE_LATE),
        (S.IN_PROGRESS, dt.date(2024, 3, 1), None, T.OPEN_IN_TIME),
        (S.IN_PROGRESS, dt.date(2024, 3, 12), None, T.DUE_SOON),  # 3 working days left
        (S.NOT_STARTED, dt.date(2024, 3, 11), None, T.OPEN_IN_TIME),  # 4 working days left
        (S.NOT_STARTED, DUE, None, T.DUE_SOON),  # due today
        (S.IN_PROGRESS, dt.date(2024, 3, 16), None, T.OVERDUE),
        (S.BLOCKED, dt.date(2024, 3, 18), None, T.OVERDUE),
        (S.SUBMITTED, dt.date(2024, 3, 20), DUE, T.OPEN_IN_TIME),  # submitted on time
        (S.SUBMITTED, dt.date(2024, 3, 20), dt.date(2024, 3, 19), T.OVERDUE),
        (S.CANCELLED, dt.date(2024, 3, 20), None, None),
        (S.PAUSED, dt.date(2024, 3, 20), None, None),
    ],
)
def test_timeliness(
    state: S, today: dt.date, completed: dt.date | None, expected: T | None
) -> None:
    got = timeliness(state, DUE, today, CAL, completed_on=completed, submitted_on=completed)
    assert got == expected


def test_due_soon_counts_working_days_not_calendar_days() -> None:
    # Due Monday 19/02/2024, after Tết (08–14/02): on Wednesday 07/02 twelve calendar days
    # remain but only three working days (15, 16, 19), so it is already due soon.
    due = dt.date(2024, 2, 19)
    assert CAL.working_days_between(dt.date(2024, 2, 7), due) == 3
    assert timeliness(S.IN_PROGRESS, due, dt.date(2024, 2, 7), CAL) is T.DUE_SOON
    assert timeliness(S.IN_PROGRESS, due, dt.date(2024, 2, 5), CAL) is T.OPEN_IN_TIME


def test_no_deadline() -> None:
    assert timeliness(S.IN_PROGRESS, None, DUE, CAL) is T.NO_DEADLINE
