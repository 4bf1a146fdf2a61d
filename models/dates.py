"""Parsing of the date spellings people type: ISO (2024-03-15) and Vietnamese (15/03/2024)."""

from __future__ import annotations

import datetime as dt
import re

_VN_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


def parse_date(text: str) -> dt.date:
    """Parse ``YYYY-MM-DD`` or ``dd/mm/yyyy``; raise ``ValueError`` in Vietnamese otherwise."""
    match = _VN_DATE.match(text)
    try:
        if match:
            day, month, year = (int(part) for part in match.groups())
            return dt.date(year, month, day)
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        pass
    raise ValueError(f"ngày không hợp lệ: {text!r} (dùng dạng 15/03/2024 hoặc 2024-03-15)")


def format_vn(day: dt.date | None) -> str:
    """dd/mm/yyyy, the way Vietnamese documents write dates; an em dash for none."""
    return day.strftime("%d/%m/%Y") if day else "—"
