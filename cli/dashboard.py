"""The coordinator's terminal dashboard: one Rich frame built from the store's views."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cli.render import TIMELINESS_STYLES, timeliness_text
from models.dates import format_vn
from models.enums import Timeliness
from services.progress import counted_units
from tracking.status import TIMELINESS_LABELS

if TYPE_CHECKING:
    from models.tables import Plan
    from tracking.store import AssignmentView

LIST_LIMIT = 10


def frame(
    plan: Plan | None,
    views: Sequence[AssignmentView],
    today: dt.date,
    days_to_event: int | None,
) -> Group:
    """Everything the coordinator watches, for one plan (or all plans when ``plan`` is None)."""
    return Group(
        _header(plan, today, days_to_event),
        _counts(views),
        _units(views),
        _attention(views, today),
        _critical(views),
    )


def _header(plan: Plan | None, today: dt.date, days_to_event: int | None) -> Panel:
    text = Text()
    if plan is None:
        text.append("Tất cả kế hoạch", style="bold")
    else:
        text.append(plan.title, style="bold")
        if plan.event_date:
            text.append(f"\nNgày diễn ra: {format_vn(plan.event_date)}")
            if days_to_event is not None:
                left = (
                    "hôm nay"
                    if days_to_event == 0
                    else (
                        f"còn {days_to_event} ngày làm việc" if days_to_event > 0 else "đã diễn ra"
                    )
                )
                text.append(f" — {left}", style="bold magenta")
        else:
            text.append(
                f"\nNgày diễn ra: chưa ấn định ({plan.window_text or '—'})", style="dark_orange"
            )
    text.append(f"\nCập nhật: {format_vn(today)}")
    return Panel(text, title="[bold]giaoviec — Bảng theo dõi tiến độ[/]", expand=True)


def _counts(views: Sequence[AssignmentView]) -> Table:
    counts = Counter(v.timeliness for v in views if v.timeliness is not None)
    total = sum(counts.values())
    table = Table.grid(expand=True, padding=(0, 1))
    for _ in Timeliness:
        table.add_column(justify="center")
    cells = []
    for kind in Timeliness:
        n = counts.get(kind, 0)
        share = f"{100 * n / total:.0f}%" if total else "—"
        cell = Text(f"{n}\n", style=f"bold {TIMELINESS_STYLES[kind]}")
        cell.append(f"{TIMELINESS_LABELS[kind]} ({share})", style=TIMELINESS_STYLES[kind])
        cells.append(cell)
    table.add_row(*cells)
    return table


def _units(views: Sequence[AssignmentView]) -> Table:
    table = Table(title="Tiến độ theo đơn vị chủ trì", header_style="bold", expand=True)
    table.add_column("Đơn vị")
    table.add_column("Hoàn thành", ratio=2)
    table.add_column("Xong/Tổng", justify="right", no_wrap=True)
    table.add_column("Quá hạn", justify="right", no_wrap=True)
    for unit in counted_units(views):  # services.progress: the model every interface shows
        bar = ProgressBar(
            total=unit.total, completed=unit.done, complete_style="green", finished_style="green"
        )
        table.add_row(
            unit.name,
            bar,
            f"{unit.done}/{unit.total}",
            Text(str(unit.overdue), style="bold red" if unit.overdue else "grey50"),
        )
    return table


def _attention(views: Sequence[AssignmentView], today: dt.date) -> Table:
    table = Table(title="Cần chú ý", header_style="bold", expand=True)
    table.add_column("Mã", no_wrap=True)
    table.add_column("Nhiệm vụ", ratio=3, overflow="fold")
    table.add_column("Chủ trì", no_wrap=True)
    table.add_column("Hạn", no_wrap=True)
    table.add_column("Tiến độ", no_wrap=True)
    urgent = [v for v in views if v.timeliness in (Timeliness.OVERDUE, Timeliness.DUE_SOON)]
    urgent.sort(key=lambda v: (v.timeliness is not Timeliness.OVERDUE, v.due or today))
    for view in urgent[:LIST_LIMIT]:
        table.add_row(
            view.code, view.title, view.lead, format_vn(view.due), timeliness_text(view.timeliness)
        )
    if len(urgent) > LIST_LIMIT:
        table.add_row(
            "", Text(f"… và {len(urgent) - LIST_LIMIT} nhiệm vụ khác", style="italic"), "", "", ""
        )
    if not urgent:
        table.add_row(
            "", Text("Không có nhiệm vụ quá hạn hay sắp đến hạn.", style="green"), "", "", ""
        )
    return table


def _critical(views: Sequence[AssignmentView]) -> Table:
    table = Table(title="Đường găng tới ngày diễn ra", header_style="bold", expand=True)
    table.add_column("Mã", no_wrap=True)
    table.add_column("Nhiệm vụ", ratio=3, overflow="fold")
    table.add_column("Hạn", no_wrap=True)
    table.add_column("Dự phòng", justify="right", no_wrap=True)
    table.add_column("Tiến độ", no_wrap=True)
    path = sorted((v for v in views if v.critical), key=lambda v: (v.due or dt.date.max, v.code))
    for view in path:
        table.add_row(
            view.code,
            view.title,
            format_vn(view.due),
            f"{view.slack} ngày",
            timeliness_text(view.timeliness),
        )
    if not path:
        table.add_row("", Text("Chưa xác định (chưa có ngày diễn ra).", style="grey50"), "", "", "")
    return table
