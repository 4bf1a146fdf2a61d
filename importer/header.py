"""The document's header (issuer, number, place and date, kind and title, legal bases) and
the event facts of its body (time, place, number of delegates)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence

from importer.text import (
    Line,
    capitalize_first,
    clean,
    fold,
    is_upper,
    sentence_case_body,
    strip_end,
)
from importer.timephrases import EventTime, parse_event_time
from importer.units import Context, find_units
from models.dates import check_date

_I = re.IGNORECASE
KINDS = {
    "KE HOACH": "Kế hoạch",
    "PHUONG AN": "Phương án",
    "CHUONG TRINH": "Chương trình",
    "DE AN": "Đề án",
}
_KIND_LINE = re.compile(r"^(KE HOACH|PHUONG AN|CHUONG TRINH|DE AN)\b\s*:?\s*(.*)$")
_MOTTO = re.compile(
    r"CONG HOA XA HOI CHU NGHIA VIET NAM|Doc lap\s*-\s*Tu do\s*-\s*Hanh phuc|^[-_=*.~ ]{3,}$",
    _I,
)
_NUMBER = re.compile(
    r"\bSo\s*(?:hieu\s*)?:\s*(?P<num>[\d.…_ ]*/\s*[\w&.-]+(?:\s*/\s*[\w&.-]+)*)", _I
)
_PLACE_DATE = re.compile(
    r"(?P<place>[A-Z][^,:;]{0,40}?)\s*,\s*ngay\s*(?P<d>[\d.…_ ]*?)\s*thang\s*(?P<m>[\d.…_ ]*?)"
    r"\s*nam\s*(?P<y>\d{4})",
    _I,
)
_ROMAN_HEADING = re.compile(r"^(?P<r>[IVX]{1,5})\s*[.)/:-]\s*(?P<t>\S.*)$")
_BASIS = re.compile(
    r"^(?:(?P<cc>Can cu)\s+|(?P<th>Thuc hien)\s+(?=(?:Luat|Nghi dinh|Nghi quyet|Quyet dinh|"
    r"Chi thi|Thong tu|Ke hoach|Cong van|Thong bao|Huong dan|Chuong trinh|Ket luan|Van ban)\b))",
    _I,
)
_BODY_LEVEL = re.compile(
    r"^(?P<body>(?:UY BAN NHAN DAN|UBND|HOI DONG NHAN DAN|HDND))\s+"
    r"(?P<level>TINH|THANH PHO|TP\.?|HUYEN|THI XA|QUAN|XA|PHUONG|THI TRAN)\s+(?P<place>.+)$",
    _I,
)
_BODY_START = re.compile(
    r"(?<!UY)(?<!VAN)\s(?=(?:UY BAN|UBND|SO|BAN|PHONG|VAN PHONG|HOI DONG|TRUNG TAM|CONG AN|"
    r"BO CHI HUY)\s)",
    _I,
)
_CENTRAL_CITIES = {"HA NOI", "HO CHI MINH", "HAI PHONG", "DA NANG", "CAN THO", "HUE"}


@dataclasses.dataclass
class Header:
    issuer: str | None = None
    issuer_line: int | None = None
    ctx: Context = dataclasses.field(default_factory=Context)
    number: str | None = None
    number_line: int | None = None
    place: str | None = None
    issued_date: dt.date | None = None
    year: int | None = None
    date_text: str | None = None
    date_line: int | None = None
    kind: str | None = None
    title: str | None = None  # without the kind: "Tổ chức Hội nghị …"
    title_lines: tuple[int, int] | None = None
    legal_bases: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    body_start: int = 0  # index into the lines where the body begins
    notes: list[tuple[int | None, str]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class EventFacts:
    name: str
    time: EventTime | None = None
    time_line: int | None = None
    place: str | None = None
    place_line: int | None = None
    delegates: int | None = None
    delegates_line: int | None = None


def parse_header(lines: Sequence[Line]) -> Header:
    header = Header()
    # A plan issued with a decision: the header is the decision's ("QUYẾT ĐỊNH / Về việc ban
    # hành Kế hoạch …"), the plan's own title follows its "KẾ HOẠCH" line further down.
    decision = _find_decision_line(lines)
    kind_index = _find_kind_line(lines, 0 if decision is None else decision + 1)
    first_section = next(
        (i for i, line in enumerate(lines) if _ROMAN_HEADING.match(line.text)), len(lines)
    )
    if decision is not None:
        top = lines[:decision]
    elif kind_index is not None:
        top = lines[:kind_index]
    else:
        top = lines[: min(12, first_section)]
    segments: list[tuple[int, str]] = []
    for line in top:
        _header_line(line, header, segments)
    _issuer(segments, header)
    if kind_index is None:
        header.notes.append((None, "không tìm thấy dòng tên loại văn bản (“KẾ HOẠCH”)"))
        header.body_start = min(len(top), first_section)
    else:
        _title(lines, kind_index, header)
    _legal_bases(lines, header)
    return header


def _find_kind_line(lines: Sequence[Line], start: int = 0) -> int | None:
    # the first 60 lines hold a plan's own header; after a decision, the plan may come pages
    # later
    end = 60 if start == 0 else len(lines)
    for index in range(start, min(end, len(lines))):
        line = lines[index]
        match = _KIND_LINE.match(fold(line.text))
        if match and is_upper(line.text[: match.end(1)]):
            return index
    return None


_DECISION_LINE = re.compile(r"^QUYET DINH\s*$")


def _find_decision_line(lines: Sequence[Line]) -> int | None:
    """The "QUYẾT ĐỊNH" title line of a decision that issues the plan, when it comes before
    the plan's "KẾ HOẠCH" line."""
    for index, line in enumerate(lines[:60]):
        if _KIND_LINE.match(fold(line.text)) and is_upper(line.text):
            return None
        if _DECISION_LINE.match(fold(line.text)) and is_upper(line.text):
            return index
    return None


