"""Typer's and Click's own words in Vietnamese: help screens, usage errors, prompts.

Typer 0.29 carries its own copy of Click (``typer._click``; the ``click`` package installed
beside it is not used) whose texts are plain English literals, not gettext messages, and
Typer's Rich help reads a few module constants. So there is no catalogue to install:
:func:`install` (called once, when ``cli.common`` is imported — every command module imports
it) sets those constants and wraps the handful of functions that produce the rest, each
translating the English texts it knows through the tables below. A command added later goes
through the same functions, so it is covered with nothing to do; ``tests/test_cli_vietnamese.py``
walks every command's help and a set of usage errors and fails on any English word left.

Start-up stays as fast: Typer's Rich help module (Markdown, markdown-it: a third of a second)
is imported only when a help screen is drawn, and errors no longer need it at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import IO, Any

import typer
import typer.core
from rich.markup import escape
from rich.text import Text
from typer import _click
from typer._click import termui
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from cli.console import CliConsole

USAGE = "Cách dùng: "
ERROR = "Lỗi:"

# --- help screens ------------------------------------------------------------------------

# Typer's Rich help: its module constants, read each time a screen is drawn.
RICH_TEXTS: dict[str, str] = {
    "DEPRECATED_STRING": "(không còn dùng) ",
    "DEFAULT_STRING": "[mặc định: {}]",
    "ENVVAR_STRING": "[biến môi trường: {}]",
    "REQUIRED_LONG_STRING": "[bắt buộc]",
    "ARGUMENTS_PANEL_TITLE": "Tham số",
    "OPTIONS_PANEL_TITLE": "Tùy chọn",
    "COMMANDS_PANEL_TITLE": "Lệnh",
}
HELP_HINT = "Xem hướng dẫn: [blue]{command_path} {help_option}[/]"

# The few texts typer.core passes through gettext (which has no Vietnamese catalogue).
CORE_TEXTS: dict[str, str] = {
    "Aborted!": "Đã dừng, không thực hiện.",
    "Arguments": "Tham số",
    "Options": "Tùy chọn",
    "Commands": "Lệnh",
    "Missing command.": "Thiếu tên lệnh.",
    "(dynamic)": "(tính khi chạy)",
}


def core_text(text: str) -> str:
    return CORE_TEXTS.get(text, text)


# The placeholders of a usage line.
USAGE_PIECES: dict[str, str] = {
    "[OPTIONS]": "[TÙY CHỌN]",
    "COMMAND [ARGS]...": "LỆNH [THAM SỐ]...",
}

# The help of the options Typer adds by itself.
OPTION_HELP: dict[str, str] = {
    "Show this message and exit.": "Hiện hướng dẫn này rồi thoát.",
    "Install completion for the current shell.": "Cài gợi ý lệnh (Tab) cho shell đang dùng.",
    "Show completion for the current shell, to copy it or customize the installation.": (
        "In đoạn cài gợi ý lệnh cho shell đang dùng, để tự chép hoặc điều chỉnh."
    ),
    "Install completion for the specified shell.": "Cài gợi ý lệnh (Tab) cho shell đã chọn.",
    "Show completion for the specified shell, to copy it or customize the installation.": (
        "In đoạn cài gợi ý lệnh cho shell đã chọn, để tự chép hoặc điều chỉnh."
    ),
}

# The value types shown beside an option, e.g. ``<str>``.
TYPE_NAMES: dict[str, str] = {
    "str": "văn bản",
    "int": "số nguyên",
    "float": "số",
    "bool": "có/không",
    "path": "đường dẫn",
    "Path": "đường dẫn",
    "file": "tệp",
    "dir": "thư mục",
    "datetime": "ngày giờ",
    "date": "ngày",
    "range": "trong khoảng",
}
_TYPE_WORD = re.compile(r"\b(" + "|".join(TYPE_NAMES) + r")\b")
_LIST_TYPE = re.compile(r"^list\[(.*)\]$")


def type_label(label: str) -> str:
    """``<list[Path]>`` → ``<đường dẫn>...``: Typer's type label in Vietnamese."""
    inner = label[1:-1] if label.startswith("<") and label.endswith(">") else label
    repeated = _LIST_TYPE.match(inner)
    if repeated:
        inner = repeated.group(1)
    inner = _TYPE_WORD.sub(lambda m: TYPE_NAMES[m.group(1)], inner)
    return f"<{inner}>{'...' if repeated else ''}"


