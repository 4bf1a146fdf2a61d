"""The ``giaoviec`` command.

Read commands import only ``tracking`` and ``models``: never Prefect, so they start fast.
Errors a user can fix print a Vietnamese message and exit with code 2.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cli.common import (
    EXIT_USAGE,
    TodayOpt,
    err,
    fail,
    fail_user,
    out,
    print_contact_changes,
    user_message,
)
from cli.common import option_date as _date
from cli.common import session as _session
from cli.common import today_of as _today
from models.dates import format_vn

app = typer.Typer(
    help="giaoviec — theo dõi, đôn đốc các nhiệm vụ được giao trong kế hoạch.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
plan_app = typer.Typer(help="Kế hoạch: kiểm tra, nạp, đặt ngày diễn ra.", no_args_is_help=True)
calendar_app = typer.Typer(help="Lịch làm việc khu vực công.", no_args_is_help=True)
contacts_app = typer.Typer(help="Người nhận nhắc việc của các đơn vị.", no_args_is_help=True)
zalo_app = typer.Typer(help="Kết nối Zalo Official Account.", no_args_is_help=True)
outbox_app = typer.Typer(help="Hàng đợi gửi tin: xem, gửi lại tin lỗi.")
app.add_typer(plan_app, name="plan")
app.add_typer(calendar_app, name="calendar")
app.add_typer(contacts_app, name="contacts")
app.add_typer(zalo_app, name="zalo")
app.add_typer(outbox_app, name="outbox")

# The web site and its accounts: `giaoviec web`, `giaoviec user …`.
from cli.web_commands import register as register_web_commands  # noqa: E402

register_web_commands(app)

# The schedules (Prefect): `giaoviec serve`, `giaoviec run-flow …`. Prefect is imported only
# inside these commands.
from cli import flow_commands  # noqa: E402

app.command("serve")(flow_commands.serve)
app.add_typer(flow_commands.run_flow_app, name="run-flow")

BUILTIN_PLAN = "an-giang-2024-hoi-nghi-thi-dua.yaml"

T = TypeVar("T")


PlanOpt = Annotated[str | None, typer.Option("--plan", help="Mã kế hoạch.")]
ByOpt = Annotated[str | None, typer.Option("--by", envvar="GIAOVIEC_USER", help="Người thực hiện.")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Ghi chú.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Lý do.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="In dạng JSON.")]


def _actor(by: str | None) -> str:
    from models.text import clean

    # The history names people in the one stored form (models.text.clean), like contacts.
    return clean(by or "") or getpass.getuser()


def _builtin_plan() -> Path:
    return Path(str(resources.files("plans").joinpath(BUILTIN_PLAN)))


_MAX_PROBLEMS_SHOWN = 50


def _check(path: Path) -> Any:
    from tracking.planio import PlanFileError, read_plan_file

    try:
        return read_plan_file(path)
    except PlanFileError as exc:
        err.print(
            f"[bold red]Tệp kế hoạch không hợp lệ ({len(exc.problems)} lỗi):[/]", highlight=False
        )
        # The first ones are enough to start fixing; a file of 100 000 mistakes would
        # otherwise keep the terminal busy for minutes.
        shown = exc.problems[:_MAX_PROBLEMS_SHOWN]
        for problem in shown:
            err.print(f"  {problem}", highlight=False, markup=False)
        if len(exc.problems) > len(shown):
            err.print(f"  … và {len(exc.problems) - len(shown)} lỗi khác.", highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc


def _load(path: Path, by: str | None) -> None:
    from tracking import store

    checked = _check(path)
    with _session() as session:
        # A new plan is written in batches so the web is never held up for long (docs/web.md).
        result = store.load_plan(session, checked, _actor(by), commit_every=store.LOAD_BATCH)
    verb = "Đã tạo" if result.created else "Đã cập nhật"
    out.print(
        f"{verb} kế hoạch [bold]{result.plan_code}[/]: thêm {result.assignments_added}, "
        f"sửa {result.assignments_updated}, hủy {result.assignments_removed} nhiệm vụ."
    )
    print_contact_changes(out, result.contacts)


# --- set-up -----------------------------------------------------------------------------


@app.command()
def init(
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Nạp tệp kế hoạch này thay cho kế hoạch mẫu.")
    ] = None,
    no_plan: Annotated[bool, typer.Option("--no-plan", help="Không nạp kế hoạch nào.")] = False,
    by: ByOpt = None,
) -> None:
    """Tạo hoặc nâng cấp cơ sở dữ liệu, rồi nạp kế hoạch (mặc định: kế hoạch mẫu của An Giang)."""
    from tracking import db
    from tracking.private import private_folder, restrict
    from tracking.settings import get_settings

    settings = get_settings()
    restrict(private_folder(settings.home))  # a home made by an older version too
    db.migrate()
    out.print(f"Cơ sở dữ liệu sẵn sàng: {_redact(settings.resolved_database_url)}")
    if not no_plan:
        _load(plan or _builtin_plan(), by)


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- plans ------------------------------------------------------------------------------


@plan_app.command("list")
def plan_list(as_json: JsonOpt = False) -> None:
    """Liệt kê các kế hoạch đã nạp."""
    from rich.table import Table

    from tracking import store

    with _session() as session:
        rows = [(p, store.count_assignments(session, p)) for p in store.list_plans(session)]
    if as_json:
        data = [
            {
                "id": p.id,
                "code": p.code,
                "number": p.number,
                "title": p.title,
                "issuer": p.issuer,
                "event_date": p.event_date.isoformat() if p.event_date else None,
                "window_text": p.window_text,
                "assignments": n,
            }
            for p, n in rows
        ]
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    table = Table(header_style="bold")
    for column in ("Mã kế hoạch", "Tên", "Ngày diễn ra", "Số nhiệm vụ"):
        table.add_column(column)
    for p, n in rows:
        table.add_row(
            p.code,
            p.title,
            format_vn(p.event_date) if p.event_date else (p.window_text or "—"),
            str(n),
        )
    out.print(table)


@plan_app.command("validate")
def plan_validate(file: Annotated[Path, typer.Argument(help="Tệp kế hoạch (YAML).")]) -> None:
    """Kiểm tra tệp kế hoạch mà không thay đổi gì."""
    checked = _check(file)
    spec = checked.spec
    out.print(
        f"[green]Hợp lệ:[/] {spec.plan.code} — {len(spec.units)} đơn vị, "
        f"{len(spec.assignments)} nhiệm vụ."
    )


@plan_app.command("load")
def plan_load(
    file: Annotated[Path, typer.Argument(help="Tệp kế hoạch (YAML).")], by: ByOpt = None
) -> None:
    """Nạp (hoặc cập nhật) một kế hoạch từ tệp; nạp lại cùng tệp không tạo bản trùng."""
    _load(file, by)


# Drafting a plan file from the document itself lives beside its parser.
from cli.import_commands import plan_import  # noqa: E402

plan_app.command("import")(plan_import)


@plan_app.command("set-event-date")
def plan_set_event_date(
    plan: Annotated[str, typer.Argument(help="Mã kế hoạch.")],
    date: Annotated[str, typer.Argument(help="Ngày diễn ra, ví dụ 15/03/2024.")],
    by: ByOpt = None,
) -> None:
    """Ấn định (hoặc đổi) ngày diễn ra; mọi thời hạn tương đối được tính lại."""
    from tracking import store

    day = _date(date)
    with _session() as session:
        row, moved = store.set_event_date(session, plan, day, _actor(by))
    out.print(
        f"Ngày diễn ra của {row.code}: [bold]{format_vn(day)}[/]; {moved} thời hạn được tính lại."
    )


@plan_app.command("activate")
def plan_activate(
    plan: Annotated[str, typer.Argument(help="Mã kế hoạch.")],
    by: ByOpt = None,
    today: TodayOpt = None,
) -> None:
    """Bắt đầu theo dõi: từ nay gửi nhắc việc; mỗi đơn vị nhận danh sách nhiệm vụ của mình."""
    from tracking import store

    day = _today(today)
    with _session() as session:
        row, kickoff = store.activate_plan(session, plan, _actor(by), day)
    if kickoff is None:
        out.print(f"Kế hoạch {row.code} đã được kích hoạt từ trước; không gửi lại thông báo.")
        return
    out.print(
        f"Đã kích hoạt kế hoạch [bold]{row.code}[/]: {kickoff.added} thông báo triển khai "
        "đã vào hàng đợi (gửi bằng `giaoviec deliver`)."
    )


# --- reading ----------------------------------------------------------------------------


@app.command()
def status(
    plan: PlanOpt = None,
    department: Annotated[
        str | None, typer.Option("--department", help="Mã đơn vị (chủ trì hoặc phối hợp).")
    ] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="In dạng CSV (UTF-8 có BOM, mở được bằng Excel).")
    ] = False,
    today: TodayOpt = None,
) -> None:
    """Bảng tình hình thực hiện các nhiệm vụ."""
    from tracking import store

    day = _today(today)
    with _session() as session:
        views = store.plan_status(session, day, plan, department)
        plans = [store.get_plan(session, plan)] if plan else store.list_plans(session)
        calendar = store.load_calendar(session)
    if as_json:
        print(json.dumps([v.as_json() for v in views], ensure_ascii=False, indent=2))
        return
    if as_csv:
        import sys

        from tracking.reports.csv_export import status_csv

        sys.stdout.buffer.write(status_csv(views).encode("utf-8"))  # bytes: CRLF kept as is
        return
    from cli import render

    if len(plans) == 1:
        p = plans[0]
        days = calendar.working_days_between(day, p.event_date) if p.event_date else None
        out.print(render.plan_header(p, day, days))
    out.print(render.status_table(views, show_plan=len(plans) > 1, width=out.width))
    out.print(render.summary(views))
    # The store keeps the present state, not its history by day: viewing a day before work
    # was reported done shows it done all the same. Say so rather than mislead.
    later = sorted(v.code for v in views if v.completed_on and v.completed_on > day)
    if later:
        err.print(
            f"Lưu ý: {len(later)} nhiệm vụ được báo cáo hoàn thành sau ngày {format_vn(day)} "
            f"({', '.join(later[:5])}{', …' if len(later) > 5 else ''}); bảng trên ghi tình trạng "
            "hiện tại của các nhiệm vụ này, không phải tình trạng vào ngày đó.",
            highlight=False,
        )


# Reports (Excel, iCalendar): their commands live beside the code that builds them.
from cli.report_commands import calendar_export, report  # noqa: E402

app.command("report")(report)
calendar_app.command("export")(calendar_export)


@app.command()
def dashboard(
    plan: PlanOpt = None,
    once: Annotated[bool, typer.Option("--once", help="In một khung hình rồi thoát.")] = False,
    refresh: Annotated[
        float, typer.Option("--refresh", help="Số giây giữa hai lần cập nhật.")
    ] = 30.0,
    today: TodayOpt = None,
) -> None:
    """Bảng theo dõi tiến độ, tự cập nhật (Ctrl-C để thoát)."""
    import time

    from rich.live import Live

    if once:
        out.print(_dashboard_frame(plan, today))
        return
    with Live(_dashboard_frame(plan, today), console=out, screen=False, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(max(refresh, 1.0))
                live.update(_dashboard_frame(plan, today), refresh=True)
        except KeyboardInterrupt:
            pass


def _dashboard_frame(plan_ref: str | None, today: str | None) -> Any:
    from cli.dashboard import frame
    from tracking import store

    day = _today(today)
    with _session() as session:
        plans = store.list_plans(session)
        plan = (
            store.get_plan(session, plan_ref)
            if plan_ref
            else (plans[0] if len(plans) == 1 else None)
        )
        views = store.plan_status(session, day, plan.code if plan else None)
        calendar = store.load_calendar(session)
    days = calendar.working_days_between(day, plan.event_date) if plan and plan.event_date else None
    return frame(plan, views, day, days)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Số hoặc mã nhiệm vụ.")],
    today: TodayOpt = None,
) -> None:
    """Chi tiết một nhiệm vụ và toàn bộ lịch sử của nó."""
    from sqlmodel import select

    from cli import render
    from models.tables import Dependency, Plan
    from tracking import store

    day = _today(today)
    with _session() as session:
        row = store.get_assignment(session, ref)
        plan = session.get(Plan, row.plan_id)
        assert plan is not None and row.id is not None
        views = {v.id: v for v in store.plan_status(session, day, plan.code)}
        dependents = sorted(
            views[d.assignment_id].code
            for d in session.exec(select(Dependency).where(Dependency.prerequisite_id == row.id))
        )
        lead = store.get_department_by_id(session, row.lead_department_id)
        view = views[row.id]
        coop_names = [store.get_department(session, c).name for c in view.cooperating]
        events = store.history(session, row.id)
    out.print(render.assignment_panel(row, view, dependents, lead.name, coop_names, events))


# --- actions ----------------------------------------------------------------------------


def _act(
    ref: str,
    action: str,
    by: str | None,
    today: str | None,
    *,
    note: str | None = None,
    reason: str | None = None,
    to: str | None = None,
    evidence: list[Path] | None = None,
) -> None:
    from services.actions import EvidenceFile, act_with_evidence
    from tracking import store
    from tracking.settings import get_settings
    from tracking.status import Action

    settings = get_settings()
    day = _today(today)
    request = store.ActionRequest(
        Action(action), _actor(by), note=note, reason=reason, new_due=_date(to)
    )
    with _session() as session:
        files = [EvidenceFile.from_path(path) for path in evidence or []]
        row = act_with_evidence(
            session,
            store.get_assignment(session, ref),
            request,
            files,
            home=settings.home,
            max_bytes=settings.max_evidence_bytes,
            today=day,
        )
    from tracking.status import STATE_LABELS

    extra = f"; hạn mới {format_vn(row.due)}" if action == "extend" else ""
    out.print(f"{row.code}: [bold]{STATE_LABELS[row.state]}[/]{extra}.")


IdArg = Annotated[str, typer.Argument(metavar="ID", help="Số hoặc mã nhiệm vụ.")]


@app.command()
def start(ref: IdArg, by: ByOpt = None, note: NoteOpt = None, today: TodayOpt = None) -> None:
    """Đơn vị bắt đầu thực hiện nhiệm vụ."""
    _act(ref, "start", by, today, note=note)


@app.command()
def submit(
    ref: IdArg,
    by: ByOpt = None,
    note: NoteOpt = None,
    evidence: Annotated[
        list[Path] | None, typer.Option("--evidence", help="Tệp minh chứng (có thể lặp lại).")
    ] = None,
    today: TodayOpt = None,
) -> None:
    """Đơn vị báo cáo hoàn thành (chờ Ban Thi đua - Khen thưởng xác nhận)."""
    _act(ref, "submit", by, today, note=note, evidence=evidence)


@app.command()
def confirm(ref: IdArg, by: ByOpt = None, note: NoteOpt = None, today: TodayOpt = None) -> None:
    """Đơn vị điều phối xác nhận nhiệm vụ đã hoàn thành."""
    _act(ref, "confirm", by, today, note=note)


@app.command("return")
def return_(ref: IdArg, reason: ReasonOpt = None, by: ByOpt = None, today: TodayOpt = None) -> None:
    """Trả lại kết quả chưa đạt (cần --reason)."""
    _act(ref, "return", by, today, reason=reason)


@app.command()
def block(ref: IdArg, reason: ReasonOpt = None, by: ByOpt = None, today: TodayOpt = None) -> None:
    """Báo vướng mắc (cần --reason)."""
    _act(ref, "block", by, today, reason=reason)


@app.command()
def unblock(ref: IdArg, by: ByOpt = None, note: NoteOpt = None, today: TodayOpt = None) -> None:
    """Gỡ vướng mắc, tiếp tục thực hiện."""
    _act(ref, "unblock", by, today, note=note)


@app.command()
def extend(
    ref: IdArg,
    to: Annotated[str | None, typer.Option("--to", help="Hạn mới, ví dụ 20/03/2024.")] = None,
    reason: ReasonOpt = None,
    by: ByOpt = None,
    today: TodayOpt = None,
) -> None:
    """Gia hạn hoặc điều chỉnh thời hạn (cần --to và --reason).

    Hạn mới phải là ngày làm việc; hạn ban đầu và người cho gia hạn được giữ lại.

    Hạn sớm hơn hạn hiện tại được ghi là điều chỉnh (sửa sai); trở về hạn ban đầu là bỏ gia hạn.
    """
    _act(ref, "extend", by, today, reason=reason, to=to)


@app.command()
def pause(ref: IdArg, reason: ReasonOpt = None, by: ByOpt = None, today: TodayOpt = None) -> None:
    """Tạm dừng nhiệm vụ (cần --reason)."""
    _act(ref, "pause", by, today, reason=reason)


@app.command()
def resume(ref: IdArg, by: ByOpt = None, note: NoteOpt = None, today: TodayOpt = None) -> None:
    """Tiếp tục nhiệm vụ đã tạm dừng."""
    _act(ref, "resume", by, today, note=note)


@app.command()
def cancel(ref: IdArg, reason: ReasonOpt = None, by: ByOpt = None, today: TodayOpt = None) -> None:
    """Hủy nhiệm vụ (cần --reason)."""
    _act(ref, "cancel", by, today, reason=reason)


# --- reminders and delivery -------------------------------------------------------------


@app.command()
def remind(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Chỉ liệt kê, không đưa vào hàng đợi.")
    ] = False,
    today: TodayOpt = None,
) -> None:
    """Tính các nhắc việc đến hạn hôm nay và đưa vào hàng đợi gửi (chạy lại không tạo trùng)."""
    from tracking import clock, reminders, store
    from tracking.settings import get_settings

    day = _today(today)
    with _session() as session:
        calendar = store.load_calendar(session)
        if not calendar.is_working_day(day):
            out.print(
                f"{format_vn(day)} là ngày nghỉ ({calendar.day_off_name(day)}): không nhắc việc."
            )
            return
        result = reminders.enqueue_daily(session, day, clock.now_for(day), calendar, get_settings())
        rows = store.outbox_rows(session, ids=list(result.new_ids))
        views = _outbox_views(session, rows)
        if dry_run:
            session.rollback()
    from cli import render

    if views:
        out.print(render.outbox_table(views, title=f"Nhắc việc ngày {format_vn(day)}"))
    verb = "Sẽ đưa" if dry_run else "Đã đưa"
    out.print(
        f"{verb} {result.added} tin mới vào hàng đợi "
        f"({result.considered - result.added} tin đã có từ trước)."
    )


@app.command()
def deliver(
    limit: Annotated[int | None, typer.Option("--limit", help="Gửi tối đa bấy nhiêu tin.")] = None,
    today: TodayOpt = None,
) -> None:
    """Gửi các tin đang chờ trong hàng đợi (email, Zalo) và ghi lại kết quả."""
    from notifications.delivery import deliver as run_delivery
    from tracking import clock, db
    from tracking.settings import get_settings

    settings = get_settings()
    with _session():
        pass  # checks the schema exists before any work
    report = run_delivery(
        db.default_engine(), settings, clock.now_for(_today(today)), max_messages=limit
    )
    from cli import render

    out.print(render.delivery_summary(report.counts))
    if report.setup_failed:
        err.print(
            f"[bold red]Cảnh báo:[/] máy chủ SMTP không nhận cấu hình hiện tại "
            f"({report.setup_failed}). Các email được giữ lại trong hàng đợi và sẽ tự gửi khi "
            "biến GIAOVIEC_SMTP_* được sửa; xem `giaoviec outbox`.",
            highlight=False,
        )
    if not settings.smtp_host:
        out.print(f"Chưa cấu hình SMTP: email được ghi thành tệp trong {settings.outbox_folder}")


@outbox_app.callback(invoke_without_command=True)
def outbox(
    ctx: typer.Context,
    status_filter: Annotated[
        str | None,
        typer.Option("--status", help="pending, sending, sent, failed, unknown, cancelled"),
    ] = None,
    day: Annotated[str | None, typer.Option("--day", help="Chỉ các tin của ngày này.")] = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", help="Số dòng tối đa.")] = 200,
) -> None:
    """Danh sách tin trong hàng đợi gửi và kết quả gửi; cảnh báo nếu không gửi được."""
    if ctx.invoked_subcommand:
        return
    from models.enums import DeliveryStatus
    from tracking import outbox as outbox_ops
    from tracking import store

    try:
        wanted = DeliveryStatus(status_filter) if status_filter else None
    except ValueError:
        choices = ", ".join(s.value for s in DeliveryStatus)
        fail(f"Trạng thái “{status_filter}” không hợp lệ (dùng: {choices}).")
    with _session() as session:
        rows = store.outbox_rows(session, status=wanted, day=_date(day), limit=limit)
        views = _outbox_views(session, rows)
        alerts = outbox_ops.delivery_alerts(session)
    # On stderr: seen in a terminal, and the JSON on stdout keeps its shape.
    for alert in alerts:
        err.print(f"[bold red]Cảnh báo:[/] {alert.text}", highlight=False)
    if as_json:
        print(json.dumps(views, ensure_ascii=False, indent=2, default=str))
        return
    from cli import render

    out.print(render.outbox_table(views, title="Hàng đợi gửi tin"))


@outbox_app.command("requeue")
def outbox_requeue(
    day: Annotated[
        str | None, typer.Option("--day", help="Các tin của ngày này (15/03/2024).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Các tin loại này (ví dụ: overdue, due_today, escalation)."),
    ] = None,
    status_filter: Annotated[
        str, typer.Option("--status", help="Trạng thái các tin cần gửi lại: failed hoặc unknown.")
    ] = "failed",
    by: ByOpt = None,
    today: TodayOpt = None,
) -> None:
    """Đưa lại vào hàng đợi các tin gửi lỗi của một ngày và/hoặc một loại, để gửi lại.

    Dùng sau khi đã sửa cấu hình (mật khẩu SMTP, địa chỉ người nhận): tin được gửi ở lượt
    gửi tiếp theo (`giaoviec deliver`).
    """
    from models.dates import parse_date
    from models.enums import ReminderKind
    from tracking import clock
    from tracking import outbox as outbox_ops

    if day is None and kind is None:
        fail("Hãy chọn tin cần gửi lại: --day (ngày) và/hoặc --kind (loại tin).")
    try:
        wanted_day = parse_date(day) if day else None
    except ValueError as exc:
        fail(f"--day: {exc}")
    try:
        wanted_kind = ReminderKind(kind) if kind else None
    except ValueError:
        kinds = ", ".join(k.value for k in ReminderKind)
        fail(f"--kind: loại tin “{kind}” không có (dùng: {kinds}).")
    allowed = {s.value: s for s in outbox_ops.REQUEUEABLE}
    if status_filter not in allowed:
        fail(f"--status: chỉ gửi lại được tin ở trạng thái {', '.join(allowed)}.")
    with _session() as session:
        result = outbox_ops.requeue(
            session,
            day=wanted_day,
            kind=wanted_kind,
            status=allowed[status_filter],
            now=clock.now_for(_today(today)),
            actor=_actor(by),
        )
    which = " ".join(
        part
        for part in (
            f"ngày {format_vn(wanted_day)}" if wanted_day else "",
            f"loại {wanted_kind.value}" if wanted_kind else "",
        )
        if part
    )
    out.print(
        f"Đã đưa lại {result.count} tin ({status_filter}, {which}) vào hàng đợi; "
        "chúng sẽ được gửi ở lượt gửi tiếp theo.",
        highlight=False,
    )
    if result.skipped:
        out.print(
            f"Bỏ qua {result.skipped} tin Zalo đã được gửi thay bằng email (tránh gửi hai lần).",
            highlight=False,
        )
    if result.count == 0:
        out.print("Không có tin nào khớp điều kiện.", highlight=False)


@app.command()
def sweep(today: TodayOpt = None) -> None:
    """Chạy một lần việc hằng ngày: tính lại thời hạn, đưa nhắc việc vào hàng đợi, gửi."""
    from services.day import sweep_day
    from tracking import db
    from tracking.settings import get_settings

    day = _today(today)
    with _session():
        pass  # checks the schema exists before any work
    result = sweep_day(db.default_engine(), day, get_settings())
    from cli import render

    out.print(render.sweep_line(result))


@app.command()
def simulate(
    start: Annotated[str, typer.Option("--from", help="Ngày bắt đầu.")],
    end: Annotated[str, typer.Option("--to", help="Ngày kết thúc.")],
    plan: PlanOpt = None,
    script: Annotated[
        Path | None, typer.Option("--script", help="Kịch bản YAML: ngày nào, ai làm gì.")
    ] = None,
) -> None:
    """Chạy lại kế hoạch từng ngày: hành động theo kịch bản, rồi nhắc việc và gửi như thật."""
    from models.errors import UserError
    from services.replay import read_script
    from services.replay import simulate as run_simulation
    from tracking import db, store
    from tracking.planio import PlanFileError
    from tracking.settings import get_settings

    first, last = _date(start), _date(end)
    assert first is not None and last is not None
    if last < first:
        fail("Ngày kết thúc phải sau ngày bắt đầu.")
    try:
        steps = read_script(script) if script else []
    except PlanFileError as exc:
        for problem in exc.problems:
            err.print(f"  {problem}", highlight=False, markup=False)
        raise typer.Exit(EXIT_USAGE) from exc
    from cli import render

    with _session() as session:
        if plan:
            store.get_plan(session, plan)
    try:
        for report in run_simulation(db.default_engine(), first, last, get_settings(), steps):
            out.print(render.day_report(report))
    except UserError as exc:
        fail_user(exc)
    with _session() as session:
        views = store.plan_status(session, last, plan)
    out.print(
        render.status_table(views, show_plan=plan is None and len({v.plan_code for v in views}) > 1)
    )
    out.print(render.summary(views))


def _outbox_views(session: Any, rows: list[Any]) -> list[dict[str, Any]]:
    from tracking import store

    return [store.outbox_view(session, row) for row in rows]


# --- contacts ---------------------------------------------------------------------------


@contacts_app.command("list")
def contacts_list(
    department: Annotated[str | None, typer.Option("--department", help="Mã đơn vị.")] = None,
    removed: Annotated[
        bool, typer.Option("--removed", help="Kể cả người đã gỡ (không còn nhận tin).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Người nhận của các đơn vị."""
    from tracking import store

    with _session() as session:
        data = store.contact_views(session, department, include_removed=removed)
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    from cli import render

    out.print(render.contacts_table(data))


