"""Tests for tracking.calendar: the Vietnamese public-sector working calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import holidays
import pytest

from tracking import calendar as calendar_module
from tracking.calendar import OutOfRange, WorkCalendar

D = dt.date
CAL = WorkCalendar()  # shared on purpose: a calendar is meant to be reused


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [D.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1)]


# ---- weekends ------------------------------------------------------------------------


def test_weekends_are_off_and_weekdays_work() -> None:
    assert not CAL.is_working_day(D(2024, 3, 9))  # Saturday
    assert not CAL.is_working_day(D(2024, 3, 10))  # Sunday
    assert CAL.day_off_name(D(2024, 3, 9)) == "Thứ Bảy"
    assert CAL.day_off_name(D(2024, 3, 10)) == "Chủ nhật"
    for day in _days(D(2024, 3, 11), D(2024, 3, 15)):  # Monday..Friday
        assert CAL.is_working_day(day)
        assert CAL.day_off_name(day) is None


def test_friday_plus_one_is_monday() -> None:
    assert CAL.add_working_days(D(2024, 3, 8), 1) == D(2024, 3, 11)
    assert CAL.add_working_days(D(2024, 3, 8), 5) == D(2024, 3, 15)


# ---- Tết -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "before", "after"),
    [
        # 2024: 29 Tết (Thu) to Mùng năm (Wed).
        (D(2024, 2, 8), D(2024, 2, 14), D(2024, 2, 7), D(2024, 2, 15)),
        # 2025: includes Saturday 1 February (Mùng bốn); the Friday before is working.
        (D(2025, 1, 27), D(2025, 2, 1), D(2025, 1, 24), D(2025, 2, 3)),
        # 2026: Giao thừa (Mon) to Mùng bốn (Fri).
        (D(2026, 2, 16), D(2026, 2, 20), D(2026, 2, 13), D(2026, 2, 23)),
    ],
)
def test_tet_block_is_off(first: dt.date, last: dt.date, before: dt.date, after: dt.date) -> None:
    for day in _days(first, last):
        assert not CAL.is_working_day(day), day
    assert CAL.is_working_day(before)
    assert CAL.is_working_day(after)
    assert CAL.add_working_days(before, 1) == after
    assert CAL.add_working_days(after, -1) == before
    assert CAL.working_days_in(before, after) == [before, after]


def test_tet_2024_exact_example() -> None:
    assert CAL.add_working_days(D(2024, 2, 7), 1) == D(2024, 2, 15)


def test_tet_saturday_2025_is_named_as_tet_not_as_saturday() -> None:
    name = CAL.day_off_name(D(2025, 2, 1))
    assert name is not None
    assert "Tết" in name


# ---- Hùng Kings ----------------------------------------------------------------------


def test_hung_kings_2024() -> None:
    assert not CAL.is_working_day(D(2024, 4, 18))  # Thursday
    name = CAL.day_off_name(D(2024, 4, 18))
    assert name is not None
    assert "Hùng Vương" in name
    assert CAL.add_working_days(D(2024, 4, 17), 1) == D(2024, 4, 19)


def test_hung_kings_2026_on_sunday_is_observed_monday() -> None:
    assert D(2026, 4, 26).weekday() == 6
    assert not CAL.is_working_day(D(2026, 4, 26))
    assert not CAL.is_working_day(D(2026, 4, 27))
    name = CAL.day_off_name(D(2026, 4, 27))
    assert name is not None
    assert "Hùng Vương" in name
    assert CAL.add_working_days(D(2026, 4, 24), 1) == D(2026, 4, 28)


# ---- announced swaps -----------------------------------------------------------------


def test_2024_swap_monday_off_saturday_working() -> None:
    assert not CAL.is_working_day(D(2024, 4, 29))
    assert CAL.is_working_day(D(2024, 5, 4))  # make-up Saturday
    assert CAL.day_off_name(D(2024, 5, 4)) is None
    # Fri 26/4 -> (27-28 weekend, 29 swap, 30/4, 1/5 holidays) -> Thu 2/5.
    assert CAL.add_working_days(D(2024, 4, 26), 1) == D(2024, 5, 2)
    assert CAL.add_working_days(D(2024, 4, 26), 3) == D(2024, 5, 4)
    assert CAL.add_working_days(D(2024, 4, 26), 4) == D(2024, 5, 6)
    assert CAL.add_working_days(D(2024, 5, 6), -1) == D(2024, 5, 4)
    assert CAL.working_days_between(D(2024, 4, 26), D(2024, 5, 6)) == 4


def test_2025_swap_friday_off_saturday_working() -> None:
    assert not CAL.is_working_day(D(2025, 5, 2))
    assert CAL.is_working_day(D(2025, 4, 26))  # make-up Saturday
    assert CAL.add_working_days(D(2025, 4, 25), 1) == D(2025, 4, 26)
    # Tue 29/4 -> (30/4, 1/5, 2/5 off; 3-4 weekend) -> Mon 5/5.
    assert CAL.add_working_days(D(2025, 4, 29), 1) == D(2025, 5, 5)


def test_swap_day_name_is_vietnamese() -> None:
    name = CAL.day_off_name(D(2024, 4, 29))
    assert name is not None
    assert "04/05/2024" in name  # "Ngày nghỉ (thay cho ngày 04/05/2024)"


def test_working_day_count_of_2024() -> None:
    # 366 days - 104 weekend days - 12 weekday holidays + 1 make-up Saturday.
    days = CAL.working_days_in(D(2024, 1, 1), D(2024, 12, 31))
    assert len(days) == 251
    assert days == sorted(days)
    assert CAL.working_days_between(D(2023, 12, 31), D(2024, 12, 31)) == 251


# ---- Civil Code counting -------------------------------------------------------------


def test_first_day_is_not_counted() -> None:
    monday = D(2024, 3, 11)
    assert CAL.add_working_days(monday, 1) == D(2024, 3, 12)
    assert CAL.working_days_between(monday, monday) == 0
    assert CAL.working_days_between(monday, D(2024, 3, 12)) == 1


def test_counting_from_a_day_off_starts_at_the_next_working_day() -> None:
    saturday = D(2024, 3, 9)
    assert CAL.add_working_days(saturday, 1) == D(2024, 3, 11)
    assert CAL.add_working_days(saturday, 2) == D(2024, 3, 12)


def test_add_zero_rolls_a_day_off_forward_and_keeps_a_working_day() -> None:
    assert CAL.add_working_days(D(2024, 3, 9), 0) == D(2024, 3, 11)
    assert CAL.add_working_days(D(2024, 2, 10), 0) == D(2024, 2, 15)
    assert CAL.add_working_days(D(2024, 3, 12), 0) == D(2024, 3, 12)


def test_negative_counts() -> None:
    assert CAL.add_working_days(D(2024, 3, 11), -1) == D(2024, 3, 8)
    assert CAL.add_working_days(D(2024, 3, 9), -1) == D(2024, 3, 8)  # from a Saturday
    assert CAL.add_working_days(D(2024, 2, 15), -1) == D(2024, 2, 7)
    assert CAL.add_working_days(D(2024, 2, 15), -2) == D(2024, 2, 6)


def test_next_and_previous_working_day() -> None:
    assert CAL.next_working_day(D(2024, 2, 10)) == D(2024, 2, 15)
    assert CAL.previous_working_day(D(2024, 2, 10)) == D(2024, 2, 7)
    assert CAL.next_working_day(D(2024, 3, 12)) == D(2024, 3, 12)
    assert CAL.previous_working_day(D(2024, 3, 12)) == D(2024, 3, 12)
    # Across a year boundary, in both directions (1 January is a holiday).
    assert CAL.next_working_day(D(2024, 12, 31)) == D(2024, 12, 31)
    assert CAL.next_working_day(D(2025, 1, 1)) == D(2025, 1, 2)
    assert CAL.previous_working_day(D(2025, 1, 1)) == D(2024, 12, 31)


# ---- working_days_between ------------------------------------------------------------


def test_working_days_between_both_directions() -> None:
    assert CAL.working_days_between(D(2024, 2, 7), D(2024, 2, 15)) == 1
    assert CAL.working_days_between(D(2024, 2, 15), D(2024, 2, 7)) == -1
    assert CAL.working_days_between(D(2024, 3, 8), D(2024, 3, 15)) == 5
    assert CAL.working_days_between(D(2024, 3, 15), D(2024, 3, 8)) == -5
    # Across New Year: 1/1/2025 is off, 2/1 is working.
    assert CAL.working_days_between(D(2024, 12, 31), D(2025, 1, 2)) == 1


def test_working_days_between_days_off() -> None:
    # Both ends off: only working days strictly inside count.
    assert CAL.working_days_between(D(2024, 2, 10), D(2024, 2, 17)) == 2  # 15, 16
    assert CAL.working_days_between(D(2024, 2, 10), D(2024, 2, 11)) == 0


def test_add_and_between_agree_exhaustively_2023_to_2027() -> None:
    cal = WorkCalendar()
    checked = 0
    for start in _days(D(2023, 1, 1), D(2027, 12, 31)):
        if not cal.is_working_day(start):
            continue
        for n in range(-30, 31):
            target = cal.add_working_days(start, n)
            assert cal.working_days_between(start, target) == n, (start, n)
            assert cal.is_working_day(target)
            checked += 1
    assert checked > 1000 * 61


def test_add_and_between_agree_property() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    cal = WorkCalendar()

    def check(day: dt.date, n: int) -> None:
        start = cal.next_working_day(day)
        target = cal.add_working_days(start, n)
        assert cal.working_days_between(start, target) == n
        assert (target > start) == (n > 0)
        assert (target < start) == (n < 0)

    # Applied as calls, not decorators: hypothesis is imported dynamically (Any) so the
    # test is skipped, not the whole file broken, where it is missing. database=None keeps
    # the run from writing a .hypothesis/ directory into the repo.
    given = hypothesis.given(
        st.dates(min_value=D(1991, 1, 1), max_value=D(2099, 12, 31)),
        st.integers(min_value=-30, max_value=30),
    )
    run = hypothesis.settings(max_examples=200, deadline=None, database=None)(given(check))
    run()


def test_working_days_in() -> None:
    assert CAL.working_days_in(D(2024, 2, 5), D(2024, 2, 16)) == [
        D(2024, 2, 5),
        D(2024, 2, 6),
        D(2024, 2, 7),
        D(2024, 2, 15),
        D(2024, 2, 16),
    ]
    assert CAL.working_days_in(D(2024, 2, 16), D(2024, 2, 5)) == []
    assert CAL.working_days_in(D(2024, 2, 10), D(2024, 2, 10)) == []
    assert CAL.working_days_in(D(2024, 5, 4), D(2024, 5, 4)) == [D(2024, 5, 4)]


# ---- overrides -----------------------------------------------------------------------


def test_override_makes_a_sunday_working() -> None:
    sunday = D(2027, 3, 7)
    cal = WorkCalendar({sunday: True})
    assert cal.is_working_day(sunday)
    assert cal.day_off_name(sunday) is None
    assert cal.add_working_days(D(2027, 3, 5), 1) == sunday
    assert not CAL.is_working_day(sunday)  # other calendars are unaffected


def test_override_makes_a_working_day_off() -> None:
    monday = D(2027, 3, 8)
    cal = WorkCalendar({monday: False}, {monday: "Nghỉ bù ngày 06/03/2027"})
    assert not cal.is_working_day(monday)
    assert cal.day_off_name(monday) == "Nghỉ bù ngày 06/03/2027"
    assert cal.add_working_days(D(2027, 3, 5), 1) == D(2027, 3, 9)
    assert cal.working_days_between(D(2027, 3, 5), D(2027, 3, 9)) == 1
    assert CAL.is_working_day(monday)


def test_override_off_without_a_name() -> None:
    cal = WorkCalendar({D(2027, 3, 8): False, D(2027, 3, 6): False})
    assert cal.day_off_name(D(2027, 3, 8)) == "Nghỉ bù"
    assert cal.day_off_name(D(2027, 3, 6)) == "Thứ Bảy"  # already off: official reason kept


def test_override_wins_over_holiday_and_make_up_saturday() -> None:
    cal = WorkCalendar({D(2024, 2, 12): True, D(2024, 5, 4): False})
    assert cal.is_working_day(D(2024, 2, 12))
    assert cal.add_working_days(D(2024, 2, 7), 1) == D(2024, 2, 12)
    assert not cal.is_working_day(D(2024, 5, 4))
    assert cal.add_working_days(D(2024, 5, 3), 1) == D(2024, 5, 6)


def test_override_name_without_override_is_rejected() -> None:
    with pytest.raises(ValueError, match="no override"):
        WorkCalendar({}, {D(2027, 3, 8): "Nghỉ"})


def test_override_input_is_copied() -> None:
    table = {D(2027, 3, 8): False}
    cal = WorkCalendar(table)
    table[D(2027, 3, 8)] = True
    assert not cal.is_working_day(D(2027, 3, 8))


# ---- names ---------------------------------------------------------------------------


def test_day_off_names_are_vietnamese() -> None:
    tet = CAL.day_off_name(D(2024, 2, 10))
    assert tet is not None
    assert "Tết" in tet
    assert CAL.day_off_name(D(2024, 1, 1)) == "Tết Dương lịch"
    national = CAL.day_off_name(D(2024, 9, 2))
    assert national is not None
    assert "Quốc khánh" in national


# ---- errors --------------------------------------------------------------------------


@pytest.mark.parametrize("day", [D(1989, 12, 31), D(2101, 1, 1)])
def test_year_out_of_range_raises(day: dt.date) -> None:
    with pytest.raises(OutOfRange, match="1990–2100"):
        CAL.is_working_day(day)
    with pytest.raises(OutOfRange, match=f"năm {day.year} nằm ngoài"):
        CAL.add_working_days(day, 1)


def test_counting_past_the_supported_range_raises() -> None:
    assert CAL.add_working_days(D(2100, 12, 1), 5) < D(2101, 1, 1)
    with pytest.raises(OutOfRange, match="năm 2101"):
        CAL.add_working_days(D(2100, 12, 1), 100)
    with pytest.raises(OutOfRange, match="năm 1989"):
        CAL.add_working_days(D(1990, 1, 10), -100)


def test_counting_between_dates_beyond_the_range_counts_to_its_edge() -> None:
    """A stored date beyond the calendar (an older version let 31/12/9999 through) must not
    make reading a plan fail: the count stops at the range's edge."""
    to_the_edge = CAL.working_days_between(D(2100, 1, 1), D(2100, 12, 31))
    assert CAL.working_days_between(D(2100, 1, 1), D(9999, 12, 31)) == to_the_edge
    assert CAL.working_days_between(D(9999, 12, 31), D(2100, 1, 1)) == -to_the_edge
    assert CAL.working_days_in(D(2100, 12, 30), D(9999, 1, 1)) == [D(2100, 12, 30), D(2100, 12, 31)]
    assert CAL.working_days_in(D(2101, 1, 1), D(9999, 1, 1)) == []


