"""Writing a draft as a plan file: readable YAML with comments that trace every value back to
the document's lines, and the list of what could not be understood at the end.

The text is emitted here rather than by a YAML library so that comments sit where a reviewer
needs them; every scalar is checked by parsing it back, and falls back to a double-quoted
string when a plain or folded form would not read back identically.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import PurePath
from typing import Any

import yaml

from importer.draft import Assignment, Draft
from importer.timephrases import Deadline
from importer.units import Unit

WIDTH = 96
MAX_TEXT = 1000
MAX_DETAIL = 10000
# The shorter fields (plan title 500, issuer and unit name 300, window text 200, number,
# place of issue and short name 100) have their database column's limit: models.planfile.


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def blank(self) -> None:
        self.lines.append("")

    def comment(self, indent: int, text: str) -> None:
        pad = " " * indent
        flat = " ".join(text.split())
        wrapped = textwrap.wrap(
            flat,
            width=max(40, WIDTH - indent - 2),
            break_long_words=False,
            break_on_hyphens=False,
        ) or [""]
        self.lines.append(f"{pad}# {wrapped[0]}")
        self.lines.extend(f"{pad}#   {rest}" for rest in wrapped[1:])

    def field(self, indent: int, key: str, value: Any, *, item: bool = False) -> None:
        """``key: value``; ``item`` starts a sequence item (``- key: value``)."""
        lead = " " * indent + ("- " if item else "")
        inner = indent + 2 if item else indent
        if isinstance(value, str):
            self.lines.extend(_string(lead + key + ":", value, inner + 2))
        else:
            self.lines.append(f"{lead}{key}: {_plain(value)}")

    def sequence_item(self, indent: int, value: str) -> None:
        self.lines.extend(_string(" " * indent + "-", value, indent + 2))

    def raw(self, line: str) -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    return str(value)


def _inline(value: str) -> str:
    return value if _reads_back(value, value) else json.dumps(value, ensure_ascii=False)


# libyaml's loader when PyYAML has it: every scalar is read back, and the pure-Python loader
# made that most of an import's time.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a safe loader (above)


def _reads_back(rendered: str, value: str) -> bool:
    try:
        return bool(_load(f"k: {rendered}") == {"k": value})
    except yaml.YAMLError:
        return False


def _string(prefix: str, value: str, indent: int) -> list[str]:
    """A string scalar after ``prefix`` ("  title:"), plain, folded or double-quoted."""
    one_line = "\n" not in value
    if one_line and len(prefix) + 1 + len(value) <= WIDTH and _reads_back(value, value):
        return [f"{prefix} {value}"]
    quoted = json.dumps(value, ensure_ascii=False)
    if one_line and len(prefix) + 1 + len(quoted) <= WIDTH:
        return [f"{prefix} {quoted}"]
    pad = " " * indent
    if one_line:
        body = textwrap.wrap(
            value,
            width=WIDTH - indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
        block = [f"{prefix} >-", *(pad + part for part in body)]
    else:
        block = [f"{prefix} |-", *(pad + part if part else "" for part in value.split("\n"))]
    if _block_reads_back(block, value):
        return block
    return [f"{prefix} {quoted}"]


def _block_reads_back(block: list[str], value: str) -> bool:
    indicator = block[0].rsplit(" ", 1)[1]
    document = "\n".join([f"k: {indicator}", *block[1:]])
    try:
        return bool(_load(document) == {"k": value})
    except yaml.YAMLError:
        return False


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


# --- the plan file ----------------------------------------------------------------------------


def render_plan(draft: Draft) -> str:
    """The draft as the text of a plan file (YAML, UTF-8)."""
    w = _Writer()
    header = draft.header
    event = draft.event
    source = PurePath(draft.source_name).name
    w.comment(0, f"Bản nháp kế hoạch do `giaoviec plan import` tạo từ: {source}")
    w.comment(
        0,
        "Hãy đọc lại trước khi nạp. Mỗi nhiệm vụ ghi nguồn (dòng của văn bản); các ghi chú "
        "“# ?” là chỗ cần kiểm tra; cuối tệp là những gì chưa hiểu được. Thời hạn chỉ có khi "
        "văn bản nêu rõ; thêm thời hạn và phụ thuộc (requires) nếu cần. Người nhận nhắc việc "
        "của các đơn vị: thêm bằng `giaoviec contacts set`.",
    )
    cover = draft.coverage
    w.comment(
        0,
        f"Phần phân công có {cover.total} câu: {cover.used} câu đã đưa vào nhiệm vụ, "
        f"{cover.listed} câu chưa hiểu được (liệt kê cuối tệp, kèm số dòng); "
        f"{len(draft.unparsed)} chỗ chưa hiểu được trong cả văn bản.",
    )
    w.blank()
    w.raw("version: 1")
    w.blank()
    w.raw("plan:")
    w.field(2, "code", draft.plan_code)
    if header.number:
        blank = header.number.startswith("/")
        w.comment(2, f"dòng {header.number_line}" + ("; số còn để trống" if blank else ""))
        w.field(2, "number", _cap(header.number, 100))
    else:
        w.comment(2, "? không thấy số văn bản (“Số: …”)")
    if header.title_lines:
        first, last = header.title_lines
        w.comment(2, f"dòng {first}" if first == last else f"dòng {first}-{last}")
    w.field(2, "title", _cap(draft.title, 500))
    if header.issuer:
        w.comment(2, f"dòng {header.issuer_line}")
        w.field(2, "issuer", _cap(header.issuer, 300))
    else:
        w.comment(2, "? không thấy cơ quan ban hành: điền trước khi nạp")
        w.field(2, "issuer", "Chưa rõ cơ quan ban hành")
    if header.issued_date:
        w.comment(2, f"dòng {header.date_line}: “{header.date_text}”")
        w.field(2, "issued_date", header.issued_date)
    elif header.date_text:
        w.comment(2, f"issued_date: chưa có — dòng {header.date_line}: “{header.date_text}”")
    if header.place:
        w.field(2, "issued_place", _cap(header.place, 100))
    if header.legal_bases:
        w.raw("  legal_bases:")
        for number, basis in header.legal_bases:
            w.comment(4, f"dòng {number}")
            w.sequence_item(4, _cap(basis, MAX_TEXT))
    w.comment(2, f"đơn vị đầu mối — {draft.coordinator_note}")
    w.field(2, "coordinator", draft.coordinator)
    w.raw("  event:")
    w.field(4, "name", _cap(event.name, 500))
    if event.time is not None:
        w.comment(4, f"dòng {event.time_line}: “{event.time.text}”")
        if event.time.date:
            w.field(4, "date", event.time.date)
        elif event.time.window:
            w.field(4, "window_start", event.time.window[0])
            w.field(4, "window_end", event.time.window[1])
        else:
            w.comment(4, "? thời gian chưa hiểu được thành ngày hay khoảng ngày")
        w.field(4, "window_text", _cap(event.time.text, 200))
    else:
        w.comment(4, "? không thấy thời gian tổ chức (“Thời gian: …”)")
    if event.place:
        w.comment(4, f"dòng {event.place_line}")
        w.field(4, "place", _cap(event.place, 500))
    if event.delegates is not None:
        w.comment(4, f"dòng {event.delegates_line}")
        w.field(4, "delegates", event.delegates)
    w.blank()
    _units(w, draft.units, draft.header.ctx.register.merges)
    w.blank()
    _assignments(w, draft.assignments)
    w.blank()
    _unparsed(w, draft)
    return w.text()


def _units(w: _Writer, units: list[Unit], merges: list[tuple[str, str]]) -> None:
    w.raw("units:")
    for unit in units:
        for spelling, name in merges:
            if name == unit.name:
                w.comment(2, f"? “{spelling}” được coi là cùng đơn vị này (kiểm tra lại)")
        if unit.group:
            w.comment(
                2,
                "? nhóm đơn vị (chủ thể tập thể trong văn bản): giao chung, xem lại từng nhiệm vụ",
            )
        elif not unit.known:
            w.comment(
                2, "? đơn vị không có trong danh mục: mã tự đặt theo chữ cái đầu, kiểm tra lại"
            )
        w.field(2, "code", unit.code, item=True)
        w.field(4, "name", _cap(unit.name, 300))
        if unit.short_name:
            w.field(4, "short_name", _cap(unit.short_name, 100))


def _deadline(deadline: Deadline) -> dict[str, Any]:
    if deadline.date is not None:
        return {"date": deadline.date}
    out: dict[str, Any] = {"event": deadline.event}
    if deadline.calendar_days:
        out["calendar_days"] = True
    return out


def _assignments(w: _Writer, assignments: list[Assignment]) -> None:
    w.raw("assignments:")
    group = None
    for a in assignments:
        if a.group != group:
            group = a.group
            w.blank()
            w.comment(2, f"--- {group} ---")
        w.field(2, "code", a.code, item=True)
        w.field(4, "title", _cap(a.title, MAX_TEXT))
        w.field(4, "detail", _cap(a.detail, MAX_DETAIL))
        w.field(4, "source", _cap(a.source, MAX_TEXT))
        w.field(4, "lead", a.lead)
        if a.cooperating:
            w.field(4, "cooperating", a.cooperating)
        if a.deadline is not None:
            w.comment(4, f"“{a.deadline.phrase}”")
            w.field(4, "deadline", _deadline(a.deadline))
        for note in a.notes:
            w.comment(4, f"? {note}")


def _unparsed(w: _Writer, draft: Draft) -> None:
    w.comment(0, "=== Chưa hiểu được (cần xem lại) ===")
    if not draft.unparsed:
        w.comment(0, "Không có: mọi dòng của phần phân công nhiệm vụ đều đã được dùng.")
        return
    for item in draft.unparsed:
        where = f"dòng {item.line}: " if item.line else ""
        quoted = f" — “{_cap(item.text, 300)}”" if item.text else ""
        w.comment(0, f"{where}{item.reason}{quoted}")
