"""The Excel status report the coordinator sends to the People's Committee.

One sheet for the whole plan ("Tổng hợp"): a title block, the table STT | Nhiệm vụ | Đơn vị
chủ trì | Đơn vị phối hợp | Thời hạn | Ngày hoàn thành | Tình trạng | Ghi chú grouped by lead
unit (a group row I, II… per unit), then the summary in the Government Office's split. Then
one sheet per unit with its lead and cooperating work. Times New Roman throughout, wrapped
text, frozen header, and print set-up: A4 landscape, fit to width, header row repeated on
every page, page numbers in the footer.

Dates are real date cells shown as dd/mm/yyyy, counts and shares are numbers (not formulas):
whoever receives the file can sort, filter and pivot, and a reader without recalculation
(a phone's viewer, openpyxl) sees the values.

The web download and the weekly email reuse ``workbook_for`` / ``status_report_bytes``;
``write_status_report`` never leaves a half-written file at its destination.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session

from models.dates import format_vn
from tracking.reports.data import (
    COLUMNS,
    TIMELINESS_BOLD,
    TIMELINESS_COLORS,
    TRACKED_LABEL,
    UNTRACKED_COLOR,
    ReportRow,
    RowGroup,
    StatusReport,
    Summary,
    UnitSection,
    collect_status,
    roman,
)

FONT_NAME = "Times New Roman"
BODY_SIZE = 12
TITLE_SIZE = 14
DATE_FORMAT = "dd/mm/yyyy"
PERCENT_FORMAT = "0.0%"

MAIN_SHEET = "Tổng hợp"
HEADER_ROW = 8  # the table's column headings; rows above are the title block
COLUMN_WIDTHS: tuple[float, ...] = (6, 46, 18, 22, 12, 13, 18, 38)
LAST_COLUMN = get_column_letter(len(COLUMNS))
SUMMARY_TITLE = "TỔNG HỢP"
UNIT_SUMMARY_TITLE = "TỔNG HỢP (nhiệm vụ chủ trì)"
SUMMARY_HEADINGS = ("Số nhiệm vụ", "Tỷ lệ")
NO_ASSIGNMENT = "Chưa có nhiệm vụ nào."

_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
_GROUP_FILL = PatternFill("solid", fgColor="F2F2F2")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
SHEET_NAME_MAX = 31


def _font(
    size: float = BODY_SIZE, bold: bool = False, italic: bool = False, color: str | None = None
) -> Font:
    return Font(name=FONT_NAME, size=size, bold=bold, italic=italic, color=color)


# --- public API -----------------------------------------------------------------------------


def build_status_workbook(session: Session, today: dt.date, plan_ref: str | None) -> Workbook:
    """The status report of one plan (the only plan when ``plan_ref`` is None) as a workbook."""
    return workbook_for(collect_status(session, today, plan_ref))


def write_status_report(
    session: Session, today: dt.date, plan_ref: str | None, path: str | Path
) -> StatusReport:
    """Write the report to ``path`` (replacing it whole) and return what it contains."""
    report = collect_status(session, today, plan_ref)
    save_atomically(workbook_for(report), Path(path))
    return report


def status_report_bytes(session: Session, today: dt.date, plan_ref: str | None) -> bytes:
    """The .xlsx file's bytes: for a web download or an email attachment."""
    return workbook_bytes(build_status_workbook(session, today, plan_ref))


def report_filename(report: StatusReport) -> str:
    """``bao-cao-<plan code>-<yyyy-mm-dd>.xlsx``: a name that sorts by day."""
    return f"bao-cao-{report.plan.code}-{report.today.isoformat()}.xlsx"


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def save_atomically(workbook: Workbook, path: Path) -> None:
    """Save next to ``path`` under a temporary name, then rename over it.

    A reader (or the mail task) sees the old file or the new one, never a partial one; on
    failure the temporary file is removed and ``path`` is untouched.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with temporary.open("xb") as handle:  # honours the umask, unlike mkstemp's 0600
            workbook.save(handle)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid, unused sheet name: ≤ 31 characters, none of []:*?/\\, unique ignoring case."""
    base = _SHEET_FORBIDDEN.sub("-", name).strip().strip("'").strip() or "Đơn vị"
    base = base[:SHEET_NAME_MAX].rstrip()
    candidate, number = base, 1
    while candidate.casefold() in {t.casefold() for t in taken}:
        number += 1
        suffix = f" ({number})"
        candidate = base[: SHEET_NAME_MAX - len(suffix)].rstrip() + suffix
    taken.add(candidate)
    return candidate


