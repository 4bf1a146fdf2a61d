"""Duties written as records rather than sentences: the same fields either as labelled lines
under an item, or as the columns of a Word table (common in a plan's appendix, Phụ lục).

Labelled lines::

    1. Xây dựng bộ tiêu chí đánh giá.
    - Đơn vị chủ trì: Sở Nội vụ.
    - Đơn vị phối hợp: Sở Tư pháp, Văn phòng UBND tỉnh.
    - Thời gian hoàn thành: trước ngày 30/6/2025.
    - Sản phẩm: Quyết định ban hành bộ tiêu chí.

A table: a header row naming the columns (STT | Nội dung | Chủ trì | Phối hợp | Thời gian |
Sản phẩm, in any order, with the usual variants: "Nhiệm vụ", "Cơ quan chủ trì", "Đơn vị
phối hợp", "Thời hạn hoàn thành", "Kết quả/sản phẩm"), then one row per duty. A row with a
content but no lead, whose number is a Roman numeral or a letter, names a group of the rows
below ("I | NHIỆM VỤ TRỌNG TÂM").

Each record gives one assignment per lead unit, like a sentence does; its fields are read
by the same unit and deadline readers as sentences.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from importer.duties import GROUP_NOTE, Duty, Env, Unparsed
from importer.structure import Item
from importer.text import Line, capitalize_first, fold, strip_end
from importer.timephrases import scan_deadline
from importer.units import Unit, find_units, group_unit

_I = re.IGNORECASE
MAX_TITLE = 200

# field -> how its label or column header reads (folded)
FIELDS: dict[str, re.Pattern[str]] = {
    "number": re.compile(r"^(?:stt|tt|so tt|so thu tu)$", _I),
    "lead": re.compile(
        r"^(?:(?:don vi|co quan|cơ quan)\s+)?(?:chu tri|thuc hien|chu tri thuc hien)"
        r"(?:\s+thuc hien)?$",
        _I,
    ),
    "cooperating": re.compile(r"^(?:(?:don vi|co quan)\s+)?phoi hop(?:\s+thuc hien)?$", _I),
    "time": re.compile(
        r"^(?:thoi gian|thoi han|tien do)(?:\s+(?:thuc hien|hoan thanh|trinh))?"
        r"(?:\s*/\s*(?:thoi gian\s+)?(?:thuc hien|hoan thanh))?$",
        _I,
    ),
    "product": re.compile(r"^(?:san pham|ket qua(?:\s*/\s*san pham)?|hinh thuc van ban)$", _I),
    "content": re.compile(
        r"^(?:noi dung|nhiem vu|ten nhiem vu|noi dung (?:cong viec|nhiem vu)|cong viec|"
        r"hoat dong|nhiem vu,? giai phap)$",
        _I,
    ),
}
_LABEL = re.compile(r"^[-+•*]?\s*(?P<label>[^:]{3,40}?)\s*:\s*(?P<value>.*)$")


@dataclasses.dataclass
class Record:
    content: str
    fields: dict[str, str]  # lead, cooperating, time, product
    items: list[Item]  # what the record was read from, the content first
    where: str  # "Mục V.2", "bảng 2, STT 3"
    group: str
    structure: list[int] = dataclasses.field(default_factory=list)  # the row's number cell


def label_of(text: str) -> tuple[str, str] | None:
    """(field, value) of a labelled line ("Đơn vị chủ trì: Sở Nội vụ"), else None."""
    match = _LABEL.match(text)
    if match is None:
        return None
    label = fold(match.group("label")).strip().lower()
    for field, pattern in FIELDS.items():
        if field not in {"number", "content"} and pattern.match(label):
            return field, match.group("value").strip()
    return None


def labelled_record(item: Item, following: Sequence[Item], where: str, group: str) -> Record | None:
    """The record of an item followed by labelled lines ("Đơn vị chủ trì: …"), or None."""
    if label_of(item.text) is not None:
        return None
    labels: list[Item] = []
    fields: dict[str, str] = {}
    for nxt in following:
        found = label_of(nxt.text)
        if found is None or found[0] in fields:
            break
        fields[found[0]] = found[1]
        labels.append(nxt)
    if not labels or not ({"lead", "cooperating", "product"} & fields.keys()):
        return None
    return Record(item.text, fields, [item, *labels], where, group)


def record_duties(record: Record, frame_units: Sequence[Unit], env: Env) -> None:
    """The assignments of one record, added to ``env``; a record without a lead unit is
    listed as not understood. Every line of it is accounted for once."""
    items = record.items
    env.headings.update(record.structure)
    first = items[0].first
    last = max(item.last for item in items)
    lead_text = record.fields.get("lead", "")
    found = find_units(lead_text, env.ctx) if lead_text else []
    leads = [m.unit for m in found if m.unit is not None] or (
        [] if lead_text else list(frame_units)
    )
    if not leads and found:  # a collective lead ("Các sở, ban, ngành"): a group assignment
        leads = [group_unit(", ".join(m.text for m in found))]
    if not leads:
        reason = (
            f"đơn vị chủ trì không cụ thể (“{lead_text}”)"
            if lead_text
            else "không xác định được đơn vị chủ trì"
        )
        # every line of the record is listed with its own number
        env.unparsed_sentence(items[0], 0, len(items[0].text), reason)
        for item in items[1:]:
            env.unparsed_sentence(item, 0, len(item.text), f"thuộc nhiệm vụ dòng {first}")
        return
    notes: list[str] = []
    coop_text = record.fields.get("cooperating", "")
    cooperating: list[Unit] = []
    for match in find_units(coop_text, env.ctx):
        if match.unit is None:
            notes.append(f"phối hợp với “{match.text}”: không nêu đơn vị cụ thể")
        else:
            cooperating.append(match.unit)
    time_text = record.fields.get("time", "")
    scan = scan_deadline(time_text, env.year)
    if scan.deadline is None and time_text:
        # a time column holds a period ("Tháng 6/2025", "Quý III/2025"): within it
        scan = scan_deadline(f"trong {time_text[:1].lower()}{time_text[1:]}", env.year)
    deadline = scan.deadline
    if deadline is None and not time_text:
        scan = scan_deadline(record.content, env.year)
        deadline = scan.deadline
    notes += scan.hints
    for unclear in scan.unclear:
        notes.append(unclear)
        env.unparsed.append(Unparsed(first, time_text or record.content, unclear))
    if time_text and deadline is None and not scan.hints and not scan.unclear:
        notes.append(f"thời gian “{time_text}”: không phải một thời hạn đọc được")
    if deadline and deadline.note:
        notes.append(deadline.note)
    if record.fields.get("product"):
        notes.append(f"sản phẩm: {record.fields['product']}")
    if any(lead.group for lead in leads):
        notes.append(GROUP_NOTE)
    if len(leads) > 1:
        names = ", ".join(u.name for u in leads)
        notes.append(f"giao chung cho {len(leads)} đơn vị ({names}): một nhiệm vụ cho mỗi đơn vị")
    title = capitalize_first(strip_end(record.content))
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1].rsplit(" ", 1)[0].rstrip(" ,;") + "…"
    detail = "\n".join(item.text for item in items if item.text)
    lines = f"dòng {first}" if first == last else f"dòng {first}-{last}"
    source = f"{lines}: {record.where}"
    for lead in _unique(leads):
        partners = [u for u in _unique(cooperating) if u.code != lead.code]
        env.duties.append(
            Duty(lead, partners, title, detail, source, first, record.group, deadline, notes[:])
        )
    for item in items:
        env.account(item, 0, len(item.text), "used")


def _unique(units: Sequence[Unit]) -> list[Unit]:
    by_code: dict[str, Unit] = {}
    for unit in units:
        by_code.setdefault(unit.code, unit)
    return list(by_code.values())


# --- tables -------------------------------------------------------------------------------


def table_records(lines: Sequence[Line]) -> tuple[list[Record], set[int]]:
    """The records of every assignment table (one whose header row names at least a content
    and a lead column), and the line numbers those tables take."""
    rows: dict[int, dict[int, dict[int, list[Line]]]] = {}
    for line in lines:
        if line.cell is not None:
            table, row, column = line.cell
            rows.setdefault(table, {}).setdefault(row, {}).setdefault(column, []).append(line)
    records: list[Record] = []
    taken: set[int] = set()
    for index, table_rows in rows.items():
        table = index + 1  # as a reader counts them
        columns: dict[int, str] | None = None
        group = f"Bảng {table}"
        for row in sorted(table_rows):
            cells = table_rows[row]
            texts = {c: " ".join(x.text for x in cells[c] if x.text) for c in cells}
            if columns is None:
                columns = _header(texts)
                if columns is not None:
                    group = f"Bảng {table} — {texts.get(_column(columns, 'content'), '')}"
                    taken.update(x.number for c in cells.values() for x in c)
                continue
            taken.update(x.number for c in cells.values() for x in c)
            values = {field: texts.get(c, "").strip() for c, field in columns.items()}
            content = values.get("content", "")
            row_lines = [x for c in sorted(cells) for x in cells[c] if x.text]
            if not content or not row_lines:
                continue
            number = values.get("number", "")
            if not values.get("lead") and re.fullmatch(r"[IVXA-Z]{1,5}\.?", number):
                group = f"Bảng {table}, {number} — {content}"
                continue
            # the number cell is structure, like a heading; the content first: it is what
            # the record's lines stand for
            number_column = next((c for c, f in columns.items() if f == "number"), None)
            numbers = [x.number for x in cells.get(number_column, [])] if number_column else []
            row_lines = [x for x in row_lines if x.number not in numbers]
            if not row_lines:
                continue
            content_lines = [x for x in row_lines if x.text in content]
            ordered = content_lines + [x for x in row_lines if x not in content_lines]
            where = f"bảng {table}, STT {number}" if number else f"bảng {table}, hàng {row}"
            fields = {k: v for k, v in values.items() if k not in {"content", "number"} and v}
            items = [Item("plain", "", x.text, [(0, x.number)]) for x in ordered]
            records.append(Record(content, fields, items, where, group, numbers))
    return records, taken


def _header(texts: dict[int, str]) -> dict[int, str] | None:
    columns: dict[int, str] = {}
    for column, text in texts.items():
        folded = fold(text).strip().lower().rstrip(" :")
        for field, pattern in FIELDS.items():
            if pattern.match(folded) and field not in columns.values():
                columns[column] = field
                break
    if "content" in columns.values() and "lead" in columns.values():
        return columns
    return None


def _column(columns: dict[int, str], field: str) -> int:
    return next(c for c, f in columns.items() if f == field)