def _header_line(line: Line, header: Header, segments: list[tuple[int, str]]) -> None:
    text = line.text
    if not text:
        return
    spans: list[tuple[int, int]] = []
    folded = fold(text)
    for match in _MOTTO.finditer(folded):
        spans.append(match.span())
    number = _NUMBER.search(folded)
    if number and header.number is None:
        raw = re.sub(r"\s+", "", text[number.start("num") : number.end("num")])
        header.number = re.sub(r"^[.…_]+", "", raw)
        header.number_line = line.number
        spans.append(number.span())
    for start, end in spans:
        folded = folded[:start] + " " * (end - start) + folded[end:]
    when = _PLACE_DATE.search(folded)
    if when and header.date_text is None:
        header.place = strip_end(text[when.start("place") : when.end("place")]).strip()
        header.date_text = strip_end(text[when.start() :])
        header.date_line = line.number
        header.year = int(when.group("y"))
        day, month = when.group("d").strip(" ._…"), when.group("m").strip(" ._…")
        if day.isdigit() and month.isdigit():
            try:
                header.issued_date = check_date(dt.date(header.year, int(month), int(day)))
            except ValueError:
                header.notes.append(
                    (line.number, f"ngày ban hành không hợp lệ: “{header.date_text}”")
                )
        spans.append(when.span())
    rest = text
    for start, end in sorted(spans, reverse=True):
        rest = rest[:start] + " | " + rest[end:]
    for part in rest.split("|"):
        part = clean(part).strip(" -–_*")
        if part and is_upper(part):
            segments.append((line.number, part))


