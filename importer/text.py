"""Text helpers for Vietnamese administrative documents.

The central trick is :func:`fold`: it removes diacritics (and maps đ to d) one character for
one character, so a regular expression can run on the folded text and its match positions cut
the original text. "Văn phòng UBND tỉnh" and "Van phong UBND tinh" fold alike, and so do the
old and new tone placements ("hoà"/"hòa", "Uỷ"/"Ủy").
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata

from models.text import clean as normal_form

_DASHES = {"–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-"}


@dataclasses.dataclass(frozen=True)
class Line:
    """One line of the document: ``number`` is the line of a .txt or the paragraph of a .docx."""

    number: int
    text: str
    # a paragraph inside a Word table: (table, row, column), each counted from 0 in reading
    # order; the rows of an assignment table are read as rows, not as paragraphs
    cell: tuple[int, int, int] | None = None


def clean(text: str) -> str:
    """The project's one normal form for names (models.text.clean), control characters as
    spaces: so the draft's names are already the ones a load stores."""
    return normal_form("".join(" " if unicodedata.category(c) == "Cc" else c for c in text))


@functools.cache  # a document has a few hundred distinct characters, folded again and again
def _fold_char(char: str) -> str:
    if char in "đĐ":
        return "d" if char == "đ" else "D"
    if char in _DASHES:
        return _DASHES[char]
    base = unicodedata.normalize("NFD", char)[0]
    return base if len(base) == 1 else char


@functools.lru_cache(maxsize=4096)  # the pipeline folds the same lines and names many times
def fold(text: str) -> str:
    """``text`` without diacritics, same length, same case: positions carry over."""
    return "".join(map(_fold_char, text))


def slug(text: str) -> str:
    """ASCII lower-case words joined by hyphens: "Hội nghị" -> "hoi-nghi"."""
    return re.sub(r"[^a-z0-9]+", "-", fold(text).lower()).strip("-")


def code_slug(text: str) -> str:
    """ASCII capitals without separators: "Châu Thành" -> "CHAUTHANH"."""
    return re.sub(r"[^A-Z0-9]+", "", fold(text).upper())


def initials(text: str) -> str:
    """Capital initials of the words, as offices abbreviate, without the conjunction "và":
    "An Giang" -> "AG", "Bộ Lao động - Thương binh và Xã hội" -> "BLDTBXH" (codes are ASCII:
    Đ is written D)."""
    words = re.findall(r"[A-Za-z0-9]+", fold(text))
    return "".join(w[0] for w in words if w.lower() != "va").upper()


def capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def strip_end(text: str) -> str:
    """Without trailing punctuation and spaces (keeps a closing parenthesis)."""
    return text.strip().rstrip(".;:, /").strip()


def is_upper(text: str) -> bool:
    """True when the letters of ``text`` are (almost) all capitals, as in a heading."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return False
    return sum(c.isupper() for c in letters) >= 0.85 * len(letters)


# The level words of a body's name: lower-case in "Ủy ban nhân dân tỉnh An Giang".
_LOWER_WORDS = {
    "tỉnh",
    "huyện",
    "thị",
    "xã",
    "thành",
    "phố",
    "quận",
    "phường",
    "trấn",
}


def sentence_case_body(text: str) -> str:
    """ "ỦY BAN NHÂN DÂN TỈNH AN GIANG" -> "Ủy ban nhân dân tỉnh An Giang".

    The kind of body is lower-cased after its first word; the level word is lower-case; the
    place name after it keeps capital initials.
    """
    words = text.split()
    out: list[str] = []
    place = False
    for index, word in enumerate(words):
        lower = word.lower()
        if lower in _LOWER_WORDS and not place:
            out.append(lower)
            if lower in {"tỉnh", "huyện", "xã", "phố", "quận", "phường", "trấn"}:
                place = True
            continue
        if place or index == 0:
            out.append(lower[:1].upper() + lower[1:])
        else:
            out.append(lower)
    result = " ".join(out)
    result = re.sub(r"^Uỷ ban", "Ủy ban", result)
    return result


_ABBREVIATIONS = re.compile(
    r"(?:\b(?:TP|Tp|TT|TS|ThS|PGS|GS|BS|KS|Th|St|Q|P|H|X|v\.v|Nxb|tr|số|Số|No)|\b[A-ZĐ])\.$"
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text``: a full stop then a capital starts a new one.

    Full stops inside parentheses or quotes, after an abbreviation ("TP.", "TT.") or an
    initial, and in numbers ("16.5", "1.2.") do not end a sentence.
    """
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char in ".!?" and depth == 0:
            j = i + 1
            while j < n and text[j] in ".!?\"”'":
                j += 1
            k = j
            while k < n and text[k] == " ":
                k += 1
            if (
                k > j
                and k < n
                and (text[k].isupper() or (text[k].isdigit() and _digit_starts_sentence(text, k)))
                and not _ABBREVIATIONS.search(text[start : i + 1])
            ):
                spans.append((start, j))
                start = k
                i = k
                continue
        i += 1
    if start < n and text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _digit_starts_sentence(text: str, k: int) -> bool:
    # "… năm 2023. 180 đại biểu" is rare; a sentence starting with a number is usually "01 …"
    return bool(re.match(r"\d{1,2} [A-ZĐa-zđ]", text[k:]))