def test_override_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="1985"):
        WorkCalendar({D(1985, 1, 1): True})


def test_datetime_is_rejected() -> None:
    with pytest.raises(TypeError, match="local_day"):
        CAL.is_working_day(dt.datetime(2024, 3, 11, 9, 0))
    with pytest.raises(TypeError):
        WorkCalendar({dt.datetime(2024, 3, 11): True})


# ---- performance shape ---------------------------------------------------------------


def _exercise(cal: WorkCalendar) -> list[Any]:
    answers: list[Any] = []
    for offset in range(0, 700, 7):
        start = D(2024, 1, 1) + dt.timedelta(days=offset)
        answers.append(cal.add_working_days(start, 20))
        answers.append(cal.working_days_between(start, start + dt.timedelta(days=40)))
        answers.append(cal.day_off_name(start))
    return answers


@pytest.fixture
def counted_holidays(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Any]]:
    """Counts the years asked of ``holidays``, with a fresh disk cache in ``tmp_path``."""
    built: list[Any] = []
    real_factory = holidays.country_holidays

    def counting_factory(country: str, **kwargs: Any) -> holidays.HolidayBase:
        built.append(kwargs.get("years"))
        return real_factory(country, **kwargs)

    monkeypatch.setattr(holidays, "country_holidays", counting_factory)
    monkeypatch.setenv("GIAOVIEC_CACHE_DIR", str(tmp_path / "cache"))
    calendar_module._official_year.cache_clear()
    calendar_module._disk_cache.cache_clear()
    yield built
    calendar_module._official_year.cache_clear()
    calendar_module._disk_cache.cache_clear()


