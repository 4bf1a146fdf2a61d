"""A command that cannot reach its database says so in Vietnamese, without a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nobody listens once the probe closes


def test_unreachable_postgresql_is_a_clear_message(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://giaoviec:s3cret-pw@127.0.0.1:{_closed_port()}/giaoviec"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "GIAOVIEC_HOME": str(tmp_path),
        "GIAOVIEC_DATABASE_URL": url,
    }
    for command in (["status"], ["deliver"], ["sweep", "--today", "04/03/2024"]):
        done = subprocess.run(
            [sys.executable, "-m", "cli", *command],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, (command, done.stderr)
        assert "không kết nối được cơ sở dữ liệu" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert "s3cret-pw" not in done.stderr + done.stdout


def test_a_command_run_alone_behaves_as_in_the_whole_application() -> None:
    """``giaoviec NAME`` builds only that command (start-up time); help, errors and exit
    codes must be the very same as through the whole application."""
    from typer.testing import CliRunner

    from cli.main import app, command_name, single_command_app

    runner = CliRunner()
    names = [command_name(c) for c in app.registered_commands]
    assert {"status", "show", "submit", "deliver", "sweep", "report"} <= set(names)
    for name in names:
        single = single_command_app(name)
        assert single is not None, name
        for args in (["--help"], ["--no-such-option"]):
            whole = runner.invoke(app, [name, *args], prog_name="giaoviec")
            alone = runner.invoke(single, args, prog_name=f"giaoviec {name}")
            assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output), name
    assert single_command_app("plan") is None  # groups go through the whole application
    assert single_command_app("no-such-command") is None
