"""The plan's timeline (Gantt) as plain geometry, drawn by a template as inline SVG.

One bar per assignment with a due date, from its earliest start to its due date:

- the earliest start is its latest prerequisite's due date; an assignment without
  prerequisites starts when the plan was activated, or, for a plan not yet activated, at the
  plan's first due date (the first moment anything is asked of anyone);
- bars are coloured by timeliness, critical bars outlined; arrows run from the end of each
  prerequisite to the start of its dependent; vertical lines mark today and the event.

Pure functions of the store's views, so they are tested without a browser.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

from models.dates import format_vn, in_calendar_range
from tracking.store import AssignmentView
from web.labels import timeliness_class, timeliness_label

LABEL_WIDTH = 92  # px for the codes at the left
ROW_HEIGHT = 26
BAR_HEIGHT = 14
AXIS_HEIGHT = 40
DAY_WIDTH = 9  # px per calendar day: a quarter fits a laptop; phones scroll sideways
MIN_BAR_WIDTH = 5  # a same-day assignment is still a visible mark
MARGIN_DAYS = 3
FOOTER_HEIGHT = 34  # two lines under the rows for the labels of the today and event lines
# "Today" is drawn only when it is near the plan, else a replayed 2024 plan would be squeezed
# into a timeline reaching to the real today.
TODAY_REACH = dt.timedelta(days=60)
# Rows drawn at most: past a few hundred, an SVG of every duty is megabytes and unreadable;
# the list (paged, sortable) shows the rest.
ROW_LIMIT = 200


@dataclasses.dataclass(frozen=True)
class Bar:
    id: int
    code: str
    title: str
    y: float
    x: float
    width: float
    start: dt.date
    due: dt.date
    css: str  # timeliness colour class
    critical: bool
    tooltip: str


@dataclasses.dataclass(frozen=True)
class Row:
    """A row label; every assignment has one, with a bar or not."""

    id: int
    code: str
    y: float
    has_bar: bool
    critical: bool


@dataclasses.dataclass(frozen=True)
class Arrow:
    path: str  # SVG path data
    critical: bool


@dataclasses.dataclass(frozen=True)
class Line:
    x: float
    label: str
    css: str
    label_y: float  # its own line under the rows, so two close dates never overlap


@dataclasses.dataclass(frozen=True)
class Tick:
    x: float
    label: str
    major: bool  # first of a month


@dataclasses.dataclass(frozen=True)
class Gantt:
    width: float
    height: float
    rows: tuple[Row, ...]
    bars: tuple[Bar, ...]
    arrows: tuple[Arrow, ...]
    lines: tuple[Line, ...]
    ticks: tuple[Tick, ...]
    first: dt.date | None
    last: dt.date | None
    left_out: int = 0  # assignments past ROW_LIMIT, not drawn

    @property
    def empty(self) -> bool:
        return not self.bars


def earliest_starts(
    views: Sequence[AssignmentView], root_start: dt.date | None
) -> dict[int, dt.date]:
    """Each dated assignment's earliest start (see the module doc)."""
    by_code = {v.code: v for v in views}
    first_due = min((v.due for v in views if v.due), default=None)
    fallback = root_start or first_due
    starts: dict[int, dt.date] = {}
    for view in views:
        if view.due is None:
            continue
        dues = [d for code in view.prerequisites if (d := _due_of(by_code, code)) is not None]
        start = max(dues) if dues else (fallback or view.due)
        # A prerequisite due after this assignment (flagged at risk) cannot move its start
        # past its own due date: the bar shrinks to a mark instead of running backwards.
        starts[view.id] = min(start, view.due)
    return starts


def _due_of(by_code: dict[str, AssignmentView], code: str) -> dt.date | None:
    view = by_code.get(code)
    return view.due if view else None