def workbook_for(report: StatusReport) -> Workbook:
    workbook = Workbook()
    main = workbook.active
    assert main is not None
    main.title = MAIN_SHEET
    _write_sheet(
        main,
        report,
        heading="BÁO CÁO TÌNH HÌNH THỰC HIỆN KẾ HOẠCH",
        groups=report.groups,
        summary=report.summary,
        summary_title=SUMMARY_TITLE,
    )
    taken = {MAIN_SHEET}
    for unit in report.units:
        sheet = workbook.create_sheet(sheet_title(unit.short_name, taken))
        _write_unit_sheet(sheet, report, unit)
    props = workbook.properties
    props.title = f"Tình hình thực hiện {report.plan.title}"
    props.subject = report.as_of_line
    props.creator = "giaoviec"
    props.language = "vi-VN"
    return workbook


# --- sheets ---------------------------------------------------------------------------------


def _write_unit_sheet(sheet: Worksheet, report: StatusReport, unit: UnitSection) -> None:
    _write_sheet(
        sheet,
        report,
        heading=f"TÌNH HÌNH THỰC HIỆN NHIỆM VỤ CỦA {unit.name.upper()}",
        groups=unit.groups,
        summary=unit.summary,
        summary_title=UNIT_SUMMARY_TITLE,
    )