def _issuer(segments: list[tuple[int, str]], header: Header) -> None:
    if not segments:
        header.notes.append((None, "không tìm thấy cơ quan ban hành ở đầu văn bản"))
        return
    header.issuer_line = segments[0][0]
    joined = " ".join(part for _n, part in segments)
    joined = re.sub(r"\bUBND\b", "ỦY BAN NHÂN DÂN", joined)
    joined = re.sub(r"\bHĐND\b", "HỘI ĐỒNG NHÂN DÂN", joined)
    folded = fold(joined)
    cuts = [m.start() + 1 for m in _BODY_START.finditer(folded)]
    # "ỦY BAN NHÂN DÂN TỈNH AN GIANG SỞ NỘI VỤ": the parent, then the issuing body
    bodies = [joined[a:b].strip() for a, b in zip([0, *cuts], [*cuts, len(joined)], strict=True)]
    bodies = [b for b in bodies if b]
    parent_ctx = Context()
    for body in bodies[:-1]:
        parent_ctx = _context_of(body, parent_ctx)
    issuer = bodies[-1]
    header.ctx = _context_of(issuer, parent_ctx)
    match = _BODY_LEVEL.match(fold(issuer))
    if match:
        header.issuer = sentence_case_body(issuer)
        header.issuer = re.sub(r"^Uỷ", "Ủy", header.issuer)
        return
    units = find_units(issuer, header.ctx)
    if units and units[0].unit is not None and units[0].start == 0:
        name = units[0].unit.name
        where = header.ctx.province
        header.issuer = f"{name} tỉnh {where}" if where and not name.endswith("tỉnh") else name
        return
    header.issuer = sentence_case_body(issuer)


def _context_of(body: str, parent: Context) -> Context:
    match = _BODY_LEVEL.match(fold(body))
    if not match:
        return parent
    level = match.group("level").upper().rstrip(".")
    place = sentence_case_body("X " + body[match.start("place") :]).split(" ", 1)[1]
    place = " ".join(w[:1].upper() + w[1:] for w in place.split())
    if level == "TINH" or (level in {"THANH PHO", "TP"} and fold(place).upper() in _CENTRAL_CITIES):
        return Context("province", place)
    words = {"HUYEN": "huyện", "THI XA": "thị xã", "THANH PHO": "thành phố", "TP": "thành phố"}
    return Context("district", parent.province, place, words.get(level, "quận"))


def _title(lines: Sequence[Line], kind_index: int, header: Header) -> None:
    line = lines[kind_index]
    match = _KIND_LINE.match(fold(line.text))
    assert match is not None
    header.kind = KINDS[match.group(1).upper()]
    parts: list[str] = []
    first = last = line.number
    rest = line.text[match.start(2) :].strip()
    if rest:
        parts.append(rest)
    index = kind_index + 1
    blanks = 0
    while index < len(lines) and len(parts) < 5:
        text = lines[index].text
        folded = fold(text)
        if not text:
            if parts:
                break
            blanks += 1
            if blanks > 2:
                break
            index += 1
            continue
        if (
            _BASIS.match(folded)
            or _ROMAN_HEADING.match(text)
            or re.match(r"^Phan\s+[IVX]{1,5}\s*[.:-]", folded, _I)
            or re.match(r"^[-_=*.~ ]{3,}$", text)
            or re.match(r"^\((?:Ban hanh )?kem theo\b", folded, _I)
            or (parts and re.match(r"^(?:Nham|De|Thuc hien|Theo|Ve viec)\b", folded))
            or len(text) > 300
        ):
            break
        parts.append(text)
        last = lines[index].number
        index += 1
    header.body_start = index
    if parts:
        header.title = capitalize_first(" ".join(parts).strip())
        header.title_lines = (first if rest else lines[kind_index + 1].number, last)
    else:
        header.notes.append((line.number, "không tìm thấy tên (trích yếu) của văn bản"))


def _legal_bases(lines: Sequence[Line], header: Header) -> None:
    """The "Căn cứ …" lines (and "Thực hiện <văn bản> …") between the title and section I,
    without those words: the documents themselves."""
    for line in lines[header.body_start :]:
        if _ROMAN_HEADING.match(line.text):
            return
        match = _BASIS.match(fold(line.text))
        if match:
            text = line.text[match.end() :]
            text = capitalize_first(text.strip().rstrip(";,. "))
            if text:
                header.legal_bases.append((line.number, text))


