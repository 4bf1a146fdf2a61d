"""Reports sent upward: the Excel status report, iCalendar feeds, CSV and the weekly summary.

Every file is read back the way its reader would (openpyxl, icalendar, the csv module,
LibreOffice) and checked against the store, not against the code that wrote it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import icalendar
import pytest
import typer
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli import main as cli_main
from cli.report_commands import calendar_export, report
from models.enums import AssignmentState, Timeliness
from models.tables import Department
from tests.plan_samples import small_plan
from tracking import store
from tracking.planio import check_plan_text
from tracking.reports import xlsx as xlsx_module
from tracking.reports.csv_export import status_csv
from tracking.reports.ical import build_calendar
from tracking.reports.summary import weekly_summary
from tracking.reports.xlsx import build_status_workbook, sheet_title, write_status_report
from tracking.status import STATE_LABELS, TIMELINESS_LABELS

ANG = "an-giang-2024-hoi-nghi-thi-dua"
TODAY = dt.date(2024, 3, 1)
HEADER_ROW = 8
COLUMNS = [
    "STT",
    "Nhiệm vụ",
    "Đơn vị chủ trì",
    "Đơn vị phối hợp",
    "Thời hạn",
    "Ngày hoàn thành",
    "Tình trạng",
    "Ghi chú",
]
SPLIT = [
    "Hoàn thành đúng hạn",
    "Hoàn thành quá hạn",
    "Trong hạn",
    "Sắp đến hạn",
    "Quá hạn",
    "Chưa có thời hạn",
]

runner = CliRunner()

# The commands as cli.main will register them (`giaoviec report`, `giaoviec calendar export`).
reports_app = typer.Typer()
reports_app.command("report")(report)
_calendar_app = typer.Typer()
_calendar_app.command("export")(calendar_export)
reports_app.add_typer(_calendar_app, name="calendar")


def run(app: typer.Typer, *args: str) -> tuple[int, str, str, bytes]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr, result.stdout_bytes


def giaoviec(*args: str) -> str:
    code, out, err, _ = run(cli_main.app, *args)
    assert code == 0, (args, out, err)
    return out


@pytest.fixture
def fresh(clean_engine: Engine) -> Engine:
    """The built-in plan, loaded by `giaoviec init`, event date not set yet."""
    giaoviec("init")
    return clean_engine


@pytest.fixture
def loaded(fresh: Engine) -> Engine:
    """The built-in plan a month into its work: done, late, blocked, extended, cancelled…"""
    giaoviec("plan", "set-event-date", ANG, "2024-03-15")
    for args in (
        ("start", "VP-01", "--today", "2024-01-20"),
        ("submit", "VP-01", "--today", "2024-01-29"),  # due 26/01: late
        ("confirm", "VP-01", "--today", "2024-01-30"),
        ("submit", "VH-01", "--today", "2024-02-21"),
        ("confirm", "VH-01", "--today", "2024-02-22"),
        (
            "block",
            "TC-01",
            "--reason",
            "Chưa có dự toán <chi tiết> & biểu mẫu",
            "--today",
            "2024-02-20",
        ),
        (
            "extend",
            "SNV-01",
            "--to",
            "2024-03-05",
            "--reason",
            "Chờ danh sách",
            "--today",
            "2024-02-26",
        ),
        ("submit", "PTTH-01", "--today", "2024-02-20"),
        ("cancel", "PTTH-03", "--reason", "Gộp vào PTTH-02", "--today", "2024-02-20"),
    ):
        giaoviec(*args)
    return fresh


def views_of(engine: Engine, day: dt.date = TODAY, department: str | None = None) -> list[Any]:
    with Session(engine) as session:
        return store.plan_status(session, day, ANG, department)


def department_names(engine: Engine) -> dict[str, tuple[str, str]]:
    with Session(engine) as session:
        return {d.code: (d.name, d.short_name or d.name) for d in session.exec(select(Department))}


# --- reading a sheet back ---------------------------------------------------------------


def table(sheet: Worksheet) -> list[tuple[str, list[Any]]]:
    """The rows under the header up to the first empty row: ("group" | "row", values)."""
    rows: list[tuple[str, list[Any]]] = []
    for values in sheet.iter_rows(min_row=HEADER_ROW + 1, max_col=8, values_only=True):
        if all(v in (None, "") for v in values):
            break
        kind = "row" if isinstance(values[0], int) else "group"
        rows.append((kind, list(values)))
    return rows


def groups(sheet: Worksheet) -> list[tuple[str, list[list[Any]]]]:
    result: list[tuple[str, list[list[Any]]]] = []
    for kind, values in table(sheet):
        if kind == "group":
            result.append((values[1], []))
        else:
            result[-1][1].append(values)
    return result


def code_of(cell: str) -> str:
    match = re.match(r"\[([^\]]+)\] ", cell)
    assert match, cell
    return match.group(1)


def summary_block(sheet: Worksheet, title: str = "TỔNG HỢP") -> dict[str, tuple[int, float]]:
    start = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 2).value == title)
    assert [sheet.cell(start, c).value for c in (3, 4)] == ["Số nhiệm vụ", "Tỷ lệ"]
    found: dict[str, tuple[int, float]] = {}
    for row in range(start + 1, start + 8):
        label, count, share = (sheet.cell(row, c).value for c in (2, 3, 4))
        assert isinstance(label, str) and isinstance(count, int)
        assert isinstance(share, int | float)
        found[label] = (count, float(share))
        assert sheet.cell(row, 4).number_format == "0.0%"
    return found


def as_date(value: Any) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


# --- the Excel report -------------------------------------------------------------------


def test_report_command_writes_the_plans_status_grouped_by_lead_unit(
    loaded: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "bao-cao.xlsx"
    code, out, err, _ = run(reports_app, "report", "--xlsx", str(path), "--today", "01/03/2024")
    assert code == 0, err
    assert "Đã ghi báo cáo" in out and "20 nhiệm vụ của 6 đơn vị chủ trì" in out
    views = views_of(loaded)
    names = department_names(loaded)
    sheet = load_workbook(path)["Tổng hợp"]

    assert sheet["A1"].value == "ỦY BAN NHÂN DÂN TỈNH AN GIANG"
    assert sheet["A2"].value == "SỞ NỘI VỤ (BAN THI ĐUA - KHEN THƯỞNG)"
    assert sheet["A3"].value == "BÁO CÁO TÌNH HÌNH THỰC HIỆN KẾ HOẠCH"
    assert sheet["A4"].value.startswith("Kế hoạch Tổ chức Hội nghị tổng kết công tác thi đua")
    assert sheet["A5"].value == "(Kèm theo Kế hoạch của Ủy ban nhân dân tỉnh An Giang)"
    assert sheet["A6"].value == "Tình hình thực hiện đến ngày 01/03/2024"
    assert sheet["A7"].value == "Ngày diễn ra Hội nghị: 15/03/2024"
    assert [sheet.cell(HEADER_ROW, c).value for c in range(1, 9)] == COLUMNS

    # One group per lead unit, in plan order, each with exactly that unit's assignments.
    expected_leads = list(dict.fromkeys(v.lead for v in views))
    found = groups(sheet)
    assert [label for label, _ in found] == [
        f"{names[lead][0]}: {sum(v.lead == lead for v in views)} nhiệm vụ"
        for lead in expected_leads
    ]
    numerals = [values[0] for kind, values in table(sheet) if kind == "group"]
    assert numerals == ["I", "II", "III", "IV", "V", "VI"]
    by_code = {v.code: v for v in views}
    seen = []
    for (_, rows), lead in zip(found, expected_leads, strict=True):
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # STT restarts per group
        for _stt, task, lead_name, coop, due, done, status, note in rows:
            view = by_code[code_of(task)]
            seen.append(view.code)
            assert view.lead == lead
            assert task == f"[{view.code}] {view.title}"
            assert lead_name == names[lead][1]
            assert (coop or "") == ", ".join(names[c][1] for c in view.cooperating)
            assert as_date(due) == view.due
            assert as_date(done) == view.completed_on
            assert STATE_LABELS[view.state] in status or view.state is AssignmentState.DONE
            if view.timeliness is not None:
                assert TIMELINESS_LABELS[view.timeliness].lower() in status.lower()
            if view.at_risk:
                assert f"Nguy cơ chậm: {view.at_risk}" in note
    assert seen == [v.code for v in sorted(views, key=lambda v: expected_leads.index(v.lead))]

    by_row = {code_of(r[1]): r for kind, r in table(sheet) if kind == "row"}
    assert by_row["VP-01"][6] == "Hoàn thành quá hạn"
    assert as_date(by_row["VP-01"][5]) == dt.date(2024, 1, 29)
    assert by_row["VH-01"][6] == "Hoàn thành đúng hạn"
    assert by_row["SNV-01"][7].startswith("Gia hạn đến 05/03/2024, hạn ban đầu 28/02/2024")
    assert by_row["TC-01"][6] == "Vướng mắc\n(quá hạn)"
    assert by_row["TC-01"][7].splitlines() == [
        "Vướng mắc: Chưa có dự toán <chi tiết> & biểu mẫu",
        "Quá hạn 5 ngày làm việc",  # due Fri 23/02: 26, 27, 28, 29/02 and 01/03
    ]
    assert by_row["PTTH-01"][6] == "Chờ xác nhận\n(trong hạn)"
    assert by_row["PTTH-03"][6] == "Đã hủy" and by_row["PTTH-03"][7] == "Lý do hủy: Gộp vào PTTH-02"
    assert by_row["HN"][7] == "Nguy cơ chậm: TC-01 đã quá hạn"

    # The summary: the Government Office's split of the same views, with shares.
    counts = Counter(v.timeliness for v in views if v.timeliness is not None)
    tracked = sum(counts.values())
    assert tracked == 19
    summary = summary_block(sheet)
    for timeliness, label in zip(Timeliness, SPLIT, strict=True):
        count, share = summary[label]
        assert count == counts[timeliness], label
        assert share == pytest.approx(counts[timeliness] / tracked)
    assert summary["Tổng số nhiệm vụ được theo dõi"] == (19, 1.0)
    assert summary["Hoàn thành quá hạn"][0] == 1 and summary["Quá hạn"][0] == 1
    note_row = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, 2).value == SPLIT[0])
    assert sheet.cell(note_row + 7, 2).value == "Không tính 1 nhiệm vụ tạm dừng hoặc đã hủy."


def test_report_looks_like_an_office_document(loaded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bao-cao.xlsx"
    with Session(loaded) as session:
        write_status_report(session, TODAY, ANG, path)
    workbook = load_workbook(path)
    for sheet in workbook.worksheets:
        fonts = {
            cell.font.name
            for row in sheet.iter_rows()
            for cell in row
            if cell.value not in (None, "")
        }
        assert fonts == {"Times New Roman"}, sheet.title
        assert sheet.freeze_panes == "A9"
        assert sheet.page_setup.paperSize == 9  # A4
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr is not None
        assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
        assert sheet.print_title_rows == "$8:$8"
        assert sheet.oddFooter is not None and "&P" in (sheet.oddFooter.center.text or "")
        widths = [sheet.column_dimensions[c].width for c in "ABCDEFGH"]
        assert widths[1] >= 40 and widths[7] >= 30 and widths[0] <= 8
        data_rows = [
            HEADER_ROW + 1 + offset
            for offset, (kind, _) in enumerate(table(sheet))
            if kind == "row"
        ]
        assert data_rows, sheet.title
        for row in data_rows:
            for column in range(2, 9):
                assert sheet.cell(row, column).alignment.wrap_text, (sheet.title, row, column)
    main = workbook["Tổng hợp"]
    assert main["A8"].font.b and main["A3"].font.b and main["A3"].font.sz == 14
    due = next(
        main.cell(r, 5) for r in range(9, main.max_row) if isinstance(main.cell(r, 1).value, int)
    )
    assert isinstance(due.value, dt.datetime) and due.number_format == "dd/mm/yyyy"
    # Rows are tall enough for their wrapped text (LibreOffice does not grow them itself).
    long_row = next(
        r for r in range(9, main.max_row) if "SNV-02" in str(main.cell(r, 2).value or "")
    )
    assert (main.row_dimensions[long_row].height or 0) >= 2 * 15.75
    overdue = next(r for r in range(9, main.max_row) if "[TC-01]" in str(main.cell(r, 2).value))
    assert main.cell(overdue, 7).font.b and main.cell(overdue, 7).font.color.rgb.endswith("C00000")


def test_one_sheet_per_unit_with_its_lead_and_cooperating_work(
    loaded: Engine, tmp_path: Path
) -> None:
    with Session(loaded) as session:
        workbook = build_status_workbook(session, TODAY, ANG)
    names = department_names(loaded)
    assert workbook.sheetnames == [
        "Tổng hợp",
        "VP.UBND tỉnh",
        "Ban TĐ-KT",
        "Sở VHTTDL",
        "Sở Tài chính",
        "Báo An Giang",
        "Đài PT-TH An Giang",
    ]
    by_sheet = {short: code for code, (_, short) in names.items()}
    for sheet in workbook.worksheets[1:]:
        assert len(sheet.title) <= 31 and not re.search(r"[\[\]:*?/\\]", sheet.title)
        unit = by_sheet[sheet.title]
        views = views_of(loaded, department=unit)
        lead = [v.code for v in views if v.lead == unit]
        cooperating = [v.code for v in views if unit in v.cooperating]
        expected = [
            (f"Nhiệm vụ chủ trì: {len(lead)} nhiệm vụ", lead),
            (f"Nhiệm vụ phối hợp: {len(cooperating)} nhiệm vụ", cooperating),
        ]
        found = [(label, [code_of(r[1]) for r in rows]) for label, rows in groups(sheet)]
        assert found == [(label, codes) for label, codes in expected if codes]
        assert sheet["A3"].value == f"TÌNH HÌNH THỰC HIỆN NHIỆM VỤ CỦA {names[unit][0].upper()}"
        summary = summary_block(sheet, "TỔNG HỢP (nhiệm vụ chủ trì)")
        lead_views = [v for v in views if v.lead == unit and v.timeliness is not None]
        assert summary["Tổng số nhiệm vụ được theo dõi"][0] == len(lead_views)
    stc = groups(workbook["Sở Tài chính"])
    assert [[code_of(r[1]) for r in rows] for _, rows in stc] == [["TC-01", "TC-02"], ["SNV-09"]]


def test_sheet_titles_are_valid_and_unique() -> None:
    taken = {"Tổng hợp"}
    assert sheet_title("Sở A/B: [thử]*?\\", taken) == "Sở A-B- -thử----"
    long_name = "Trung tâm Phát triển quỹ đất và Đo đạc bản đồ tỉnh"
    first = sheet_title(long_name, taken)
    second = sheet_title(long_name.upper(), taken)  # Excel compares names ignoring case
    assert len(first) == 31 and len(second) <= 31 and first.casefold() != second.casefold()
    assert second.endswith(" (2)")
    assert sheet_title("tổng hợp", taken) == "tổng hợp (2)"
    assert sheet_title("''", taken) == "Đơn vị"


def test_report_of_a_plan_without_event_date_is_valid(fresh: Engine, tmp_path: Path) -> None:
    path = tmp_path / "chua-co-ngay.xlsx"
    code, _, err, _ = run(reports_app, "report", "--xlsx", str(path), "--today", "2024-01-10")
    assert code == 0, err
    sheet = load_workbook(path)["Tổng hợp"]
    assert sheet["A7"].value == "Ngày diễn ra Hội nghị: chưa ấn định (Trong quý I năm 2024)"
    rows = [r for kind, r in table(sheet) if kind == "row"]
    assert len(rows) == 20 and {r[4] for r in rows} == {"—"}
    summary = summary_block(sheet)
    assert summary["Chưa có thời hạn"] == (20, 1.0)
    assert summary["Quá hạn"] == (0, 0.0)


def test_report_of_a_plan_without_assignments_is_valid(session: Session, tmp_path: Path) -> None:
    text = small_plan().split("assignments:")[0] + "assignments: []\n"
    store.load_plan(session, check_plan_text(text.encode(), "empty.yaml"), "kiem-thu")
    session.commit()
    path = tmp_path / "rong.xlsx"
    write_status_report(session, TODAY, "thu-nghiem", path)
    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Tổng hợp"]
    sheet = workbook.active
    assert sheet is not None
    assert sheet.cell(HEADER_ROW + 1, 1).value == "Chưa có nhiệm vụ nào."
    summary = summary_block(sheet)
    assert summary["Tổng số nhiệm vụ được theo dõi"] == (0, 0.0)
    assert all(count == 0 for count, _ in summary.values())
    feed = icalendar.Calendar.from_ical(build_calendar(session, "thu-nghiem", None))
    assert [e["UID"] for e in feed.walk("VEVENT")] == [f"plan-{plan_id(session)}-event@giaoviec"]
    _, html, plain = weekly_summary(session, TODAY, "thu-nghiem")
    assert "Chưa có nhiệm vụ nào." in html and "Chưa có nhiệm vụ nào." in plain
    assert status_csv([]).count("\n") == 1


def plan_id(session: Session) -> int:
    value = store.get_plan(session, None).id
    assert value is not None
    return value


def test_report_never_leaves_a_half_written_file(
    loaded: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "bao-cao.xlsx"
    path.write_bytes(b"the report of last week")

    def broken_save(self: Workbook, target: Any) -> None:
        target.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Workbook, "save", broken_save)
    code, _, err, _ = run(reports_app, "report", "--xlsx", str(path), "--today", "2024-03-01")
    message = " ".join(err.split())  # the console wraps long lines
    assert code == 2 and "Không ghi được tệp" in message and "No space left on device" in message
    assert path.read_bytes() == b"the report of last week"
    assert sorted(p.name for p in folder.iterdir()) == ["bao-cao.xlsx"]
    monkeypatch.undo()
    with Session(loaded) as session:
        xlsx_module.write_status_report(session, TODAY, ANG, path)
    assert load_workbook(path).sheetnames[0] == "Tổng hợp"
    assert sorted(p.name for p in folder.iterdir()) == ["bao-cao.xlsx"]


def test_report_command_refuses_what_it_cannot_do(loaded: Engine, tmp_path: Path) -> None:
    code, _, err, _ = run(reports_app, "report")
    assert code == 2 and "--xlsx" in err
    code, _, err, _ = run(reports_app, "report", "--xlsx", str(tmp_path / "a.csv"))
    assert code == 2 and ".xlsx" in err
    code, _, err, _ = run(reports_app, "report", "--xlsx", str(tmp_path / "no" / "a.xlsx"))
    assert code == 2 and "Không có thư mục" in err
    code, _, err, _ = run(reports_app, "report", "--xlsx", str(tmp_path / "a.xlsx"), "--plan", "x")
    assert code == 2 and "Không tìm thấy kế hoạch “x”" in err
    assert not (tmp_path / "a.xlsx").exists()


# --- iCalendar --------------------------------------------------------------------------


def parse_ics(data: bytes) -> icalendar.Calendar:
    calendar = icalendar.Calendar.from_ical(data)
    assert isinstance(calendar, icalendar.Calendar)
    return calendar


def test_calendar_export_has_one_all_day_event_per_deadline_and_the_event(
    loaded: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "lich.ics"
    code, out, err, _ = run(reports_app, "calendar", "export", "-o", str(path))
    assert code == 0, err
    raw = path.read_bytes()
    feed = parse_ics(raw)
    views = views_of(loaded)
    names = department_names(loaded)
    assert str(feed["X-WR-TIMEZONE"]) == "Asia/Ho_Chi_Minh"
    assert str(feed["VERSION"]) == "2.0" and not feed.walk("VTIMEZONE")
    events = {str(e["UID"]): e for e in feed.walk("VEVENT")}
    with Session(loaded) as session:
        plan = store.get_plan(session, ANG)
    conference = events.pop(f"plan-{plan.id}-event@giaoviec")
    assert conference.decoded("DTSTART") == dt.date(2024, 3, 15)
    assert conference.decoded("DTEND") == dt.date(2024, 3, 16)
    assert "Hội trường Ủy ban nhân dân tỉnh An Giang" in str(conference["LOCATION"])
    assert str(conference["TRANSP"]) == "OPAQUE"

    # Every assignment with a deadline, except the cancelled one, exactly once.
    wanted = [v for v in views if v.due and v.state is not AssignmentState.CANCELLED]
    assert len(wanted) == 19
    assert set(events) == {f"assignment-{v.id}@giaoviec" for v in wanted}
    assert raw.count(b"BEGIN:VEVENT") == 20 and "Đã ghi 20 sự kiện" in out
    for view in wanted:
        event = events[f"assignment-{view.id}@giaoviec"]
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert not isinstance(start, dt.datetime) and start == view.due  # a date: all day
        assert end == view.due + dt.timedelta(days=1)
        assert str(event["SUMMARY"]) == f"[{view.code}] {view.title}"
        description = str(event["DESCRIPTION"])
        assert f"Đơn vị chủ trì: {names[view.lead][0]}" in description
        assert f"Tình trạng: {STATE_LABELS[view.state]}" in description
        for unit in view.cooperating:
            assert names[unit][0] in description
        assert str(event["TRANSP"]) == "TRANSPARENT" and "URL" not in event
        assert isinstance(event.decoded("DTSTAMP"), dt.datetime)
    snv01 = events[f"assignment-{next(v.id for v in views if v.code == 'SNV-01')}@giaoviec"]
    assert "Gia hạn đến 05/03/2024, hạn ban đầu 28/02/2024" in str(snv01["DESCRIPTION"])
    text = raw.decode()
    assert "DTSTART;VALUE=DATE:20240315" in text and "TZID" not in text


def test_calendar_export_for_a_unit(loaded: Engine, tmp_path: Path) -> None:
    code, _, err, data = run(reports_app, "calendar", "export", "--department", "STC", "-o", "-")
    assert code == 0, err
    feed = parse_ics(data)
    summaries = sorted(str(e["SUMMARY"]) for e in feed.walk("VEVENT"))
    assert [s.split("]")[0] + "]" for s in summaries if s.startswith("[")] == [
        "[SNV-09]",
        "[TC-01]",
        "[TC-02]",
    ]
    assert any(s.startswith("Hội nghị tổng kết") for s in summaries)  # the event itself
    roles = {
        str(e["SUMMARY"]).split("]")[0][1:]: str(e["DESCRIPTION"])
        for e in feed.walk("VEVENT")
        if str(e["SUMMARY"]).startswith("[")
    }
    assert "Vai trò của Sở Tài chính: phối hợp" in roles["SNV-09"]
    assert "Vai trò của Sở Tài chính: chủ trì" in roles["TC-01"]
    assert "Sở Tài chính" in str(feed["X-WR-CALNAME"])
    code, _, err, _ = run(reports_app, "calendar", "export", "--department", "XYZ", "-o", "-")
    assert code == 2 and "Không tìm thấy đơn vị “XYZ”" in err


def test_calendar_is_stable_and_versioned(loaded: Engine) -> None:
    with Session(loaded) as session:
        first = build_calendar(session, ANG, None)
        again = build_calendar(session, ANG, None)
        linked = build_calendar(session, ANG, "BAG", base_url="https://giaoviec.example.gov.vn/")
    assert first == again  # same data, same bytes: usable as an ETag
    giaoviec("start", "TC-02", "--today", "2024-03-01")
    with Session(loaded) as session:
        after = build_calendar(session, ANG, None)
        tc02 = next(v for v in store.plan_status(session, TODAY, ANG) if v.code == "TC-02")
    old = {str(e["UID"]): e for e in parse_ics(first).walk("VEVENT")}
    new = {str(e["UID"]): e for e in parse_ics(after).walk("VEVENT")}
    assert set(old) == set(new)
    changed = [uid for uid in new if new[uid]["SEQUENCE"] != old[uid]["SEQUENCE"]]
    assert changed == [f"assignment-{tc02.id}@giaoviec"]
    assert new[changed[0]].decoded("SEQUENCE") > old[changed[0]].decoded("SEQUENCE")
    assert "Tình trạng: Đang thực hiện" in str(new[changed[0]]["DESCRIPTION"])
    urls = [str(e["URL"]) for e in parse_ics(linked).walk("VEVENT") if "URL" in e]
    assert urls and all(
        re.fullmatch(r"https://giaoviec\.example\.gov\.vn/assignments/\d+", u) for u in urls
    )


def test_calendar_of_a_plan_without_event_date_is_empty_but_valid(fresh: Engine) -> None:
    with Session(fresh) as session:
        feed = parse_ics(build_calendar(session, ANG, None))
    assert feed.walk("VEVENT") == [] and str(feed["X-WR-TIMEZONE"]) == "Asia/Ho_Chi_Minh"


# --- CSV --------------------------------------------------------------------------------


def test_status_csv_has_a_bom_and_one_row_per_assignment(loaded: Engine) -> None:
    views = views_of(loaded)
    text = status_csv(views)
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert text.count("\ufeff") == 1
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert len(rows) == len(views) == 20
    assert list(rows[0])[:4] == ["Mã kế hoạch", "ID", "Mã nhiệm vụ", "Nhiệm vụ"]
    for row, view in zip(rows, views, strict=True):
        assert row["Mã nhiệm vụ"] == view.code and row["Nhiệm vụ"] == view.title
        assert row["ID"] == str(view.id) and row["Mã kế hoạch"] == ANG
        assert row["Mã đơn vị chủ trì"] == view.lead
        assert row["Mã đơn vị phối hợp"] == "; ".join(view.cooperating)
        assert row["Thời hạn"] == (view.due.isoformat() if view.due else "")
        assert row["Hạn ban đầu"] == (view.original_due.isoformat() if view.original_due else "")
        assert row["Ngày hoàn thành"] == (
            view.completed_on.isoformat() if view.completed_on else ""
        )
        assert row["Mã trạng thái"] == view.state.value
        assert row["Trạng thái"] == STATE_LABELS[view.state]
        assert row["Mã tiến độ"] == (view.timeliness.value if view.timeliness else "")
        assert row["Gia hạn"] == ("có" if view.extended else "không")
    tc01 = next(r for r in rows if r["Mã nhiệm vụ"] == "TC-01")
    assert tc01["Tiến độ"] == "Quá hạn" and tc01["Mã tiến độ"] == "overdue"
    semicolons = list(csv.reader(io.StringIO(status_csv(views, delimiter=";")[1:]), delimiter=";"))
    assert len(semicolons) == 21 and semicolons[0][2] == "Mã nhiệm vụ"


# --- the weekly summary ---------------------------------------------------------------


def test_weekly_summary_has_the_per_unit_table(loaded: Engine) -> None:
    with Session(loaded) as session:
        subject, html, text = weekly_summary(
            session, TODAY, ANG, attachment_name="bao-cao-2024-03-01.xlsx"
        )
    views = views_of(loaded)
    names = department_names(loaded)
    assert subject == (
        "Báo cáo tuần: tình hình thực hiện kế hoạch đến ngày 01/03/2024 "
        "(quá hạn: 1, sắp đến hạn: 3)"
    )
    assert sum(v.timeliness is Timeliness.OVERDUE for v in views) == 1
    assert sum(v.timeliness is Timeliness.DUE_SOON for v in views) == 3
    for view in views:
        assert f"[{view.code}] {view.title}" in text
        assert f"[{view.code}] {view.title}" in html
    assert "I. Văn phòng Ủy ban nhân dân tỉnh: 3 nhiệm vụ" in text
    assert f"VI. {names['DPTTH'][0]}: 3 nhiệm vụ" in text
    assert "- Quá hạn: 1 (5,3%)" in text and "- Tổng số nhiệm vụ được theo dõi: 19" in text
    assert "Tình hình thực hiện đến ngày 01/03/2024" in html
    assert "Chưa có dự toán &lt;chi tiết&gt; &amp; biểu mẫu" in html  # escaped
    assert "<chi tiết>" not in html and "<style" not in html
    # two header rows, 6 split lines and the total, 6 unit rows, one row per assignment
    assert html.count("<tr>") == 2 + 7 + 6 + len(views)
    assert "bao-cao-2024-03-01.xlsx" in html and "bao-cao-2024-03-01.xlsx" in text


# --- LibreOffice: the report as it prints ---------------------------------------------


def test_report_converts_to_pdf_with_libreoffice(loaded: Engine, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext is not installed: apt-get install poppler-utils")
    path = tmp_path / "bao-cao.xlsx"
    with Session(loaded) as session:
        report_data = write_status_report(session, TODAY, ANG, path)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = tmp_path / "bao-cao.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]
    width, height = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info.stdout).groups())  # type: ignore[union-attr]
    assert (round(width), round(height)) == (842, 595)  # A4 landscape
    sheets = 1 + len(report_data.units)
    assert pages > sheets  # some sheet runs over a page…
    for page in range(1, pages + 1):
        words = subprocess.run(
            [pdftotext, "-f", str(page), "-l", str(page), "-layout", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # …and every page starts with the header row, all eight columns across (fit to width).
        for heading in ("STT", "Nhiệm vụ", "Đơn vị chủ trì", "Thời hạn", "Ghi chú"):
            assert heading in words, (page, heading)
    first = subprocess.run(
        [pdftotext, "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "BÁO CÁO TÌNH HÌNH THỰC HIỆN KẾ HOẠCH" in first
    assert "Tình hình thực hiện đến ngày 01/03/2024" in first
    assert "[VP-01]" in first and "Hoàn thành quá hạn" in first