@contacts_app.command("set")
def contacts_set(
    department: Annotated[str, typer.Argument(help="Mã đơn vị, ví dụ SNV.")],
    name: Annotated[str, typer.Argument(help="Họ tên người nhận.")],
    email: Annotated[str | None, typer.Option("--email")] = None,
    zalo: Annotated[
        str | None, typer.Option("--zalo", help="Zalo user id (người quan tâm OA).")
    ] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Số điện thoại (ZNS).")] = None,
    role: Annotated[str | None, typer.Option("--role", help="Chức vụ.")] = None,
    head: Annotated[
        bool | None, typer.Option("--head/--not-head", help="Là lãnh đạo đơn vị.")
    ] = None,
    coordinator: Annotated[
        bool | None,
        typer.Option("--coordinator/--not-coordinator", help="Nhận tin của đơn vị điều phối."),
    ] = None,
    by: ByOpt = None,
) -> None:
    """Thêm hoặc sửa người nhận của một đơn vị (không cần sửa tệp YAML).

    Giá trị đặt bằng lệnh này không bị ghi đè khi nạp lại tệp kế hoạch (kể cả `init`).
    """
    from tracking import store

    changes = {
        "email": email,
        "zalo_user_id": zalo,
        "phone": phone,
        "role": role,
        "is_head": head,
        "is_coordinator": coordinator,
    }
    with _session() as session:
        created = store.set_contact(
            session,
            department,
            name,
            {k: v for k, v in changes.items() if v is not None},
            _actor(by),
        )
    out.print(
        f"{'Đã thêm' if created else 'Đã cập nhật'} người nhận {name} ({department}); "
        "các giá trị vừa đặt không bị tệp kế hoạch ghi đè khi nạp lại.",
        highlight=False,
        markup=False,
    )


