"""A `giaoviec init` killed at any point leaves a database the next `init` completes.

Each run is SIGKILLed right after its N-th SQL statement (an SQLAlchemy event in the child
counts them), for N drawn at random (seeded, ``GIAOVIEC_CRASH_SEED`` replays a run) among
every statement a full init executes, plus the first and the last. The next init must then
succeed and leave exactly the schema the models describe, at the newest revision.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import models.tables
import models.web_tables  # noqa: F401
from tests.conftest import REPO, cli_env
from tests.crash_helpers import crash_seed
from tracking import db

KILLS = 8  # kill points per run, besides the first and the last statement

# Runs `giaoviec init --no-plan`, killing itself after statement KILL_AT (0: never) and
# printing how many statements it ran when it was not killed.
CHILD = """
import atexit, os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

kill_at = int(sys.argv[1])
count = 0

@event.listens_for(Engine, "after_cursor_execute")
def _count(*_args):
    global count
    count += 1
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

atexit.register(lambda: print(f"statements={count}", file=sys.stderr))
sys.argv = ["giaoviec", "init", "--no-plan"]
from cli.main import run
run()
"""


def _init(home: Path, url: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(kill_at)],
        env=cli_env(home, url),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _schema_problems(url: str) -> list[object]:
    with db.get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_init_killed_at_any_statement_is_repaired_by_the_next(tmp_path: Path) -> None:
    home = tmp_path / "home"
    whole = _init(home, f"sqlite:///{tmp_path / 'whole.db'}", 0)
    assert whole.returncode == 0, whole.stderr
    total = int(whole.stderr.rsplit("statements=", 1)[1].split()[0])
    seed = crash_seed()
    points = sorted({1, total, *random.Random(seed).sample(range(2, total), KILLS)})
    for point in points:
        url = f"sqlite:///{tmp_path / f'killed-{point}.db'}"
        killed = _init(home, url, point)
        assert killed.returncode == -signal.SIGKILL, (seed, point, killed.stderr)
        # What the next `giaoviec init` does (in this process: a subprocess adds seconds).
        engine = db.get_engine(url)
        db.migrate(engine)
        assert db.schema_state(engine) == "current", (seed, point)
        assert _schema_problems(url) == [], (seed, point)
        engine.dispose()
