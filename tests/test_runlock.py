"""The lock that keeps one run of a job at a time (``tracking.runlock``): exclusive while
held, free again the moment its holder is killed (SIGKILL), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from sqlalchemy.engine import Engine

from tests.conftest import REPO
from tracking import runlock

HOLDER = """
import sys
from tracking import db, runlock
engine = db.get_engine(sys.argv[1])
with runlock.hold(engine, "daily-sweep") as held:
    print("held" if held else "busy", flush=True)
    sys.stdin.read()  # until killed
"""


def test_one_holder_at_a_time(engine: Engine) -> None:
    with runlock.hold(engine, "daily-sweep") as first:
        assert first
        with runlock.hold(engine, "daily-sweep") as second:
            assert not second
        with runlock.hold(engine, "deliver-outbox") as other_job:
            assert other_job  # each job has its own lock
    with runlock.hold(engine, "daily-sweep") as again:
        assert again


def test_a_killed_holder_frees_the_lock(engine: Engine, database_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        with runlock.hold(engine, "daily-sweep") as held:
            assert not held
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    # The kernel closed its file or connection: free at once (a bounded wait covers the
    # moment PostgreSQL takes to notice the closed connection).
    with runlock.hold(engine, "daily-sweep", wait_seconds=10) as held:
        assert held
