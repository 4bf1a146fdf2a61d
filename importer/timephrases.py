"""Time phrases: when the event takes place, and by when a duty is due.

All matching runs on folded text (see :func:`importer.text.fold`); spans cut the
original. Rules (documented in docs/import.md):

- event time: "ngày 15/3/2024" is a date; "từ ngày 10/3 đến ngày 15/3/2024", "Trong quý I năm
  2024", "trong tháng 3/2024", "6 tháng đầu năm 2024" and "năm 2024" are windows;
- deadlines: "trước ngày D", "chậm nhất (là) (ngày) D", "hoàn thành trước D", "hạn chót D",
  "không quá ngày D", "đến (hết) ngày D", "trong ngày D", "vào ngày D" give ``date: D``;
  "trong quý I/2024" and "trong tháng 3/2024" give the last day of that quarter or month;
  "trước Hội nghị 10 ngày làm việc", "chậm nhất 05 ngày làm việc trước khi tổ chức Hội nghị"
  give ``event: -10`` / ``event: -5``; "sau khi kết thúc Hội nghị 05 ngày" gives ``event: 5``
  counted in calendar days (no "làm việc");
- hints, never deadlines: "trước khi …" / "sau khi …" (a dependency on another step), "định kỳ
  hằng tháng / quý", "thường xuyên" (a standing duty), and a count of days whose anchor is not
  the event ("05 ngày làm việc kể từ ngày nhận được …").
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re

from importer.text import fold, strip_end
from models.dates import check_date, in_calendar_range

_I = re.IGNORECASE
_DATE_WORDS = r"(?P<d2>\d{1,2})\s+thang\s+(?P<m2>\d{1,2})(?:\s*,?\s*nam\s+(?P<y2>\d{4}))?"
_DATE_NUM = r"(?P<d>\d{1,2})\s*[/.-]\s*(?P<m>\d{1,2})(?:\s*[/.-]\s*(?P<y>\d{4}))?(?![\d/])"
_DATE = rf"(?:{_DATE_WORDS}|{_DATE_NUM})"
_CLOCK = r"(?:(?:luc\s+)?\d{1,2}\s*(?:gio|h)(?:\s*\d{1,2}(?:\s*phut)?)?\s*,?\s*)?"
_QUARTERS = {"I": 1, "II": 2, "III": 3, "IV": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_QUARTER = r"quy\s+(?P<q>IV|III|II|I|[1-4])\b(?:\s*(?:,\s*)?(?:nam|/)\s*(?P<qy>\d{4}))?"
_MONTH = r"thang\s+(?P<mm>\d{1,2})\b(?!\s*ngay)(?:\s*(?:,\s*)?(?:nam|/)\s*(?P<my>\d{4}))?"

_ABSOLUTE = re.compile(
    r"\b(?:truoc|cham nhat(?:\s+la)?(?:\s+vao)?|han chot(?:\s+la)?|thoi han(?:\s+la)?|"
    r"hoan thanh(?:\s+truoc)?|xong truoc|khong qua|den het|den|trong|vao)\s*:?\s+"
    rf"{_CLOCK}(?:ngay\s+)?{_DATE}",
    _I,
)
_PERIOD_END = re.compile(
    r"\b(?:trong|cuoi|het|truoc het|hoan thanh trong|cham nhat trong|xong trong)\s+"
    rf"(?:{_QUARTER}|{_MONTH}|nam\s+(?P<yy>\d{{4}}))",
    _I,
)
_N_DAYS = r"(?P<n>\d{1,3})\s+ngay(?P<work>\s+lam viec)?"
_EVENT = (
    r"(?:hoi nghi|le|buoi le|hoi thi|hoi dien|hoi thao|dai hoi|su kien|chuong trinh|"
    r"hoat dong|dot|ngay hoi|giai)"
)
_EVENT_DAY = (
    rf"(?:ngay\s+(?:to chuc|dien ra|khai mac)(?:\s+{_EVENT})?|"
    rf"(?:khi\s+)?(?:to chuc|dien ra|khai mac)(?:\s+{_EVENT})?|{_EVENT})"
)
_EVENT_AFTER = rf"(?:(?:khi\s+)?(?:ket thuc|to chuc|dien ra)(?:\s+{_EVENT})?|{_EVENT})"
_RELATIVE = (
    # "trước Hội nghị (ít nhất) 10 ngày làm việc", "trước ngày tổ chức 05 ngày"
    (
        -1,
        re.compile(
            rf"\btruoc\s+{_EVENT_DAY}[^,;.()]{{0,60}}?\s+(?:it nhat\s+|toi thieu\s+)?{_N_DAYS}",
            _I,
        ),
    ),
    # "(chậm nhất) 10 ngày làm việc trước (ngày tổ chức) Hội nghị"
    (-1, re.compile(rf"\b{_N_DAYS}\s+truoc\s+{_EVENT_DAY}", _I)),
    # "sau khi kết thúc Hội nghị 05 ngày", "sau Hội nghị 10 ngày làm việc"
    (
        1,
        re.compile(
            rf"\bsau\s+{_EVENT_AFTER}[^,;.()]{{0,60}}?\s+(?:chua qua\s+|khong qua\s+)?{_N_DAYS}",
            _I,
        ),
    ),
    # "(trong vòng) 05 ngày làm việc sau khi kết thúc Hội nghị", "... kể từ ngày kết thúc"
    (
        1,
        re.compile(rf"\b{_N_DAYS}\s+(?:sau|ke tu(?:\s+ngay)?)\s+(?:ngay\s+)?{_EVENT_AFTER}", _I),
    ),
)
_DAYS_ANY = re.compile(
    rf"\b(?:trong vong|trong|cham nhat|truoc|sau|khong qua)\s+(?:[^,;.()]{{0,40}}?\s+)?{_N_DAYS}",
    _I,
)
_RECURRING = re.compile(
    r"\b(?:dinh ky\s+)?(?:hang|moi)\s+(?:ngay|tuan|thang|quy|nam|6 thang)\b|\bdinh ky\b|"
    r"\bthuong xuyen\b|\b(?:cac|nhung) nam (?:tiep theo|sau)\b|\btro di\b",
    _I,
)
# "trong năm 2014 và các năm tiếp theo", "từ năm 2024 trở đi": the period starts a standing
# duty, its end is no deadline.
_ONGOING = re.compile(r"\s*,?\s*(?:va\s+(?:cac|nhung)\s+nam\s+(?:tiep theo|sau)|tro di)\b", _I)
_BEFORE_AFTER = re.compile(r"\b(?:ngay\s+)?(?:truoc|sau)\s+khi\s+[^,;.()]+", _I)


@dataclasses.dataclass(frozen=True)
class Deadline:
    """A deadline the document states: a date, or working days relative to the event."""

    phrase: str  # as the document writes it
    date: dt.date | None = None
    event: int | None = None
    calendar_days: bool = False
    note: str | None = None  # e.g. the year was taken from the plan


@dataclasses.dataclass(frozen=True)
class DeadlineScan:
    deadline: Deadline | None
    spans: list[tuple[int, int]]  # where deadline phrases stand (to trim them from titles)
    hints: list[str]  # what is noted but is not a deadline (dependencies, recurrences…)
    unclear: list[str]  # deadline-like phrases that could not be understood


@dataclasses.dataclass(frozen=True)
class EventTime:
    text: str
    date: dt.date | None = None
    window: tuple[dt.date, dt.date] | None = None


def _date_of(match: re.Match[str], year: int | None) -> tuple[dt.date | None, bool]:
    """The date of a _DATE match, and whether its year was supplied from ``year``."""
    groups = match.groupdict()
    d = groups.get("d2") or groups.get("d")
    m = groups.get("m2") or groups.get("m")
    y = groups.get("y2") or groups.get("y")
    if d is None or m is None:
        return None, False
    guessed = y is None
    year_value = int(y) if y else year
    if year_value is None:
        return None, guessed
    try:
        # A year the calendar does not know (a typo like 2204) is no date either: the phrase
        # is reported as unclear rather than written into a draft that cannot be loaded.
        return check_date(dt.date(year_value, int(m), int(d))), guessed
    except ValueError:
        return None, guessed


def quarter_window(quarter: int, year: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, 3 * quarter - 2, 1)
    last_month = 3 * quarter
    return first, dt.date(year, last_month, calendar.monthrange(year, last_month)[1])


def month_window(month: int, year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def scan_deadline(text: str, year: int | None) -> DeadlineScan:
    """The first deadline stated in ``text`` (a duty), plus hints and unclear phrases."""
    folded = fold(text)
    found: list[tuple[int, int, Deadline]] = []
    unclear: list[str] = []
    taken: list[tuple[int, int]] = []

    for match in _ABSOLUTE.finditer(folded):
        phrase = text[match.start() : match.end()]
        day, guessed = _date_of(match, year)
        taken.append(match.span())
        if day is None:
            unclear.append(f"ngày không hợp lệ hoặc thiếu năm: “{phrase}”")
            continue
        note = f"năm {day.year} suy ra từ kế hoạch" if guessed else None
        found.append((match.start(), match.end(), Deadline(phrase, date=day, note=note)))

    for match in _PERIOD_END.finditer(folded):
        if _overlaps(match.span(), taken):
            continue
        phrase = text[match.start() : match.end()]
        taken.append(match.span())
        if _ONGOING.match(folded, match.end()):
            continue  # recurring: said by the hint below
        groups = match.groupdict()
        try:
            if groups.get("q"):
                y = int(groups["qy"]) if groups.get("qy") else year
                if y is None:
                    raise ValueError
                end = quarter_window(_QUARTERS[groups["q"].upper()], y)[1]
                explicit = bool(groups.get("qy"))
            elif groups.get("mm"):
                y = int(groups["my"]) if groups.get("my") else year
                if y is None:
                    raise ValueError
                end = month_window(int(groups["mm"]), y)[1]
                explicit = bool(groups.get("my"))
            else:
                end = dt.date(int(groups["yy"]), 12, 31)
                explicit = True
            check_date(end)
        except ValueError:
            unclear.append(f"thời hạn chưa hiểu được: “{phrase}”")
            continue
        note = None if explicit else f"năm {end.year} suy ra từ kế hoạch"
        found.append((match.start(), match.end(), Deadline(phrase, date=end, note=note)))

    for sign, pattern in _RELATIVE:
        for match in pattern.finditer(folded):
            if _overlaps(match.span(), taken):
                continue
            taken.append(match.span())
            n = int(match.group("n"))
            phrase = text[match.start() : match.end()]
            working = bool(match.group("work"))
            found.append(
                (
                    match.start(),
                    match.end(),
                    Deadline(phrase, event=sign * n, calendar_days=not working),
                )
            )

    for match in _DAYS_ANY.finditer(folded):
        if _overlaps(match.span(), taken):
            continue
        taken.append(match.span())
        tail = text[match.start() : _clause_end(folded, match.end())]
        unclear.append(f"thời hạn tương đối chưa rõ mốc tính: “{strip_end(tail)}”")

    hints: list[str] = []
    for match in _RECURRING.finditer(folded):
        phrase = strip_end(
            " ".join(text[match.start() : _clause_end(folded, match.end())].split()[:8])
        )
        hints.append(f"nhiệm vụ định kỳ/thường xuyên (“{phrase}”): không có một thời hạn duy nhất")
        break
    for match in _BEFORE_AFTER.finditer(folded):
        if _overlaps(match.span(), taken):
            continue
        phrase = strip_end(text[match.start() : match.end()])
        hints.append(
            f"phụ thuộc? “{phrase}” (thêm requires nếu đó là một nhiệm vụ khác, "
            "hoặc deadline {event: …} nếu là ngày diễn ra sự kiện)"
        )

    found.sort(key=lambda item: item[0])
    deadline = found[0][2] if found else None
    if len(found) > 1:
        others = ", ".join(f"“{strip_end(d.phrase)}”" for _s, _e, d in found[1:])
        hints.append(f"còn nêu thời hạn khác: {others}")
    return DeadlineScan(deadline, [(s, e) for s, e, _d in found], hints, unclear)


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in taken)


def _clause_end(folded: str, pos: int, limit: int = 80) -> int:
    match = re.search(r"[,;.()]", folded[pos : pos + limit])
    return pos + match.start() if match else min(len(folded), pos + limit)


# --- the event's time ---------------------------------------------------------------------

_RANGE = re.compile(
    rf"\btu\s+(?:ngay\s+)?(?P<a>{_DATE_NUM.replace('?P<', '?P<a_')})\s*(?:den|-)\s*(?:het\s+)?"
    rf"(?:ngay\s+)?(?P<b>{_DATE_NUM.replace('?P<', '?P<b_')})",
    _I,
)
_ANY_DATE = re.compile(rf"(?:\bngay\s+)?{_DATE}", _I)
_HALF = re.compile(r"\b6\s+thang\s+(?P<h>dau|cuoi)\s+nam(?:\s+(?P<y>\d{4}))?", _I)
_QUARTER_ONLY = re.compile(rf"\b{_QUARTER}", _I)
_MONTH_ONLY = re.compile(rf"\b{_MONTH}", _I)
_YEAR_ONLY = re.compile(r"\bnam\s+(?P<y>\d{4})\b", _I)


def parse_event_time(value: str, year: int | None) -> EventTime:
    """What "Thời gian: …" says: a date, a window, or neither (kept as text).

    A date or window beyond the calendar's years is kept as text only, like one not understood.
    """
    found = _event_time(value, year)
    days = [found.date] if found.date else list(found.window or ())
    if all(in_calendar_range(day) for day in days):
        return found
    return EventTime(found.text)


def _event_time(value: str, year: int | None) -> EventTime:
    folded = fold(value)
    text = strip_end(re.split(r"\s*[(;]|\.\s", value, maxsplit=1)[0]) or strip_end(value)
    match = _RANGE.search(folded)
    if match:
        b = _range_date(match, "b_", year)
        a = _range_date(match, "a_", b.year if b else year)
        if a and b and a <= b:
            return EventTime(text, window=(a, b))
    for match in _ANY_DATE.finditer(folded):
        day, _guessed = _date_of(match, year)
        if day is not None:
            return EventTime(text, date=day)
    match = _QUARTER_ONLY.search(folded)
    if match:
        y = int(match.group("qy")) if match.group("qy") else year
        if y is not None:
            return EventTime(text, window=quarter_window(_QUARTERS[match.group("q").upper()], y))
    match = _HALF.search(folded)
    if match:
        y = int(match.group("y")) if match.group("y") else year
        if y is not None:
            first_half = match.group("h").lower() == "dau"
            start = dt.date(y, 1 if first_half else 7, 1)
            end = dt.date(y, 6, 30) if first_half else dt.date(y, 12, 31)
            return EventTime(text, window=(start, end))
    match = _MONTH_ONLY.search(folded)
    if match:
        y = int(match.group("my")) if match.group("my") else year
        month = int(match.group("mm"))
        if y is not None and 1 <= month <= 12:
            return EventTime(text, window=month_window(month, y))
    match = _YEAR_ONLY.search(folded)
    if match:
        y = int(match.group("y"))
        return EventTime(text, window=(dt.date(y, 1, 1), dt.date(y, 12, 31)))
    return EventTime(text)


def _range_date(match: re.Match[str], prefix: str, year: int | None) -> dt.date | None:
    d, m, y = (match.group(f"{prefix}{k}") for k in ("d", "m", "y"))
    try:
        return dt.date(int(y) if y else (year or 0), int(m), int(d))
    except (ValueError, TypeError):
        return None