# The names shown for arguments declared without a metavar (``{plan}`` in a usage line).
ARGUMENT_NAMES: dict[str, str] = {
    "plan": "KẾ-HOẠCH",
    "date": "NGÀY",
    "file": "TỆP",
    "department": "ĐƠN-VỊ",
    "name": "HỌ-TÊN",
    "new_name": "HỌ-TÊN-MỚI",
    "new_department": "ĐƠN-VỊ-MỚI",
    "username": "TÊN-ĐĂNG-NHẬP",
    "n": "N",
}


def argument_name(param: Any) -> str:
    """What a user sees for an argument: its metavar, else its Vietnamese name."""
    if param.metavar is not None:
        return str(param.metavar)
    return str(ARGUMENT_NAMES.get(param.name, param.name))


# --- errors -------------------------------------------------------------------------------

PARAM_KINDS = {"argument": "tham số", "option": "tùy chọn", "parameter": "tham số"}

# What goes wrong in a value: pydantic's messages (Typer converts values with it) and Typer's
# own checks of paths and choices. Tried in order; the first that matches wins.
DETAIL_RULES: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    (r"Input should be a valid integer.*", "cần một số nguyên."),
    (r"Input should be a valid number.*", "cần một số."),
    (r"Input should be a valid boolean.*", "cần có hoặc không (true/false)."),
    (r"Input should be a finite number", "cần một số hữu hạn."),
    (r"Input should be greater than or equal to (.+)", r"cần lớn hơn hoặc bằng \1."),
    (r"Input should be greater than (.+)", r"cần lớn hơn \1."),
    (r"Input should be less than or equal to (.+)", r"cần nhỏ hơn hoặc bằng \1."),
    (r"Input should be less than (.+)", r"cần nhỏ hơn \1."),
    (r"Input should be (.+)", lambda m: f"cần là {m[1].replace(' or ', ' hoặc ')}."),
    (r"Value must be an iterable\.", "cần một danh sách giá trị."),
    (r"Value (.+) is not a valid (\w+)\.", r"giá trị \1 không hợp lệ."),
    (r"(.+) is not one of (.+)\.", r"\1 không phải một trong các giá trị: \2."),
    (r"(?:file|dir|path) ('.*') does not exist\.", r"\1 không tồn tại."),
    (r"(?:file|dir|path) ('.*') is a file\.", r"\1 là một tệp, cần một thư mục."),
    (r"(?:file|dir|path) ('.*') is a directory\.", r"\1 là một thư mục, cần một tệp."),
    (r"(?:file|dir|path) ('.*') is not readable\.", r"không đọc được \1."),
    (r"(?:file|dir|path) ('.*') is not writable\.", r"không ghi được \1."),
    (r"Choose from:(.*)", r"Chọn một trong:\1"),
    (r"unknown error", "lỗi không rõ."),
]

# The messages of usage errors (``format_message()``), with the parts that are themselves a
# message (``detail``) translated by DETAIL_RULES.
ERROR_RULES: list[tuple[str, Callable[[re.Match[str]], str]]] = [
    (
        r"Missing (?P<kind>argument|option|parameter)(?: (?P<hint>.+?))?\.(?: (?P<detail>.+))?",
        lambda m: (
            f"Thiếu {PARAM_KINDS[m['kind']]}{' ' + m['hint'] if m['hint'] else ''}."
            + (f" {translate_detail(m['detail'])}" if m["detail"] else "")
        ),
    ),
    (r"Missing parameter: (?P<name>.+)", lambda m: f"Thiếu tham số: {m['name']}"),
    (
        r"Invalid value for (?P<hint>.+?): (?P<detail>.+)",
        lambda m: f"Giá trị của {m['hint']} không hợp lệ: {translate_detail(m['detail'])}",
    ),
    # A command that found a value wrong without naming the parameter says why itself.
    (r"Invalid value: (?P<detail>.+)", lambda m: translate_detail(m["detail"])),
    (
        r"No such option: (?P<name>\S+)(?: \(Possible options: (?P<near>.+)\))?",
        lambda m: (
            f"Không có tùy chọn {m['name']}."
            + (f" Tùy chọn gần giống: {m['near']}." if m["near"] else "")
        ),
    ),
    (
        r"No such command (?P<name>.+?)\.(?: Did you mean (?P<near>.+)\?)?",
        lambda m: (
            f"Không có lệnh {m['name']}." + (f" Lệnh gần giống: {m['near']}." if m["near"] else "")
        ),
    ),
    (
        r"Got unexpected extra arguments?(?:\(s\))? \((?P<args>.*)\)",
        lambda m: f"Thừa tham số: {m['args']}.",
    ),
    (
        r"Option (?P<name>.+) requires an argument\.",
        lambda m: f"Tùy chọn {m['name']} cần một giá trị.",
    ),
    (
        r"Option (?P<name>.+) requires (?P<n>\d+) arguments\.",
        lambda m: f"Tùy chọn {m['name']} cần {m['n']} giá trị.",
    ),
    (
        r"Option (?P<name>.+) does not take a value\.",
        lambda m: f"Tùy chọn {m['name']} không nhận giá trị.",
    ),
    (
        r"Argument (?P<name>.+) takes (?P<n>\d+) values\.",
        lambda m: f"Tham số {m['name']} cần {m['n']} giá trị.",
    ),
    (
        r"Could not open file (?P<name>.+?): (?P<detail>.+)",
        lambda m: f"Không mở được tệp {m['name']}: {translate_detail(m['detail'])}",
    ),
]