def _new_process() -> None:
    """What a new command starts with: no year in memory (the disk cache stays)."""
    calendar_module._official_year.cache_clear()
    calendar_module._disk_cache.cache_clear()


def test_holidays_built_once_per_year_across_calendars(counted_holidays: list[Any]) -> None:
    answers = [_exercise(WorkCalendar()) for _ in range(3)]
    assert sorted(counted_holidays) == [2024, 2025, 2026]
    assert answers[0] == answers[1] == answers[2]


def test_later_commands_read_the_years_from_the_disk_cache(
    counted_holidays: list[Any], tmp_path: Path
) -> None:
    first = _exercise(WorkCalendar())
    assert sorted(counted_holidays) == [2024, 2025, 2026]
    files = list((tmp_path / "cache").glob("holidays-vn-*.json"))
    assert len(files) == 1 and holidays.__version__ in files[0].name  # type: ignore[attr-defined]
    _new_process()
    assert _exercise(WorkCalendar()) == first  # same answers, Tết and swaps included…
    assert len(counted_holidays) == 3  # …without asking holidays again


def test_a_damaged_cache_is_ignored_and_rewritten(
    counted_holidays: list[Any], tmp_path: Path
) -> None:
    first = _exercise(WorkCalendar())
    (cache_file,) = (tmp_path / "cache").glob("holidays-vn-*.json")
    cache_file.write_text('{"2024": {"off": 7}, "2025": [', encoding="utf-8")
    _new_process()
    assert _exercise(WorkCalendar()) == first
    assert sorted(counted_holidays) == [2024, 2024, 2025, 2025, 2026, 2026]
    _new_process()
    assert _exercise(WorkCalendar()) == first
    assert len(counted_holidays) == 6  # the rewritten file serves the next command
