"""Deadline rules, the dependency graph, critical path, slack and risk (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from models.enums import AssignmentState as S
from models.enums import DayUnit, DeadlineKind
from tracking.calendar import WorkCalendar
from tracking.schedule import (
    CycleError,
    Rule,
    at_risk,
    critical_path,
    resolve_all,
    resolve_rule,
    topological_order,
)

D = dt.date
CAL = WorkCalendar()
EVENT = D(2024, 3, 15)  # a Friday, four weeks after Tết 2024


def event_rule(offset: int, unit: DayUnit = DayUnit.WORKING) -> Rule[str]:
    return Rule(DeadlineKind.EVENT, offset=offset, unit=unit)


def test_topological_order_puts_prerequisites_first() -> None:
    prereqs = {"c": {"a", "b"}, "b": {"a"}, "a": set(), "d": set()}
    order = topological_order(["c", "d", "b", "a"], prereqs)
    assert order.index("a") < order.index("b") < order.index("c")
    assert sorted(order) == ["a", "b", "c", "d"]


def test_cycle_is_named_in_order() -> None:
    prereqs = {"a": {"c"}, "b": {"a"}, "c": {"b"}, "x": set()}
    with pytest.raises(CycleError) as caught:
        topological_order(["x", "a", "b", "c"], prereqs)
    loop = [str(key) for key in caught.value.cycle]
    assert sorted(loop) == ["a", "b", "c"]
    assert "phụ thuộc vòng tròn" in str(caught.value)
    # Each step of the loop named is a real dependency edge.
    for here, there in zip(loop, [*loop[1:], loop[0]], strict=True):
        assert there in prereqs[here]


def test_self_loop_is_a_cycle() -> None:
    with pytest.raises(CycleError):
        topological_order(["a"], {"a": {"a"}})


def test_deep_chain_does_not_hit_recursion_limit() -> None:
    n = 5000
    prereqs = {i: ({i - 1} if i else set()) for i in range(n)}
    assert topological_order(list(reversed(range(n))), prereqs) == list(range(n))


def test_event_relative_working_days_skip_tet() -> None:
    # 30 working days before 15/03/2024 crosses Tết (08–14/02/2024): 26/01/2024.
    assert resolve_rule(event_rule(-30), EVENT, None, CAL) == D(2024, 1, 26)
    assert resolve_rule(event_rule(-5), EVENT, None, CAL) == D(2024, 3, 8)
    assert resolve_rule(event_rule(0), EVENT, None, CAL) == EVENT
    assert resolve_rule(event_rule(1), EVENT, None, CAL) == D(2024, 3, 18)  # Monday


def test_event_relative_is_empty_until_the_date_is_set() -> None:
    assert resolve_rule(event_rule(-10), None, None, CAL) is None


def test_calendar_days_roll_to_a_working_day() -> None:
    # 15/03/2024 + 1 calendar day is a Saturday: moves on to Monday.
    assert resolve_rule(event_rule(1, DayUnit.CALENDAR), EVENT, None, CAL) == D(2024, 3, 18)
    # 15/03/2024 - 6 calendar days is a Saturday: before the event it moves back to Friday.
    assert resolve_rule(event_rule(-6, DayUnit.CALENDAR), EVENT, None, CAL) == D(2024, 3, 8)


def test_absolute_date_on_a_day_off_moves_to_the_next_working_day() -> None:
    rule: Rule[str] = Rule(DeadlineKind.DATE, date=D(2024, 2, 10))  # first day of Tết
    assert resolve_rule(rule, None, None, CAL) == D(2024, 2, 15)


def test_after_prerequisite_counts_from_its_due_date() -> None:
    rules = {
        "list": event_rule(-12),
        "invite": Rule(DeadlineKind.AFTER, offset=2, after="list"),
    }
    due = resolve_all(["list", "invite"], rules, EVENT, CAL)
    assert due["list"] == D(2024, 2, 28)
    assert due["invite"] == D(2024, 3, 1)


def test_after_prerequisite_follows_an_extension() -> None:
    rules = {"a": event_rule(-12), "b": Rule(DeadlineKind.AFTER, offset=1, after="a")}
    due = resolve_all(["a", "b"], rules, EVENT, CAL, fixed={"a": D(2024, 3, 4)})
    assert due == {"a": D(2024, 3, 4), "b": D(2024, 3, 5)}


def test_event_date_change_moves_every_relative_deadline() -> None:
    rules = {"a": event_rule(-3), "b": Rule(DeadlineKind.AFTER, offset=1, after="a")}
    first = resolve_all(["a", "b"], rules, EVENT, CAL)
    later = resolve_all(["a", "b"], rules, D(2024, 3, 22), CAL)
    assert later["a"] == first["a"] + dt.timedelta(days=7)  # type: ignore[operator]
    assert later["b"] == first["b"] + dt.timedelta(days=7)  # type: ignore[operator]


def _chain() -> tuple[list[str], dict[str, dt.date | None], dict[str, set[str]]]:
    # produce (−12) → review (−7) → conference (0); a side task (−10) → conference;
    # after it: news (0) and a report (+1).
    due: dict[str, dt.date | None] = {
        "produce": D(2024, 2, 28),
        "review": D(2024, 3, 6),
        "side": D(2024, 3, 1),
        "conference": EVENT,
        "report": D(2024, 3, 18),
        "news": EVENT,  # reporting on the conference, the same day
    }
    prereqs = {
        "produce": set(),
        "review": {"produce"},
        "side": set(),
        "conference": {"review", "side"},
        "report": {"conference"},
        "news": {"conference"},
    }
    order = topological_order(list(due), prereqs)
    return order, due, prereqs


def test_critical_path_and_slack() -> None:
    order, due, prereqs = _chain()
    result = critical_path(order, due, prereqs, EVENT, CAL)
    assert result.path == ["produce", "review", "conference"]
    assert result.slack["conference"] == 0
    assert result.slack["review"] == 0
    # side is due 01/03, the conference's latest prerequisite 06/03: 3 working days of room.
    assert result.slack["side"] == 3
    assert result.slack["report"] is None  # after the event: not on the way to it
    assert result.slack["news"] is None  # due on the event day, but reports on the event


def test_negative_slack_when_a_prerequisite_is_due_after_its_dependent() -> None:
    order, due, prereqs = _chain()
    due["produce"] = D(2024, 3, 8)  # after review's own due date (06/03)
    result = critical_path(order, due, prereqs, EVENT, CAL)
    assert result.slack["produce"] == -2
    assert "produce" in result.path


def test_no_event_date_means_no_critical_path() -> None:
    order, due, prereqs = _chain()
    result = critical_path(order, due, prereqs, None, CAL)
    assert result.path == []
    assert set(result.slack.values()) == {None}


def test_dependents_of_a_late_prerequisite_are_at_risk_transitively() -> None:
    order, due, prereqs = _chain()
    states = dict.fromkeys(due, S.IN_PROGRESS)
    today = D(2024, 2, 29)  # produce was due 28/02 and is not done
    risk = at_risk(order, due, prereqs, states, today)
    assert set(risk) == {"review", "conference", "report", "news"}
    assert "produce đã quá hạn" in risk["review"]
    assert "review có nguy cơ chậm" in risk["conference"]


def test_done_prerequisite_is_no_risk() -> None:
    order, due, prereqs = _chain()
    states = dict.fromkeys(due, S.IN_PROGRESS)
    states["produce"] = S.DONE
    assert at_risk(order, due, prereqs, states, D(2024, 2, 29)) == {}


def test_blocked_prerequisite_puts_dependents_at_risk() -> None:
    order, due, prereqs = _chain()
    states = dict.fromkeys(due, S.NOT_STARTED)
    states["side"] = S.BLOCKED
    risk = at_risk(order, due, prereqs, states, D(2024, 2, 1))
    assert risk["conference"] == "side đang vướng mắc"


def test_a_prerequisite_submitted_on_time_is_not_called_late() -> None:
    # produce (due 28/02) was submitted on 27/02 and awaits confirmation: its own status says
    # "Chờ xác nhận (trong hạn)", so its dependents' note must not say "đã quá hạn".
    order, due, prereqs = _chain()
    states = dict.fromkeys(due, S.IN_PROGRESS)
    states["produce"] = S.SUBMITTED
    today = D(2024, 3, 1)
    on_time = at_risk(order, due, prereqs, states, today, submitted_on={"produce": D(2024, 2, 27)})
    assert on_time["review"] == "produce đang chờ xác nhận"
    late = at_risk(order, due, prereqs, states, today, submitted_on={"produce": D(2024, 2, 29)})
    assert late["review"] == "produce đã quá hạn"


def test_no_slack_for_closed_work_nor_after_the_event() -> None:
    order, due, prereqs = _chain()
    before = critical_path(order, due, prereqs, EVENT, CAL, today=D(2024, 3, 1), closed={"produce"})
    assert before.slack["produce"] is None and "produce" not in before.path
    assert before.slack["review"] == 0
    after = critical_path(order, due, prereqs, EVENT, CAL, today=EVENT + dt.timedelta(days=1))
    assert after.path == [] and set(after.slack.values()) == {None}
