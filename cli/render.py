"""Rich renderings of the store's views, with the Government Office's colours."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from models.dates import format_vn, weekday_name
from models.enums import AssignmentState, Timeliness
from models.numbering import citable_number
from tracking.labels import ACTION_TEXT, KIND_TEXT, change_text, local_time
from tracking.status import STATE_LABELS, TIMELINESS_LABELS

if TYPE_CHECKING:
    from models.tables import Activity, Assignment, Plan
    from services.day import SweepResult
    from services.replay import DayReport
    from tracking.store import AssignmentView

TIMELINESS_STYLES: dict[Timeliness, str] = {
    Timeliness.DONE_ON_TIME: "green",
    Timeliness.OPEN_IN_TIME: "blue",
    Timeliness.DONE_LATE: "dark_orange",
    Timeliness.DUE_SOON: "dark_orange",
    Timeliness.OVERDUE: "bold red",
    Timeliness.NO_DEADLINE: "grey50",
}

STATE_STYLES: dict[AssignmentState, str] = {
    AssignmentState.NOT_STARTED: "grey50",
    AssignmentState.IN_PROGRESS: "blue",
    AssignmentState.SUBMITTED: "cyan",
    AssignmentState.DONE: "green",
    AssignmentState.BLOCKED: "bold red",
    AssignmentState.PAUSED: "grey50",
    AssignmentState.CANCELLED: "grey50 strike",
}


def timeliness_text(value: Timeliness | None) -> Text:
    if value is None:
        return Text("—", style="grey50")
    return Text(TIMELINESS_LABELS[value], style=TIMELINESS_STYLES[value])


def state_text(state: AssignmentState) -> Text:
    return Text(STATE_LABELS[state], style=STATE_STYLES[state])


def plan_header(plan: Plan, today: dt.date, days_to_event: int | None) -> Text:
    text = Text()
    text.append(plan.title, style="bold")
    text.append(f"\n{plan.issuer}")
    if number := citable_number(plan.number):
        text.append(f" · Số {number}")
    text.append("\nNgày diễn ra: ")
    if plan.event_date:
        text.append(format_vn(plan.event_date), style="bold")
        if days_to_event is not None and days_to_event >= 0:
            text.append(f" (còn {days_to_event} ngày làm việc)")
    else:
        text.append(
            f"chưa ấn định{f' — {plan.window_text}' if plan.window_text else ''}",
            style="dark_orange",
        )
    text.append(f"\nHôm nay: {format_vn(today)}")
    return text


WIDE_TERMINAL = 120  # below this, the status table drops its secondary columns


def status_table(
    views: Sequence[AssignmentView], show_plan: bool = False, width: int = WIDE_TERMINAL
) -> Table:
    """The progress table; on a narrow terminal (or a pipe) only the columns that matter most,
    so the assignment titles stay readable instead of being squeezed to a letter per line."""
    wide = width >= WIDE_TERMINAL
    table = Table(show_lines=False, header_style="bold", expand=True)
    if show_plan:
        table.add_column("Kế hoạch", overflow="fold")
    table.add_column("Mã", no_wrap=True)
    table.add_column("Nhiệm vụ", ratio=3, overflow="fold", min_width=24)
    table.add_column("Chủ trì", no_wrap=True)
    if wide:
        table.add_column("Phối hợp", overflow="fold")
    table.add_column("Hạn", no_wrap=True)
    if wide:
        table.add_column("Trạng thái", no_wrap=True)
    table.add_column("Tiến độ", overflow="fold")
    if wide:
        table.add_column("Dự phòng", justify="right", no_wrap=True)
    for view in views:
        title = Text(view.title)
        if view.at_risk:
            title.append(f"\n⚠ Nguy cơ chậm: {view.at_risk}", style="dark_orange")
        if view.critical and not wide:
            title.append(" ★", style="bold magenta")
        due = Text(format_vn(view.due))
        if view.extended:
            due.append(" (gia hạn)", style="italic")
        row: list[str | Text] = [view.code, title, view.lead]
        if wide:
            row.append(", ".join(view.cooperating))
        row.append(due)
        if wide:
            row.append(state_text(view.state))
        row.append(timeliness_text(view.timeliness))
        if wide:
            slack = Text("—" if view.slack is None else str(view.slack))
            if view.critical:
                slack = Text(f"★ {view.slack}", style="bold magenta")
            row.append(slack)
        table.add_row(*([view.plan_code] if show_plan else []), *row)
    return table


def summary(views: Sequence[AssignmentView]) -> Text:
    counts = Counter(v.timeliness for v in views if v.timeliness is not None)
    text = Text(f"Tổng số: {len(views)} nhiệm vụ — ")
    parts = [(TIMELINESS_LABELS[t], counts.get(t, 0), TIMELINESS_STYLES[t]) for t in Timeliness]
    for i, (label, count, style) in enumerate(parts):
        if i:
            text.append(" · ")
        text.append(f"{label}: {count}", style=style)
    critical = sum(1 for v in views if v.critical)
    text.append(
        f"\n★ = trên đường găng tới ngày diễn ra ({critical} nhiệm vụ); "
        "Dự phòng = số ngày làm việc có thể chậm mà không ảnh hưởng ngày diễn ra."
    )
    return text


def assignment_panel(
    row: Assignment,
    view: AssignmentView,
    dependents: Sequence[str],
    lead_name: str,
    cooperating_names: Sequence[str],
    events: Sequence[Activity],
) -> Group:
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column(overflow="fold")
    info.add_row("Nhiệm vụ", row.title)
    if row.detail:
        info.add_row("Nội dung", row.detail)
    if row.source:
        info.add_row("Nguồn", row.source)
    info.add_row("Chủ trì", lead_name)
    info.add_row("Phối hợp", ", ".join(cooperating_names) or "—")
    due = format_vn(row.due)
    if row.extended_at is not None:
        due += f" (gia hạn bởi {row.extended_by}; hạn ban đầu {format_vn(row.original_due)})"
    info.add_row("Thời hạn", due)
    info.add_row("Trạng thái", state_text(row.state))
    info.add_row("Tiến độ", timeliness_text(view.timeliness))
    if row.state_reason:
        info.add_row("Lý do", row.state_reason)
    if row.submitted_by:
        info.add_row("Báo cáo bởi", f"{row.submitted_by} ngày {format_vn(row.completed_on)}")
    if row.submission_note:
        info.add_row("Ghi chú", row.submission_note)
    if row.confirmed_by:
        info.add_row("Xác nhận bởi", row.confirmed_by)
    if row.evidence:
        info.add_row("Minh chứng", "\n".join(row.evidence))
    info.add_row("Cần hoàn thành trước", ", ".join(view.prerequisites) or "—")
    info.add_row("Nhiệm vụ phụ thuộc", ", ".join(dependents) or "—")
    slack = "—" if view.slack is None else f"{view.slack} ngày làm việc"
    info.add_row("Dự phòng", f"{slack}{' (đường găng)' if view.critical else ''}")
    if view.at_risk:
        info.add_row("Cảnh báo", Text(f"Nguy cơ chậm: {view.at_risk}", style="dark_orange"))
    return Group(
        Panel(info, title=f"[bold]{row.code}[/] · #{row.id}", expand=True), history_table(events)
    )


def history_table(events: Sequence[Activity]) -> Table:
    table = Table(title="Lịch sử", header_style="bold", expand=True)
    table.add_column("Thời điểm", no_wrap=True)
    table.add_column("Người thực hiện")
    table.add_column("Hành động")
    table.add_column("Thay đổi", overflow="fold")
    table.add_column("Ghi chú", overflow="fold")
    for event in events:
        change = change_text(event.field, event.from_value, event.to_value)
        action = ACTION_TEXT.get(event.action, event.action)
        table.add_row(local_time(event.at), event.actor, action, change, event.note or "")
    return table


DELIVERY_TEXT: dict[str, tuple[str, str]] = {
    "pending": ("Chờ gửi", "blue"),
    "sending": ("Đang gửi", "cyan"),
    "sent": ("Đã gửi", "green"),
    "failed": ("Thất bại", "bold red"),
    "unknown": ("Không rõ (hết thời gian chờ)", "dark_orange"),
    "cancelled": ("Không cần gửi", "grey50"),
}

ROLE_TEXT = {
    "lead": "chủ trì",
    "cooperating": "phối hợp",
    "head": "thủ trưởng",
    "coordinator": "đầu mối",
}


def outbox_table(views: Sequence[dict[str, object]], title: str) -> Table:
    table = Table(title=title, header_style="bold", expand=True)
    for column in (
        "#",
        "Ngày",
        "Loại tin",
        "Nhiệm vụ",
        "Người nhận",
        "Kênh",
        "Trạng thái",
        "Lần gửi",
        "Ghi chú",
    ):
        table.add_column(column, overflow="fold")
    for v in views:
        label, style = DELIVERY_TEXT[str(v["status"])]
        role = ROLE_TEXT.get(str(v["role"]), str(v["role"]))
        who = f"{v['recipient']} ({v['department']}, {role}{', bản sao' if v['copy'] else ''})"
        day = format_vn(dt.date.fromisoformat(str(v["day"])))
        table.add_row(
            str(v["id"]),
            day,
            KIND_TEXT.get(str(v["kind"]), str(v["kind"])),
            str(v["assignment"] or "—"),
            who,
            f"{v['channel']}: {v['address']}",
            Text(label, style=style),
            str(v["attempts"]),
            str(v["last_error"] or ""),
        )
    return table


def delivery_summary(counts: Counter[str]) -> Text:
    if not counts:
        return Text("Không có tin nào đến lượt gửi.")
    text = Text("Kết quả gửi: ")
    for i, (status, count) in enumerate(sorted(counts.items())):
        label, style = DELIVERY_TEXT.get(status, (status, ""))
        if status == "pending":
            label = "Gửi lại sau"
        text.append((" · " if i else "") + f"{label}: {count}", style=style)
    return text


def contacts_table(rows: Sequence[dict[str, object]]) -> Table:
    table = Table(header_style="bold", expand=True)
    for column in ("Đơn vị", "Họ tên", "Chức vụ", "Email", "Zalo", "Điện thoại", "Vai trò"):
        table.add_column(column, overflow="fold")
    for r in rows:
        roles = [
            label
            for key, label in (("is_head", "lãnh đạo"), ("is_coordinator", "điều phối"))
            if r[key]
        ]
        if not r.get("active", True):
            roles.append("đã gỡ")
        table.add_row(
            str(r["department"]),
            str(r["name"]),
            str(r["role"] or ""),
            str(r["email"] or ""),
            str(r["zalo_user_id"] or ""),
            str(r["phone"] or ""),
            ", ".join(roles),
        )
    return table


def sweep_line(result: SweepResult) -> Text:
    day = format_vn(result.day)
    if not result.working_day:
        return Text(f"{day}: ngày nghỉ — không nhắc việc.", style="grey50")
    text = Text(f"{day}: {result.enqueued.added} tin mới vào hàng đợi")
    if result.deadlines_moved:
        text.append(f", {result.deadlines_moved} thời hạn thay đổi")
    if result.delivery is not None:
        text.append(" — ")
        text.append_text(delivery_summary(result.delivery.counts))
    return text


def day_report(report: DayReport) -> Text:
    text = Text()
    text.append(f"{format_vn(report.day)} ({weekday_name(report.day)})", style="bold")
    if not report.sweep.working_day:
        text.append(" ngày nghỉ", style="grey50")
    for action in report.actions:
        text.append(f"\n  • {action}", style="cyan")
    if report.sent:
        parts = [
            f"{KIND_TEXT.get(kind, kind)} ({channel}): {n}"
            for (kind, channel), n in sorted(report.sent.items())
        ]
        text.append("\n  Đã gửi: " + "; ".join(parts))
    return text