def _write_sheet(
    sheet: Worksheet,
    report: StatusReport,
    *,
    heading: str,
    groups: Sequence[RowGroup],
    summary: Summary,
    summary_title: str,
) -> None:
    for index, width in enumerate(COLUMN_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    _title_block(sheet, report, heading)
    _header(sheet)
    row = HEADER_ROW + 1
    if not any(group.rows for group in groups):
        _merged(sheet, row, NO_ASSIGNMENT, _font(italic=True), "center", border=True)
        row += 1
    for number, group in enumerate(groups, start=1):
        row = _group(sheet, row, number, group)
    row = _summary(sheet, row + 1, summary, summary_title)
    _page_setup(sheet, last_row=row - 1)


def _title_block(sheet: Worksheet, report: StatusReport, heading: str) -> None:
    plan = report.plan
    left = f"A{{row}}:{get_column_letter(3)}{{row}}"
    sheet.merge_cells(left.format(row=1))
    _cell(sheet, 1, 1, plan.issuer.upper(), _font(), "center")
    if plan.coordinator:
        sheet.merge_cells(left.format(row=2))
        _cell(sheet, 2, 1, plan.coordinator.upper(), _font(bold=True), "center")
    _merged(sheet, 3, heading, _font(TITLE_SIZE, bold=True), "center")
    _merged(sheet, 4, plan.title, _font(TITLE_SIZE - 1, bold=True), "center")
    _merged(sheet, 5, plan.number_line, _font(italic=True), "center")
    _merged(sheet, 6, report.as_of_line, _font(bold=True, italic=True), "center")
    _merged(sheet, 7, plan.event_line, _font(italic=True), "center", vertical="top")
    for row, text, size in ((3, heading, TITLE_SIZE), (4, plan.title, TITLE_SIZE - 1)):
        sheet.row_dimensions[row].height = _merged_height(text, size)
    sheet.row_dimensions[7].height = 27  # the event line, then air before the table


def _header(sheet: Worksheet) -> None:
    for column, title in enumerate(COLUMNS, start=1):
        cell = _cell(sheet, HEADER_ROW, column, title, _font(bold=True), "center")
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
    sheet.row_dimensions[HEADER_ROW].height = 33


def _group(sheet: Worksheet, row: int, number: int, group: RowGroup) -> int:
    _cell(sheet, row, 1, roman(number), _font(bold=True), "center")
    sheet.merge_cells(f"B{row}:{LAST_COLUMN}{row}")
    _cell(sheet, row, 2, group.heading, _font(bold=True), "left")
    for column in range(1, len(COLUMNS) + 1):
        cell = sheet.cell(row=row, column=column)
        cell.fill = _GROUP_FILL
        cell.border = _BORDER
    row += 1
    for index, item in enumerate(group.rows, start=1):
        _assignment(sheet, row, index, item)
        row += 1
    return row


def _assignment(sheet: Worksheet, row: int, index: int, item: ReportRow) -> None:
    view = item.view
    values: tuple[object, ...] = (
        index,
        f"[{view.code}] {view.title}",
        item.lead_name,
        ", ".join(item.cooperating_names),
        view.due if view.due is not None else format_vn(None),
        view.completed_on,
        item.status,
        item.note,
    )
    aligns = ("center", "left", "left", "left", "center", "center", "center", "left")
    for column, (value, align) in enumerate(zip(values, aligns, strict=True), start=1):
        cell = _cell(sheet, row, column, value, _font(), align)
        cell.border = _BORDER
        if isinstance(value, dt.date):
            cell.number_format = DATE_FORMAT
    sheet.row_dimensions[row].height = _row_height(values)
    status = sheet.cell(row=row, column=7)
    if view.timeliness is None:
        status.font = _font(color=UNTRACKED_COLOR, italic=True)
    else:
        status.font = _font(
            bold=view.timeliness in TIMELINESS_BOLD, color=TIMELINESS_COLORS[view.timeliness]
        )


def _summary(sheet: Worksheet, row: int, summary: Summary, title: str) -> int:
    for column, text in ((2, title), (3, SUMMARY_HEADINGS[0]), (4, SUMMARY_HEADINGS[1])):
        cell = _cell(sheet, row, column, text, _font(bold=True), "center")
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
    row += 1
    for index, line in enumerate(summary.lines, start=1):
        _summary_row(sheet, row, index, line.label, line.count, line.share, bold=False)
        sheet.cell(row=row, column=2).font = _font(color=TIMELINESS_COLORS[line.timeliness])
        row += 1
    share = 1.0 if summary.tracked else 0.0
    _summary_row(sheet, row, None, TRACKED_LABEL, summary.tracked, share, bold=True)
    row += 1
    if summary.untracked_note:
        _cell(sheet, row, 2, summary.untracked_note, _font(italic=True), "left")
        row += 1
    return row


def _summary_row(
    sheet: Worksheet,
    row: int,
    index: int | None,
    label: str,
    count: int,
    share: float,
    *,
    bold: bool,
) -> None:
    if index is not None:
        _cell(sheet, row, 1, index, _font(), "center").border = _BORDER
    _cell(sheet, row, 2, label, _font(bold=bold), "left").border = _BORDER
    _cell(sheet, row, 3, count, _font(bold=bold), "center").border = _BORDER
    percent = _cell(sheet, row, 4, share, _font(bold=bold), "center")
    percent.number_format = PERCENT_FORMAT
    percent.border = _BORDER


def _page_setup(sheet: Worksheet, *, last_row: int) -> None:
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    setup = sheet.page_setup
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.orientation = sheet.ORIENTATION_LANDSCAPE
    setup.fitToWidth = 1
    setup.fitToHeight = 0  # as many pages down as it takes
    properties = sheet.sheet_properties.pageSetUpPr
    assert properties is not None
    properties.fitToPage = True
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.print_area = f"A1:{LAST_COLUMN}{last_row}"
    sheet.print_options.horizontalCentered = True
    sheet.page_margins = PageMargins(
        left=0.6, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3
    )
    footer = sheet.oddFooter
    assert footer is not None
    footer.center.text = "Trang &P/&N"
    footer.center.font = f"{FONT_NAME},Regular"
    footer.center.size = 10


# --- cells ----------------------------------------------------------------------------------


def _cell(
    sheet: Worksheet,
    row: int,
    column: int,
    value: object,
    font: Font,
    horizontal: str,
    vertical: str = "top",
) -> Cell:
    cell = sheet.cell(row=row, column=column)
    assert isinstance(cell, Cell), f"{cell.coordinate} is inside a merged range"
    cell.value = value  # type: ignore[assignment]
    if isinstance(value, str) and value.startswith("="):
        # openpyxl stores a text starting with "=" as a formula, which Excel would run (a
        # title or note typed as "=HYPERLINK(…)"): keep it text, shown as typed.
        cell.data_type = "s"
    cell.font = font
    cell.alignment = Alignment(horizontal=horizontal, vertical=vertical, wrap_text=True)
    return cell


def _merged(
    sheet: Worksheet,
    row: int,
    text: str,
    font: Font,
    horizontal: str,
    *,
    vertical: str = "center",
    border: bool = False,
) -> None:
    sheet.merge_cells(f"A{row}:{LAST_COLUMN}{row}")
    _cell(sheet, row, 1, text, font, horizontal, vertical)
    if border:
        for column in range(1, len(COLUMNS) + 1):
            sheet.cell(row=row, column=column).border = _BORDER


LINE_HEIGHT = 15.75  # points per line of 12 pt text (Excel's own default row at 12 pt)


def _row_height(values: Sequence[object]) -> float:
    """Height (points) that shows every wrapped line of a table row.

    LibreOffice keeps the default height of rows from an .xlsx file, so the report sets it:
    a column-width unit holds about one character of 12 pt Times New Roman; one spare
    character per line covers word breaks.
    """
    lines = 1
    for value, width in zip(values, COLUMN_WIDTHS, strict=True):
        if isinstance(value, str) and value:
            per_line = max(1, int(width * 1.05) - 2)
            lines = max(
                lines, sum(max(1, math.ceil(len(part) / per_line)) for part in value.split("\n"))
            )
    return round(lines * LINE_HEIGHT + 3, 2)


def _merged_height(text: str, size: float) -> float:
    """Row height (points) for wrapped text in a row merged across the table.

    Neither Excel nor LibreOffice grows a merged row to fit its text, so it is estimated:
    a column-width unit holds about one character at 11 pt.
    """
    per_line = sum(COLUMN_WIDTHS) * 11 / size * 0.9
    lines = max(1, math.ceil(len(text) / per_line))
    return round(lines * size * 1.45, 1)
