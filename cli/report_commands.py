"""``giaoviec report`` and ``giaoviec calendar export``: files the coordinator sends on.

Registered in ``cli.main`` (``app.command("report")(report)`` and
``calendar_app.command("export")(calendar_export)``). This module imports only Typer at the
top: openpyxl and icalendar are imported inside the commands, and so are ``cli.main``'s
helpers, so ``cli.main`` may import this module at any point without a cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import TodayOpt

PlanOpt = Annotated[
    str | None, typer.Option("--plan", help="Mã kế hoạch (có thể bỏ khi chỉ có một kế hoạch).")
]
XlsxOpt = Annotated[
    Path | None,
    typer.Option(
        "--xlsx",
        help="Ghi báo cáo Excel (.xlsx) vào tệp này.",
        dir_okay=False,
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        help="Tệp .ics cần ghi (“-”: in ra màn hình).",
        dir_okay=False,
        show_default=False,
    ),
]
CalendarPlanOpt = Annotated[
    str | None, typer.Option("--plan", help="Mã kế hoạch (mặc định: mọi kế hoạch).")
]
DepartmentOpt = Annotated[
    str | None,
    typer.Option("--department", help="Chỉ các nhiệm vụ đơn vị này chủ trì hoặc phối hợp."),
]


def report(xlsx: XlsxOpt = None, plan: PlanOpt = None, today: TodayOpt = None) -> None:
    """Báo cáo tình hình thực hiện kế hoạch gửi cấp trên (tệp Excel)."""
    from cli.common import fail, out
    from cli.common import session as _session
    from cli.common import today_of as _today
    from models.dates import format_vn
    from models.enums import Timeliness

    if xlsx is None:
        fail("Hãy chỉ rõ tệp báo cáo: --xlsx TỆP.xlsx")
    if xlsx.suffix.lower() != ".xlsx":
        fail(f"Tệp báo cáo phải có đuôi .xlsx: {xlsx}")
    if not xlsx.parent.is_dir():
        fail(f"Không có thư mục {xlsx.parent}")
    from tracking.reports.xlsx import write_status_report

    day = _today(today)
    with _session() as session:
        try:
            result = write_status_report(session, day, plan, xlsx)
        except OSError as exc:
            fail(f"Không ghi được tệp {xlsx}: {exc.strerror or exc}")
    summary = result.summary
    out.print(
        f"Đã ghi báo cáo [bold]{xlsx}[/] (đến ngày {format_vn(day)}): "
        f"{len(result.rows)} nhiệm vụ của {len(result.groups)} đơn vị chủ trì; "
        f"quá hạn {summary.count(Timeliness.OVERDUE)}, "
        f"sắp đến hạn {summary.count(Timeliness.DUE_SOON)}.",
        highlight=False,
    )


def calendar_export(
    output: OutputOpt = None,
    plan: CalendarPlanOpt = None,
    department: DepartmentOpt = None,
) -> None:
    """Xuất thời hạn các nhiệm vụ và ngày diễn ra ra tệp lịch (.ics) để đưa vào lịch riêng."""
    import sys

    from cli.common import fail, out
    from cli.common import session as _session

    if output is None:
        fail("Hãy chỉ rõ tệp lịch: -o TỆP.ics (hoặc -o - để in ra màn hình)")
    from tracking.reports.ical import build_calendar

    with _session() as session:
        data = build_calendar(session, plan, department)
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if not output.parent.is_dir():
        fail(f"Không có thư mục {output.parent}")
    try:
        _write_atomically(output, data)
    except OSError as exc:
        fail(f"Không ghi được tệp {output}: {exc.strerror or exc}")
    events = data.count(b"BEGIN:VEVENT")
    out.print(f"Đã ghi {events} sự kiện vào [bold]{output}[/].", highlight=False)


def _write_atomically(path: Path, data: bytes) -> None:
    import secrets

    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
