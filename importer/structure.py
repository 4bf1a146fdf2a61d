"""Sections (I., II., … V.) and the items of a section (numbered, lettered, bulleted, plain).

An item is one paragraph of the document: its marker ("1.", "1.2.", "a)", "-", "+", "•"),
its text, and the lines it spans: a .txt wrapped in the middle of a sentence gives one item
over several lines.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

from importer.text import Line, fold, is_upper

_I = re.IGNORECASE
ROMAN_HEADING = re.compile(r"^(?P<label>[IVX]{1,5})\s*[.)/:-]\s*(?P<title>\S.*)$")
_ARABIC_HEADING = re.compile(r"^(?P<label>\d{1,2})\s*[.)]\s*(?P<title>\S.*)$")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}
ASSIGNMENT_TITLES = re.compile(
    r"PHAN CONG NHIEM VU|TO CHUC THUC HIEN|PHAN CONG THUC HIEN|PHAN CONG TRACH NHIEM|"
    r"TRACH NHIEM THUC HIEN|TRACH NHIEM CUA CAC|NHIEM VU CUA CAC (?:CO QUAN|DON VI)|"
    r"^PHAN CONG\b",
    _I,
)
_CLOSING = re.compile(
    r"^(?:Tren day la|Noi nhan\s*:|Trong qua trinh (?:to chuc |trien khai )*thuc hien"
    r"(?: ke hoach)?\s*,\s*(?:neu )?(?:co )?(?:phat sinh )?(?:kho khan|vuong mac))",
    _I,
)
_SIGNATURE = re.compile(r"^(?:KT\.|TM\.|Q\.|TL\.|CHU TICH|PHO CHU TICH|GIAM DOC)\b")


@dataclasses.dataclass(frozen=True)
class Section:
    label: str  # "V"
    title: str  # "PHÂN CÔNG NHIỆM VỤ"
    line: int  # the heading's line
    start: int  # index of the first line after the heading
    end: int  # index after the last line
    assignments: bool  # "PHÂN CÔNG NHIỆM VỤ", "TỔ CHỨC THỰC HIỆN"…


@dataclasses.dataclass
class Item:
    kind: str  # num, sub, letter, dash, plus, dot, plain
    label: str  # "1", "1.2", "a", "-", "+", "•", ""
    text: str
    starts: list[tuple[int, int]]  # (offset in text, line number) of each line joined

    @property
    def first(self) -> int:
        return self.starts[0][1]

    @property
    def last(self) -> int:
        return self.starts[-1][1]

    def line_at(self, offset: int) -> int:
        line = self.starts[0][1]
        for start, number in self.starts:
            if start <= offset:
                line = number
        return line

    def lines(self, start: int = 0, end: int | None = None) -> str:
        """ "dòng 49" or "dòng 49-50" for the part of the text between the offsets."""
        a = self.line_at(start)
        b = self.line_at(max(start, (len(self.text) if end is None else end) - 1))
        return f"dòng {a}" if a == b else f"dòng {a}-{b}"


def _is_roman(label: str) -> bool:
    return bool(re.fullmatch(r"X{0,3}(?:IX|IV|V?I{0,3})", label)) and bool(label)


_PART_HEADING = re.compile(r"^(?:PHẦN|Phần)\s+(?P<label>[IVX]{1,5})\s*[.:-]\s*(?P<title>\S.*)$")
_LETTER_HEADING = re.compile(r"^(?P<label>[A-HK-UWYĐ])\s*[.)/:-]\s*(?P<title>\S.*)$")


def _headings(lines: Sequence[Line], body_start: int) -> list[tuple[int, str, str]]:
    """The section headings: Roman ("V. PHÂN CÔNG NHIỆM VỤ"), letters ("D. TỔ CHỨC THỰC
    HIỆN") or Arabic numbers ("4. TỔ CHỨC THỰC HIỆN"), the last two with an upper-case title,
    or parts ("Phần III. TỔ CHỨC THỰC HIỆN").
    The first numbering that has an assignment section wins (a plan may number its parts
    A., B. and the points inside them I., II.); else the first that has any heading."""
    schemes: list[list[tuple[int, str, str]]] = [[], [], [], []]
    for index in range(body_start, len(lines)):
        text = lines[index].text
        match = ROMAN_HEADING.match(text)
        if match and _is_roman(match.group("label")):
            schemes[0].append((index, match.group("label"), match.group("title").strip()))
            continue
        part = _PART_HEADING.match(text)
        if part and _is_roman(part.group("label")):
            schemes[3].append((index, part.group("label"), part.group("title").strip()))
            continue
        for scheme, pattern in ((1, _LETTER_HEADING), (2, _ARABIC_HEADING)):
            match = pattern.match(text)
            if match and is_upper(match.group("title")):
                schemes[scheme].append((index, match.group("label"), match.group("title").strip()))
    for heads in schemes:
        if any(ASSIGNMENT_TITLES.search(fold(title)) for _i, _l, title in heads):
            return heads
    return next((heads for heads in schemes if heads), [])


def find_sections(lines: Sequence[Line], body_start: int) -> tuple[list[Section], int]:
    """The sections after ``body_start``, and the index where the closing part begins."""
    heads = _headings(lines, body_start)
    closing = len(lines)
    last_assignment = next(
        (i for i, _l, t in reversed(heads) if ASSIGNMENT_TITLES.search(fold(t))), None
    )
    search_from = last_assignment + 1 if last_assignment is not None else body_start
    for index in range(search_from, len(lines)):
        folded = fold(lines[index].text)
        if _CLOSING.match(folded) or _SIGNATURE.match(folded):
            closing = index
            break
    sections = []
    for n, (index, label, title) in enumerate(heads):
        if index >= closing:
            break
        end = heads[n + 1][0] if n + 1 < len(heads) else closing
        end = min(end, closing)
        sections.append(
            Section(
                label,
                title,
                lines[index].number,
                index + 1,
                end,
                bool(ASSIGNMENT_TITLES.search(fold(title))),
            )
        )
    return sections, closing


_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sub", re.compile(r"^(?P<label>\d{1,2}(?:\.\d{1,2})+)\s*[.)]?\s+(?P<rest>\S.*)$")),
    ("num", re.compile(r"^(?P<label>\d{1,2})\s*[.)]\s*(?!\d)(?P<rest>\S.*)$")),
    ("letter", re.compile(r"^(?P<label>[a-zđ])\s*\)\s*(?P<rest>\S.*)$")),
    ("letter", re.compile(r"^(?P<label>[a-zđ])\.\s+(?P<rest>\S.*)$")),
    ("dash", re.compile(r"^(?P<label>[-–—])\s*(?P<rest>\S.*)$")),
    ("plus", re.compile(r"^(?P<label>\+)\s*(?P<rest>\S.*)$")),
    ("dot", re.compile(r"^(?P<label>[•·∙◦▪●○■□➢➤►✓*])\s*(?P<rest>\S.*)$")),
)


def parse_marker(text: str) -> tuple[str, str, str]:
    """(kind, label, text without the marker)."""
    for kind, pattern in _MARKERS:
        match = pattern.match(text)
        if match:
            return kind, match.group("label"), match.group("rest").strip()
    return "plain", "", text


def build_items(
    lines: Sequence[Line], is_heading: Callable[[Item], bool], hard_wrapped: bool
) -> list[Item]:
    """The items of a section; a line wrapped in the middle of a duty joins the item before.

    A plain line continues the previous item when it starts with a lower-case letter, or (in
    a .txt whose lines are hard-wrapped) when the previous item does not end a sentence, its
    last line is long and the line is not itself a unit heading. Nothing ever continues a unit
    heading, and a blank line ends every item.
    """
    items: list[Item] = []
    previous_length = 0
    after_blank = False
    for line in lines:
        if not line.text:
            after_blank = True
            continue
        kind, label, rest = parse_marker(line.text)
        if kind == "plain" and items and not after_blank and not is_heading(items[-1]):
            prev = items[-1]
            ends_sentence = bool(re.search(r"[.;:!?]\)?$", prev.text))
            lower_start = rest[:1].islower() or rest[:1] == "("
            # a line break inside one Word paragraph (same number) never starts an item of
            # its own unless it has a marker: "… Ủy ban nhân dân huyện\nDân huyện phê duyệt"
            same_paragraph = line.number == prev.last and not ends_sentence
            wrapped = (
                hard_wrapped and not ends_sentence and previous_length >= 50
            ) or same_paragraph
            if wrapped and not lower_start:
                wrapped = not is_heading(Item(kind, label, rest, [(0, line.number)]))
            if lower_start or wrapped:
                prev.starts.append((len(prev.text) + 1, line.number))
                prev.text = f"{prev.text} {rest}"
                previous_length = len(line.text)
                continue
        items.append(Item(kind, label, rest, [(0, line.number)]))
        previous_length = len(line.text)
        after_blank = False
    return items
