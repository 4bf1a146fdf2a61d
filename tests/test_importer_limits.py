"""Documents that would exhaust the machine are refused, cheaply, with a Vietnamese message
(issue 14, item 12: a 30 KB .docx of tiny elements took 36 s and 0.9 GB)."""

from __future__ import annotations

import resource
import zipfile
from pathlib import Path

import docx
import pytest

from importer import DocumentError, draft_plan, import_document
from importer.reading import MAX_LINES, MAX_XML_ELEMENTS, Budget, read_lines
from tracking.planio import check_plan_text

PLAN_HEAD = [
    "ỦY BAN NHÂN DÂN",
    "TỈNH AN GIANG",
    "Số: 1/KH-UBND",
    "KẾ HOẠCH",
    "Tổ chức Hội nghị",
    "I. PHÂN CÔNG NHIỆM VỤ",
    "1. Sở Nội vụ",
]


def tiny_paragraphs_docx(folder: Path, count: int) -> Path:
    """A .docx whose body holds ``count`` one-letter paragraphs: a few dozen kilobytes."""
    base = folder / "base.docx"
    document = docx.Document()
    for line in PLAN_HEAD:
        document.add_paragraph(line)
    document.save(str(base))
    with zipfile.ZipFile(base) as source:
        body = source.read("word/document.xml").decode()
        tiny = "<w:p><w:r><w:t>- a</w:t></w:r></w:p>" * count
        body = body.replace("<w:sectPr", tiny + "<w:sectPr", 1)
        path = folder / "tiny.docx"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                data = body.encode() if item.filename == "word/document.xml" else source.read(item)
                target.writestr(item, data)
    return path


def test_a_small_docx_of_many_tiny_elements_is_refused_before_it_is_built(
    tmp_path: Path,
) -> None:
    path = tiny_paragraphs_docx(tmp_path, 300_000)
    assert path.stat().st_size < 100_000  # small on disk, 300,000 paragraphs inside
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DocumentError) as refused:
        import_document(path, check=check_plan_text)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    message = str(refused.value)
    assert str(path) in message and "văn bản quá lớn" in message
    assert f"{MAX_LINES} đoạn" in message
    # the old reader built every element in memory (about 300 MB here); streaming does not
    assert grown_kib < 100_000, grown_kib


def test_elements_are_bounded_even_with_few_paragraphs(tmp_path: Path) -> None:
    base = tiny_paragraphs_docx(tmp_path, 1)
    with zipfile.ZipFile(base) as source:
        body = source.read("word/document.xml").decode()
        runs = "<w:r><w:t>a</w:t></w:r>" * (MAX_XML_ELEMENTS // 2 + 1)
        body = body.replace("<w:t>- a</w:t></w:r>", "<w:t>- a</w:t></w:r>" + runs, 1)
        path = tmp_path / "runs.docx"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                data = body.encode() if item.filename == "word/document.xml" else source.read(item)
                target.writestr(item, data)
    with pytest.raises(DocumentError, match=f"hơn {MAX_XML_ELEMENTS} phần tử"):
        read_lines(path)


def test_a_text_of_too_many_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dai.txt"
    path.write_text("\n".join(PLAN_HEAD + ["- Chuẩn bị."] * MAX_LINES), encoding="utf-8")
    with pytest.raises(DocumentError, match=r"văn bản quá lớn \(\d+ dòng"):
        read_lines(path)


def test_a_document_that_takes_too_long_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ke-hoach.txt"
    path.write_text("\n".join([*PLAN_HEAD, "- Chuẩn bị tài liệu."]), encoding="utf-8")
    lines = read_lines(path)
    spent = Budget(path, seconds=-1.0)  # already over: no clock involved in the outcome
    with pytest.raises(DocumentError, match="không xử lý xong trong") as refused:
        draft_plan(lines, str(path), check=spent.check)
    assert str(path) in str(refused.value)


def test_a_plan_within_the_bounds_still_imports(tmp_path: Path) -> None:
    path = tiny_paragraphs_docx(tmp_path, 200)
    imported = import_document(path, check=check_plan_text)
    assert len(imported.checked.spec.assignments) == 200