@contacts_app.command("remove")
def contacts_remove(
    department: Annotated[str, typer.Argument(help="Mã đơn vị, ví dụ SNV.")],
    name: Annotated[str, typer.Argument(help="Họ tên người nhận.")],
    by: ByOpt = None,
) -> None:
    """Gỡ một người nhận: thôi nhận nhắc việc, hủy tin đang chờ gửi, vô hiệu liên kết đã gửi.

    Nạp lại tệp kế hoạch không khôi phục người đã gỡ; muốn dùng lại thì `contacts set`.
    """
    from tracking import store

    with _session() as session:
        contact, cancelled = store.remove_contact(session, department, name, _actor(by))
        shown = contact.name
    out.print(
        f"Đã gỡ người nhận {shown} ({department}): hủy {cancelled} tin đang chờ gửi; "
        "các liên kết đã gửi cho người này hết hiệu lực.",
        highlight=False,
        markup=False,
    )


@contacts_app.command("rename")
def contacts_rename(
    department: Annotated[str, typer.Argument(help="Mã đơn vị, ví dụ SNV.")],
    name: Annotated[str, typer.Argument(help="Họ tên hiện tại.")],
    new_name: Annotated[str, typer.Argument(help="Họ tên mới.")],
    by: ByOpt = None,
) -> None:
    """Sửa họ tên một người nhận; tệp kế hoạch ghi tên cũ vẫn nhận ra người này."""
    from tracking import store

    with _session() as session:
        contact = store.rename_contact(session, department, name, new_name, _actor(by))
        shown = contact.name
    out.print(f"Đã đổi tên người nhận thành {shown} ({department}).", highlight=False, markup=False)


