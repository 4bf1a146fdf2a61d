"""Reading a document into numbered lines: a .txt line by line, a .docx paragraph by paragraph.

A .docx is read in body order, tables included (the header of a Vietnamese document is
usually a two-column table), and every paragraph, empty or not, counts one: the "line" number
of a .docx is its paragraph number, as Word's navigation shows it. Numbers and bullets that
Word draws itself (automatic lists) are written out ("1.", "a)", "-"), so the document reads
as it prints.
"""

from __future__ import annotations

import logging
import re
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lxml import etree

from importer.text import Line, clean
from models.errors import FileProblem
from models.numbering import roman

SUPPORTED = (".txt", ".docx", ".pdf")
MAX_PDF_PAGES = 300
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# A .docx is a zip: 20 MB of it can unpack to gigabytes ("zip bomb"); a real plan's parts
# unpack to a few megabytes.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
# What a plan can hold. A few kilobytes of zip can hold hundreds of thousands of tiny XML
# elements (<w:p/> compresses to almost nothing): the unpacked size alone does not bound the
# work, so the paragraphs (lines), the XML elements and the characters are bounded too, and
# counted while the part is read, before it is built in memory. A national plan with its
# appendix tables has a few thousand paragraphs and a few hundred thousand characters.
MAX_LINES = 10_000
MAX_XML_ELEMENTS = 400_000
MAX_CHARACTERS = 2_000_000
# Reading and drafting together; a real plan takes about a second.
MAX_SECONDS = 60.0


class Budget:
    """The time a document may take to read and draft; ``check`` raises once it is spent."""

    def __init__(self, path: Path, seconds: float = MAX_SECONDS) -> None:
        self.path = path
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise DocumentError(
                f"{self.path}: văn bản quá lớn hoặc quá phức tạp, không xử lý xong trong "
                f"{self.seconds:.0f} giây; hãy tách phần phân công nhiệm vụ ra một tệp riêng."
            )


class DocumentError(FileProblem):
    """A document that cannot be turned into a draft plan; the message is for the user."""


def read_lines(path: Path, budget: Budget | None = None) -> list[Line]:
    """The document's lines; raises :class:`DocumentError` with a Vietnamese message."""
    lines = _read_lines(path, budget or Budget(path))
    if len(lines) > MAX_LINES:
        raise _too_big(path, f"{len(lines)} dòng")
    characters = sum(len(line.text) for line in lines)
    if characters > MAX_CHARACTERS:
        raise _too_big(path, f"{characters} ký tự")
    return lines


def _too_big(path: Path, what: str) -> DocumentError:
    return DocumentError(
        f"{path}: văn bản quá lớn ({what}; tối đa {MAX_LINES} dòng/đoạn và "
        f"{MAX_CHARACTERS} ký tự) — không phải một kế hoạch; hãy tách phần phân công nhiệm vụ "
        "ra một tệp riêng."
    )


def _read_lines(path: Path, budget: Budget) -> list[Line]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        hint = " (hãy lưu lại dưới dạng .docx)" if suffix == ".doc" else ""
        raise DocumentError(
            f"{path}: định dạng “{suffix or 'không có phần mở rộng'}” chưa được hỗ trợ{hint}; "
            "chỉ nhận tệp .txt, .docx hoặc .pdf (có lớp chữ)."
        )
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise DocumentError(f"{path}: tệp quá lớn (tối đa 20 MB).")
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: không đọc được tệp ({exc.strerror}).") from exc
    if suffix == ".txt":
        text = _decode(raw, path)
        if len(text) > MAX_CHARACTERS:
            raise _too_big(path, f"{len(text)} ký tự")
        return text_lines(text)
    if suffix == ".pdf":
        return pdf_lines(path, budget)
    return docx_lines(path, budget)


# --- .pdf ----------------------------------------------------------------------------------


