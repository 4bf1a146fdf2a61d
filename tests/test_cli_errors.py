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
