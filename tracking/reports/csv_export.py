"""The status list as CSV, for whoever wants to sort and pivot it themselves.

UTF-8 with a byte-order mark: without it Excel reads the file as the local ANSI code page and
every Vietnamese letter is garbled. Each coded field comes twice: the Vietnamese words a person
reads, and the machine code (state, timeliness, unit codes) that stays the same whatever the
wording, for formulas and scripts. Dates are ISO (2024-03-15), which every spreadsheet reads as
a date in any locale; yes/no columns are ``có`` / ``không``.

The separator is a comma. Excel on Windows set to Vietnamese regional settings expects ``;``
when a .csv is opened by double-click: pass ``delimiter=";"`` for those readers (Excel's
Data → From Text/CSV imports either).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from tracking.status import STATE_LABELS, TIMELINESS_LABELS
from tracking.store import AssignmentView

BOM = "\ufeff"
YES, NO = "có", "không"
LIST_SEPARATOR = "; "


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else ""


def _flag(value: bool) -> str:
    return YES if value else NO


# (heading, value): Vietnamese headings, one column per fact.
FIELDS: tuple[tuple[str, Callable[[AssignmentView], object]], ...] = (
    ("Mã kế hoạch", lambda v: v.plan_code),
    ("ID", lambda v: v.id),
    ("Mã nhiệm vụ", lambda v: v.code),
    ("Nhiệm vụ", lambda v: v.title),
    ("Mã đơn vị chủ trì", lambda v: v.lead),
    ("Đơn vị chủ trì", lambda v: v.lead_name),
    ("Mã đơn vị phối hợp", lambda v: LIST_SEPARATOR.join(v.cooperating)),
    ("Hạn ban đầu", lambda v: _iso(v.original_due)),
    ("Thời hạn", lambda v: _iso(v.due)),
    ("Gia hạn", lambda v: _flag(v.extended)),
    ("Ngày hoàn thành", lambda v: _iso(v.completed_on)),
    ("Trạng thái", lambda v: STATE_LABELS[v.state]),
    ("Mã trạng thái", lambda v: v.state.value),
    ("Tiến độ", lambda v: TIMELINESS_LABELS[v.timeliness] if v.timeliness else ""),
    ("Mã tiến độ", lambda v: v.timeliness.value if v.timeliness else ""),
    ("Trên đường găng", lambda v: _flag(v.critical)),
    ("Dự phòng (ngày làm việc)", lambda v: "" if v.slack is None else v.slack),
    ("Nguy cơ chậm", lambda v: v.at_risk or ""),
    ("Cần hoàn thành trước", lambda v: LIST_SEPARATOR.join(v.prerequisites)),
)
HEADINGS: tuple[str, ...] = tuple(heading for heading, _ in FIELDS)


def status_csv(views: Iterable[AssignmentView], *, delimiter: str = ",") -> str:
    """The header row, then one row per assignment; starts with the BOM, lines end in CRLF.

    Write it out as UTF-8 bytes (``sys.stdout.buffer.write(text.encode("utf-8"))``): writing
    the text through a Windows console or text-mode file would double the line ends.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADINGS)
    for view in views:
        writer.writerow([neutralised(value(view)) for _, value in FIELDS])
    return BOM + buffer.getvalue()


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, with a ``'`` in front (OWASP's
    advice: Excel then shows the text as typed); numbers and other texts unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
