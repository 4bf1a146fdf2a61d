"""The CLI as a Vietnamese officer reads it: Typer's and Click's own words (help screens,
usage errors, prompts) are Vietnamese, and nothing is cut at 80 columns in a pipe or a file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from cli import i18n
from cli.main import app
from tests.conftest import REPO, cli_env

runner = CliRunner()

# Typer's and Click's own English, as the installed versions print it: none may show.
ENGLISH = re.compile(
    r"\b(Usage|Options|Commands|Arguments|Error|Show this message|Try|for help|Missing|"
    r"No such|Invalid value|required|default:|env var|Repeat for confirmation|Aborted|"
    r"Input should|Did you mean|Possible options|Got unexpected|requires|does not|"
    r"completion|Choose from|is not|not a valid|Value must|unknown error)\b"
    r"|<(bool|str|int|float|path|file|dir|Path|list\[[^>]*\])>"
)


def english_in(text: str) -> list[str]:
    """Typer's English words in ``text``; option names (``--install-completion``) are what
    the user types, not prose, and are left out."""
    prose = re.sub(r"--[\w-]+", " ", text)
    return [m.group(0) for m in ENGLISH.finditer(prose)]


def command_paths() -> Iterator[tuple[list[str], Any]]:
    """Every command and group of the application, with its Click object."""

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def test_the_walk_sees_the_whole_application() -> None:
    paths = [" ".join(p) for p, _ in command_paths()]
    assert len(paths) > 40
    assert {"", "status", "plan", "plan import", "contacts set", "user add", "run-flow"} <= set(
        paths
    )


def test_every_help_screen_is_vietnamese() -> None:
    screens = 0
    for path, _ in command_paths():
        result = runner.invoke(app, [*path, "--help"], prog_name="giaoviec")
        assert result.exit_code == 0, (path, result.output)
        assert "Cách dùng: giaoviec" in result.output, path
        assert english_in(result.output) == [], (path, result.output)
        screens += 1
    assert screens > 40
    # the same words whichever way the help is drawn: a bare group, the top level
    for args in (["plan"], ["user"], []):
        result = runner.invoke(app, args, prog_name="giaoviec")
        assert "Tùy chọn" in result.output and english_in(result.output) == [], args


def test_every_argument_shows_a_vietnamese_name() -> None:
    """An argument declared without a metavar shows its Python name (``{plan}``) unless
    cli.i18n names it: a command added later with a new argument must name it."""
    for path, command in command_paths():
        for param in getattr(command, "params", []):
            if isinstance(param, typer.core.TyperArgument) and param.metavar is None:
                assert param.name in i18n.ARGUMENT_NAMES, (path, param.name)


USAGE_ERRORS = [
    (["submit"], "Thiếu tham số 'ID'."),
    (["status", "--bogus"], "Không có tùy chọn --bogus."),
    (["status", "--jsn"], "Không có tùy chọn --jsn. Tùy chọn gần giống: --csv, --json."),
    (["stat"], "Không có lệnh 'stat'. Lệnh gần giống: 'start', 'status'."),
    (["plan", "no-such"], "Không có lệnh 'no-such'."),
    (["outbox", "--limit", "abc"], "Giá trị của '--limit' không hợp lệ: cần một số nguyên."),
    (["dashboard", "--refresh", "x"], "Giá trị của '--refresh' không hợp lệ: cần một số."),
    (["status", "--plan"], "Tùy chọn '--plan' cần một giá trị."),
    (["show", "A", "B"], "Thừa tham số: B."),
    (["plan", "set-event-date", "x"], "Thiếu tham số 'NGÀY'."),
    (["simulate", "--to", "01/03/2024"], "Thiếu tùy chọn '--from'."),
    (["calendar", "override", "2027-05-04", "--name", "x"], "Thiếu tùy chọn '--working'."),
    (["status", "--json=1"], "Tùy chọn '--json' không nhận giá trị."),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS, ids=lambda v: str(v))
def test_usage_errors_are_vietnamese_without_a_box(args: list[str], message: str) -> None:
    result = runner.invoke(app, args, prog_name="giaoviec")
    assert result.exit_code == 2, result.output
    assert f"Lỗi: {message}" in result.stderr
    assert english_in(result.output) == [], result.output
    assert "╭" not in result.stderr  # one look for every error: the CLI's own ``Lỗi: …``


# The other messages of Typer's Click and of pydantic, as they are worded in the installed
# versions, for the errors no command of ours can trigger today.
OTHER_MESSAGES = [
    "Missing option '--to'. Choose from:\n\ta,\n\tb",
    "Missing parameter: name",
    "Option '--pair' requires 2 arguments.",
    "Argument 'pair' takes 2 values.",
    "Invalid value for 'FILE': file '/tmp/x' does not exist.",
    "Invalid value for 'DIR': dir '/tmp/x' is a file.",
    "Invalid value for 'FILE': path '/tmp/x' is a directory.",
    "Invalid value for 'FILE': file '/tmp/x' is not readable.",
    "Invalid value for 'FILE': file '/tmp/x' is not writable.",
    "Invalid value for '--role': 'boss' is not one of 'coordinator', 'department', 'viewer'.",
    "Invalid value for '--role': Input should be 'coordinator', 'department' or 'viewer'",
    "Invalid value for '--n': Input should be greater than or equal to 1",
    "Invalid value for '--yes': Input should be a valid boolean, unable to interpret input",
    "Invalid value for '--x': Value must be an iterable.",
    "Invalid value: Value 'x' is not a valid Color.",
    "Could not open file '/tmp/x': unknown error",
    "Got unexpected extra arguments (a b)",
]


@pytest.mark.parametrize("message", OTHER_MESSAGES)
def test_every_known_message_is_translated(message: str) -> None:
    translated = i18n.translate_error(message)
    assert english_in(translated) == [] and " or " not in translated, translated


def test_a_bad_date_reads_as_the_cli_own_errors(clean_engine: Engine) -> None:
    result = runner.invoke(app, ["status", "--today", "31/02/2024"], prog_name="giaoviec")
    assert result.exit_code == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Lỗi: ngày không hợp lệ") and "31/02/2024" in last
    assert english_in(result.stderr) == [] and "╭" not in result.stderr


def test_prompts_and_confirmations_are_vietnamese() -> None:
    asked = typer.Typer()

    @asked.command()
    def ask() -> None:
        value = typer.prompt("Mật khẩu", hide_input=True, confirmation_prompt=True)
        typer.echo(f"len={len(value)}")
        if typer.confirm("Tiếp tục?"):
            typer.echo("đồng ý")

    result = runner.invoke(asked, [], input="a1\nb2\na1\na1\nx\nc\n")
    assert result.exit_code == 0, result.output
    assert "Nhập lại để xác nhận:" in result.output
    assert "Lỗi: hai lần nhập không khớp nhau." in result.output
    assert "Tiếp tục? [c/K]:" in result.output
    assert "Lỗi: hãy trả lời c (có) hoặc k (không)." in result.output
    assert "len=2" in result.output and "đồng ý" in result.output
    assert english_in(result.output) == [], result.output
    declined = runner.invoke(asked, [], input="a\na\nkhông\n")
    assert declined.exit_code == 0 and "đồng ý" not in declined.output
    stopped = runner.invoke(asked, [], input="")  # end of input: Ctrl-D at the prompt
    assert stopped.exit_code == 1 and "Đã dừng, không thực hiện." in stopped.output
    assert english_in(stopped.output) == [], stopped.output


# --- pipes and files: laid out at the content's width, whatever the terminal --------------


def run_piped(args: list[str], env: dict[str, str], columns: str | None) -> tuple[str, str]:
    """``giaoviec ARGS`` with its output to pipes, with COLUMNS unset or set."""
    env = dict(env)
    env.pop("COLUMNS", None)
    env.pop("TERMINAL_WIDTH", None)
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout, done.stderr


def test_piped_output_is_never_cut_at_a_column(
    clean_engine: Engine, home: Path, database_url: str, tmp_path: Path
) -> None:
    env = cli_env(home, database_url)
    assert (
        subprocess.run(
            [sys.executable, "-m", "cli", "init"],
            env=env,
            cwd=REPO,
            capture_output=True,
            timeout=120,
        ).returncode
        == 0
    )
    # A path long enough to cross any terminal's edge, inside a message.
    deep = tmp_path / ("thư-mục-có-tên-rất-dài-" * 6) / "kế-hoạch.pdf"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(b"%PDF-1.4")
    seen: dict[str, list[tuple[str, str]]] = {}
    for columns in (None, "40", "300"):
        for name, args in {
            "error": ["plan", "import", str(deep)],
            "status": ["status", "--today", "01/03/2024"],
            "help": ["submit", "--help"],
            "usage": ["plan", "set-event-date", "x"],
        }.items():
            seen.setdefault(name, []).append(run_piped(args, env, columns))
    for name, outputs in seen.items():
        assert len(set(outputs)) == 1, (name, outputs)  # the same, whatever COLUMNS says
    _, error = seen["error"][0]
    assert error.count("\n") == 1, error  # one line: the message, path and all
    assert f"Lỗi: {deep}: không đọc được tệp PDF (tệp hỏng?)." in error
    status, _ = seen["status"][0]
    listed, _ = run_piped(["status", "--json"], env, None)
    title = next(row["title"] for row in json.loads(listed) if row["code"] == "SNV-01")
    rows = [line for line in status.splitlines() if "SNV-01" in line]
    assert len(rows) == 1 and title in rows[0]  # a row of the table on one line
    help_text, _ = seen["help"][0]
    assert "Coi hôm nay là ngày này (để chạy lại kế hoạch). [biến môi trường: GIAOVIEC_TODAY]" in (
        help_text
    )
    table_lines = [line for line in status.splitlines() if line.startswith(("┃", "│"))]
    assert len({len(line) for line in table_lines}) == 1  # one width, the content's