def pdf_lines(path: Path, budget: Budget | None = None) -> list[Line]:
    """The lines of a PDF's text layer, numbered through the pages as a .txt would be (the
    portals publish plans as PDFs printed from Word). A scanned PDF has no text layer: it is
    refused with a message that says so."""
    import pypdf
    from pypdf.errors import PyPdfError

    # pypdf writes the damage it works around ("EOF marker not found", …) as English log lines
    # that would reach the officer's terminal; what matters is said in Vietnamese below.
    logging.getLogger("pypdf").setLevel(logging.CRITICAL + 1)
    budget = budget or Budget(path)
    try:
        reader = pypdf.PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{path}: tệp PDF có mật khẩu; hãy gửi bản không khóa.")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise _too_big(path, f"{len(reader.pages)} trang")
        texts: list[str] = []
        for page in reader.pages:
            budget.check()
            texts.append(page.extract_text() or "")
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise DocumentError(f"{path}: không đọc được tệp PDF (tệp hỏng?).") from exc
    text = "\n".join(texts)
    if not text.strip():
        raise DocumentError(
            f"{path}: tệp PDF không có lớp chữ (có lẽ là bản scan/ảnh chụp), không đọc được "
            "nội dung; hãy dùng bản .docx gốc, hoặc nhận dạng chữ (OCR) rồi lưu thành .docx."
        )
    if len(text) > MAX_CHARACTERS:
        raise _too_big(path, f"{len(text)} ký tự")
    return text_lines(text)


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            pass
    else:
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            pass
    raise DocumentError(
        f"{path}: không đọc được tệp: nội dung không phải văn bản Unicode (UTF-8); "
        "hãy mở bằng Word và lưu lại dưới dạng .docx hoặc .txt (UTF-8)."
    )


def text_lines(text: str) -> list[Line]:
    """Lines of a text, numbered from 1; each cleaned (NFC, single spaces)."""
    return [Line(i, clean(line)) for i, line in enumerate(text.splitlines(), start=1)]


# --- .docx --------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def docx_lines(path: Path, budget: Budget | None = None) -> list[Line]:
    """Paragraphs of a .docx in reading order; a paragraph with line breaks gives several
    lines with the same number."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    unreadable = f"{path}: không đọc được tệp .docx (tệp hỏng hoặc không phải tài liệu Word)."
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(item.file_size for item in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(unreadable) from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise DocumentError(
            f"{path}: tệp .docx giải nén ra quá lớn ({unpacked / 1e6:.0f} MB; "
            f"tối đa {MAX_UNPACKED_BYTES / 1e6:.0f} MB)."
        )
    _count_elements(path, budget or Budget(path), unreadable)
    try:
        document = docx.Document(str(path))
    except (
        PackageNotFoundError,
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        SyntaxError,  # lxml's XMLSyntaxError: a part that is not well-formed XML
        zlib.error,  # a part whose compressed data is damaged
        EOFError,  # a part cut short
    ) as exc:
        raise DocumentError(unreadable) from exc
    numbering = _Numbering(document)
    lines: list[Line] = []
    tables = iter(range(1_000_000))
    for number, (paragraph, cell) in enumerate(_paragraphs(document.element.body, tables), start=1):
        marker = numbering.marker(paragraph, document)
        text = _paragraph_text(paragraph)
        parts = text.split("\n") or [""]
        for index, part in enumerate(parts):
            content = clean(part)
            if index == 0 and marker and content:
                content = f"{marker} {content}"
            lines.append(Line(number, content, cell))
    return lines


def _count_elements(path: Path, budget: Budget, unreadable: str) -> None:
    """Stream the body part once, counting its elements and paragraphs and freeing each as
    it ends, so that a document too big to build is refused before python-docx builds it."""
    elements = paragraphs = 0
    try:
        with zipfile.ZipFile(path) as archive, archive.open("word/document.xml") as part:
            for _event, element in etree.iterparse(
                part, events=("end",), resolve_entities=False, no_network=True
            ):
                elements += 1
                if element.tag == f"{_W}p":
                    paragraphs += 1
                element.clear(keep_tail=True)
                if elements > MAX_XML_ELEMENTS or paragraphs > MAX_LINES:
                    raise DocumentError(
                        f"{path}: văn bản quá lớn (hơn {MAX_XML_ELEMENTS} phần tử hoặc "
                        f"{MAX_LINES} đoạn) — không phải một kế hoạch; hãy tách phần phân công "
                        "nhiệm vụ ra một tệp riêng."
                    )
                if elements % 10_000 == 0:
                    budget.check()
    except KeyError:
        return  # no body part: python-docx says the file is not a Word document
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error, EOFError, SyntaxError) as exc:
        if isinstance(exc, DocumentError):
            raise
        raise DocumentError(unreadable) from exc


Cell = tuple[int, int, int] | None


def _paragraphs(
    element: Any, tables: Iterator[int], cell: Cell = None
) -> Iterator[tuple[Any, Cell]]:
    """w:p elements in reading order, through tables (each cell once) and content controls,
    each with its cell (table, row, column) when it stands in a table. A table inside a
    cell is read as the outer cell's paragraphs."""
    for child in element.iterchildren():
        tag = child.tag
        if tag == f"{_W}p":
            yield child, cell
        elif tag == f"{_W}tbl":
            table = next(tables)
            for r, row in enumerate(child.iterchildren(f"{_W}tr")):
                for c, tc in enumerate(row.iterchildren(f"{_W}tc")):
                    yield from _paragraphs(tc, tables, cell or (table, r, c))
        elif tag in (f"{_W}sdt", f"{_W}sdtContent", f"{_W}customXml", f"{_W}smartTag"):
            yield from _paragraphs(child, tables, cell)


