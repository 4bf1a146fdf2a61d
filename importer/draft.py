"""From the lines of a document to a draft plan: header, event, units, assignments, and the
list of what could not be understood."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import PurePath

from importer.duties import Duty, Env, Sentence, Unparsed, scan_elsewhere
from importer.header import EventFacts, Header, parse_event, parse_header
from importer.reading import DocumentError
from importer.records import record_duties, table_records
from importer.sections import walk_section
from importer.structure import Section, find_sections
from importer.text import Line, capitalize_first, fold, slug
from importer.timephrases import Deadline
from importer.units import Unit, find_units, leading_units

_I = re.IGNORECASE


@dataclasses.dataclass
class Assignment:
    code: str
    title: str
    detail: str
    source: str
    lead: str
    cooperating: list[str]
    deadline: Deadline | None
    notes: list[str]
    group: str


@dataclasses.dataclass(frozen=True)
class Coverage:
    """Where the sentences of the assignment section went: ``used + listed == total``."""

    sentences: tuple[Sentence, ...]
    headings: frozenset[int]  # lines that only name the units of what follows

    @property
    def used(self) -> int:
        return sum(1 for s in self.sentences if s.outcome == "used")

    @property
    def listed(self) -> int:
        return sum(1 for s in self.sentences if s.outcome == "listed")

    @property
    def total(self) -> int:
        return len(self.sentences)


@dataclasses.dataclass
class Draft:
    source_name: str
    plan_code: str
    title: str
    header: Header
    event: EventFacts
    units: list[Unit]
    coordinator: str
    coordinator_note: str
    assignments: list[Assignment]
    unparsed: list[Unparsed]
    sections: list[Section]
    coverage: Coverage


def draft_plan(
    lines: Sequence[Line],
    source_name: str,
    *,
    hard_wrapped: bool = True,
    code: str | None = None,
    check: Callable[[], None] = lambda: None,
    register: Sequence[tuple[str, str]] = (),
) -> Draft:
    """The draft plan of a document; raises :class:`DocumentError` when it has no assignment
    section or no duty can be found in it. ``check`` is called between steps and items and
    raises once the document's time budget is spent. ``register`` lists the units already
    known (code, name): a unit the gazetteer does not know but the register does is matched
    to it, however it is spelt."""
    header = parse_header(lines)
    header.ctx.register.seed(register)
    sections, closing = find_sections(lines, header.body_start)
    targets = [s for s in sections if s.assignments]
    if not targets and not any(line.cell is not None for line in lines):
        raise DocumentError(
            f"{source_name}: không tìm thấy phần phân công nhiệm vụ (mục “PHÂN CÔNG NHIỆM VỤ” "
            "hoặc “TỔ CHỨC THỰC HIỆN”); không tạo bản nháp kế hoạch."
        )
    first_target = min((s.start for s in targets), default=len(lines)) - 1
    event = parse_event(lines, header, first_target)
    year = header.year
    if year is None and event.time is not None:
        when = event.time.date or (event.time.window[0] if event.time.window else None)
        year = when.year if when else None
    env = Env(header.ctx, year, check)
    records, env.table_lines = table_records(lines)
    for section in targets:
        walk_section(section, lines, env, hard_wrapped)
    env.counting = True
    for record in records:
        record_duties(record, [], env)
    env.counting = False
    if not env.duties and not targets:
        raise DocumentError(
            f"{source_name}: không tìm thấy phần phân công nhiệm vụ (mục “PHÂN CÔNG NHIỆM VỤ” "
            "hoặc “TỔ CHỨC THỰC HIỆN”, hoặc bảng phân công); không tạo bản nháp kế hoạch."
        )
    if not env.duties:
        where = ", ".join(f"mục {s.label}. {s.title} (dòng {s.line})" for s in targets)
        raise DocumentError(
            f"{source_name}: không nhận ra nhiệm vụ nào trong {where}; không tạo bản nháp kế hoạch."
        )
    for section in sections:
        if not section.assignments:
            where = f"Mục {section.label} ({capitalize_first(section.title.lower())})"
            scan_elsewhere(lines, where, env, section.start, section.end)
    closing_end = _closing_end(lines, closing)
    scan_elsewhere(lines, "đoạn kết", env, closing, closing_end)

    units = _units(env.duties)
    coordinator, note = _coordinator(lines, closing, closing_end, env, units)
    if coordinator.code not in {u.code for u in units}:
        units.append(coordinator)
    assignments = _assignments(env.duties)
    unparsed = [Unparsed(n or 0, "", text) for n, text in header.notes] + env.unparsed
    title = (
        f"{header.kind or 'Kế hoạch'} {header.title}"
        if header.title
        else f"{header.kind or 'Kế hoạch'} (chưa rõ tên) — {PurePath(source_name).name}"
    )
    return Draft(
        source_name,
        code or plan_code(header, event, year),
        title,
        header,
        event,
        units,
        coordinator.code,
        note,
        assignments,
        sorted(unparsed, key=lambda u: u.line),
        sections,
        Coverage(tuple(env.ledger.values()), frozenset(env.headings)),
    )


def _closing_end(lines: Sequence[Line], closing: int) -> int:
    for index in range(closing, len(lines)):
        if re.match(r"^(?:Noi nhan|KT\.|TM\.)", fold(lines[index].text), _I):
            return index
    return len(lines)


def _units(duties: Sequence[Duty]) -> list[Unit]:
    """Every unit that leads or cooperates, in order of first mention; of two spellings of
    the same unit the fuller name wins ("Sở Nội vụ (Ban Thi đua - Khen thưởng)")."""
    by_code: dict[str, Unit] = {}
    for duty in duties:
        for unit in [duty.lead, *duty.cooperating]:
            known = by_code.get(unit.code)
            if known is None or len(unit.name) > len(known.name):
                by_code[unit.code] = unit
    return list(by_code.values())


_CONTACT = re.compile(r"\blien he\s+(?:voi\s+|truc tiep\s+)?(?:ve\s+)?", _I)


def _coordinator(
    lines: Sequence[Line], closing: int, closing_end: int, env: Env, units: list[Unit]
) -> tuple[Unit, str]:
    """The unit to contact in the closing paragraph, else the one that "theo dõi, đôn đốc",
    else the standing body ("cơ quan thường trực"), else the unit with the most duties."""
    ordered = list(lines[closing:closing_end]) + list(lines[:closing])
    for line in ordered:
        folded = fold(line.text)
        for match in _CONTACT.finditer(folded):
            found, _end = leading_units(line.text, env.ctx, match.end())
            named = [m for m in found if m.unit is not None]
            if named:
                unit = named[0].unit
                assert unit is not None
                phrase = line.text[match.start() : named[0].end]
                return unit, f"dòng {line.number}: “{phrase}”"
    for duty in env.duties:
        folded = fold(duty.detail).lower()
        if "theo doi" in folded and "don doc" in folded:
            return duty.lead, f"{duty.source}: đơn vị “theo dõi, đôn đốc”"
    for line in lines:
        folded = fold(line.text)
        at = re.search(r"co quan thuong truc", folded, _I)
        if at:
            before = _mentions_before(line.text, at.start(), env)
            if before:
                return before[-1], f"dòng {line.number}: cơ quan thường trực"
    counts = Counter(d.lead.code for d in env.duties)
    code = counts.most_common(1)[0][0]
    unit = next(u for u in units if u.code == code)
    return unit, "không thấy đơn vị đầu mối trong văn bản: chọn đơn vị chủ trì nhiều nhiệm vụ nhất"


def _mentions_before(text: str, pos: int, env: Env) -> list[Unit]:
    return [m.unit for m in find_units(text[:pos], env.ctx) if m.unit is not None]


def _assignments(duties: Sequence[Duty]) -> list[Assignment]:
    counters: Counter[str] = Counter()
    taken: set[str] = set()
    out: list[Assignment] = []
    for duty in duties:
        prefix = duty.lead.prefix
        while True:
            counters[prefix] += 1
            code = f"{prefix}-{counters[prefix]:02d}"
            if code not in taken:
                break
        taken.add(code)
        out.append(
            Assignment(
                code,
                duty.title,
                duty.detail,
                duty.source,
                duty.lead.code,
                [u.code for u in duty.cooperating],
                duty.deadline,
                duty.notes,
                duty.group,
            )
        )
    return out


def plan_code(header: Header, event: EventFacts, year_of_plan: int | None = None) -> str:
    """ "an-giang-2024-hoi-nghi-tong-ket-cong-tac-thi-dua": place, year, the event's words."""
    place = header.ctx.district or header.ctx.province or header.place or ""
    year = str(year_of_plan or header.year or "")
    words = slug(event.name).split("-")
    parts = [p for p in (slug(place), year) if p]
    code = "-".join(parts)
    for word in words:
        candidate = f"{code}-{word}" if code else word
        if len(candidate) > 48:
            break
        code = candidate
    code = code.strip("-") or "ke-hoach"
    return code[:64]