_DETAIL = [(re.compile(p, re.DOTALL), r) for p, r in DETAIL_RULES]
_ERRORS = [(re.compile(p, re.DOTALL), r) for p, r in ERROR_RULES]


def translate_detail(text: str) -> str:
    """Why a value was refused, in Vietnamese; a text already in Vietnamese is kept."""
    for pattern, replacement in _DETAIL:
        if pattern.fullmatch(text):
            return pattern.sub(replacement, text, count=1)
    return text


def translate_error(message: str) -> str:
    """A usage error's message in Vietnamese (our own messages pass unchanged)."""
    for pattern, render in _ERRORS:
        match = pattern.fullmatch(message)
        if match:
            return render(match)
    return translate_detail(message)


def show_error(error: ClickException, file: IO[Any] | None = None) -> None:
    """A usage error the way every error of the CLI reads: the usage line, where to find the
    help, then ``Lỗi: …`` in Vietnamese, without a box and without wrapping in a pipe."""
    if isinstance(error, NoArgsIsHelpError):
        return  # the help was shown instead
    console = CliConsole(file=file, stderr=file is None, highlight=False)
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        console.print(ctx.get_usage(), markup=False)
        if ctx.command.get_help_option(ctx) is not None:
            console.print(
                HELP_HINT.format(
                    command_path=escape(ctx.command_path), help_option=ctx.help_option_names[0]
                ),
                style="dim",
            )
    console.print(f"[bold red]{ERROR}[/] {escape(translate_error(error.format_message()))}")


# --- prompts ------------------------------------------------------------------------------

PROMPT_TEXTS: dict[str, str] = {
    "Repeat for confirmation:": "Nhập lại để xác nhận:",
    "Error: The two entered values do not match.": "Lỗi: hai lần nhập không khớp nhau.",
    "Error: The value you entered was invalid.": "Lỗi: giá trị vừa nhập không hợp lệ.",
}
YES = ("c", "có", "co", "y", "yes")
NO = ("k", "không", "khong", "n", "no")


def _prompt_echo(message: Any = None, *args: Any, **kwargs: Any) -> None:
    if isinstance(message, str):
        if message in PROMPT_TEXTS:
            message = PROMPT_TEXTS[message]
        elif message.startswith("Error: "):
            message = f"{ERROR} {translate_error(message.removeprefix('Error: '))}"
    _echo(message, *args, **kwargs)


def confirm(
    text: str,
    default: bool | None = False,
    abort: bool = False,
    prompt_suffix: str = ": ",
    show_default: bool = True,
    err: bool = False,
) -> bool:
    """``typer.confirm`` in Vietnamese: answered with c (có) or k (không); y/n still work."""
    choices = "c/k" if default is None else ("C/k" if default else "c/K")
    prompt = f"{text} [{choices}]" if show_default else text
    prompt += prompt_suffix
    while True:
        try:
            _echo(prompt[:-1], nl=False, err=err)
            answer = termui.visible_prompt_func(prompt[-1:]).lower().strip()
        except (KeyboardInterrupt, EOFError):
            raise typer.Abort() from None
        if answer in YES:
            result = True
        elif answer in NO:
            result = False
        elif default is not None and answer == "":
            result = default
        else:
            _echo(f"{ERROR} hãy trả lời c (có) hoặc k (không).", err=err)
            continue
        if abort and not result:
            raise typer.Abort()
        return result


_echo = _click.utils.echo


# --- installing ---------------------------------------------------------------------------

_installed = False


