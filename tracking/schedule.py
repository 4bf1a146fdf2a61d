"""Deadlines, the dependency graph, the critical path to the event, slack and risk.

Pure functions over plain mappings keyed by any hashable id, so the same code serves the plan
loader (keys are assignment codes) and the store (keys are database ids).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

from models.dates import in_calendar_range
from models.enums import AssignmentState, DayUnit, DeadlineKind
from tracking.calendar import OutOfRange
from tracking.status import is_late

if TYPE_CHECKING:
    from tracking.calendar import WorkCalendar

K = TypeVar("K", bound=Hashable)

_CLOSED = frozenset({AssignmentState.DONE, AssignmentState.CANCELLED})


@dataclasses.dataclass(frozen=True, slots=True)
class Rule(Generic[K]):
    """A deadline rule: see ``models.planfile.DeadlineSpec`` for the written form."""

    kind: DeadlineKind = DeadlineKind.NONE
    date: dt.date | None = None
    offset: int | None = None  # days relative to the event, or after the prerequisite
    unit: DayUnit = DayUnit.WORKING
    after: K | None = None


class CycleError(ValueError):
    """The dependencies loop back on themselves; ``cycle`` lists the loop in order."""

    def __init__(self, cycle: list[Hashable]) -> None:
        self.cycle = cycle
        loop = " → ".join(str(key) for key in [*cycle, cycle[0]])
        super().__init__(f"phụ thuộc vòng tròn: {loop}")


def topological_order(nodes: Iterable[K], prerequisites: Mapping[K, Collection[K]]) -> list[K]:
    """Every node after all its prerequisites, ties in the given order; raises ``CycleError``."""
    order: list[K] = []
    state: dict[K, int] = {}  # 1 = on the current path, 2 = finished
    for root in nodes:
        if root in state:
            continue
        # Iterative depth-first search: plans can be deep, Python's stack is not.
        path: list[K] = [root]
        pending: list[list[K]] = [sorted_keys(prerequisites.get(root, ()))]
        state[root] = 1
        while path:
            if pending[-1]:
                nxt = pending[-1].pop()
                mark = state.get(nxt)
                if mark == 1:
                    raise CycleError(list(path[path.index(nxt) :]))
                if mark is None:
                    state[nxt] = 1
                    path.append(nxt)
                    pending.append(sorted_keys(prerequisites.get(nxt, ())))
                continue
            done = path.pop()
            pending.pop()
            state[done] = 2
            order.append(done)
    return order


def sorted_keys(keys: Collection[K]) -> list[K]:
    # Reverse-sorted so that pop() visits prerequisites in ascending order: stable output.
    return sorted(keys, key=str, reverse=True)


def resolve_rule(
    rule: Rule[K],
    event_date: dt.date | None,
    prerequisite_due: dt.date | None,
    calendar: WorkCalendar,
) -> dt.date | None:
    """One rule's due date, or None while what it hangs on (event date, prerequisite) is unset.

    Working days count by the Civil Code (the first day is not counted). A calendar-day
    deadline that lands on a day off moves to the next working day; one counted *before* the
    event moves to the previous working day instead, so it never slides past the event.
    """
    if rule.kind is DeadlineKind.DATE:
        return calendar.next_working_day(rule.date) if rule.date else None
    if rule.kind is DeadlineKind.EVENT:
        return _shift(event_date, rule.offset or 0, rule.unit, calendar)
    if rule.kind is DeadlineKind.AFTER:
        return _shift(prerequisite_due, rule.offset or 0, rule.unit, calendar)
    return None


def _shift(
    base: dt.date | None, days: int, unit: DayUnit, calendar: WorkCalendar
) -> dt.date | None:
    if base is None:
        return None
    if days == 0:
        return base  # "on the event day" is the event day, whatever day it is
    if not in_calendar_range(base):
        # A date stored before dates were checked (31/12/9999): nothing can be counted from
        # it, and adding calendar days could overflow Python's dates.
        raise OutOfRange(base.year)
    if unit is DayUnit.WORKING:
        return calendar.add_working_days(base, days)
    landed = base + dt.timedelta(days=days)
    if days > 0:
        return calendar.next_working_day(landed)
    return calendar.previous_working_day(landed)


def resolve_all(
    order: Iterable[K],
    rules: Mapping[K, Rule[K]],
    event_date: dt.date | None,
    calendar: WorkCalendar,
    fixed: Mapping[K, dt.date] | None = None,
) -> dict[K, dt.date | None]:
    """Due dates in force for every node of ``order`` (a topological order).

    ``fixed`` holds due dates set by hand (extensions); they win over the rule, and a rule
    "N days after X" counts from X's date in force, so an extension of X moves its dependents.
    """
    fixed = fixed or {}
    due: dict[K, dt.date | None] = {}
    for key in order:
        if key in fixed:
            due[key] = fixed[key]
            continue
        rule = rules.get(key) or Rule()
        base = due.get(rule.after) if rule.after is not None else None
        due[key] = resolve_rule(rule, event_date, base, calendar)
    return due


def dependents_of(prerequisites: Mapping[K, Collection[K]]) -> dict[K, list[K]]:
    result: dict[K, list[K]] = {}
    for node, prereqs in prerequisites.items():
        for prereq in prereqs:
            result.setdefault(prereq, []).append(node)
    return result


@dataclasses.dataclass(frozen=True)
class CriticalPath(Generic[K]):
    """Slack in working days per node (None: not on the way to the event) and the path."""

    slack: dict[K, int | None]
    path: list[K]


def critical_path(
    order: list[K],
    due: Mapping[K, dt.date | None],
    prerequisites: Mapping[K, Collection[K]],
    event_date: dt.date | None,
    calendar: WorkCalendar,
    *,
    today: dt.date | None = None,
    closed: Collection[K] = (),
) -> CriticalPath[K]:
    """The critical path method over due dates.

    A node's duration is the time its due date leaves after its latest prerequisite's, so
    ``slack(k) = min(working days from k's due date to the event, and for each dependent d:
    days from k's due date to d's latest start + slack(d))``. Zero slack is critical; a
    negative slack means k's date already pushes a dependent past its own due date. Work after
    the event (reporting, settlement) is not on the way to it: slack None.

    Slack is room left to finish: closed work (``closed``: done or cancelled) has none to
    speak of, and once the event has passed (``today`` after it) nothing is on the way to it
    any more, so both get None and no place on the path.
    """
    slack: dict[K, int | None] = dict.fromkeys(order)
    if event_date is None or (today is not None and today > event_date):
        return CriticalPath(slack, [])
    finished = set(closed)
    dependents = dependents_of(prerequisites)
    latest_start = {k: _latest_prerequisite_due(k, due, prerequisites) for k in order}
    after = _after_the_event(order, due, prerequisites, event_date)
    for key in reversed(order):
        own = due.get(key)
        if own is None or key in after or key in finished:
            continue
        best = calendar.working_days_between(own, event_date)
        for dep in dependents.get(key, ()):
            dep_slack, dep_due, start = slack.get(dep), due.get(dep), latest_start.get(dep)
            if dep_slack is None or dep_due is None or start is None:
                continue
            room = calendar.working_days_between(own, min(start, dep_due))
            best = min(best, room + dep_slack)
        slack[key] = best
    path = [k for k in order if slack[k] is not None and (slack[k] or 0) <= 0]
    return CriticalPath(slack, path)


def _after_the_event(
    order: list[K],
    due: Mapping[K, dt.date | None],
    prerequisites: Mapping[K, Collection[K]],
    event_date: dt.date,
) -> set[K]:
    """Work that happens after the event: due later, or waiting on work due on the event day
    (reporting on the conference itself) or on other work after the event."""
    after: set[K] = set()
    for key in order:
        own = due.get(key)
        if (own is not None and own > event_date) or any(
            p in after or due.get(p) == event_date for p in prerequisites.get(key, ())
        ):
            after.add(key)
    return after


def _latest_prerequisite_due(
    key: K, due: Mapping[K, dt.date | None], prerequisites: Mapping[K, Collection[K]]
) -> dt.date | None:
    dates = [d for p in prerequisites.get(key, ()) if (d := due.get(p)) is not None]
    return max(dates) if dates else None


def at_risk(
    order: list[K],
    due: Mapping[K, dt.date | None],
    prerequisites: Mapping[K, Collection[K]],
    states: Mapping[K, AssignmentState],
    today: dt.date,
    labels: Mapping[K, str] | None = None,
    submitted_on: Mapping[K, dt.date | None] | None = None,
) -> dict[K, str]:
    """Open nodes whose prerequisites have slipped, each with a Vietnamese reason.

    A prerequisite has slipped when it is still open and late (``status.is_late``: the same
    rule as its own timeliness, so work submitted on time is never called late here), awaits
    confirmation past its due date, is blocked, at risk itself, or due after the dependent.
    """
    labels = labels or {}
    submitted_on = submitted_on or {}
    risk: dict[K, str] = {}
    for key in order:
        if states.get(key) in _CLOSED:
            continue
        for prereq in sorted_keys(prerequisites.get(key, ()))[::-1]:
            reason = _slip_reason(prereq, key, due, states, today, risk, submitted_on)
            if reason:
                risk[key] = f"{labels.get(prereq, str(prereq))} {reason}"
                break
    return risk


def _slip_reason(
    prereq: K,
    key: K,
    due: Mapping[K, dt.date | None],
    states: Mapping[K, AssignmentState],
    today: dt.date,
    risk: Mapping[K, str],
    submitted_on: Mapping[K, dt.date | None],
) -> str | None:
    state = states.get(prereq)
    if state is None or state in _CLOSED:
        return None
    prereq_due, own_due = due.get(prereq), due.get(key)
    if is_late(state, prereq_due, today, submitted_on.get(prereq)):
        return "đã quá hạn"
    if state is AssignmentState.SUBMITTED and prereq_due is not None and today > prereq_due:
        return "đang chờ xác nhận"
    if states.get(prereq) is AssignmentState.BLOCKED:
        return "đang vướng mắc"
    if prereq in risk:
        return "có nguy cơ chậm"
    if prereq_due is not None and own_due is not None and prereq_due > own_due:
        return "có hạn sau hạn của nhiệm vụ này"
    return None
