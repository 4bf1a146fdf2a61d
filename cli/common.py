"""What every group of commands shares: the consoles, the exit code for user errors, the
`--today` option, date parsing and the transaction a command runs in. Its own module so
command modules need not import ``cli.main`` (which imports them).

Importing it puts Typer's own texts (help, usage errors, prompts) in Vietnamese
(:mod:`cli.i18n`): every command module imports it, so no command can miss it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from cli import i18n
from cli.console import CliConsole
from models.dates import parse_date

if TYPE_CHECKING:
    from rich.console import Console

    from models.errors import UserError
    from tracking.store import ContactChanges

i18n.install()

# Laid out at their content's width when writing to a pipe or a file (cli.console).
out = CliConsole()
err = CliConsole(stderr=True)

EXIT_USAGE = 2  # a user error: bad input, unknown id, refused action

TodayOpt = Annotated[
    str | None,
    typer.Option(
        "--today",
        envvar="GIAOVIEC_TODAY",
        metavar="NGÀY",
        help="Coi hôm nay là ngày này (để chạy lại kế hoạch).",
        show_default=False,
    ),
]


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]{i18n.ERROR}[/] {message}", highlight=False)  # as usage errors read
    raise typer.Exit(EXIT_USAGE)


# The CLI's own control for each input a user error names (``UserError.field``): the library's
# messages name no interface's flags, the CLI adds its own.
FIELD_HINTS = {"reason": "--reason", "new_due": "--to NGÀY", "department": "--department"}


def user_message(exc: UserError) -> str:
    """The error's message with the CLI's flag for the field at fault: "… (--reason)."."""
    text = str(exc)
    hint = FIELD_HINTS.get(exc.field or "")
    if hint is None:
        return text
    return f"{text.removesuffix('.')} ({hint})."


def fail_user(exc: UserError) -> NoReturn:
    """A user error as the CLI shows every one: the message, exit code 2."""
    fail(user_message(exc))


def option_date(value: str | None) -> dt.date | None:
    """A date option (15/03/2024 or 2024-03-15), or None when it was not given."""
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def today_of(value: str | None) -> dt.date:
    """``--today`` if given, else GIAOVIEC_TODAY, else today in Vietnam."""
    from tracking import clock

    return clock.today(option_date(value))


def print_contact_changes(console: Console, changes: ContactChanges) -> None:
    """What a plan load did to contacts, and every value it kept against the file, by name."""
    console.print(
        f"Người nhận: thêm {changes.added}, sửa {changes.updated}, gỡ {changes.removed}.",
        highlight=False,
    )
    if changes.kept:
        console.print(
            f"[yellow]Giữ nguyên {len(changes.kept)} điểm khác với tệp kế hoạch:[/]",
            highlight=False,
        )
        for note in changes.kept:
            console.print(f"  {note}", highlight=False, markup=False)


@contextmanager
def session(require_schema: bool = True) -> Iterator[Any]:
    """A transaction on the configured database; user errors become a message and exit 2."""
    from models.errors import UserError
    from tracking import db

    engine = db.default_engine()
    state = db.schema_state(engine) if require_schema else "current"
    if state == "missing":
        fail("Cơ sở dữ liệu chưa được khởi tạo: hãy chạy `giaoviec init`.")
    if state == "outdated":
        fail("Cơ sở dữ liệu cần nâng cấp cho phiên bản giaoviec này: hãy chạy `giaoviec init`.")
    try:
        with db.session_scope(engine) as session:
            yield session
    except UserError as exc:
        fail_user(exc)
