"""Dates as people type them: ISO (2024-03-15) and Vietnamese (15/03/2024), within the years
the working calendar knows.

Every date that enters the system (plan files, web forms, links, ``--today`` and
GIAOVIEC_TODAY, the command line, simulation scripts, the importer's drafts) goes through
``parse_date`` or, when it is already a date, ``check_date``: a date the calendar cannot count
(31/12/9999, a typo like 2204) is refused where it is typed, never stored, because every
later count of working days against it would fail.
"""

from __future__ import annotations

import datetime as dt
import re

# The years the working calendar (tracking.calendar) counts: the `holidays` package's Vietnamese
# calendar is meaningful there, and a wider range would only let typos through.
MIN_YEAR = 1990
MAX_YEAR = 2100
FIRST_DAY = dt.date(MIN_YEAR, 1, 1)
LAST_DAY = dt.date(MAX_YEAR, 12, 31)

_VN_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


def parse_date(text: str) -> dt.date:
    """Parse ``YYYY-MM-DD`` or ``dd/mm/yyyy`` within the calendar's years; raise ``ValueError``
    with a Vietnamese message otherwise."""
    match = _VN_DATE.match(text)
    day: dt.date | None = None
    try:
        if match:
            d, month, year = (int(part) for part in match.groups())
            day = dt.date(year, month, d)
        else:
            day = dt.date.fromisoformat(text.strip())
    except ValueError:
        pass
    if day is None:
        raise ValueError(f"ngày không hợp lệ: {text!r} (dùng dạng 15/03/2024 hoặc 2024-03-15)")
    return check_date(day)


def check_date(day: dt.date) -> dt.date:
    """``day`` itself when the calendar can count it; ``ValueError`` in Vietnamese otherwise."""
    if not in_calendar_range(day):
        raise ValueError(out_of_range_message(day))
    return day


def in_calendar_range(day: dt.date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def out_of_range_message(day: dt.date) -> str:
    return (
        f"ngày {format_vn(day)} nằm ngoài khoảng lịch làm việc hỗ trợ "
        f"({format_vn(FIRST_DAY)}–{format_vn(LAST_DAY)}); hãy kiểm tra lại năm"
    )


# The weekday names as Vietnamese administrative texts write them, Monday first
# (``date.weekday()``); the one copy the CLI, the web, the reports and the calendar read.
WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


def weekday_name(day: dt.date) -> str:
    """ "Thứ Sáu" for a Friday."""
    return WEEKDAYS[day.weekday()]


def weekday_date(day: dt.date) -> str:
    """ "Thứ Sáu, 15/03/2024": the weekday matters to people planning a working week."""
    return f"{weekday_name(day)}, {format_vn(day)}"


def format_vn(day: dt.date | None) -> str:
    """dd/mm/yyyy, the way Vietnamese documents write dates; an em dash for none."""
    # Not strftime: it writes year 1 as "1", not "0001".
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}" if day else "—"
