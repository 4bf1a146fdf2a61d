"""The weekly summary email: the Excel report's summary and per-unit table in the body.

``weekly_summary(session, today, plan_ref)`` returns ``(subject, html, text)``; the flow that
sends it attaches the .xlsx from ``tracking.reports.xlsx`` (same data, same day). To read the
store once for both, collect the data first::

    report = collect_status(session, today, plan_ref)
    subject, html, text = summary_from_report(report, attachment_name=report_filename(report))
    attachment = workbook_bytes(workbook_for(report))

The HTML is styled inline (mail clients drop ``<style>`` blocks) and is a plain table that
reads the same in Outlook, Gmail and a phone.
"""

from __future__ import annotations

import datetime as dt
import html

from sqlmodel import Session

from models.dates import format_vn
from models.enums import Timeliness
from tracking.reports.data import (
    COLUMNS,
    TIMELINESS_BOLD,
    TIMELINESS_COLORS,
    TRACKED_LABEL,
    UNTRACKED_COLOR,
    ReportRow,
    StatusReport,
    Summary,
    collect_status,
    roman,
)

FOOTER = "Thư gửi tự động từ hệ thống theo dõi nhiệm vụ giaoviec; xin không trả lời thư này."
HEADING = "BÁO CÁO TÌNH HÌNH THỰC HIỆN KẾ HOẠCH"

_FONT = "font-family:'Times New Roman',Times,serif;font-size:14px;color:#000"
_CELL = "border:1px solid #808080;padding:4px 6px;vertical-align:top"
_HEAD = f"{_CELL};background:#D9E1F2;font-weight:bold;text-align:center"
_GROUP = f"{_CELL};background:#F2F2F2;font-weight:bold"
_TABLE = "border-collapse:collapse;margin:8px 0 16px 0"


def weekly_summary(
    session: Session,
    today: dt.date,
    plan_ref: str | None,
    *,
    attachment_name: str | None = None,
) -> tuple[str, str, str]:
    """(subject, html, text) of the week's summary of one plan (the only one when None)."""
    return summary_from_report(collect_status(session, today, plan_ref), attachment_name)


def summary_from_report(
    report: StatusReport, attachment_name: str | None = None
) -> tuple[str, str, str]:
    summary = report.summary
    subject = (
        f"Báo cáo tuần: tình hình thực hiện kế hoạch đến ngày {format_vn(report.today)} "
        f"(quá hạn: {summary.count(Timeliness.OVERDUE)}, "
        f"sắp đến hạn: {summary.count(Timeliness.DUE_SOON)})"
    )
    attachment = f"Chi tiết xem tệp đính kèm {attachment_name}." if attachment_name else None
    return subject, _html(report, attachment), _text(report, attachment)


def percent(share: float) -> str:
    """``73,7%``: Vietnamese writes a decimal comma."""
    return f"{share * 100:.1f}%".replace(".", ",")


# --- text -------------------------------------------------------------------------------------


def _text(report: StatusReport, attachment: str | None) -> str:
    plan = report.plan
    lines = [
        HEADING,
        plan.title,
        plan.number_line,
        report.as_of_line,
        plan.event_line,
        "",
        "TỔNG HỢP",
        *_summary_lines(report.summary),
        "",
        "CHI TIẾT THEO ĐƠN VỊ CHỦ TRÌ",
    ]
    if not report.groups:
        lines.append("Chưa có nhiệm vụ nào.")
    for number, group in enumerate(report.groups, start=1):
        lines.append(f"{roman(number)}. {group.heading}")
        for index, row in enumerate(group.rows, start=1):
            lines.extend(_text_row(index, row))
    lines += ["", *([attachment] if attachment else []), FOOTER, ""]
    return "\n".join(lines)


def _summary_lines(summary: Summary) -> list[str]:
    lines = [f"- {line.label}: {line.count} ({percent(line.share)})" for line in summary.lines]
    lines.append(f"- {TRACKED_LABEL}: {summary.tracked}")
    if summary.untracked_note:
        lines.append(summary.untracked_note)
    return lines


def _text_row(index: int, row: ReportRow) -> list[str]:
    view = row.view
    status = row.status.replace("\n", " ")
    done = f" · Hoàn thành: {format_vn(view.completed_on)}" if view.completed_on else ""
    lines = [
        f"  {index}. [{view.code}] {view.title}",
        f"     Thời hạn: {format_vn(view.due)}{done} · Tình trạng: {status}",
    ]
    if row.cooperating_names:
        lines.append(f"     Phối hợp: {', '.join(row.cooperating_names)}")
    lines.extend(f"     Ghi chú: {note}" for note in row.notes)
    return lines