@contacts_app.command("move")
def contacts_move(
    department: Annotated[str, typer.Argument(help="Mã đơn vị hiện tại.")],
    name: Annotated[str, typer.Argument(help="Họ tên người nhận.")],
    new_department: Annotated[str, typer.Argument(help="Mã đơn vị mới.")],
    by: ByOpt = None,
) -> None:
    """Chuyển một người nhận sang đơn vị khác; các liên kết đã gửi cho người này hết hiệu lực."""
    from tracking import store

    with _session() as session:
        contact, cancelled = store.move_contact(
            session, department, name, new_department, _actor(by)
        )
        shown = contact.name
    out.print(
        f"Đã chuyển {shown} từ {department} sang {new_department}: hủy {cancelled} tin "
        "đang chờ gửi; các liên kết đã gửi cho người này hết hiệu lực.",
        highlight=False,
        markup=False,
    )


# --- Zalo -------------------------------------------------------------------------------


@zalo_app.command("set-token")
def zalo_set_token(
    expires_in: Annotated[int, typer.Option("--expires-in", help="Số giây còn hiệu lực.")] = 90000,
) -> None:
    """Lưu cặp access token / refresh token lần đầu (đọc từ đầu vào chuẩn: hai dòng).

    Token không nhận qua tham số dòng lệnh để không lộ trong lịch sử lệnh hay danh sách tiến trình.
    """
    from models.errors import UserError
    from services.zalo import set_token
    from tracking.settings import get_settings

    try:
        stored = set_token(sys.stdin.read(), expires_in, get_settings().home)
    except UserError as exc:
        fail_user(exc)
    out.print(
        f"Đã lưu token Zalo vào {stored.folder} "
        f"(hết hạn lúc {stored.expires_at:%d/%m/%Y %H:%M} UTC)."
    )