def install() -> None:
    """Put the Vietnamese texts in place (once; later calls do nothing)."""
    global _installed
    if _installed:
        return
    _installed = True
    # Typer imports its Rich module (a third of a second: Markdown, markdown-it) to draw an
    # error. Without HAS_RICH it leaves errors to Click's ``show``, which is ours below and
    # needs none of it; help screens still use Rich (``_format_help``), imported only then.
    typer.core.HAS_RICH = False
    typer.core._ = core_text  # type: ignore[attr-defined,assignment]
    ClickException.show = show_error  # type: ignore[method-assign,assignment]
    UsageError.show = show_error  # type: ignore[method-assign,assignment]
    NoArgsIsHelpError.show = show_error  # type: ignore[method-assign,assignment]
    _click.core.Command.format_usage = _format_usage  # type: ignore[method-assign]
    typer.core.TyperCommand.format_help = _format_help  # type: ignore[method-assign]
    typer.core.TyperGroup.format_help = _format_help  # type: ignore[method-assign]
    _wrap_type_display()
    typer.core.TyperArgument.display_name_raw = property(argument_name)  # type: ignore[assignment,method-assign]
    termui.echo = _prompt_echo  # type: ignore[attr-defined]
    termui.confirm = confirm
    typer.confirm = confirm


def _format_help(self: Any, ctx: _click.Context, formatter: Any) -> None:
    """Typer's Rich help screen, with its texts in Vietnamese."""
    _rich_utils().rich_format_help(obj=self, ctx=ctx, markup_mode=self.rich_markup_mode or "rich")


_rich_ready = False


def _rich_utils() -> ModuleType:
    """Typer's Rich help module, translated the first time it is needed."""
    global _rich_ready
    import typer.rich_utils as rich_utils

    if not _rich_ready:
        _rich_ready = True
        for name, text in RICH_TEXTS.items():
            setattr(rich_utils, name, text)
        rich_utils.OptionHighlighter.highlights = [
            *(h for h in rich_utils.OptionHighlighter.highlights if "?P<usage>" not in h),
            rf"(?P<usage>{USAGE})",
        ]
        rich_utils._get_rich_console = _rich_console
        _wrap_parameter_help(rich_utils)
    return rich_utils


def _rich_console(stderr: bool = False) -> CliConsole:
    """Typer's help console (its theme and highlighting), never wrapped in a pipe."""
    from rich.theme import Theme

    r = _rich_utils()
    styles = {
        "option": r.STYLE_OPTION,
        "switch": r.STYLE_SWITCH,
        "negative_option": r.STYLE_NEGATIVE_OPTION,
        "negative_switch": r.STYLE_NEGATIVE_SWITCH,
        "types": r.STYLE_TYPES,
        "types_sep": r.STYLE_TYPES_SEPARATOR,
        "usage": r.STYLE_USAGE,
    }
    return CliConsole(
        theme=Theme(styles),
        highlighter=r.highlighter,
        color_system=r.COLOR_SYSTEM,
        force_terminal=r.FORCE_TERMINAL,
        width=r.MAX_WIDTH,
        stderr=stderr,
    )


def _format_usage(self: _click.Command, ctx: _click.Context, formatter: Any) -> None:
    """The usage line in Vietnamese, on one line: Rich wraps it on a terminal if it must,
    while Click's formatter would cut it at 78 columns even in a file."""
    pieces = [USAGE_PIECES.get(piece, piece) for piece in self.collect_usage_pieces(ctx)]
    formatter.write(f"{USAGE}{' '.join([ctx.command_path, *pieces])}\n")


def _wrap_parameter_help(rich_utils: Any) -> None:
    original = rich_utils._get_parameter_help

    def parameter_help(*, param: Any, ctx: Any, markup_mode: Any) -> Any:
        if param.help in OPTION_HELP:
            param.help = OPTION_HELP[param.help]
        parts = original(param=param, ctx=ctx, markup_mode=markup_mode)
        # Typer lays the help, the default and the variable out as Rich Columns, which cannot
        # tell their width: one Text can, so a pipe gets the help unwrapped (cli.console).
        texts = [part for part in parts.renderables if isinstance(part, Text)]
        if len(texts) == len(parts.renderables):
            return Text(" ").join(texts)
        return parts

    rich_utils._get_parameter_help = parameter_help


def _wrap_type_display() -> None:
    parameter = typer.core._TyperParameter
    original = parameter.display_type

    def display_type(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_bool_flag", False):
            return None  # a flag takes no value: nothing to show
        return type_label(original(self, ctx))

    parameter.display_type = display_type  # type: ignore[assignment,method-assign]
