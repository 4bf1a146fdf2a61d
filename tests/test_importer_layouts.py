"""Layouts of real plans beyond the seed (issue 18), each on a sample written for this
project: a plan issued with a decision, sections lettered, units outside the gazetteer, the
same unit spelt two ways, a recurring period, and the PDF forms."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from sqlalchemy.engine import Engine

from importer import DocumentError, import_document
from importer.text import initials
from importer.timephrases import scan_deadline
from importer.units import Context, find_units
from tracking.planio import CheckedPlan, check_plan_text

SAMPLES = Path(__file__).parent / "import_samples"
COMMUNE = SAMPLES / "quyet-dinh-kem-ke-hoach-xa.txt"


def test_plan_issued_with_a_decision_lettered_sections_and_units_by_form() -> None:
    imported = import_document(COMMUNE, check=check_plan_text)
    spec: CheckedPlan = imported.checked
    plan = spec.spec.plan
    # the plan's own title follows "KẾ HOẠCH", not the decision's; the issuer is the body
    assert plan.title == "Kế hoạch Tổ chức Ngày hội Đại đoàn kết toàn dân tộc năm 2025"
    assert plan.issuer == "Ủy ban nhân dân xã Bình Hòa"
    # "C. TỔ CHỨC THỰC HIỆN" is the assignment section; the event date from section B
    assert plan.event.date is not None and plan.event.date.isoformat() == "2025-11-15"
    got = {a.source: (a.lead, list(a.cooperating)) for a in spec.spec.assignments}
    assert got["dòng 24: Mục C.1"] == ("UBMTTQVNX", [])
    # "Uỷ ban MTTQ xã" is the same unit as "Ủy ban Mặt trận Tổ quốc Việt Nam xã", and the
    # draft says so; "phối hợp với Trạm Y tế xã" makes the Trạm lead (the usual rule)
    assert got["dòng 25: Mục C.2"] == ("TYTX", ["UBMTTQVNX"])
    assert "“Uỷ ban MTTQ xã” được coi là cùng đơn vị này" in imported.text
    assert got["dòng 26: Mục C.3"] == ("HCCBX", [])
    assert got["dòng 27: Mục C.4"] == ("CDTNABT", [])
    # a recurring period is flagged, not turned into 31/12/2025
    recurring = next(a for a in spec.spec.assignments if a.source == "dòng 26: Mục C.3")
    assert recurring.deadline is None
    assert imported.draft.coverage.listed == 0 and imported.draft.coverage.used == 4


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Bộ Lao động - Thương binh và Xã hội hướng dẫn", "Bộ Lao động - Thương binh và Xã hội"),
        ("Chi cục Thủy lợi tham mưu", "Chi cục Thủy lợi"),
        ("Trung tâm Khuyến nông tỉnh chủ trì", "Trung tâm Khuyến nông tỉnh"),
        ("Hội Cựu thanh niên xung phong tỉnh", "Hội Cựu thanh niên xung phong tỉnh"),
        ("Tiểu ban Nội dung chuẩn bị tài liệu", "Tiểu ban Nội dung"),
        ("UBND huyện Phú Tân tổ chức", "UBND huyện Phú Tân"),
        ("Trạm Y tế xã tổ chức khám", "Trạm Y tế xã"),
    ],
)
def test_units_are_recognised_by_the_form_of_their_names(text: str, name: str) -> None:
    found = find_units(text, Context("province", "An Giang"))
    assert [m.text for m in found] == [name]
    assert found[0].unit is not None


@pytest.mark.parametrize("text", ["Ban hành kế hoạch", "Hội nghị tổng kết", "Báo cáo kết quả"])
def test_common_words_that_start_like_a_unit_are_not_units(text: str) -> None:
    assert find_units(text, Context("province", "An Giang")) == []


def test_codes_follow_office_habit() -> None:
    assert initials("Bộ Lao động - Thương binh và Xã hội") == "BLDTBXH"


def test_spellings_of_one_unit_merge_and_an_existing_register_is_matched() -> None:
    ctx = Context("province", "An Giang")
    ctx.register.seed([("CCTL", "Chi cục Thủy lợi tỉnh An Giang")])
    first = find_units("Chi cục Thủy lợi tham mưu", ctx)[0].unit
    assert first is not None and first.code == "CCTL"
    tone = find_units("Uỷ ban nhân dân huyện Thoại Sơn", ctx)[0].unit
    other = find_units("Ủy ban nhân dân huyện Thoại Sơn", ctx)[0].unit
    assert tone == other
    assert ("Chi cục Thủy lợi", "Chi cục Thủy lợi tỉnh An Giang") in ctx.register.merges


def test_a_recurring_period_is_no_deadline() -> None:
    scan = scan_deadline("Tuyên truyền trong năm 2014 và các năm tiếp theo.", 2014)
    assert scan.deadline is None
    assert any("định kỳ" in hint for hint in scan.hints)
    assert scan_deadline("Tuyên truyền trong năm 2014.", 2014).deadline is not None


def _soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        pytest.skip("LibreOffice (soffice) is not installed: no PDF can be made")
    return found


def _pdf_of(source: Path, folder: Path) -> Path:
    subprocess.run(
        [_soffice(), "--headless", "--convert-to", "pdf", "--outdir", str(folder), str(source)],
        check=True,
        capture_output=True,
        timeout=180,
        env={"HOME": str(folder), "PATH": "/usr/bin:/bin"},
    )
    pdf = folder / f"{source.stem}.pdf"
    if not pdf.exists():
        pytest.skip("LibreOffice could not convert a document (Writer missing?)")
    return pdf


def test_a_pdf_with_a_text_layer_imports_like_its_docx(tmp_path: Path) -> None:
    document = docx.Document()
    for line in COMMUNE.read_text(encoding="utf-8").splitlines():
        document.add_paragraph(line)
    source = tmp_path / "ke-hoach-xa.docx"
    document.save(str(source))
    pdf = _pdf_of(source, tmp_path)
    spec = import_document(pdf, check=check_plan_text).checked.spec
    assert spec.plan.title == "Kế hoạch Tổ chức Ngày hội Đại đoàn kết toàn dân tộc năm 2025"
    assert sorted(a.lead for a in spec.assignments) == sorted(
        ["UBMTTQVNX", "TYTX", "HCCBX", "CDTNABT"]
    )


def test_a_scanned_pdf_without_text_is_refused_with_a_message(tmp_path: Path) -> None:
    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=595, height=842)  # a page with no text, as a scan has
    path = tmp_path / "ban-scan.pdf"
    with path.open("wb") as out:
        writer.write(out)
    with pytest.raises(DocumentError, match="không có lớp chữ") as refused:
        import_document(path, check=check_plan_text)
    assert str(path) in str(refused.value)


def test_a_doc_file_is_told_to_be_saved_as_docx(tmp_path: Path) -> None:
    path = tmp_path / "ke-hoach.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DocumentError, match=r"hãy lưu lại dưới dạng \.docx"):
        import_document(path, check=check_plan_text)


LABELLED = SAMPLES / "truong-muc-don-vi-chu-tri.txt"


def test_labelled_fields_under_an_item() -> None:
    imported = import_document(LABELLED, check=check_plan_text)
    got = {
        a.source: (a.lead, list(a.cooperating), a.deadline and a.deadline.date, a.title)
        for a in imported.checked.spec.assignments
    }
    assert got["dòng 12-16: Mục II.1"] == (
        "SKHCN",
        ["VP-UBND", "STC"],
        dt.date(2025, 9, 30),
        "Xây dựng kho dữ liệu dùng chung của tỉnh",
    )
    assert got["dòng 17-19: Mục II.2"][:3] == ("SNV", [], dt.date(2025, 9, 30))
    # a collective lead is a group assignment; the product is kept as a note
    assert got["dòng 20-21: Mục II.3"][0].startswith("NHOM-")
    assert "# ? sản phẩm: Kho dữ liệu vận hành chính thức." in imported.text
    cover = imported.draft.coverage
    assert (cover.used, cover.listed) == (cover.total, 0)


def appendix_docx(folder: Path) -> Path:
    """A plan whose duties are in a table of its appendix, after the signature."""
    document = docx.Document()
    header = document.add_table(rows=1, cols=2)
    header.cell(0, 0).text = "ỦY BAN NHÂN DÂN\nHUYỆN PHÚ TÂN"
    header.cell(0, 1).text = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc"
    for text in [
        "Số: 21/KH-UBND",
        "Phú Tân, ngày 02 tháng 4 năm 2025",
        "KẾ HOẠCH",
        "Phòng, chống thiên tai năm 2025",
        "I. MỤC ĐÍCH, YÊU CẦU",
        "Chủ động ứng phó, giảm thiểu thiệt hại.",
        "II. TỔ CHỨC THỰC HIỆN",
        "Các cơ quan, đơn vị thực hiện nhiệm vụ theo Phụ lục kèm theo.",
        "Trên đây là Kế hoạch phòng, chống thiên tai năm 2025.",
        "TM. ỦY BAN NHÂN DÂN",
        "PHỤ LỤC",
        "Phân công nhiệm vụ",
    ]:
        document.add_paragraph(text)
    head = "STT|Nội dung nhiệm vụ|Cơ quan chủ trì|Cơ quan phối hợp|Thời gian hoàn thành|Sản phẩm"
    rows = [
        head.split("|"),
        ["I", "CÔNG TÁC CHUẨN BỊ", "", "", "", ""],
        [
            "1",
            "Rà soát phương án sơ tán dân",
            "Phòng Nông nghiệp và Môi trường",
            "Công an huyện",
            "Trước ngày 30/5/2025",
            "Phương án",
        ],
        ["2", "Kiểm tra đê bao xung yếu", "UBND các xã, thị trấn", "", "Tháng 6/2025", ""],
        ["3", "Dự trữ vật tư cứu hộ", "", "", "", ""],
    ]
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    path = folder / "phu-luc.docx"
    document.save(str(path))
    return path


def test_an_assignment_table_in_the_appendix(tmp_path: Path) -> None:
    imported = import_document(appendix_docx(tmp_path), check=check_plan_text)
    spec = imported.checked.spec
    rows = {a.title: a for a in spec.assignments}
    first = rows["Rà soát phương án sơ tán dân"]
    assert (first.lead, first.cooperating) == ("PNNMT-PHUTAN", ["CA-PHUTAN"])
    assert first.deadline is not None and str(first.deadline.date) == "2025-05-30"
    assert first.source is not None and "bảng 2, STT 1" in first.source
    assert "? sản phẩm: Phương án" in imported.text
    second = rows["Kiểm tra đê bao xung yếu"]
    assert str(second.deadline.date if second.deadline else None) == "2025-06-30"
    # a row with no lead is listed with its line, never dropped
    assert "Dự trữ vật tư cứu hộ" not in rows
    tail = imported.text.split("# === Chưa hiểu được (cần xem lại) ===")[1]
    assert "Dự trữ vật tư cứu hộ" in tail


def test_sentence_structure_second_unit_after_semicolon_and_helping_then_own_task() -> None:
    imported = import_document(SAMPLES / "cau-truc-cau.txt", check=check_plan_text)
    got = {
        a.source: (a.lead, list(a.cooperating), a.title) for a in imported.checked.spec.assignments
    }
    # "Phối hợp với Sở Y tế …; chuẩn bị …": Sở Y tế's task, then the heading unit's own
    assert got["dòng 15: Mục II.1, gạch đầu dòng 2, ý 1"] == (
        "SYT",
        ["SVHTTDL"],
        "Bố trí lực lượng y tế",
    )
    assert got["dòng 15: Mục II.1, gạch đầu dòng 2, ý 2"] == (
        "SVHTTDL",
        [],
        "Chuẩn bị cờ, cúp và huy chương",
    )
    # a second unit named after ";" gets its own assignment
    assert got["dòng 16: Mục II.2, ý 1"] == ("STC", [], "Thẩm định dự toán kinh phí")
    assert got["dòng 16: Mục II.2, ý 2"] == ("SNV", [], "Tổng hợp danh sách vận động viên")
    # "X có trách nhiệm …" in another section is X's assignment
    assert got["dòng 20: Mục III (Kinh phí)"][0] == "STC"


def test_a_line_break_inside_a_word_paragraph_is_no_new_duty(tmp_path: Path) -> None:
    document = docx.Document()
    for text in ["ỦY BAN NHÂN DÂN", "TỈNH AN GIANG", "KẾ HOẠCH", "Tổ chức Hội thao"]:
        document.add_paragraph(text)
    document.add_paragraph("I. PHÂN CÔNG NHIỆM VỤ")
    paragraph = document.add_paragraph("1. Sở Nội vụ tham mưu trình Chủ tịch Ủy ban nhân")
    paragraph.add_run().add_break()
    paragraph.add_run("Dân tỉnh phê duyệt danh sách khen thưởng.")
    path = tmp_path / "ngat-dong.docx"
    document.save(str(path))
    spec = import_document(path, check=check_plan_text).checked.spec
    assert [a.lead for a in spec.assignments] == ["SNV"]
    assert spec.assignments[0].title.endswith("phê duyệt danh sách khen thưởng")


def test_roles_as_assignees_and_the_event_date_in_any_section() -> None:
    imported = import_document(SAMPLES / "vai-tro-ngay-su-kien.txt", check=check_plan_text)
    spec = imported.checked.spec
    # "Hội nghị dự kiến tổ chức vào ngày 20/8/2025" in section 1, no "Thời gian:" line;
    # sections numbered with Arabic numbers and upper-case titles
    assert spec.plan.event.date == dt.date(2025, 8, 20)
    got = [(a.source, a.lead, a.title) for a in spec.assignments]
    assert got == [
        ("dòng 12: Mục 2, điểm a", "SNV", "Chỉ đạo tổng hợp danh sách điển hình"),
        ("dòng 13: Mục 2, điểm b", "STC", "Bố trí kinh phí"),
        # roles of a group of units: one assignment per group
        ("dòng 14: Mục 2, điểm c", "CAC-SBN", "Cử đại biểu dự Hội nghị"),
        ("dòng 14: Mục 2, điểm c", "UBND-CAP-HUYEN", "Cử đại biểu dự Hội nghị"),
        (
            "dòng 15: Mục 2, điểm d",
            "NHOM-CCQ",
            "Báo chí đưa tin về Hội nghị trong năm 2025 và các năm tiếp theo",
        ),
    ]
    assert spec.assignments[-1].deadline is None  # recurring, not 31/12/2025


def test_the_command_matches_units_already_in_the_database(
    clean_engine: Engine, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from models.tables import Department
    from tracking import db

    with db.session_scope() as session:
        session.add(Department(code="HCCB-XA", name="Hội Cựu chiến binh xã"))
    target = tmp_path / "nhap.yaml"
    result = CliRunner().invoke(app, ["plan", "import", str(COMMUNE), "-o", str(target)])
    assert result.exit_code == 0, result.output
    spec = check_plan_text(target.read_bytes(), "nhap.yaml").spec
    # "Hội Cựu chiến binh xã" is the register's unit, with its code
    assert "HCCB-XA" in {a.lead for a in spec.assignments}


def test_a_sentence_pointing_to_the_appendix_is_no_duty(tmp_path: Path) -> None:
    imported = import_document(appendix_docx(tmp_path), check=check_plan_text)
    assert not any("Phụ lục" in a.title for a in imported.checked.spec.assignments)
    tail = imported.text.split("# === Chưa hiểu được (cần xem lại) ===")[1]
    assert "câu dẫn tới Phụ lục" in tail


def test_a_person_with_roles_as_a_heading() -> None:
    path = SAMPLES / "vai-tro-lam-tieu-de.txt"
    spec = import_document(path, check=check_plan_text).checked.spec
    # "1. Đồng chí Giám đốc Sở Nội vụ, Trưởng Tiểu ban Nội dung:" and "2. Đồng chí Nguyễn Văn
    # Bình, Giám đốc Sở Tài chính": the units behind the persons lead what follows
    assert [(a.source, a.lead) for a in spec.assignments] == [
        ("dòng 8: Mục I.1, gạch đầu dòng 1", "SNV"),
        ("dòng 9: Mục I.1, gạch đầu dòng 2", "SNV"),
        ("dòng 11: Mục I.2, gạch đầu dòng 1", "STC"),
    ]


@pytest.mark.parametrize(
    "subject", ["Các phòng, ban chuyên môn thuộc UBND huyện", "Các Hội, đoàn thể tỉnh"]
)
def test_collective_subjects_are_recognised(subject: str) -> None:
    [found] = find_units(f"{subject} tuyên truyền Kế hoạch.", Context("province", "An Giang"))
    assert found.unit is None and found.text == subject  # a collective: a group assignment


def test_sections_as_parts(tmp_path: Path) -> None:
    path = tmp_path / "phan.txt"
    path.write_text(
        "\n".join(
            [
                "ỦY BAN NHÂN DÂN",
                "TỈNH AN GIANG",
                "KẾ HOẠCH",
                "Tổ chức Hội thi tin học",
                "Phần I. MỤC ĐÍCH, YÊU CẦU",
                "Nâng cao kỹ năng số.",
                "Phần II. TỔ CHỨC THỰC HIỆN",
                "1. Sở Nội vụ xây dựng thể lệ Hội thi.",
                "2. Sở Tài chính bố trí kinh phí.",
            ]
        ),
        encoding="utf-8",
    )
    spec = import_document(path, check=check_plan_text).checked.spec
    assert [(a.source, a.lead) for a in spec.assignments] == [
        ("dòng 8: Mục II.1", "SNV"),
        ("dòng 9: Mục II.2", "STC"),
    ]
