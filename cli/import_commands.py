"""``giaoviec plan import``: draft a plan file from a Kế hoạch as the office received it.

Register it on the ``plan`` command group with ``plan_app.command("import")(plan_import)``.
Errors a user can fix print a Vietnamese message and exit with code 2; nothing is written.
"""

from __future__ import annotations

import getpass
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cli.common import err, fail, fail_user, out, print_contact_changes

if TYPE_CHECKING:
    from rich.console import Console

    from importer import Imported
    from tracking.planio import CheckedPlan

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def plan_import(
    document: Annotated[
        Path,
        typer.Argument(
            metavar="DOC",
            help="Văn bản Kế hoạch (.docx, .pdf có lớp chữ hoặc .txt).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Tệp kế hoạch (YAML) sẽ ghi; “-” để in ra màn hình. "
            "Mặc định: cùng tên với văn bản, đuôi .yaml.",
            show_default=False,
        ),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load", help="Nạp luôn vào cơ sở dữ liệu (sau khi xác nhận).")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Không hỏi xác nhận trước khi nạp.")
    ] = False,
    code: Annotated[
        str | None,
        typer.Option(
            "--code",
            help="Mã kế hoạch (mặc định: địa danh, năm và tên sự kiện).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Ghi đè tệp kế hoạch đã có.")] = False,
    by: Annotated[
        str | None, typer.Option("--by", envvar="GIAOVIEC_USER", help="Người thực hiện.")
    ] = None,
) -> None:
    """Soạn bản nháp tệp kế hoạch (YAML) từ văn bản Kế hoạch; mỗi nhiệm vụ ghi rõ dòng nguồn."""
    from importer import DocumentError, import_document
    from tracking.planio import check_plan_text

    if code is not None and not _CODE.match(code):
        fail(f"Mã kế hoạch “{code}” không hợp lệ (chữ, số, “_”, “.”, “-”; tối đa 64 ký tự).")
    to_stdout = output is not None and str(output) == "-"
    target = output if output is not None and not to_stdout else document.with_suffix(".yaml")
    try:
        imported = import_document(
            document,
            check=check_plan_text,
            code=code,
            name=str(target),
            register=_existing_units(),
        )
    except DocumentError as exc:
        fail(str(exc))
    if not to_stdout and target.exists() and not force:
        fail(f"Tệp {target} đã có; dùng --force để ghi đè hoặc -o để chọn tệp khác.")
    if load:
        _require_database()
    console = err if to_stdout else out
    if to_stdout:
        sys.stdout.write(imported.text)
        sys.stdout.flush()
    else:
        try:
            target.write_text(imported.text, encoding="utf-8")
        except OSError as exc:
            fail(f"Không ghi được tệp {target}: {exc.strerror}.")
    console.print(summary(imported))
    if not to_stdout:
        console.print(f"Đã ghi bản nháp: [bold]{target}[/]", highlight=False)
    if not load:
        return
    if not yes and not typer.confirm("Nạp kế hoạch này vào cơ sở dữ liệu?", default=False):
        console.print("Chưa nạp. Sửa bản nháp rồi nạp bằng `giaoviec plan load`.")
        return
    _load(imported, by, console)


def summary(imported: Imported[CheckedPlan]) -> Table:
    """Units, the assignments each leads and cooperates on, and what was not understood."""
    draft = imported.draft
    spec = imported.checked.spec
    cover = draft.coverage
    title = (
        f"{spec.plan.code}: {len(spec.units)} đơn vị, {len(spec.assignments)} nhiệm vụ, "
        f"{len(draft.unparsed)} chỗ chưa hiểu được\n"
        f"Phần phân công: {cover.total} câu — {cover.used} đã đưa vào nhiệm vụ, "
        f"{cover.listed} chưa hiểu được"
    )
    table = Table(title=title, header_style="bold", title_justify="left")
    table.add_column("Mã")
    table.add_column("Đơn vị")
    table.add_column("Chủ trì", justify="right")
    table.add_column("Phối hợp", justify="right")
    for unit in spec.units:
        leads = sum(1 for a in spec.assignments if a.lead == unit.code)
        helps = sum(1 for a in spec.assignments if unit.code in a.cooperating)
        mark = " (đầu mối)" if unit.code == spec.plan.coordinator else ""
        table.add_row(unit.code, f"{unit.name}{mark}", str(leads), str(helps))
    if draft.unparsed:
        lines = [f"dòng {u.line}: {u.reason}" if u.line else u.reason for u in draft.unparsed[:10]]
        more = len(draft.unparsed) - len(lines)
        if more > 0:
            lines.append(f"… và {more} chỗ khác (xem cuối tệp kế hoạch)")
        table.caption = "Chưa hiểu được:\n" + "\n".join(lines)
        table.caption_justify = "left"
    return table


def _existing_units() -> list[tuple[str, str]]:
    """The units already in the database (code, name), for the importer to match the
    document's spellings against; none when there is no database yet: drafting needs none,
    and must not create one."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import select

    from models.tables import Department
    from tracking import db
    from tracking.settings import get_settings

    url = make_url(get_settings().resolved_database_url)
    if url.get_backend_name() == "sqlite" and not (
        url.database and url.database != ":memory:" and Path(url.database).exists()
    ):
        return []
    try:
        engine = db.default_engine()
        if not inspect(engine).has_table("department"):
            return []
        with db.session_scope(engine) as session:
            return [(d.code, d.name) for d in session.exec(select(Department)).all()]
    except SQLAlchemyError:
        return []  # an unreachable database: the draft is still made, without matching


def _require_database() -> None:
    from sqlalchemy import inspect

    from tracking import db

    if not inspect(db.default_engine()).has_table("alembic_version"):
        fail("Cơ sở dữ liệu chưa được khởi tạo: hãy chạy `giaoviec init`.")


def _load(imported: Imported[CheckedPlan], by: str | None, console: Console) -> None:
    from models.errors import UserError
    from tracking import db, store

    try:
        with db.session_scope() as session:
            actor = by or getpass.getuser()
            result = store.load_plan(session, imported.checked, actor, store.LOAD_BATCH)
    except UserError as exc:
        fail_user(exc)
    verb = "Đã tạo" if result.created else "Đã cập nhật"
    console.print(
        f"{verb} kế hoạch [bold]{result.plan_code}[/]: thêm {result.assignments_added}, "
        f"sửa {result.assignments_updated}, hủy {result.assignments_removed} nhiệm vụ."
    )
    print_contact_changes(console, result.contacts)
