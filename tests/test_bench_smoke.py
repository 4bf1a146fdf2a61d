"""Every benchmark runs at a tiny size, so none of them can silently rot.

The figures at this size mean nothing; what is checked is that each benchmark runs end to
end and prints the table it promises (bench/README.md shows the real figures). On the
PostgreSQL run the benchmarks that take ``--postgres`` also run there, in a database of
their own (they drop its tables), never the suite's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
BENCH_DATABASE = "giaoviec_bench_smoke"

pytestmark = pytest.mark.slow


def _postgres_args(database_url: str) -> list[str]:
    """``--postgres URL`` for a scratch database beside the suite's, created if missing."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return []
    import psycopg

    admin = url.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DATABASE,)
        ).fetchone()
        if not found:
            connection.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    return ["--postgres", url.set(database=BENCH_DATABASE).render_as_string(hide_password=False)]


def _run(module: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("GIAOVIEC_TODAY", None)
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.startswith("Machine: "), done.stdout[:500]
    return done.stdout


def test_sweep_benchmark(database_url: str) -> None:
    out = _run(
        "sweep",
        "--sizes",
        "300",
        "--repeat",
        "1",
        "--naive-subset",
        "30",
        *_postgres_args(database_url),
    )
    assert "identical in every variant" in out
    assert "| giaoviec sweep, a typical day |" in out
    assert "| floor: one SQL statement |" in out
    assert "| naive: one Prefect task per assignment |" in out
    if database_url.startswith("postgresql"):
        assert "on PostgreSQL" in out


def test_startup_benchmark() -> None:
    out = _run("startup", "--runs", "1")
    assert "| giaoviec status (An Giang, 20 assignments) |" in out
    assert '| python -c "import sqlmodel" |' in out


def test_web_benchmark(database_url: str) -> None:
    out = _run(
        "web",
        *("--plans", "2", "--per-plan", "10", "--requests", "10", "--clients", "2"),
        *("--think", "0.05"),
        *_postgres_args(database_url),
    )
    assert "| overview |" in out and "| list, first page |" in out
    assert "overview, 0.05 s between pages" in out
    assert "| submit (POST) |" in out


def test_delivery_benchmark(database_url: str) -> None:
    out = _run("delivery", "--messages", "40", *_postgres_args(database_url))
    assert "giaoviec" in out and "smtplib" in out
    assert "msgs/s" in out or "messages/s" in out