# --- HTML -------------------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def _html(report: StatusReport, attachment: str | None) -> str:
    plan = report.plan
    head = "".join(f'<th style="{_HEAD}">{_e(c)}</th>' for c in COLUMNS)
    body: list[str] = []
    if not report.groups:
        body.append(
            f'<tr><td style="{_CELL};font-style:italic" colspan="{len(COLUMNS)}">'
            "Chưa có nhiệm vụ nào.</td></tr>"
        )
    for number, group in enumerate(report.groups, start=1):
        body.append(
            f'<tr><td style="{_GROUP};text-align:center">{roman(number)}</td>'
            f'<td style="{_GROUP}" colspan="{len(COLUMNS) - 1}">'
            f"{_e(group.heading)}</td></tr>"
        )
        body.extend(_html_row(index, row) for index, row in enumerate(group.rows, start=1))
    parts = [
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>{_e(HEADING)}</title></head>",
        f'<body style="{_FONT}">',
        f'<p style="margin:0;font-weight:bold">{_e(plan.issuer.upper())}</p>',
        (
            f'<p style="margin:0 0 12px 0;font-weight:bold">{_e(plan.coordinator.upper())}</p>'
            if plan.coordinator
            else ""
        ),
        f'<h1 style="font-size:18px;text-align:center;margin:8px 0 4px 0">{_e(HEADING)}</h1>',
        f'<p style="text-align:center;font-weight:bold;margin:0">{_e(plan.title)}</p>',
        f'<p style="text-align:center;font-style:italic;margin:0">{_e(plan.number_line)}</p>',
        f'<p style="text-align:center;font-weight:bold;font-style:italic;margin:0">'
        f"{_e(report.as_of_line)}</p>",
        f'<p style="text-align:center;font-style:italic;margin:0 0 12px 0">'
        f"{_e(plan.event_line)}</p>",
        _html_summary(report.summary),
        '<p style="font-weight:bold;margin:12px 0 0 0">Chi tiết theo đơn vị chủ trì</p>',
        f'<table style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>",
        f"<p>{_e(attachment)}</p>" if attachment else "",
        f'<p style="color:#666;font-size:12px">{_e(FOOTER)}</p>',
        "</body></html>",
    ]
    return "".join(parts)


def _html_summary(summary: Summary) -> str:
    rows = "".join(
        f'<tr><td style="{_CELL};color:#{TIMELINESS_COLORS[line.timeliness]}">'
        f"{_e(line.label)}</td>"
        f'<td style="{_CELL};text-align:right">{line.count}</td>'
        f'<td style="{_CELL};text-align:right">{percent(line.share)}</td></tr>'
        for line in summary.lines
    )
    rows += (
        f'<tr><td style="{_CELL};font-weight:bold">{_e(TRACKED_LABEL)}</td>'
        f'<td style="{_CELL};text-align:right;font-weight:bold">{summary.tracked}</td>'
        f'<td style="{_CELL};text-align:right;font-weight:bold">'
        f"{percent(1.0 if summary.tracked else 0.0)}</td></tr>"
    )
    note = (
        f'<p style="font-style:italic;margin:0">{_e(summary.untracked_note)}</p>'
        if summary.untracked_note
        else ""
    )
    return (
        f'<table style="{_TABLE}"><thead><tr><th style="{_HEAD}">Tổng hợp</th>'
        f'<th style="{_HEAD}">Số nhiệm vụ</th><th style="{_HEAD}">Tỷ lệ</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>{note}"
    )


def _html_row(index: int, row: ReportRow) -> str:
    view = row.view
    if view.timeliness is None:
        status_style = f"color:#{UNTRACKED_COLOR};font-style:italic"
    else:
        weight = "bold" if view.timeliness in TIMELINESS_BOLD else "normal"
        status_style = f"color:#{TIMELINESS_COLORS[view.timeliness]};font-weight:{weight}"
    cells = [
        (str(index), "text-align:center"),
        (f"[{view.code}] {view.title}", ""),
        (row.lead_name, ""),
        (", ".join(row.cooperating_names), ""),
        (format_vn(view.due), "text-align:center;white-space:nowrap"),
        (
            format_vn(view.completed_on) if view.completed_on else "",
            "text-align:center;white-space:nowrap",
        ),
        (row.status, f"text-align:center;{status_style}"),
        (row.note, ""),
    ]
    return (
        "<tr>"
        + "".join(f'<td style="{_CELL};{style}">{_e(text)}</td>' for text, style in cells)
        + "</tr>"
    )