def build(
    views: Sequence[AssignmentView],
    root_start: dt.date | None,
    today: dt.date,
    event_date: dt.date | None,
    event_label: str = "Hội nghị",
    limit: int = ROW_LIMIT,
) -> Gantt:
    """The first ``limit`` assignments in plan order; starts still come from every one."""
    starts = earliest_starts(views, root_start)
    left_out = max(0, len(views) - limit)
    views = views[:limit]
    starts = {v.id: starts[v.id] for v in views if v.id in starts}  # the axis spans drawn bars
    dated = [v for v in views if v.due is not None]
    if not dated:
        labels = tuple(Row(v.id, v.code, _row_y(i), False, v.critical) for i, v in enumerate(views))
        return Gantt(LABEL_WIDTH, _row_y(len(views)), labels, (), (), (), (), None, None, left_out)
    first, last = _range(starts, dated, today, event_date)

    def x_of(day: dt.date) -> float:
        # Clipped to the axis: a date beyond the calendar stored by an older version is drawn
        # up to the edge, not millions of pixels away.
        return LABEL_WIDTH + (min(max(day, first), last) - first).days * DAY_WIDTH

    rows: list[Row] = []
    bars: list[Bar] = []
    for index, view in enumerate(views):
        y = _row_y(index)
        rows.append(Row(view.id, view.code, y, view.due is not None, view.critical))
        if view.due is None:
            continue
        start = starts[view.id]
        x = x_of(start)
        width = max(x_of(view.due) - x, MIN_BAR_WIDTH)
        bars.append(
            Bar(
                id=view.id,
                code=view.code,
                title=view.title,
                y=y + (ROW_HEIGHT - BAR_HEIGHT) / 2,
                x=x,
                width=width,
                start=start,
                due=view.due,
                css=timeliness_class(view.timeliness),
                critical=view.critical,
                tooltip=_tooltip(view, start),
            )
        )
    arrows = _arrows(views, bars)
    bottom = _row_y(len(views))
    lines: list[Line] = []
    if event_date is not None and first <= event_date <= last:
        label = f"{event_label} {format_vn(event_date)}"
        lines.append(Line(x_of(event_date), label, "event", bottom + 14))
    if first <= today <= last:
        lines.append(Line(x_of(today), f"Hôm nay {format_vn(today)}", "today", bottom + 29))
    # Room on the right for the last tick's label.
    width = x_of(last) + 6 * DAY_WIDTH
    return Gantt(
        width=width,
        height=bottom + FOOTER_HEIGHT,
        rows=tuple(rows),
        bars=tuple(bars),
        arrows=tuple(arrows),
        lines=tuple(lines),
        ticks=tuple(_ticks(first, last, x_of)),
        first=first,
        last=last,
        left_out=left_out,
    )


def _row_y(index: int) -> float:
    return AXIS_HEIGHT + index * ROW_HEIGHT


def _range(
    starts: dict[int, dt.date],
    dated: Sequence[AssignmentView],
    today: dt.date,
    event_date: dt.date | None,
) -> tuple[dt.date, dt.date]:
    days = [*starts.values(), *(v.due for v in dated if v.due is not None)]
    if event_date is not None:
        days.append(event_date)
    # Only days the calendar knows span the axis (see x_of); today is one of them.
    days = [day for day in days if in_calendar_range(day)] or [today]
    first, last = min(days), max(days)
    if first - TODAY_REACH <= today <= last + TODAY_REACH:
        first, last = min(first, today), max(last, today)
    margin = dt.timedelta(days=MARGIN_DAYS)
    return first - margin, last + margin


def _tooltip(view: AssignmentView, start: dt.date) -> str:
    parts = [
        f"{view.code}: {view.title}",
        f"Chủ trì: {view.lead_name}",
        f"Từ {format_vn(start)} đến hạn {format_vn(view.due)}",
        f"Tiến độ: {timeliness_label(view.timeliness)}",
    ]
    if view.slack is not None:
        parts.append(f"Dự phòng: {view.slack} ngày làm việc")
    return "\n".join(parts)


def _arrows(views: Sequence[AssignmentView], bars: Sequence[Bar]) -> list[Arrow]:
    """Elbow arrows: out of the prerequisite's end, down (or up), into the dependent's start."""
    by_code = {b.code: b for b in bars}
    arrows = []
    for view in views:
        target = by_code.get(view.code)
        if target is None:
            continue
        for code in view.prerequisites:
            source = by_code.get(code)
            if source is None:
                continue
            x1, y1 = source.x + source.width, source.y + BAR_HEIGHT / 2
            x2, y2 = target.x, target.y + BAR_HEIGHT / 2
            bend = max(x1, x2 - 6) if x2 - x1 >= 6 else x1 + 4
            path = f"M{x1:.1f},{y1:.1f} H{bend:.1f} V{y2:.1f} H{x2 - 1:.1f}"
            arrows.append(Arrow(path, source.critical and target.critical))
    return arrows


def _ticks(first: dt.date, last: dt.date, x_of: Callable[[dt.date], float]) -> list[Tick]:
    """A tick every Monday, labelled with the day; the first of each month labelled too."""
    ticks = []
    day = first
    while day <= last:
        if day.day == 1:
            ticks.append(Tick(x_of(day), f"Tháng {day.month}/{day.year}", True))
        elif day.weekday() == 0:
            ticks.append(Tick(x_of(day), f"{day.day:02d}/{day.month:02d}", False))
        day += dt.timedelta(days=1)
    return ticks