# --- calendar ---------------------------------------------------------------------------


def _calendar() -> Any:
    """The calendar with the operator's overrides when there is a database, else the plain one."""
    from sqlalchemy import inspect

    from tracking import db, store
    from tracking.calendar import WorkCalendar

    engine = db.default_engine()
    if not inspect(engine).has_table("calendar_override"):
        return WorkCalendar()
    with db.session_scope(engine) as session:
        return store.load_calendar(session)


def _run_calendar(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except ValueError as exc:
        fail(str(exc))


# ignore_unknown_options lets "-30" through as the (negative) count rather than an option.
@calendar_app.command("add-working-days", context_settings={"ignore_unknown_options": True})
def calendar_add_working_days(
    date: Annotated[str, typer.Argument(help="Ngày bắt đầu (không tính ngày này).")],
    n: Annotated[int, typer.Argument(help="Số ngày làm việc (âm: lùi lại).")],
    today: TodayOpt = None,
) -> None:
    """In ngày làm việc thứ N sau (hoặc trước) một ngày, dạng ISO."""
    start = _date(date) or _today(today)
    print(_run_calendar(lambda: _calendar().add_working_days(start, n)).isoformat())


@calendar_app.command("is-working-day")
def calendar_is_working_day(
    date: Annotated[str | None, typer.Argument(help="Ngày cần xem (mặc định: hôm nay).")] = None,
    today: TodayOpt = None,
) -> None:
    """Cho biết một ngày có phải ngày làm việc; mã thoát 0 nếu phải, 1 nếu là ngày nghỉ."""
    day = _date(date) or _today(today)
    calendar = _calendar()
    working = _run_calendar(lambda: calendar.is_working_day(day))
    if working:
        out.print(f"{format_vn(day)}: ngày làm việc")
        return
    out.print(f"{format_vn(day)}: ngày nghỉ ({calendar.day_off_name(day)})")
    raise typer.Exit(1)


@calendar_app.command("override")
def calendar_override(
    date: Annotated[str, typer.Argument(help="Ngày cần điều chỉnh.")],
    working: Annotated[
        bool, typer.Option("--working/--off", help="Là ngày làm việc hay ngày nghỉ.")
    ],
    name: Annotated[str, typer.Option("--name", help="Lý do, ví dụ: Làm bù cho ngày 2/5/2027.")],
    by: ByOpt = None,
) -> None:
    """Thêm điều chỉnh lịch (ngày nghỉ hoán đổi, ngày làm bù) cho năm chưa công bố."""
    from tracking import store

    day = _date(date)
    assert day is not None
    with _session() as session:
        store.set_calendar_override(session, day, working, name, _actor(by))
    kind = "ngày làm việc" if working else "ngày nghỉ"
    out.print(f"{format_vn(day)} từ nay là {kind} ({name}); các thời hạn đã được tính lại.")


# Exit code of a run that could not reach the database (EXIT_USAGE is for the user's mistakes).
EXIT_DATABASE = 1


def run() -> None:
    from models.errors import UserError
    from tracking.settings import SettingsError

    try:
        _dispatch(sys.argv[1:])
    except UserError as exc:  # any the command did not map itself: the message, exit 2
        err.print(f"[bold red]Lỗi:[/] {user_message(exc)}", highlight=False)
        raise SystemExit(EXIT_USAGE) from None
    except SettingsError as exc:
        err.print(f"[bold red]Lỗi:[/] {exc}", highlight=False)
        raise SystemExit(EXIT_USAGE) from None
    except Exception as exc:
        problem = storage_problem(exc)
        if problem is not None:
            # A broken file or a full disk: nothing more can be written; say which file.
            err.print(f"[bold red]Lỗi:[/] {problem}", highlight=False)
            raise SystemExit(EXIT_DATABASE) from None
        detail = _database_outage(exc)
        if detail is None:
            raise
        # The database went away (not started, restarted, network): say so in Vietnamese
        # instead of a traceback. Each step commits on its own, so nothing done is lost.
        err.print(
            "[bold red]Lỗi:[/] không kết nối được cơ sở dữ liệu, hoặc mất kết nối giữa chừng. "
            "Những gì đã ghi vẫn còn nguyên; hãy chạy lại lệnh khi cơ sở dữ liệu hoạt động "
            "trở lại, phần việc còn lại sẽ được làm tiếp.",
            highlight=False,
        )
        err.print(f"Chi tiết: {detail}", highlight=False, markup=False)
        raise SystemExit(EXIT_DATABASE) from None


def _dispatch(argv: list[str]) -> None:
    """Run the command ``argv`` names.

    Typer builds the Click command of every one of the ~45 commands before running any
    (reading each signature and its annotations): a third of a short command's own time.
    A top-level command asked for by name is built alone; everything else (groups, help,
    mistakes) goes through the whole application, so its messages are unchanged.
    """
    name = argv[0] if argv else ""
    single = single_command_app(name)
    if single is None:
        app()
        return
    single(args=argv[1:], prog_name=f"giaoviec {name}")


def single_command_app(name: str) -> typer.Typer | None:
    """An application of the one top-level command ``name``, or None if there is none."""
    found = [c for c in app.registered_commands if command_name(c) == name]
    if len(found) != 1 or any(g.name == name for g in app.registered_groups):
        return None
    single = typer.Typer(
        add_completion=False,
        no_args_is_help=False,
        rich_markup_mode="rich",
        pretty_exceptions_enable=False,
    )
    single.registered_commands = found
    return single


def command_name(info: Any) -> str:
    """The name Typer gives a registered command: its own, or its function's, dashed."""
    from typer.main import get_command_name

    if info.name:
        return str(info.name)
    return get_command_name(info.callback.__name__) if info.callback else ""


def storage_problem(exc: BaseException) -> str | None:
    """A Vietnamese sentence naming the problem and the file when ``exc`` means the database
    file is damaged or the disk is full; None for any other error."""
    import errno

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" khi ghi tệp {exc.filename}" if exc.filename else ""
        return (
            f"hết dung lượng đĩa{where}. Hãy giải phóng dung lượng rồi chạy lại lệnh; "
            "những gì đã ghi trước đó vẫn còn nguyên."
        )
    if not isinstance(exc, DBAPIError):
        return None
    text = str(getattr(exc, "orig", exc)).lower()
    database = _database_file()
    if "disk is full" in text or "no space left" in text or "disk full" in text:
        return (
            f"hết dung lượng đĩa khi ghi cơ sở dữ liệu {database}. Hãy giải phóng dung lượng "
            "rồi chạy lại lệnh; những gì đã ghi trước đó vẫn còn nguyên."
        )
    if "file is not a database" in text or "malformed" in text:
        return (
            f"tệp cơ sở dữ liệu {database} bị hỏng (không đọc được như một cơ sở dữ liệu "
            "SQLite). Hãy khôi phục tệp từ bản sao lưu gần nhất; không ghi đè hay xóa tệp "
            "này trước khi đã sao lưu nó."
        )
    return None


def _database_file() -> str:
    from sqlalchemy.engine import make_url

    from tracking.settings import get_settings

    url = make_url(get_settings().resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return str(url.database)
    return url.render_as_string(hide_password=True)


def _database_outage(exc: BaseException) -> str | None:
    """The driver's first line when ``exc`` means the database cannot be reached, else None."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError) or (
        not exc.connection_invalidated and not _unreachable(exc)
    ):
        return None
    return (str(exc.orig).strip().splitlines() or ["?"])[0][:300]


def _unreachable(exc: BaseException) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    # SQLite's OperationalError also covers bad SQL and a locked file: only the lost or
    # refused connections of a server are an outage.
    text = str(getattr(exc, "orig", exc)).lower()
    return any(
        sign in text for sign in ("connection", "server closed", "terminating", "could not connect")
    )
