"""What the pages show, computed from the store's views: counts, unit progress, lists.

Pure functions: the routes fetch, these shape, the templates draw.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from models.enums import AssignmentState, Timeliness
from services.progress import counted_units
from tracking.calendar import WorkCalendar
from tracking.store import AssignmentView
from web.labels import TIMELINESS_CLASS, TIMELINESS_ORDER, timeliness_label


@dataclasses.dataclass(frozen=True)
class Count:
    key: Timeliness
    label: str
    css: str
    n: int
    percent: int


@dataclasses.dataclass(frozen=True)
class Segment:
    css: str
    label: str
    n: int
    x: float  # percent of the bar
    width: float


@dataclasses.dataclass(frozen=True)
class UnitProgress:
    code: str
    name: str
    total: int
    done: int
    overdue: int
    segments: tuple[Segment, ...]

    @property
    def percent_done(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


@dataclasses.dataclass(frozen=True)
class Countdown:
    """How far the event is: calendar days and working days."""

    event_date: dt.date
    days: int
    working_days: int


def counts(views: Sequence[AssignmentView]) -> tuple[list[Count], int]:
    """The Government Office's split (paused and cancelled work is not counted) and the total."""
    tally = Counter(v.timeliness for v in views if v.timeliness is not None)
    total = sum(tally.values())
    result = [
        Count(
            key,
            timeliness_label(key),
            TIMELINESS_CLASS[key],
            tally.get(key, 0),
            round(100 * tally.get(key, 0) / total) if total else 0,
        )
        for key in _COUNT_ORDER
    ]
    return result, total


# Done first, as the Government Office's reports list them.
_COUNT_ORDER = (
    Timeliness.DONE_ON_TIME,
    Timeliness.DONE_LATE,
    Timeliness.OPEN_IN_TIME,
    Timeliness.DUE_SOON,
    Timeliness.OVERDUE,
    Timeliness.NO_DEADLINE,
)


def unit_progress(views: Sequence[AssignmentView]) -> list[UnitProgress]:
    """One stacked bar per lead unit (``services.progress``), segments in the counters' order."""
    result = []
    for unit in counted_units(views):
        segments, x = [], 0.0
        for key in _COUNT_ORDER:
            n = unit.count(key)
            if not n:
                continue
            width = 100 * n / unit.total
            segments.append(Segment(TIMELINESS_CLASS[key], timeliness_label(key), n, x, width))
            x += width
        result.append(
            UnitProgress(
                code=unit.code,
                name=unit.name,
                total=unit.total,
                done=unit.done,
                overdue=unit.overdue,
                segments=tuple(segments),
            )
        )
    return result


def urgent(views: Sequence[AssignmentView], kind: Timeliness) -> list[AssignmentView]:
    return sorted((v for v in views if v.timeliness is kind), key=_due_key)


def critical_path(views: Sequence[AssignmentView]) -> list[AssignmentView]:
    return sorted((v for v in views if v.critical), key=_due_key)


def _due_key(view: AssignmentView) -> tuple[dt.date, str]:
    return (view.due or dt.date.max, view.code)


def countdown(
    event_date: dt.date | None, today: dt.date, calendar: WorkCalendar
) -> Countdown | None:
    if event_date is None:
        return None
    working = (
        calendar.working_days_between(today, event_date)
        if event_date >= today
        else -calendar.working_days_between(event_date, today)
    )
    return Countdown(event_date, (event_date - today).days, working)


def day_distance(due: dt.date | None, today: dt.date, calendar: WorkCalendar) -> int | None:
    """Working days from today to ``due`` (negative when past)."""
    if due is None:
        return None
    if due >= today:
        return calendar.working_days_between(today, due)
    return -calendar.working_days_between(due, today)


# --- the list page ----------------------------------------------------------------------

SORT_KEYS = ("code", "due", "lead", "state", "timeliness", "slack")
SORT_LABELS = {
    "code": "Thứ tự kế hoạch",
    "due": "Thời hạn",
    "lead": "Đơn vị chủ trì",
    "state": "Trạng thái",
    "timeliness": "Tiến độ",
    "slack": "Dự phòng",
}
_STATE_ORDER = {state: i for i, state in enumerate(AssignmentState)}
_TIMELINESS_RANK = {key: i for i, key in enumerate(TIMELINESS_ORDER)}


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """The list page's filters and sort, as read from the query string."""

    unit: str | None = None
    state: AssignmentState | None = None
    timeliness: Timeliness | None = None
    sort: str = "code"
    descending: bool = False


def filter_and_sort(views: Sequence[AssignmentView], query: ListQuery) -> list[AssignmentView]:
    chosen = [
        v
        for v in views
        if (query.unit is None or v.lead == query.unit or query.unit in v.cooperating)
        and (query.state is None or v.state is query.state)
        and (query.timeliness is None or v.timeliness is query.timeliness)
    ]
    if query.sort == "code":
        # The plan's own order is the natural one; the store returns views in it.
        return chosen[::-1] if query.descending else chosen
    return sorted(chosen, key=_sort_key(query.sort), reverse=query.descending)


@dataclasses.dataclass(frozen=True)
class Paging:
    """One page of a list: rows ``first`` to ``last`` (exclusive) of ``count``."""

    number: int  # 1-based
    pages: int
    size: int
    count: int

    @classmethod
    def of(cls, count: int, asked: int, size: int) -> Paging:
        pages = max(1, -(-count // size))
        # A page past the end (a bookmark after work was confirmed) shows the last one.
        return cls(min(max(asked, 1), pages), pages, size, count)

    @property
    def first(self) -> int:
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        return min(self.first + self.size, self.count)


def _sort_key(sort: str) -> Callable[[AssignmentView], tuple[Any, str]]:
    # Ties always fall back to the code, so a sorted list is stable between reloads.
    def key(view: AssignmentView) -> tuple[Any, str]:
        if sort == "due":
            return (view.due or dt.date.max, view.code)
        if sort == "lead":
            return (view.lead_name, view.code)
        if sort == "state":
            return (_STATE_ORDER[view.state], view.code)
        if sort == "timeliness":
            rank = _TIMELINESS_RANK[view.timeliness] if view.timeliness else len(_TIMELINESS_RANK)
            return (rank, view.code)
        return (view.slack if view.slack is not None else 10**6, view.code)

    return key
