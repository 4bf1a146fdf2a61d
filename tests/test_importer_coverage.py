"""The importer's invariant: every sentence of the assignment section ends up in exactly one
duty or in the "not understood" list with its line number — never nowhere (issue 18).

Held over generated documents in every layout the importer reads and over mutations of them
(lines dropped, joined, split, blanked, lower-cased), checked from the outside: each line of
the assignment section is a unit heading or lies in a sentence whose outcome is recorded; a
sentence recorded as used stands verbatim in a duty's detail; one recorded as listed stands in
the not-understood list with its line.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer import DocumentError, Imported, import_document
from importer.reading import read_lines
from tracking.planio import CheckedPlan, check_plan_text

UNITS = [
    "Sở Nội vụ",
    "Sở Tài chính",
    "Văn phòng UBND tỉnh",
    "Báo An Giang",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Công an tỉnh",
    "Trung tâm Xúc tiến Thương mại tỉnh",
    "Chi cục Thủy lợi",
    "Hội Nông dân tỉnh",
    "Ủy ban nhân dân huyện Phú Tân",
    "Các sở, ban, ngành tỉnh",
    "Các cơ quan, đơn vị có liên quan",
]
TASKS = [
    "chuẩn bị tài liệu phục vụ Hội nghị",
    "tổng hợp danh sách khen thưởng",
    "bố trí kinh phí tổ chức",
    "đưa tin về kết quả Hội nghị",
    "bảo đảm an ninh trật tự tại nơi tổ chức",
    "theo dõi, đôn đốc các đơn vị thực hiện",
    "trang trí hội trường",
]
DEADLINES = [
    "",
    " trước ngày 15/3/2024",
    " trong quý I/2024",
    " trước Hội nghị 10 ngày làm việc",
    " trong năm 2024 và các năm tiếp theo",
    " thường xuyên",
]
WORDS = ["nội dung", "kịp thời", "đúng quy định", "hồ sơ", "báo cáo", "kế hoạch", "(nếu có)"]


@st.composite
def sentences(draw: st.DrawFn) -> str:
    unit = draw(st.sampled_from(UNITS))
    task = draw(st.sampled_from(TASKS))
    deadline = draw(st.sampled_from(DEADLINES))
    extra = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3)))
    form = draw(st.integers(0, 6))
    body = f"{task} {extra}".strip()
    if form == 0:
        return f"{unit} {body}{deadline}."
    if form == 1:
        return f"Chủ trì, phối hợp với {unit} {body}{deadline}."
    if form == 2:
        return f"Phối hợp với {unit} {body}{deadline}."
    if form == 3:
        return f"{body.capitalize()}{deadline}."
    if form == 4:
        return f"Thời gian hoàn thành:{deadline or ' trước ngày 20/3/2024'}."
    if form == 5:
        return f"{unit} có trách nhiệm {body}; {draw(st.sampled_from(UNITS))} {task}."
    return f"{body.capitalize()}, phối hợp với {unit}{deadline}."


LABELS = ["Đơn vị chủ trì", "Đơn vị phối hợp", "Thời gian hoàn thành", "Sản phẩm"]
MARKERS = ["-", "+", "a)", "b.", "•", "1.1.", ""]
SECTION_TITLES = ["PHÂN CÔNG NHIỆM VỤ", "TỔ CHỨC THỰC HIỆN", "MỤC ĐÍCH, YÊU CẦU", "NỘI DUNG"]


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = ["ỦY BAN NHÂN DÂN", "TỈNH AN GIANG", "Số: 12/KH-UBND", "KẾ HOẠCH", "Tổ chức Hội nghị"]
    style = draw(st.sampled_from(["roman", "letter", "arabic"]))
    titles = draw(st.lists(st.sampled_from(SECTION_TITLES), min_size=1, max_size=3))
    titles.append(draw(st.sampled_from(SECTION_TITLES[:2])))
    for n, title in enumerate(titles, start=1):
        label = {"roman": ["I", "II", "III", "IV"], "letter": list("ABCD"), "arabic": list("1234")}
        lines.append(f"{label[style][n - 1]}. {title}")
        for h in range(1, draw(st.integers(1, 3)) + 1):
            if draw(st.booleans()):
                unit = draw(st.sampled_from(UNITS))
                lines.append(f"{h}. {unit}" + draw(st.sampled_from(["", ":"])))
            for _ in range(draw(st.integers(1, 4))):
                marker = draw(st.sampled_from(MARKERS))
                text = " ".join(draw(st.lists(sentences(), min_size=1, max_size=3)))
                lines.append(f"{marker} {text}".strip())
                if draw(st.integers(0, 3)) == 0:  # the labelled-fields layout
                    labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=4))
                    lines += [f"- {label}: {draw(st.sampled_from(UNITS))}." for label in labels]
    lines += ["Trên đây là Kế hoạch tổ chức Hội nghị.", "Nơi nhận:", "- Như trên;"]
    return "\n".join(lines)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(documents()).split("\n")
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.integers(0, 4))
        if kind == 0:
            del lines[at]
        elif kind == 1 and at + 1 < len(lines):
            lines[at : at + 2] = [lines[at] + " " + lines[at + 1]]
        elif kind == 2:
            cut = draw(st.integers(0, len(lines[at])))
            lines[at : at + 1] = [lines[at][:cut], lines[at][cut:]]
        elif kind == 3:
            lines.insert(at, "")
        else:
            lines[at] = lines[at].lower()
        if not lines:
            lines = [""]
    return "\n".join(lines)


def check_coverage(path: Path) -> bool:
    """The invariant on one document; False when the document was refused."""
    try:
        imported = import_document(path, check=check_plan_text)
    except DocumentError as exc:
        assert str(path) in str(exc)
        return False
    draft = imported.draft
    cover = draft.coverage
    assert cover.used + cover.listed == cover.total
    lines = read_lines(path)
    covered = set(cover.headings)
    for sentence in cover.sentences:
        covered.update(range(sentence.first, sentence.last + 1))
    unparsed_lines = {u.line for u in draft.unparsed}
    details = [a.detail for a in draft.assignments]
    for section in draft.sections:
        if not section.assignments:
            continue
        for line in lines[section.start : section.end]:
            if line.text:
                assert line.number in covered, f"line {line.number} nowhere: {line.text!r}"
    for sentence in cover.sentences:
        text = sentence.text.strip()
        if sentence.outcome == "listed":
            assert sentence.first in unparsed_lines or sentence.last in unparsed_lines, sentence
        elif text:
            assert any(text in d for d in details), f"used but in no duty: {sentence}"
    if not draft.unparsed:
        assert cover.listed == 0
    assert f"Phần phân công có {cover.total} câu" in imported.text
    return True


def test_every_sentence_of_the_assignment_section_is_accounted_for(tmp_path: Path) -> None:
    seen = {"draft": 0, "refused": 0}
    path = tmp_path / "ke-hoach.txt"

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(text=st.one_of(documents(), mutated()))
    def run(text: str) -> None:
        path.write_text(text, encoding="utf-8")
        seen["draft" if check_coverage(path) else "refused"] += 1

    run()
    assert seen["draft"] > seen["refused"]


def test_the_samples_account_for_every_sentence() -> None:
    samples = Path(__file__).parent / "import_samples"
    for path in sorted(samples.glob("*.txt")):
        check_coverage(path)


def test_an_appendix_table_accounts_for_every_row(tmp_path: Path) -> None:
    from tests.test_importer_layouts import appendix_docx

    path = appendix_docx(tmp_path)
    assert check_coverage(path)
    cover = _import(path).draft.coverage
    # the rows' cells are counted: the row without a lead is listed, the others used
    listed = [s.text for s in cover.sentences if s.outcome == "listed"]
    assert "Dự trữ vật tư cứu hộ" in listed


def _import(path: Path) -> Imported[CheckedPlan]:
    return import_document(path, check=check_plan_text)
