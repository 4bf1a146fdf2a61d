"""``giaoviec web`` (the web pages) and ``giaoviec user …`` (web accounts).

Registered in ``cli.main`` with ``register(app)``. Heavy imports (FastAPI, uvicorn, argon2)
happen inside the commands, so other commands start as fast as before.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

user_app = typer.Typer(help="Tài khoản đăng nhập trang web.", no_args_is_help=True)

RoleOpt = Annotated[
    str,
    typer.Option(
        "--role",
        help="coordinator (Ban Thi đua - Khen thưởng), department (cán bộ đơn vị) "
        "hoặc viewer (lãnh đạo, chỉ xem).",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.command("web")(web)


def _read_password(confirm: bool = True) -> str:
    """From a hidden prompt on a terminal, else the first line of standard input.

    Never from an argument: it would stay in the shell history and the process list.
    """
    if sys.stdin.isatty():
        value: str = typer.prompt("Mật khẩu", hide_input=True, confirmation_prompt=confirm)
        return value
    return sys.stdin.readline().rstrip("\r\n")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Tên đăng nhập (chữ không dấu, số, . _ -).")],
    role: RoleOpt,
    department: Annotated[
        str | None, typer.Option("--department", help="Mã đơn vị (với --role department).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Họ tên hiển thị.")] = None,
) -> None:
    """Tạo tài khoản; mật khẩu được hỏi (hoặc đọc một dòng từ đầu vào chuẩn)."""
    from cli.common import fail, out
    from cli.common import session as _session
    from models.web_tables import UserRole
    from tracking import accounts

    try:
        chosen = UserRole(role)
    except ValueError:
        fail(f"Vai trò “{role}” không hợp lệ: chọn coordinator, department hoặc viewer.")
    password = _read_password()
    with _session() as session:
        user = accounts.create_user(session, username, password, chosen, department, name)
        label = accounts.ROLE_LABELS[user.role]
    unit = f", đơn vị {department}" if department else ""
    out.print(f"Đã tạo tài khoản [bold]{user.username}[/] ({label}{unit}).", highlight=False)


@user_app.command("passwd")
def user_passwd(username: Annotated[str, typer.Argument(help="Tên đăng nhập.")]) -> None:
    """Đặt mật khẩu mới; các phiên đăng nhập cũ hết hiệu lực."""
    from cli.common import out
    from cli.common import session as _session
    from tracking import accounts

    password = _read_password()
    with _session() as session:
        user = accounts.set_password(session, username, password)
    out.print(f"Đã đổi mật khẩu của {user.username}.", highlight=False)


@user_app.command("disable")
def user_disable(
    username: Annotated[str, typer.Argument(help="Tên đăng nhập.")],
    enable: Annotated[bool, typer.Option("--enable", help="Mở lại tài khoản.")] = False,
) -> None:
    """Khóa tài khoản (hoặc mở lại với --enable)."""
    from cli.common import out
    from cli.common import session as _session
    from tracking import accounts

    with _session() as session:
        user = accounts.set_active(session, username, enable)
    out.print(f"Tài khoản {user.username} {'đã mở' if enable else 'đã khóa'}.", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """Danh sách tài khoản."""
    from rich.table import Table

    from cli.common import out
    from cli.common import session as _session
    from models.tables import Department
    from tracking import accounts

    table = Table(header_style="bold")
    for column in ("Tên đăng nhập", "Họ tên", "Vai trò", "Đơn vị", "Trạng thái"):
        table.add_column(column)
    with _session() as session:
        for user in accounts.list_users(session):
            unit = session.get(Department, user.department_id) if user.department_id else None
            table.add_row(
                user.username,
                user.display_name or "",
                accounts.ROLE_LABELS[user.role],
                unit.code if unit else "",
                "hoạt động" if user.active else "đã khóa",
            )
    out.print(table)


def web(
    host: Annotated[str, typer.Option("--host", help="Địa chỉ lắng nghe.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Cổng.")] = 8000,
    today: Annotated[
        str | None,
        typer.Option("--today", envvar="GIAOVIEC_TODAY", help="Coi hôm nay là ngày này."),
    ] = None,
) -> None:
    """Chạy trang web theo dõi tiến độ (Ctrl-C để dừng)."""
    import logging

    import uvicorn
    from sqlalchemy import inspect

    from cli.common import fail, out
    from cli.common import option_date as _date
    from tracking import clock, db
    from web.app import RedactLinkTokens, create_app

    engine = db.default_engine()
    if not inspect(engine).has_table("users"):
        fail("Cơ sở dữ liệu chưa được khởi tạo hoặc chưa cập nhật: hãy chạy `giaoviec init`.")
    day = _date(today)
    app = create_app(engine, today=(lambda: day) if day else clock.today)
    # proxy_headers off: the app itself believes X-Forwarded-* from GIAOVIEC_TRUSTED_PROXIES only.
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=False, log_level="info")
    server = uvicorn.Server(config)
    # After Config has set up logging: tokens of action links never reach the access log.
    logging.getLogger("uvicorn.access").addFilter(RedactLinkTokens())
    out.print(f"Trang web: http://{host}:{port}/ (Ctrl-C để dừng)", highlight=False)
    server.run()