def _paragraph_text(p: Any) -> str:
    out: list[str] = []
    for node in p.iter(f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr", f"{_W}delText"):
        tag = node.tag
        if tag == f"{_W}t":
            out.append(node.text or "")
        elif tag == f"{_W}tab":
            out.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr") and node.get(f"{_W}type") in (None, "textWrapping"):
            out.append("\n")
        # deleted text of tracked changes (w:delText) is not part of the document
    return "".join(out)


def _letter(value: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[(value - 1) % 26] * ((value - 1) // 26 + 1)


def _format(value: int, fmt: str) -> str:
    if value < 1:  # a list may start at 0: no letter or Roman numeral for it
        return str(value)
    if fmt == "lowerLetter":
        return _letter(value)
    if fmt == "upperLetter":
        return _letter(value).upper()
    if fmt == "lowerRoman":
        return roman(value).lower()
    if fmt == "upperRoman":
        return roman(value)
    return str(value)


class _Numbering:
    """Word's automatic numbering, counted the way Word shows it (per list, per level)."""

    def __init__(self, document: Any) -> None:
        self.levels: dict[tuple[str, int], tuple[str, str, int]] = {}
        self.counters: dict[str, dict[int, int]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        for node in root.iterchildren(f"{_W}abstractNum"):
            levels: dict[int, tuple[str, str, int]] = {}
            for lvl in node.iterchildren(f"{_W}lvl"):
                ilvl = _number(lvl.get(f"{_W}ilvl"), 0)
                fmt = _val(lvl, "numFmt") or "decimal"
                text = _val(lvl, "lvlText") or ""
                start = _number(_val(lvl, "start"), 1)
                levels[ilvl] = (fmt, text, start)
            abstract[node.get(f"{_W}abstractNumId", "")] = levels
        for num in root.iterchildren(f"{_W}num"):
            num_id = num.get(f"{_W}numId", "")
            ref = num.find(f"{_W}abstractNumId")
            if ref is None:
                continue
            for ilvl, spec in abstract.get(ref.get(f"{_W}val", ""), {}).items():
                self.levels[(num_id, ilvl)] = spec

    def marker(self, p: Any, document: Any) -> str:
        num_id, ilvl = self._num_pr(p, document)
        if num_id is None or num_id == "0":
            return ""
        spec = self.levels.get((num_id, ilvl))
        if spec is None:
            return ""
        fmt, text, _start = spec
        if fmt == "bullet" or fmt == "none":
            return "-" if fmt == "bullet" else ""
        counters = self.counters.setdefault(num_id, {})
        counters[ilvl] = counters.get(ilvl, spec[2] - 1) + 1
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]

        def substitute(match: re.Match[str]) -> str:
            level = int(match.group(1)) - 1
            level_spec = self.levels.get((num_id, level), spec)
            value = counters.get(level, level_spec[2])
            return _format(value, level_spec[0])

        return re.sub(r"%(\d)", substitute, text).strip()

    @staticmethod
    def _num_pr(p: Any, document: Any) -> tuple[str | None, int]:
        num_pr = p.find(f"{_W}pPr/{_W}numPr")
        if num_pr is None:
            style_id = p.find(f"{_W}pPr/{_W}pStyle")
            if style_id is None:
                return None, 0
            try:
                style = document.styles.element.get_by_id(style_id.get(f"{_W}val"))
            except (KeyError, AttributeError):
                return None, 0
            if style is None:
                return None, 0
            num_pr = style.find(f"{_W}pPr/{_W}numPr")
            if num_pr is None:
                return None, 0
        num_id = _val(num_pr, "numId")
        ilvl = _number(_val(num_pr, "ilvl"), 0)
        return num_id, ilvl


def _number(value: str | None, default: int) -> int:
    # A damaged or hand-made file may hold anything here: it reads as Word's default.
    if value is None or not value.isdigit() or len(value) > 4:
        return default
    return int(value)


def _val(node: Any, name: str) -> str | None:
    child = node.find(f"{_W}{name}")
    if child is None:
        return None
    value = child.get(f"{_W}val")
    return str(value) if value is not None else None