# --- event facts ----------------------------------------------------------------------------

_LABEL = r"^(?:[\dIVX]{1,4}\s*[.)]\s*)?(?:[-+•]\s*)?"
_TIME = re.compile(
    _LABEL + r"Thoi gian(?:\s+(?:to chuc|dien ra|thuc hien|du kien))?(?P<both>\s*(?:,|va)\s*"
    r"dia diem(?:\s+to chuc)?)?\s*:\s*(?P<v>.+)$",
    _I,
)
_PLACE = re.compile(_LABEL + r"Dia diem(?:\s+(?:to chuc|dien ra))?\s*:\s*(?P<v>.+)$", _I)
_PEOPLE_LINE = re.compile(_LABEL + r"(?:Thanh phan|So luong|Quy mo)[^:]{0,40}:\s*(?P<v>.*)$", _I)
_DELEGATES = re.compile(
    r"(?:(?:khoang|du kien|tong so|gom|co)\s+)?(?P<n>\d{1,5})\s+"
    r"(?:dai bieu|nguoi|khach|dong chi)\b",
    _I,
)


def event_name(title: str | None) -> str:
    """The event from the title: "Tổ chức Hội nghị …" -> "Hội nghị …"."""
    if not title:
        return "Sự kiện của kế hoạch (chưa rõ tên)"
    if fold(title).lower().startswith("to chuc "):
        return capitalize_first(title[len("to chuc ") :].strip())
    return title


def parse_event(lines: Sequence[Line], header: Header, end: int) -> EventFacts:
    """Time, place and delegates from the body before the assignment section (``end``)."""
    facts = EventFacts(event_name(header.title))
    year = header.year
    for line in lines[header.body_start : end]:
        folded = fold(line.text)
        match = _TIME.match(folded)
        if match and facts.time is None:
            value = line.text[match.start("v") :]
            facts.time = parse_event_time(value, year)
            facts.time_line = line.number
            if match.group("both") and facts.place is None:
                at = re.search(r"\btai\s+", fold(value), _I)
                if at:
                    facts.place = strip_end(value[at.end() :])
                    facts.place_line = line.number
            continue
        match = _PLACE.match(folded)
        if match and (facts.place is None or facts.place_line == facts.time_line):
            facts.place = strip_end(line.text[match.start("v") :]).strip()
            facts.place_line = line.number
            continue
        match = _PEOPLE_LINE.match(folded)
        if match and facts.delegates is None:
            count = _DELEGATES.search(folded, match.start("v"))
            if count:
                facts.delegates = int(count.group("n"))
                facts.delegates_line = line.number
    if facts.time is None or (facts.time.date is None and facts.time.window is None):
        _event_date_anywhere(lines[header.body_start :], year, facts)
    if facts.delegates is None:
        for line in lines[header.body_start : end]:
            count = re.search(r"\bkhoang\s+(?P<n>\d{1,5})\s+dai bieu\b", fold(line.text), _I)
            if count:
                facts.delegates = int(count.group("n"))
                facts.delegates_line = line.number
                break
    return facts


# "… dự kiến tổ chức vào ngày 15/11/2025", "Hội nghị được tổ chức vào ngày …": the event's
# date said in any section, when no "Thời gian:" line gave one.
_EVENT_DATE = re.compile(
    r"\bdu kien\s+(?:se\s+)?(?:(?:to chuc|dien ra|khai mac)\s+)?(?:vao\s+)?"
    r"(?=ngay|trong|tu ngay|thang|quy)|\b(?:to chuc|dien ra|khai mac)\s+vao\s+(?=ngay)",
    _I,
)


def _event_date_anywhere(lines: Sequence[Line], year: int | None, facts: EventFacts) -> None:
    for line in lines:
        match = _EVENT_DATE.search(fold(line.text))
        if match is None:
            continue
        found = parse_event_time(line.text[match.start() :], year)
        if found.date is not None or found.window is not None:
            facts.time = found
            facts.time_line = line.number
            return
